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
//! The definitions, by file: [`Cli`] and [`Command`] here, with the merge into [`Options`];
//! `options.rs`, the sync job's option groups; `values.rs`, the values options take from a
//! closed set; `defaults.rs`, the defaults clap shows; `subcommands.rs`, each subcommand's
//! own arguments; `picked.rs`, the sync job's options a journal command takes too; and
//! `parse.rs`, the built command with its help flags and the usage errors added to clap's.
//!
//! Help texts are full sentences. clap's derive drops the last period of a one-paragraph doc
//! comment, so every documented argument carries `verbatim_doc_comment` and its help stays on
//! one line of the doc comment; a help that names a constant is built with `help = format!`.

mod defaults;
mod options;
mod parse;
mod picked;
mod subcommands;
mod values;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

pub use defaults::*;
pub use options::*;
pub use parse::*;
pub use picked::*;
pub use subcommands::*;
pub use values::*;

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
    /// Run three real syncs against a simulated Lumu Defender and a simulated Apex Central (or Vision One) on loopback: a first push, a changed incident set, an unchanged one; then a watch while an incident opens and closes.
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
    /// Print a completion script for a shell: bash, zsh, fish or powershell (see docs/operations.md, "Commands", for where it goes).
    #[command(verbatim_doc_comment)]
    Completions(CompletionsArgs),
}

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

#[cfg(test)]
mod tests {
    use clap::{ArgAction, FromArgMatches, ValueEnum};

    use super::*;
    use crate::logging::LOG_FILE_NAME;
    use crate::sink::vision_one::RiskLevel;
    use crate::source::lumu::DEFAULT_MAX_CONTEXT_CALLS;
    use crate::source::taxii::DEFAULT_PAGE_SIZE;
    use crate::state::journal::DEFAULT_JOURNAL_DAYS;
    use crate::sync::plan::ADD_BRAKE_MIN_ADDS;

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
}
