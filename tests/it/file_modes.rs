//! Files only their owner reads (issue 19, item 4): the state file, the log, the lock and the
//! metrics file's temporary are created 0600 (the metrics file itself 0644, as documented),
//! a symbolic link planted at any of their paths is refused, and a temporary left by a run
//! that was killed is swept. Unix only: the modes and the links are Unix's.
#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::common::*;
use apex_ioc_sync::sim::taxii::{TaxiiSimConfig, indicator};
use apex_ioc_sync::sim::{BackgroundApex, BackgroundTaxii};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn feed() -> BackgroundTaxii {
    let taxii = start_taxii(TaxiiSimConfig::default());
    let collection = "91a7b528-80eb-42ed-a74d-c6fbd5a26116";
    taxii.sim.add_collection(collection, "feed", None, true);
    let added = chrono::Utc::now() - chrono::Duration::hours(1);
    taxii.sim.add_object(
        collection,
        added,
        indicator(
            "indicator--0d9c8b7a-0000-4000-8000-000000000002",
            "[domain-name:value = 'modes-c2.example']",
            added,
        ),
    );
    taxii
}

/// The job's four files, in `dir`.
struct JobFiles {
    state: PathBuf,
    log: PathBuf,
    lock: PathBuf,
    metrics: PathBuf,
}

impl JobFiles {
    fn in_dir(dir: &Path) -> Self {
        JobFiles {
            state: dir.join("job.db"),
            log: dir.join("job.log"),
            lock: dir.join("job.lock"),
            metrics: dir.join("job.prom"),
        }
    }
}

/// A TAXII job (it has a state file) writing all four files.
fn job(
    dir: &Path,
    apex: &BackgroundApex,
    taxii: &BackgroundTaxii,
    files: &JobFiles,
) -> assert_cmd::Command {
    let mut cmd = taxii_cmd(dir, apex, taxii);
    cmd.args(["--state-file", files.state.to_str().unwrap()])
        .args([
            "--logging",
            "file",
            "--log-file",
            files.log.to_str().unwrap(),
        ])
        .args(["--lock-file", files.lock.to_str().unwrap()])
        .args(["--metrics-file", files.metrics.to_str().unwrap()]);
    cmd
}

#[test]
fn the_state_log_and_lock_files_are_0600_and_the_metrics_file_0644() {
    let (apex, taxii) = (start_apex(), feed());
    let dir = tempfile::tempdir().unwrap();
    let files = JobFiles::in_dir(dir.path());
    job(dir.path(), &apex, &taxii, &files).assert().success();
    assert_eq!(owned(&apex, "taxii"), ["domain modes-c2.example"]);
    for path in [&files.state, &files.log, &files.lock] {
        assert_eq!(mode(path), 0o600, "{}", path.display());
    }
    assert_eq!(mode(&files.metrics), 0o644);
    // SQLite's own files, when they are there, have the database file's mode.
    for suffix in ["-wal", "-shm"] {
        let path = PathBuf::from(format!("{}{suffix}", files.state.display()));
        if path.exists() {
            assert_eq!(mode(&path), 0o600, "{}", path.display());
        }
    }
    // No temporary is left beside the metrics file.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_symbolic_link_planted_at_any_of_the_job_files_is_refused() {
    let (apex, taxii) = (start_apex(), feed());
    type Pick = fn(&JobFiles) -> &PathBuf;
    let picks: [(&str, Pick); 4] = [
        ("state", |f| &f.state),
        ("log", |f| &f.log),
        ("lock", |f| &f.lock),
        ("metrics", |f| &f.metrics),
    ];
    for (what, pick) in picks {
        let dir = tempfile::tempdir().unwrap();
        let files = JobFiles::in_dir(dir.path());
        let victim = dir.path().join("victim.txt");
        std::fs::write(&victim, "not this job's\n").unwrap();
        let planted = pick(&files);
        std::os::unix::fs::symlink(&victim, planted).unwrap();
        let out = job(dir.path(), &apex, &taxii, &files).assert().failure();
        let (_, stderr) = output_text(out.get_output());
        // The log file's own failure is on the screen; the others' may be in the log.
        let logged = std::fs::read_to_string(&files.log).unwrap_or_default();
        let said = format!("{stderr}{logged}");
        assert!(
            said.contains(&planted.display().to_string()) && said.contains("symbolic link"),
            "{what}: {said}"
        );
        assert_eq!(
            std::fs::read_to_string(&victim).unwrap(),
            "not this job's\n",
            "{what}: the file the link points to was written"
        );
        assert!(
            std::fs::symlink_metadata(planted)
                .unwrap()
                .file_type()
                .is_symlink(),
            "{what}: the link was replaced"
        );
    }
}

#[test]
fn a_metrics_temporary_left_by_a_killed_run_is_swept() {
    let (apex, taxii) = (start_apex(), feed());
    let dir = tempfile::tempdir().unwrap();
    let files = JobFiles::in_dir(dir.path());
    // What a run killed while writing its metrics left: this version's name and an older
    // version's (`.<name>.<pid>.tmp`), two minutes old; and one being written right now.
    let stale = [
        dir.path().join(".job.prom.Xy12Ab.tmp"),
        dir.path().join(".job.prom.4242.tmp"),
    ];
    let old = SystemTime::now() - Duration::from_secs(120);
    for path in &stale {
        std::fs::write(path, "apex_ioc_sync_run_exit_code 0\n").unwrap();
        std::fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(old)
            .unwrap();
    }
    let young = dir.path().join(".job.prom.Qw34Er.tmp");
    std::fs::write(&young, "").unwrap();
    // Another job's temporary is not this job's to remove.
    let other = dir.path().join(".other.prom.Zz99Yy.tmp");
    std::fs::write(&other, "").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&other)
        .unwrap()
        .set_modified(old)
        .unwrap();
    job(dir.path(), &apex, &taxii, &files).assert().success();
    for path in &stale {
        assert!(!path.exists(), "{} was not swept", path.display());
    }
    assert!(young.exists() && other.exists());
    assert!(files.metrics.exists());
}
