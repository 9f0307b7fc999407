//! `apex-ioc-sync rollback RUN-ID`: undoes a run's writes on the destination, from what the
//! journal recorded of them, under the job's lock:
//! - what the run added is removed, when the entry still carries the job's tag and is as
//!   the run wrote it (same notes and scan action, expiry within a day: Vision One keeps
//!   expiries in whole days);
//! - what it updated is restored to its state before (notes, scan action, expiry), under
//!   the same condition;
//! - what it removed is added again with the notes, scan action and expiry it had, unless
//!   an entry (any spelling, any owner) holds the IOC now, its expiry has passed, or an
//!   exclusion list, hold list or the guard matches it now (a re-add is a push).
//!
//! A write the run sent without a recorded answer (a killed run: `planned`) is undone the
//! same way: the list says whether it was made. Failed writes, and removals that found the
//! entry gone or no longer ours, made no change and are left alone.
//!
//! The plan is printed first (`--dry-run` stops there, journalled as a dry run). The brakes
//! apply as to a sync: a rollback that would remove more than half of what the tag owns, or
//! leave less than half of its 24-hour peak (by more than 10 entries), does nothing without
//! `--force`; removals are checked against a fresh listing right before them. The rollback
//! is itself a run in the journal (`undoes` names the run), so it can be rolled back too.
//! With `--hold PATH` the IOCs whose adds it removed are appended to that hold list, so
//! the next run does not push them again.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::Instant;

use anyhow::anyhow;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::history::{expiry, time};
use super::sync::{begin_journal, lock, started_at};
use crate::cli::SinkKind;
use crate::exit::{ExitCode, Failure};
use crate::ioc::{Ioc, IocKind};
use crate::model::{Listed, Outcome, Put, ScanAction, Write};
use crate::output::settle;
use crate::policy::Exclusions;
use crate::settings::Settings;
use crate::sink::Sink;
use crate::state::journal::{
    self, Destination, Journal, NewRun, Op, RunKind, WriteRow, new_run_id, result,
};
use crate::sync::apply::{Applied, Writes, apply};
use crate::sync::plan::{
    BRAKE_WINDOW_HOURS, Brake, Removal, WindowBrake, owned_peak, too_many_removals,
    window_brake_for,
};
use crate::sync::run::planned_writes;
use crate::{out, outln};

/// How far an entry's expiry may be from what the run sent and still count as unchanged:
/// Vision One takes expiries in whole days (`daysToExpiration`).
const EXPIRY_TOLERANCE_HOURS: i64 = 24;

/// One change of the rollback, or one write of the run it leaves alone, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// `add`, `update`, `remove` (what the rollback does); for a skipped write, what the
    /// run did.
    pub op: Op,
    #[serde(rename = "type")]
    pub kind: IocKind,
    pub content: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scan_action: Option<&'static str>,
    pub why: String,
}

/// What undoing a run takes.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Undo {
    /// Entries the run removed, to add again as they were.
    pub adds: Vec<Put>,
    /// Entries the run updated, to restore.
    pub updates: Vec<Put>,
    /// Entries the run added, to remove.
    pub removals: Vec<Removal>,
    /// Every change, with why, for the printed plan.
    pub changes: Vec<Change>,
    /// The run's writes left alone, with why.
    pub skipped: Vec<Change>,
}

