//! `apex-ioc-sync watch`: the sync job as a long-running service.
//!
//! With `--source lumu` it follows Lumu's incident journal (`source::lumu::stream`): each
//! batch of events updates the incidents the job wants (kept in the state file,
//! `state::watch`), reads the contexts of new and changed ones (the context cache, within
//! `--max-context-calls` per full-sync period, stopping at a spent quota), and syncs the
//! destination with the IOCs of every wanted incident, through the sync job's own path
//! (`commands::sync::sync_pulled`: exclusions, ownership tag and notes, the plan, adds before
//! removals, the removal brake, nothing removed while a wanted incident has no context).
//! So a closed incident's IOCs leave the list unless another wanted incident still holds
//! them. Only then are the batch's incidents and the offset after it committed, together:
//! a process killed before that applies the batch again when it starts, and loses no event.
//!
//! A full sync (`commands::sync`, the same as a scheduled run) runs at the first start (after
//! skipping the journal's history: it lists what is open now), then every
//! `--reconcile-minutes` (and early, at most every 5 minutes, when events could not be
//! applied or the journal went back), and replaces the stored incidents with what it
//! listed. Other sources are read in full every `--poll-seconds`.
//!
//! The job's lock is held until the watch stops, so a scheduled sync of the same tag exits 3
//! meanwhile. Lumu and destination failures are waited out with a growing back-off (a spent
//! quota for as long as Lumu asks, up to an hour); only a state file that cannot be used
//! ends the watch (exit 1). SIGTERM, SIGINT (Ctrl-C) or, on Windows, Ctrl-C, Ctrl-Break and
//! the console closing stop it at once with exit 0: a batch under way is abandoned before
//! its commit and applied again at the next start.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use chrono::{DateTime, Utc};
use futures::StreamExt;

use crate::cli::{SinkKind, SourceKind, WatchOpts};
use crate::commands::sync;
use crate::exit::{ExitCode, Failure};
use crate::http::{HttpSettings, RateLimitSpent, RetryPolicy};
use crate::metrics::{JobLabels, RunMetrics, StreamMetrics, WatchMetrics};
use crate::model::ScanAction;
use crate::model::lumu::{CachedContext, Incident, LumuCalls, LumuReport};
use crate::policy::Exclusions;
use crate::settings::Settings;
use crate::sink::Sink;
use crate::source::Source;
use crate::source::lumu::stream::{self, Event, LumuStatusError, MAX_ITEMS, Wanted};
use crate::source::lumu::{CONTEXT_CONCURRENCY, LumuClient, LumuSettings, assemble};
use crate::state::StateStore;
use crate::state::journal::RunKind;
use crate::state::watch::{IncidentChanges, StreamPosition};

/// The first wait after a failure; it doubles, with jitter, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(5);
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// The longest wait for a spent Lumu quota (Lumu may ask for hours): then try again.
const MAX_QUOTA_WAIT: Duration = Duration::from_secs(3600);
/// A full sync brought forward (events that could not be applied, a journal that went
/// back) comes at most this long after the previous one.
const EARLY_RECONCILE_AFTER: chrono::TimeDelta = chrono::TimeDelta::minutes(5);
/// A changed incident's context is read again by the stream at most this often (Lumu
/// sends an update for every contact); the full sync reads what changed since.
const CONTEXT_REFRESH: Duration = Duration::from_secs(600);
/// Pages of events read before they are applied, while pages come back full (a backlog):
/// the apply then works on their net effect.
const MAX_PAGES_PER_BATCH: usize = 10;
/// The wait of a call that reads the rest of a backlog, or the journal's history at the
/// first start: short, since events are already there.
const BACKLOG_WAIT: Duration = Duration::from_secs(1);
/// Pages of history skipped at most at the first start.
const MAX_HISTORY_PAGES: u64 = 100_000;
/// The metrics file is rewritten at least this often while the journal answers with
/// nothing (its last-poll gauge shows the watch is alive).
const IDLE_METRICS_EVERY: Duration = Duration::from_secs(60);
/// The source named in the summary of a batch.
const STREAM_SOURCE: &str = "lumu stream";

/// The watch command: runs until SIGTERM or Ctrl-C (exit 0), or a state file that cannot
/// be used (exit 1).
pub async fn run(settings: &Settings, opts: &WatchOpts) -> Result<ExitCode, Failure> {
    let stop = stop_signal()?;
    run_until(settings, opts, stop).await
}

