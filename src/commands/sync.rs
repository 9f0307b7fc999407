//! The default run: take the lock, pull the source, and make this job's entries on the
//! destination equal to it (or, with `--clean`, remove them all). The job is assembled here
//! from the options: one line per destination, one per source; the rest is generic.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use chrono::Utc;
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::{SinkKind, SourceKind};
use crate::exit::{ExitCode, Failure};
use crate::lock::{InstanceLock, LockError};
use crate::logging::LogTarget;
use crate::metrics;
use crate::model::desired::Pulled;
use crate::output::{self, OutputError, settle};
use crate::policy::Exclusions;
use crate::settings::Settings;
use crate::sink::Sink;
use crate::source::Source;
use crate::state::journal::{Destination, Journal, JournalRun, JournalStats, NewRun, RunKind};
use crate::state::newest_cursor;
use crate::sync::apply::Applied;
use crate::sync::clean::clean;
use crate::sync::plan::BRAKE_WINDOW_HOURS;
use crate::sync::run::{Job, changes_table, excluded_table, run as run_job};
use crate::{out, outln};

/// The sync command: the run, its end in the journal, then (with `--metrics-file`) its
/// metrics file.
pub async fn run(settings: &Settings) -> Result<ExitCode, Failure> {
    // The run's time, and its deadline, count from here; every client built from these
    // settings waits for no retry past the deadline.
    let started = Instant::now();
    let settings = &settings.clone().with_deadline(started + settings.max_run());
    let mut counts = None;
    let mut journal = None;
    let outcome = sync(settings, started, &mut counts, &mut journal).await;
    let (outcome, journal) = end_journal(settings, journal, outcome);
    match &settings.opts.metrics.metrics_file {
        Some(path) => write_metrics(settings, path, started, outcome, counts, journal),
        None => outcome,
    }
}

/// The run itself, against the destination `--sink` names; `counts` gets the report's counts
/// once there is a report, `journal` the run's journal once it is begun.
async fn sync(
    settings: &Settings,
    started: Instant,
    counts: &mut Option<metrics::Counts>,
    journal: &mut Option<JournalRun>,
) -> Result<ExitCode, Failure> {
    let tag = settings.tag()?;
    match settings.sink() {
        SinkKind::Apex => {
            let sink = settings.apex_sink()?;
            run_with(settings, &sink, &tag, started, counts, journal).await
        }
        SinkKind::VisionOne => {
            let sink = settings.vision_one_sink()?;
            run_with(settings, &sink, &tag, started, counts, journal).await
        }
    }
}

/// The job's single-instance lock (`--lock-file`, or per `--lock-scope`), held until dropped: another instance
/// holding it is exit 3.
pub fn lock(settings: &Settings, tag: &str) -> Result<InstanceLock, Failure> {
    let lock_path = settings.scoped_lock_path(tag)?;
    let lock = InstanceLock::acquire(&lock_path).map_err(|e| match e {
        LockError::Held { .. } => Failure::new(ExitCode::Locked, e),
        LockError::Io { .. } => Failure::new(ExitCode::Failed, e),
    })?;
    tracing::debug!("holding {}", lock_path.display());
    Ok(lock)
}

/// The exit code `outcome` ends the process with (a closed standard output: 0, see `app.rs`).
fn exit_code_of(outcome: &Result<ExitCode, Failure>) -> ExitCode {
    match outcome {
        Ok(code) => *code,
        Err(f) if output::is_closed(&f.error) => ExitCode::Ok,
        Err(f) => f.code,
    }
}

/// Begins this run in the job's journal (the state file, `--state-file`): a dry run only
/// when the file exists (it creates none), and not at all when the journal is off (benches).
/// Any error fails the run before the source is read: no write goes unjournalled.
pub fn begin_journal(settings: &Settings, new: &NewRun) -> Result<Option<JournalRun>, Failure> {
    if !settings.journal {
        return Ok(None);
    }
    let path = settings.state_path(new.tag);
    let journal = if new.dry_run {
        Journal::open_for_dry_run(&path)?
    } else {
        Some(Journal::open(&path)?)
    };
    match journal {
        Some(journal) => Ok(Some(journal.begin(new)?)),
        None => {
            tracing::info!(
                "run {} (dry run) not journalled: there is no state file {} yet, and a dry run creates none",
                new.id,
                path.display()
            );
            Ok(None)
        }
    }
}