/// Plans the undoing of `writes` (one run's, as journalled) against `listed` (the
/// destination's entries of the types they touch, listed now), for the job tagged `tag`.
/// Pure: the rules are in the module's doc.
pub fn plan_undo(
    writes: &[WriteRow],
    listed: &[Listed],
    tag: &str,
    exclusions: &Exclusions,
    now: DateTime<Utc>,
) -> Undo {
    let mut undo = Undo::default();
    let tolerance = Duration::hours(EXPIRY_TOLERANCE_HOURS);
    let near = |a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>| match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => (a - b).abs() <= tolerance,
        _ => false,
    };
    for w in writes {
        // Only what the run made (or may have made, when killed before the answer).
        if w.result != result::DONE && w.result != result::PLANNED {
            continue;
        }
        let skip = |undo: &mut Undo, why: String| {
            undo.skipped.push(Change {
                op: w.op,
                kind: w.kind,
                content: w.content.clone(),
                scan_action: None,
                why,
            });
        };
        let exact = listed
            .iter()
            .find(|e| e.kind == w.kind && e.raw == w.content);
        // The entry as the run left it: ours, with what it sent.
        let as_left = |e: &Listed| {
            e.owner_tag() == Some(tag)
                && Some(&e.notes) == w.notes.as_ref()
                && Some(&e.scan_action) == w.scan_action.as_ref()
                && near(e.expires, w.expires)
        };
        match w.op {
            Op::Add | Op::Update => {
                let Some(entry) = exact else {
                    skip(&mut undo, "not on the list any more".to_owned());
                    continue;
                };
                if entry.owner_tag() != Some(tag) {
                    skip(
                        &mut undo,
                        format!("no longer carries the tag {tag}: someone edited it"),
                    );
                    continue;
                }
                if !as_left(entry) {
                    let why = if w.result == result::PLANNED {
                        "not as the run would have written it (the run was stopped before this write's answer)"
                    } else {
                        "changed since the run (by a later run, or by hand)"
                    };
                    skip(&mut undo, why.to_owned());
                    continue;
                }
                if w.op == Op::Add {
                    undo.removals.push(Removal {
                        kind: w.kind,
                        content: entry.raw.clone(),
                    });
                    undo.changes.push(Change {
                        op: Op::Remove,
                        kind: w.kind,
                        content: entry.raw.clone(),
                        scan_action: None,
                        why: format!("added by the run ({})", journal::reason_of(&entry.notes)),
                    });
                    continue;
                }
                let Some(before) = &w.previous else {
                    skip(
                        &mut undo,
                        "the journal holds no state before the update".to_owned(),
                    );
                    continue;
                };
                match restore(w.kind, &entry.raw, before, now) {
                    Ok(put) => {
                        undo.changes.push(Change {
                            op: Op::Update,
                            kind: w.kind,
                            content: put.content.clone(),
                            scan_action: Some(put.scan_action.as_str()),
                            why: format!(
                                "restored as before the run: expires {}, notes `{}`",
                                expiry(put.expiration),
                                put.notes
                            ),
                        });
                        undo.updates.push(put);
                    }
                    Err(why) => skip(&mut undo, why),
                }
            }
            Op::Remove => {
                let Some(before) = &w.previous else {
                    skip(
                        &mut undo,
                        "the journal holds no state before the removal".to_owned(),
                    );
                    continue;
                };
                let value = w.value.as_deref();
                let holder = listed.iter().find(|e| {
                    e.kind == w.kind
                        && (e.raw == w.content || e.ioc.as_ref().map(|i| i.value.as_str()) == value)
                });
                if let Some(holder) = holder {
                    let why = if holder.owner_tag() == Some(tag) {
                        "on the list again already (a later run added it back)".to_owned()
                    } else {
                        format!("an entry without the tag {tag} holds it now")
                    };
                    skip(&mut undo, why);
                    continue;
                }
                if owner_of(&before.notes) != Some(tag) {
                    skip(
                        &mut undo,
                        format!("its notes before did not carry the tag {tag}"),
                    );
                    continue;
                }
                if let Some(ioc) = value.and_then(|v| Ioc::new(w.kind, v).ok())
                    && let Some(hit) = exclusions.check(&ioc)
                {
                    let held = exclusions.describe(&crate::policy::Held { ioc, hit });
                    skip(&mut undo, format!("excluded now by {held}: never pushed"));
                    continue;
                }
                match restore(w.kind, &w.content, before, now) {
                    Ok(put) => {
                        undo.changes.push(Change {
                            op: Op::Add,
                            kind: w.kind,
                            content: put.content.clone(),
                            scan_action: Some(put.scan_action.as_str()),
                            why: format!(
                                "removed by the run; added again as it was: expires {}, notes `{}`",
                                expiry(put.expiration),
                                put.notes
                            ),
                        });
                        undo.adds.push(put);
                    }
                    Err(why) => skip(&mut undo, why),
                }
            }
        }
    }
    undo
}

fn owner_of(notes: &str) -> Option<&str> {
    crate::model::owner_tag(notes)
}

