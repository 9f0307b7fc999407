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
use crate::output::{self, OutputError, settle};
use crate::policy::Exclusions;
use crate::settings::Settings;
use crate::sink::Sink;
use crate::source::{Pulled, Source};
use crate::state::newest_cursor;
use crate::sync::clean::clean;
use crate::sync::run::{Job, changes_table, excluded_table, run as run_job};
use crate::{out, outln};

/// The sync command: the run, then (with `--metrics-file`) its metrics file.
pub async fn run(settings: &Settings) -> Result<ExitCode, Failure> {
    // The run's time, and its deadline, count from here.
    let started = Instant::now();
    let mut counts = None;
    let outcome = sync(settings, started, &mut counts).await;
    match &settings.opts.metrics.metrics_file {
        Some(path) => write_metrics(settings, path, started, outcome, counts),
        None => outcome,
    }
}

/// The run itself, against the destination `--sink` names; `counts` gets the report's counts
/// once there is a report.
async fn sync(
    settings: &Settings,
    started: Instant,
    counts: &mut Option<metrics::Counts>,
) -> Result<ExitCode, Failure> {
    let tag = settings.tag()?;
    match settings.sink() {
        SinkKind::Apex => run_with(settings, &settings.apex_sink()?, &tag, started, counts).await,
        SinkKind::VisionOne => {
            let sink = settings.vision_one_sink()?;
            run_with(settings, &sink, &tag, started, counts).await
        }
    }
}

/// The run against one destination.
async fn run_with<S: Sink>(
    settings: &Settings,
    sink: &S,
    tag: &str,
    started: Instant,
    counts: &mut Option<metrics::Counts>,
) -> Result<ExitCode, Failure> {
    // Every usage error comes before the lock and before any request.
    let source = job_source(settings, tag)?;
    // A broken list stops the run here, before the source is read and before any write;
    // `--clean` removes what the tag owns whatever the lists say.
    let exclusions = match source {
        Some(_) => Arc::new(settings.exclusions()?),
        None => Arc::new(Exclusions::none()),
    };
    let _lock = take_lock(settings, tag)?;
    run_locked(settings, sink, tag, source, exclusions, started, counts).await
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

/// Takes the single-instance lock of the job of `tag`: exit 3 when another instance holds
/// it. Released when the lock is dropped.
pub fn take_lock(settings: &Settings, tag: &str) -> Result<InstanceLock, Failure> {
    let lock_path = settings.lock_path(tag);
    let lock = InstanceLock::acquire(&lock_path).map_err(|e| match e {
        LockError::Held { .. } => Failure::new(ExitCode::Locked, e),
        LockError::Io { .. } => Failure::new(ExitCode::Failed, e),
    })?;
    tracing::debug!("holding {}", lock_path.display());
    Ok(lock)
}

/// The run once the job's lock is held: `--clean` (no `source`), or the source read and the
/// destination made equal to it. `watch` runs its full syncs with this too, under the lock
/// it holds for its whole life.
pub async fn run_locked<S: Sink>(
    settings: &Settings,
    sink: &S,
    tag: &str,
    source: Option<Source>,
    exclusions: Arc<Exclusions>,
    started: Instant,
    counts: &mut Option<metrics::Counts>,
) -> Result<ExitCode, Failure> {
    let opts = &settings.opts.sync;
    let json = settings.opts.output.json;
    let to_screen = matches!(settings.log_target(), LogTarget::Stderr);
    let Some(source) = source else {
        let report = clean(sink, tag, settings.threads(), opts.dry_run, json).await?;
        *counts = Some(metrics::Counts::from(&report));
        let printed = if json {
            outln!("{}", serde_json::to_string_pretty(&report)?)
        } else {
            Ok(())
        };
        // Eager `and`: the summary reaches the log even when standard output is closed.
        let printed = printed.and(emit_summary(&report.summary(), to_screen && !json));
        return settle(
            printed,
            finish(
                report.applied.failed.len(),
                report.applied.deleted + report.applied.already_gone,
            ),
        );
    };

    let pulled = pull_checked(sink, &source, started, &exclusions).await?;
    sync_pulled(
        settings,
        sink,
        tag,
        source.name(),
        pulled,
        exclusions,
        started,
        counts,
    )
    .await
}

/// Checks access to the destination, then reads `source`. Any error means nothing was
/// written.
pub async fn pull_checked<S: Sink>(
    sink: &S,
    source: &Source,
    started: Instant,
    exclusions: &Exclusions,
) -> Result<Pulled, Failure> {
    // The destination first: a wrong key or a skewed clock fails now, in one call, not after
    // a long pull that spent the source's quota.
    sink.healthcheck().await.map_err(|e| {
        Failure::new(
            ExitCode::Failed,
            e.context(format!(
                "the access check of {} failed; the source was not read and nothing was written",
                sink.name()
            )),
        )
    })?;
    let name = source.name();
    source.pull(started, exclusions).await.map_err(|e| {
        Failure::new(
            ExitCode::Failed,
            e.context(format!(
                "the {name} source failed; nothing was written to {}",
                sink.name()
            )),
        )
    })
}

/// Makes the entries of `tag` on the destination equal to `pulled` (what the source named
/// `source` gave): plans, applies (unless a dry run), prints the report or summary, and
/// turns the brake and failed writes into the exit code. `counts` gets the report's counts
/// once there is a report (so `None` means nothing was written).
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
) -> Result<ExitCode, Failure> {
    let opts = &settings.opts.sync;
    let json = settings.opts.output.json;
    let to_screen = matches!(settings.log_target(), LogTarget::Stderr);
    let job = Job {
        source,
        policy: settings.policy(tag, sink.capacity_per_kind()),
        exclusions,
        threads: settings.threads(),
        dry_run: opts.dry_run,
        started,
    };
    let progress = progress_bar(to_screen && !json);
    let (report, _plan) = run_job(&job, pulled, sink, Utc::now(), &progress).await?;
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
    let a = &report.applied;
    settle(
        printed,
        finish(a.failed.len(), a.put + a.deleted + a.already_gone),
    )
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
) -> Result<ExitCode, Failure> {
    let Some(run) = run_metrics(settings, started, &outcome, counts) else {
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

/// The metrics of a run that began at `started` and ended with `outcome`; `None` when
/// another instance holds the lock (exit 3), whose metrics are not this run's to write.
pub fn run_metrics(
    settings: &Settings,
    started: Instant,
    outcome: &Result<ExitCode, Failure>,
    counts: Option<metrics::Counts>,
) -> Option<metrics::RunMetrics> {
    let exit_code = match outcome {
        Ok(code) => *code,
        Err(f) if f.code == ExitCode::Locked => return None,
        // A closed standard output ends the program with exit 0 (`app.rs`).
        Err(f) if output::is_closed(&f.error) => ExitCode::Ok,
        Err(f) => f.code,
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
    let run = metrics::RunMetrics {
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
    };
    Some(run)
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

fn finish(failed: usize, done: usize) -> Result<ExitCode, Failure> {
    if failed == 0 {
        return Ok(ExitCode::Ok);
    }
    Err(Failure::new(
        ExitCode::PartialWrites,
        anyhow!(
            "{failed} of {} writes failed after their retries (listed above); the others were done, and the next run tries again",
            failed + done
        ),
    ))
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
