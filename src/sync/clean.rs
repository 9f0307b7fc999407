//! `--clean`: remove every entry this job's tag owns, of every kind the destination holds,
//! and nothing else.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::Serialize;

use super::apply::{Applied, Writes, apply};
use super::model::Write;
use super::plan::Removal;
use super::run::ListedCounts;
use crate::exit::Failure;
use crate::ioc::IocKind;
use crate::outln;
use crate::secret::Redactor;
use crate::sink::Sink;

/// What a clean run found and did.
#[derive(Debug, Serialize)]
pub struct CleanReport {
    pub mode: &'static str,
    pub tag: String,
    pub dry_run: bool,
    /// Entries the tag owned when the run began, by type.
    pub owned: BTreeMap<IocKind, usize>,
    /// Every type's entries as listed when the run began (before its removals).
    pub listed: BTreeMap<IocKind, ListedCounts>,
    #[serde(flatten)]
    pub applied: Applied,
    pub seconds: f64,
}

impl CleanReport {
    /// The one summary line.
    pub fn summary(&self) -> String {
        let total: usize = self.owned.values().sum();
        let by_type = self
            .owned
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        if self.dry_run {
            return format!(
                "clean tag={} (dry run): would remove {total} ({by_type}); nothing written in {:.1}s",
                self.tag, self.seconds
            );
        }
        let left = match self.applied.left.remove {
            0 => String::new(),
            n => format!(", {n} left for the next run (--max-run-minutes reached)"),
        };
        format!(
            "clean tag={}: -{} removed of {total} owned ({by_type}), {} already gone, {} failed{left} in {:.1}s",
            self.tag,
            self.applied.deleted,
            self.applied.already_gone,
            self.applied.failed.len(),
            self.seconds
        )
    }
}

/// The entries `tag` owns, by listing every kind the sink holds, and what each kind's list
/// held; any listing failure aborts before a write.
pub async fn owned_entries<S: Sink>(
    sink: &S,
    tag: &str,
) -> anyhow::Result<(Vec<Write>, BTreeMap<IocKind, ListedCounts>)> {
    let mut owned = Vec::new();
    let mut listed = BTreeMap::new();
    for &kind in sink.kinds() {
        let entries = sink.list(kind).await?;
        listed.insert(
            kind,
            ListedCounts::count(&entries, kind, tag, sink.capacity_per_kind()),
        );
        for entry in entries {
            if entry.owner_tag() == Some(tag) {
                owned.push(Write::Delete {
                    kind,
                    content: entry.raw,
                });
            }
        }
    }
    Ok((owned, listed))
}

/// Removes every entry `tag` owns (or, with `dry_run`, lists them on standard output).
/// No removal starts after `deadline` (the run's, `--max-run-minutes`): those left are
/// counted, for the next `--clean`. `redactor` takes the run's secrets out of failed
/// removals' errors.
pub async fn clean<S: Sink>(
    sink: &S,
    tag: &str,
    threads: usize,
    dry_run: bool,
    quiet: bool,
    deadline: Option<Instant>,
    redactor: &Redactor,
) -> Result<CleanReport, Failure> {
    let started = Instant::now();
    let (deletes, listed) = owned_entries(sink, tag).await?;
    let mut owned: BTreeMap<IocKind, usize> = sink.kinds().iter().map(|&k| (k, 0)).collect();
    for d in &deletes {
        *owned.entry(d.kind()).or_default() += 1;
    }
    tracing::info!("tag {tag} owns {} entries", deletes.len());
    let applied = if dry_run {
        if !quiet {
            for d in &deletes {
                outln!("- {:<9}  {}", d.kind().udso_type(), d.content())?;
            }
        }
        Applied::default()
    } else {
        let removals = deletes
            .into_iter()
            .map(|d| Removal {
                kind: d.kind(),
                content: d.content().to_owned(),
            })
            .collect();
        let writes = Writes {
            removals,
            ..Writes::default()
        };
        let progress = indicatif::ProgressBar::hidden();
        apply(sink, writes, threads, &progress, None, deadline, redactor).await
    };
    Ok(CleanReport {
        mode: "clean",
        tag: tag.to_owned(),
        dry_run,
        owned,
        listed,
        applied,
        seconds: started.elapsed().as_secs_f64(),
    })
}