/// [`run`], stopping when `stop` completes instead of on a signal (the demo).
pub async fn run_until(
    settings: &Settings,
    opts: &WatchOpts,
    stop: impl Future<Output = ()>,
) -> Result<ExitCode, Failure> {
    check_options(settings)?;
    let tag = settings.tag()?;
    match settings.sink() {
        SinkKind::Apex => watch_with(settings, opts, &settings.apex_sink()?, &tag, stop).await,
        SinkKind::VisionOne => {
            let sink = settings.vision_one_sink()?;
            watch_with(settings, opts, &sink, &tag, stop).await
        }
    }
}

/// SIGTERM (a service manager stopping it) or SIGINT (Ctrl-C); on Windows Ctrl-C,
/// Ctrl-Break, the console closing and the system shutting down.
fn stop_signal() -> Result<impl Future<Output = ()>, Failure> {
    let cannot = |e: std::io::Error| anyhow!("cannot listen for the stop signals: {e}");
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).map_err(cannot)?;
        let mut interrupt = signal(SignalKind::interrupt()).map_err(cannot)?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM: stopping"),
                _ = interrupt.recv() => tracing::info!("SIGINT: stopping"),
            }
        })
    }
    #[cfg(windows)]
    {
        use tokio::signal::windows::{ctrl_break, ctrl_c, ctrl_close, ctrl_shutdown};
        let mut c = ctrl_c().map_err(cannot)?;
        let mut brk = ctrl_break().map_err(cannot)?;
        let mut close = ctrl_close().map_err(cannot)?;
        let mut shutdown = ctrl_shutdown().map_err(cannot)?;
        Ok(async move {
            tokio::select! {
                _ = c.recv() => {}
                _ = brk.recv() => {}
                _ = close.recv() => {}
                _ = shutdown.recv() => {}
            }
            tracing::info!("stop signal: stopping");
        })
    }
}

/// The sync job's options that a watch cannot take, and the watch's own that do not apply
/// to the job's source: usage errors (exit 2), before the lock.
fn check_options(settings: &Settings) -> Result<(), Failure> {
    let o = &settings.opts;
    for (given, flag, instead) in [
        (
            o.sync.clean,
            "--clean",
            "run the sync job with --clean to remove the tag's entries",
        ),
        (
            o.sync.dry_run,
            "--dry-run",
            "run the sync job with --dry-run to see what it would write",
        ),
        (
            o.output.json,
            "--json",
            "a watch logs one summary line per sync; the sync job's --json prints one run's report",
        ),
    ] {
        if given {
            return Err(Failure::usage(anyhow!(
                "watch does not take {flag}: {instead}"
            )));
        }
    }
    let source = settings.source();
    let misplaced: &[(&str, &str)] = match source {
        SourceKind::Lumu => &[("poll_seconds", "--poll-seconds")],
        _ => &[
            ("reconcile_minutes", "--reconcile-minutes"),
            ("long_poll_seconds", "--long-poll-seconds"),
        ],
    };
    if let Some((_, flag)) = misplaced.iter().find(|(id, _)| o.given(id)) {
        let why = match source {
            SourceKind::Lumu => {
                "it sets how often a source other than Lumu is read in full; Lumu's incident stream is followed as it comes"
            }
            _ => {
                "it applies to Lumu's incident stream; this source is read in full every --poll-seconds"
            }
        };
        return Err(Failure::usage(anyhow!(
            "{flag} does not apply to watch --source {}: {why}",
            source.name()
        )));
    }
    Ok(())
}

async fn watch_with<S: Sink>(
    settings: &Settings,
    opts: &WatchOpts,
    sink: &S,
    tag: &str,
    stop: impl Future<Output = ()>,
) -> Result<ExitCode, Failure> {
    // Every usage error comes before the lock, as in the sync job.
    let source = sync::job_source(settings, tag)?
        .ok_or_else(|| Failure::usage(anyhow!("watch does not take --clean")))?;
    let exclusions = Arc::new(settings.exclusions()?);
    let lock = sync::lock(settings, tag)?;
    let work = async {
        match source {
            Source::Lumu(lumu, http) => {
                tracing::info!(
                    "watch (tag {tag}): following Lumu's incident stream; a full sync every {} minutes",
                    opts.reconcile_minutes
                );
                Stream::new(settings, opts, sink, tag, exclusions, lumu, http)?
                    .run()
                    .await
            }
            _ => {
                tracing::info!(
                    "watch (tag {tag}): reading --source {} in full every {} seconds",
                    settings.source().name(),
                    opts.poll_seconds
                );
                poll(settings, opts, sink, tag, exclusions).await
            }
        }
    };
    let outcome = tokio::select! {
        outcome = work => outcome,
        () = stop => Ok(ExitCode::Ok),
    };
    drop(lock);
    if outcome.is_ok() {
        tracing::info!("watch (tag {tag}) stopped");
    }
    outcome
}

