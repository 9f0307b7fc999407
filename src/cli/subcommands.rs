//! The subcommands' own arguments: what each takes besides the option groups it flattens.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use super::options::parse_minutes;
use super::{
    ApexOpts, ConfigOpt, DEFAULT_LONG_POLL_SECS, DEFAULT_POLL_SECS, DEFAULT_RECONCILE_MINUTES,
    DestinationOpts, ExclusionOpts, ExplainPicks, HistoryPicks, HttpOpts, IocTypeArg, LoggingOpts,
    Options, OutputOpts, Picked, RollbackPicks, ScanActionOpt, VisionOneOpts, heading,
};
use crate::ioc::IocKind;

/// A time for `history --since`: an RFC 3339 time, a date (midnight UTC), or a span back
/// from now (`30m`, `24h`, `7d`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    At(chrono::DateTime<chrono::Utc>),
    Ago(chrono::Duration),
}

impl Since {
    /// The time this names, `now` being now.
    pub fn at(self, now: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
        match self {
            Since::At(at) => at,
            Since::Ago(span) => now - span,
        }
    }
}

fn parse_since(value: &str) -> Result<Since, String> {
    let value = value.trim();
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(value) {
        return Ok(Since::At(at.with_timezone(&chrono::Utc)));
    }
    if let Ok(day) = chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        return Ok(Since::At(day.and_time(chrono::NaiveTime::MIN).and_utc()));
    }
    let unit_at = value.len().saturating_sub(1);
    let (number, unit) = value.split_at(unit_at);
    let span = number
        .parse::<i64>()
        .ok()
        .filter(|n| *n >= 0)
        .and_then(|n| match unit {
            "m" => chrono::Duration::try_minutes(n),
            "h" => chrono::Duration::try_hours(n),
            "d" => chrono::Duration::try_days(n),
            _ => None,
        });
    span.map(Since::Ago).ok_or_else(|| {
        "expected a time (2026-12-06T20:00:00Z), a date (2026-12-06) or a span back from now (30m, 24h, 7d)".to_owned()
    })
}

/// `history [RUN-ID]`.
#[derive(Debug, Clone, Args)]
pub struct HistoryArgs {
    /// A run's id, as history lists it: print that run's writes instead of the runs.
    #[arg(value_name = "RUN-ID", verbatim_doc_comment)]
    pub run: Option<String>,
    /// Only runs that started at or after this: a time (2026-12-06T20:00:00Z), a date (2026-12-06) or a span back from now (30m, 24h, 7d).
    #[arg(long, value_name = "WHEN", value_parser = parse_since, verbatim_doc_comment)]
    pub since: Option<Since>,
    #[command(flatten)]
    pub config: ConfigOpt,
    #[command(flatten)]
    pub picked: Picked<HistoryPicks>,
    #[command(flatten)]
    pub output: OutputOpts,
    #[command(flatten)]
    pub logging: LoggingOpts,
}

/// `explain IOC`.
#[derive(Debug, Clone, Args)]
pub struct ExplainArgs {
    /// The IOC, in any spelling: an IPv4 address, a domain, a URL, a SHA-1 or SHA-256, defanged or not (hxxp://Evil[.]Example/).
    #[arg(value_name = "IOC", verbatim_doc_comment)]
    pub ioc: String,
    #[command(flatten)]
    pub config: ConfigOpt,
    #[command(flatten)]
    pub destination: DestinationOpts,
    #[command(flatten)]
    pub apex: ApexOpts,
    #[command(flatten)]
    pub vision_one: VisionOneOpts,
    #[command(flatten)]
    pub picked: Picked<ExplainPicks>,
    #[command(flatten)]
    pub exclusions: ExclusionOpts,
    #[command(flatten)]
    pub http: HttpOpts,
    #[command(flatten)]
    pub output: OutputOpts,
    #[command(flatten)]
    pub logging: LoggingOpts,
}

