//! The sync job's options, by group: each group a `#[derive(Args)]` struct under its own help
//! heading, and [`Options`], all of them, which is also the merged view of any command's
//! options. A group a command lacks has clap's defaults ([`clap_defaults`]).

use std::collections::BTreeSet;
use std::path::PathBuf;

use clap::{ArgAction, Args, FromArgMatches, ValueEnum};

use super::{
    AdversaryType, DEFAULT_DAYS, DEFAULT_EXPIRATION_DAYS, DEFAULT_INCIDENT_STATUSES,
    DEFAULT_IOC_TYPES, DEFAULT_LUMU_URL, DEFAULT_MAX_RUN_MINUTES, DEFAULT_PROXY_PORT,
    DEFAULT_SCAN_ACTION, DEFAULT_SOURCE, DEFAULT_THREADS, DEFAULT_TIMEOUT_SECS, IncidentStatus,
    IocTypeArg, LoggingMode, MAX_LUMU_DAYS, PROGRAM, SinkKind, SourceKind, THREADED_THREADS,
    WatchOpts, heading,
};
use crate::logging::LOG_FILE_NAME;
use crate::model::ScanAction;
use crate::secret::Secret;
use crate::sink::vision_one::{Region, RiskLevel};
use crate::source::lumu::DEFAULT_MAX_CONTEXT_CALLS;
use crate::source::taxii::{DEFAULT_PAGE_SIZE, MAX_DAYS};
use crate::state::journal::DEFAULT_JOURNAL_DAYS;
use crate::sync::plan::ADD_BRAKE_MIN_ADDS;

/// Every option of the sync job (the run without a subcommand), by group; and the merged
/// view of any command's options, where a command that lacks a group has that group's
/// defaults (see [`Cli::options`](super::Cli::options)).
#[derive(Debug, Clone, Args)]
pub struct Options {
    #[command(flatten)]
    pub config: ConfigOpt,
    #[command(flatten)]
    pub destination: DestinationOpts,
    #[command(flatten)]
    pub apex: ApexOpts,
    #[command(flatten)]
    pub vision_one: VisionOneOpts,
    /// Risk level Vision One records for the objects this job adds.
    #[arg(
        long = "risk-level",
        alias = "risk_level",
        value_enum,
        default_value_t = RiskLevel::default(),
        help_heading = heading::VISION_ONE,
        verbatim_doc_comment
    )]
    pub risk_level: RiskLevel,
    #[command(flatten)]
    pub lumu: LumuOpts,
    #[command(flatten)]
    pub taxii: TaxiiOpts,
    #[command(flatten)]
    pub files: FileOpts,
    #[command(flatten)]
    pub sync: SyncOpts,
    #[command(flatten)]
    pub exclusions: ExclusionOpts,
    #[command(flatten)]
    pub http: HttpOpts,
    #[command(flatten)]
    pub output: OutputOpts,
    #[command(flatten)]
    pub metrics: MetricsOpts,
    #[command(flatten)]
    pub logging: LoggingOpts,
    /// The ids of the options given on the command line or in the `.config` file (not by
    /// the environment, not by default), for the checks that depend on whether an option
    /// was given rather than on its value (`--proxy-port` without `--proxy-host`).
    #[arg(skip)]
    pub given: BTreeSet<String>,
}

impl Options {
    /// Whether the option of arg id `id` (the field's name, e.g. `proxy_port`) was given on
    /// the command line or in the `.config` file.
    pub fn given(&self, id: &str) -> bool {
        self.given.contains(id)
    }
}

/// `--config`.
#[derive(Debug, Clone, Default, Args)]
pub struct ConfigOpt {
    /// Read options from this file, one name=value a line as in .config_sample; a command uses the lines of the options it takes and leaves the others. Default: ./.config when it exists.
    #[arg(long, value_name = "PATH", verbatim_doc_comment)]
    pub config: Option<PathBuf>,
}

/// `--sink`: the sync job, `list` and `demo`.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = heading::DESTINATION)]
pub struct DestinationOpts {
    /// The destination list, written by the sync job and read by list: Apex Central's UDSO list or Trend Vision One's suspicious-object list; the options of the other destination are refused.
    #[arg(long, value_enum, default_value_t = SinkKind::default(), verbatim_doc_comment)]
    pub sink: SinkKind,
}