/// Waits that grow after each failure in a row: [`RetryPolicy::backoff`]'s exponential
/// back-off with jitter, from [`FIRST_BACKOFF`] to [`MAX_BACKOFF`].
struct Backoff {
    failures: u32,
}

impl Backoff {
    fn new() -> Self {
        Backoff { failures: 0 }
    }

    fn reset(&mut self) {
        self.failures = 0;
    }

    /// The wait after one more failure; a spent quota is waited out as long as the server
    /// asks (up to [`MAX_QUOTA_WAIT`]).
    fn next(&mut self, error: &anyhow::Error) -> Duration {
        self.failures += 1;
        let policy = RetryPolicy {
            attempts: u32::MAX,
            base_delay: FIRST_BACKOFF,
            max_delay: MAX_BACKOFF,
            ..RetryPolicy::default()
        };
        let wait = policy.backoff(self.failures);
        match error.downcast_ref::<RateLimitSpent>() {
            Some(spent) => wait.max(spent.wait.min(MAX_QUOTA_WAIT)),
            None => wait,
        }
    }
}

/// Logs why `what` failed and waits before it is tried again.
async fn pause(settings: &Settings, what: &str, error: &anyhow::Error, backoff: &mut Backoff) {
    let wait = backoff.next(error);
    let message = settings.redact(&format!("{error:#}"));
    tracing::error!(
        "{what} failed: {message}; trying again in {}s",
        wait.as_secs()
    );
    tokio::time::sleep(wait).await;
}

/// Why a step of the watch did not complete.
enum Stop {
    /// Lumu or the destination failed: try again after a back-off.
    Retry(anyhow::Error),
    /// The state file cannot be used: the watch ends (exit 1).
    Fatal(Failure),
}

impl From<anyhow::Error> for Stop {
    fn from(e: anyhow::Error) -> Self {
        Stop::Retry(e)
    }
}

/// A state-file result: its error ends the watch.
fn state<T>(result: anyhow::Result<T>) -> Result<T, Stop> {
    result.map_err(|e| Stop::Fatal(Failure::new(ExitCode::Failed, e)))
}

/// A batch of events read from the journal, and the offset after it.
struct Batch {
    events: Vec<Event>,
    offset: u64,
}

/// A watch of Lumu's incident stream.
struct Stream<'a, S: Sink> {
    settings: &'a Settings,
    sink: &'a S,
    tag: &'a str,
    exclusions: Arc<Exclusions>,
    lumu: LumuSettings,
    http: HttpSettings,
    client: LumuClient,
    store: StateStore,
    wanted: Wanted,
    reconcile_every: chrono::TimeDelta,
    wait: Duration,
    /// The incidents the job wants, as committed.
    incidents: HashMap<String, Incident>,
    /// Where the stream stands, as committed; `None` until the first full sync.
    position: Option<StreamPosition>,
    /// Bring the next full sync forward.
    early: bool,
    /// A full sync failed: the next is not tried before then (the stream goes on).
    reconcile_retry: Option<Instant>,
    reconcile_backoff: Backoff,
    /// The destination is synced with the next batch whatever it changes (at the start,
    /// until a sync has been made: the last one may have been cut short).
    must_sync: bool,
    /// Context reads left to the stream until the next full sync (`--max-context-calls`).
    budget: usize,
    /// When the stream last read each incident's context.
    refreshed: HashMap<String, Instant>,
    /// Lumu's quota is spent until then: the stream reads no context.
    quota_until: Option<Instant>,
    /// Some writes failed: the wanted incidents are synced again then.
    resync_at: Option<Instant>,
    resync_backoff: Backoff,
    /// The metrics of the last full sync, and the watch's gauges.
    last_sync: Option<RunMetrics>,
    gauges: StreamMetrics,
    last_poll: Option<DateTime<Utc>>,
    metrics_written: Option<Instant>,
}

