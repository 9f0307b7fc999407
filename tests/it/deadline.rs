//! `--max-run-minutes` bounds the whole run: past the deadline no write is started (the
//! rest is left for the next run, which makes it), removals never start, and no retry or
//! 429 wait that would end past it is started. The real binary against the simulated Apex
//! Central, slowed down.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::*;

/// The file job (tag `file`, domains only, entries that never expire) over `iocs.txt`.
fn file_job(dir: &Path, apex: &apex_ioc_sync::sim::BackgroundApex) -> assert_cmd::Command {
    let mut cmd = apex_cmd(dir, apex);
    cmd.args([
        "--source",
        "file",
        "--ioc-types",
        "domain",
        "--no-expiration-date",
        "--file",
        "iocs.txt",
    ]);
    cmd
}

fn write_list(dir: &Path, domains: &[String]) {
    let text: String = domains.iter().map(|d| format!("{d}\n")).collect();
    std::fs::write(dir.join("iocs.txt"), text).unwrap();
}

/// A slow server and a deadline of 3 seconds: the adds stop when it passes, the removals
/// never start, the run says what it left (summary, `--json`, exit 6); the next run makes
/// the rest.
#[test]
fn writes_stop_at_the_deadline_and_the_next_run_completes() {
    let apex = start_apex();
    let dir = tempfile::tempdir().unwrap();
    // Twelve entries of ours; the source keeps two and brings forty new ones.
    for n in 0..12 {
        apex.sim.insert(entry(
            "domain",
            &format!("old{n:02}.example"),
            "apex-ioc-sync:file x",
        ));
    }
    let mut desired: Vec<String> = (0..40).map(|n| format!("new{n:02}.example")).collect();
    desired.extend(["old00.example".to_owned(), "old01.example".to_owned()]);
    write_list(dir.path(), &desired);
    apex.sim
        .control
        .faults
        .set_latency(Duration::from_millis(250));
    let log = dir.path().join("job.log");
    let began = Instant::now();
    let out = file_job(dir.path(), &apex)
        .args(["--threads", "1", "--max-run-minutes", "0.05", "--json"])
        .arg("--log-file")
        .arg(&log)
        .assert()
        .code(6);
    let took = began.elapsed();
    let report = json(&out);
    assert_eq!(report["plan"]["add"], 40);
    assert_eq!(report["plan"]["remove"], 10);
    let (put, left_add) = (
        report["put"].as_u64().unwrap(),
        report["left"]["add"].as_u64().unwrap(),
    );
    assert!(left_add > 0, "{report:#}");
    assert_eq!(put + left_add, 40, "{report:#}");
    assert_eq!(report["left"]["update"], 0);
    assert_eq!(report["left"]["remove"], 10);
    assert_eq!(report["failed"], serde_json::json!([]));
    // Removals never start after the deadline; the run ends with the write under way.
    assert_eq!(apex.sim.control.stats.count("DELETE"), 0);
    assert_eq!(apex.sim.control.stats.count("PUT"), put);
    assert!(took < Duration::from_secs(15), "{took:?}");
    let (_, stderr) = output_text(out.get_output());
    assert!(
        stderr.contains("the run's deadline (--max-run-minutes) passed with writes left")
            && stderr.contains(&format!("{left_add} adds, 0 updates and 10 removals")),
        "{stderr}"
    );
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains(&format!(
            "DEADLINE (--max-run-minutes) reached: left for the next run +{left_add} ~0 -10"
        )),
        "{logged}"
    );

    // The next run, on a server answering at once, makes the rest.
    apex.sim.control.faults.clear();
    let out = file_job(dir.path(), &apex).arg("--json").assert().success();
    let report = json(&out);
    assert_eq!(report["plan"]["add"], left_add);
    assert_eq!(report["deleted"], 10);
    assert_eq!(report["left"]["add"], 0);
    let mut expected: Vec<String> = desired.iter().map(|d| format!("domain {d}")).collect();
    expected.sort();
    assert_eq!(owned(&apex, "file"), expected);
}

