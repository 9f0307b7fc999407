//! Applying writes to a destination ([`Sink`]): adds and updates first, removals last (so
//! protection never has a gap), each type's writes with bounded concurrency. Every request is
//! retried by the destination's client; a write that still fails is reported and the others
//! go on. A put refused because the list is full (Apex 413/12, Vision One 4000018) is tried
//! once more after the removals have made room.
//!
//! **Guarded writes.** A write is a blind upsert or delete by content (neither API has a
//! conditional write), planned against a listing that ages while the writes go out. So when
//! the caller names its tag, each type's writes go in waves, and right before each wave the
//! type is listed again ([`relist`]) and every write of the wave judged against that listing
//! ([`verdict`], one rule for adds, updates and removals):
//! - an add whose IOC (normal form) is now listed in any spelling is not made: by an entry
//!   without the tag, it was taken meanwhile (counted, warned about, never overwritten); by
//!   one of ours, it is already there;
//! - an update is made only while its entry is listed with the tag and no entry without it
//!   holds the same IOC (else: taken meanwhile); an entry gone meanwhile is written again
//!   as an add would be;
//! - a removal is made only while its entry is listed with the tag (else: edited meanwhile,
//!   or already gone).
//!
//! A type that cannot be listed again gets none of the wave's writes (each is reported as
//! failed; the next run tries again). A type's first wave is 8 requests per `threads`
//! ([`Sink::writes_per_request`] writes each); later waves grow so that the listing costs
//! about 1/[`WAVE_TO_LISTING`] of the writing time: on Apex Central (one request per write)
//! a wave is a few seconds of writes; on Vision One (a thousand objects a request, a list
//! of many pages) a type's writes are mostly one wave. What stays possible is an edit
//! between a wave's listing and its requests (docs/how-a-run-decides.md, "Guarded waves").
//!
//! **Deadline.** Past the run's deadline (`--max-run-minutes`) no write is started: the
//! writes under way finish, the others are counted by operation in [`Applied::left`], and
//! removals never start once it has passed.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use indicatif::ProgressBar;
use serde::Serialize;

use super::plan::Removal;
use crate::ioc::{Ioc, IocKind};
pub use crate::model::Write;
use crate::model::{Listed, Outcome, Put, WriteResult, Written, past};
use crate::secret::Redactor;
use crate::sink::Sink;

/// Requests in a type's first wave (and at least in any wave), per request at once.
const FIRST_WAVE_PER_THREAD: usize = 8;
/// A wave after the first is sized to take about this many times as long as the listing
/// before it (measured on the waves so far), so that listing again costs about 1/32 more.
pub const WAVE_TO_LISTING: u32 = 32;

/// The writes of a plan, by operation.
#[derive(Debug, Default, Clone)]
pub struct Writes {
    pub adds: Vec<Put>,
    pub updates: Vec<Put>,
    pub removals: Vec<Removal>,
}

impl Writes {
    pub fn len(&self) -> usize {
        self.adds.len() + self.updates.len() + self.removals.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What a planned write does, as the report counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Update,
    Remove,
}

/// A write that failed after its retries.
#[derive(Debug, Clone, Serialize)]
pub struct FailedWrite {
    #[serde(rename = "type")]
    pub kind: IocKind,
    pub content: String,
    pub action: &'static str,
    pub error: String,
}

/// Writes left for the next run because the run's deadline passed first, by operation.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Left {
    pub add: usize,
    pub update: usize,
    pub remove: usize,
}

impl Left {
    pub fn total(&self) -> usize {
        self.add + self.update + self.remove
    }

    fn count(&mut self, op: Op, n: usize) {
        match op {
            Op::Add => self.add += n,
            Op::Update => self.update += n,
            Op::Remove => self.remove += n,
        }
    }
}

