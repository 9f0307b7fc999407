//! Command-line definitions. Every flag is defined here once, with its documentation;
//! the `.config` file is validated against these same definitions (see `config.rs`).
//!
//! Flags of Lumu's `lumu_apex_ioc.py` are accepted in both spellings (`--company-key` and
//! `--company_key`); the snake spelling is a hidden alias.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::ioc::IocKind;
use crate::secret::Secret;
use crate::sink::vision_one::{Region, RiskLevel};
use crate::sync::model::ScanAction;

#[derive(Debug, Parser)]
#[command(
    name = "apex-ioc-sync",
    version,
    about = "Push indicators of compromise into Trend Micro Apex Central's User-Defined Suspicious Objects list or Trend Vision One's suspicious-object list",
    long_about = "Push indicators of compromise (IPs, domains, URLs, SHA-1 and SHA-256 hashes) into Trend \
Micro Apex Central's User-Defined Suspicious Objects (UDSO) list (--sink apex, the default) or Trend \
Vision One's suspicious-object list (--sink vision-one), and keep the entries this job owns equal \
to its source.\n\nOptions can also come from a .config file (one name=value per line, see --config); \
the command line wins over the environment, which wins over the file.\nEvery option that Lumu's \
script spells with '_' is accepted in that spelling too.",
    after_help = "Exit codes: 0 done, 1 failed, 2 usage or config error, 3 another instance running, \
4 some writes failed, 5 removal brake engaged.",
    args_override_self = true
)]
pub struct Cli {
    #[command(flatten)]
    pub opts: GlobalOpts,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the destination's list (--sink apex or vision-one), marking the entries that
    /// carry an `apex-ioc-sync:` ownership tag.
    List(ListArgs),
    /// Show or manage Apex Central's User-Defined Suspicious Objects list.
    #[command(subcommand)]
    Udso(UdsoCommand),
    /// Apex Central's own OpenIOC path: upload files to its filing cabinet and have Apex
    /// extract them into the UDSO list; list and delete the cabinet's files.
    #[command(subcommand)]
    Openioc(OpenIocCommand),
    /// Serve simulated Apex Central, Lumu and TAXII servers on loopback for rehearsals.
    Simulate(SimulateArgs),
    /// Three real syncs against a simulated Lumu Defender and a simulated Apex Central (or,
    /// with --sink vision-one, Vision One) on loopback: a first push, a changed incident set,
    /// an unchanged one. Needs no credentials and no network.
    Demo,
}

#[derive(Debug, Subcommand)]
pub enum UdsoCommand {
    /// Print the UDSO list, marking entries that carry an `apex-ioc-sync:` ownership tag.
    List(UdsoListArgs),
}

#[derive(Debug, Subcommand)]
pub enum OpenIocCommand {
    /// Upload OpenIOC 1.0 files (a folder: its *.ioc and *.ioc.xml files) to the filing
    /// cabinet and print each file's FileHashID. Every file is checked first; if one is
    /// unreadable, malformed, OpenIOC 1.1 or over 10 MB, nothing is uploaded.
    Upload(OpenIocUploadArgs),
    /// List the filing cabinet: hash id, date added, whether extracted, name.
    List,
    /// Delete files from the filing cabinet (the UDSO entries Apex extracted stay).
    Delete(OpenIocDeleteArgs),
}

#[derive(Debug, Args)]
pub struct OpenIocUploadArgs {
    /// OpenIOC 1.0 files or folders.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Then ask Apex to extract the uploaded files into the UDSO list, with --scan-action
    /// for every type (Apex logs what sits under an AND).
    #[arg(long)]
    pub extract: bool,
}

#[derive(Debug, Args)]
pub struct OpenIocDeleteArgs {
    /// FileHashIDs, as `openioc upload` and `openioc list` print them.
    #[arg(required = true, value_name = "HASHID")]
    pub hash_ids: Vec<String>,
}