/// Apex Central: the server and the Automation API application.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = heading::APEX)]
pub struct ApexOpts {
    /// Apex Central server: a host name (https assumed) or a URL with scheme and port, such as https://apex.corp:8443. Required to talk to Apex Central.
    #[arg(long, value_name = "HOST|URL", verbatim_doc_comment)]
    pub host: Option<String>,
    /// Application ID of the Automation API application. Required to talk to Apex Central.
    #[arg(
        long = "application-id",
        alias = "application_id",
        value_name = "ID",
        verbatim_doc_comment
    )]
    pub application_id: Option<String>,
    /// API key of the Automation API application; it signs the requests and is never sent. Required to talk to Apex Central.
    #[arg(
        long = "api-key",
        alias = "api_key",
        env = "APEX_API_KEY",
        hide_env_values = true,
        value_name = "KEY",
        value_parser = parse_secret,
        verbatim_doc_comment
    )]
    pub api_key: Option<Secret>,
    /// Also trust the CA certificates of this PEM file for Apex Central, besides the system's roots (the TAXII server has --taxii-ca-cert).
    #[arg(
        long = "ca-cert",
        alias = "ca_cert",
        value_name = "PEM",
        verbatim_doc_comment
    )]
    pub ca_cert: Option<PathBuf>,
    /// Do not verify Apex Central's TLS certificate; every run warns about it (for lab use only; the TAXII server has --taxii-insecure).
    #[arg(long, verbatim_doc_comment)]
    pub insecure: bool,
    /// Accept a plain http:// --host that is not loopback: the signed requests and the list the removals trust then travel in clear, and every run warns about it.
    #[arg(long = "allow-http", alias = "allow_http", verbatim_doc_comment)]
    pub allow_http: bool,
}

/// Trend Vision One: the API host and token.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = heading::VISION_ONE)]
pub struct VisionOneOpts {
    /// Vision One region whose API host to use; give this or --v1-url with --sink vision-one.
    #[arg(
        long = "v1-region",
        alias = "v1_region",
        value_enum,
        value_name = "REGION",
        verbatim_doc_comment
    )]
    pub v1_region: Option<Region>,
    /// Vision One API base URL, scheme and host, instead of --v1-region (plain http:// for loopback only).
    #[arg(
        long = "v1-url",
        alias = "v1_url",
        value_name = "URL",
        verbatim_doc_comment
    )]
    pub v1_url: Option<String>,
    /// Vision One API key, sent as a Bearer token to that host only (its role needs Suspicious Object Management). Required with --sink vision-one.
    #[arg(
        long = "v1-token",
        alias = "v1_token",
        env = "V1_API_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN",
        value_parser = parse_secret,
        verbatim_doc_comment
    )]
    pub v1_token: Option<Secret>,
}

/// What every server's client shares: the proxy and the time-out.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = heading::HTTP)]
pub struct HttpOpts {
    /// HTTP proxy for every server, a host name or http://host, without credentials (NO_PROXY still applies). Default: the HTTPS_PROXY, HTTP_PROXY and NO_PROXY environment variables.
    #[arg(
        long = "proxy-host",
        alias = "proxy_host",
        value_name = "HOST",
        verbatim_doc_comment
    )]
    pub proxy_host: Option<String>,
    /// Port of --proxy-host.
    #[arg(
        long = "proxy-port",
        alias = "proxy_port",
        value_name = "PORT",
        default_value_t = DEFAULT_PROXY_PORT,
        verbatim_doc_comment
    )]
    pub proxy_port: u16,
    /// User name for the proxy's Basic authentication, sent exactly as given.
    #[arg(
        long = "proxy-user",
        alias = "proxy_user",
        value_name = "USER",
        verbatim_doc_comment
    )]
    pub proxy_user: Option<String>,
    /// Password of --proxy-user, sent exactly as given (a % in it is a %).
    #[arg(
        long = "proxy-password",
        alias = "proxy_password",
        env = "PROXY_PASSWORD",
        hide_env_values = true,
        value_name = "PASSWORD",
        value_parser = parse_secret,
        verbatim_doc_comment
    )]
    pub proxy_password: Option<Secret>,
    /// Seconds one HTTP request may take, 1-3600, for every server.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = DEFAULT_TIMEOUT_SECS,
        value_parser = clap::value_parser!(u64).range(1..=3600),
        verbatim_doc_comment
    )]
    pub timeout: u64,
}