/// The put that brings `content` back to `before`, or why it cannot.
fn restore(
    kind: IocKind,
    content: &str,
    before: &journal::Previous,
    now: DateTime<Utc>,
) -> Result<Put, String> {
    let scan_action = match before.scan_action.as_str() {
        "block" => ScanAction::Block,
        "log" => ScanAction::Log,
        other => {
            return Err(format!(
                "its scan action before (`{other}`) is not one this tool writes"
            ));
        }
    };
    if let Some(at) = before.expires
        && at <= now
    {
        return Err(format!("its expiry before ({}) has passed", time(at)));
    }
    Ok(Put {
        kind,
        content: content.to_owned(),
        notes: before.notes.clone(),
        scan_action,
        expiration: before.expires,
    })
}

/// What a rollback did, for the summary line and `--json`.
#[derive(Debug, Serialize)]
pub struct RollbackReport {
    /// This rollback's id in the journal.
    pub run_id: Option<String>,
    /// The run it undoes.
    pub undoes: String,
    pub tag: String,
    pub dry_run: bool,
    pub plan: journal::PlanCounts,
    pub changes: Vec<Change>,
    pub skipped: Vec<Change>,
    pub brake: Option<Brake>,
    pub window_brake: Option<WindowBrake>,
    #[serde(flatten)]
    pub applied: Applied,
    /// IOCs appended to the hold list.
    pub held: Vec<String>,
    pub hold_file: Option<String>,
    pub seconds: f64,
}

impl RollbackReport {
    /// The one summary line.
    pub fn summary(&self) -> String {
        let mut s = format!("rollback of {} (tag {})", self.undoes, self.tag);
        if self.dry_run {
            s.push_str(" [dry run, nothing written]");
        }
        let p = &self.plan;
        let _ = write!(s, ": plan +{} ~{} -{}", p.add, p.update, p.remove);
        if !self.skipped.is_empty() {
            let _ = write!(s, ", {} of the run's writes left alone", self.skipped.len());
        }
        if let Some(b) = &self.brake {
            let _ = write!(
                s,
                "; BRAKE: would remove {} of {} owned, wrote nothing",
                b.would_remove, b.owned
            );
        }
        if let Some(b) = &self.window_brake {
            let _ = write!(
                s,
                "; BRAKE ({}-hour window): would leave {} of the {} owned in that window, wrote nothing",
                b.window_hours, b.would_remain, b.peak
            );
        }
        if !self.dry_run && self.brake.is_none() && self.window_brake.is_none() {
            let a = &self.applied;
            let _ = write!(
                s,
                "; {} put, {} removed, {} already gone, {} not ours any more, {} failed",
                a.put,
                a.deleted,
                a.already_gone,
                a.no_longer_ours,
                a.failed.len()
            );
        }
        if let Some(path) = &self.hold_file
            && !self.held.is_empty()
        {
            let _ = write!(s, "; {} IOCs held in {path}", self.held.len());
        }
        let _ = write!(s, "; {:.1}s", self.seconds);
        if let Some(id) = &self.run_id {
            let _ = write!(s, "; run {id}");
        }
        s
    }
}

/// Rolls back run `id` on the destination `--sink` names.
pub async fn run(settings: &Settings, id: &str) -> Result<ExitCode, Failure> {
    match settings.sink() {
        SinkKind::Apex => rollback(settings, &settings.apex_sink()?, id).await,
        SinkKind::VisionOne => rollback(settings, &settings.vision_one_sink()?, id).await,
    }
}

