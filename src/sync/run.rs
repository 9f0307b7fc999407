//! One sync run against a destination ([`Sink`]): the pulled IOCs of the chosen types that
//! the destination holds, its listed entries of those types, the plan, and (unless a dry
//! run) its application; and the run's report.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use indicatif::ProgressBar;
use serde::Serialize;

use super::apply::{Applied, Writes, apply};
use super::plan::{AddBrake, Brake, Plan, Policy, WindowBrake, owned_peak, plan};
use crate::ioc::{Ioc, IocKind};
use crate::model::desired::{Desired, Pulled};
use crate::model::lumu::LumuReport;
use crate::model::{Listed, Outcome, Put, Write};
use crate::policy::{Excluded, ExcludedCounts, Exclusions};
use crate::secret::Redactor;
use crate::sink::Sink;
use crate::state::journal::{self, JournalRun, Op, PlannedWrite, Previous, WantedIoc};

/// How a run applies its plan.
#[derive(Debug, Clone)]
pub struct Job {
    /// The source's name, for the report.
    pub source: &'static str,
    pub policy: Policy,
    /// What must never be pushed.
    pub exclusions: Arc<Exclusions>,
    pub threads: usize,
    pub dry_run: bool,
    /// When the run began (before the source was read): the report's seconds count from it.
    pub started: Instant,
    /// When the run must end (`--max-run-minutes`): no write starts after it.
    pub deadline: Option<Instant>,
    /// The run's secrets, taken out of failed writes' errors.
    pub redactor: Redactor,
    /// The per-type counts of what the tag owned on this destination at each run listing
    /// within the window brake's window (from the journal); empty: no history.
    pub owned_history: Vec<BTreeMap<IocKind, usize>>,
}

/// Counts of a plan.
#[derive(Debug, Default, Clone, Serialize)]
pub struct PlanCounts {
    pub add: usize,
    pub update: usize,
    pub remove: usize,
    pub unchanged: usize,
    pub preserved: usize,
}

/// The entries of one type listed on the destination when the run planned (before its
/// writes): what fills the list, what this job owns, and how many the type holds at most.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ListedCounts {
    /// Every listed entry of the type, whoever made it.
    pub entries: usize,
    /// Those carrying this job's tag.
    pub owned: usize,
    /// The most entries of the type the destination holds.
    pub capacity: usize,
}

impl ListedCounts {
    /// Counts the entries of `kind` among `entries`, and those `tag` owns.
    pub fn count(entries: &[Listed], kind: IocKind, tag: &str, capacity: usize) -> Self {
        let of_kind = entries.iter().filter(|e| e.kind == kind);
        let (mut all, mut owned) = (0, 0);
        for entry in of_kind {
            all += 1;
            if entry.owner_tag() == Some(tag) {
                owned += 1;
            }
        }
        ListedCounts {
            entries: all,
            owned,
            capacity,
        }
    }
}

/// One planned change, for dry runs.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub op: &'static str,
    #[serde(rename = "type")]
    pub kind: IocKind,
    pub content: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scan_action: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<&'static str>,
}