/// `rollback RUN-ID`.
#[derive(Debug, Clone, Args)]
pub struct RollbackArgs {
    /// The id of the run to undo, as history lists it.
    #[arg(value_name = "RUN-ID", verbatim_doc_comment)]
    pub run: String,
    #[command(flatten)]
    pub config: ConfigOpt,
    #[command(flatten)]
    pub destination: DestinationOpts,
    #[command(flatten)]
    pub apex: ApexOpts,
    #[command(flatten)]
    pub vision_one: VisionOneOpts,
    #[command(flatten)]
    pub picked: Picked<RollbackPicks>,
    #[command(flatten)]
    pub exclusions: ExclusionOpts,
    #[command(flatten)]
    pub http: HttpOpts,
    #[command(flatten)]
    pub output: OutputOpts,
    #[command(flatten)]
    pub logging: LoggingOpts,
}

#[derive(Debug, Subcommand)]
pub enum UdsoCommand {
    /// Print the UDSO list with Apex Central's own type names, marking the entries that carry an apex-ioc-sync ownership tag.
    #[command(verbatim_doc_comment, args_override_self = true)]
    List(UdsoListArgs),
}

#[derive(Debug, Subcommand)]
pub enum OpenIocCommand {
    /// Upload OpenIOC 1.0 files to the filing cabinet and print each file's FileHashID.
    ///
    /// Every file is checked first: if one is unreadable, malformed, OpenIOC 1.1 or over 10 MB, nothing is uploaded.
    #[command(verbatim_doc_comment, args_override_self = true)]
    Upload(OpenIocUploadArgs),
    /// List the filing cabinet: hash ID, date added, whether extracted, name.
    #[command(verbatim_doc_comment, args_override_self = true)]
    List(ApexCommandArgs),
    /// Delete files from the filing cabinet; the UDSO entries Apex Central extracted from them stay.
    #[command(verbatim_doc_comment, args_override_self = true)]
    Delete(OpenIocDeleteArgs),
}

/// `help [COMMAND]...`.
#[derive(Debug, Clone, Args)]
pub struct HelpArgs {
    /// The command whose help to print, such as udso list.
    #[arg(value_name = "COMMAND", verbatim_doc_comment)]
    pub command: Vec<String>,
}

/// `completions SHELL`.
#[derive(Debug, Clone, Args)]
pub struct CompletionsArgs {
    /// The shell the script is for.
    #[arg(value_enum, verbatim_doc_comment)]
    pub shell: Shell,
}

/// The shells `completions` writes a script for (clap_complete's generators).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    /// Bash 4 or newer.
    #[value(verbatim_doc_comment)]
    Bash,
    /// Zsh.
    #[value(verbatim_doc_comment)]
    Zsh,
    /// Fish.
    #[value(verbatim_doc_comment)]
    Fish,
    /// PowerShell 5.1 or newer.
    #[value(verbatim_doc_comment)]
    Powershell,
}

/// `list`: the destination's list.
#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// Only this type. Default: every type the destination holds.
    #[arg(long = "type", value_enum, value_name = "TYPE", verbatim_doc_comment)]
    pub kind: Option<IocTypeArg>,
    #[command(flatten)]
    pub config: ConfigOpt,
    #[command(flatten)]
    pub destination: DestinationOpts,
    #[command(flatten)]
    pub apex: ApexOpts,
    #[command(flatten)]
    pub vision_one: VisionOneOpts,
    #[command(flatten)]
    pub http: HttpOpts,
    #[command(flatten)]
    pub output: OutputOpts,
    #[command(flatten)]
    pub logging: LoggingOpts,
}

/// The options of a command of Apex Central's own API (`udso list`, `openioc ...`).
#[derive(Debug, Clone, Args)]
pub struct ApexCommandArgs {
    #[command(flatten)]
    pub config: ConfigOpt,
    #[command(flatten)]
    pub apex: ApexOpts,
    #[command(flatten)]
    pub http: HttpOpts,
    #[command(flatten)]
    pub output: OutputOpts,
    #[command(flatten)]
    pub logging: LoggingOpts,
}