/// The run's start as a time (the `Instant` it began at, on the wall clock).
pub fn started_at(started: Instant) -> chrono::DateTime<Utc> {
    Utc::now() - chrono::Duration::from_std(started.elapsed()).unwrap_or_default()
}

/// Ends the run in its journal with the exit code of `outcome`, and prunes the tag's runs
/// older than `--journal-days`. A result the journal could not store fails a run that would
/// have exited 0 (exit 1); so does a journal that cannot be ended. Returns the outcome, and
/// the journal's rows for the metrics file.
pub fn end_journal(
    settings: &Settings,
    journal: Option<JournalRun>,
    outcome: Result<ExitCode, Failure>,
) -> (Result<ExitCode, Failure>, Option<JournalStats>) {
    let Some(run) = journal else {
        return (outcome, None);
    };
    let id = run.id().to_owned();
    let path = run.path().to_owned();
    let fail = |outcome: Result<ExitCode, Failure>, e: anyhow::Error| match outcome {
        Ok(_) => Err(Failure::new(ExitCode::Failed, e)),
        Err(f) => {
            tracing::error!("{e:#}");
            Err(f)
        }
    };
    let outcome = match run.error() {
        Some(e) => fail(
            outcome,
            anyhow!(
                "the journal of run {id} in {} misses results of its writes ({e}); the writes                  themselves were made (the log lists each failure)",
                path.display()
            ),
        ),
        None => outcome,
    };
    let code = exit_code_of(&outcome);
    let journal = match run.finish(code as u8) {
        Ok(journal) => journal,
        Err(e) => return (fail(outcome, e), None),
    };
    let Ok(tag) = settings.tag() else {
        return (outcome, None);
    };
    let days = settings.opts.sync.journal_days;
    match journal.prune(&tag, days, Utc::now()) {
        Ok(0) => {}
        Ok(n) => tracing::info!("journal: {n} runs older than {days} days pruned"),
        Err(e) => tracing::warn!("{e:#}"),
    }
    let stats = journal
        .stats(&tag)
        .map_err(|e| tracing::warn!("{e:#}; the metrics file has no journal rows"))
        .ok();
    (outcome, stats)
}

/// The run against one destination.
async fn run_with<S: Sink>(
    settings: &Settings,
    sink: &S,
    tag: &str,
    started: Instant,
    counts: &mut Option<metrics::Counts>,
    journal: &mut Option<JournalRun>,
) -> Result<ExitCode, Failure> {
    // Every usage error comes before the lock and before any request.
    let source = job_source(settings, tag)?;
    // A broken list stops the run here, before the source is read and before any write;
    // `--clean` removes what the tag owns whatever the lists say.
    let exclusions = match source {
        Some(_) => Arc::new(settings.exclusions()?),
        None => Arc::new(Exclusions::none()),
    };
    let _lock = lock(settings, tag)?;
    run_locked(
        settings, sink, tag, source, exclusions, started, counts, journal,
    )
    .await
}

/// The job's source as the options set it up; `None` with `--clean` (no source is read).
pub fn job_source(settings: &Settings, tag: &str) -> Result<Option<Source>, Failure> {
    Ok(match (settings.opts.sync.clean, settings.source()) {
        (true, _) => None,
        (false, SourceKind::Lumu) => Some(Source::Lumu(settings.lumu(tag)?, settings.lumu_http()?)),
        (false, SourceKind::Taxii) => {
            Some(Source::Taxii(settings.taxii(tag)?, settings.taxii_http()?))
        }
        (false, SourceKind::File) => Some(Source::File(settings.files()?)),
        (false, SourceKind::Openioc) => Some(Source::OpenIoc(settings.files()?)),
    })
}

