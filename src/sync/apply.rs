//! Applying writes to the UDSO list: adds and updates first, removals last (so protection
//! never has a gap), each phase with bounded concurrency. Every request is retried by the
//! client; a write that still fails is reported and the others go on. A put refused because
//! the list is full (413/12) is tried once more after the removals have made room.
//!
//! Right before the removals, the types they touch are listed again (when the caller names
//! its tag): an entry someone edited meanwhile (its notes no longer carry the tag) is not
//! removed, and one that is gone already is not asked for.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use futures::StreamExt;
use indicatif::ProgressBar;
use serde::Serialize;

use crate::apex::client::{ApexClient, ApexError};
use crate::apex::udso::{Deleted, UdsoWrite};
use crate::ioc::IocKind;

/// One change to the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    Put(UdsoWrite),
    Delete { kind: IocKind, content: String },
}

impl Write {
    pub fn kind(&self) -> IocKind {
        match self {
            Write::Put(w) => w.kind,
            Write::Delete { kind, .. } => *kind,
        }
    }

    pub fn content(&self) -> &str {
        match self {
            Write::Put(w) => &w.content,
            Write::Delete { content, .. } => content,
        }
    }
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

/// What applying a set of writes did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Applied {
    pub put: usize,
    pub deleted: usize,
    /// Deletes of entries that were already gone (500/8, or missing when listed again
    /// right before the removals): done all the same.
    pub already_gone: usize,
    /// Removals dropped because, listed again right before the removals, the entry no
    /// longer carried this job's tag (someone edited it meanwhile).
    pub no_longer_ours: usize,
    pub failed: Vec<FailedWrite>,
}

/// Applies `writes` with at most `threads` requests at once: every put, then every delete,
/// then the puts that found the list full. With `recheck` (the job's tag), the types the
/// deletes touch are listed again right before them, and only entries still listed with
/// that tag are deleted. `progress` ticks once per write.
pub async fn apply(
    client: &ApexClient,
    writes: Vec<Write>,
    threads: usize,
    progress: &ProgressBar,
    recheck: Option<&str>,
) -> Applied {
    let (puts, deletes): (Vec<Write>, Vec<Write>) =
        writes.into_iter().partition(|w| matches!(w, Write::Put(_)));
    let mut applied = Applied::default();
    let mut full = Vec::new();
    for (write, result) in run_phase(client, puts, threads).await {
        match result {
            Err(e) if e.is_capacity() => full.push(write),
            result => record(&mut applied, write, result, progress),
        }
    }
    let deletes = match recheck {
        Some(tag) => still_ours(client, deletes, tag, &mut applied, progress).await,
        None => deletes,
    };
    for (write, result) in run_phase(client, deletes, threads).await {
        record(&mut applied, write, result, progress);
    }
    if !full.is_empty() {
        tracing::debug!(
            "{} puts found the list full; trying them after the removals",
            full.len()
        );
    }
    for (write, result) in run_phase(client, full, threads).await {
        record(&mut applied, write, result, progress);
    }
    applied
}

/// The deletes whose entries are still listed with `tag`, listing each type they touch
/// once more. The others are counted (gone: done; retagged: spared). When a type cannot be
/// listed, none of its deletes is made: each is reported as failed, and the next run tries
/// again.
async fn still_ours(
    client: &ApexClient,
    deletes: Vec<Write>,
    tag: &str,
    applied: &mut Applied,
    progress: &ProgressBar,
) -> Vec<Write> {
    let kinds: BTreeSet<IocKind> = deletes.iter().map(Write::kind).collect();
    // Per type: content as listed -> whether it carries the tag; or why it cannot be listed.
    let mut listed: BTreeMap<IocKind, Result<HashMap<String, bool>, String>> = BTreeMap::new();
    for kind in kinds {
        let entries = client.list_udso(kind).await.map(|entries| {
            entries
                .into_iter()
                .filter(|e| e.ioc_kind() == Some(kind))
                .map(|e| {
                    let ours = e.owner_tag() == Some(tag);
                    (e.content, ours)
                })
                .collect()
        });
        listed.insert(kind, entries.map_err(|e| e.to_string()));
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
                }
                None => {
                    applied.already_gone += 1;
                    progress.inc(1);
                }
            },
            Err(e) => {
                let error = format!(
                    "not removed: the {} list could not be read again right before the removals: {e}",
                    write.kind()
                );
                tracing::error!("{} `{}` {error}", write.kind(), write.content());
                progress.inc(1);
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

type Outcome = (Write, Result<Option<Deleted>, ApexError>);

async fn run_phase(client: &ApexClient, writes: Vec<Write>, threads: usize) -> Vec<Outcome> {
    futures::stream::iter(writes)
        .map(|write| async move {
            let result = match &write {
                Write::Put(w) => client.put_udso(w).await.map(|()| None),
                Write::Delete { kind, content } => {
                    client.delete_udso(*kind, content).await.map(Some)
                }
            };
            (write, result)
        })
        .buffer_unordered(threads.max(1))
        .collect()
        .await
}

fn record(
    applied: &mut Applied,
    write: Write,
    result: Result<Option<Deleted>, ApexError>,
    progress: &ProgressBar,
) {
    progress.inc(1);
    match result {
        Ok(None) => applied.put += 1,
        Ok(Some(Deleted::Removed)) => applied.deleted += 1,
        Ok(Some(Deleted::AlreadyGone)) => applied.already_gone += 1,
        Err(e) => {
            tracing::error!("{e}");
            applied.failed.push(FailedWrite {
                kind: write.kind(),
                content: write.content().to_owned(),
                action: match write {
                    Write::Put(_) => "put",
                    Write::Delete { .. } => "delete",
                },
                error: e.to_string(),
            });
        }
    }
}
