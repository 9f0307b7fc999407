//! The defaults of the options. Each is given to clap (`default_value_t`), so `--help` shows
//! it and the code reads the parsed value; none is repeated in a help text.

use super::{IncidentStatus, IocTypeArg, SourceKind};
use crate::model::ScanAction;

/// `--timeout`, seconds.
pub const DEFAULT_TIMEOUT_SECS: u64 = 60;
/// `--proxy-port`.
pub const DEFAULT_PROXY_PORT: u16 = 8080;
/// Writes at once without `--threads` or `--threaded`.
pub const DEFAULT_THREADS: u16 = 4;
/// Writes at once with `--threaded` (the Lumu script's flag) and no `--threads`.
pub const THREADED_THREADS: u16 = 20;
/// `--days`.
pub const DEFAULT_DAYS: u32 = 30;
/// `--days` for Lumu: incidents of at most the last 30 days.
pub const MAX_LUMU_DAYS: u32 = 30;
/// `--expiration-days`.
pub const DEFAULT_EXPIRATION_DAYS: u32 = 30;
/// `--lumu-url`.
pub const DEFAULT_LUMU_URL: &str = "https://defender.lumu.io";
/// `--max-run-minutes`: a run every 30 minutes ends 5 minutes before the next one starts.
pub const DEFAULT_MAX_RUN_MINUTES: f64 = 25.0;
/// `--scan-action`.
pub const DEFAULT_SCAN_ACTION: ScanAction = ScanAction::Block;
/// `--source`.
pub const DEFAULT_SOURCE: SourceKind = SourceKind::Lumu;
/// `--ioc-types`: what Lumu's script pushed by default.
pub const DEFAULT_IOC_TYPES: [IocTypeArg; 3] =
    [IocTypeArg::Ip, IocTypeArg::Domain, IocTypeArg::Url];
/// `--incident-status`.
pub const DEFAULT_INCIDENT_STATUSES: [IncidentStatus; 1] = [IncidentStatus::Open];
/// `watch --reconcile-minutes`: the sync job's schedule.
pub const DEFAULT_RECONCILE_MINUTES: f64 = 30.0;
/// `watch --long-poll-seconds`: at most 120 calls an hour to Lumu's journal while idle
/// (2,880 of its 10,000 a day), and one within seconds of an event.
pub const DEFAULT_LONG_POLL_SECS: u64 = 30;
/// `watch --poll-seconds`.
pub const DEFAULT_POLL_SECS: u64 = 300;