/// The run once the job's lock is held: `--clean` (no `source`), or the source read and the
/// destination made equal to it. `journal` gets the run's journal once it is begun (after
/// the access check); the caller ends it ([`end_journal`]). `watch` polls other sources
/// with this too, under the lock it holds for its whole life.
#[allow(clippy::too_many_arguments)]
pub async fn run_locked<S: Sink>(
    settings: &Settings,
    sink: &S,
    tag: &str,
    source: Option<Source>,
    exclusions: Arc<Exclusions>,
    started: Instant,
    counts: &mut Option<metrics::Counts>,
    journal: &mut Option<JournalRun>,
) -> Result<ExitCode, Failure> {
    let opts = &settings.opts.sync;
    let json = settings.opts.output.json;
    let to_screen = matches!(settings.log_target(), LogTarget::Stderr);
    let Some(source) = source else {
        *journal = begin_run(settings, sink, tag, started, RunKind::Clean, "clean")?;
        let threads = settings.threads();
        let redactor = settings.redactor();
        let deadline = settings.deadline;
        let report = clean(
            sink,
            tag,
            threads,
            opts.dry_run,
            json,
            deadline,
            &redactor,
            journal.as_mut(),
        )
        .await?;
        *counts = Some(metrics::Counts::from(&report));
        let printed = if json {
            outln!("{}", serde_json::to_string_pretty(&report)?)
        } else {
            Ok(())
        };
        // Eager `and`: the summary reaches the log even when standard output is closed.
        let printed = printed.and(emit_summary(&report.summary(), to_screen && !json));
        return settle(printed, finish(&report.applied));
    };

    healthcheck(sink).await?;
    *journal = begin_run(settings, sink, tag, started, RunKind::Sync, source.name())?;
    let pulled = pull(sink, &source, started, &exclusions).await?;
    sync_pulled(
        settings,
        sink,
        tag,
        source.name(),
        pulled,
        exclusions,
        started,
        counts,
        journal,
    )
    .await
}

/// Checks access to the destination: first, so that a wrong key or a skewed clock fails
/// now, in one call, not after a long pull that spent the source's quota.
pub async fn healthcheck<S: Sink>(sink: &S) -> Result<(), Failure> {
    sink.healthcheck().await.map_err(|e| {
        Failure::new(
            ExitCode::Failed,
            e.context(format!(
                "the access check of {} failed; the source was not read and nothing was written",
                sink.name()
            )),
        )
    })
}

/// Reads `source`. An error means nothing was written to `sink`.
pub async fn pull<S: Sink>(
    sink: &S,
    source: &Source,
    started: Instant,
    exclusions: &Exclusions,
) -> Result<Pulled, Failure> {
    let name = source.name();
    source
        .pull(started, &|ioc| exclusions.excludes(ioc))
        .await
        .map_err(|e| {
            Failure::new(
                ExitCode::Failed,
                e.context(format!(
                    "the {name} source failed; nothing was written to {}",
                    sink.name()
                )),
            )
        })
}

/// Begins a run of `kind` (its source named `source`) that began at `started`, in the
/// journal of `tag`'s job on `sink` ([`begin_journal`]).
pub fn begin_run<S: Sink>(
    settings: &Settings,
    sink: &S,
    tag: &str,
    started: Instant,
    kind: RunKind,
    source: &'static str,
) -> Result<Option<JournalRun>, Failure> {
    let opts = &settings.opts.sync;
    let run_id = crate::state::journal::new_run_id(started_at(started));
    let location = sink.location();
    begin_journal(
        settings,
        &NewRun {
            id: &run_id,
            tag,
            kind,
            source,
            sink: sink.id(),
            location: &location,
            dry_run: opts.dry_run,
            // `--clean` removes everything on purpose: like --force, it acknowledges what is gone.
            forced: opts.force || kind == RunKind::Clean,
            undoes: None,
            started: started_at(started),
        },
    )
}

