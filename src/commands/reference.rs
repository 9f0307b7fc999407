//! `man` and `completions`: the manual page and the shell completion scripts, generated
//! from the same clap definitions as `--help` (`cli::command`), so none of them can drift
//! from the options the program takes.

use std::io;

use clap_mangen::Man;

use crate::cli::{self, PROGRAM, Shell};
use crate::exit::Failure;
use crate::out;

/// Prints the manual page (roff, section 1): the program's page as clap_mangen renders it
/// (the sync job's options under their headings, the list of commands), then one section a
/// command (`udso list`, `openioc upload`, ...) with its synopsis, description and options,
/// so one file documents every command. `man -l apex-ioc-sync.1` reads it.
pub fn man() -> Result<(), Failure> {
    let mut command = cli::command();
    command.build();
    let mut page = Vec::new();
    Man::new(command.clone()).render(&mut page)?;
    // clap_mangen names the after-help text (the exit codes) EXTRA; man pages call it so.
    let page_text = String::from_utf8_lossy(&page).replace(".SH EXTRA\n", ".SH \"EXIT STATUS\"\n");
    let mut page = page_text.into_bytes();
    for (path, sub) in commands(&command, Vec::new()) {
        let man = Man::new(sub.clone());
        page.extend_from_slice(format!(".SH \"COMMAND: {}\"\n", path.join(" ")).as_bytes());
        for render in [
            Man::render_synopsis_section,
            Man::render_description_section,
            Man::render_options_section,
        ] {
            let mut section = Vec::new();
            render(&man, &mut section)?;
            // The command is one section of the page: its parts are subsections.
            page.extend_from_slice(&demote_sections(&section));
        }
    }
    let page =
        String::from_utf8(page).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    out!("{page}")?;
    Ok(())
}

/// Prints the completion script for `shell` (clap_complete), for the program's name.
pub fn completions(shell: Shell) -> Result<(), Failure> {
    let mut command = cli::command();
    let mut script = Vec::new();
    match shell {
        Shell::Bash => clap_complete::generate(
            clap_complete::Shell::Bash,
            &mut command,
            PROGRAM,
            &mut script,
        ),
        Shell::Zsh => clap_complete::generate(
            clap_complete::Shell::Zsh,
            &mut command,
            PROGRAM,
            &mut script,
        ),
        Shell::Fish => clap_complete::generate(
            clap_complete::Shell::Fish,
            &mut command,
            PROGRAM,
            &mut script,
        ),
        Shell::Powershell => clap_complete::generate(
            clap_complete::Shell::PowerShell,
            &mut command,
            PROGRAM,
            &mut script,
        ),
    }
    let mut script =
        String::from_utf8(script).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    if shell == Shell::Bash {
        script = mend_bash_case_labels(&script);
    }
    out!("{script}")?;
    Ok(())
}

/// clap_complete (4.6) spells the bash script's state for a command below the program
/// two ways when the program's name holds a hyphen: the loop that reads the words escapes
/// `-` as `__` (`apex__ioc__sync__subcmd__udso`), the case arms as the subcommand separator
/// (`apex__subcmd__ioc__subcmd__sync__subcmd__udso`), so no arm matched and no option of a
/// subcommand completed (clap-rs/clap#6421). The arms are respelled the loop's way.
fn mend_bash_case_labels(script: &str) -> String {
    let arms = PROGRAM.replace('-', "__subcmd__");
    let state = PROGRAM.replace('-', "__");
    script.replace(&format!("{arms}__subcmd__"), &format!("{state}__subcmd__"))
}

/// Every command below `command` that takes options of its own (the leaves: `udso list`,
/// not `udso`), with its path of names, in the order `--help` lists them.
fn commands(command: &clap::Command, path: Vec<String>) -> Vec<(Vec<String>, &clap::Command)> {
    let mut found = Vec::new();
    for sub in command.get_subcommands() {
        let mut sub_path = path.clone();
        sub_path.push(sub.get_name().to_owned());
        if sub.has_subcommands() {
            found.extend(commands(sub, sub_path));
        } else {
            found.push((sub_path, sub));
        }
    }
    found
}

/// `.SH` (section) headings as `.SS` (subsection) headings.
fn demote_sections(roff: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(roff);
    text.lines()
        .map(|line| match line.strip_prefix(".SH ") {
            Some(heading) => format!(".SS {heading}\n"),
            None => format!("{line}\n"),
        })
        .collect::<String>()
        .into_bytes()
}