/// The Lumu Defender source.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = heading::LUMU)]
pub struct LumuOpts {
    /// Lumu Defender company key. Required with --source lumu.
    #[arg(
        long = "company-key",
        alias = "company_key",
        env = "LUMU_COMPANY_KEY",
        hide_env_values = true,
        value_name = "KEY",
        value_parser = parse_secret,
        verbatim_doc_comment
    )]
    pub company_key: Option<Secret>,
    /// Lumu Defender API base URL.
    #[arg(
        long = "lumu-url",
        alias = "lumu_url",
        value_name = "URL",
        default_value = DEFAULT_LUMU_URL,
        verbatim_doc_comment
    )]
    pub lumu_url: String,
    /// Incident adversary types to read; repeat or separate with commas. Default: every type.
    #[arg(long = "adversary-types", alias = "adversary_types", value_enum, num_args = 1.., value_delimiter = ',', verbatim_doc_comment)]
    pub adversary_types: Vec<AdversaryType>,
    /// Incident statuses to read; repeat or separate with commas.
    #[arg(long = "incident-status", alias = "incident_status", value_enum, num_args = 1.., value_delimiter = ',', default_values_t = DEFAULT_INCIDENT_STATUSES, verbatim_doc_comment)]
    pub incident_status: Vec<IncidentStatus>,
    /// Incident contexts read at most in one run, 0-10000; the others wait for later runs.
    #[arg(
        long = "max-context-calls",
        alias = "max_context_calls",
        value_name = "N",
        default_value_t = DEFAULT_MAX_CONTEXT_CALLS,
        value_parser = clap::value_parser!(u32).range(0..=10_000),
        verbatim_doc_comment
    )]
    pub max_context_calls: u32,
}

/// The TAXII 2.1 source (and the STIX confidence threshold).
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = heading::TAXII)]
pub struct TaxiiOpts {
    /// TAXII 2.1 discovery URL or API root. Required with --source taxii.
    #[arg(
        long = "taxii-url",
        alias = "taxii_url",
        value_name = "URL",
        verbatim_doc_comment
    )]
    pub taxii_url: Option<String>,
    /// Collection to read, by id, alias or title; repeatable. Default: every readable collection.
    #[arg(
        long = "taxii-collection",
        alias = "taxii_collection",
        value_name = "ID",
        verbatim_doc_comment
    )]
    pub taxii_collection: Vec<String>,
    /// Bearer token for the TAXII server.
    #[arg(
        long = "taxii-token",
        alias = "taxii_token",
        env = "TAXII_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN",
        value_parser = parse_secret,
        verbatim_doc_comment
    )]
    pub taxii_token: Option<Secret>,
    /// User for HTTP Basic authentication to the TAXII server, with --taxii-password.
    #[arg(
        long = "taxii-user",
        alias = "taxii_user",
        value_name = "USER",
        verbatim_doc_comment
    )]
    pub taxii_user: Option<String>,
    /// Password of --taxii-user.
    #[arg(
        long = "taxii-password",
        alias = "taxii_password",
        env = "TAXII_PASSWORD",
        hide_env_values = true,
        value_name = "PASSWORD",
        value_parser = parse_secret,
        verbatim_doc_comment
    )]
    pub taxii_password: Option<Secret>,
    /// Also trust the CA certificates of this PEM file for the TAXII server, besides the system's roots.
    #[arg(
        long = "taxii-ca-cert",
        alias = "taxii_ca_cert",
        value_name = "PEM",
        verbatim_doc_comment
    )]
    pub taxii_ca_cert: Option<PathBuf>,
    /// Do not verify the TAXII server's TLS certificate; every run warns about it (for lab use only).
    #[arg(
        long = "taxii-insecure",
        alias = "taxii_insecure",
        verbatim_doc_comment
    )]
    pub taxii_insecure: bool,
    /// Objects asked for in one TAXII page, 1-10000.
    #[arg(
        long = "taxii-page-size",
        alias = "taxii_page_size",
        value_name = "N",
        default_value_t = DEFAULT_PAGE_SIZE,
        value_parser = clap::value_parser!(u32).range(1..=10_000),
        verbatim_doc_comment
    )]
    pub taxii_page_size: u32,
    /// Skip STIX indicators (TAXII, and bundles of --source file) whose confidence is below N, 0-100; one without a confidence passes. Default: no threshold.
    #[arg(
        long = "min-confidence",
        alias = "min_confidence",
        value_name = "N",
        value_parser = clap::value_parser!(u8).range(0..=100),
        verbatim_doc_comment
    )]
    pub min_confidence: Option<u8>,
}