impl<'a, S: Sink> Stream<'a, S> {
    fn new(
        settings: &'a Settings,
        opts: &WatchOpts,
        sink: &'a S,
        tag: &'a str,
        exclusions: Arc<Exclusions>,
        lumu: LumuSettings,
        http: HttpSettings,
    ) -> Result<Self, Failure> {
        let client =
            LumuClient::new(&lumu.url, lumu.company_key.clone(), &http).map_err(Failure::usage)?;
        let store = StateStore::open(&lumu.state_file)?;
        let position = store.stream_position(tag)?;
        let incidents = store.watched_incidents(tag)?;
        if let Some(p) = position {
            tracing::info!(
                "watch (tag {tag}): resuming Lumu's journal at offset {} with {} incidents",
                p.offset,
                incidents.len()
            );
        }
        Ok(Stream {
            settings,
            sink,
            tag,
            exclusions,
            wanted: Wanted {
                statuses: lumu.statuses.clone(),
                adversary_types: lumu.adversary_types.clone(),
                days: lumu.days,
            },
            budget: lumu.max_context_calls,
            lumu,
            http,
            client,
            store,
            reconcile_every: chrono::TimeDelta::milliseconds(
                (opts.reconcile_minutes * 60_000.0) as i64,
            ),
            wait: Duration::from_secs(opts.long_poll_seconds),
            incidents,
            position,
            early: false,
            must_sync: true,
            reconcile_retry: None,
            reconcile_backoff: Backoff::new(),
            refreshed: HashMap::new(),
            quota_until: None,
            resync_at: None,
            resync_backoff: Backoff::new(),
            last_sync: None,
            gauges: StreamMetrics {
                offset: position.map(|p| p.offset),
                ..StreamMetrics::default()
            },
            last_poll: None,
            metrics_written: None,
        })
    }

    /// Follows the journal until an error ends it (the caller stops it on a signal).
    async fn run(mut self) -> Result<ExitCode, Failure> {
        let mut backoff = Backoff::new();
        let mut pending: Option<Batch> = None;
        loop {
            if self.reconcile_due() {
                match self.reconcile().await {
                    Ok(()) => {
                        self.reconcile_backoff.reset();
                        self.reconcile_retry = None;
                    }
                    Err(Stop::Fatal(f)) => return Err(f),
                    Err(Stop::Retry(e)) => {
                        if self.position.is_none() {
                            // Nothing to follow without a first full sync.
                            pause(self.settings, "the first full sync", &e, &mut backoff).await;
                            continue;
                        }
                        let wait = self.reconcile_backoff.next(&e);
                        tracing::error!(
                            "the full sync failed: {}; following the stream, and trying it again in {}s",
                            self.settings.redact(&format!("{e:#}")),
                            wait.as_secs()
                        );
                        self.reconcile_retry = Some(Instant::now() + wait);
                    }
                }
            }
            if pending.is_none() && self.resync_at.is_some_and(|at| at <= Instant::now()) {
                let batch = Batch {
                    events: Vec::new(),
                    offset: self.position.map_or(0, |p| p.offset),
                };
                pending = Some(batch);
            }
            let batch = match pending.take() {
                Some(batch) => batch,
                None => match self.read_batch().await {
                    Ok(Some(batch)) => batch,
                    Ok(None) => {
                        backoff.reset();
                        continue;
                    }
                    Err(Stop::Fatal(f)) => return Err(f),
                    Err(Stop::Retry(e)) => {
                        self.invalid_offset(&e)?;
                        pause(
                            self.settings,
                            "reading Lumu's incident journal",
                            &e,
                            &mut backoff,
                        )
                        .await;
                        continue;
                    }
                },
            };
            match self.apply(&batch).await {
                Ok(()) => backoff.reset(),
                Err(Stop::Fatal(f)) => return Err(f),
                Err(Stop::Retry(e)) => {
                    pending = Some(batch);
                    pause(
                        self.settings,
                        "applying Lumu's incident events",
                        &e,
                        &mut backoff,
                    )
                    .await;
                }
            }
        }
    }

    /// Whether the full sync is due: before the first, every `--reconcile-minutes`, or early.
    fn reconcile_due(&self) -> bool {
        if self.reconcile_retry.is_some_and(|at| at > Instant::now()) {
            return false;
        }
        let Some(at) = self.position.and_then(|p| p.reconciled_at) else {
            return true;
        };
        let age = Utc::now() - at;
        age >= self.reconcile_every || (self.early && age >= EARLY_RECONCILE_AFTER)
    }

    /// A journal that refuses the stored offset (400): it is forgotten, and the watch starts
    /// over from the journal's end with a full sync. Other errors are left to the back-off.
    fn invalid_offset(&mut self, error: &anyhow::Error) -> Result<(), Failure> {
        let refused = error
            .downcast_ref::<LumuStatusError>()
            .is_some_and(|e| e.status == reqwest::StatusCode::BAD_REQUEST);
        let Some(position) = self.position.filter(|p| refused && p.offset > 0) else {
            return Ok(());
        };
        tracing::warn!(
            "Lumu's journal refuses offset {} (it may no longer hold it): following it from its \
             end after a full sync, which corrects whatever was missed",
            position.offset
        );
        self.store.forget_stream_position(self.tag)?;
        self.position = None;
        self.reconcile_retry = None;
        Ok(())
    }