impl ApexCommandArgs {
    /// These groups in the merged view, the others at their defaults.
    pub(super) fn options(&self) -> Options {
        Options {
            config: self.config.clone(),
            apex: self.apex.clone(),
            http: self.http.clone(),
            output: self.output.clone(),
            logging: self.logging.clone(),
            ..Options::default()
        }
    }
}

/// `udso list`.
#[derive(Debug, Clone, Args)]
pub struct UdsoListArgs {
    /// Only this UDSO type. Default: every type in the list of possible values.
    #[arg(long = "type", value_enum, value_name = "TYPE", verbatim_doc_comment)]
    pub kind: Option<IocKind>,
    #[command(flatten)]
    pub apex: ApexCommandArgs,
}

/// `openioc upload`.
#[derive(Debug, Clone, Args)]
pub struct OpenIocUploadArgs {
    /// OpenIOC 1.0 files, or folders whose *.ioc and *.ioc.xml files to upload.
    #[arg(required = true, value_name = "FILE", verbatim_doc_comment)]
    pub files: Vec<PathBuf>,
    /// Then have Apex Central extract the uploaded files into the UDSO list, with --scan-action for every type (Apex Central logs what sits under an AND).
    #[arg(long, verbatim_doc_comment)]
    pub extract: bool,
    #[command(flatten)]
    pub action: ScanActionOpt,
    #[command(flatten)]
    pub apex: ApexCommandArgs,
}

/// `openioc delete`.
#[derive(Debug, Clone, Args)]
pub struct OpenIocDeleteArgs {
    /// FileHashIDs of the files to delete, as openioc upload and openioc list print them.
    #[arg(required = true, value_name = "HASHID", verbatim_doc_comment)]
    pub hash_ids: Vec<String>,
    #[command(flatten)]
    pub apex: ApexCommandArgs,
}

/// `watch`: the sync job's options, and its own.
#[derive(Debug, Clone, Args)]
pub struct WatchArgs {
    #[command(flatten)]
    pub job: Options,
    #[command(flatten)]
    pub watch: WatchOpts,
}

/// How `watch` follows its source.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = heading::WATCH)]
pub struct WatchOpts {
    /// Minutes between two full syncs while watching Lumu, which correct what the incident stream missed; more than 0 and at most 1440, decimals allowed.
    #[arg(
        long = "reconcile-minutes",
        alias = "reconcile_minutes",
        value_name = "MINUTES",
        default_value_t = DEFAULT_RECONCILE_MINUTES,
        value_parser = parse_minutes,
        verbatim_doc_comment
    )]
    pub reconcile_minutes: f64,
    /// Seconds each call to Lumu's incident stream waits for an event (its long poll), 1-300; also the shortest time between two calls that bring none.
    #[arg(
        long = "long-poll-seconds",
        alias = "long_poll_seconds",
        value_name = "SECS",
        default_value_t = DEFAULT_LONG_POLL_SECS,
        value_parser = clap::value_parser!(u64).range(1..=300),
        verbatim_doc_comment
    )]
    pub long_poll_seconds: u64,
    /// Seconds between two full reads of a source other than Lumu (TAXII, files), 1-86400.
    #[arg(
        long = "poll-seconds",
        alias = "poll_seconds",
        value_name = "SECS",
        default_value_t = DEFAULT_POLL_SECS,
        value_parser = clap::value_parser!(u64).range(1..=86_400),
        verbatim_doc_comment
    )]
    pub poll_seconds: u64,
}

/// `demo`.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    #[command(flatten)]
    pub destination: DestinationOpts,
}