/// The inputs of `--source openioc` and `--source file`.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = heading::FILES)]
pub struct FileOpts {
    /// Input file or folder: OpenIOC files for --source openioc, a STIX 2.1 bundle or a plain IOC list for --source file; repeatable.
    #[arg(long, value_name = "PATH", verbatim_doc_comment)]
    pub file: Vec<PathBuf>,
}

/// `--scan-action`: the sync job and `openioc upload`.
#[derive(Debug, Clone, Args)]
pub struct ScanActionOpt {
    /// What agents do on a match of an entry this command adds.
    #[arg(
        long = "scan-action",
        alias = "scan_action",
        value_enum,
        default_value_t = DEFAULT_SCAN_ACTION,
        verbatim_doc_comment
    )]
    pub scan_action: ScanAction,
}

/// The sync job: which source, which IOCs, how entries are written, the job's files.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = heading::SYNC)]
pub struct SyncOpts {
    /// Where IOCs come from.
    #[arg(long, value_enum, default_value_t = DEFAULT_SOURCE, verbatim_doc_comment)]
    pub source: SourceKind,
    /// Ownership tag written into the notes of every entry this job adds; a job owns the entries of its tag only. Default: the source's name.
    #[arg(long, value_name = "NAME", verbatim_doc_comment)]
    pub tag: Option<String>,
    /// IOC types to push; repeat or separate with commas.
    #[arg(long = "ioc-types", alias = "ioc_types", value_enum, num_args = 1.., value_delimiter = ',', default_values_t = DEFAULT_IOC_TYPES, verbatim_doc_comment)]
    pub ioc_types: Vec<IocTypeArg>,
    #[command(flatten)]
    pub action: ScanActionOpt,
    /// Days until an entry expires, 1-3650, renewed while its IOC stays in the source.
    #[arg(
        long = "expiration-days",
        alias = "expiration_days",
        value_name = "N",
        default_value_t = DEFAULT_EXPIRATION_DAYS,
        value_parser = clap::value_parser!(u32).range(1..=3650),
        verbatim_doc_comment
    )]
    pub expiration_days: u32,
    /// Add entries that never expire, instead of --expiration-days.
    #[arg(
        long = "no-expiration-date",
        alias = "no_expiration_date",
        verbatim_doc_comment
    )]
    pub no_expiration_date: bool,
    /// Keep owned entries whose IOC left the source (add and update only).
    #[arg(long = "preserve-iocs", alias = "preserve_iocs", verbatim_doc_comment)]
    pub preserve_iocs: bool,
    /// Remove every entry this job's tag owns, of every type, and nothing else.
    #[arg(long, verbatim_doc_comment)]
    pub clean: bool,
    /// Show the plan and write nothing.
    #[arg(long = "dry-run", alias = "dry_run", verbatim_doc_comment)]
    pub dry_run: bool,
    /// Lift the brakes: a run that would remove more than half of what its tag owns (and more than 10 entries), leave less than half of the most it owned within the last 24 hours (by more than 10), or add more than --max-adds entries and more than 3 times what it owns, goes ahead.
    #[arg(long, verbatim_doc_comment)]
    pub force: bool,
    /// The add brake's floor: a run that would add more than N entries and more than 3 times what its tag owns writes nothing and exits 5 (see --force).
    #[arg(
        long = "max-adds",
        alias = "max_adds",
        value_name = "N",
        default_value_t = ADD_BRAKE_MIN_ADDS,
        verbatim_doc_comment
    )]
    pub max_adds: usize,
    /// Run several writes at once (see --threads).
    #[arg(long, help = format!("Run {THREADED_THREADS} writes at once, unless --threads says otherwise."))]
    pub threaded: bool,
    /// Writes at once, 1-64.
    #[arg(
        long,
        value_name = "N",
        value_parser = clap::value_parser!(u16).range(1..=64),
        help = format!("Writes at once, 1-64. Default: {THREADED_THREADS} with --threaded, else {DEFAULT_THREADS}.")
    )]
    pub threads: Option<u16>,
    /// Days back to read: Lumu incidents, or a TAXII feed's first run.
    #[arg(
        long,
        value_name = "N",
        default_value_t = DEFAULT_DAYS,
        value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_DAYS)),
        help = format!("Days back to read: Lumu incidents of the last N days, 1-{MAX_LUMU_DAYS}; indicators added to a TAXII feed in the last N days on its first run, 1-{MAX_DAYS}.")
    )]
    pub days: u32,
    /// The job's state (SQLite): its journal of runs and writes, the Lumu context cache, the TAXII cursors and indicators. Default: apex-ioc-sync-TAG.db in $STATE_DIRECTORY, else beside the config file, else in the current folder.
    #[arg(
        long = "state-file",
        alias = "state_file",
        value_name = "PATH",
        verbatim_doc_comment
    )]
    pub state_file: Option<PathBuf>,
    /// Days of runs the journal keeps, 1-3650; older runs and their writes are pruned at the end of each run.
    #[arg(
        long = "journal-days",
        alias = "journal_days",
        value_name = "N",
        default_value_t = DEFAULT_JOURNAL_DAYS,
        value_parser = clap::value_parser!(u32).range(1..=3650),
        verbatim_doc_comment
    )]
    pub journal_days: u32,
    /// Single-instance lock file. Default: apex-ioc-sync-TAG.lock in $STATE_DIRECTORY, else beside the config file, else in the current folder.
    #[arg(
        long = "lock-file",
        alias = "lock_file",
        value_name = "PATH",
        verbatim_doc_comment
    )]
    pub lock_file: Option<PathBuf>,
    /// What the single-instance lock covers: the jobs of one tag, or every job writing to one destination (Apex Central host or Vision One URL), so that jobs of different tags never write to one server at once.
    #[arg(
        long = "lock-scope",
        alias = "lock_scope",
        value_enum,
        default_value_t = LockScope::default(),
        verbatim_doc_comment
    )]
    pub lock_scope: LockScope,
    /// Minutes the whole run may take, more than 0 and at most 1440, decimals allowed: the source is read for at most four fifths of them, and past them no write is started (the rest is left for the next run, exit 6).
    #[arg(
        long = "max-run-minutes",
        alias = "max_run_minutes",
        value_name = "MINUTES",
        default_value_t = DEFAULT_MAX_RUN_MINUTES,
        value_parser = parse_minutes,
        verbatim_doc_comment
    )]
    pub max_run_minutes: f64,
}