/// What applying a set of writes did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Applied {
    pub put: usize,
    pub deleted: usize,
    /// Deletes of entries that were already gone (Apex 500/8, Vision One 404, or missing
    /// when listed again right before the removals): done all the same.
    pub already_gone: usize,
    /// Removals dropped because, listed again right before them, the entry no longer
    /// carried this job's tag (someone edited it meanwhile).
    pub no_longer_ours: usize,
    /// Adds and updates dropped because, listed again right before them, an entry without
    /// this job's tag held the IOC (someone added it, or edited the entry to update,
    /// meanwhile): never overwritten.
    pub taken_meanwhile: usize,
    /// Adds dropped because, listed again right before them, an entry with this job's tag
    /// already held the IOC (in another spelling).
    pub already_there: usize,
    /// Writes not started because the run's deadline (`--max-run-minutes`) passed: the
    /// next run makes them.
    pub left: Left,
    pub failed: Vec<FailedWrite>,
}

/// The callback that hears each write's [`Outcome`].
pub type Observe<'a> = dyn FnMut(&Write, Outcome<'_>) + Send + 'a;

/// Applies `writes` with at most `threads` requests at once: every add and update, then
/// every removal, then the puts that found the list full. With `recheck` (the job's tag),
/// each type's writes are guarded by listing it again (see the module's doc); without, they
/// are made as planned (`--clean`, which lists right before). No write starts after
/// `deadline`. `progress` ticks once per write, as each completes or is dropped. A failed
/// write's error (which may quote what the server sent back) has the run's secrets taken
/// out by `redactor` before it is logged or reported, as the final error has. `observe`
/// hears each write's outcome the moment it is known (a put that found the list full: once,
/// after its second try).
#[allow(clippy::too_many_arguments)]
pub async fn apply<S: Sink>(
    sink: &S,
    writes: Writes,
    threads: usize,
    progress: &ProgressBar,
    recheck: Option<&str>,
    deadline: Option<Instant>,
    redactor: &Redactor,
    observe: &mut Observe<'_>,
) -> Applied {
    let mut run = Applying {
        sink,
        threads,
        progress,
        recheck,
        deadline,
        redactor,
        observe,
        applied: Applied::default(),
        full: Vec::new(),
    };
    let puts = writes
        .adds
        .into_iter()
        .map(|p| (Op::Add, Write::Put(p)))
        .chain(
            writes
                .updates
                .into_iter()
                .map(|p| (Op::Update, Write::Put(p))),
        );
    run.phase(puts.collect(), true).await;
    let deletes = writes.removals.into_iter().map(|r| {
        let delete = Write::Delete {
            kind: r.kind,
            content: r.content,
        };
        (Op::Remove, delete)
    });
    run.phase(deletes.collect(), false).await;
    let full = std::mem::take(&mut run.full);
    if !full.is_empty() {
        tracing::debug!(
            "{} puts found the list full; trying them after the removals",
            full.len()
        );
    }
    run.phase(full, false).await;
    run.applied
}

/// One `apply` under way.
struct Applying<'a, S> {
    sink: &'a S,
    threads: usize,
    progress: &'a ProgressBar,
    recheck: Option<&'a str>,
    deadline: Option<Instant>,
    redactor: &'a Redactor,
    observe: &'a mut Observe<'a>,
    applied: Applied,
    /// Puts refused because the list was full, for after the removals.
    full: Vec<(Op, Write)>,
}

