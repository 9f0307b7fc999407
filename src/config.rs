//! The `.config` file of Lumu's script: one `name=value` per line, `#` comments, blank lines
//! ignored, names as the long flags without dashes in either spelling, a repeated name adds a
//! value, a flag without a value written alone.
//!
//! Entries are checked against the clap definitions in `cli` (one definition per option),
//! then merged under the command line: a value given on the command line or in the
//! environment wins over the file; for a list option, the command line's list replaces the
//! file's.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{Arg, FromArgMatches};

use crate::cli::{self, Cli, Options, SECRET_OPTIONS};
use crate::permissions::other_readers;

/// Where `.config` is looked up when `--config` is not given.
pub const DEFAULT_CONFIG: &str = ".config";

/// A problem with a `.config` file, naming the file, the line and the option.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Line {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

/// One `name=value` line of a config file. `Debug` shows it as `Display` does, secrets
/// redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct Entry {
    pub line: usize,
    /// The arg id in `cli` (e.g. `company_key`) the name resolved to.
    pub id: String,
    /// The long flag (e.g. `company-key`).
    pub long: String,
    /// `None` for a flag written alone.
    pub value: Option<String>,
}

/// A parsed and validated config file.
#[derive(Debug, Clone)]
pub struct ConfigFile {
    pub path: PathBuf,
    pub entries: Vec<Entry>,
}

impl ConfigFile {
    /// Reads and validates `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = crate::files::read_text_capped(path, crate::files::MAX_CONFIG_BYTES).map_err(
            |source| ConfigError::Read {
                path: path.to_owned(),
                source,
            },
        )?;
        Self::parse(path, &text)
    }

    /// Validates the text of a config file; `path` is used in error messages.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let command = cli::command();
        let mut entries = Vec::new();
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let err = |message: String| ConfigError::Line {
                path: path.to_owned(),
                line,
                message,
            };
            let trimmed = raw.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let (name, value) = match trimmed.split_once('=') {
                Some((name, value)) => (name.trim(), Some(unquote(value.trim()))),
                None => (trimmed, None),
            };
            let (owner, arg) = find_option(&command, name).ok_or_else(|| {
                // Only the first word is repeated: the rest of a malformed line may be a
                // secret (`api-key SECRET`, `api_key: SECRET`).
                let word = name
                    .split(|c: char| c.is_whitespace() || c == ':')
                    .next()
                    .unwrap_or_default();
                let shown: String = word.chars().take(40).collect();
                let hint = if find_option(&command, word).is_some() {
                    format!(" (write it as `{word}=value`)")
                } else {
                    " (names are the long flags without dashes, e.g. `api-key=...`; see .config_sample)"
                        .to_owned()
                };
                err(format!("unknown option `{shown}`{hint}"))
            })?;
            let long = arg
                .get_long()
                .expect("config options are long flags")
                .to_owned();
            let value = if arg.get_action().takes_values() {
                match value {
                    Some(v) if !v.is_empty() => Some(v.to_owned()),
                    _ => return Err(err(format!("`{name}` needs a value: `{name}=...`"))),
                }
            } else {
                match value.map(str::to_ascii_lowercase).as_deref() {
                    None | Some("true" | "yes" | "1" | "on") => None,
                    // A switch written `=false` is the same as leaving it out.
                    Some("false" | "no" | "0" | "off") => continue,
                    Some(other) => {
                        return Err(err(format!(
                            "`{name}` is a switch: write it alone (or `{name}=true`), not `{name}={other}`"
                        )));
                    }
                }
            };
            let entry = Entry {
                line,
                id: arg.get_id().to_string(),
                long,
                value,
            };
            // Check the value with the option's own parser, so the file accepts exactly what
            // the command line accepts.
            let mut args = entry_args(&entry);
            if let Some(owner) = owner {
                args.insert(1, owner.to_owned());
            }
            if let Err(e) = command.clone().try_get_matches_from(args) {
                return Err(err(format!("`{name}`: {}", clap_message(&e))));
            }
            entries.push(entry);
        }
        Ok(ConfigFile {
            path: path.to_owned(),
            entries,
        })
    }

    /// The secret options this file holds, by long name.
    pub fn secrets(&self) -> Vec<&str> {
        self.entries
            .iter()
            .filter(|e| SECRET_OPTIONS.contains(&e.long.as_str()))
            .map(|e| e.long.as_str())
            .collect()
    }

    /// A warning when this file holds a secret and others can read it (Unix mode bits,
    /// Windows access list: see [`crate::permissions`]).
    pub fn permission_warning(&self) -> Option<String> {
        let secrets = self.secrets();
        if secrets.is_empty() {
            return None;
        }
        let others = other_readers(&self.path)?;
        Some(format!(
            "{} holds {} and can be read by {}; restrict it with {}",
            self.path.display(),
            secrets.join(", "),
            others.who,
            others.fix
        ))
    }
}