    /// The journal's end, skipping its history: at the first start the full sync lists
    /// what is open now, so the events before it are not applied.
    async fn journal_end(&mut self) -> anyhow::Result<u64> {
        let mut offset = 0;
        for _ in 0..MAX_HISTORY_PAGES {
            let answer = self.client.updates(offset, MAX_ITEMS, BACKLOG_WAIT).await?;
            let read = answer.events.len();
            offset = answer.offset;
            if read == 0 {
                tracing::info!("Lumu's journal ends at offset {offset}: following it from there");
                return Ok(offset);
            }
        }
        Err(anyhow!(
            "Lumu's journal did not end after {MAX_HISTORY_PAGES} pages of history"
        ))
    }

    /// A full sync, the same as the sync job's run (under the lock the watch holds); its
    /// incidents replace the stored ones.
    async fn reconcile(&mut self) -> Result<(), Stop> {
        let offset = match self.position {
            Some(p) => p.offset,
            None => self.journal_end().await?,
        };
        let started = Instant::now();
        let source = Source::Lumu(self.lumu.clone(), self.http.clone());
        let mut counts = None;
        let mut listed = Vec::new();
        let mut journal = None;
        // The sync's deadline (--max-run-minutes) counts from its start.
        let settings = &self
            .settings
            .clone()
            .with_deadline(started + self.settings.max_run());
        let outcome = async {
            sync::healthcheck(self.sink).await?;
            journal = sync::begin_run(
                settings,
                self.sink,
                self.tag,
                started,
                RunKind::Sync,
                source.name(),
            )?;
            let mut pulled = sync::pull(self.sink, &source, started, &self.exclusions).await?;
            listed = std::mem::take(&mut pulled.lumu_incidents);
            sync::sync_pulled(
                settings,
                self.sink,
                self.tag,
                source.name(),
                pulled,
                self.exclusions.clone(),
                started,
                &mut counts,
                &mut journal,
            )
            .await
        }
        .await;
        let (outcome, stats) = sync::end_journal(settings, journal, outcome);
        let wrote = counts.is_some();
        self.last_sync = sync::run_metrics(self.settings, started, &outcome, counts, stats);
        if wrote {
            let now = Utc::now();
            state(self.store.commit_reconcile(self.tag, &listed, offset, now))?;
            self.incidents = listed.into_iter().map(|i| (i.id.clone(), i)).collect();
            self.position = Some(StreamPosition {
                offset,
                reconciled_at: Some(now),
            });
            self.gauges.offset = Some(offset);
            self.budget = self.lumu.max_context_calls;
            let incidents = &self.incidents;
            self.refreshed.retain(|id, _| incidents.contains_key(id));
            self.early = false;
            // The full sync made the list equal to the source: nothing left to retry.
            self.must_sync = false;
            self.resync_at = None;
            self.resync_backoff.reset();
        }
        self.write_metrics();
        match outcome {
            Ok(_) => Ok(()),
            // The brake, or some writes that failed: reported, and the list is as close to
            // the source as it gets; the next sync tries again.
            Err(f) if wrote => {
                tracing::error!("{}", self.settings.redact(&f.to_string()));
                Ok(())
            }
            Err(f) => Err(Stop::Retry(f.error)),
        }
    }

    /// Reads the next events: `None` when none came within the wait (after which the next
    /// call may go at once: the wait was spent, here or on the server).
    async fn read_batch(&mut self) -> Result<Option<Batch>, Stop> {
        let asked = self.position.map_or(0, |p| p.offset);
        let started = Instant::now();
        let mut offset = asked;
        let mut events = Vec::new();
        for page in 0..MAX_PAGES_PER_BATCH {
            let wait = if page == 0 { self.wait } else { BACKLOG_WAIT };
            let answer = self.client.updates(offset, MAX_ITEMS, wait).await;
            self.gauges.journal_calls = self.client.updates_calls();
            let answer = answer?;
            self.last_poll = Some(Utc::now());
            if answer.offset < offset {
                tracing::warn!(
                    "Lumu's journal answered offset {} to a call at offset {offset} (it was \
                     reset, or the offset was past its end): following it from there, with a \
                     full sync soon for what may have been missed",
                    answer.offset
                );
                self.early = true;
            }
            let full = answer.events.len() >= MAX_ITEMS;
            events.extend(answer.events);
            offset = answer.offset;
            if !full {
                break;
            }
        }
        if !events.is_empty() {
            return Ok(Some(Batch { events, offset }));
        }
        if offset != asked {
            // No event, but a new place to ask at.
            state(self.store.commit_stream_batch(
                self.tag,
                &IncidentChanges::new(),
                offset,
                Utc::now(),
            ))?;
            if let Some(p) = &mut self.position {
                p.offset = offset;
            }
            self.gauges.offset = Some(offset);
        }
        if self
            .metrics_written
            .is_none_or(|t| t.elapsed() >= IDLE_METRICS_EVERY)
        {
            self.write_metrics();
        }
        // A journal that answers at once with nothing (no long poll, or a shorter one) is
        // asked again only when the wait has passed: never a busy loop.
        let spent = started.elapsed();
        if spent < self.wait {
            tokio::time::sleep(self.wait - spent).await;
        }
        Ok(None)
    }