/// What a run did, for the summary line and `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// The run's id in the journal (`history RUN-ID`, `rollback RUN-ID`); `null` when the run
    /// is not journalled (a dry run without a state file).
    pub run_id: Option<String>,
    pub source: &'static str,
    /// The destination: `apex` or `vision-one`.
    pub destination: &'static str,
    pub tag: String,
    pub dry_run: bool,
    /// Items the source read (incidents, indicators, files).
    pub items: usize,
    /// Desired IOCs of the chosen types that the destination holds, by type: what is planned.
    pub iocs: BTreeMap<IocKind, usize>,
    /// Source values that are not usable IOCs, by reason.
    pub invalid: BTreeMap<&'static str, usize>,
    /// Source values written defanged and read refanged (plain lists).
    pub refanged: usize,
    /// Desired IOCs of types `--ioc-types` did not select, by type (not pushed).
    pub not_selected: BTreeMap<IocKind, usize>,
    /// Desired IOCs of selected types the destination cannot hold, by type (not pushed).
    pub unsupported_by_destination: BTreeMap<IocKind, usize>,
    /// Desired IOCs the exclusion policy held back, by list (not in `iocs`).
    pub excluded: ExcludedCounts,
    /// `--exclude` lists holding entries that can match nothing, and how many, by list
    /// (see `policy::Exclusions::unused`).
    pub exclusions_unused: ExcludedCounts,
    pub plan: PlanCounts,
    /// The destination's entries of each planned type, as listed before the writes.
    pub listed: BTreeMap<IocKind, ListedCounts>,
    /// Desired IOCs left out: held by an entry without our tag, or no room on the list.
    pub skipped: BTreeMap<&'static str, usize>,
    /// Owned entries left alone, by reason: `unreadable` (content that does not
    /// normalise), `shared` (a foreign entry holds the same IOC in another spelling).
    pub untouched: BTreeMap<&'static str, usize>,
    pub brake: Option<Brake>,
    /// The add brake, when it held the whole plan back.
    pub add_brake: Option<AddBrake>,
    /// Set when the window brake (the last 24 hours' owned counts) held the removals back.
    pub window_brake: Option<WindowBrake>,
    /// Set when the source could not read everything and the plan therefore removed
    /// nothing: why.
    pub removals_withheld: Option<String>,
    /// The Lumu source's context reads and calls.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lumu: Option<LumuReport>,
    #[serde(flatten)]
    pub applied: Applied,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change>,
    /// What went wrong in the source without stopping it (a TAXII server that stalled).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Dry runs: each IOC held back, with the list and entry that matched it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub excluded_iocs: Vec<Excluded>,
    pub seconds: f64,
}

