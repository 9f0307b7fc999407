//! `--metrics-file`: what a sync run did, in the Prometheus text exposition format (version
//! 0.0.4), for node_exporter's textfile collector (`--collector.textfile.directory`) or
//! windows_exporter's (`--collector.textfile.directories`). Both read every `*.prom` file of
//! their folder on each scrape with the Go text parser of `prometheus/common` (`expfmt`).
//!
//! The file is rewritten whole at the end of every run of the sync command (failed runs,
//! dry runs and `--clean` runs included), atomically: written to a temporary file in the
//! same folder (a name that does not end in `.prom`, so no collector reads it), flushed,
//! then renamed over the target. `std::fs::rename` replaces an existing file on Unix
//! (`rename(2)`) and on Windows (`MoveFileExW` with `MOVEFILE_REPLACE_EXISTING`, then
//! `FileRenameInfoEx` with POSIX semantics when that is refused: the standard library's
//! `sys/fs/windows.rs`), so a reader sees the old file or the new one, never a part.
//!
//! Every value is a gauge (a run's counts go down as well as up; nothing here is a
//! counter, so no name ends in `_total`), and every series carries the job's `tag`, its
//! `source` and its destination (`sink`). The encoder is `prometheus-client`'s
//! (`encoding::prometheus_text`), fed by one [`Collector`] that writes the families in a
//! fixed order, so that two runs' files compare line by line.
//!
//! The time of the last successful run survives runs that fail: it is carried from the
//! previous file (the series of the same job, labels and all), since the file is the one
//! place this is kept for every source (a file or OpenIOC job has no state file).

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, prometheus_text};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::{Registry, Unit};

use crate::ioc::IocKind;
use crate::model::lumu::LumuReport;
use crate::state::JobCursors;
use crate::sync::clean::CleanReport;
use crate::sync::run::{ListedCounts, PlanCounts, RunReport};

/// The prefix of every metric name.
pub const PREFIX: &str = "apex_ioc_sync";

/// The most read of a previous metrics file (one is a few KiB).
const MAX_PREVIOUS_BYTES: u64 = 1 << 20;

/// The job a metrics file describes: the labels of every series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobLabels {
    /// The ownership tag.
    pub tag: String,
    /// The source's name (`lumu`, `taxii`, `file`, `openioc`).
    pub source: &'static str,
    /// The destination's name (`apex`).
    pub sink: &'static str,
}

/// One run, as the metrics file tells it.
#[derive(Debug, Clone)]
pub struct RunMetrics {
    /// Whose run: the labels of every series.
    pub job: JobLabels,
    /// When the run ended.
    pub ended: DateTime<Utc>,
    /// From the run's start (before the source was read) to its end.
    pub duration: Duration,
    /// The process's exit code (see `exit.rs`).
    pub exit_code: u8,
    /// `--dry-run`: nothing was written.
    pub dry_run: bool,
    /// `--clean`: the run removed what the tag owns and read no source.
    pub clean: bool,
    /// The run's counts, when it got as far as a report; `None` when it failed before (a
    /// usage error, the access check, the source, a listing).
    pub counts: Option<Counts>,
    /// A TAXII job's newest cursor (the server's `date_added` of the last stored page of any
    /// of its feeds; for a feed whose cursor is held back from a server date in the future,
    /// the last cursor before that) and how many of its feeds are held back, when it has a
    /// cursor.
    pub taxii_cursor: Option<JobCursors>,
    /// The rows the job's journal holds after the run, when the run was journalled.
    pub journal: Option<crate::state::journal::JournalStats>,
}

/// What a run counted, in terms of no particular destination: the part of a run's report
/// (sync or `--clean`) the metrics show.
#[derive(Debug, Clone, Default)]
pub struct Counts {
    /// Items the source read (incidents, indicators, files); `None` for `--clean`.
    pub source_items: Option<usize>,
    /// Desired IOCs of the chosen types the destination holds, after exclusions, by type.
    pub desired: BTreeMap<IocKind, usize>,
    /// The plan; for `--clean`, only `remove` (every owned entry).
    pub plan: Option<PlanCounts>,
    /// What applying the plan did.
    pub writes: WriteCounts,
    /// The destination's entries by type, as listed before the run's writes.
    pub listed: BTreeMap<IocKind, ListedCounts>,
    /// IOCs not pushed, by reason: the source's (`ipv6`, `invalid-host`, `low-confidence`...),
    /// `not-selected`, `unsupported-by-destination`, the plan's (`foreign`, `capacity`).
    pub skipped: BTreeMap<String, usize>,
    /// Owned entries left alone, by reason (`unreadable`, `shared`).
    pub untouched: BTreeMap<String, usize>,
    /// IOCs the exclusion policy held back, by list.
    pub excluded: Vec<(String, usize)>,
    /// A Lumu job's context reads and calls.
    pub lumu: Option<LumuReport>,
    /// When the removal brake engaged: the removals it held back.
    pub brake: Option<usize>,
    /// When the add brake engaged: the adds it held back (the whole plan was).
    pub add_brake: Option<usize>,
    /// The source could not read everything, so nothing was removed.
    pub removals_withheld: bool,
    /// Problems the source went on past (a TAXII server that stalled).
    pub warnings: usize,
}

