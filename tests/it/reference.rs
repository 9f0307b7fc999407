//! `man` and `completions`: generated from the same clap definitions as `--help`, so every
//! command and every option of each is in the manual page and in each completion script.

use crate::common::*;

/// Every command that takes options of its own (`udso list`, not `udso`), by path, with the
/// long names of its visible options; the sync job is the empty path.
fn commands() -> Vec<(Vec<String>, Vec<String>)> {
    fn walk(command: &clap::Command, path: Vec<String>, out: &mut Vec<(Vec<String>, Vec<String>)>) {
        let longs = command
            .get_arguments()
            .filter(|a| !a.is_hide_set())
            .filter_map(|a| a.get_long().map(str::to_owned))
            .collect();
        if !command.has_subcommands() || path.is_empty() {
            out.push((path.clone(), longs));
        }
        for sub in command.get_subcommands() {
            let mut sub_path = path.clone();
            sub_path.push(sub.get_name().to_owned());
            walk(sub, sub_path, out);
        }
    }
    let mut command = apex_ioc_sync::cli::command();
    command.build();
    let mut out = Vec::new();
    walk(&command, Vec::new(), &mut out);
    out
}

fn stdout_of(args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = bin(dir.path()).args(args).assert().success();
    output_text(out.get_output()).0
}

/// The page is roff for section 1, has a section for each command, and names every
/// option of every command (roff escapes each `-` as `\-`).
#[test]
fn the_manual_page_documents_every_command_and_option() {
    let page = stdout_of(&["man"]);
    assert!(
        page.starts_with(".ie") || page.starts_with(".TH"),
        "{}",
        &page[..80]
    );
    assert!(page.contains(".TH apex-ioc-sync 1"), "no title line");
    assert!(
        page.contains(".SH \"EXIT STATUS\""),
        "no exit status section"
    );
    let commands = commands();
    assert!(commands.len() >= 8, "{commands:?}");
    for (path, longs) in commands {
        if !path.is_empty() {
            let heading = format!(".SH \"COMMAND: {}\"", path.join(" "));
            assert!(page.contains(&heading), "no section `{heading}`");
        }
        for long in longs {
            let flag = format!("\\-\\-{}", long.replace('-', "\\-"));
            assert!(
                page.contains(&flag),
                "`--{long}` of `{}` is not in the page",
                path.join(" ")
            );
        }
    }
}

/// Each shell's script is that shell's (its own registration line) and offers every
/// command's name and options.
#[test]
fn each_shells_completion_script_offers_every_command_and_option() {
    let shells = [
        ("bash", "complete -F _apex__ioc__sync"),
        ("zsh", "#compdef apex-ioc-sync"),
        ("fish", "complete -c apex-ioc-sync"),
        ("powershell", "Register-ArgumentCompleter"),
    ];
    let commands = commands();
    for (shell, marker) in shells {
        let script = stdout_of(&["completions", shell]);
        assert!(script.contains(marker), "{shell}: no `{marker}`");
        for (path, longs) in &commands {
            for name in path {
                assert!(
                    script.contains(name.as_str()),
                    "{shell}: no command `{name}`"
                );
            }
            for long in longs {
                assert!(script.contains(long.as_str()), "{shell}: no `--{long}`");
            }
        }
    }
}

/// An unknown shell is a usage error naming the shells there are.
#[test]
fn an_unknown_shell_is_exit_2_naming_the_shells() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin(dir.path())
        .args(["completions", "tcsh"])
        .assert()
        .code(2);
    let (_, stderr) = output_text(out.get_output());
    assert!(stderr.contains("tcsh"), "{stderr}");
    assert!(stderr.contains("bash, zsh, fish, powershell"), "{stderr}");
}

/// The bash script loads in bash and completes the options of the sync job and of a
/// command below the program (`udso list --ho` -> `--host`), which clap_complete's own
/// script got wrong for a program name with a hyphen.
#[cfg(unix)]
#[test]
fn the_bash_completion_loads_and_completes_a_subcommands_options() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("apex-ioc-sync.bash");
    std::fs::write(&script, stdout_of(&["completions", "bash"])).unwrap();
    let complete = |words: &str, cword: usize, cur: &str, prev: &str| -> String {
        let probe = format!(
            "source '{}' || exit 9; COMP_WORDS=({words}); COMP_CWORD={cword}; \
             _apex__ioc__sync apex-ioc-sync '{cur}' '{prev}'; echo \"${{COMPREPLY[*]}}\"",
            script.display()
        );
        let out = std::process::Command::new("bash")
            .args(["--norc", "-c", &probe])
            .output()
            .expect("bash runs (the completion test needs bash on Unix)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    assert_eq!(
        complete("apex-ioc-sync --sou", 1, "--sou", "apex-ioc-sync"),
        "--source"
    );
    assert_eq!(
        complete("apex-ioc-sync udso list --ho", 3, "--ho", "list"),
        "--host"
    );
    assert_eq!(
        complete("apex-ioc-sync openioc upload --ex", 3, "--ex", "upload"),
        "--extract"
    );
}
