//! Command-line definitions. Every option is defined here once, with its documentation and
//! its default; the `.config` file is validated against these same definitions (see
//! `config.rs`).
//!
//! The options come in groups (`#[derive(Args)]` structs, each under its own help heading),
//! and each command flattens the groups that apply to it: the sync job (the run without a
//! subcommand) takes every group, `udso list` takes Apex Central, Proxy and HTTP, Output and
//! Logging, and so on. An option goes after the command it belongs to, as with cargo
//! (`apex-ioc-sync udso list --host ...`); one written before a subcommand's name is the sync
//! job's, a usage error there ([`check_before_subcommand`]).
//!
//! Whatever the command, the options become one merged view, [`Options`]: the sync job's
//! groups, where a command that lacks a group has that group's defaults ([`Cli::options`]).
//!
//! Flags of Lumu's `lumu_apex_ioc.py` are accepted in both spellings (`--company-key` and
//! `--company_key`); the snake spelling is a hidden alias.
//!
//! Help texts are full sentences. clap's derive drops the last period of a one-paragraph doc
//! comment, so every documented argument carries `verbatim_doc_comment` and its help stays on
//! one line of the doc comment; a help that names a constant is built with `help = format!`.

use std::collections::BTreeSet;
use std::path::PathBuf;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::parser::ValueSource;
use clap::{
    Arg, ArgAction, ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum,
};

use crate::ioc::IocKind;
use crate::logging::LOG_FILE_NAME;
use crate::model::ScanAction;
use crate::secret::Secret;
use crate::sink::vision_one::{Region, RiskLevel};
use crate::source::lumu::DEFAULT_MAX_CONTEXT_CALLS;
use crate::source::taxii::{DEFAULT_PAGE_SIZE, MAX_DAYS};
use crate::state::journal::DEFAULT_JOURNAL_DAYS;
use crate::sync::plan::ADD_BRAKE_MIN_ADDS;

// The defaults of the options. Each is given to clap (`default_value_t`), so `--help` shows
// it and the code reads the parsed value; none is repeated in a help text.

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

/// The help headings the option groups appear under, in the order `--help` shows them.
pub mod heading {
    pub const DESTINATION: &str = "Destination";
    pub const APEX: &str = "Apex Central";
    pub const VISION_ONE: &str = "Vision One";
    pub const LUMU: &str = "Lumu";
    pub const TAXII: &str = "TAXII";
    pub const FILES: &str = "Files";
    pub const SYNC: &str = "Sync";
    pub const EXCLUSIONS: &str = "Exclusions";
    pub const HTTP: &str = "Proxy and HTTP";
    pub const OUTPUT: &str = "Output";
    pub const METRICS: &str = "Metrics";
    pub const LOGGING: &str = "Logging";
    pub const WATCH: &str = "Watch";
}

/// The program's name, as usage lines and error messages show it.
pub const PROGRAM: &str = "apex-ioc-sync";