async fn rollback<S: Sink>(settings: &Settings, sink: &S, id: &str) -> Result<ExitCode, Failure> {
    let started = Instant::now();
    let opts = &settings.opts.sync;
    let json = settings.opts.output.json;
    let tag = settings.tag()?;
    let journal = Journal::read(&settings.state_path(&tag))?;
    let target = journal.run(id)?;
    if target.dry_run {
        return Err(Failure::usage(anyhow!(
            "run {id} was a dry run: it wrote nothing, so there is nothing to roll back"
        )));
    }
    if target.tag != tag {
        return Err(Failure::usage(anyhow!(
            "run {id} is a run of tag {}, and this rollback acts as tag {tag}: give --tag {} (or \
             the --config of that job)",
            target.tag,
            target.tag
        )));
    }
    let here = Destination {
        sink: sink.id().to_owned(),
        location: sink.location(),
    };
    if target.destination != here {
        return Err(Failure::usage(anyhow!(
            "run {id} wrote to {} {}, and this rollback is set up for {} {}: give the options \
             (or the --config) of the job that ran it",
            target.destination.sink,
            target.destination.location,
            here.sink,
            here.location
        )));
    }
    let writes = journal.writes(id)?;
    let exclusions = settings.exclusions_for_rollback()?;
    let _lock = lock(settings, &tag)?;
    sink.healthcheck().await.map_err(|e| {
        Failure::new(
            ExitCode::Failed,
            e.context(format!(
                "the access check of {} failed; nothing was written",
                sink.name()
            )),
        )
    })?;
    let kinds: BTreeSet<IocKind> = writes
        .iter()
        .map(|w| w.kind)
        .filter(|k| sink.kinds().contains(k))
        .collect();
    let mut listed = Vec::new();
    let mut owned: BTreeMap<IocKind, usize> = BTreeMap::new();
    for &kind in &kinds {
        let entries = sink.list(kind).await?;
        owned.insert(
            kind,
            entries
                .iter()
                .filter(|e| e.owner_tag() == Some(tag.as_str()))
                .count(),
        );
        listed.extend(entries);
    }
    let undo = plan_undo(&writes, &listed, &tag, &exclusions, Utc::now());

    // The brakes, as for a sync; a rollback is undone whole or not at all.
    let owned_total: usize = owned.values().sum();
    let removing = undo.removals.len();
    let brake = (!opts.force && removing > 0 && too_many_removals(removing, owned_total))
        .then_some(Brake {
            would_remove: removing,
            owned: owned_total,
            empty_source: false,
        });
    let history = journal.owned_history(
        &tag,
        &here,
        Utc::now() - Duration::hours(BRAKE_WINDOW_HOURS),
    )?;
    drop(journal);
    let peak = (!history.is_empty()).then(|| owned_peak(&history, &kinds));
    let window_brake = match brake {
        Some(_) => None,
        None => window_brake_for(removing, owned_total, peak, opts.force),
    };
    let braked = brake.is_some() || window_brake.is_some();

    let counts = journal::PlanCounts {
        add: undo.adds.len(),
        update: undo.updates.len(),
        remove: removing,
    };
    let run_id = new_run_id(started_at(started));
    let location = here.location.clone();
    let dry_run = opts.dry_run || braked;
    let mut run = begin_journal(
        settings,
        &NewRun {
            id: &run_id,
            tag: &tag,
            kind: RunKind::Rollback,
            source: "rollback",
            sink: sink.id(),
            location: &location,
            dry_run: opts.dry_run,
            forced: opts.force,
            undoes: Some(id),
            started: started_at(started),
        },
    )?;
    // The removals made (or found made), whose IOCs --hold keeps off.
    let mut removed: Vec<(IocKind, String)> = Vec::new();
    let journalled = async {
        if let Some(run) = run.as_mut() {
            run.listed(&owned)?;
            let note = match (&brake, &window_brake) {
                (Some(b), _) => Some(format!(
                    "removal brake: would remove {} of {} owned",
                    b.would_remove, b.owned
                )),
                (None, Some(b)) => Some(format!(
                    "window brake: would leave {} of the {} owned in the last {} hours",
                    b.would_remain, b.peak, b.window_hours
                )),
                (None, None) => None,
            };
            run.plan(counts, note.as_deref())?;
        }
        let mut applied = Applied::default();
        let nothing = undo.adds.is_empty() && undo.updates.is_empty() && removing == 0;
        if !dry_run && !nothing {
            if let Some(run) = run.as_mut() {
                run.planned(&planned_writes(
                    &undo.adds,
                    &undo.updates,
                    &undo.removals,
                    &listed,
                ))?;
            }
            let writes = Writes {
                adds: undo.adds.clone(),
                updates: undo.updates.clone(),
                removals: undo.removals.clone(),
            };
            let mut observe = |write: &Write, outcome: Outcome<'_>| {
                if let Write::Delete { kind, content } = write
                    && matches!(outcome, Outcome::Done | Outcome::AlreadyGone)
                {
                    removed.push((*kind, content.clone()));
                }
                if let Some(run) = run.as_mut() {
                    run.result(write, outcome);
                }
            };
            let redactor = settings.redactor();
            applied = apply(
                sink,
                writes,
                settings.threads(),
                &indicatif::ProgressBar::hidden(),
                Some(&tag),
                settings.deadline,
                &redactor,
                &mut observe,
            )
            .await;
            if let Some(run) = run.as_mut() {
                run.store_owned_after()?;
            }
        }
        anyhow::Ok(applied)
    }
    .await;
    let applied = match journalled {
        Ok(applied) => applied,
        Err(e) => {
            if let Some(run) = run {
                let _ = run.finish(ExitCode::Failed as u8);
            }
            return Err(e.into());
        }
    };

    // What the run added and this rollback removed stays off, with --hold.
    let to_hold: Vec<Ioc> = removed
        .iter()
        .filter_map(|(kind, content)| {
            listed
                .iter()
                .find(|e| e.kind == *kind && &e.raw == content)
                .and_then(|e| e.ioc.clone())
        })
        .collect::<BTreeSet<Ioc>>()
        .into_iter()
        .collect();
    let hold_file = settings.opts.exclusions.hold.clone();
    let mut hold_error = None;
    // Every rollback that wrote notes itself in the hold list (made if missing, so that the
    // job's --hold finds it), with what it held: possibly nothing.
    if let Some(path) = &hold_file
        && !dry_run
    {
        let why = format!(
            "rollback {run_id} of run {id} (tag {tag}), {}: {} IOCs",
            time(Utc::now()),
            to_hold.len()
        );
        if let Err(e) = crate::policy::hold::append(path, &why, &to_hold) {
            hold_error = Some(e);
        }
    }
    let held: Vec<String> = match (&hold_file, &hold_error) {
        (Some(_), None) => to_hold.iter().map(|i| i.value.clone()).collect(),
        _ => Vec::new(),
    };

    let report = RollbackReport {
        run_id: run.as_ref().map(|r| r.id().to_owned()),
        undoes: id.to_owned(),
        tag: tag.clone(),
        dry_run: opts.dry_run,
        plan: counts,
        changes: undo.changes.clone(),
        skipped: undo.skipped.clone(),
        brake,
        window_brake,
        applied,
        held,
        hold_file: hold_file.as_ref().map(|p| p.display().to_string()),
        seconds: started.elapsed().as_secs_f64(),
    };
    let printed = if json {
        outln!("{}", serde_json::to_string_pretty(&report)?)
    } else {
        out!("{}", plan_table(&report)).and_then(|()| {
            outln!("{}", report.summary())?;
            outln!("{}", next_run_note(&report, !to_hold.is_empty()))
        })
    };
    let outcome = if let Some(e) = hold_error {
        Err(Failure::new(
            ExitCode::Failed,
            e.context("the rollback was done, but what it removed is not held"),
        ))
    } else if let Some(b) = &report.brake {
        Err(Failure::new(
            ExitCode::Brake,
            anyhow!(
                "removal brake: this rollback would remove {} of the {} entries tag `{tag}` owns \
                 (more than half); nothing was written. If that is meant, run it again with --force",
                b.would_remove,
                b.owned
            ),
        ))
    } else if let Some(b) = &report.window_brake {
        Err(Failure::new(
            ExitCode::Brake,
            anyhow!(
                "removal brake ({}-hour window): this rollback would leave {} of the {} entries \
                 tag `{tag}` owned within the last {} hours; nothing was written. If that is \
                 meant, run it again with --force",
                b.window_hours,
                b.would_remain,
                b.peak,
                b.window_hours
            ),
        ))
    } else if !report.applied.failed.is_empty() {
        Err(Failure::new(
            ExitCode::PartialWrites,
            anyhow!(
                "{} writes of the rollback failed after their retries (listed above); run the \
                 rollback again to finish it",
                report.applied.failed.len()
            ),
        ))
    } else {
        Ok(ExitCode::Ok)
    };
    let outcome = settle(printed, outcome);
    if let Some(run) = run {
        let code = match &outcome {
            Ok(code) => *code,
            Err(f) => f.code,
        };
        if let Some(e) = run.error() {
            let e = anyhow!("the journal of rollback {run_id} misses results of its writes ({e})");
            return match outcome {
                Ok(_) => Err(Failure::new(ExitCode::Failed, e)),
                Err(f) => {
                    tracing::error!("{e}");
                    Err(f)
                }
            };
        }
        run.finish(code as u8)?;
    }
    outcome
}

