//! Help that fits each command: a command takes only the options that apply to it, shows
//! them under their group's heading, and refuses (exit 2, by name) an option of another
//! command, or one written before the subcommand's name.

use crate::common::*;

/// `COMMAND --help` on standard output.
fn help(command: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = bin(dir.path())
        .args(command)
        .arg("--help")
        .assert()
        .success();
    output_text(out.get_output()).0
}

/// Each command's help lists its own options under their headings, and no other command's.
#[test]
fn each_commands_help_lists_its_options_and_no_others() {
    let cases: &[(&[&str], &[&str], &[&str])] = &[
        (
            &["udso", "list"],
            &[
                "Apex Central:",
                "--host",
                "--application-id",
                "--api-key",
                "Proxy and HTTP:",
                "--proxy-host",
                "--timeout",
                "Output:",
                "--json",
                "Logging:",
                "--logging",
                "--config",
                "--type",
            ],
            &[
                "Lumu:",
                "--company-key",
                "--lumu-url",
                "TAXII:",
                "--taxii-url",
                "Vision One:",
                "--v1-token",
                "--sink",
                "--tag",
                "--dry-run",
                "--ioc-types",
                "--scan-action",
                "--exclude",
            ],
        ),
        (
            &["list"],
            &[
                "Destination:",
                "--sink",
                "Apex Central:",
                "--host",
                "Vision One:",
                "--v1-token",
                "--json",
                "--type",
                "--config",
            ],
            &[
                "--company-key",
                "--taxii-url",
                "--tag",
                "--dry-run",
                "--risk-level",
                "--scan-action",
            ],
        ),
        (
            &["openioc", "upload"],
            &["--host", "--scan-action", "--extract", "--json", "--config"],
            &[
                "--dry-run",
                "--company-key",
                "--sink",
                "--tag",
                "--v1-token",
            ],
        ),
        (
            &["openioc", "list"],
            &["--host", "--json", "--config"],
            &["--scan-action", "--company-key", "--sink", "--extract"],
        ),
        (
            &["openioc", "delete"],
            &["--host", "--json", "<HASHID>"],
            &["--scan-action", "--company-key", "--sink"],
        ),
        (
            &["demo"],
            &["Destination:", "--sink"],
            &["--host", "--config", "--verbose", "--company-key"],
        ),
        (
            &["simulate"],
            &["--port", "--lumu-port", "--tls-cert"],
            &["--host", "--config", "--sink", "--verbose"],
        ),
        (
            &[],
            &[
                "Commands:",
                "Destination:",
                "Apex Central:",
                "Vision One:",
                "Lumu:",
                "TAXII:",
                "Files:",
                "Sync:",
                "Exclusions:",
                "Proxy and HTTP:",
                "Output:",
                "Logging:",
                "--company-key",
                "--company-key",
                "--host",
                "--risk-level",
                "[default: 60]",
                "[default: https://defender.lumu.io]",
            ],
            &["--type"],
        ),
    ];
    for (command, listed, absent) in cases {
        let text = help(command);
        for option in *listed {
            assert!(
                text.contains(option),
                "`{command:?} --help` lacks {option}:\n{text}"
            );
        }
        for option in *absent {
            assert!(
                !text.contains(option),
                "`{command:?} --help` shows {option}:\n{text}"
            );
        }
    }
}

/// An option of another command is a usage error from the parser, exit 2, naming it, and
/// nothing is sent.
#[test]
fn an_option_a_command_does_not_take_is_exit_2_naming_it() {
    let apex = start_apex();
    let dir = tempfile::tempdir().unwrap();
    for (command, option) in [
        (&["udso", "list"][..], &["--company-key", "k"][..]),
        (&["udso", "list"], &["--company_key", "k"]),
        (&["udso", "list"], &["--tag", "t"]),
        (&["udso", "list"], &["--sink", "apex"]),
        (&["list"], &["--dry-run"]),
        (&["openioc", "list"], &["--scan-action", "log"]),
        (&["openioc", "upload", "x.ioc"], &["--dry-run"]),
    ] {
        let out = apex_run(dir.path(), &apex, command)
            .args(option)
            .assert()
            .code(2);
        let stderr = output_text(out.get_output()).1;
        assert!(
            stderr.contains(&format!("unexpected argument '{}'", option[0]))
                && stderr.contains("is an option of: apex-ioc-sync (the sync job)"),
            "{command:?} {option:?}: {stderr}"
        );
    }
    for (command, option) in [(&["demo"], "--host"), (&["simulate"], "--config")] {
        let out = bin(dir.path())
            .args(command)
            .args([option, "x"])
            .assert()
            .code(2);
        let stderr = output_text(out.get_output()).1;
        assert!(
            stderr.contains(&format!("unexpected argument '{option}'")),
            "{command:?}: {stderr}"
        );
    }
    assert_eq!(apex.sim.control.stats.total(), 0);
}

