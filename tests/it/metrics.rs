//! `--metrics-file`: the real binary's runs against the simulators over loopback HTTP, and
//! the file each leaves, read back with a Prometheus text-format parser (`prometheus-parse`).

use std::path::{Path, PathBuf};

use crate::common::*;
use apex_ioc_sync::lock::InstanceLock;
use apex_ioc_sync::sim::lumu::SimIncident;
use apex_ioc_sync::sim::taxii::{TaxiiSimConfig, indicator};
use axum::http::StatusCode;
use prometheus_parse::{Sample, Scrape, Value};

/// A metrics file as parsed, with the job's labels it must carry on every series.
struct Metrics {
    samples: Vec<Sample>,
}

impl Metrics {
    /// Parses the file at `path`. The parser skips lines it cannot read, so every sample
    /// line of the file must come out as a sample; every series is a gauge with the job's
    /// labels `tag`, `source` and `sink`.
    fn read(path: &Path, tag: &str, source: &str) -> Self {
        let text = std::fs::read_to_string(path).expect("the metrics file exists");
        assert!(text.ends_with('\n'), "{text}");
        let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap();
        let sample_lines = text
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .count();
        assert_eq!(
            scrape.samples.len(),
            sample_lines,
            "every line parses:\n{text}"
        );
        for s in &scrape.samples {
            assert!(s.metric.starts_with("apex_ioc_sync_"), "{}", s.metric);
            assert!(
                matches!(s.value, Value::Gauge(_)),
                "{} is not a gauge",
                s.metric
            );
            assert_eq!(s.labels.get("tag"), Some(tag), "{}", s.metric);
            assert_eq!(s.labels.get("source"), Some(source), "{}", s.metric);
            assert_eq!(s.labels.get("sink"), Some("apex"), "{}", s.metric);
            assert!(
                scrape.docs.contains_key(&s.metric),
                "{} has no HELP",
                s.metric
            );
        }
        Metrics {
            samples: scrape.samples,
        }
    }

    /// The value of `name` with these labels (beside the job's), if the file has it.
    fn find(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let found: Vec<f64> = self
            .samples
            .iter()
            .filter(|s| s.metric == name)
            .filter(|s| s.labels.len() == 3 + labels.len())
            .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map(|s| match s.value {
                Value::Gauge(v) => v,
                _ => unreachable!(),
            })
            .collect();
        assert!(found.len() <= 1, "{name} {labels:?} twice");
        found.first().copied()
    }

    /// The value of `name` with these labels; the test fails when the file lacks it.
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.find(name, labels)
            .unwrap_or_else(|| panic!("no {name} {labels:?}"))
    }

    fn has(&self, name: &str) -> bool {
        self.samples.iter().any(|s| s.metric == name)
    }
}

fn now() -> f64 {
    chrono::Utc::now().timestamp_micros() as f64 / 1e6
}

/// The names in `dir`, sorted.
fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A folder for the metrics file alone, inside `dir`, and the file's path.
fn metrics_path(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let folder = dir.join("textfile");
    std::fs::create_dir_all(&folder).unwrap();
    let path = folder.join(name);
    (folder, path)
}