/// The command line: the sync job's options, or a subcommand with its own.
#[derive(Debug, Parser)]
#[command(
    name = PROGRAM,
    version,
    about = "Push indicators of compromise into Trend Micro Apex Central's User-Defined Suspicious Objects list or Trend Vision One's suspicious-object list.",
    long_about = "Push indicators of compromise (IPs, domains, URLs, SHA-1 and SHA-256 hashes) into Trend \
Micro Apex Central's User-Defined Suspicious Objects (UDSO) list (--sink apex, the default) or Trend \
Vision One's suspicious-object list (--sink vision-one), and keep the entries this job owns equal \
to its source.\n\nWithout a subcommand, apex-ioc-sync runs the sync job and takes the options below. \
A subcommand takes only the options that apply to it, written after its name \
(apex-ioc-sync udso list --host ...); see its --help.\n\nOptions can also come from a .config file \
(one name=value a line, see --config); the command line wins over the environment, which wins over \
the file. Every option that Lumu's script spells with '_' is accepted in that spelling too.",
    after_help = "Exit codes: 0 done, 1 failed, 2 usage or config error, 3 another instance running, \
4 some writes failed, 5 a brake engaged (removal or add), 6 deadline reached with writes left for the next run.",
    args_override_self = true,
    disable_help_flag = true,
    disable_version_flag = true,
    disable_help_subcommand = true
)]
pub struct Cli {
    // The sync job's options (also the merged view of every command's options).
    #[command(flatten)]
    pub sync: Options,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the destination's list (--sink apex or vision-one), marking the entries that carry an apex-ioc-sync ownership tag.
    #[command(verbatim_doc_comment, args_override_self = true)]
    List(ListArgs),
    /// Show Apex Central's User-Defined Suspicious Objects list as Apex Central lists it.
    #[command(subcommand, verbatim_doc_comment)]
    Udso(UdsoCommand),
    /// Apex Central's own OpenIOC path: upload files to its filing cabinet, have Apex Central extract them into the UDSO list, list and delete the cabinet's files.
    ///
    /// These commands act at once. To see what a sync of the same files would write, run apex-ioc-sync --source openioc --file PATH --dry-run.
    #[command(subcommand, verbatim_doc_comment)]
    Openioc(OpenIocCommand),
    /// Serve a simulated Apex Central, Lumu Defender, TAXII server and Vision One on loopback, for rehearsals.
    #[command(verbatim_doc_comment, args_override_self = true)]
    Simulate(SimulateArgs),
    /// Run as a service: follow Lumu's incident stream and push a new incident's IOCs within seconds, with a full sync every --reconcile-minutes; other sources are read in full every --poll-seconds.
    ///
    /// Takes the sync job's options and .config file, and holds the job's lock until it stops (SIGTERM or Ctrl-C: exit 0), so a scheduled sync job of the same tag exits 3 meanwhile.
    #[command(verbatim_doc_comment, args_override_self = true)]
    Watch(Box<WatchArgs>),
    /// Run three real syncs against a simulated Lumu Defender and a simulated Apex Central (or Vision One) on loopback: a first push, a changed incident set, an unchanged one.
    ///
    /// Needs no credentials and no network.
    #[command(verbatim_doc_comment, args_override_self = true)]
    Demo(DemoArgs),
    /// Show the job's journal: its runs, newest first, one line each, or with a RUN-ID the writes of that run.
    #[command(verbatim_doc_comment, args_override_self = true)]
    History(HistoryArgs),
    /// Explain why an IOC is, or is not, on the destination's list: its normal form, whether an exclusion list or the guard holds it back, what the list holds now, and for each job of the state file what its source wanted at its last run and the journal's writes of it.
    ///
    /// No source is read: what a source wants is as the job's last run stored it (run the job with --dry-run to see the source now).
    #[command(verbatim_doc_comment, args_override_self = true)]
    Explain(ExplainArgs),
    /// Undo a run's writes on the destination: remove what it added, re-add what it removed (with its notes, scan action and expiry), restore what it updated; only entries still as the run left them are touched.
    ///
    /// The plan is printed first; the removal brakes and the ownership rules apply, and the rollback is itself a run in the journal. The next run of the job pushes again what its source still wants, unless --hold keeps it off.
    #[command(verbatim_doc_comment, args_override_self = true)]
    Rollback(RollbackArgs),
    /// Print the help of the program, or of the command named (help udso list).
    #[command(verbatim_doc_comment)]
    Help(HelpArgs),
    /// Print the manual page (roff, from the same definitions as --help): apex-ioc-sync man > apex-ioc-sync.1.
    #[command(verbatim_doc_comment)]
    Man,
    /// Print a completion script for a shell: bash, zsh, fish or powershell (see the README for where it goes).
    #[command(verbatim_doc_comment)]
    Completions(CompletionsArgs),
}

/// Options of the sync job that a journal command (`history`, `explain`, `rollback`) takes
/// too, picked by id from the sync job's own definitions (help, aliases, defaults, `.config`
/// names), so that one `.config` drives a job and its journal and no option is defined
/// twice. Each command takes the ids of its `IDS`.
pub trait PickedOptions {
    /// The arg ids picked (`tag`, `state_file`, ...).
    const IDS: &'static [&'static str];
}

/// The sync job's options of `P::IDS`, as the merged view's values (the others at their
/// defaults).
#[derive(Debug, Clone)]
pub struct Picked<P> {
    pub options: Options,
    _ids: std::marker::PhantomData<P>,
}