/// A 429 asking to wait 100 seconds, with the deadline 6 seconds from the start: the wait
/// is not started, the write is reported as failed (exit 4) and the run ends in time.
#[test]
fn a_long_retry_after_near_the_deadline_does_not_make_the_run_overrun() {
    let apex = start_apex();
    let dir = tempfile::tempdir().unwrap();
    let desired: Vec<String> = (0..6).map(|n| format!("d{n}.example")).collect();
    write_list(dir.path(), &desired);
    // Requests 1 to 3: the access check, the list, the list again; the 4th is the first add.
    apex.sim.control.faults.error_429_every(4, 100);
    let began = Instant::now();
    let out = file_job(dir.path(), &apex)
        .args(["--threads", "1", "--max-run-minutes", "0.1", "--json"])
        .assert()
        .code(4);
    let took = began.elapsed();
    assert!(took < Duration::from_secs(20), "{took:?}");
    let report = json(&out);
    // Every 4th request is refused so: the 1st and 5th adds, not waited for.
    let failed = report["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 2, "{report:#}");
    assert_eq!(report["put"], 4);
    let (_, stderr) = output_text(out.get_output());
    assert!(
        stderr.contains("would end past the run's deadline (--max-run-minutes); not waited"),
        "{stderr}"
    );
}

/// The option moved to the Sync group: a job of any source takes it, and `.config` too.
#[test]
fn max_run_minutes_is_an_option_of_every_sync_job() {
    let apex = start_apex();
    let dir = tempfile::tempdir().unwrap();
    write_list(dir.path(), &["a.example".to_owned()]);
    std::fs::write(
        dir.path().join("job.config"),
        format!("{}max-run-minutes=0.5\n", apex_config(&apex)),
    )
    .unwrap();
    bin(dir.path())
        .args([
            "--config",
            "job.config",
            "--source",
            "file",
            "--file",
            "iocs.txt",
        ])
        .assert()
        .success();
    assert_eq!(owned(&apex, "file"), ["domain a.example"]);
    let out = bin(dir.path()).arg("--help").assert().success();
    let (help, _) = output_text(out.get_output());
    // The heading the option is listed under: the last line before it that is one.
    let option = help.find("--max-run-minutes").unwrap();
    let heading = help[..option]
        .lines()
        .rfind(|l| !l.starts_with(' ') && l.ends_with(':'))
        .unwrap();
    assert_eq!(heading, "Sync:", "{help}");
}

/// `--clean` is bounded too: past the deadline no removal starts, the summary says how many
/// were left, and the next `--clean` removes them.
#[test]
fn clean_stops_at_the_deadline_and_the_next_clean_finishes() {
    let apex = start_apex();
    let dir = tempfile::tempdir().unwrap();
    for n in 0..30 {
        apex.sim.insert(entry(
            "domain",
            &format!("d{n:02}.example"),
            "apex-ioc-sync:file x",
        ));
    }
    apex.sim.insert(entry("domain", "mine.example", "by hand"));
    apex.sim
        .control
        .faults
        .set_latency(Duration::from_millis(250));
    let out = apex_cmd(dir.path(), &apex)
        .args(["--clean", "--tag", "file", "--threads", "1"])
        .args(["--max-run-minutes", "0.05"])
        .assert()
        .code(6);
    let (stdout, _) = output_text(out.get_output());
    let deleted = apex.sim.control.stats.count("DELETE") as usize;
    assert!(deleted < 30, "{deleted}");
    assert!(
        stdout.contains(&format!(
            "{} left for the next run (--max-run-minutes reached)",
            30 - deleted
        )),
        "{stdout}"
    );
    apex.sim.control.faults.clear();
    apex_cmd(dir.path(), &apex)
        .args(["--clean", "--tag", "file"])
        .assert()
        .success();
    assert!(owned(&apex, "file").is_empty());
    assert_eq!(apex.sim.all_entries().len(), 1);
}