#[derive(Debug, Args)]
pub struct UdsoListArgs {
    /// Only this type (default: ip, domain, url and file_sha1).
    #[arg(long = "type", value_enum)]
    pub kind: Option<IocKind>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only this type (default: every type the destination holds).
    #[arg(long = "type", value_enum, value_name = "TYPE")]
    pub kind: Option<IocTypeArg>,
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Loopback port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Loopback port of the simulated Lumu Defender (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    pub lumu_port: u16,
    /// Loopback port of the simulated TAXII 2.1 server (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    pub taxii_port: u16,
    /// Loopback port of the simulated Trend Vision One (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    pub v1_port: u16,
    /// Capacity of each UDSO type, as on a real server.
    #[arg(long, default_value_t = crate::sim::apex::DEFAULT_CAPACITY)]
    pub capacity: usize,
    /// Reject tokens whose `iat` is older than this many seconds (Apex's "Communication time-out").
    #[arg(long, default_value_t = 120, value_name = "SECS")]
    pub token_timeout: u64,
    /// Delay every Apex answer by this many milliseconds.
    #[arg(long, default_value_t = 0, value_name = "MS")]
    pub latency_ms: u64,
    /// Answer every N-th Apex request with 503 (0: never).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub fail_5xx_every: u64,
    /// Answer every N-th Apex request with 429 and Retry-After (0: never).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub fail_429_every: u64,
    /// The Retry-After of those 429 answers.
    #[arg(long, default_value_t = 1, value_name = "SECS")]
    pub retry_after: u64,
    /// Close the connection without an answer on every N-th Apex request (0: never).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub drop_every: u64,
    /// Match UDSO content case-insensitively, as an Apex Central on a case-insensitive
    /// database collation may (a put of `evil.example` updates a listed `Evil.Example`).
    #[arg(long)]
    pub case_insensitive_content: bool,
    /// Send every number in Apex answers as a string and empty optional texts as null, as
    /// some Apex Central versions do.
    #[arg(long)]
    pub string_numbers: bool,
    /// Serve HTTPS with this certificate chain (PEM) instead of HTTP; needs --tls-key.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM) for --tls-cert.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

/// Where log lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LoggingMode {
    /// Standard error.
    Screen,
    /// `apex-ioc-sync.log` (size-rotated) in $LOGS_DIRECTORY, else beside the config file, or --log-file.
    File,
}

/// Adversary types of Lumu incidents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AdversaryType {
    #[value(name = "C2C")]
    C2c,
    #[value(name = "Malware")]
    Malware,
    #[value(name = "DGA")]
    Dga,
    #[value(name = "Mining")]
    Mining,
    #[value(name = "Spam")]
    Spam,
    #[value(name = "Phishing")]
    Phishing,
}

/// Lumu incident statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum IncidentStatus {
    Open,
    Muted,
    Closed,
}

impl IncidentStatus {
    pub fn name(self) -> &'static str {
        match self {
            IncidentStatus::Open => "open",
            IncidentStatus::Muted => "muted",
            IncidentStatus::Closed => "closed",
        }
    }
}

impl AdversaryType {
    /// The name Lumu uses.
    pub fn name(self) -> &'static str {
        match self {
            AdversaryType::C2c => "C2C",
            AdversaryType::Malware => "Malware",
            AdversaryType::Dga => "DGA",
            AdversaryType::Mining => "Mining",
            AdversaryType::Spam => "Spam",
            AdversaryType::Phishing => "Phishing",
        }
    }
}

/// IOC types a job pushes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum)]
pub enum IocTypeArg {
    Ip,
    Domain,
    Url,
    /// SHA-1 file hashes (UDSO type `file_sha1`).
    Hash,
    /// SHA-256 file hashes (`file_sha256`). Apex's UDSO list cannot hold them: a run
    /// against Apex counts them as unsupported-by-destination.
    Sha256,
}

impl IocTypeArg {
    /// The kind of IOC this type names.
    pub fn kind(self) -> IocKind {
        match self {
            IocTypeArg::Ip => IocKind::Ip,
            IocTypeArg::Domain => IocKind::Domain,
            IocTypeArg::Url => IocKind::Url,
            IocTypeArg::Hash => IocKind::FileSha1,
            IocTypeArg::Sha256 => IocKind::FileSha256,
        }
    }
}

/// Where a sync job writes its IOCs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum SinkKind {
    /// Apex Central's User-Defined Suspicious Objects list.
    #[default]
    Apex,
    /// Trend Vision One's suspicious-object list.
    VisionOne,
}

impl SinkKind {
    /// The name `--sink` takes.
    pub fn name(self) -> &'static str {
        match self {
            SinkKind::Apex => "apex",
            SinkKind::VisionOne => "vision-one",
        }
    }
}

/// Where a sync job reads its IOCs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SourceKind {
    Lumu,
    Taxii,
    Openioc,
    File,
}