/// What the single-instance lock of a sync job covers (`--lock-scope`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum LockScope {
    /// One lock per tag: jobs of different tags may run at once.
    #[value(verbatim_doc_comment)]
    #[default]
    Tag,
    /// One lock per destination: no two jobs writing to the same Apex Central host or Vision One URL run at once, whatever their tags.
    #[value(verbatim_doc_comment)]
    Destination,
}

/// What must never be pushed.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = heading::EXCLUSIONS)]
pub struct ExclusionOpts {
    /// Never push what this list matches: a plain list (IPv4 addresses and CIDR blocks, domains, URL prefixes, SHA-1s), a MISP warninglist (JSON), or a folder of them (*.txt, *.json); repeatable.
    #[arg(long, value_name = "PATH", verbatim_doc_comment)]
    pub exclude: Vec<PathBuf>,
    /// Lift the built-in guard (special-purpose IPv4 ranges, public suffixes, single-label and local names); --exclude lists still apply.
    #[arg(
        long = "no-default-exclusions",
        alias = "no_default_exclusions",
        verbatim_doc_comment
    )]
    pub no_default_exclusions: bool,
    /// A hold list: IOCs never to push again until their line is removed, one IOC a line, matched exactly (rollback appends the IOCs it removes); it must exist (create it empty), except for rollback.
    #[arg(long, value_name = "PATH", verbatim_doc_comment)]
    pub hold: Option<PathBuf>,
}