impl<S: Sink> Applying<'_, S> {
    /// Makes `writes`, one type after another (each type's right after its listing), in
    /// waves when guarded. With `keep_full`, puts refused as full are kept for later.
    async fn phase(&mut self, writes: Vec<(Op, Write)>, keep_full: bool) {
        let mut by_kind: BTreeMap<IocKind, VecDeque<(Op, Write)>> = BTreeMap::new();
        for (op, write) in writes {
            by_kind
                .entry(write.kind())
                .or_default()
                .push_back((op, write));
        }
        if self.recheck.is_none() {
            // Unguarded: every type at once.
            let all: Vec<(Op, Write)> = by_kind.into_values().flatten().collect();
            self.send(all, keep_full).await;
            return;
        }
        let tag = self.recheck.unwrap_or_default();
        for (kind, mut queue) in by_kind {
            let per_request = self.sink.writes_per_request().max(1);
            let floor = (self.threads.max(1) * FIRST_WAVE_PER_THREAD).saturating_mul(per_request);
            let mut wave = floor;
            while !queue.is_empty() {
                if past(self.deadline) {
                    self.leave(queue.drain(..));
                    break;
                }
                let listing_began = Instant::now();
                let listed = relist(self.sink, kind, tag).await;
                let listing = listing_began.elapsed();
                let batch: Vec<(Op, Write)> = queue.drain(..wave.min(queue.len())).collect();
                let relisted = match listed {
                    Ok(relisted) => relisted,
                    Err(e) => {
                        self.cannot_relist(kind, &e, batch.into_iter().chain(queue.drain(..)));
                        break;
                    }
                };
                let go: Vec<(Op, Write)> = batch
                    .into_iter()
                    .filter(|(op, write)| self.judge(*op, write, &relisted))
                    .collect();
                let sent = go.len();
                let writing_began = Instant::now();
                self.send(go, keep_full).await;
                wave = next_wave(wave, floor, sent, writing_began.elapsed(), listing);
            }
        }
    }

    /// Whether `write` goes ahead by the listing `relisted`; counts and warns when not.
    fn judge(&mut self, op: Op, write: &Write, relisted: &Relisted) -> bool {
        let tag = self.recheck.unwrap_or_default();
        let (kind, content) = (write.kind(), write.content());
        let verdict = verdict(op, kind, content, relisted);
        let outcome = match verdict {
            Verdict::Go => return true,
            Verdict::AlreadyGone => {
                self.applied.already_gone += 1;
                Outcome::AlreadyGone
            }
            Verdict::NoLongerOurs => {
                tracing::warn!(
                    "{kind} `{content}` no longer carries the tag {tag} (edited since it was listed): not removed"
                );
                self.applied.no_longer_ours += 1;
                Outcome::NoLongerOurs
            }
            Verdict::TakenMeanwhile => {
                let what = if op == Op::Add { "added" } else { "updated" };
                tracing::warn!(
                    "{kind} `{content}` is now listed without the tag {tag} (someone added or edited it since the run listed it): not {what}, and left as it is"
                );
                self.applied.taken_meanwhile += 1;
                Outcome::TakenMeanwhile
            }
            Verdict::AlreadyThere => {
                tracing::debug!(
                    "{kind} `{content}` is now listed with the tag {tag} in another spelling: not added"
                );
                self.applied.already_there += 1;
                Outcome::AlreadyThere
            }
        };
        (self.observe)(write, outcome);
        self.progress.inc(1);
        false
    }

    /// Every write of a type that could not be listed again: not made, reported as failed.
    fn cannot_relist(
        &mut self,
        kind: IocKind,
        error: &str,
        writes: impl Iterator<Item = (Op, Write)>,
    ) {
        for (op, write) in writes {
            let (what, phase) = match op {
                Op::Add => ("added", "adds"),
                Op::Update => ("updated", "updates"),
                Op::Remove => ("removed", "removals"),
            };
            let error = self.redactor.redact(&format!(
                "not {what}: the {kind} list could not be read again right before the {phase}: {error}"
            ));
            tracing::error!("{kind} `{}` {error}", write.content());
            self.progress.inc(1);
            (self.observe)(&write, Outcome::Failed(&error));
            self.applied.failed.push(FailedWrite {
                kind,
                content: write.content().to_owned(),
                action: write.action(),
                error,
            });
        }
    }

    /// Counts `writes` as left for the next run.
    fn leave(&mut self, writes: impl Iterator<Item = (Op, Write)>) {
        for (op, write) in writes {
            self.applied.left.count(op, 1);
            self.progress.inc(1);
            (self.observe)(&write, Outcome::Left);
        }
    }

    /// Hands `writes` to the sink and records each result.
    async fn send(&mut self, writes: Vec<(Op, Write)>, keep_full: bool) {
        if writes.is_empty() {
            return;
        }
        // Adds and updates of one IOC never meet in a plan, and contents are unique per
        // type: a write's kind and content say which operation it is.
        let ops: HashMap<(IocKind, String), Op> = writes
            .iter()
            .map(|(op, w)| ((w.kind(), w.content().to_owned()), *op))
            .collect();
        let writes: Vec<Write> = writes.into_iter().map(|(_, w)| w).collect();
        let (applied, full, progress, redactor) = (
            &mut self.applied,
            &mut self.full,
            self.progress,
            self.redactor,
        );
        let observe = &mut *self.observe;
        self.sink
            .apply(writes, self.threads, self.deadline, &mut |write, result| {
                let op = ops
                    .get(&(write.kind(), write.content().to_owned()))
                    .copied()
                    .unwrap_or(Op::Remove);
                match result {
                    Err(e) if e.list_full && keep_full => full.push((op, write)),
                    result => record(applied, op, write, result, progress, redactor, observe),
                }
            })
            .await;
    }
}