/// `simulate`.
#[derive(Debug, Clone, Args)]
pub struct SimulateArgs {
    /// Loopback port of the simulated Apex Central; 0 picks a free one.
    #[arg(long, default_value_t = 0, verbatim_doc_comment)]
    pub port: u16,
    /// Loopback port of the simulated Lumu Defender; 0 picks a free one.
    #[arg(long, default_value_t = 0, verbatim_doc_comment)]
    pub lumu_port: u16,
    /// Loopback port of the simulated TAXII 2.1 server; 0 picks a free one.
    #[arg(long, default_value_t = 0, verbatim_doc_comment)]
    pub taxii_port: u16,
    /// Loopback port of the simulated Trend Vision One; 0 picks a free one.
    #[arg(long, default_value_t = 0, verbatim_doc_comment)]
    pub v1_port: u16,
    /// Entries each UDSO type holds, as on a real server.
    #[arg(long, default_value_t = crate::sim::apex::DEFAULT_CAPACITY, verbatim_doc_comment)]
    pub capacity: usize,
    /// Seconds a token's iat may be away from the server's clock before the token is refused (Apex Central's Communication time-out).
    #[arg(
        long,
        default_value_t = crate::sim::apex::DEFAULT_TOKEN_TIMEOUT_SECS,
        value_name = "SECS",
        verbatim_doc_comment
    )]
    pub token_timeout: u64,
    /// Milliseconds to delay every Apex Central answer by.
    #[arg(long, default_value_t = 0, value_name = "MS", verbatim_doc_comment)]
    pub latency_ms: u64,
    /// Answer every N-th Apex Central request with 503; 0 never does.
    #[arg(long, default_value_t = 0, value_name = "N", verbatim_doc_comment)]
    pub fail_5xx_every: u64,
    /// Answer every N-th Apex Central request with 429 and a Retry-After; 0 never does.
    #[arg(long, default_value_t = 0, value_name = "N", verbatim_doc_comment)]
    pub fail_429_every: u64,
    /// Seconds of the Retry-After of those 429 answers.
    #[arg(long, default_value_t = 1, value_name = "SECS", verbatim_doc_comment)]
    pub retry_after: u64,
    /// Close the connection without an answer on every N-th Apex Central request; 0 never does.
    #[arg(long, default_value_t = 0, value_name = "N", verbatim_doc_comment)]
    pub drop_every: u64,
    /// Match UDSO content case-insensitively, as an Apex Central on a case-insensitive database collation may (a put of evil.example updates a listed Evil.Example).
    #[arg(long, verbatim_doc_comment)]
    pub case_insensitive_content: bool,
    /// Send every number in Apex Central's answers as a string and empty optional texts as null, as some Apex Central versions do.
    #[arg(long, verbatim_doc_comment)]
    pub string_numbers: bool,
    /// Serve HTTPS with this certificate chain (PEM) instead of HTTP; needs --tls-key.
    #[arg(long, value_name = "PEM", requires = "tls_key", verbatim_doc_comment)]
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM) of --tls-cert.
    #[arg(long, value_name = "PEM", requires = "tls_cert", verbatim_doc_comment)]
    pub tls_key: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_a_time_a_date_or_a_span() {
        let now: chrono::DateTime<chrono::Utc> = "2026-12-06T20:00:00Z".parse().unwrap();
        let at = |s: &str| parse_since(s).map(|s| s.at(now).to_rfc3339());
        assert_eq!(
            at("2026-12-01T10:00:00Z").unwrap(),
            "2026-12-01T10:00:00+00:00"
        );
        assert_eq!(at("2026-12-01").unwrap(), "2026-12-01T00:00:00+00:00");
        assert_eq!(at("24h").unwrap(), "2026-12-05T20:00:00+00:00");
        assert_eq!(at("7d").unwrap(), "2026-11-29T20:00:00+00:00");
        assert_eq!(at("30m").unwrap(), "2026-12-06T19:30:00+00:00");
        for bad in ["", "yesterday", "-3d", "3w", "h"] {
            assert!(parse_since(bad).is_err(), "{bad}");
        }
    }
}