/// Parses the command line, finds and reads the config file (for a command that reads one),
/// and returns the parsed command line, the merged options (command line and environment
/// over the file; see [`Cli::options`]) and the file, if one was read.
///
/// The file is the job's: it is validated whole, and a command takes the entries of the
/// options it has and leaves the others (`udso list --config job.config` reads only the
/// Apex Central, proxy, output and logging lines).
pub fn parse_with_config<I, T>(args: I) -> Result<Parsed, LoadError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let mut command = cli::command();
    let matches = command
        .try_get_matches_from_mut(&args)
        .map_err(|e| cli::with_owner_tip(e, &command))?;
    cli::check_before_subcommand(&mut command, &matches)?;
    let cli = Cli::from_arg_matches(&matches)?;
    let (path, leaf) = cli::leaf(&matches);
    let config = match cli.config_option() {
        None => None,
        Some(Some(given)) => Some(given.clone()),
        Some(None) => Some(PathBuf::from(DEFAULT_CONFIG)).filter(|p| p.is_file()),
    };
    let leaf_command = cli::find_command(&command, &path).expect("the parsed command exists");
    let Some(config) = config else {
        let mut options = cli.options();
        options.given = cli::given_ids(leaf_command, leaf);
        return Ok(Parsed {
            cli,
            options,
            config: None,
        });
    };
    let file = ConfigFile::load(&config)?;
    let takes = |id: &str| leaf_command.get_arguments().any(|a| a.get_id() == id);
    // The file's entries go right after the command's name and the command line's own
    // options after them, so that with `args_override_self` a single value given on both
    // lines ends as the command line's. Options the command line or environment already
    // set are left out of the file's part entirely, so a list on the command line replaces
    // the file's list; options the command does not take are left out too.
    let set_elsewhere = |id: &str| {
        matches!(
            leaf.value_source(id),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        )
    };
    // Nothing stands between the program's name and the subcommand's (see
    // `check_before_subcommand`), so the command line is `program path... rest...`.
    let rest = args.get(1 + path.len()..).unwrap_or_default();
    let mut merged: Vec<OsString> =
        vec![args.first().cloned().unwrap_or_else(|| cli::PROGRAM.into())];
    merged.extend(path.iter().map(OsString::from));
    for entry in file
        .entries
        .iter()
        .filter(|e| takes(&e.id) && !set_elsewhere(&e.id))
    {
        merged.extend(entry_args(entry).into_iter().skip(1).map(OsString::from));
    }
    merged.extend(rest.iter().cloned());
    let matches = command.clone().try_get_matches_from(&merged)?;
    let cli = Cli::from_arg_matches(&matches)?;
    let mut options = cli.options();
    options.given = cli::given_ids(leaf_command, cli::leaf(&matches).1);
    Ok(Parsed {
        cli,
        options,
        config: Some(file),
    })
}

/// A command line, parsed and merged with its `.config` file.
#[derive(Debug)]
pub struct Parsed {
    /// The command line after the merge (the command and its own arguments).
    pub cli: Cli,
    /// The command's options as the one merged view.
    pub options: Options,
    /// The `.config` file read, if one was.
    pub config: Option<ConfigFile>,
}

/// Why options could not be loaded: a usage error on the command line, or a config error.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Usage(#[from] clap::Error),
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// The subcommands whose own options a `.config` file may hold besides the sync job's:
/// `watch` takes the sync job's options and a few of its own.
const CONFIG_SUBCOMMANDS: &[&str] = &["watch"];