impl RunReport {
    /// The one summary line.
    pub fn summary(&self) -> String {
        let mut s = format!("{} (tag {})", self.source, self.tag);
        if self.dry_run {
            s.push_str(" [dry run, nothing written]");
        }
        let total: usize = self.iocs.values().sum();
        let _ = write!(s, ": {} items", self.items);
        let mut stopped = "";
        if let Some(l) = &self.lumu {
            let _ = write!(
                s,
                " (contexts: {} read, {} cached, {} deferred",
                l.contexts_read, l.contexts_cached, l.contexts_deferred
            );
            if l.contexts_failed > 0 {
                let _ = write!(s, ", {} failed", l.contexts_failed);
            }
            let _ = write!(s, "; Lumu calls: {})", l.calls.total());
            stopped = match l.stopped {
                Some("quota") => "; context reads stopped: the daily quota is spent",
                Some("deadline") => "; context reads stopped: --max-run-minutes reached",
                Some(_) => "; context reads stopped: too many failed",
                None => "",
            };
        }
        let _ = write!(s, " -> {total} IOCs ({})", counts(&self.iocs));
        let invalid: usize = self.invalid.values().sum();
        if invalid > 0 {
            let _ = write!(s, ", {invalid} invalid ({})", counts(&self.invalid));
        }
        if self.refanged > 0 {
            let _ = write!(s, ", {} refanged", self.refanged);
        }
        for (label, left_out) in [
            ("not-selected", &self.not_selected),
            (
                "unsupported-by-destination",
                &self.unsupported_by_destination,
            ),
        ] {
            let n: usize = left_out.values().sum();
            if n > 0 {
                let _ = write!(s, ", {n} {label} ({})", counts(left_out));
            }
        }
        s.push_str(stopped);
        if !self.excluded.is_empty() {
            let _ = write!(
                s,
                "; excluded {} ({})",
                self.excluded.total(),
                self.excluded
            );
        }
        let p = &self.plan;
        let _ = write!(
            s,
            "; plan +{} ~{} -{} ={}",
            p.add, p.update, p.remove, p.unchanged
        );
        if p.preserved > 0 {
            let _ = write!(s, " (+{} preserved)", p.preserved);
        }
        if let Some(why) = &self.removals_withheld {
            let _ = write!(s, "; removals withheld: {why}");
        }
        let skipped: usize = self.skipped.values().sum();
        if skipped > 0 {
            let _ = write!(s, "; skipped {skipped} ({})", counts(&self.skipped));
        }
        let untouched: usize = self.untouched.values().sum();
        if untouched > 0 {
            let _ = write!(
                s,
                "; {untouched} owned left alone ({})",
                counts(&self.untouched)
            );
        }
        if self.applied.no_longer_ours > 0 {
            let _ = write!(
                s,
                "; {} not removed (edited meanwhile)",
                self.applied.no_longer_ours
            );
        }
        if self.applied.taken_meanwhile > 0 {
            let _ = write!(
                s,
                "; {} not written (taken meanwhile by an entry without the tag)",
                self.applied.taken_meanwhile
            );
        }
        if self.applied.already_there > 0 {
            let _ = write!(
                s,
                "; {} not added (already listed with the tag)",
                self.applied.already_there
            );
        }
        let left = &self.applied.left;
        if left.total() > 0 {
            let _ = write!(
                s,
                "; DEADLINE (--max-run-minutes) reached: left for the next run +{} ~{} -{}",
                left.add, left.update, left.remove
            );
        }
        if !self.dry_run {
            let _ = write!(s, "; {} failed", self.applied.failed.len());
        }
        if let Some(b) = &self.brake {
            let _ = write!(
                s,
                "; BRAKE: would remove {} of {} owned{}, removed none",
                b.would_remove,
                b.owned,
                if b.empty_source {
                    " with an empty source"
                } else {
                    ""
                }
            );
        }
        if let Some(b) = &self.add_brake {
            let _ = write!(
                s,
                "; ADD BRAKE: would add {}, more than {} (the larger of --max-adds and 3 x {} owned), wrote nothing",
                b.would_add, b.threshold, b.owned
            );
        }
        if let Some(b) = &self.window_brake {
            let _ = write!(
                s,
                "; BRAKE ({}-hour window): would leave {} of the {} owned in that window, removed none",
                b.window_hours, b.would_remain, b.peak
            );
        }
        if !self.warnings.is_empty() {
            let _ = write!(s, "; {} source warning(s)", self.warnings.len());
        }
        let _ = write!(s, "; {:.1}s", self.seconds);
        if let Some(id) = &self.run_id {
            let _ = write!(s, "; run {id}");
        }
        s
    }
}