impl<P: PickedOptions> Args for Picked<P> {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        // The sync job's definitions, each with the help heading of its group.
        let all = Options::augment_args(clap::Command::new(PROGRAM));
        all.get_arguments()
            .filter(|a| P::IDS.contains(&a.get_id().as_str()))
            .fold(cmd, |cmd, a| cmd.arg(a.clone()))
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

impl<P: PickedOptions> FromArgMatches for Picked<P> {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        let mut o = Options::default();
        for &id in P::IDS {
            match id {
                "source" => o.sync.source = *m.get_one("source").expect("a default"),
                "tag" => o.sync.tag = m.get_one("tag").cloned(),
                "ioc_types" => {
                    o.sync.ioc_types = m
                        .get_many("ioc_types")
                        .expect("a default")
                        .copied()
                        .collect();
                }
                "state_file" => o.sync.state_file = m.get_one("state_file").cloned(),
                "lock_file" => o.sync.lock_file = m.get_one("lock_file").cloned(),
                "dry_run" => o.sync.dry_run = m.get_flag("dry_run"),
                "force" => o.sync.force = m.get_flag("force"),
                "threaded" => o.sync.threaded = m.get_flag("threaded"),
                "threads" => o.sync.threads = m.get_one("threads").copied(),
                "risk_level" => o.risk_level = *m.get_one("risk_level").expect("a default"),
                other => unreachable!("no pick of `{other}`"),
            }
        }
        Ok(Picked {
            options: o,
            _ids: std::marker::PhantomData,
        })
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

/// `history`'s picks: the job's state file (`--state-file`, else by `--tag` or `--source`).
#[derive(Debug, Clone)]
pub struct HistoryPicks;
impl PickedOptions for HistoryPicks {
    const IDS: &'static [&'static str] = &["source", "tag", "state_file"];
}

/// `explain`'s picks: the job's state file, and the types it pushes.
#[derive(Debug, Clone)]
pub struct ExplainPicks;
impl PickedOptions for ExplainPicks {
    const IDS: &'static [&'static str] = &["source", "tag", "ioc_types", "state_file"];
}