/// Makes the entries of `tag` on the destination equal to `pulled` (what the source named
/// `source` gave): plans, applies (unless a dry run), prints the report or summary, and
/// turns the brakes, failed writes and the deadline into the exit code. `counts` gets the
/// report's counts once there is a report (so `None` means nothing was written); the writes
/// go to `journal` (begun by the caller, `None` when the journal is off).
#[allow(clippy::too_many_arguments)]
pub async fn sync_pulled<S: Sink>(
    settings: &Settings,
    sink: &S,
    tag: &str,
    source: &'static str,
    pulled: Pulled,
    exclusions: Arc<Exclusions>,
    started: Instant,
    counts: &mut Option<metrics::Counts>,
    journal: &mut Option<JournalRun>,
) -> Result<ExitCode, Failure> {
    let opts = &settings.opts.sync;
    let json = settings.opts.output.json;
    let to_screen = matches!(settings.log_target(), LogTarget::Stderr);
    let owned_history = match journal.as_ref() {
        Some(j) => j.journal().owned_history(
            tag,
            &Destination {
                sink: sink.id().to_owned(),
                location: sink.location(),
            },
            Utc::now() - chrono::Duration::hours(BRAKE_WINDOW_HOURS),
        )?,
        None => Vec::new(),
    };
    let job = Job {
        source,
        policy: settings.policy(tag, sink.capacity_per_kind()),
        exclusions,
        threads: settings.threads(),
        dry_run: opts.dry_run,
        started,
        deadline: settings.deadline,
        redactor: settings.redactor(),
        owned_history,
    };
    let progress = progress_bar(to_screen && !json);
    let (report, _plan) =
        run_job(&job, pulled, sink, Utc::now(), &progress, journal.as_mut()).await?;
    *counts = Some(metrics::Counts::from(&report));
    let printed = if json {
        outln!("{}", serde_json::to_string_pretty(&report)?)
    } else if opts.dry_run {
        out!("{}", changes_table(&report.changes))
            .and_then(|()| out!("{}", excluded_table(&report.excluded_iocs)))
    } else {
        Ok(())
    };
    let printed = printed.and(emit_summary(&report.summary(), to_screen && !json));
    if let Some(brake) = &report.add_brake {
        let brake = Failure::new(
            ExitCode::Brake,
            anyhow!(
                "add brake: this run would add {} entries, more than {} (the larger of --max-adds {} \
                 and 3 times the {} entries tag `{tag}` owns); nothing was written, neither the adds \
                 nor {} updates and {} removals. A feed that grows this much at once may be poisoned \
                 or broken: check it (--dry-run --force lists what it would write); if the growth is \
                 real, run again with --force, or raise --max-adds",
                brake.would_add,
                brake.threshold,
                job.policy.max_adds,
                brake.owned,
                brake.would_update,
                brake.would_remove,
            ),
        );
        return settle(printed, Err(brake));
    }
    if let Some(brake) = &report.brake {
        let why = if brake.empty_source {
            "the source gave no IOC of the chosen types"
        } else {
            "more than half"
        };
        let brake = Failure::new(
            ExitCode::Brake,
            anyhow!(
                "removal brake: this run would remove {} of the {} entries tag `{tag}` owns ({why}); \
                 nothing was removed. If the source really dropped them, run again with --force",
                brake.would_remove,
                brake.owned
            ),
        );
        return settle(printed, Err(brake));
    }
    if let Some(b) = &report.window_brake {
        let brake = Failure::new(
            ExitCode::Brake,
            anyhow!(
                "removal brake ({}-hour window): this run would remove {} entries and leave {} of \
                 tag `{tag}`'s, which owned {} on this destination within the last {} hours \
                 (more than half gone); nothing was removed. If the source really shrank, run \
                 again with --force",
                b.window_hours,
                b.would_remove,
                b.would_remain,
                b.peak,
                b.window_hours
            ),
        );
        return settle(printed, Err(brake));
    }
    settle(printed, finish(&report.applied))
}