/// Options follow the command they belong to: one written before a subcommand's name is
/// refused, naming it and showing where it goes; the sync job's own form is unchanged.
#[test]
fn an_option_before_a_subcommand_is_refused_and_told_where_it_goes() {
    let apex = start_apex();
    let dir = tempfile::tempdir().unwrap();
    let refused = |args: &[&str]| {
        let out = bin(dir.path()).args(args).assert().code(2);
        output_text(out.get_output()).1
    };
    let e = refused(&["--host", &apex.url(), "udso", "list"]);
    assert!(
        e.contains("`--host` is written before the subcommand `udso list`")
            && e.contains("`apex-ioc-sync udso list --host ...`")
            && e.contains("Usage: apex-ioc-sync udso list [OPTIONS]"),
        "{e}"
    );
    let e = refused(&["-v", "openioc", "list"]);
    assert!(
        e.contains("`--verbose` is written before the subcommand `openioc list`"),
        "{e}"
    );
    let e = refused(&["--company-key", "k", "udso", "list"]);
    assert!(
        e.contains("`--company-key` is an option of the sync job")
            && e.contains("`udso list` does not take it"),
        "{e}"
    );
    let e = refused(&["--config", "job.config", "list"]);
    assert!(
        e.contains("`--config` is written before the subcommand `list`"),
        "{e}"
    );
    assert_eq!(apex.sim.control.stats.total(), 0);
    // After it, the same options work.
    apex_run(dir.path(), &apex, &["udso", "list"])
        .arg("-v")
        .assert()
        .success();
}

/// A job's `.config` holds Lumu, TAXII, sync and Vision One lines beside Apex Central's:
/// `udso list --config` takes the Apex Central parts and leaves the rest; `list` takes the
/// destination lines too, and so refuses the mix as a job would.
#[test]
fn udso_list_with_a_job_config_uses_only_its_own_lines() {
    let apex = start_apex();
    apex.sim
        .insert(entry("domain", "c2.example", "apex-ioc-sync:lumu x"));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("job.config");
    std::fs::write(
        &config,
        format!(
            "{}company-key=lumu-key\nlumu-url=https://defender.lumu.io\nadversary-types=C2C\ndays=7\n\
             tag=lumu\nioc-types=ip,domain,url,hash\nscan-action=log\ntaxii-url=https://taxii.example/\n\
             exclude=/nonexistent/list.txt\nv1-region=eu\ntimeout=20\n",
            apex_config(&apex)
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let config = config.to_str().unwrap();
    let out = bin(dir.path())
        .args(["udso", "list", "--config", config])
        .assert()
        .success();
    let (stdout, stderr) = output_text(out.get_output());
    assert!(
        stdout.contains("1 entry (domain 1); 1 carries an apex-ioc-sync tag (lumu 1)"),
        "{stdout}\n{stderr}"
    );
    let out = bin(dir.path())
        .args(["list", "--config", config])
        .assert()
        .code(2);
    let stderr = output_text(out.get_output()).1;
    assert!(
        stderr.contains("--v1-region (")
            && stderr.contains("job.config:13) is an option of Vision One"),
        "{stderr}"
    );
    // A bad line is an error whichever command reads the file: the file is validated whole.
    std::fs::write(dir.path().join("bad.config"), "host=x\ndays=99999\n").unwrap();
    let out = bin(dir.path())
        .args(["udso", "list", "--config", "bad.config"])
        .assert()
        .code(2);
    let stderr = output_text(out.get_output()).1;
    assert!(stderr.contains("bad.config:2: `days`"), "{stderr}");
}

/// `help COMMAND` prints what `COMMAND --help` prints.
#[test]
fn the_help_command_prints_a_commands_help() {
    let dir = tempfile::tempdir().unwrap();
    for command in [&["udso", "list"][..], &["openioc", "upload"], &[]] {
        let out = bin(dir.path()).arg("help").args(command).assert().success();
        assert_eq!(
            output_text(out.get_output()).0,
            help(command),
            "{command:?}"
        );
    }
    let out = bin(dir.path())
        .args(["help", "udso", "nope"])
        .assert()
        .code(2);
    assert!(
        output_text(out.get_output())
            .1
            .contains("no command `udso nope`"),
    );
}

/// Usage lines and hints name the program `apex-ioc-sync` whatever its file is called
/// (`apex-ioc-sync.exe` on Windows), so `help udso list` prints what `udso list --help` does.
#[test]
fn usage_lines_name_the_program_whatever_its_file_is_called() {
    let dir = tempfile::tempdir().unwrap();
    let renamed = dir.path().join("renamed-sync.exe");
    std::fs::copy(assert_cmd::cargo::cargo_bin("apex-ioc-sync"), &renamed).unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(&renamed)
            .current_dir(dir.path())
            .args(args)
            .output()
            .unwrap();
        let (stdout, stderr) = output_text(&out);
        format!("{stdout}{stderr}")
    };
    for args in [&["udso", "list", "--help"][..], &["udso", "list", "--nope"]] {
        let text = run(args);
        assert!(
            text.contains("Usage: apex-ioc-sync udso list [OPTIONS]") && !text.contains("renamed"),
            "{args:?}: {text}"
        );
    }
}