/// `rollback`'s picks: the job's state and lock files, the rehearsal, the brakes, the
/// writes at once, and Vision One's risk level for what it re-adds.
#[derive(Debug, Clone)]
pub struct RollbackPicks;
impl PickedOptions for RollbackPicks {
    const IDS: &'static [&'static str] = &[
        "risk_level",
        "source",
        "tag",
        "dry_run",
        "force",
        "threaded",
        "threads",
        "state_file",
        "lock_file",
    ];
}

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
    fn options(&self) -> Options {
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

/// Where log lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LoggingMode {
    /// Standard error.
    #[value(verbatim_doc_comment)]
    Screen,
    /// The log file (size-rotated): --log-file, else apex-ioc-sync.log in $LOGS_DIRECTORY, else beside the config file, else in the current folder.
    #[value(verbatim_doc_comment)]
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
    #[value(verbatim_doc_comment)]
    Hash,
    /// SHA-256 file hashes (`file_sha256`), which Apex's UDSO list cannot hold: a run against Apex counts them as unsupported-by-destination.
    #[value(verbatim_doc_comment)]
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
    #[value(verbatim_doc_comment)]
    #[default]
    Apex,
    /// Trend Vision One's suspicious-object list.
    #[value(verbatim_doc_comment)]
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
    /// Lumu Defender's incidents.
    #[value(verbatim_doc_comment)]
    Lumu,
    /// A TAXII 2.1 feed.
    #[value(verbatim_doc_comment)]
    Taxii,
    /// OpenIOC files (--file).
    #[value(verbatim_doc_comment)]
    Openioc,
    /// STIX 2.1 bundles or plain IOC lists (--file).
    #[value(verbatim_doc_comment)]
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

/// Every option of the sync job (the run without a subcommand), by group; and the merged
/// view of any command's options, where a command that lacks a group has that group's
/// defaults (see [`Cli::options`]).
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
    /// Lift the brakes: a run that would remove more than half of what its tag owns, leave less than half of the most it owned within the last 24 hours, or add more than --max-adds entries and more than 3 times what it owns, goes ahead.
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

impl Cli {
    /// This command's options as the one merged view: its groups as given, the groups it
    /// lacks at their defaults. (`given` is filled in by `config::parse_with_config`.)
    pub fn options(&self) -> Options {
        match &self.command {
            None => self.sync.clone(),
            Some(Command::List(a)) => Options {
                config: a.config.clone(),
                destination: a.destination.clone(),
                apex: a.apex.clone(),
                vision_one: a.vision_one.clone(),
                http: a.http.clone(),
                output: a.output.clone(),
                logging: a.logging.clone(),
                ..Options::default()
            },
            Some(Command::Udso(UdsoCommand::List(a))) => a.apex.options(),
            Some(Command::Openioc(OpenIocCommand::Upload(a))) => Options {
                sync: SyncOpts {
                    action: a.action.clone(),
                    ..SyncOpts::default()
                },
                ..a.apex.options()
            },
            Some(Command::Openioc(OpenIocCommand::List(a))) => a.options(),
            Some(Command::Openioc(OpenIocCommand::Delete(a))) => a.apex.options(),
            Some(Command::Watch(a)) => a.job.clone(),
            Some(Command::Demo(a)) => Options {
                destination: a.destination.clone(),
                ..Options::default()
            },
            Some(Command::History(a)) => Options {
                config: a.config.clone(),
                output: a.output.clone(),
                logging: a.logging.clone(),
                ..a.picked.options.clone()
            },
            Some(Command::Explain(a)) => Options {
                config: a.config.clone(),
                destination: a.destination.clone(),
                apex: a.apex.clone(),
                vision_one: a.vision_one.clone(),
                exclusions: a.exclusions.clone(),
                http: a.http.clone(),
                output: a.output.clone(),
                logging: a.logging.clone(),
                ..a.picked.options.clone()
            },
            Some(Command::Rollback(a)) => Options {
                config: a.config.clone(),
                destination: a.destination.clone(),
                apex: a.apex.clone(),
                vision_one: a.vision_one.clone(),
                exclusions: a.exclusions.clone(),
                http: a.http.clone(),
                output: a.output.clone(),
                logging: a.logging.clone(),
                ..a.picked.options.clone()
            },
            Some(
                Command::Simulate(_) | Command::Help(_) | Command::Man | Command::Completions(_),
            ) => Options::default(),
        }
    }

    /// `Some(--config)` for a command that reads the job's `.config` file (`Some(None)`:
    /// `./.config` when it exists), `None` for one that reads none (`simulate`, `demo`,
    /// `help`).
    pub fn config_option(&self) -> Option<Option<&PathBuf>> {
        let config = match &self.command {
            None => &self.sync.config,
            Some(Command::List(a)) => &a.config,
            Some(Command::Udso(UdsoCommand::List(a))) => &a.apex.config,
            Some(Command::Openioc(OpenIocCommand::Upload(a))) => &a.apex.config,
            Some(Command::Openioc(OpenIocCommand::List(a))) => &a.config,
            Some(Command::Openioc(OpenIocCommand::Delete(a))) => &a.apex.config,
            Some(Command::History(a)) => &a.config,
            Some(Command::Explain(a)) => &a.config,
            Some(Command::Rollback(a)) => &a.config,
            Some(Command::Watch(a)) => &a.job.config,
            Some(
                Command::Simulate(_)
                | Command::Demo(_)
                | Command::Help(_)
                | Command::Man
                | Command::Completions(_),
            ) => return None,
        };
        Some(config.config.as_ref())
    }
}

/// The command-line definition: the derived one, with a help flag on every command and a
/// version flag on the program whose texts are sentences like the others (clap's own say
/// "Print help"). Parse with this, never with `Cli::command()`.
pub fn command() -> clap::Command {
    let version = Arg::new("version")
        .short('V')
        .long("version")
        .action(ArgAction::Version)
        .help("Print the version.")
        .help_heading(None::<&str>);
    // One program name in every usage line, whatever the file is called (`apex-ioc-sync.exe`
    // on Windows): the hints this module writes name `apex-ioc-sync` too.
    with_help_flags(Cli::command().bin_name(PROGRAM).arg(version))
}

fn with_help_flags(command: clap::Command) -> clap::Command {
    let help = Arg::new("help")
        .short('h')
        .long("help")
        .action(ArgAction::Help)
        .help("Print help: a summary with -h, all of it with --help.")
        .help_heading(None::<&str>);
    command.arg(help).mut_subcommands(with_help_flags)
}

/// The subcommand path of `matches` (`["udso", "list"]`; empty for the sync job) and the
/// matches of its last command.
pub fn leaf(matches: &ArgMatches) -> (Vec<String>, &ArgMatches) {
    let mut path = Vec::new();
    let mut current = matches;
    while let Some((name, sub)) = current.subcommand() {
        path.push(name.to_owned());
        current = sub;
    }
    (path, current)
}

/// The command `path` names below `command`.
pub fn find_command<'a>(command: &'a clap::Command, path: &[String]) -> Option<&'a clap::Command> {
    path.iter()
        .try_fold(command, |c, name| c.find_subcommand(name))
}