impl SourceKind {
    pub fn name(self) -> &'static str {
        match self {
            SourceKind::Lumu => "lumu",
            SourceKind::Taxii => "taxii",
            SourceKind::Openioc => "openioc",
            SourceKind::File => "file",
        }
    }
}

/// Options shared by the sync run and every subcommand. All are optional here so that the
/// `.config` file can supply them; `settings.rs` applies defaults and checks what is required.
#[derive(Debug, Clone, Default, Args)]
pub struct GlobalOpts {
    /// Read options from this file (default: ./.config when it exists).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    // --- The destination ---
    /// Where IOCs go: Apex Central's UDSO list or Trend Vision One's suspicious-object list [default: apex].
    #[arg(long, global = true, value_enum)]
    pub sink: Option<SinkKind>,

    // --- Apex Central ---
    /// Apex Central server: a host name (https assumed) or a URL with scheme and port.
    #[arg(long, global = true, value_name = "HOST|URL")]
    pub host: Option<String>,
    /// Application ID of the Automation API application.
    #[arg(
        long = "application-id",
        alias = "application_id",
        global = true,
        value_name = "ID"
    )]
    pub application_id: Option<String>,
    /// API key of the Automation API application.
    #[arg(
        long = "api-key",
        alias = "api_key",
        global = true,
        env = "APEX_API_KEY",
        hide_env_values = true,
        value_name = "KEY",
        value_parser = parse_secret
    )]
    pub api_key: Option<Secret>,
    /// Trust this CA certificate bundle (PEM) for Apex Central, besides the system's roots.
    /// Applies to Apex Central only (TAXII has --taxii-ca-cert).
    #[arg(long = "ca-cert", alias = "ca_cert", global = true, value_name = "PEM")]
    pub ca_cert: Option<PathBuf>,
    /// Do not verify Apex Central's TLS certificate (prints a warning; for lab use only).
    /// Applies to Apex Central only (TAXII has --taxii-insecure).
    #[arg(long, global = true)]
    pub insecure: bool,
    /// Seconds before one HTTP request times out [default: 60].
    #[arg(long, global = true, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: Option<u64>,

    // --- Trend Vision One ---
    /// Vision One region whose API host to use (--sink vision-one; or --v1-url).
    #[arg(
        long = "v1-region",
        alias = "v1_region",
        global = true,
        value_enum,
        value_name = "REGION"
    )]
    pub v1_region: Option<Region>,
    /// Vision One API base URL, scheme and host (instead of --v1-region; http only for loopback).
    #[arg(long = "v1-url", alias = "v1_url", global = true, value_name = "URL")]
    pub v1_url: Option<String>,
    /// Vision One API token (a Bearer token with "Suspicious Object Management").
    #[arg(
        long = "v1-token",
        alias = "v1_token",
        global = true,
        env = "V1_API_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN",
        value_parser = parse_secret
    )]
    pub v1_token: Option<Secret>,
    /// Risk level of the objects this job adds to Vision One [default: high].
    #[arg(long = "risk-level", alias = "risk_level", global = true, value_enum)]
    pub risk_level: Option<RiskLevel>,

    // --- Proxy ---
    /// HTTP proxy host (else HTTPS_PROXY / HTTP_PROXY / NO_PROXY from the environment).
    #[arg(
        long = "proxy-host",
        alias = "proxy_host",
        global = true,
        value_name = "HOST"
    )]
    pub proxy_host: Option<String>,
    /// HTTP proxy port [default: 8080].
    #[arg(
        long = "proxy-port",
        alias = "proxy_port",
        global = true,
        value_name = "PORT"
    )]
    pub proxy_port: Option<u16>,
    /// HTTP proxy user name.
    #[arg(
        long = "proxy-user",
        alias = "proxy_user",
        global = true,
        value_name = "USER"
    )]
    pub proxy_user: Option<String>,
    /// HTTP proxy password.
    #[arg(
        long = "proxy-password",
        alias = "proxy_password",
        global = true,
        env = "PROXY_PASSWORD",
        hide_env_values = true,
        value_name = "PASSWORD",
        value_parser = parse_secret
    )]
    pub proxy_password: Option<Secret>,

    // --- Logging ---
    /// Where log lines go [default: screen].
    #[arg(long, global = true, value_enum)]
    pub logging: Option<LoggingMode>,
    /// More detail in the log; twice for the most.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Log file for --logging file [default: apex-ioc-sync.log in $LOGS_DIRECTORY, else beside the config file, else here].
    #[arg(
        long = "log-file",
        alias = "log_file",
        global = true,
        value_name = "PATH"
    )]
    pub log_file: Option<PathBuf>,

    // --- The sync job ---
    /// Where IOCs come from [default: lumu].
    #[arg(long, global = true, value_enum)]
    pub source: Option<SourceKind>,
    /// Ownership tag written into the notes of every entry this job adds [default: the source name].
    #[arg(long, global = true, value_name = "NAME")]
    pub tag: Option<String>,
    /// IOC types to push; repeat or separate with commas [default: ip, domain, url].
    #[arg(long = "ioc-types", alias = "ioc_types", global = true, value_enum, num_args = 1.., value_delimiter = ',')]
    pub ioc_types: Vec<IocTypeArg>,
    /// Scan action for new entries [default: block].
    #[arg(long = "scan-action", alias = "scan_action", global = true, value_enum)]
    pub scan_action: Option<ScanAction>,
    /// Add entries without an expiration date.
    #[arg(
        long = "no-expiration-date",
        alias = "no_expiration_date",
        global = true
    )]
    pub no_expiration_date: bool,
    /// Days until an entry expires, renewed while its IOC stays in the source [default: 30].
    #[arg(
        long = "expiration-days",
        alias = "expiration_days",
        global = true,
        value_name = "N",
        value_parser = clap::value_parser!(u32).range(1..=3650)
    )]
    pub expiration_days: Option<u32>,
    /// Keep owned entries whose IOC left the source (add and update only).
    #[arg(long = "preserve-iocs", alias = "preserve_iocs", global = true)]
    pub preserve_iocs: bool,
    /// Remove every entry this job's tag owns (all types) and nothing else.
    #[arg(long, global = true)]
    pub clean: bool,
    /// Show the plan and write nothing.
    #[arg(long = "dry-run", alias = "dry_run", global = true)]
    pub dry_run: bool,
    /// Print the run's summary as JSON on standard output.
    #[arg(long, global = true)]
    pub json: bool,
    /// Lift the removal brake (a run that would remove more than half of what it owns).
    #[arg(long, global = true)]
    pub force: bool,
    /// Never push what this list matches: a plain list (IPv4 addresses and CIDR blocks,
    /// domains, URL prefixes, SHA-1s), a MISP warninglist (JSON), or a folder of them
    /// (*.txt, *.json); repeatable.
    #[arg(long, global = true, value_name = "PATH")]
    pub exclude: Vec<PathBuf>,
    /// Lift the built-in guard (private, loopback, multicast and other special-purpose
    /// IPv4 ranges; public suffixes; single-label and local names). --exclude lists still apply.
    #[arg(
        long = "no-default-exclusions",
        alias = "no_default_exclusions",
        global = true
    )]
    pub no_default_exclusions: bool,
    /// Run up to 20 writes at once (or --threads).
    #[arg(long, global = true)]
    pub threaded: bool,
    /// Writes at once [default: 4; 20 with --threaded].
    #[arg(long, global = true, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub threads: Option<u16>,
    /// Single-instance lock file [default: apex-ioc-sync-<tag>.lock in $STATE_DIRECTORY, else beside the config file, else here].
    #[arg(
        long = "lock-file",
        alias = "lock_file",
        global = true,
        value_name = "PATH"
    )]
    pub lock_file: Option<PathBuf>,
    /// At the end of every sync run, failed ones included, write the run's metrics to this
    /// file in the Prometheus text format, for node_exporter's or windows_exporter's
    /// textfile collector (name it *.prom; it is replaced whole, never half-written).
    #[arg(
        long = "metrics-file",
        alias = "metrics_file",
        global = true,
        value_name = "PATH"
    )]
    pub metrics_file: Option<PathBuf>,

    // --- Lumu source ---
    /// Lumu Defender company key.
    #[arg(
        long = "company-key",
        alias = "company_key",
        global = true,
        env = "LUMU_COMPANY_KEY",
        hide_env_values = true,
        value_name = "KEY",
        value_parser = parse_secret
    )]
    pub company_key: Option<Secret>,
    /// Lumu Defender API [default: https://defender.lumu.io].
    #[arg(
        long = "lumu-url",
        alias = "lumu_url",
        global = true,
        value_name = "URL"
    )]
    pub lumu_url: Option<String>,
    /// Incident adversary types to pull; repeat or separate with commas [default: all].
    #[arg(long = "adversary-types", alias = "adversary_types", global = true, value_enum, num_args = 1.., value_delimiter = ',')]
    pub adversary_types: Vec<AdversaryType>,
    /// Incident statuses to read; repeat or separate with commas [default: open].
    #[arg(long = "incident-status", alias = "incident_status", global = true, value_enum, num_args = 1.., value_delimiter = ',')]
    pub incident_status: Vec<IncidentStatus>,
    /// Days back from now to read: Lumu incidents, 1-30; a TAXII feed's first run, 1-3650 [default: 30].
    #[arg(long, global = true, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=i64::from(crate::source::taxii::MAX_DAYS)))]
    pub days: Option<u32>,
    /// Incident contexts read at most in one run, 0-10000; the others wait for later runs [default: 1000].
    #[arg(
        long = "max-context-calls",
        alias = "max_context_calls",
        global = true,
        value_name = "N",
        value_parser = clap::value_parser!(u32).range(0..=10_000)
    )]
    pub max_context_calls: Option<u32>,
    /// Minutes the whole run may take (decimals allowed); past them, reading Lumu stops and the run syncs what it has [default: 25].
    #[arg(
        long = "max-run-minutes",
        alias = "max_run_minutes",
        global = true,
        value_name = "MINUTES",
        value_parser = parse_minutes
    )]
    pub max_run_minutes: Option<f64>,

    // --- TAXII source ---
    /// TAXII 2.1 discovery URL or API root.
    #[arg(
        long = "taxii-url",
        alias = "taxii_url",
        global = true,
        value_name = "URL"
    )]
    pub taxii_url: Option<String>,
    /// Collection id, alias or title; repeatable [default: every readable collection].
    #[arg(
        long = "taxii-collection",
        alias = "taxii_collection",
        global = true,
        value_name = "ID"
    )]
    pub taxii_collection: Vec<String>,
    /// Bearer token for the TAXII server.
    #[arg(
        long = "taxii-token",
        alias = "taxii_token",
        global = true,
        env = "TAXII_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN",
        value_parser = parse_secret
    )]
    pub taxii_token: Option<Secret>,
    /// User for HTTP Basic authentication to the TAXII server.
    #[arg(
        long = "taxii-user",
        alias = "taxii_user",
        global = true,
        value_name = "USER"
    )]
    pub taxii_user: Option<String>,
    /// Password for --taxii-user.
    #[arg(
        long = "taxii-password",
        alias = "taxii_password",
        global = true,
        env = "TAXII_PASSWORD",
        hide_env_values = true,
        value_name = "PASSWORD",
        value_parser = parse_secret
    )]
    pub taxii_password: Option<Secret>,
    /// Trust this CA certificate bundle (PEM) for the TAXII server, besides the system's roots.
    #[arg(
        long = "taxii-ca-cert",
        alias = "taxii_ca_cert",
        global = true,
        value_name = "PEM"
    )]
    pub taxii_ca_cert: Option<PathBuf>,
    /// Do not verify the TAXII server's TLS certificate (prints a warning; for lab use only).
    #[arg(long = "taxii-insecure", alias = "taxii_insecure", global = true)]
    pub taxii_insecure: bool,
    /// Objects a TAXII page, 1-10000 [default: 1000].
    #[arg(
        long = "taxii-page-size",
        alias = "taxii_page_size",
        global = true,
        value_name = "N",
        value_parser = clap::value_parser!(u32).range(1..=10_000)
    )]
    pub taxii_page_size: Option<u32>,
    /// Skip STIX indicators (TAXII, and bundles of --source file) whose confidence is below N, 0-100; one without a confidence passes.
    #[arg(
        long = "min-confidence",
        alias = "min_confidence",
        global = true,
        value_name = "N",
        value_parser = clap::value_parser!(u8).range(0..=100)
    )]
    pub min_confidence: Option<u8>,
    /// State of incremental sources [default: apex-ioc-sync-<tag>.db in $STATE_DIRECTORY, else beside the config file, else here].
    #[arg(
        long = "state-file",
        alias = "state_file",
        global = true,
        value_name = "PATH"
    )]
    pub state_file: Option<PathBuf>,

    // --- File sources ---
    /// Input file or folder for --source openioc and --source file; repeatable.
    #[arg(long, global = true, value_name = "PATH")]
    pub file: Vec<PathBuf>,
}

/// Minutes, more than 0 and at most a day; decimals allowed (`0.5`).
fn parse_minutes(value: &str) -> Result<f64, String> {
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
