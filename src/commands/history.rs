//! `apex-ioc-sync history [RUN-ID]`: the job's journal (`state::journal`). Without a run id,
//! its runs newest first, one line each: id, start, tag, source -> destination, plan
//! counts, failed writes, exit code. With one, that run's writes. `--json` prints the runs
//! (each with `id` and `plan`) or the writes (each with `op`, `type`, `content`, `result`).
//!
//! The journal is the state file of the job the options name (`--state-file`, else by tag,
//! as the sync job finds it); `--tag` (given, or in the `.config`) shows that tag's runs
//! only, else every tag's in the file. A state file that does not exist is an error that
//! says where it looked: missing is not empty.

use chrono::{DateTime, Utc};

use super::table::aligned;
use crate::cli::Since;
use crate::exit::Failure;
use crate::settings::Settings;
use crate::state::journal::{Journal, RunKind, RunRow, WriteRow};
use crate::{out, outln};

/// A time as the journal's commands print it: `2026-12-06T20:15:00Z`.
pub fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Prints the runs, or the writes of `run`.
pub fn run(settings: &Settings, run: Option<&str>, since: Option<Since>) -> Result<(), Failure> {
    let json = settings.opts.output.json;
    let tag = settings.tag()?;
    let journal = Journal::read(&settings.state_path(&tag))?;
    if let Some(id) = run {
        let row = journal.run(id)?;
        let writes = journal.writes(id)?;
        if json {
            return Ok(outln!("{}", serde_json::to_string_pretty(&writes)?)?);
        }
        outln!("{}", run_line(&row))?;
        if writes.is_empty() {
            outln!("{}", no_writes(&row))?;
        } else {
            out!("{}", writes_table(&writes))?;
        }
        return Ok(());
    }
    // The tag filters when it was asked for; else every job sharing the file shows.
    let filter = settings.opts.given("tag").then_some(tag.as_str());
    let since = since.map(|s| s.at(Utc::now()));
    let runs = journal.runs(filter, since)?;
    if json {
        return Ok(outln!("{}", serde_json::to_string_pretty(&runs)?)?);
    }
    if runs.is_empty() {
        outln!(
            "no runs{}{} in the journal of {}",
            filter.map(|t| format!(" of tag {t}")).unwrap_or_default(),
            since
                .map(|s| format!(" since {}", time(s)))
                .unwrap_or_default(),
            journal.path().display()
        )?;
    }
    for r in &runs {
        outln!("{}", run_line(r))?;
    }
    Ok(())
}

/// Why a run has no writes.
fn no_writes(r: &RunRow) -> &'static str {
    if r.dry_run {
        "(a dry run: it wrote nothing)"
    } else if !r.planned {
        "(it ended before its plan: nothing written)"
    } else {
        "(no writes)"
    }
}

/// One run: `ID  START  TAG  SOURCE -> SINK LOCATION  +A ~U -R  failed N  exit C  [notes]`.
pub fn run_line(r: &RunRow) -> String {
    let what = match r.kind {
        RunKind::Sync => r.source.clone(),
        RunKind::Clean => "clean".to_owned(),
        RunKind::Rollback => format!(
            "rollback of {}",
            r.undoes.as_deref().unwrap_or("an unknown run")
        ),
    };
    let exit = match (r.exit_code, r.ended) {
        (Some(code), _) => format!("exit {code}"),
        (None, _) => "no end (running, or stopped by a kill)".to_owned(),
    };
    let mut line = format!(
        "{}  {}  {}  {} -> {} {}  +{} ~{} -{}  failed {}  {exit}",
        r.id,
        time(r.started),
        r.tag,
        what,
        r.destination.sink,
        r.destination.location,
        r.plan.add,
        r.plan.update,
        r.plan.remove,
        r.failed,
    );
    if r.dry_run {
        line.push_str("  [dry run]");
    }
    if r.unanswered > 0 {
        line.push_str(&format!(
            "  [{} writes without a result: sent or not, unknown]",
            r.unanswered
        ));
    }
    if let Some(note) = &r.note {
        line.push_str(&format!("  [{note}]"));
    }
    line
}

/// A run's writes: sign, type, scan action, content, result, and why / what it was before.
pub fn writes_table(writes: &[WriteRow]) -> String {
    let rows: Vec<[String; 6]> = writes
        .iter()
        .map(|w| {
            let result = match &w.error {
                Some(e) => format!("{}: {e}", w.result),
                None => w.result.clone(),
            };
            let mut about = Vec::new();
            if let Some(reason) = w.reason.as_deref().filter(|r| !r.is_empty()) {
                about.push(reason.to_owned());
            }
            if w.notes.is_some() {
                about.push(format!("expires {}", expiry(w.expires)));
            }
            if let Some(p) = &w.previous {
                about.push(format!(
                    "was: {}, expires {}, notes `{}`",
                    p.scan_action,
                    expiry(p.expires),
                    p.notes
                ));
            }
            [
                w.op.sign().to_string(),
                w.kind.udso_type().to_owned(),
                w.scan_action.clone().unwrap_or_default(),
                w.content.clone(),
                result,
                about.join("; "),
            ]
        })
        .collect();
    aligned(
        ["", "TYPE", "SCAN", "CONTENT", "RESULT", "WHY / BEFORE"],
        &rows,
        &[(3, 60)],
    )
}

/// An expiry as printed: a time, or `never`.
pub fn expiry(at: Option<DateTime<Utc>>) -> String {
    at.map_or_else(|| "never".to_owned(), time)
}