/// The rollback's plan as a table: `+` add again, `~` restore, `-` remove, `!` left alone.
fn plan_table(report: &RollbackReport) -> String {
    let mut out = String::new();
    for c in &report.changes {
        let _ = writeln!(
            out,
            "{} {:<9}  {:<5}  {}  ({})",
            c.op.sign(),
            c.kind.udso_type(),
            c.scan_action.unwrap_or(""),
            c.content,
            c.why
        );
    }
    for c in &report.skipped {
        let _ = writeln!(
            out,
            "! {:<9}  {:<5}  {}  (the run's {}, left alone: {})",
            c.kind.udso_type(),
            "",
            c.content,
            c.op.as_str(),
            c.why
        );
    }
    out
}

/// What the next run of the job will do after this rollback.
fn next_run_note(report: &RollbackReport, held: bool) -> String {
    let hold = match (&report.hold_file, held) {
        (Some(path), true) => format!(
            "; what this rollback removed is held in {path}: the job does not push it again \
             until its line is removed"
        ),
        (Some(_), false) => String::new(),
        (None, _) => "; to keep them off, roll back with --hold PATH (and give the job the same \
                      --hold)"
            .to_owned(),
    };
    format!(
        "Note: the next run of tag {} pushes again what its source still wants and removes \
         again what it no longer wants{hold}.",
        report.tag
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::make_notes;
    use crate::state::journal::Previous;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn now() -> DateTime<Utc> {
        t("2026-12-06T21:00:00Z")
    }

    fn entry(value: &str, notes: &str, scan: &str, expires: Option<&str>) -> Listed {
        Listed {
            kind: IocKind::Domain,
            raw: value.into(),
            ioc: Ioc::new(IocKind::Domain, value).ok(),
            notes: notes.into(),
            scan_action: scan.into(),
            expires: expires.map(t),
            settings_differ: false,
        }
    }

    fn write(op: Op, value: &str, result: &str) -> WriteRow {
        let ours = make_notes("lumu", "C2C incident inc-9");
        let (sent, previous) = match op {
            Op::Add => (true, None),
            Op::Update => (
                true,
                Some(Previous {
                    notes: make_notes("lumu", "C2C incident inc-1"),
                    scan_action: "log".into(),
                    expires: Some(t("2026-12-20T00:00:00Z")),
                }),
            ),
            Op::Remove => (
                false,
                Some(Previous {
                    notes: make_notes("lumu", "Phishing incident inc-2"),
                    scan_action: "block".into(),
                    expires: Some(t("2026-12-30T00:00:00Z")),
                }),
            ),
        };
        WriteRow {
            run: "r2".into(),
            seq: 0,
            at: now(),
            op,
            kind: IocKind::Domain,
            content: value.into(),
            value: Some(value.into()),
            scan_action: sent.then(|| "block".to_owned()),
            expires: sent.then(|| t("2027-01-05T00:00:00Z")),
            notes: sent.then_some(ours),
            reason: None,
            previous,
            result: result.into(),
            error: None,
        }
    }

    const SENT: Option<&str> = Some("2027-01-05T00:00:00Z");

    #[test]
    fn undoes_adds_updates_and_removals_of_entries_left_as_the_run_wrote_them() {
        let ours = make_notes("lumu", "C2C incident inc-9");
        let listed = [
            entry("added.example", &ours, "block", SENT),
            entry(
                "updated.example",
                &ours,
                "block",
                Some("2027-01-05T03:00:00Z"),
            ),
        ];
        let writes = [
            write(Op::Add, "added.example", "done"),
            write(Op::Update, "updated.example", "done"),
            write(Op::Remove, "removed.example", "done"),
            // Made no change: left out, not even listed as skipped.
            write(Op::Add, "failed.example", "failed"),
            write(Op::Remove, "gone.example", "already-gone"),
        ];
        let undo = plan_undo(&writes, &listed, "lumu", &Exclusions::none(), now());
        assert_eq!(
            undo.removals,
            [Removal {
                kind: IocKind::Domain,
                content: "added.example".into()
            }]
        );
        assert_eq!(undo.updates.len(), 1);
        let restored = &undo.updates[0];
        assert_eq!(
            (
                restored.scan_action,
                restored.expiration,
                restored.notes.as_str()
            ),
            (
                ScanAction::Log,
                Some(t("2026-12-20T00:00:00Z")),
                "apex-ioc-sync:lumu C2C incident inc-1"
            )
        );
        let readded = &undo.adds[0];
        assert_eq!(
            (readded.content.as_str(), readded.notes.as_str()),
            (
                "removed.example",
                "apex-ioc-sync:lumu Phishing incident inc-2"
            )
        );
        assert_eq!(readded.expiration, Some(t("2026-12-30T00:00:00Z")));
        assert!(undo.skipped.is_empty(), "{:?}", undo.skipped);
        assert_eq!(undo.changes.len(), 3);
    }

    #[test]
    fn leaves_alone_what_changed_was_taken_over_or_came_back_and_what_is_excluded_now() {
        let ours = make_notes("lumu", "C2C incident inc-9");
        let listed = [
            // Renewed by a later run: another expiry.
            entry(
                "renewed.example",
                &ours,
                "block",
                Some("2027-02-01T00:00:00Z"),
            ),
            // Taken over by hand.
            entry("taken.example", "blocked by the SOC", "block", SENT),
            // Back already, in another spelling, by someone else.
            entry("Back.Example", "by hand", "block", None),
        ];
        let writes = [
            write(Op::Add, "renewed.example", "done"),
            write(Op::Add, "taken.example", "done"),
            write(Op::Add, "gone.example", "done"),
            write(Op::Remove, "back.example", "done"),
            write(Op::Remove, "10.0.0.1.example", "done"),
        ];
        let dir = tempfile::tempdir().unwrap();
        let list = dir.path().join("allow.txt");
        std::fs::write(&list, "10.0.0.1.example\n").unwrap();
        let exclusions = Exclusions::load(false, &[], &[list]).unwrap();
        let undo = plan_undo(&writes, &listed, "lumu", &exclusions, now());
        assert!(undo.adds.is_empty() && undo.updates.is_empty() && undo.removals.is_empty());
        let why: Vec<&str> = undo.skipped.iter().map(|c| c.why.as_str()).collect();
        assert!(why[0].starts_with("changed since the run"), "{why:?}");
        assert!(why[1].contains("no longer carries the tag lumu"), "{why:?}");
        assert_eq!(why[2], "not on the list any more");
        assert!(
            why[3].contains("an entry without the tag lumu holds it"),
            "{why:?}"
        );
        assert!(
            why[4].contains("excluded now by allow.txt line 1"),
            "{why:?}"
        );
    }

    #[test]
    fn a_removal_whose_expiry_passed_is_not_added_again() {
        let mut w = write(Op::Remove, "old.example", "done");
        w.previous.as_mut().unwrap().expires = Some(t("2026-12-01T00:00:00Z"));
        let undo = plan_undo(&[w], &[], "lumu", &Exclusions::none(), now());
        assert!(undo.adds.is_empty());
        assert!(
            undo.skipped[0].why.contains("has passed"),
            "{:?}",
            undo.skipped
        );
    }

    #[test]
    fn a_write_without_its_answer_is_undone_when_the_list_shows_it_was_made() {
        let ours = make_notes("lumu", "C2C incident inc-9");
        let listed = [entry("made.example", &ours, "block", SENT)];
        let writes = [
            write(Op::Add, "made.example", "planned"),
            write(Op::Add, "never.example", "planned"),
        ];
        let undo = plan_undo(&writes, &listed, "lumu", &Exclusions::none(), now());
        assert_eq!(undo.removals.len(), 1);
        assert_eq!(undo.skipped[0].content, "never.example");
    }
}