fn counts<K: std::fmt::Display>(map: &BTreeMap<K, usize>) -> String {
    if map.is_empty() {
        return "none".to_owned();
    }
    map.iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Lists the chosen types the sink holds, plans against them, and applies the plan (unless
/// a dry run). With a `journal`, the run's owned counts, plan and writes go into it as they
/// happen: every write is stored before any is sent (a journal that cannot store them
/// stops the run there, before a write), each result as it arrives; and, unless a dry run,
/// what the source wanted.
pub async fn run<S: Sink>(
    job: &Job,
    mut pulled: Pulled,
    sink: &S,
    now: DateTime<Utc>,
    progress: &ProgressBar,
    mut journal: Option<&mut JournalRun>,
) -> anyhow::Result<(RunReport, Plan)> {
    pulled.renormalize();
    let not_selected = take_kinds(&mut pulled.iocs, |k| !job.policy.types.contains(&k));
    let held_by_sink = |k: &IocKind| sink.kinds().contains(k);
    let unsupported_by_destination = take_kinds(&mut pulled.iocs, |k| !held_by_sink(&k));
    // Only the types the destination holds are listed and planned.
    let mut policy = job.policy.clone();
    policy.types.retain(held_by_sink);
    policy.owned_peak =
        (!job.owned_history.is_empty()).then(|| owned_peak(&job.owned_history, &policy.types));
    // What the source gave, before the exclusions take theirs: the journal keeps why.
    let offered: Option<Vec<Desired>> = match &journal {
        Some(_) if !job.dry_run => Some(pulled.iocs.clone()),
        _ => None,
    };
    let held = job.exclusions.screen(&mut pulled.iocs);
    let mut listed = Vec::new();
    let mut listed_counts = BTreeMap::new();
    for &kind in &policy.types {
        let entries = sink.list(kind).await?;
        listed_counts.insert(
            kind,
            ListedCounts::count(&entries, kind, &policy.tag, policy.capacity),
        );
        listed.extend(entries);
    }
    // What a partial pull lacks may still be in the source: keep every owned entry. An
    // owned entry whose IOC is now excluded goes all the same.
    policy.preserve = policy.preserve || pulled.partial.is_some();
    policy.withdrawn = withdrawn(&listed, &policy.tag, &job.exclusions);
    if let Some(journal) = journal.as_deref_mut() {
        let owned = listed_counts.iter().map(|(&k, c)| (k, c.owned)).collect();
        journal.listed(&owned)?;
    }
    let plan = plan(&pulled.iocs, &listed, &policy, now);
    tracing::debug!(
        "plan: +{} ~{} -{} ={}",
        plan.adds.len(),
        plan.updates.len(),
        plan.removals.len(),
        plan.unchanged
    );
    if let Some(journal) = journal.as_deref_mut() {
        journal.plan(
            journal::PlanCounts {
                add: plan.adds.len(),
                update: plan.updates.len(),
                remove: plan.removals.len(),
            },
            brake_note(&plan).as_deref(),
        )?;
        if let Some(offered) = &offered {
            journal.store_wanted(&policy.tag, &wanted(offered, &held, &plan, &job.exclusions))?;
        }
        if !job.dry_run && !plan.is_empty() {
            let updates = plan.updates.iter().map(|(w, _)| w);
            journal.planned(&planned_writes(
                &plan.adds,
                updates,
                &plan.removals,
                &listed,
            ))?;
        }
    }
    let applied = if job.dry_run || plan.is_empty() {
        Applied::default()
    } else {
        let writes = Writes {
            adds: plan.adds.clone(),
            updates: plan.updates.iter().map(|(w, _)| w.clone()).collect(),
            removals: plan.removals.clone(),
        };
        progress.set_length(writes.len() as u64);
        let tag = Some(job.policy.tag.as_str());
        let (deadline, redactor) = (job.deadline, &job.redactor);
        let mut observe = |write: &Write, outcome: Outcome<'_>| {
            if let Some(journal) = journal.as_deref_mut() {
                journal.result(write, outcome);
            }
        };
        let applied = apply(
            sink,
            writes,
            job.threads,
            progress,
            tag,
            deadline,
            redactor,
            &mut observe,
        )
        .await;
        progress.finish_and_clear();
        applied
    };
    if let Some(journal) = journal.as_deref_mut()
        && !job.dry_run
    {
        journal.store_owned_after()?;
    }
    let mut skipped = BTreeMap::new();
    if !plan.skipped_foreign.is_empty() {
        skipped.insert("foreign", plan.skipped_foreign.len());
    }
    if !plan.skipped_capacity.is_empty() {
        skipped.insert("capacity", plan.skipped_capacity.len());
    }
    let report = RunReport {
        run_id: journal.as_deref().map(|j| j.id().to_owned()),
        source: job.source,
        destination: sink.id(),
        tag: job.policy.tag.clone(),
        dry_run: job.dry_run,
        items: pulled.items,
        iocs: pulled.by_kind(),
        invalid: pulled.invalid.clone(),
        refanged: pulled.refanged,
        not_selected,
        unsupported_by_destination,
        excluded: job.exclusions.count(&held),
        exclusions_unused: job.exclusions.unused(),
        plan: PlanCounts {
            add: plan.adds.len(),
            update: plan.updates.len(),
            remove: plan.removals.len(),
            unchanged: plan.unchanged,
            preserved: plan.preserved,
        },
        listed: listed_counts,
        skipped,
        untouched: plan.untouched.clone(),
        brake: plan.brake.clone(),
        add_brake: plan.add_brake.clone(),
        window_brake: plan.window_brake.clone(),
        removals_withheld: pulled.partial.clone(),
        lumu: pulled.lumu.clone(),
        applied,
        changes: if job.dry_run {
            let mut changes = changes(&plan);
            for c in changes.iter_mut().filter(|c| c.op == "remove") {
                let excluded =
                    Ioc::new(c.kind, &c.content).is_ok_and(|ioc| policy.withdrawn.contains(&ioc));
                if excluded {
                    c.why = Some("excluded: an exclusion list matches it");
                }
            }
            changes
        } else {
            Vec::new()
        },
        excluded_iocs: if job.dry_run {
            held.iter().map(|h| job.exclusions.describe(h)).collect()
        } else {
            Vec::new()
        },
        warnings: pulled.warnings.clone(),
        seconds: job.started.elapsed().as_secs_f64(),
    };
    Ok((report, plan))
}

/// What held a plan's removals back, for the journal's run row.
pub fn brake_note(plan: &Plan) -> Option<String> {
    if let Some(b) = &plan.brake {
        return Some(format!(
            "removal brake: would remove {} of {} owned{}",
            b.would_remove,
            b.owned,
            if b.empty_source {
                " with an empty source"
            } else {
                ""
            }
        ));
    }
    plan.window_brake.as_ref().map(|b| {
        format!(
            "window brake: would leave {} of the {} owned in the last {} hours",
            b.would_remain, b.peak, b.window_hours
        )
    })
}

/// Writes as the journal stores them (`adds`, then `updates`, then `removals`), with the
/// previous state of each entry an update or a removal changes (from `listed`, the entries
/// the writes were planned against).
pub fn planned_writes<'a>(
    adds: &[Put],
    updates: impl IntoIterator<Item = &'a Put>,
    removals: &[super::plan::Removal],
    listed: &[Listed],
) -> Vec<PlannedWrite> {
    let by_content: std::collections::HashMap<(IocKind, &str), &Listed> = listed
        .iter()
        .map(|e| ((e.kind, e.raw.as_str()), e))
        .collect();
    let previous = |kind: IocKind, content: &str| {
        by_content.get(&(kind, content)).map(|e| Previous {
            notes: e.notes.clone(),
            scan_action: e.scan_action.clone(),
            expires: e.expires,
        })
    };
    let value = |kind: IocKind, content: &str| {
        by_content
            .get(&(kind, content))
            .and_then(|e| e.ioc.as_ref())
            .map(|i| i.value.clone())
            .or_else(|| Ioc::new(kind, content).ok().map(|i| i.value))
    };
    let put = |op: Op, w: &Put| PlannedWrite {
        op,
        kind: w.kind,
        content: w.content.clone(),
        value: value(w.kind, &w.content),
        scan_action: Some(w.scan_action.as_str().to_owned()),
        expires: w.expiration,
        notes: Some(w.notes.clone()),
        previous: (op == Op::Update)
            .then(|| previous(w.kind, &w.content))
            .flatten(),
    };
    adds.iter()
        .map(|w| put(Op::Add, w))
        .chain(updates.into_iter().map(|w| put(Op::Update, w)))
        .chain(removals.iter().map(|r| PlannedWrite {
            op: Op::Remove,
            kind: r.kind,
            content: r.content.clone(),
            value: value(r.kind, &r.content),
            scan_action: None,
            expires: None,
            notes: None,
            previous: previous(r.kind, &r.content),
        }))
        .collect()
}