/// What a command prints on standard output.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = heading::OUTPUT)]
pub struct OutputOpts {
    /// Print the result as JSON on standard output: a sync's report, a list's entries, an openioc command's answer, the journal's runs, writes, explanation or rollback.
    #[arg(long, verbatim_doc_comment)]
    pub json: bool,
}

/// The sync run's metrics file.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = heading::METRICS)]
pub struct MetricsOpts {
    /// At the end of every sync run, failed ones included, write the run's metrics to this file in the Prometheus text format, for node_exporter's or windows_exporter's textfile collector (name it *.prom; it is replaced whole, never half-written).
    #[arg(
        long = "metrics-file",
        alias = "metrics_file",
        value_name = "PATH",
        verbatim_doc_comment
    )]
    pub metrics_file: Option<PathBuf>,
}

/// Where log lines go and how many.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = heading::LOGGING)]
pub struct LoggingOpts {
    /// Where log lines go. Default: file when --log-file is given, else screen.
    #[arg(long, value_enum, verbatim_doc_comment)]
    pub logging: Option<LoggingMode>,
    /// More detail in the log: -v for debug, -vv for trace (this tool's own lines only).
    #[arg(short, long, action = ArgAction::Count, verbatim_doc_comment)]
    pub verbose: u8,
    /// Log file for --logging file; given alone, it means --logging file.
    #[arg(
        long = "log-file",
        alias = "log_file",
        value_name = "PATH",
        help = format!("Log file for --logging file; given alone, it means --logging file. Default: {LOG_FILE_NAME} in $LOGS_DIRECTORY, else beside the config file, else in the current folder.")
    )]
    pub log_file: Option<PathBuf>,
}

/// A group's values when none is given: clap's defaults (the one definition of each), and
/// nothing from the environment (a group a command lacks reads no variable).
fn clap_defaults<T: Args + FromArgMatches>() -> T {
    let command = T::augment_args(clap::Command::new(PROGRAM)).mut_args(|a| a.env(None::<&str>));
    let matches = command
        .try_get_matches_from([PROGRAM])
        .expect("an option group parses with no arguments");
    T::from_arg_matches(&matches).expect("an option group parses with no arguments")
}

macro_rules! defaults_from_clap {
    ($($group:ty),*) => {$(
        impl Default for $group {
            /// clap's defaults (see [`clap_defaults`]).
            fn default() -> Self {
                clap_defaults()
            }
        }
    )*};
}

defaults_from_clap!(
    Options,
    DestinationOpts,
    ApexOpts,
    VisionOneOpts,
    HttpOpts,
    LumuOpts,
    TaxiiOpts,
    FileOpts,
    ScanActionOpt,
    SyncOpts,
    ExclusionOpts,
    OutputOpts,
    MetricsOpts,
    LoggingOpts,
    WatchOpts
);

/// Minutes, more than 0 and at most a day; decimals allowed (`0.5`).
pub(super) fn parse_minutes(value: &str) -> Result<f64, String> {
    match value.trim().parse::<f64>() {
        Ok(m) if m > 0.0 && m <= 1440.0 => Ok(m),
        _ => Err("expected minutes, more than 0 and at most 1440 (e.g. 25 or 0.5)".to_owned()),
    }
}

/// Secrets are typed from the start, so no `Debug` of the options can show them.
fn parse_secret(value: &str) -> Result<Secret, std::convert::Infallible> {
    Ok(Secret::new(value))
}

/// The option names whose values are secrets: never logged, and a `.config` holding one
/// should not be readable by others.
pub const SECRET_OPTIONS: &[&str] = &[
    "api-key",
    "company-key",
    "proxy-password",
    "taxii-token",
    "taxii-password",
    "v1-token",
];