/// Writes made and failed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteCounts {
    /// Adds and updates done.
    pub put: usize,
    /// Adds and updates that failed after their retries.
    pub put_failed: usize,
    /// Removals done.
    pub deleted: usize,
    /// Deletes of entries that were gone already: done all the same.
    pub already_gone: usize,
    /// Removals dropped: the entry no longer carried the tag right before them.
    pub no_longer_ours: usize,
    /// Removals that failed after their retries, or whose type could not be listed again.
    pub delete_failed: usize,
}

impl WriteCounts {
    fn of(applied: &crate::sync::apply::Applied) -> Self {
        let put_failed = applied.failed.iter().filter(|f| f.action == "put").count();
        WriteCounts {
            put: applied.put,
            put_failed,
            deleted: applied.deleted,
            already_gone: applied.already_gone,
            no_longer_ours: applied.no_longer_ours,
            delete_failed: applied.failed.len() - put_failed,
        }
    }
}

impl From<&RunReport> for Counts {
    fn from(r: &RunReport) -> Self {
        let mut skipped: BTreeMap<String, usize> = r
            .invalid
            .iter()
            .map(|(reason, n)| ((*reason).to_owned(), *n))
            .collect();
        for (reason, by_kind) in [
            ("not-selected", &r.not_selected),
            ("unsupported-by-destination", &r.unsupported_by_destination),
        ] {
            let n: usize = by_kind.values().sum();
            if n > 0 {
                *skipped.entry(reason.to_owned()).or_default() += n;
            }
        }
        for (reason, n) in &r.skipped {
            *skipped.entry((*reason).to_owned()).or_default() += n;
        }
        // Every planned type, with 0 where the source gave none: a type the job pushes
        // and that is empty is a fact, not a gap.
        let mut desired: BTreeMap<IocKind, usize> = r.listed.keys().map(|&k| (k, 0)).collect();
        desired.extend(r.iocs.iter().map(|(&k, &n)| (k, n)));
        Counts {
            source_items: Some(r.items),
            desired,
            plan: Some(r.plan.clone()),
            writes: WriteCounts::of(&r.applied),
            listed: r.listed.clone(),
            skipped,
            untouched: r
                .untouched
                .iter()
                .map(|(reason, n)| ((*reason).to_owned(), *n))
                .collect(),
            excluded: r.excluded.0.clone(),
            lumu: r.lumu.clone(),
            brake: r
                .brake
                .as_ref()
                .map(|b| b.would_remove)
                .or(r.window_brake.as_ref().map(|b| b.would_remove)),
            add_brake: r.add_brake.as_ref().map(|b| b.would_add),
            removals_withheld: r.removals_withheld.is_some(),
            warnings: r.warnings.len(),
        }
    }
}

impl From<&CleanReport> for Counts {
    fn from(r: &CleanReport) -> Self {
        Counts {
            plan: Some(PlanCounts {
                remove: r.owned.values().sum(),
                ..PlanCounts::default()
            }),
            writes: WriteCounts::of(&r.applied),
            listed: r.listed.clone(),
            ..Counts::default()
        }
    }
}

/// A metrics file that could not be written.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot write the metrics file {}: {source} (check that its folder exists and that this account may create files in it, or change --metrics-file)",
    path.display()
)]
pub struct WriteError {
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

/// What a running `watch` adds to its metrics file, beside the families of its last full
/// sync (a run, as the sync job writes it).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WatchMetrics {
    /// When the source last answered: Lumu's journal, or a polled source's last full read.
    pub last_poll: Option<DateTime<Utc>>,
    /// What the Lumu stream did since the watch started (`None` for a polled source).
    pub stream: Option<StreamMetrics>,
}

/// What `watch`'s Lumu stream did since the watch started.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamMetrics {
    /// When the last event that changed the job's incidents was applied to the list.
    pub last_event: Option<DateTime<Utc>>,
    /// The last applied batch's lag: from the earliest of its events, by the incident's own
    /// times, to the end of its writes.
    pub lag: Option<Duration>,
    /// Events applied (they changed the job's incidents).
    pub applied: u64,
    /// Events skipped: they change no IOC of the job.
    pub skipped: u64,
    /// Events that could not be applied, left for the next full sync.
    pub unusable: u64,
    /// Requests to Lumu's journal (retries included).
    pub journal_calls: u64,
    /// Context reads of the stream (its full syncs' are in `lumu_calls`).
    pub context_calls: u64,
    /// The journal offset committed last.
    pub offset: Option<u64>,
}

/// Writes `run`'s metrics to `path`, replacing the file atomically. The last success time is
/// `run`'s end when it exited 0 and was not a dry run, else the previous file's (0 when
/// there is none on record: no file, or none for this job's labels; a previous file that
/// cannot be read is warned about and counts as none).
pub fn write(path: &Path, run: &RunMetrics) -> Result<(), WriteError> {
    write_with(path, run, Vec::new())
}

/// [`write`], with the gauges of a running `watch` after the families of its last full sync.
pub fn write_watch(path: &Path, run: &RunMetrics, watch: &WatchMetrics) -> Result<(), WriteError> {
    write_with(path, run, watch_families(watch))
}

