//! One sync run against Apex: the pulled IOCs of the chosen types, the listed entries of
//! those types, the plan, and (unless a dry run) its application; and the run's report.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Instant;

use chrono::{DateTime, Utc};
use indicatif::ProgressBar;
use serde::Serialize;

use super::apply::{Applied, Write, apply};
use super::plan::{Brake, Plan, Policy, plan};
use crate::apex::client::{ApexClient, ApexError};
use crate::ioc::IocKind;
use crate::source::Pulled;

/// How a run applies its plan.
#[derive(Debug, Clone)]
pub struct Job {
    /// The source's name, for the report.
    pub source: &'static str,
    pub policy: Policy,
    pub threads: usize,
    pub dry_run: bool,
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
    pub source: &'static str,
    pub tag: String,
    pub dry_run: bool,
    /// Items the source read (incidents, indicators, files).
    pub items: usize,
    /// Desired IOCs of the chosen types, by type.
    pub iocs: BTreeMap<IocKind, usize>,
    /// Source values that are not usable IOCs, by reason.
    pub invalid: BTreeMap<&'static str, usize>,
    pub plan: PlanCounts,
    /// Desired IOCs left out: held by an entry without our tag, or no room on the list.
    pub skipped: BTreeMap<&'static str, usize>,
    /// Owned entries left alone, by reason: `unreadable` (content that does not
    /// normalise), `shared` (a foreign entry holds the same IOC in another spelling).
    pub untouched: BTreeMap<&'static str, usize>,
    pub brake: Option<Brake>,
    #[serde(flatten)]
    pub applied: Applied,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change>,
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
        let _ = write!(
            s,
            ": {} items -> {total} IOCs ({})",
            self.items,
            counts(&self.iocs)
        );
        let invalid: usize = self.invalid.values().sum();
        if invalid > 0 {
            let _ = write!(s, ", {invalid} invalid ({})", counts(&self.invalid));
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
        let _ = write!(s, "; {:.1}s", self.seconds);
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

/// Lists the chosen types, plans against them, and applies the plan (unless a dry run).
pub async fn run(
    job: &Job,
    mut pulled: Pulled,
    apex: &ApexClient,
    now: DateTime<Utc>,
    progress: &ProgressBar,
) -> Result<(RunReport, Plan), ApexError> {
    let started = Instant::now();
    pulled
        .iocs
        .retain(|d| job.policy.types.contains(&d.ioc.kind));
    let mut listed = Vec::new();
    for &kind in &job.policy.types {
        listed.extend(apex.list_udso(kind).await?);
    }
    let plan = plan(&pulled.iocs, &listed, &job.policy, now);
    tracing::debug!(
        "plan: +{} ~{} -{} ={}",
        plan.adds.len(),
        plan.updates.len(),
        plan.removals.len(),
        plan.unchanged
    );
    let applied = if job.dry_run || plan.is_empty() {
        Applied::default()
    } else {
        let writes: Vec<Write> = plan
            .adds
            .iter()
            .chain(plan.updates.iter().map(|(w, _)| w))
            .cloned()
            .map(Write::Put)
            .chain(plan.removals.iter().map(|r| Write::Delete {
                kind: r.kind,
                content: r.content.clone(),
            }))
            .collect();
        progress.set_length(writes.len() as u64);
        let applied = apply(apex, writes, job.threads, progress, Some(&job.policy.tag)).await;
        progress.finish_and_clear();
        applied
    };
    let mut skipped = BTreeMap::new();
    if !plan.skipped_foreign.is_empty() {
        skipped.insert("foreign", plan.skipped_foreign.len());
    }
    if !plan.skipped_capacity.is_empty() {
        skipped.insert("capacity", plan.skipped_capacity.len());
    }
    let report = RunReport {
        source: job.source,
        tag: job.policy.tag.clone(),
        dry_run: job.dry_run,
        items: pulled.items,
        iocs: pulled.by_kind(),
        invalid: pulled.skipped.clone(),
        plan: PlanCounts {
            add: plan.adds.len(),
            update: plan.updates.len(),
            remove: plan.removals.len(),
            unchanged: plan.unchanged,
            preserved: plan.preserved,
        },
        skipped,
        untouched: plan.untouched.clone(),
        brake: plan.brake.clone(),
        applied,
        changes: if job.dry_run {
            changes(&plan)
        } else {
            Vec::new()
        },
        seconds: started.elapsed().as_secs_f64(),
    };
    Ok((report, plan))
}

/// Every change of a plan, adds, updates and removals, then what was skipped.
pub fn changes(plan: &Plan) -> Vec<Change> {
    let put = |op, w: &crate::apex::udso::UdsoWrite, why| Change {
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
