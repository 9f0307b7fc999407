//! The built command line and what it adds to clap's parsing: a help flag on every command
//! and a version flag whose texts are sentences, the walk of the matches, and the usage
//! errors and tips clap does not give (an option written before its subcommand, the
//! commands that take an unknown option).

use std::collections::BTreeSet;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, CommandFactory};

use super::{Cli, PROGRAM};

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