/// [`write_watch`] for a watch that has made no full sync yet (it resumed where an earlier
/// process stopped): the families of the job's last full sync are carried from the previous
/// file (when it is this job's), and the watch's gauges replaced.
pub fn write_watch_carried(
    path: &Path,
    job: &JobLabels,
    watch: &WatchMetrics,
) -> Result<(), WriteError> {
    let error = |source| WriteError {
        path: path.to_owned(),
        source,
    };
    crate::files::refuse_symlink(path).map_err(error)?;
    let previous = match crate::files::read_text_capped(path, MAX_PREVIOUS_BYTES) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
        Err(e) => {
            tracing::warn!(
                "cannot read the previous metrics file {}: {e}; it is written with the watch's gauges only",
                path.display()
            );
            String::new()
        }
    };
    let key = series_of(encode(job, vec![last_success_family(0.0)]));
    let ours = previous.lines().any(|l| l.starts_with(&format!("{key} ")));
    let watch_prefix = format!("{PREFIX}_watch_");
    let mut text = String::new();
    if ours {
        for line in previous.lines() {
            let name = line
                .strip_prefix("# HELP ")
                .or_else(|| line.strip_prefix("# TYPE "))
                .unwrap_or(line);
            if !name.starts_with(&watch_prefix) {
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    text.push_str(&encode(job, watch_families(watch)));
    write_atomically(path, &text).map_err(error)
}

fn write_with(path: &Path, run: &RunMetrics, extra: Vec<Family>) -> Result<(), WriteError> {
    let error = |source| WriteError {
        path: path.to_owned(),
        source,
    };
    // A link planted at the path is refused, not read, not replaced.
    crate::files::refuse_symlink(path).map_err(error)?;
    let last_success = if run.exit_code == 0 && !run.dry_run {
        timestamp(run.ended)
    } else {
        match previous_success(path, &run.job) {
            Ok(at) => at.unwrap_or(0.0),
            Err(e) => {
                tracing::warn!(
                    "cannot read the last success time from the previous metrics file {}: {e}; it is written as 0 (none on record)",
                    path.display()
                );
                0.0
            }
        }
    };
    let mut all = families(run, last_success);
    all.extend(extra);
    write_atomically(path, &encode(&run.job, all)).map_err(error)
}

/// The file's text: every family of `run`, with `last_success` (seconds since the epoch).
pub fn render(run: &RunMetrics, last_success: f64) -> String {
    encode(&run.job, families(run, last_success))
}

/// Seconds since the Unix epoch, with the fraction.
fn timestamp(at: DateTime<Utc>) -> f64 {
    at.timestamp_micros() as f64 / 1e6
}

/// The last success time the file at `path` holds for `job`: `None` when there is no file
/// or no such series in it.
fn previous_success(path: &Path, job: &JobLabels) -> io::Result<Option<f64>> {
    let text = match crate::files::read_text_capped(path, MAX_PREVIOUS_BYTES) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    // The series as this encoder writes it, labels and all: a file of another job (another
    // tag, source or destination) holds no success of this one.
    let key = series_of(encode(job, vec![last_success_family(0.0)]));
    for line in text.lines() {
        if let Some((series, value)) = line.rsplit_once(' ')
            && series == key
        {
            let value: f64 = value.parse().map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("`{line}` does not end in a number"),
                )
            })?;
            return Ok(Some(value));
        }
    }
    Ok(None)
}

/// The series (name and labels) of the one sample in `text`.
fn series_of(text: String) -> String {
    text.lines()
        .find(|l| !l.starts_with('#'))
        .and_then(|l| l.rsplit_once(' '))
        .map(|(series, _)| series.to_owned())
        .unwrap_or_default()
}

/// How old a temporary file of this metrics file must be to count as left by a run that was
/// killed while writing it (a write takes milliseconds).
const STALE_TEMPORARY: Duration = Duration::from_secs(60);