/// What the source offered (before the exclusions), and what the plan made of each IOC:
/// `excluded` (with the list and entry), `foreign`, `capacity`, else `listed`.
fn wanted<'a>(
    offered: &'a [Desired],
    held: &[crate::policy::Held],
    plan: &Plan,
    exclusions: &Exclusions,
) -> Vec<WantedIoc<'a>> {
    let held: std::collections::HashMap<&Ioc, String> = held
        .iter()
        .map(|h| (&h.ioc, exclusions.describe(h).to_string()))
        .collect();
    let foreign: HashSet<&Ioc> = plan.skipped_foreign.iter().collect();
    let capacity: HashSet<&Ioc> = plan.skipped_capacity.iter().collect();
    offered
        .iter()
        .map(|d| {
            let (outcome, detail) = match held.get(&d.ioc) {
                Some(hit) => ("excluded", Some(hit.clone())),
                None if foreign.contains(&d.ioc) => ("foreign", None),
                None if capacity.contains(&d.ioc) => ("capacity", None),
                None => ("listed", None),
            };
            WantedIoc {
                ioc: &d.ioc,
                scan_action: d.scan_action.as_str(),
                reason: &d.reason,
                seen: d.seen,
                outcome,
                detail,
            }
        })
        .collect()
}

/// Removes the desired IOCs whose kind `leave_out` picks; returns how many, by kind.
fn take_kinds(
    iocs: &mut Vec<Desired>,
    leave_out: impl Fn(IocKind) -> bool,
) -> BTreeMap<IocKind, usize> {
    let mut left_out = BTreeMap::new();
    iocs.retain(|d| {
        let out = leave_out(d.ioc.kind);
        if out {
            *left_out.entry(d.ioc.kind).or_default() += 1;
        }
        !out
    });
    left_out
}