/// The size of the next wave: long enough that the listing before it (`listing`) costs
/// about 1/[`WAVE_TO_LISTING`] of it, judged by how long the last wave's `sent` writes
/// took; never below `floor`. A wave that sent nothing says nothing: it keeps its size.
fn next_wave(wave: usize, floor: usize, sent: usize, took: Duration, listing: Duration) -> usize {
    if sent == 0 || took.is_zero() {
        return wave;
    }
    let per_write = took.as_secs_f64() / sent as f64;
    let target = listing.as_secs_f64() * f64::from(WAVE_TO_LISTING);
    let writes = (target / per_write).ceil();
    if writes.is_finite() && writes < usize::MAX as f64 {
        (writes as usize).max(floor)
    } else {
        usize::MAX
    }
}

/// One type's entries as listed again right before its writes: whether each listed content
/// carries the tag, and which IOCs (normal form) entries with and without it hold.
#[derive(Debug, Default)]
struct Relisted {
    /// Content as listed -> carries the tag.
    by_content: HashMap<String, bool>,
    /// IOC value (normal form) -> (an entry with the tag holds it, one without does).
    by_ioc: HashMap<String, (bool, bool)>,
}

impl Relisted {
    fn new(entries: &[Listed], tag: &str) -> Self {
        let mut relisted = Relisted::default();
        for e in entries {
            let ours = e.owner_tag() == Some(tag);
            relisted.by_content.insert(e.raw.clone(), ours);
            if let Some(ioc) = &e.ioc {
                let held = relisted.by_ioc.entry(ioc.value.clone()).or_default();
                if ours {
                    held.0 = true;
                } else {
                    held.1 = true;
                }
            }
        }
        relisted
    }
}

/// Lists `kind` again, for the writes of the job of `tag`; `Err` says why it cannot be.
async fn relist<S: Sink>(sink: &S, kind: IocKind, tag: &str) -> Result<Relisted, String> {
    let entries = sink.list(kind).await.map_err(|e| format!("{e:#}"))?;
    Ok(Relisted::new(&entries, tag))
}

/// What listing again says about one planned write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Go,
    /// A removal whose entry is gone.
    AlreadyGone,
    /// A removal whose entry lost the tag.
    NoLongerOurs,
    /// An add or update whose IOC an entry without the tag now holds.
    TakenMeanwhile,
    /// An add (or an update of a gone entry) whose IOC one of ours holds in another spelling.
    AlreadyThere,
}

/// The rule of the module's doc: `content` is an add's normal form, or as listed for an
/// update or removal.
fn verdict(op: Op, kind: IocKind, content: &str, relisted: &Relisted) -> Verdict {
    let exact = relisted.by_content.get(content).copied();
    if op == Op::Remove {
        return match exact {
            Some(true) => Verdict::Go,
            Some(false) => Verdict::NoLongerOurs,
            None => Verdict::AlreadyGone,
        };
    }
    let (ours, foreign) = Ioc::new(kind, content)
        .ok()
        .and_then(|ioc| relisted.by_ioc.get(&ioc.value).copied())
        .unwrap_or_default();
    if foreign || exact == Some(false) {
        Verdict::TakenMeanwhile
    } else if exact == Some(true) && op == Op::Update {
        Verdict::Go
    } else if ours || exact == Some(true) {
        Verdict::AlreadyThere
    } else {
        Verdict::Go
    }
}