/// The ids of the options of `command` that `matches` (its matches) holds from the command
/// line, and so from a `.config` file, whose entries are merged in as arguments. (The ids of
/// the derive's argument groups, one for each struct, are left out.)
pub fn given_ids(command: &clap::Command, matches: &ArgMatches) -> BTreeSet<String> {
    command
        .get_arguments()
        .map(|a| a.get_id().as_str())
        .filter(|id| matches.value_source(id) == Some(ValueSource::CommandLine))
        .map(str::to_owned)
        .collect()
}

/// Options go after the command they belong to: with a subcommand, an option written
/// before its name (`apex-ioc-sync --host X udso list`) was parsed as the sync job's, and is
/// a usage error that names it and says where it goes. `command` is the built command that
/// produced `matches`.
pub fn check_before_subcommand(
    command: &mut clap::Command,
    matches: &ArgMatches,
) -> Result<(), clap::Error> {
    let (path, _) = leaf(matches);
    if path.is_empty() {
        return Ok(());
    }
    let Some(id) = given_ids(command, matches)
        .into_iter()
        .min_by_key(|id| matches.index_of(id).unwrap_or(usize::MAX))
    else {
        return Ok(());
    };
    let flag = command
        .get_arguments()
        .find(|a| a.get_id() == id.as_str())
        .map_or_else(|| id.clone(), flag_name);
    let takes = find_command(command, &path)
        .is_some_and(|c| c.get_arguments().any(|a| a.get_id() == id.as_str()));
    let shown = path.join(" ");
    let message = if takes {
        format!(
            "`{flag}` is written before the subcommand `{shown}`; options follow the command they belong to: `{PROGRAM} {shown} {flag} ...`"
        )
    } else {
        format!(
            "`{flag}` is an option of the sync job (`{PROGRAM} {flag} ...`, with no subcommand), and `{shown}` does not take it"
        )
    };
    let mut target = &mut *command;
    for name in &path {
        target = target
            .find_subcommand_mut(name)
            .expect("the parsed subcommand path exists");
    }
    Err(target.error(ErrorKind::ArgumentConflict, message))
}

/// `--long`, else `-s`.
fn flag_name(arg: &Arg) -> String {
    match (arg.get_long(), arg.get_short()) {
        (Some(long), _) => format!("--{long}"),
        (None, Some(short)) => format!("-{short}"),
        (None, None) => arg.get_id().to_string(),
    }
}

/// An unknown-argument error gets a tip naming the commands that do take the option, so
/// `udso list --company-key x` says that `--company-key` is the sync job's.
pub fn with_owner_tip(mut error: clap::Error, command: &clap::Command) -> clap::Error {
    if error.kind() != ErrorKind::UnknownArgument {
        return error;
    }
    let Some(ContextValue::String(invalid)) = error.get(ContextKind::InvalidArg) else {
        return error;
    };
    let Some(name) = invalid.strip_prefix("--") else {
        return error;
    };
    let name = name.split('=').next().unwrap_or_default().to_owned();
    let mut owners = Vec::new();
    collect_owners(command, &name, &mut Vec::new(), &mut owners);
    // `watch` takes the sync job's options (and refuses a few at run time): naming the sync
    // job says it.
    if owners
        .first()
        .is_some_and(|o| o.ends_with("(the sync job)"))
    {
        owners.retain(|o| o != &format!("{PROGRAM} watch"));
    }
    if owners.is_empty() {
        return error;
    }
    let tip = format!("--{name} is an option of: {}", owners.join(", "));
    let mut tips = vec![clap::builder::StyledStr::from(tip)];
    if let Some(ContextValue::StyledStrs(existing)) = error.get(ContextKind::Suggested) {
        tips.extend(existing.iter().cloned());
    }
    error.insert(ContextKind::Suggested, ContextValue::StyledStrs(tips));
    error
}