/// The IOCs (normal form) of entries `tag` owns that the exclusions now match: those entries
/// go, in every listed spelling, even under `--preserve-iocs`. An entry whose content is
/// not an IOC is left to the planner.
fn withdrawn(listed: &[Listed], tag: &str, exclusions: &Exclusions) -> HashSet<Ioc> {
    if exclusions.is_empty() {
        return HashSet::new();
    }
    listed
        .iter()
        .filter(|e| e.owner_tag() == Some(tag))
        .filter_map(|e| e.ioc.clone())
        .filter(|ioc| exclusions.excludes(ioc))
        .collect()
}

/// Every change of a plan, adds, updates and removals, then what was skipped.
pub fn changes(plan: &Plan) -> Vec<Change> {
    let put = |op, w: &Put, why| Change {
        op,
        kind: w.kind,
        content: w.content.clone(),
        scan_action: Some(w.scan_action.as_str()),
        why,
    };
    let other = |op, kind: IocKind, content: &str, why| Change {
        op,
        kind,
        content: content.to_owned(),
        scan_action: None,
        why: Some(why),
    };
    plan.adds
        .iter()
        .map(|w| put("add", w, None))
        .chain(
            plan.updates
                .iter()
                .map(|(w, r)| put("update", w, Some(r.describe()))),
        )
        .chain(
            plan.removals
                .iter()
                .map(|r| other("remove", r.kind, &r.content, "no longer in the source")),
        )
        .chain(plan.skipped_foreign.iter().map(|i| {
            other(
                "skip",
                i.kind,
                &i.value,
                "an entry without this tag holds it",
            )
        }))
        .chain(plan.skipped_capacity.iter().map(|i| {
            other(
                "skip",
                i.kind,
                &i.value,
                "the list is full (oldest left out)",
            )
        }))
        .collect()
}

/// A dry run's excluded IOCs as a table: `x`, the IOC, and the list and entry that matched.
pub fn excluded_table(excluded: &[Excluded]) -> String {
    let mut out = String::new();
    for e in excluded {
        let _ = writeln!(
            out,
            "x {:<9}  {:<5}  {}  (excluded by {e})",
            e.kind.udso_type(),
            "",
            e.content
        );
    }
    out
}

/// A dry run's plan as a table: `+` add, `~` update, `-` remove, `!` skipped.
pub fn changes_table(changes: &[Change]) -> String {
    let mut out = String::new();
    for c in changes {
        let sign = match c.op {
            "add" => '+',
            "update" => '~',
            "remove" => '-',
            _ => '!',
        };
        let _ = write!(
            out,
            "{sign} {:<9}  {:<5}  {}",
            c.kind.udso_type(),
            c.scan_action.unwrap_or(""),
            c.content
        );
        if let Some(why) = c.why {
            let _ = write!(out, "  ({why})");
        }
        out.push('\n');
    }
    out
}