#[test]
fn a_lumu_job_writes_real_values_and_a_failed_run_keeps_the_last_success() {
    let apex = start_apex();
    let lumu = start_lumu();
    // Someone else's entry: it fills the list but is not ours.
    apex.sim.insert(entry("ip", "192.0.2.77", "added by hand"));
    lumu.sim.add(
        SimIncident::open(
            "inc-1",
            chrono::Duration::hours(5),
            &["c2.example", "203.0.113.5", "10.1.2.3"],
            &["C2C"],
        )
        .with_triggers(&["https://c2.example/gate.php"])
        .with_files(&["3395856ce81f2b7382dee72602f798b642f14140"]),
    );
    lumu.sim.add(SimIncident::open(
        "inc-2",
        chrono::Duration::hours(3),
        &["phish.example", "2001:db8::1"],
        &["Phishing"],
    ));
    let dir = tempfile::tempdir().unwrap();
    let (folder, path) = metrics_path(dir.path(), "lumu.prom");
    let run = |code: i32| {
        let before = now();
        lumu_cmd(dir.path(), &apex, &lumu)
            .arg("--metrics-file")
            .arg(&path)
            .assert()
            .code(code);
        let m = Metrics::read(&path, "lumu", "lumu");
        let ended = m.get("apex_ioc_sync_last_run_timestamp_seconds", &[]);
        assert!(ended >= before && ended <= now(), "{before} <= {ended}");
        m
    };

    // The first push.
    let m = run(0);
    assert_eq!(m.get("apex_ioc_sync_last_run_exit_code", &[]), 0.0);
    assert_eq!(
        m.get("apex_ioc_sync_last_success_timestamp_seconds", &[]),
        m.get("apex_ioc_sync_last_run_timestamp_seconds", &[])
    );
    let duration = m.get("apex_ioc_sync_last_run_duration_seconds", &[]);
    assert!(duration > 0.0 && duration < 60.0, "{duration}");
    assert_eq!(m.get("apex_ioc_sync_last_run_dry_run", &[]), 0.0);
    assert_eq!(m.get("apex_ioc_sync_last_run_clean", &[]), 0.0);
    assert_eq!(m.get("apex_ioc_sync_source_items", &[]), 2.0);
    for (kind, n) in [("ip", 1.0), ("domain", 2.0), ("url", 1.0)] {
        assert_eq!(m.get("apex_ioc_sync_desired_iocs", &[("type", kind)]), n);
    }
    for (reason, n) in [("ipv6", 1.0), ("not-selected", 1.0)] {
        assert_eq!(
            m.get("apex_ioc_sync_skipped_iocs", &[("reason", reason)]),
            n
        );
    }
    assert_eq!(
        m.get(
            "apex_ioc_sync_excluded_iocs",
            &[("list", "builtin:private-ipv4")]
        ),
        1.0
    );
    for (action, n) in [
        ("add", 4.0),
        ("update", 0.0),
        ("remove", 0.0),
        ("unchanged", 0.0),
        ("preserved", 0.0),
    ] {
        assert_eq!(
            m.get("apex_ioc_sync_plan_entries", &[("action", action)]),
            n
        );
    }
    let writes = |m: &Metrics, action, result| {
        m.get(
            "apex_ioc_sync_writes",
            &[("action", action), ("result", result)],
        )
    };
    assert_eq!(writes(&m, "put", "done"), 4.0);
    assert_eq!(writes(&m, "put", "failed"), 0.0);
    assert_eq!(writes(&m, "delete", "done"), 0.0);
    // Listed before the writes: the foreign entry only.
    assert_eq!(m.get("apex_ioc_sync_owned_entries", &[("type", "ip")]), 0.0);
    assert_eq!(
        m.get("apex_ioc_sync_listed_entries", &[("type", "ip")]),
        1.0
    );
    assert_eq!(
        m.get("apex_ioc_sync_capacity_entries", &[("type", "ip")]),
        10_000.0
    );
    assert_eq!(
        m.get("apex_ioc_sync_capacity_headroom_ratio", &[("type", "ip")]),
        0.9999
    );
    assert_eq!(
        m.get("apex_ioc_sync_capacity_headroom_ratio", &[("type", "url")]),
        1.0
    );
    assert_eq!(
        m.find("apex_ioc_sync_owned_entries", &[("type", "file_sha1")]),
        None,
        "a type the job does not push is not listed"
    );
    assert_eq!(m.get("apex_ioc_sync_brake_engaged", &[]), 0.0);
    assert_eq!(m.get("apex_ioc_sync_brake_held_removals", &[]), 0.0);
    assert_eq!(m.get("apex_ioc_sync_removals_withheld", &[]), 0.0);
    assert_eq!(m.get("apex_ioc_sync_source_warnings", &[]), 0.0);
    assert_eq!(m.get("apex_ioc_sync_lumu_incidents", &[]), 2.0);
    assert_eq!(
        m.get("apex_ioc_sync_lumu_contexts", &[("state", "read")]),
        2.0
    );
    assert_eq!(
        m.get("apex_ioc_sync_lumu_calls", &[("endpoint", "context")]),
        2.0
    );
    assert_eq!(
        m.get("apex_ioc_sync_lumu_calls", &[("endpoint", "incidents")]),
        lumu.sim
            .calls(apex_ioc_sync::sim::lumu::Endpoint::Incidents) as f64
    );
    assert!(!m.has("apex_ioc_sync_taxii_cursor_age_seconds"));
    assert!(!m.has("apex_ioc_sync_lumu_context_reads_stopped"));

    // Unchanged: nothing written, everything owned, contexts from the cache.
    let second = run(0);
    assert_eq!(
        second.get("apex_ioc_sync_plan_entries", &[("action", "unchanged")]),
        4.0
    );
    assert_eq!(
        second.get("apex_ioc_sync_plan_entries", &[("action", "add")]),
        0.0
    );
    assert_eq!(writes(&second, "put", "done"), 0.0);
    for (kind, owned, listed) in [("ip", 1.0, 2.0), ("domain", 2.0, 2.0), ("url", 1.0, 1.0)] {
        assert_eq!(
            second.get("apex_ioc_sync_owned_entries", &[("type", kind)]),
            owned
        );
        assert_eq!(
            second.get("apex_ioc_sync_listed_entries", &[("type", kind)]),
            listed
        );
    }
    assert_eq!(
        second.get("apex_ioc_sync_capacity_headroom_ratio", &[("type", "ip")]),
        0.9998
    );
    assert_eq!(
        second.get("apex_ioc_sync_lumu_contexts", &[("state", "cached")]),
        2.0
    );
    assert_eq!(
        second.get("apex_ioc_sync_lumu_contexts", &[("state", "read")]),
        0.0
    );
    let success = second.get("apex_ioc_sync_last_success_timestamp_seconds", &[]);
    assert_eq!(
        success,
        second.get("apex_ioc_sync_last_run_timestamp_seconds", &[])
    );
    assert!(success > m.get("apex_ioc_sync_last_success_timestamp_seconds", &[]));

    // The source fails: the file says so, keeps the last success, and has no counts (the
    // run made no report).
    lumu.sim
        .break_answers(Some((StatusCode::OK, "{\"items\": [")));
    let failed = run(1);
    assert_eq!(failed.get("apex_ioc_sync_last_run_exit_code", &[]), 1.0);
    assert_eq!(
        failed.get("apex_ioc_sync_last_success_timestamp_seconds", &[]),
        success
    );
    assert!(failed.get("apex_ioc_sync_last_run_timestamp_seconds", &[]) > success);
    for family in [
        "apex_ioc_sync_desired_iocs",
        "apex_ioc_sync_plan_entries",
        "apex_ioc_sync_writes",
        "apex_ioc_sync_owned_entries",
        "apex_ioc_sync_lumu_contexts",
    ] {
        assert!(!failed.has(family), "{family} after a failed source");
    }

    // Another instance holds the lock: this one did no run, and leaves the file to it.
    let written = std::fs::read_to_string(&path).unwrap();
    let _held = InstanceLock::acquire(&dir.path().join("apex-ioc-sync-lumu.lock")).unwrap();
    lumu_cmd(dir.path(), &apex, &lumu)
        .arg("--metrics-file")
        .arg(&path)
        .assert()
        .code(3);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), written);

    // Every file was replaced whole: no temporary file is left beside it.
    assert_eq!(names_in(&folder), ["lumu.prom"]);
}