    /// Applies a batch: the wanted incidents after its events, their due contexts, and a
    /// sync of the destination with their IOCs; then commits the incidents and the offset.
    /// A batch without events syncs again after failed writes.
    async fn apply(&mut self, batch: &Batch) -> Result<(), Stop> {
        let started = Instant::now();
        let now = Utc::now();
        let folded = stream::fold(&batch.events, &self.incidents, &self.wanted, now);
        for unusable in &folded.unusable {
            tracing::warn!("Lumu event {unusable}; the next full sync covers it");
        }
        if !folded.unusable.is_empty() {
            self.early = true;
        }
        let resync = batch.events.is_empty();
        let mut incidents = self.incidents.clone();
        if folded.changed() || resync {
            for (id, change) in &folded.changes {
                match change {
                    Some(incident) => incidents.insert(id.clone(), incident.clone()),
                    None => incidents.remove(id),
                };
            }
            let (pulled, differs) = self.pulled(&incidents, &folded.touched, now).await?;
            if differs || resync || self.must_sync {
                self.sync(pulled, started).await?;
            } else {
                tracing::debug!("the batch changes no IOC: nothing to write");
            }
        }
        // The batch's writes are done: its incidents and the offset after it are committed.
        let done = Utc::now();
        state(
            self.store
                .commit_stream_batch(self.tag, &folded.changes, batch.offset, done),
        )?;
        self.incidents = incidents;
        if let Some(p) = &mut self.position {
            p.offset = batch.offset;
        }
        self.count(&folded, batch.offset, done);
        self.write_metrics();
        Ok(())
    }

    /// Syncs the destination with `pulled` (the IOCs of the wanted incidents), through the
    /// sync job's path. An error means nothing was written; failed writes are tried again
    /// after a back-off.
    async fn sync(
        &mut self,
        pulled: crate::model::desired::Pulled,
        started: Instant,
    ) -> Result<(), Stop> {
        let mut counts = None;
        let settings = &self
            .settings
            .clone()
            .with_deadline(started + self.settings.max_run());
        let mut journal = sync::begin_run(
            settings,
            self.sink,
            self.tag,
            started,
            RunKind::Sync,
            STREAM_SOURCE,
        )
        // The journal lives in the watch's state file: one that cannot be written ends the
        // watch, as its offset's would.
        .map_err(Stop::Fatal)?;
        let outcome = sync::sync_pulled(
            settings,
            self.sink,
            self.tag,
            STREAM_SOURCE,
            pulled,
            self.exclusions.clone(),
            started,
            &mut counts,
            &mut journal,
        )
        .await;
        let (outcome, _) = sync::end_journal(settings, journal, outcome);
        if counts.is_none() {
            // Nothing was written (the destination could not be listed): the same
            // batch is applied again after a back-off, and nothing is committed.
            let f = outcome.expect_err("a sync without a report failed");
            return Err(Stop::Retry(f.error));
        }
        match &outcome {
            Err(f) if f.code == ExitCode::PartialWrites => {
                let wait = self.resync_backoff.next(&f.error);
                tracing::error!(
                    "{}; synced again in {}s",
                    self.settings.redact(&f.to_string()),
                    wait.as_secs()
                );
                self.resync_at = Some(Instant::now() + wait);
            }
            Err(f) => {
                tracing::error!("{}", self.settings.redact(&f.to_string()));
                self.resync_at = None;
            }
            Ok(_) => {
                self.resync_at = None;
                self.resync_backoff.reset();
            }
        }
        self.must_sync = false;
        Ok(())
    }