/// Counts one write's result in `applied`, ticks `progress`, and tells `observe`.
fn record(
    applied: &mut Applied,
    op: Op,
    write: Write,
    result: WriteResult,
    progress: &ProgressBar,
    redactor: &Redactor,
    observe: &mut Observe<'_>,
) {
    progress.inc(1);
    match result {
        Ok(Written::Done) => {
            match write {
                Write::Put(_) => applied.put += 1,
                Write::Delete { .. } => applied.deleted += 1,
            }
            observe(&write, Outcome::Done);
        }
        Ok(Written::AlreadyGone) => {
            applied.already_gone += 1;
            observe(&write, Outcome::AlreadyGone);
        }
        Err(e) if e.not_started => {
            applied.left.count(op, 1);
            observe(&write, Outcome::Left);
        }
        Err(e) => {
            let error = redactor.redact(&e.message);
            tracing::error!("{error}");
            observe(&write, Outcome::Failed(&error));
            applied.failed.push(FailedWrite {
                kind: write.kind(),
                content: write.content().to_owned(),
                action: write.action(),
                error,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(kind: IocKind, raw: &str, notes: &str) -> Listed {
        Listed {
            kind,
            raw: raw.into(),
            ioc: Ioc::new(kind, raw).ok(),
            notes: notes.into(),
            scan_action: "block".into(),
            expires: None,
            settings_differ: false,
        }
    }

    #[test]
    fn one_rule_for_adds_updates_and_removals() {
        let d = IocKind::Domain;
        let relisted = Relisted::new(
            &[
                listed(d, "ours.example", "apex-ioc-sync:t x"),
                listed(d, "Spelled.Example.", "apex-ioc-sync:t x"),
                listed(d, "Taken.Example", "added by hand"),
                listed(d, "edited.example", "kept by the SOC (was apex-ioc-sync:t)"),
                listed(d, "mixed.example", "apex-ioc-sync:t x"),
                listed(d, "MIXED.example", "by hand"),
            ],
            "t",
        );
        let v = |op, content| verdict(op, d, content, &relisted);
        // Adds: free, taken by someone (any spelling), ours already.
        assert_eq!(v(Op::Add, "free.example"), Verdict::Go);
        assert_eq!(v(Op::Add, "taken.example"), Verdict::TakenMeanwhile);
        assert_eq!(v(Op::Add, "spelled.example"), Verdict::AlreadyThere);
        assert_eq!(v(Op::Add, "ours.example"), Verdict::AlreadyThere);
        // Updates: of our entry; of an entry someone edited, or whose IOC someone else now
        // holds in another spelling; of an entry gone (written again, as an add).
        assert_eq!(v(Op::Update, "ours.example"), Verdict::Go);
        assert_eq!(v(Op::Update, "edited.example"), Verdict::TakenMeanwhile);
        assert_eq!(v(Op::Update, "mixed.example"), Verdict::TakenMeanwhile);
        assert_eq!(v(Op::Update, "gone.example"), Verdict::Go);
        assert_eq!(v(Op::Update, "SPELLED.example"), Verdict::AlreadyThere);
        // Removals: by the entry as listed, as before.
        assert_eq!(v(Op::Remove, "ours.example"), Verdict::Go);
        assert_eq!(v(Op::Remove, "edited.example"), Verdict::NoLongerOurs);
        assert_eq!(v(Op::Remove, "gone.example"), Verdict::AlreadyGone);
    }

    #[test]
    fn waves_grow_until_the_listing_is_a_small_share() {
        let ms = Duration::from_millis;
        // 32 writes in 80 ms (2.5 ms each) after a 10 ms listing: 320 ms of writes next.
        assert_eq!(next_wave(32, 32, 32, ms(80), ms(10)), 128);
        // Never below the floor; a wave that sent nothing keeps its size.
        assert_eq!(next_wave(32, 32, 32, ms(800), ms(1)), 32);
        assert_eq!(next_wave(64, 32, 0, ms(0), ms(10)), 64);
        // Batched writes (a thousand a request) make one wave of the rest.
        assert!(next_wave(32, 32, 32, ms(20), ms(400)) >= 20_000);
    }
}
