//! Applying writes to a destination ([`Sink`]): adds and updates first, removals last (so
//! protection never has a gap), each phase with bounded concurrency. Every request is
//! retried by the destination's client; a write that still fails is reported and the others
//! go on. A put refused because the list is full (Apex 413/12, Vision One 4000018) is tried
//! once more after the removals have made room.
//!
//! Right before the removals, the types they touch are listed again (when the caller names
//! its tag): an entry someone edited meanwhile (its notes no longer carry the tag) is not
//! removed, and one that is gone already is not asked for.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use indicatif::ProgressBar;
use serde::Serialize;

pub use super::model::Write;
use super::model::{WriteResult, Written};
use crate::ioc::IocKind;
use crate::sink::Sink;

/// A write that failed after its retries.
#[derive(Debug, Clone, Serialize)]
pub struct FailedWrite {
    #[serde(rename = "type")]
    pub kind: IocKind,
    pub content: String,
    pub action: &'static str,
    pub error: String,
}

/// What applying a set of writes did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Applied {
    pub put: usize,
    pub deleted: usize,
    /// Deletes of entries that were already gone (Apex 500/8, Vision One 404, or missing
    /// when listed again right before the removals): done all the same.
    pub already_gone: usize,
    /// Removals dropped because, listed again right before the removals, the entry no
    /// longer carried this job's tag (someone edited it meanwhile).
    pub no_longer_ours: usize,
    pub failed: Vec<FailedWrite>,
}

/// What became of one write, as [`apply`] reports it to its `observe` callback (the
/// journal) the moment it is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome<'a> {
    /// Added, updated or removed.
    Done,
    /// A removal of an entry that was gone already.
    AlreadyGone,
    /// A removal not sent: listed again right before the removals, the entry no longer
    /// carried the tag.
    NoLongerOurs,
    /// Failed after its retries (or its type could not be listed again): why.
    Failed(&'a str),
}

/// Applies `writes` with at most `threads` requests at once: every put, then every delete,
/// then the puts that found the list full. With `recheck` (the job's tag), the types the
/// deletes touch are listed again right before them, and only entries still listed with
/// that tag are deleted. `progress` ticks once per write, as each completes, and `observe`
/// hears each write's outcome then (a put that found the list full: once, after its
/// second try).
pub async fn apply<S: Sink>(
    sink: &S,
    writes: Vec<Write>,
    threads: usize,
    progress: &ProgressBar,
    recheck: Option<&str>,
    observe: &mut (dyn FnMut(&Write, Outcome<'_>) + Send),
) -> Applied {
    let (puts, deletes): (Vec<Write>, Vec<Write>) =
        writes.into_iter().partition(|w| matches!(w, Write::Put(_)));
    let mut applied = Applied::default();
    let mut full = Vec::new();
    sink.apply(puts, threads, &mut |write, result| match result {
        Err(e) if e.list_full => full.push(write),
        result => record(&mut applied, write, result, progress, observe),
    })
    .await;
    let deletes = match recheck {
        Some(tag) => still_ours(sink, deletes, tag, &mut applied, progress, observe).await,
        None => deletes,
    };
    sink.apply(deletes, threads, &mut |write, result| {
        record(&mut applied, write, result, progress, observe)
    })
    .await;
    if !full.is_empty() {
        tracing::debug!(
            "{} puts found the list full; trying them after the removals",
            full.len()
        );
    }
    sink.apply(full, threads, &mut |write, result| {
        record(&mut applied, write, result, progress, observe)
    })
    .await;
    applied
}

/// The deletes whose entries are still listed with `tag`, listing each type they touch
/// once more. The others are counted (gone: done; retagged: spared). When a type cannot be
/// listed, none of its deletes is made: each is reported as failed, and the next run tries
/// again.
async fn still_ours<S: Sink>(
    sink: &S,
    deletes: Vec<Write>,
    tag: &str,
    applied: &mut Applied,
    progress: &ProgressBar,
    observe: &mut (dyn FnMut(&Write, Outcome<'_>) + Send),
) -> Vec<Write> {
    let kinds: BTreeSet<IocKind> = deletes.iter().map(Write::kind).collect();
    // Per type: content as listed -> whether it carries the tag; or why it cannot be listed.
    let mut listed: BTreeMap<IocKind, Result<HashMap<String, bool>, String>> = BTreeMap::new();
    for kind in kinds {
        let entries = sink.list(kind).await.map(|entries| {
            entries
                .into_iter()
                .map(|e| {
                    let ours = e.owner_tag() == Some(tag);
                    (e.raw, ours)
                })
                .collect()
        });
        listed.insert(kind, entries.map_err(|e| format!("{e:#}")));
    }
    let mut keep = Vec::new();
    for write in deletes {
        match &listed[&write.kind()] {
            Ok(entries) => match entries.get(write.content()) {
                Some(true) => keep.push(write),
                Some(false) => {
                    tracing::warn!(
                        "{} `{}` no longer carries the tag {tag} (edited since it was listed): not removed",
                        write.kind(),
                        write.content()
                    );
                    applied.no_longer_ours += 1;
                    progress.inc(1);
                    observe(&write, Outcome::NoLongerOurs);
                }
                None => {
                    applied.already_gone += 1;
                    progress.inc(1);
                    observe(&write, Outcome::AlreadyGone);
                }
            },
            Err(e) => {
                let error = format!(
                    "not removed: the {} list could not be read again right before the removals: {e}",
                    write.kind()
                );
                tracing::error!("{} `{}` {error}", write.kind(), write.content());
                progress.inc(1);
                observe(&write, Outcome::Failed(&error));
                applied.failed.push(FailedWrite {
                    kind: write.kind(),
                    content: write.content().to_owned(),
                    action: "delete",
                    error,
                });
            }
        }
    }
    keep
}

fn record(
    applied: &mut Applied,
    write: Write,
    result: WriteResult,
    progress: &ProgressBar,
    observe: &mut (dyn FnMut(&Write, Outcome<'_>) + Send),
) {
    progress.inc(1);
    observe(
        &write,
        match &result {
            Ok(Written::Done) => Outcome::Done,
            Ok(Written::AlreadyGone) => Outcome::AlreadyGone,
            Err(e) => Outcome::Failed(&e.message),
        },
    );
    match result {
        Ok(Written::Done) => match write {
            Write::Put(_) => applied.put += 1,
            Write::Delete { .. } => applied.deleted += 1,
        },
        Ok(Written::AlreadyGone) => applied.already_gone += 1,
        Err(e) => {
            tracing::error!("{e}");
            applied.failed.push(FailedWrite {
                kind: write.kind(),
                content: write.content().to_owned(),
                action: write.action(),
                error: e.message,
            });
        }
    }
}