/// Writes the metrics file of a run that ended with `outcome`, and returns the outcome; a
/// file that cannot be written fails a run that would have exited 0 (exit 1), and is logged
/// as an error beside any other failure. Not written when another instance holds the lock
/// (exit 3): the file is that instance's, and it writes it when it ends.
fn write_metrics(
    settings: &Settings,
    path: &Path,
    started: Instant,
    outcome: Result<ExitCode, Failure>,
    counts: Option<metrics::Counts>,
    journal: Option<JournalStats>,
) -> Result<ExitCode, Failure> {
    let Some(run) = run_metrics(settings, started, &outcome, counts, journal) else {
        return outcome;
    };
    let exit_code = run.exit_code;
    match metrics::write(path, &run) {
        Ok(()) => {
            tracing::debug!("metrics written to {}", path.display());
            outcome
        }
        Err(e) if exit_code == ExitCode::Ok as u8 => Err(Failure::new(
            ExitCode::Failed,
            anyhow!("{e}; the run itself was done, and would have exited 0"),
        )),
        Err(e) => {
            tracing::error!("{e}");
            outcome
        }
    }
}

/// The metrics of a run that began at `started` and ended with `outcome` (`journal`: the
/// journal's rows after it); `None` when another instance holds the lock (exit 3), whose
/// metrics are not this run's to write.
pub fn run_metrics(
    settings: &Settings,
    started: Instant,
    outcome: &Result<ExitCode, Failure>,
    counts: Option<metrics::Counts>,
    journal: Option<JournalStats>,
) -> Option<metrics::RunMetrics> {
    let exit_code = match outcome {
        Err(f) if f.code == ExitCode::Locked => return None,
        outcome => exit_code_of(outcome),
    };
    let source = settings.source();
    // The tag as given: a usage error may be the tag itself, and its run is still this job's.
    let tag = settings
        .opts
        .sync
        .tag
        .clone()
        .unwrap_or_else(|| source.name().to_owned());
    let taxii_cursor = match (source, settings.tag()) {
        (SourceKind::Taxii, Ok(tag)) => newest_cursor(&settings.state_path(&tag), &tag)
            .unwrap_or_else(|e| {
                tracing::warn!("{e:#}; the metrics file has no TAXII cursor age");
                None
            }),
        _ => None,
    };
    Some(metrics::RunMetrics {
        job: metrics::JobLabels {
            tag,
            source: source.name(),
            sink: settings.sink().name(),
        },
        ended: Utc::now(),
        duration: started.elapsed(),
        exit_code: exit_code as u8,
        dry_run: settings.opts.sync.dry_run,
        clean: settings.opts.sync.clean,
        counts,
        taxii_cursor,
        journal,
    })
}

/// The summary line goes to standard output on screen runs, and to the log file otherwise
/// (a cron job stays quiet unless something is wrong).
fn emit_summary(summary: &str, to_stdout: bool) -> Result<(), OutputError> {
    if to_stdout {
        outln!("{summary}")
    } else {
        tracing::info!("{summary}");
        Ok(())
    }
}

/// The outcome of a run that wrote `applied`: failed writes (exit 4) before writes left at
/// the deadline (exit 6), since a failure wants looking at and the deadline message follows
/// in the summary.
fn finish(applied: &Applied) -> Result<ExitCode, Failure> {
    let failed = applied.failed.len();
    let left = applied.left;
    if failed > 0 {
        let done = applied.put + applied.deleted + applied.already_gone;
        let also_left = match left.total() {
            0 => String::new(),
            n => format!("; {n} more were left at the deadline (--max-run-minutes)"),
        };
        return Err(Failure::new(
            ExitCode::PartialWrites,
            anyhow!(
                "{failed} of {} writes failed after their retries (listed above); the others were done, and the next run tries again{also_left}",
                failed + done
            ),
        ));
    }
    if left.total() > 0 {
        return Err(Failure::new(
            ExitCode::DeadlineReached,
            anyhow!(
                "the run's deadline (--max-run-minutes) passed with writes left: {} adds, {} updates and {} removals were not started; the next run makes them (if this recurs, give the job more time or run it more often)",
                left.add,
                left.update,
                left.remove
            ),
        ));
    }
    Ok(ExitCode::Ok)
}

/// A bar on standard error when a person is watching; hidden in cron and file logging.
fn progress_bar(visible: bool) -> ProgressBar {
    if !visible || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{spinner} writing {pos}/{len} [{bar:30}] {eta}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}