/// `--source file` with the first `n` addresses of 198.51.100.0/24.
fn write_list(path: &Path, n: u8) {
    let list: String = (1..=n).map(|i| format!("198.51.100.{i}\n")).collect();
    std::fs::write(path, list).unwrap();
}

#[test]
fn a_file_job_shows_the_brake_a_dry_run_and_a_clean_run() {
    let apex = start_apex();
    let dir = tempfile::tempdir().unwrap();
    let (folder, path) = metrics_path(dir.path(), "file.prom");
    let list = dir.path().join("iocs.txt");
    let run = |extra: &[&str], code: i32| {
        apex_cmd(dir.path(), &apex)
            .args(["--source", "file", "--tag", "feed-a", "--file"])
            .arg(&list)
            .arg("--metrics-file")
            .arg(&path)
            .args(extra)
            .assert()
            .code(code);
        Metrics::read(&path, "feed-a", "file")
    };
    write_list(&list, 20);
    let first = run(&[], 0);
    assert_eq!(first.get("apex_ioc_sync_source_items", &[]), 20.0);
    assert_eq!(
        first.get("apex_ioc_sync_desired_iocs", &[("type", "ip")]),
        20.0
    );
    assert_eq!(
        first.get("apex_ioc_sync_desired_iocs", &[("type", "domain")]),
        0.0,
        "a chosen type the source gave none of is 0"
    );
    assert!(!first.has("apex_ioc_sync_lumu_incidents"));
    let success = first.get("apex_ioc_sync_last_success_timestamp_seconds", &[]);

    // The source drops 19 of 20: the brake holds the removals back (exit 5).
    write_list(&list, 1);
    let braked = run(&[], 5);
    assert_eq!(braked.get("apex_ioc_sync_last_run_exit_code", &[]), 5.0);
    assert_eq!(braked.get("apex_ioc_sync_brake_engaged", &[]), 1.0);
    assert_eq!(braked.get("apex_ioc_sync_brake_held_removals", &[]), 19.0);
    assert_eq!(
        braked.get("apex_ioc_sync_plan_entries", &[("action", "remove")]),
        0.0
    );
    assert_eq!(
        braked.get(
            "apex_ioc_sync_writes",
            &[("action", "delete"), ("result", "done")]
        ),
        0.0
    );
    assert_eq!(
        braked.get("apex_ioc_sync_last_success_timestamp_seconds", &[]),
        success
    );

    // A dry run that would pass: marked as one, nothing written, and not a success.
    let dry = run(&["--dry-run", "--force"], 0);
    assert_eq!(dry.get("apex_ioc_sync_last_run_dry_run", &[]), 1.0);
    assert_eq!(dry.get("apex_ioc_sync_last_run_exit_code", &[]), 0.0);
    assert_eq!(
        dry.get("apex_ioc_sync_plan_entries", &[("action", "remove")]),
        19.0
    );
    assert_eq!(
        dry.get(
            "apex_ioc_sync_writes",
            &[("action", "delete"), ("result", "done")]
        ),
        0.0
    );
    assert_eq!(
        dry.get("apex_ioc_sync_last_success_timestamp_seconds", &[]),
        success
    );
    assert_eq!(owned(&apex, "feed-a").len(), 20);

    // --clean: every owned entry goes; the file says so, with no source counts.
    let clean = run(&["--clean"], 0);
    assert_eq!(clean.get("apex_ioc_sync_last_run_clean", &[]), 1.0);
    assert_eq!(
        clean.get("apex_ioc_sync_plan_entries", &[("action", "remove")]),
        20.0
    );
    assert_eq!(
        clean.find("apex_ioc_sync_plan_entries", &[("action", "add")]),
        None
    );
    assert_eq!(
        clean.get(
            "apex_ioc_sync_writes",
            &[("action", "delete"), ("result", "done")]
        ),
        20.0
    );
    assert_eq!(
        clean.get("apex_ioc_sync_owned_entries", &[("type", "ip")]),
        20.0
    );
    assert_eq!(
        clean.get("apex_ioc_sync_owned_entries", &[("type", "file_sha1")]),
        0.0
    );
    assert!(!clean.has("apex_ioc_sync_source_items"));
    assert!(!clean.has("apex_ioc_sync_desired_iocs"));
    assert!(clean.get("apex_ioc_sync_last_success_timestamp_seconds", &[]) > success);
    assert!(owned(&apex, "feed-a").is_empty());
    assert_eq!(names_in(&folder), ["file.prom"]);
}

