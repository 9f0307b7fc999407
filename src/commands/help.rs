//! `apex-ioc-sync help [COMMAND]...`: the full help of the program or of one command, as
//! `COMMAND --help` prints it (clap's own help subcommand is off: its texts are not
//! sentences, see `cli::command`).

use anyhow::anyhow;

use crate::cli::{self, PROGRAM};
use crate::exit::Failure;
use crate::out;

/// Prints the long help of the command `path` names (the program's for an empty path); a
/// name that is no command is a usage error naming it.
pub fn print(path: &[String]) -> Result<(), Failure> {
    let mut command = cli::command();
    command.build();
    let mut target = &mut command;
    for (at, name) in path.iter().enumerate() {
        target = target.find_subcommand_mut(name).ok_or_else(|| {
            Failure::usage(anyhow!(
                "no command `{}`; `{PROGRAM} --help` lists the commands",
                path[..=at].join(" ")
            ))
        })?;
    }
    out!("{}", target.render_long_help())?;
    Ok(())
}