    /// Counts a committed batch in the gauges, and logs what it changed.
    fn count(&mut self, folded: &stream::Folded, offset: u64, done: DateTime<Utc>) {
        let g = &mut self.gauges;
        g.offset = Some(offset);
        g.applied += folded.applied as u64;
        g.skipped += folded.skipped.values().sum::<usize>() as u64;
        g.unusable += folded.unusable.len() as u64;
        g.context_calls = self.client.calls().context;
        if folded.changed() {
            g.last_event = Some(done);
            g.lag = folded
                .earliest
                .map(|e| (done - e).to_std().unwrap_or_default());
            let lag = g
                .lag
                .map(|l| format!("; {:.1}s after the earliest event", l.as_secs_f64()))
                .unwrap_or_default();
            let wanted = folded.changes.values().filter(|c| c.is_some()).count();
            tracing::info!(
                "Lumu events applied up to offset {offset}: {} (incidents wanted: {wanted} new or changed, {} let go{lag})",
                folded.applied,
                folded.changes.len() - wanted,
            );
        }
    }

    /// The IOCs of `incidents` after reading the due contexts of those `touched` (new ones,
    /// and changed ones not read by the stream for [`CONTEXT_REFRESH`], within the budget
    /// and while the quota lasts), and whether they differ from those of the incidents
    /// before the batch (an update that brings no new IOC needs no write, nor a listing).
    async fn pulled(
        &mut self,
        incidents: &HashMap<String, Incident>,
        touched: &std::collections::HashSet<String>,
        now: DateTime<Utc>,
    ) -> Result<(crate::model::desired::Pulled, bool), Stop> {
        let cached = state(self.store.lumu_contexts(self.tag))?;
        let before = assemble(
            self.incidents
                .values()
                .map(|i| (i, cached.get(&i.id).map(|c| &c.context))),
            self.lumu.scan_action,
            now,
        );
        let mut due: Vec<&Incident> = touched
            .iter()
            .filter_map(|id| incidents.get(id))
            .filter(|i| match cached.get(&i.id) {
                None => true,
                Some(c) => {
                    !i.unchanged_since(c)
                        && self
                            .refreshed
                            .get(&i.id)
                            .is_none_or(|t| t.elapsed() >= CONTEXT_REFRESH)
                }
            })
            .collect();
        // New incidents first: they have no context at all.
        due.sort_by_key(|i| cached.contains_key(&i.id));
        let quota_spent = self.quota_until.is_some_and(|t| t > Instant::now());
        let budget = if quota_spent {
            0
        } else {
            self.budget.min(due.len())
        };
        if budget < due.len() {
            tracing::info!(
                "{} Lumu incident contexts are due and {budget} are read now ({}); the rest with the next full sync",
                due.len(),
                if quota_spent {
                    "Lumu's quota is spent"
                } else {
                    "--max-context-calls until the next full sync"
                }
            );
        }
        let mut report = LumuReport {
            incidents: incidents.len(),
            contexts_deferred: due.len() - budget,
            ..LumuReport::default()
        };
        let calls_before = self.client.calls().context;
        let client = &self.client;
        let mut reads = futures::stream::iter(due[..budget].iter().copied())
            .map(|incident| async move { (incident, client.context(&incident.id).await) })
            .buffer_unordered(CONTEXT_CONCURRENCY);
        let mut fresh = HashMap::new();
        while let Some((incident, read)) = reads.next().await {
            match read {
                Ok(context) => {
                    let entry = CachedContext {
                        last_contact: incident.last_contact.clone(),
                        contacts: incident.contacts(),
                        context,
                    };
                    state(self.store.store_lumu_context(
                        self.tag,
                        &incident.id,
                        &entry,
                        Utc::now(),
                    ))?;
                    self.refreshed.insert(incident.id.clone(), Instant::now());
                    fresh.insert(incident.id.clone(), entry);
                    report.contexts_read += 1;
                }
                Err(e) => {
                    if let Some(spent) = e.downcast_ref::<RateLimitSpent>() {
                        let wait = spent.wait.min(MAX_QUOTA_WAIT);
                        self.quota_until = Some(Instant::now() + wait);
                        report.stopped = Some("quota");
                    }
                    report.contexts_failed += 1;
                    tracing::warn!("{e:#}; read again later");
                }
            }
        }
        drop(reads);
        self.budget -= report.contexts_read + report.contexts_failed;
        report.calls = LumuCalls {
            incidents: 0,
            context: self.client.calls().context - calls_before,
        };
        let mut contexts = cached;
        contexts.extend(fresh);
        report.contexts_cached = incidents
            .keys()
            .filter(|id| contexts.contains_key(*id))
            .count()
            .saturating_sub(report.contexts_read);
        report.contexts_missing = incidents
            .keys()
            .filter(|id| !contexts.contains_key(*id))
            .count();
        let mut pulled = assemble(
            incidents
                .values()
                .map(|i| (i, contexts.get(&i.id).map(|c| &c.context))),
            self.lumu.scan_action,
            now,
        );
        pulled.lumu = Some(report);
        let differs = desired(&before) != desired(&pulled);
        Ok((pulled, differs))
    }