#[test]
fn an_unwritable_metrics_file_is_an_error_naming_it_and_a_usage_error_is_written() {
    let apex = start_apex();
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("iocs.txt");
    write_list(&list, 3);
    let missing = dir.path().join("no-such-folder").join("file.prom");
    // The sync is done; the file cannot be written: exit 1, and the message names it.
    let out = apex_cmd(dir.path(), &apex)
        .args(["--source", "file", "--file"])
        .arg(&list)
        .arg("--metrics-file")
        .arg(&missing)
        .assert()
        .code(1);
    let (_, stderr) = output_text(out.get_output());
    assert!(
        stderr.contains(&format!(
            "Error: cannot write the metrics file {}: ",
            missing.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("would have exited 0"), "{stderr}");
    assert_eq!(owned(&apex, "file").len(), 3);
    assert!(!missing.parent().unwrap().exists());

    // A run that fails on its own keeps its exit code; the file's error is logged beside.
    let out = apex_cmd(dir.path(), &apex)
        .args(["--source", "file", "--file"])
        .arg(&list)
        .args(["--tag", "no spaces"])
        .arg("--metrics-file")
        .arg(&missing)
        .assert()
        .code(2);
    let (_, stderr) = output_text(out.get_output());
    assert!(stderr.contains("cannot write the metrics file"), "{stderr}");
    assert!(stderr.contains("--tag `no spaces`"), "{stderr}");

    // A usage error after the options were read is a run of the job too: written, exit 2.
    let (_, path) = metrics_path(dir.path(), "file.prom");
    apex_cmd(dir.path(), &apex)
        .args(["--source", "file", "--file"])
        .arg(&list)
        .args(["--tag", "no spaces"])
        .arg("--metrics-file")
        .arg(&path)
        .assert()
        .code(2);
    let m = Metrics::read(&path, "no spaces", "file");
    assert_eq!(m.get("apex_ioc_sync_last_run_exit_code", &[]), 2.0);
    assert_eq!(
        m.get("apex_ioc_sync_last_success_timestamp_seconds", &[]),
        0.0,
        "no success on record"
    );
    assert!(!m.has("apex_ioc_sync_plan_entries"));
}

#[test]
fn a_taxii_job_gives_the_age_of_its_newest_cursor() {
    const COLLECTION: &str = "91a7b528-80eb-42ed-a74d-c6fbd5a26116";
    let apex = start_apex();
    let taxii = start_taxii(TaxiiSimConfig::default());
    taxii
        .sim
        .add_collection(COLLECTION, "Indicators", None, true);
    let ago = |hours| chrono::Utc::now() - chrono::Duration::hours(hours);
    for (id, ip, hours) in [
        ("indicator--a", "198.51.100.1", 30),
        ("indicator--b", "198.51.100.2", 10),
    ] {
        taxii.sim.add_object(
            COLLECTION,
            ago(hours),
            indicator(id, &format!("[ipv4-addr:value = '{ip}']"), ago(hours)),
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let (_, path) = metrics_path(dir.path(), "taxii.prom");
    let run = |extra: &[&str]| {
        taxii_cmd(dir.path(), &apex, &taxii)
            .arg("--metrics-file")
            .arg(&path)
            .args(extra)
            .assert()
            .success();
        Metrics::read(&path, "taxii", "taxii")
    };
    // A dry run stores no cursor: there is none to age.
    let dry = run(&["--dry-run"]);
    assert!(!dry.has("apex_ioc_sync_taxii_cursor_age_seconds"));
    let m = run(&[]);
    let age = m.get("apex_ioc_sync_taxii_cursor_age_seconds", &[]);
    assert!((36_000.0..36_060.0).contains(&age), "{age}");
    assert_eq!(m.get("apex_ioc_sync_source_items", &[]), 2.0);
    assert_eq!(m.get("apex_ioc_sync_desired_iocs", &[("type", "ip")]), 2.0);
}

#[test]
fn writes_that_fail_show_in_the_file_with_exit_4() {
    let apex = start_apex();
    let dir = tempfile::tempdir().unwrap();
    let (_, path) = metrics_path(dir.path(), "file.prom");
    let list = dir.path().join("iocs.txt");
    write_list(&list, 3);
    // The access check and the three lists are answered; then the server is down.
    apex.sim.control.faults.error_5xx_after(4);
    apex_cmd(dir.path(), &apex)
        .args(["--source", "file", "--file"])
        .arg(&list)
        .arg("--metrics-file")
        .arg(&path)
        .assert()
        .code(4);
    let m = Metrics::read(&path, "file", "file");
    assert_eq!(m.get("apex_ioc_sync_last_run_exit_code", &[]), 4.0);
    assert_eq!(
        m.get(
            "apex_ioc_sync_writes",
            &[("action", "put"), ("result", "failed")]
        ),
        3.0
    );
    assert_eq!(
        m.get(
            "apex_ioc_sync_writes",
            &[("action", "put"), ("result", "done")]
        ),
        0.0
    );
    assert_eq!(
        m.get("apex_ioc_sync_plan_entries", &[("action", "add")]),
        3.0
    );
    assert_eq!(
        m.get("apex_ioc_sync_last_success_timestamp_seconds", &[]),
        0.0
    );
}