/// The option a `.config` name stands for: one of the sync job's (owner `None`), else one of
/// a subcommand of [`CONFIG_SUBCOMMANDS`] (owner: its name).
fn find_option<'a>(command: &'a clap::Command, name: &str) -> Option<(Option<&'a str>, &'a Arg)> {
    if matches!(name, "config" | "help" | "version") {
        return None;
    }
    let named = |arg: &&Arg| {
        arg.get_long() == Some(name)
            || arg
                .get_all_aliases()
                .is_some_and(|aliases| aliases.contains(&name))
    };
    if let Some(arg) = command.get_arguments().find(named) {
        return Some((None, arg));
    }
    command
        .get_subcommands()
        .filter(|sub| CONFIG_SUBCOMMANDS.contains(&sub.get_name()))
        .find_map(|sub| Some((Some(sub.get_name()), sub.get_arguments().find(named)?)))
}

fn entry_args(entry: &Entry) -> Vec<String> {
    let mut args = vec!["apex-ioc-sync".to_owned(), format!("--{}", entry.long)];
    if let Some(value) = &entry.value {
        // `--name=value`, so a value that starts with `-` is not read as a flag.
        args[1] = format!("--{}={value}", entry.long);
    }
    args
}

/// Values may be quoted, as Python's configparser-era files sometimes are.
fn unquote(value: &str) -> &str {
    for quote in ['"', '\''] {
        if value.len() >= 2 && value.starts_with(quote) && value.ends_with(quote) {
            return &value[1..value.len() - 1];
        }
    }
    value
}

