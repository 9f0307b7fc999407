//! The files of an unattended job: as a service manager runs it (contrib/systemd: the config
//! file in a read-only folder, systemd's `LoadCredential=`, the job's files in the folders
//! `$STATE_DIRECTORY` and `$LOGS_DIRECTORY` name), and the log file's rotation.

use std::path::Path;

use apex_ioc_sync::lock::InstanceLock;
use apex_ioc_sync::logging::{LOG_FILE_NAME, LOG_KEEP_FILES, LOG_ROTATE_BYTES};
use apex_ioc_sync::sim::taxii::{TaxiiSimConfig, indicator};

use crate::common::{apex_cmd, apex_config, bin, output_text, start_apex, start_taxii};

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn state_lock_and_log_go_to_the_service_folders_and_nothing_beside_the_config() {
    let apex = start_apex();
    let taxii = start_taxii(TaxiiSimConfig::default());
    let collection = "91a7b528-80eb-42ed-a74d-c6fbd5a26116";
    taxii
        .sim
        .add_collection(collection, "Indicators", Some("ind"), true);
    let when = chrono::Utc::now() - chrono::Duration::hours(1);
    taxii.sim.add_object(
        collection,
        when,
        indicator("indicator--1", "[ipv4-addr:value = '198.51.100.7']", when),
    );

    let root = tempfile::tempdir().unwrap();
    let credentials = root.path().join("credentials");
    let state = root.path().join("state");
    let logs = root.path().join("logs");
    for dir in [&credentials, &state, &logs] {
        std::fs::create_dir(dir).unwrap();
    }
    let config = credentials.join("config");
    std::fs::write(
        &config,
        format!(
            "{}source=taxii\ntaxii-url={}\nlogging=file\n",
            apex_config(&apex),
            taxii.discovery_url()
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |path: &Path, mode| {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap()
        };
        mode(&config, 0o400);
        mode(&credentials, 0o500);
    }
    // systemd joins the folders of `StateDirectory=a b` with `:`; the first one is used.
    let unused = root.path().join("second-state");
    let state_dirs = std::env::join_paths([&state, &unused]).unwrap();
    let run = || {
        let mut cmd = bin(root.path());
        cmd.args(["--config", config.to_str().unwrap()])
            .env("STATE_DIRECTORY", &state_dirs)
            .env("LOGS_DIRECTORY", &logs);
        cmd
    };

    let out = run().assert().success();
    let (stdout, stderr) = output_text(out.get_output());
    assert_eq!((stdout.as_str(), stderr.as_str()), ("", ""));
    assert_eq!(
        names(&state),
        ["apex-ioc-sync-taxii.db", "apex-ioc-sync-taxii.lock"]
    );
    assert_eq!(names(&logs), ["apex-ioc-sync.log"]);
    let log = std::fs::read_to_string(logs.join("apex-ioc-sync.log")).unwrap();
    assert!(log.contains("taxii (tag taxii):"), "{log}");
    assert_eq!(names(&credentials), ["config"], "nothing beside the config");
    assert!(!unused.exists());
    assert_eq!(names(root.path()), ["credentials", "logs", "state"]);
    assert!(
        apex.sim
            .all_entries()
            .iter()
            .any(|e| e.content == "198.51.100.7")
    );

    // The lock that counts is the one in the state folder.
    let held = InstanceLock::acquire(&state.join("apex-ioc-sync-taxii.lock")).unwrap();
    let out = run().assert().code(3);
    let (_, stderr) = output_text(out.get_output());
    assert!(stderr.contains("Another instance is running"), "{stderr}");
    drop(held);

    // Flags still name the files.
    let elsewhere = root.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    run()
        .args(["--lock-file", elsewhere.join("j.lock").to_str().unwrap()])
        .args(["--state-file", elsewhere.join("j.db").to_str().unwrap()])
        .args(["--log-file", elsewhere.join("j.log").to_str().unwrap()])
        .assert()
        .success();
    assert_eq!(names(&elsewhere), ["j.db", "j.lock", "j.log"]);

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&credentials, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
}

/// `--logging file` writes `apex-ioc-sync.log`; past 10 MiB it moves to `.1`, the older ones
/// one up, and only five old files stay.
#[test]
fn the_log_file_rotates_past_its_size_and_keeps_five_old_files() {
    let apex = start_apex();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join(LOG_FILE_NAME);
    let old = |n: usize| dir.path().join(format!("{LOG_FILE_NAME}.{n}"));
    std::fs::write(&log, vec![b'x'; LOG_ROTATE_BYTES + 1]).unwrap();
    for n in 1..=LOG_KEEP_FILES {
        std::fs::write(old(n), format!("run {n} ago\n")).unwrap();
    }
    apex_cmd(dir.path(), &apex)
        .args(["--clean", "--logging", "file"])
        .assert()
        .success();
    let now = std::fs::read_to_string(&log).unwrap();
    assert!(now.contains("clean tag=lumu"), "{now}");
    assert!(!now.contains('x'), "a new file");
    assert_eq!(
        std::fs::metadata(old(1)).unwrap().len(),
        LOG_ROTATE_BYTES as u64 + 1
    );
    for n in 2..=LOG_KEEP_FILES {
        assert_eq!(
            std::fs::read_to_string(old(n)).unwrap(),
            format!("run {} ago\n", n - 1)
        );
    }
    assert!(!old(LOG_KEEP_FILES + 1).exists(), "the oldest is gone");

    // Under the size, the next run appends.
    apex_cmd(dir.path(), &apex)
        .args(["--clean", "--logging", "file"])
        .assert()
        .success();
    let again = std::fs::read_to_string(&log).unwrap();
    assert_eq!(again.matches("clean tag=lumu").count(), 2, "{again}");
    assert_eq!(
        std::fs::metadata(old(1)).unwrap().len(),
        LOG_ROTATE_BYTES as u64 + 1
    );
}