    /// Writes the metrics file (`--metrics-file`); a failure is logged, and does not stop
    /// the watch.
    fn write_metrics(&mut self) {
        let Some(path) = &self.settings.opts.metrics.metrics_file else {
            return;
        };
        let watch = WatchMetrics {
            last_poll: self.last_poll,
            stream: Some(self.gauges.clone()),
        };
        let written = match &self.last_sync {
            Some(run) => crate::metrics::write_watch(path, run, &watch),
            // Resumed, no full sync yet: the last one's families stay as an earlier process
            // wrote them.
            None => {
                let job = JobLabels {
                    tag: self.tag.to_owned(),
                    source: SourceKind::Lumu.name(),
                    sink: self.settings.sink().name(),
                };
                crate::metrics::write_watch_carried(path, &job, &watch)
            }
        };
        if let Err(e) = written {
            tracing::error!("{e}");
        }
        self.metrics_written = Some(Instant::now());
    }
}

/// What a sync of `pulled` would make the destination hold: its IOCs with their scan
/// actions, and whether removals are held back.
fn desired(pulled: &crate::model::desired::Pulled) -> (Vec<(&crate::ioc::Ioc, ScanAction)>, bool) {
    let iocs = pulled
        .iocs
        .iter()
        .map(|d| (&d.ioc, d.scan_action))
        .collect();
    (iocs, pulled.partial.is_some())
}

/// A watch of a source other than Lumu: the sync job's run every `--poll-seconds` (its
/// state, the TAXII cursors, makes each run read only what is new).
async fn poll<S: Sink>(
    settings: &Settings,
    opts: &WatchOpts,
    sink: &S,
    tag: &str,
    exclusions: Arc<Exclusions>,
) -> Result<ExitCode, Failure> {
    let every = Duration::from_secs(opts.poll_seconds);
    let mut backoff = Backoff::new();
    let mut watch = WatchMetrics::default();
    loop {
        let started = Instant::now();
        let source = sync::job_source(settings, tag)?;
        let mut counts = None;
        let mut journal = None;
        // Each poll is a run of the sync job, with its own deadline.
        let run_settings = &settings.clone().with_deadline(started + settings.max_run());
        let outcome = sync::run_locked(
            run_settings,
            sink,
            tag,
            source,
            exclusions.clone(),
            started,
            &mut counts,
            &mut journal,
        )
        .await;
        let (outcome, stats) = sync::end_journal(run_settings, journal, outcome);
        let wrote = counts.is_some();
        if wrote {
            watch.last_poll = Some(Utc::now());
        }
        let run = sync::run_metrics(settings, started, &outcome, counts, stats);
        if let (Some(path), Some(run)) = (&settings.opts.metrics.metrics_file, &run)
            && let Err(e) = crate::metrics::write_watch(path, run, &watch)
        {
            tracing::error!("{e}");
        }
        let wait = match outcome {
            Ok(_) => {
                backoff.reset();
                every
            }
            Err(f) => {
                let message = settings.redact(&f.to_string());
                if wrote {
                    // The brake or failed writes: the next poll tries again.
                    tracing::error!("{message}");
                    every
                } else {
                    let wait = backoff.next(&f.error).min(every);
                    tracing::error!(
                        "the sync failed: {message}; trying again in {}s",
                        wait.as_secs()
                    );
                    wait
                }
            }
        };
        tokio::time::sleep(wait.saturating_sub(started.elapsed().min(wait))).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_grows_to_its_cap_and_waits_out_a_spent_quota() {
        let mut b = Backoff::new();
        let other = anyhow!("Apex Central answered HTTP 503");
        let first = b.next(&other);
        assert!(
            first >= FIRST_BACKOFF / 2 && first <= FIRST_BACKOFF,
            "{first:?}"
        );
        for _ in 0..20 {
            assert!(b.next(&other) <= MAX_BACKOFF);
        }
        assert!(b.next(&other) >= MAX_BACKOFF / 2);
        b.reset();
        assert!(b.next(&other) <= FIRST_BACKOFF);
        // A spent quota: as long as Lumu asks, up to an hour.
        let spent = |secs| {
            anyhow::Error::new(RateLimitSpent {
                server: "Lumu Defender".into(),
                name: "GET /api/incidents/open-incidents/updates".into(),
                status: 429,
                wait: Duration::from_secs(secs),
                max_wait: MAX_QUOTA_WAIT,
                waits: 1,
            })
        };
        b.reset();
        assert_eq!(b.next(&spent(1_800)), Duration::from_secs(1_800));
        assert_eq!(b.next(&spent(6 * 3_600)), MAX_QUOTA_WAIT);
    }
}