/// Writes `text` to a new temporary file beside `path` (0600, an unpredictable name: see
/// [`crate::files::temporary_beside`]), flushes it to disk, makes it readable by all (0644
/// on Unix, whatever the umask: the exporter reading it usually runs as another user, and
/// it holds counts, no secret), renames it over `path` and flushes the folder; on failure
/// the temporary file is removed. Temporaries of `path` older than a minute, left by a run
/// that was killed while writing, are removed first.
fn write_atomically(path: &Path, text: &str) -> io::Result<()> {
    crate::files::sweep_temporaries(path, STALE_TEMPORARY);
    let mut temporary = crate::files::temporary_beside(path)?;
    temporary.write_all(text.as_bytes())?;
    temporary.as_file().sync_all()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        temporary
            .as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    // Closed before the rename; removed when dropped unless the rename took it.
    // `TempPath::persist` and not a plain rename: on Windows it first clears the
    // temporary-file attribute `tempfile` created it with, which after a rename would be
    // cleared on a path that is gone.
    let mut temporary = temporary.into_temp_path();
    let mut tries = 0;
    loop {
        match temporary.persist(path) {
            Ok(()) => break,
            // On Windows a reader that opened the target without delete sharing (an
            // exporter in the middle of a scrape) makes the replace fail for that moment, so
            // the rename is tried again for up to a second.
            Err(e) if cfg!(windows) && tries < 10 && is_sharing_conflict(&e.error) => {
                tries += 1;
                temporary = e.path;
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => return Err(e.error),
        }
    }
    crate::files::sync_dir(crate::files::folder_of(path))
}

/// Access denied (5) or a sharing violation (32): what Windows answers while another
/// process holds the file open.
fn is_sharing_conflict(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::PermissionDenied || e.raw_os_error() == Some(32)
}

/// Encodes `families` with `job`'s labels on every series.
fn encode(job: &JobLabels, families: Vec<Family>) -> String {
    let labels = [
        ("tag", job.tag.clone()),
        ("source", job.source.to_owned()),
        ("sink", job.sink.to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (Cow::Borrowed(k), Cow::Owned(v)));
    let mut registry = Registry::with_prefix_and_labels(PREFIX, labels);
    registry.register_collector(Box::new(Families(families)));
    let mut text = String::new();
    prometheus_text::encode(&mut text, &registry).expect("writing to a String does not fail");
    text
}

/// A sample's own labels (beside the job's).
type Labels = Vec<(&'static str, String)>;

/// A sample's value: a count, or a time or ratio.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Value {
    Count(u64),
    Real(f64),
}

impl From<usize> for Value {
    fn from(n: usize) -> Self {
        Value::Count(n as u64)
    }
}

impl From<u64> for Value {
    fn from(n: u64) -> Self {
        Value::Count(n)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Count(u64::from(b))
    }
}

/// One gauge family: its name (without the prefix and the unit), help, unit and samples.
/// A family without samples is left out of the file.
#[derive(Debug)]
struct Family {
    name: &'static str,
    help: &'static str,
    unit: Option<Unit>,
    samples: Vec<(Labels, Value)>,
}

impl Family {
    fn new(name: &'static str, unit: Option<Unit>, help: &'static str) -> Self {
        Family {
            name,
            help,
            unit,
            samples: Vec::new(),
        }
    }

    /// One sample without labels of its own.
    fn with(mut self, value: impl Into<Value>) -> Self {
        self.samples.push((Vec::new(), value.into()));
        self
    }

    fn sample(&mut self, labels: Labels, value: impl Into<Value>) {
        self.samples.push((labels, value.into()));
    }

    /// A sample for each `(label value, value)` under the label `label`.
    fn by<'a, K: fmt::Display + 'a, V: Into<Value> + Copy + 'a>(
        mut self,
        label: &'static str,
        values: impl IntoIterator<Item = (K, &'a V)>,
    ) -> Self {
        for (key, value) in values {
            self.sample(vec![(label, key.to_string())], *value);
        }
        self
    }
}

/// The families, in the order they are written.
#[derive(Debug)]
struct Families(Vec<Family>);

impl Collector for Families {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        for family in self.0.iter().filter(|f| !f.samples.is_empty()) {
            let mut metric = encoder.encode_descriptor(
                family.name,
                family.help,
                family.unit.as_ref(),
                MetricType::Gauge,
            )?;
            for (labels, value) in &family.samples {
                let sample = metric.encode_family(labels)?;
                match *value {
                    Value::Count(n) => ConstGauge::new(n).encode(sample)?,
                    Value::Real(x) => ConstGauge::new(x).encode(sample)?,
                }
            }
        }
        Ok(())
    }
}

fn seconds() -> Option<Unit> {
    Some(Unit::Seconds)
}

fn last_success_family(at: f64) -> Family {
    Family::new(
        "last_success_timestamp",
        seconds(),
        "When a run of this job last ended with exit code 0 (dry runs aside), in seconds since the Unix epoch; 0 when none is on record (the value is carried from the previous file).",
    )
    .with(Value::Real(at))
}

/// Every family of `run`; those of its counts only when it got as far as a report.
fn families(run: &RunMetrics, last_success: f64) -> Vec<Family> {
    let mut families = vec![
        Family::new(
            "last_run_timestamp",
            seconds(),
            "When the last run ended, in seconds since the Unix epoch.",
        )
        .with(Value::Real(timestamp(run.ended))),
        Family::new(
            "last_run_exit_code",
            None,
            "The last run's exit code: 0 done, 1 failed, 2 usage or configuration error, 4 some writes failed, 5 a brake engaged (removal or add), 6 deadline reached with writes left.",
        )
        .with(Value::Count(u64::from(run.exit_code))),
        last_success_family(last_success),
        Family::new(
            "last_run_duration",
            seconds(),
            "How long the last run took, from its start to its end.",
        )
        .with(Value::Real(run.duration.as_secs_f64())),
        Family::new(
            "last_run_dry_run",
            None,
            "1 when the last run was a dry run (--dry-run: nothing written), else 0.",
        )
        .with(run.dry_run),
        Family::new(
            "last_run_clean",
            None,
            "1 when the last run was a --clean run (every owned entry removed, no source read), else 0.",
        )
        .with(run.clean),
    ];
    if let Some(cursors) = run.taxii_cursor {
        let age = (run.ended - cursors.newest).num_milliseconds().max(0) as f64 / 1e3;
        families.push(
            Family::new(
                "taxii_cursor_age",
                seconds(),
                "Age of the newest TAXII cursor of the job's feeds (the server's date_added of the last indicator stored; for a feed held back from a server date in the future, the last cursor before it) at the end of the last run.",
            )
            .with(Value::Real(age)),
        );
        families.push(
            Family::new(
                "taxii_cursors_clamped",
                None,
                "The job's TAXII feeds whose cursor is held back because their server's X-TAXII-Date-Added-Last lay more than 5 minutes in the future (its clock runs ahead, or the date is wrong).",
            )
            .with(cursors.clamped),
        );
    }
    if let Some(journal) = &run.journal {
        families.push(
            Family::new(
                "journal_rows",
                None,
                "Rows the job's journal holds after the last run, by table: runs, and the writes they sent.",
            )
            .by("table", [("runs", &journal.runs), ("writes", &journal.writes)]),
        );
        if let Some(oldest) = journal.oldest {
            let age = (run.ended - oldest).num_milliseconds().max(0) as f64 / 1e3;
            families.push(
                Family::new(
                    "journal_age",
                    seconds(),
                    "Age of the oldest run the job's journal holds, at the end of the last run (runs older than --journal-days are pruned).",
                )
                .with(Value::Real(age)),
            );
        }
    }
    if let Some(counts) = &run.counts {
        families.extend(count_families(counts));
    }
    families
}

/// The gauges of a running `watch`.
fn watch_families(w: &WatchMetrics) -> Vec<Family> {
    let at = |t: Option<DateTime<Utc>>| Value::Real(t.map_or(0.0, timestamp));
    let mut families = vec![
        Family::new(
            "watch_last_poll_timestamp",
            seconds(),
            "When the source last answered watch (Lumu's incident journal, or a polled source's full read), in seconds since the Unix epoch; 0 before the first answer.",
        )
        .with(at(w.last_poll)),
    ];
    let Some(s) = &w.stream else {
        return families;
    };
    families.push(
        Family::new(
            "watch_last_event_timestamp",
            seconds(),
            "When watch last applied an event that changed the job's incidents, in seconds since the Unix epoch; 0 when none has since it started.",
        )
        .with(at(s.last_event)),
    );
    if let Some(lag) = s.lag {
        families.push(
            Family::new(
                "watch_lag",
                seconds(),
                "The last applied batch of events: from the earliest of its events, by the incident's own times, to the end of its writes.",
            )
            .with(Value::Real(lag.as_secs_f64())),
        );
    }
    families.push(
        Family::new(
            "watch_events",
            None,
            "Events of Lumu's incident journal since watch started, by result: applied (they changed the job's incidents), skipped (they change no IOC of the job), unusable (left for the next full sync).",
        )
        .by(
            "result",
            [
                ("applied", &(s.applied as usize)),
                ("skipped", &(s.skipped as usize)),
                ("unusable", &(s.unusable as usize)),
            ],
        ),
    );
    families.push(
        Family::new(
            "watch_lumu_calls",
            None,
            "Requests watch's stream sent to Lumu since it started, retries included, by endpoint (its full syncs' are in lumu_calls).",
        )
        .by(
            "endpoint",
            [
                ("updates", &(s.journal_calls as usize)),
                ("context", &(s.context_calls as usize)),
            ],
        ),
    );
    if let Some(offset) = s.offset {
        families.push(
            Family::new(
                "watch_journal_offset",
                None,
                "The offset of Lumu's incident journal watch committed last (every event before it is applied).",
            )
            .with(Value::Count(offset)),
        );
    }
    families
}

fn count_families(c: &Counts) -> Vec<Family> {
    let mut families = Vec::new();
    if let Some(items) = c.source_items {
        families.push(
            Family::new(
                "source_items",
                None,
                "Items the source read in the last run (incidents, indicators, files).",
            )
            .with(items),
        );
    }
    families.push(
        Family::new(
            "desired_iocs",
            None,
            "IOCs the source wants on the list, of the chosen types the destination holds, after exclusions, by type.",
        )
        .by("type", &c.desired),
    );
    families.push(
        Family::new(
            "skipped_iocs",
            None,
            "IOCs the last run did not push, by reason: the source's (invalid values such as ipv6 or invalid-host, low-confidence...), not-selected, unsupported-by-destination, foreign (an entry without this tag holds it), capacity (the list is full).",
        )
        .by("reason", &c.skipped),
    );
    let mut excluded = Family::new(
        "excluded_iocs",
        None,
        "IOCs the exclusion policy held back in the last run, by list (builtin:... for the built-in guard).",
    );
    for (list, n) in &c.excluded {
        excluded.sample(vec![("list", list.clone())], *n);
    }
    families.push(excluded);
    if let Some(p) = &c.plan {
        let mut plan = Family::new(
            "plan_entries",
            None,
            "The last run's plan, by action: entries to add, update and remove (removals the brake held back are not counted here), owned entries unchanged, owned entries kept by --preserve-iocs (a --clean run: remove only).",
        );
        let actions: &[(&str, usize)] = if c.source_items.is_some() {
            &[
                ("add", p.add),
                ("update", p.update),
                ("remove", p.remove),
                ("unchanged", p.unchanged),
                ("preserved", p.preserved),
            ]
        } else {
            &[("remove", p.remove)]
        };
        for (action, n) in actions {
            plan.sample(vec![("action", (*action).to_owned())], *n);
        }
        families.push(plan);
    }
    families.push(
        Family::new(
            "untouched_entries",
            None,
            "Owned entries the last run left alone whatever the source said, by reason (unreadable, shared).",
        )
        .by("reason", &c.untouched),
    );
    let w = &c.writes;
    let mut writes = Family::new(
        "writes",
        None,
        "Writes of the last run by action (put: add or update; delete) and result (done, failed; for deletes also already_gone and no_longer_ours, a removal dropped because the entry lost the tag meanwhile).",
    );
    for (action, result, n) in [
        ("put", "done", w.put),
        ("put", "failed", w.put_failed),
        ("delete", "done", w.deleted),
        ("delete", "already_gone", w.already_gone),
        ("delete", "no_longer_ours", w.no_longer_ours),
        ("delete", "failed", w.delete_failed),
    ] {
        writes.sample(
            vec![("action", action.to_owned()), ("result", result.to_owned())],
            n,
        );
    }
    families.push(writes);
    let kinds: BTreeSet<&IocKind> = c.listed.keys().collect();
    let per_kind = |name, unit, help, value: &dyn Fn(&ListedCounts) -> Option<Value>| {
        let mut family = Family::new(name, unit, help);
        for kind in &kinds {
            if let Some(v) = value(&c.listed[*kind]) {
                family.sample(vec![("type", kind.to_string())], v);
            }
        }
        family
    };
    families.push(per_kind(
        "owned_entries",
        None,
        "Entries of this job's tag on the destination, by type, as listed before the last run's writes.",
        &|l| Some(l.owned.into()),
    ));
    families.push(per_kind(
        "listed_entries",
        None,
        "Every entry on the destination (this job's and anyone else's), by type, as listed before the last run's writes.",
        &|l| Some(l.entries.into()),
    ));
    families.push(per_kind(
        "capacity_entries",
        None,
        "The most entries of each type the destination holds.",
        &|l| Some(l.capacity.into()),
    ));
    families.push(per_kind(
        "capacity_headroom",
        Some(Unit::Other("ratio".to_owned())),
        "The share of each type's capacity still free (capacity minus every listed entry, over capacity), as listed before the last run's writes.",
        &|l| {
            (l.capacity > 0).then(|| {
                Value::Real(l.capacity.saturating_sub(l.entries) as f64 / l.capacity as f64)
            })
        },
    ));
    if c.source_items.is_some() {
        families.push(
            Family::new(
                "brake_engaged",
                None,
                "1 when a brake engaged in the last run (the removal brake held its removals back, or the add brake its whole plan), else 0.",
            )
            .with(c.brake.is_some() || c.add_brake.is_some()),
        );
        families.push(
            Family::new(
                "brake_held_removals",
                None,
                "Removals the removal brake held back in the last run (0 when it did not engage).",
            )
            .with(c.brake.unwrap_or(0)),
        );
        families.push(
            Family::new(
                "brake_held_adds",
                None,
                "Adds the add brake held back in the last run, with the rest of its plan (0 when it did not engage).",
            )
            .with(c.add_brake.unwrap_or(0)),
        );
        families.push(
            Family::new(
                "removals_withheld",
                None,
                "1 when the last run removed nothing because the source could not read everything, else 0.",
            )
            .with(c.removals_withheld),
        );
        families.push(
            Family::new(
                "source_warnings",
                None,
                "Problems the source went on past in the last run (a TAXII server that stalled), each logged as a warning.",
            )
            .with(c.warnings),
        );
    }
    if let Some(l) = &c.lumu {
        families.push(
            Family::new(
                "lumu_incidents",
                None,
                "Lumu incidents listed in the last run.",
            )
            .with(l.incidents),
        );
        families.push(
            Family::new(
                "lumu_contexts",
                None,
                "Lumu incident contexts in the last run, by state: read, cached (unchanged since read), deferred (left for a later run), failed, missing (listed incidents with no context at all).",
            )
            .by(
                "state",
                [
                    ("read", &l.contexts_read),
                    ("cached", &l.contexts_cached),
                    ("deferred", &l.contexts_deferred),
                    ("failed", &l.contexts_failed),
                    ("missing", &l.contexts_missing),
                ],
            ),
        );
        families.push(
            Family::new(
                "lumu_calls",
                None,
                "Requests the last run sent to Lumu (what its quota counts), retries included, by endpoint.",
            )
            .by(
                "endpoint",
                [
                    ("incidents", &(l.calls.incidents as usize)),
                    ("context", &(l.calls.context as usize)),
                ],
            ),
        );
        if let Some(reason) = l.stopped {
            families.push(
                Family::new(
                    "lumu_context_reads_stopped",
                    None,
                    "1, by reason (quota, deadline, failures), when the last run stopped reading Lumu contexts before its budget was used.",
                )
                .by("reason", [(reason, &true)]),
            );
        }
    }
    families
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> JobLabels {
        JobLabels {
            tag: "lumu".into(),
            source: "lumu",
            sink: "apex",
        }
    }

    fn run(exit_code: u8) -> RunMetrics {
        RunMetrics {
            job: job(),
            ended: DateTime::from_timestamp(1_800_000_000, 500_000_000).unwrap(),
            duration: Duration::from_millis(1500),
            exit_code,
            dry_run: false,
            clean: false,
            counts: None,
            taxii_cursor: None,
            journal: None,
        }
    }

    #[test]
    fn a_failed_run_without_a_report_has_the_run_families_only() {
        let text = render(&run(1), 0.0);
        assert_eq!(
            text,
            "# HELP apex_ioc_sync_last_run_timestamp_seconds When the last run ended, in seconds since the Unix epoch.\n\
             # TYPE apex_ioc_sync_last_run_timestamp_seconds gauge\n\
             apex_ioc_sync_last_run_timestamp_seconds{tag=\"lumu\",source=\"lumu\",sink=\"apex\"} 1800000000.5\n\
             # HELP apex_ioc_sync_last_run_exit_code The last run's exit code: 0 done, 1 failed, 2 usage or configuration error, 4 some writes failed, 5 a brake engaged (removal or add), 6 deadline reached with writes left.\n\
             # TYPE apex_ioc_sync_last_run_exit_code gauge\n\
             apex_ioc_sync_last_run_exit_code{tag=\"lumu\",source=\"lumu\",sink=\"apex\"} 1\n\
             # HELP apex_ioc_sync_last_success_timestamp_seconds When a run of this job last ended with exit code 0 (dry runs aside), in seconds since the Unix epoch; 0 when none is on record (the value is carried from the previous file).\n\
             # TYPE apex_ioc_sync_last_success_timestamp_seconds gauge\n\
             apex_ioc_sync_last_success_timestamp_seconds{tag=\"lumu\",source=\"lumu\",sink=\"apex\"} 0.0\n\
             # HELP apex_ioc_sync_last_run_duration_seconds How long the last run took, from its start to its end.\n\
             # TYPE apex_ioc_sync_last_run_duration_seconds gauge\n\
             apex_ioc_sync_last_run_duration_seconds{tag=\"lumu\",source=\"lumu\",sink=\"apex\"} 1.5\n\
             # HELP apex_ioc_sync_last_run_dry_run 1 when the last run was a dry run (--dry-run: nothing written), else 0.\n\
             # TYPE apex_ioc_sync_last_run_dry_run gauge\n\
             apex_ioc_sync_last_run_dry_run{tag=\"lumu\",source=\"lumu\",sink=\"apex\"} 0\n\
             # HELP apex_ioc_sync_last_run_clean 1 when the last run was a --clean run (every owned entry removed, no source read), else 0.\n\
             # TYPE apex_ioc_sync_last_run_clean gauge\n\
             apex_ioc_sync_last_run_clean{tag=\"lumu\",source=\"lumu\",sink=\"apex\"} 0\n"
        );
    }

    #[test]
    fn a_taxii_job_shows_its_cursor_age_and_the_feeds_held_back_from_the_future() {
        let ended = run(0).ended;
        let taxii = |newest, clamped| RunMetrics {
            taxii_cursor: Some(JobCursors { newest, clamped }),
            ..run(0)
        };
        let text = render(&taxii(ended - chrono::TimeDelta::hours(2), 1), 0.0);
        assert!(
            text.contains(
                "apex_ioc_sync_taxii_cursor_age_seconds{tag=\"lumu\",source=\"lumu\",sink=\"apex\"} 7200.0\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "apex_ioc_sync_taxii_cursors_clamped{tag=\"lumu\",source=\"lumu\",sink=\"apex\"} 1\n"
            ),
            "{text}"
        );
        let minutes = crate::stix::indicator::MAX_CLOCK_SKEW.num_minutes();
        assert!(text.contains(&format!("more than {minutes} minutes in the future")));
        // None held back: 0, not absent.
        let text = render(&taxii(ended, 0), 0.0);
        assert!(text.contains(
            "apex_ioc_sync_taxii_cursors_clamped{tag=\"lumu\",source=\"lumu\",sink=\"apex\"} 0\n"
        ));
        assert!(!render(&run(0), 0.0).contains("taxii_cursors_clamped"));
    }

    #[test]
    fn the_journal_gives_its_rows_and_the_age_of_its_oldest_run() {
        let mut r = run(0);
        r.journal = Some(crate::state::journal::JournalStats {
            runs: 3,
            writes: 17,
            oldest: Some(r.ended - chrono::Duration::hours(2)),
        });
        let text = render(&r, 0.0);
        for line in [
            "apex_ioc_sync_journal_rows{tag=\"lumu\",source=\"lumu\",sink=\"apex\",table=\"runs\"} 3\n",
            "apex_ioc_sync_journal_rows{tag=\"lumu\",source=\"lumu\",sink=\"apex\",table=\"writes\"} 17\n",
            "apex_ioc_sync_journal_age_seconds{tag=\"lumu\",source=\"lumu\",sink=\"apex\"} 7200.0\n",
        ] {
            assert!(text.contains(line), "{line}{text}");
        }
        // A run that was not journalled has neither.
        assert!(!render(&run(0), 0.0).contains("journal"));
    }

    #[test]
    fn the_last_success_is_carried_from_the_previous_file_of_the_same_job_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("job.prom");
        // No file yet: none on record.
        write(&path, &run(1)).unwrap();
        assert_eq!(previous_success(&path, &job()).unwrap(), Some(0.0));
        // A success sets it to the run's end...
        write(&path, &run(0)).unwrap();
        assert_eq!(
            previous_success(&path, &job()).unwrap(),
            Some(1_800_000_000.5)
        );
        // ...and a later failure, or a dry run that exited 0, keeps it.
        let mut failed = run(4);
        failed.ended = DateTime::from_timestamp(1_800_001_800, 0).unwrap();
        write(&path, &failed).unwrap();
        let mut dry = run(0);
        dry.dry_run = true;
        dry.ended = DateTime::from_timestamp(1_800_003_600, 0).unwrap();
        write(&path, &dry).unwrap();
        assert_eq!(
            previous_success(&path, &job()).unwrap(),
            Some(1_800_000_000.5)
        );
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("apex_ioc_sync_last_run_timestamp_seconds{tag=\"lumu\",source=\"lumu\",sink=\"apex\"} 1800003600.0\n"), "{text}");
        // Another job's labels find nothing to carry.
        let other = JobLabels {
            tag: "lumu-b".into(),
            ..job()
        };
        assert_eq!(previous_success(&path, &other).unwrap(), None);
        // Only the file is left in the folder: no temporary file.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["job.prom"]);
    }

    #[test]
    fn an_unreadable_previous_value_is_an_error_and_counts_as_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("job.prom");
        let key = series_of(encode(&job(), vec![last_success_family(0.0)]));
        std::fs::write(&path, format!("{key} soon\n")).unwrap();
        let err = previous_success(&path, &job()).unwrap_err();
        assert!(
            err.to_string().contains("does not end in a number"),
            "{err}"
        );
        write(&path, &run(1)).unwrap();
        assert_eq!(previous_success(&path, &job()).unwrap(), Some(0.0));
    }

    #[test]
    fn a_path_in_a_missing_folder_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing").join("job.prom");
        let err = write(&path, &run(0)).unwrap_err();
        let message = err.to_string();
        assert!(
            message.starts_with(&format!(
                "cannot write the metrics file {}: ",
                path.display()
            )),
            "{message}"
        );
        assert!(message.contains("--metrics-file"), "{message}");
    }

    #[cfg(unix)]
    #[test]
    fn the_file_is_readable_by_all_whatever_the_umask() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("job.prom");
        write(&path, &run(0)).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644);
    }

    #[test]
    fn a_watch_adds_its_gauges_after_the_last_full_sync() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("job.prom");
        let watch = WatchMetrics {
            last_poll: Some(DateTime::from_timestamp(1_800_000_100, 0).unwrap()),
            stream: Some(StreamMetrics {
                last_event: None,
                lag: Some(Duration::from_millis(250)),
                applied: 3,
                skipped: 5,
                unusable: 0,
                journal_calls: 9,
                context_calls: 2,
                offset: Some(42),
            }),
        };
        write_watch(&path, &run(0), &watch).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let labels = "tag=\"lumu\",source=\"lumu\",sink=\"apex\"";
        for line in [
            format!("apex_ioc_sync_last_run_exit_code{{{labels}}} 0\n"),
            format!("apex_ioc_sync_watch_last_poll_timestamp_seconds{{{labels}}} 1800000100.0\n"),
            format!("apex_ioc_sync_watch_last_event_timestamp_seconds{{{labels}}} 0.0\n"),
            format!("apex_ioc_sync_watch_events{{{labels},result=\"applied\"}} 3\n"),
            format!("apex_ioc_sync_watch_events{{{labels},result=\"skipped\"}} 5\n"),
            format!("apex_ioc_sync_watch_lumu_calls{{{labels},endpoint=\"updates\"}} 9\n"),
            format!("apex_ioc_sync_watch_lag_seconds{{{labels}}} 0.25\n"),
            format!("apex_ioc_sync_watch_journal_offset{{{labels}}} 42\n"),
        ] {
            assert!(text.contains(&line), "{line} in {text}");
        }
        // The last success is carried as for a sync run.
        assert_eq!(
            previous_success(&path, &job()).unwrap(),
            Some(1_800_000_000.5)
        );
        // A watch that resumed, before its first full sync: the last one's families carried
        // from the file, the watch's gauges replaced (once each).
        let resumed = WatchMetrics {
            last_poll: Some(DateTime::from_timestamp(1_800_000_200, 0).unwrap()),
            ..watch.clone()
        };
        write_watch_carried(&path, &job(), &resumed).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains(&format!("apex_ioc_sync_last_run_exit_code{{{labels}}} 0\n")),
            "{text}"
        );
        assert!(text.contains("} 1800000200.0\n"), "{text}");
        assert_eq!(
            text.matches("# TYPE apex_ioc_sync_watch_last_poll_timestamp_seconds gauge")
                .count(),
            1,
            "{text}"
        );
        assert_eq!(
            text.matches("_watch_last_poll_timestamp_seconds{").count(),
            1
        );
        // Another job's file is not carried.
        let other = JobLabels {
            tag: "other".into(),
            ..job()
        };
        write_watch_carried(&path, &other, &resumed).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("last_run_exit_code"), "{text}");
        // A polled source has the poll's time only.
        let polled = WatchMetrics {
            stream: None,
            ..watch
        };
        write_watch(&path, &run(0), &polled).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("watch_last_poll_timestamp_seconds"), "{text}");
        assert!(!text.contains("watch_events"), "{text}");
    }

    #[test]
    fn counts_give_per_type_headroom_and_every_planned_type() {
        let mut c = Counts {
            source_items: Some(3),
            ..Counts::default()
        };
        c.listed.insert(
            IocKind::Ip,
            ListedCounts {
                entries: 9_600,
                owned: 100,
                capacity: 10_000,
            },
        );
        c.listed.insert(
            IocKind::Domain,
            ListedCounts {
                entries: 0,
                owned: 0,
                capacity: 10_000,
            },
        );
        c.desired.insert(IocKind::Ip, 7);
        let mut r = run(0);
        r.counts = Some(c);
        let text = render(&r, 0.0);
        for line in [
            "apex_ioc_sync_capacity_headroom_ratio{tag=\"lumu\",source=\"lumu\",sink=\"apex\",type=\"domain\"} 1.0\n",
            "apex_ioc_sync_capacity_headroom_ratio{tag=\"lumu\",source=\"lumu\",sink=\"apex\",type=\"ip\"} 0.04\n",
            "apex_ioc_sync_owned_entries{tag=\"lumu\",source=\"lumu\",sink=\"apex\",type=\"ip\"} 100\n",
            "apex_ioc_sync_brake_engaged{tag=\"lumu\",source=\"lumu\",sink=\"apex\"} 0\n",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
        // No family without samples (no excluded list, no skip) is written.
        assert!(!text.contains("excluded_iocs"), "{text}");
        assert!(!text.contains("skipped_iocs"), "{text}");
    }
}