fn collect_owners(
    command: &clap::Command,
    name: &str,
    path: &mut Vec<String>,
    owners: &mut Vec<String>,
) {
    let takes = command.get_arguments().any(|a| {
        a.get_long() == Some(name) || a.get_all_aliases().is_some_and(|all| all.contains(&name))
    });
    if takes {
        owners.push(if path.is_empty() {
            format!("{PROGRAM} (the sync job)")
        } else {
            format!("{PROGRAM} {}", path.join(" "))
        });
    }
    for sub in command.get_subcommands() {
        path.push(sub.get_name().to_owned());
        collect_owners(sub, name, path, owners);
        path.pop();
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every command of the tree, with its path (`["udso", "list"]`; empty for the program).
    fn every_command() -> Vec<(String, clap::Command)> {
        fn walk(command: &clap::Command, path: &str, into: &mut Vec<(String, clap::Command)>) {
            into.push((path.to_owned(), command.clone()));
            for sub in command.get_subcommands() {
                let path = format!("{path} {}", sub.get_name()).trim().to_owned();
                walk(sub, &path, into);
            }
        }
        let mut command = command();
        command.build();
        let mut all = Vec::new();
        walk(&command, "", &mut all);
        all
    }

    /// A full sentence: a capital letter first, a period last.
    fn is_sentence(text: &str) -> bool {
        let text = text.trim();
        text.chars().next().is_some_and(char::is_uppercase) && text.ends_with('.')
    }

    #[test]
    fn every_help_line_is_a_sentence() {
        let mut checked = 0;
        let mut checked_values = 0;
        for (path, command) in every_command() {
            if !path.is_empty() {
                let about = command.get_about().map(ToString::to_string);
                assert!(
                    about.as_deref().is_some_and(is_sentence),
                    "`{path}`: {about:?}"
                );
            }
            for about in [command.get_long_about()].into_iter().flatten() {
                for paragraph in about.to_string().split("\n\n") {
                    assert!(is_sentence(paragraph), "`{path}`: {paragraph:?}");
                }
            }
            for arg in command.get_arguments() {
                let help = arg.get_help().map(ToString::to_string);
                assert!(
                    help.as_deref().is_some_and(is_sentence),
                    "`{path}` {}: {help:?}",
                    arg.get_id()
                );
                if let Some(long) = arg.get_long_help() {
                    assert!(is_sentence(&long.to_string()), "`{path}` {}", arg.get_id());
                }
                // A possible value's description (`--logging`'s `screen: ...`) too.
                for value in arg.get_possible_values() {
                    if let Some(help) = value.get_help() {
                        assert!(
                            is_sentence(&help.to_string()),
                            "`{path}` {} {}: {help:?}",
                            arg.get_id(),
                            value.get_name()
                        );
                        checked_values += 1;
                    }
                }
                checked += 1;
            }
        }
        // The sync job alone has more than 50 options: the walk saw the tree.
        assert!(checked > 100, "{checked}");
        // --sink, --source, --v1-region, --logging, --ioc-types, --type describe their values.
        assert!(checked_values > 20, "{checked_values}");
    }

    #[test]
    fn every_default_shown_is_the_constant_the_code_uses() {
        let names = |values: &[&str]| values.iter().map(|v| v.to_string()).collect::<Vec<_>>();
        let expected = |id: &str| -> Option<Vec<String>> {
            Some(match id {
                "sink" => names(&[SinkKind::default().name()]),
                "lock_scope" => vec![
                    LockScope::default()
                        .to_possible_value()
                        .unwrap()
                        .get_name()
                        .to_owned(),
                ],
                "risk_level" => names(&[RiskLevel::default().as_str()]),
                "proxy_port" => vec![DEFAULT_PROXY_PORT.to_string()],
                "timeout" => vec![DEFAULT_TIMEOUT_SECS.to_string()],
                "lumu_url" => names(&[DEFAULT_LUMU_URL]),
                "incident_status" => DEFAULT_INCIDENT_STATUSES
                    .iter()
                    .map(|s| s.name().to_owned())
                    .collect(),
                "max_context_calls" => vec![DEFAULT_MAX_CONTEXT_CALLS.to_string()],
                "max_run_minutes" => vec![DEFAULT_MAX_RUN_MINUTES.to_string()],
                "taxii_page_size" => vec![DEFAULT_PAGE_SIZE.to_string()],
                "scan_action" => names(&[DEFAULT_SCAN_ACTION.as_str()]),
                "source" => names(&[DEFAULT_SOURCE.name()]),
                "ioc_types" => DEFAULT_IOC_TYPES
                    .iter()
                    .map(|t| t.to_possible_value().unwrap().get_name().to_owned())
                    .collect(),
                "expiration_days" => vec![DEFAULT_EXPIRATION_DAYS.to_string()],
                "max_adds" => vec![ADD_BRAKE_MIN_ADDS.to_string()],
                "journal_days" => vec![DEFAULT_JOURNAL_DAYS.to_string()],
                "days" => vec![DEFAULT_DAYS.to_string()],
                "capacity" => vec![crate::sim::apex::DEFAULT_CAPACITY.to_string()],
                "token_timeout" => vec![crate::sim::apex::DEFAULT_TOKEN_TIMEOUT_SECS.to_string()],
                // The simulator's fault switches and ports: off, or a free port.
                "port" | "lumu_port" | "taxii_port" | "v1_port" | "latency_ms"
                | "fail_5xx_every" | "fail_429_every" | "drop_every" => vec!["0".to_owned()],
                "retry_after" => vec!["1".to_owned()],
                "reconcile_minutes" => vec![DEFAULT_RECONCILE_MINUTES.to_string()],
                "long_poll_seconds" => vec![DEFAULT_LONG_POLL_SECS.to_string()],
                "poll_seconds" => vec![DEFAULT_POLL_SECS.to_string()],
                _ => return None,
            })
        };
        for (path, command) in every_command() {
            for arg in command.get_arguments() {
                let shown: Vec<String> = arg
                    .get_default_values()
                    .iter()
                    .map(|v| v.to_string_lossy().into_owned())
                    .collect();
                if shown.is_empty()
                    || matches!(arg.get_action(), ArgAction::SetTrue | ArgAction::Count)
                {
                    continue;
                }
                let id = arg.get_id().as_str();
                assert_eq!(
                    Some(shown),
                    expected(id),
                    "`{path}` --{id}: a default shown in --help must be a constant the code uses"
                );
                // clap shows it; the help text does not repeat it.
                let help = arg.get_help().unwrap().to_string();
                assert!(!help.contains("Default"), "`{path}` --{id}: {help}");
            }
        }
        // The defaults that depend on other options are rules, built from the constants.
        let root = command();
        let help = |id: &str| {
            root.get_arguments()
                .find(|a| a.get_id() == id)
                .unwrap()
                .get_help()
                .unwrap()
                .to_string()
        };
        assert!(help("threads").contains(&format!(
            "{THREADED_THREADS} with --threaded, else {DEFAULT_THREADS}"
        )));
        assert!(help("log_file").contains(LOG_FILE_NAME));
        assert!(help("days").contains(&format!("1-{MAX_LUMU_DAYS}")));
    }

    /// The defaults of a group a command lacks are clap's defaults of that group.
    #[test]
    fn absent_groups_have_the_defaults_of_the_sync_job() {
        // Without the environment's secrets, as `Options::default()` reads none.
        let root = command().mut_args(|a| a.env(None::<&str>));
        let parsed = Cli::from_arg_matches(&root.get_matches_from([PROGRAM])).unwrap();
        let defaults = Options::default();
        assert_eq!(format!("{:?}", parsed.sync), format!("{defaults:?}"));
        assert_eq!(defaults.http.timeout, DEFAULT_TIMEOUT_SECS);
        assert_eq!(defaults.sync.ioc_types, DEFAULT_IOC_TYPES);
        assert_eq!(defaults.lumu.lumu_url, DEFAULT_LUMU_URL);
    }

    /// The help headings each command shows: the groups it takes, and no other.
    #[test]
    fn each_command_takes_only_the_groups_that_apply() {
        use heading::*;
        let server = [APEX, HTTP, OUTPUT, LOGGING];
        let cases: &[(&str, &[&str])] = &[
            (
                "",
                &[
                    DESTINATION,
                    APEX,
                    VISION_ONE,
                    LUMU,
                    TAXII,
                    FILES,
                    SYNC,
                    EXCLUSIONS,
                    HTTP,
                    OUTPUT,
                    METRICS,
                    LOGGING,
                ],
            ),
            (
                "list",
                &[DESTINATION, APEX, VISION_ONE, HTTP, OUTPUT, LOGGING],
            ),
            ("udso list", &server),
            ("openioc upload", &server),
            ("openioc list", &server),
            ("openioc delete", &server),
            (
                "watch",
                &[
                    DESTINATION,
                    APEX,
                    VISION_ONE,
                    LUMU,
                    TAXII,
                    FILES,
                    SYNC,
                    EXCLUSIONS,
                    HTTP,
                    OUTPUT,
                    METRICS,
                    LOGGING,
                    WATCH,
                ],
            ),
            ("demo", &[DESTINATION]),
            ("history", &[SYNC, OUTPUT, LOGGING]),
            (
                "explain",
                &[
                    DESTINATION,
                    APEX,
                    VISION_ONE,
                    SYNC,
                    EXCLUSIONS,
                    HTTP,
                    OUTPUT,
                    LOGGING,
                ],
            ),
            (
                "rollback",
                &[
                    DESTINATION,
                    APEX,
                    VISION_ONE,
                    SYNC,
                    EXCLUSIONS,
                    HTTP,
                    OUTPUT,
                    LOGGING,
                ],
            ),
            ("simulate", &[]),
            ("help", &[]),
        ];
        let all = every_command();
        for (path, headings) in cases {
            let command = &all.iter().find(|(p, _)| p == path).unwrap().1;
            let mut shown: Vec<&str> = Vec::new();
            for arg in command.get_arguments() {
                if let Some(h) = arg.get_help_heading()
                    && !shown.contains(&h)
                {
                    shown.push(h);
                }
            }
            assert_eq!(&shown, headings, "`{path}`");
        }
    }

    /// The journal commands take the sync job's own definitions of the options they pick,
    /// and read each one's value.
    #[test]
    fn picked_options_are_the_sync_jobs_and_read_their_values() {
        let sync = command();
        for (name, ids) in [
            ("history", HistoryPicks::IDS),
            ("explain", ExplainPicks::IDS),
            ("rollback", RollbackPicks::IDS),
        ] {
            let sub = sync.find_subcommand(name).unwrap();
            for id in ids {
                let mine = sub.get_arguments().find(|a| a.get_id() == *id);
                let theirs = sync.get_arguments().find(|a| a.get_id() == *id);
                let (mine, theirs) = (mine.unwrap(), theirs.unwrap());
                assert_eq!(mine.get_long(), theirs.get_long(), "{name} {id}");
                assert_eq!(
                    mine.get_help().map(ToString::to_string),
                    theirs.get_help().map(ToString::to_string),
                    "{name} {id}"
                );
            }
        }
        let parsed = Cli::from_arg_matches(&command().get_matches_from([
            PROGRAM,
            "rollback",
            "r1",
            "--tag",
            "soc",
            "--source",
            "file",
            "--state-file",
            "/x.db",
            "--lock-file",
            "/x.lock",
            "--dry-run",
            "--force",
            "--threads",
            "3",
            "--risk-level",
            "low",
        ]))
        .unwrap();
        let o = parsed.options();
        assert_eq!(o.sync.tag.as_deref(), Some("soc"));
        assert_eq!(o.sync.source, SourceKind::File);
        assert_eq!(o.sync.state_file, Some(PathBuf::from("/x.db")));
        assert_eq!(o.sync.lock_file, Some(PathBuf::from("/x.lock")));
        assert!(o.sync.dry_run && o.sync.force);
        assert_eq!((o.sync.threads, o.risk_level), (Some(3), RiskLevel::Low));
        let parsed =
            Cli::from_arg_matches(&command().get_matches_from([PROGRAM, "explain", "x.example"]))
                .unwrap();
        assert_eq!(parsed.options().sync.ioc_types, DEFAULT_IOC_TYPES);
    }

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