/// clap's message without its `error: ` prefix, usage and tip lines.
fn clap_message(e: &clap::Error) -> String {
    let rendered = e.render().to_string();
    let first = rendered.lines().next().unwrap_or_default();
    first.strip_prefix("error: ").unwrap_or(first).to_owned()
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Entry(line {}: {self})", self.line)
    }
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(_) if SECRET_OPTIONS.contains(&self.long.as_str()) => {
                write!(f, "{}=<redacted>", self.long)
            }
            Some(v) => write!(f, "{}={v}", self.long),
            None => f.write_str(&self.long),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{IocTypeArg, LoggingMode};

    fn parse(text: &str) -> Result<ConfigFile, ConfigError> {
        ConfigFile::parse(Path::new("/etc/apex/.config"), text)
    }

    fn line_error(text: &str) -> (usize, String) {
        match parse(text).unwrap_err() {
            ConfigError::Line { line, message, .. } => (line, message),
            other => panic!("expected a line error, got {other}"),
        }
    }

    #[test]
    fn reads_values_flags_comments_and_both_spellings() {
        let file = parse(
            "# Lumu\n\ncompany_key=abc\nhost = apex.corp\nioc-types=url\nioc_types=hash\npreserve-iocs\n  # indented comment\nlogging=file\n",
        )
        .unwrap();
        let names: Vec<String> = file.entries.iter().map(ToString::to_string).collect();
        assert_eq!(
            names,
            [
                "company-key=<redacted>",
                "host=apex.corp",
                "ioc-types=url",
                "ioc-types=hash",
                "preserve-iocs",
                "logging=file"
            ]
        );
        assert_eq!(file.entries[1].line, 4);
        assert_eq!(file.secrets(), ["company-key"]);
    }

    /// Only a line that starts with `#` is a comment: a `#` after a value is part of it, as
    /// a key or password may hold one (documented in docs/operations.md and `.config_sample`).
    #[test]
    fn a_hash_after_a_value_belongs_to_the_value() {
        let file = parse(
            "api-key=XY#Z  # prod
",
        )
        .unwrap();
        assert_eq!(file.entries[0].value.as_deref(), Some("XY#Z  # prod"));
    }

    /// A file that is not UTF-8 is an error naming the file and the line.
    #[test]
    fn a_file_that_is_not_utf8_names_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nu.config");
        std::fs::write(&path, b"host=a\nlogging=\xffile\n").unwrap();
        let err = ConfigFile::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("nu.config") && err.ends_with("not UTF-8 text at line 2"),
            "{err}"
        );
    }

    #[test]
    fn unknown_name_names_file_line_and_name() {
        let err = parse("host=a\n\ncompany-kee=x\n").unwrap_err().to_string();
        assert!(
            err.starts_with("/etc/apex/.config:3: unknown option `company-kee`"),
            "{err}"
        );
    }

    #[test]
    fn bad_values_are_checked_by_the_flag_definitions() {
        let (line, msg) = line_error("days=4000\n");
        assert_eq!(line, 1);
        assert!(msg.contains("`days`") && msg.contains("4000"), "{msg}");
        let (_, msg) = line_error("scan-action=quarantine");
        assert!(msg.contains("quarantine"), "{msg}");
        let (_, msg) = line_error("ioc-types=ipv6");
        assert!(msg.contains("ipv6"), "{msg}");
        let (_, msg) = line_error("proxy-port=http");
        assert!(msg.contains("proxy-port"), "{msg}");
    }

    #[test]
    fn switch_with_a_value_and_option_without_one_are_errors() {
        let (_, msg) = line_error("preserve-iocs=maybe");
        assert!(msg.contains("is a switch"), "{msg}");
        let (_, msg) = line_error("host=");
        assert!(msg.contains("needs a value"), "{msg}");
        let (_, msg) = line_error("host");
        assert!(msg.contains("needs a value"), "{msg}");
        let file = parse("preserve-iocs=false\nclean=true\n").unwrap();
        assert_eq!(file.entries.len(), 1);
        assert_eq!(file.entries[0].long, "clean");
    }

    #[test]
    fn a_malformed_line_never_repeats_what_may_be_a_secret() {
        for line in ["api-key XYZSECRET", "api_key: XYZSECRET", "XYZSECRET"] {
            let (_, msg) = line_error(line);
            assert!(!msg.contains("XYZSECRET") || line == "XYZSECRET", "{msg}");
        }
        let (_, msg) = line_error("api-key XYZSECRET");
        assert!(msg.contains("write it as `api-key=value`"), "{msg}");
        let file = parse("api-key=XYZSECRET\n").unwrap();
        assert!(!format!("{file:?}").contains("XYZSECRET"));
    }

    #[test]
    fn config_and_help_are_not_config_keys() {
        assert!(line_error("config=/x").1.contains("unknown option"));
        assert!(line_error("help").1.contains("unknown option"));
    }

    #[test]
    fn quoted_values_bom_and_crlf() {
        let file = parse("\u{feff}host=\"apex.corp\"\r\ntag='soc'\r\n").unwrap();
        assert_eq!(file.entries[0].value.as_deref(), Some("apex.corp"));
        assert_eq!(file.entries[1].value.as_deref(), Some("soc"));
    }

    /// `args`, then `--config` naming a file that holds `config`: the merged options.
    fn merged(config: &str, args: &[&str]) -> Options {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("job.config");
        std::fs::write(&path, config).unwrap();
        let mut argv = vec!["apex-ioc-sync".to_owned()];
        argv.extend(args.iter().map(|s| s.to_string()));
        argv.extend(["--config".to_owned(), path.display().to_string()]);
        parse_with_config(argv).unwrap().options
    }

    #[test]
    fn command_line_overrides_single_values_and_replaces_lists() {
        let o = merged(
            "host=file.corp\ndays=7\nioc-types=url\nioc-types=hash\nlogging=file\n",
            &["--host", "cli.corp", "--ioc-types", "ip"],
        );
        assert_eq!(o.apex.host.as_deref(), Some("cli.corp"));
        assert_eq!(o.sync.days, 7);
        assert_eq!(o.sync.ioc_types, [IocTypeArg::Ip]);
        assert_eq!(o.logging.logging, Some(LoggingMode::File));
    }

    #[test]
    fn repeated_config_names_add_values() {
        let o = merged("ioc-types=url\nioc_types=hash,ip\n", &[]);
        assert_eq!(
            o.sync.ioc_types,
            [IocTypeArg::Url, IocTypeArg::Hash, IocTypeArg::Ip]
        );
    }

    /// The file is the job's: a subcommand takes the entries of the options it has, its own
    /// command line wins, and the other entries are simply not used.
    #[test]
    fn a_subcommand_takes_the_entries_of_its_options_and_leaves_the_others() {
        let config =
            "host=file.corp\ntimeout=7\ntag=a\ncompany-key=k\nioc-types=hash\nsink=vision-one\n";
        let o = merged(config, &["udso", "list", "--host", "cli.corp"]);
        assert_eq!(o.apex.host.as_deref(), Some("cli.corp"));
        assert_eq!(o.http.timeout, 7);
        assert_eq!(o.sync.tag, None);
        assert!(o.lumu.company_key.is_none());
        assert_eq!(o.sync.ioc_types, crate::cli::DEFAULT_IOC_TYPES);
        assert_eq!(o.destination.sink, crate::cli::SinkKind::Apex);
        assert!(o.given("host") && o.given("timeout") && !o.given("tag"));
        // The sync job takes them all.
        let o = merged(config, &[]);
        assert_eq!(o.sync.tag.as_deref(), Some("a"));
        assert!(o.lumu.company_key.is_some());
        assert_eq!(o.destination.sink, crate::cli::SinkKind::VisionOne);
    }

    /// A default is not "given" (the checks that depend on it stay quiet), and a `.config`
    /// value wins over a default.
    #[test]
    fn defaults_are_not_given_and_the_file_wins_over_them() {
        let o = merged("", &[]);
        assert_eq!(o.http.timeout, crate::cli::DEFAULT_TIMEOUT_SECS);
        assert_eq!(o.http.proxy_port, crate::cli::DEFAULT_PROXY_PORT);
        assert_eq!(
            o.given,
            ["config".to_owned()].into(),
            "only --config is given"
        );
        let o = merged("timeout=7\nproxy-port=3128\nrisk-level=low\n", &[]);
        assert_eq!(o.http.timeout, 7);
        assert_eq!(o.http.proxy_port, 3128);
        assert_eq!(o.risk_level, crate::sink::vision_one::RiskLevel::Low);
        assert!(o.given("timeout") && o.given("proxy_port") && o.given("risk_level"));
        let o = merged("timeout=7\n", &["--timeout", "9"]);
        assert_eq!(o.http.timeout, 9);
    }

    /// `demo` and `simulate` read no `.config`, not even `./.config`.
    #[test]
    fn demo_and_simulate_read_no_config() {
        let parsed = parse_with_config(["apex-ioc-sync", "demo"]).unwrap();
        assert!(parsed.config.is_none());
        let err = parse_with_config(["apex-ioc-sync", "demo", "--config", "x"]).unwrap_err();
        assert!(err.to_string().contains("--config"), "{err}");
    }

    #[test]
    fn missing_config_file_is_an_error_naming_it() {
        let err = parse_with_config(["apex-ioc-sync", "--config", "/nonexistent/x.config"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/x.config"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn warns_when_a_file_with_secrets_is_readable_by_others() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".config");
        std::fs::write(&path, "api-key=s3cret\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let warning = ConfigFile::load(&path)
            .unwrap()
            .permission_warning()
            .unwrap();
        assert!(
            warning.contains("api-key") && !warning.contains("s3cret"),
            "{warning}"
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(
            ConfigFile::load(&path)
                .unwrap()
                .permission_warning()
                .is_none()
        );
        std::fs::write(&path, "host=a\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(
            ConfigFile::load(&path)
                .unwrap()
                .permission_warning()
                .is_none()
        );
    }
}

#[cfg(test)]
mod sample_tests {
    use super::*;

    fn sample_path() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(".config_sample")
    }

    /// `.config_sample` with its commented examples uncommented: every option it shows, set.
    fn sample_with_every_example() -> String {
        std::fs::read_to_string(sample_path())
            .unwrap()
            .lines()
            .map(|l| match l.strip_prefix('#') {
                Some(rest) if !rest.is_empty() && !rest.starts_with([' ', '-']) => rest,
                Some(_) => "",
                None => l,
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// `.config_sample` parses, and shows every option a config file may hold (set, or as a
    /// commented example that parses once uncommented).
    #[test]
    fn the_sample_documents_every_key_and_parses() {
        let path = sample_path();
        let text = std::fs::read_to_string(&path).unwrap();
        let examples = sample_with_every_example();
        ConfigFile::parse(&path, &text).unwrap();
        let all = ConfigFile::parse(&path, &examples).unwrap();
        let named: Vec<&str> = all.entries.iter().map(|e| e.long.as_str()).collect();
        let command = cli::command();
        let watch = command.find_subcommand("watch").unwrap();
        for arg in command.get_arguments().chain(watch.get_arguments()) {
            let Some(long) = arg.get_long() else { continue };
            if find_option(&command, long).is_some() {
                assert!(
                    named.contains(&long),
                    ".config_sample does not show `{long}`"
                );
            }
        }
    }

    /// A `.config` holding every option of `.config_sample` loads for every command that
    /// reads one; each takes its own options from it and leaves the others.
    #[test]
    fn a_config_with_every_option_loads_for_every_command() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("job.config");
        std::fs::write(&path, sample_with_every_example()).unwrap();
        let path = path.to_str().unwrap();
        for command in [
            &[][..],
            &["list"],
            &["udso", "list"],
            &["openioc", "list"],
            &["openioc", "upload", "a.ioc"],
            &["openioc", "delete", "0123"],
            &["history"],
            &["explain", "evil.example"],
            &["rollback", "20261206T201500Z-3f2a"],
            &["watch"],
        ] {
            let mut argv = vec!["apex-ioc-sync"];
            argv.extend(command);
            argv.extend(["--config", path]);
            let parsed = parse_with_config(argv)
                .unwrap_or_else(|e| panic!("{command:?} with every option: {e}"));
            let o = &parsed.options;
            // The journal's commands take the tag; history alone talks to no destination.
            let journal = ["history", "explain", "rollback"]
                .contains(&command.first().copied().unwrap_or(""));
            let history = command == ["history"];
            assert_eq!(
                o.apex.host.as_deref(),
                (!history).then_some("apex.example.corp"),
                "{command:?}"
            );
            assert!(o.logging.verbose > 0, "{command:?}");
            // The sync job's options: the sync job's, and watch's (it takes them all).
            let job = command.is_empty() || command == ["watch"];
            assert_eq!(o.lumu.company_key.is_some(), job, "{command:?}");
            assert_eq!(o.sync.tag.is_some(), job || journal, "{command:?}");
            assert_eq!(
                o.vision_one.v1_url.is_some(),
                job || command == ["list"] || journal && !history,
                "{command:?}"
            );
        }
    }

    /// Every name a `.config` accepted before the options were grouped by command is still
    /// accepted, in both spellings.
    #[test]
    fn every_name_accepted_before_is_still_accepted() {
        const SWITCHES: &[&str] = &[
            "insecure",
            "verbose",
            "no-expiration-date",
            "preserve-iocs",
            "clean",
            "dry-run",
            "json",
            "force",
            "no-default-exclusions",
            "threaded",
            "taxii-insecure",
        ];
        const VALUES: &[(&str, &str)] = &[
            ("sink", "apex"),
            ("host", "apex.corp"),
            ("application-id", "a"),
            ("api-key", "k"),
            ("ca-cert", "/x.pem"),
            ("timeout", "5"),
            ("v1-region", "eu"),
            ("v1-url", "https://v1.example"),
            ("v1-token", "t"),
            ("risk-level", "low"),
            ("proxy-host", "p"),
            ("proxy-port", "3128"),
            ("proxy-user", "u"),
            ("proxy-password", "pw"),
            ("logging", "file"),
            ("log-file", "/x.log"),
            ("source", "taxii"),
            ("tag", "t"),
            ("ioc-types", "url"),
            ("scan-action", "log"),
            ("expiration-days", "9"),
            ("exclude", "/x.txt"),
            ("threads", "3"),
            ("lock-file", "/x.lock"),
            ("company-key", "c"),
            ("lumu-url", "https://lumu.example"),
            ("adversary-types", "C2C"),
            ("incident-status", "muted"),
            ("days", "9"),
            ("max-context-calls", "9"),
            ("max-run-minutes", "9"),
            ("taxii-url", "https://taxii.example/"),
            ("taxii-collection", "c"),
            ("taxii-token", "t"),
            ("taxii-user", "u"),
            ("taxii-password", "p"),
            ("taxii-ca-cert", "/x.pem"),
            ("taxii-page-size", "9"),
            ("min-confidence", "9"),
            ("state-file", "/x.db"),
            ("file", "/x.txt"),
        ];
        for kebab in SWITCHES {
            let snake = kebab.replace('-', "_");
            let text = format!("{kebab}\n{snake}\n");
            let file =
                ConfigFile::parse(Path::new("x"), &text).unwrap_or_else(|e| panic!("{kebab}: {e}"));
            assert_eq!(file.entries.len(), 2, "{kebab}");
        }
        for (kebab, value) in VALUES {
            let snake = kebab.replace('-', "_");
            let text = format!("{kebab}={value}\n{snake}={value}\n");
            let file =
                ConfigFile::parse(Path::new("x"), &text).unwrap_or_else(|e| panic!("{kebab}: {e}"));
            assert!(file.entries.iter().all(|e| e.long == *kebab), "{kebab}");
        }
    }
}
