//! Where a TAXII collection's reading resumes: objects that share a `date_added` across a
//! page boundary (by date and by `next`), a run killed or failed between pages, a server
//! date in the future, and the revoked and expired indicators the state file drops after
//! its grace period. The real binary against the simulated TAXII server (strict, as the
//! spec) and Apex Central over loopback HTTP.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::*;
use apex_ioc_sync::sim::taxii::{TaxiiSimConfig, indicator, taxii_time};
use apex_ioc_sync::sim::{BackgroundApex, BackgroundTaxii};
use apex_ioc_sync::state::newest_cursor;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

const COLLECTION: &str = "b0a7b528-0000-4000-8000-0000000000b1";

fn ago(hours: i64) -> DateTime<Utc> {
    Utc::now() - chrono::Duration::hours(hours)
}

/// A server paging as `config` says, with one collection of four indicators added at
/// `t`, `t + 1 s`, `t + 1 s` (the same time) and `t + 2 s`, in that order; `t` is two hours
/// ago, to the microsecond (as TAXII dates are).
fn tied(config: TaxiiSimConfig) -> BackgroundTaxii {
    tied_at(config).0
}

/// [`tied`], and `t`.
fn tied_at(config: TaxiiSimConfig) -> (BackgroundTaxii, DateTime<Utc>) {
    let taxii = start_taxii(config);
    taxii.sim.add_collection(COLLECTION, "Tied", None, true);
    let t = DateTime::from_timestamp_micros(ago(2).timestamp_micros()).unwrap();
    for (n, second) in [(1, 0), (2, 1), (3, 1), (4, 2)] {
        let added = t + chrono::Duration::seconds(second);
        taxii.sim.add_object(
            COLLECTION,
            added,
            indicator(
                &format!("indicator--{n}"),
                &format!("[domain-name:value = 'n{n}.example']"),
                added,
            ),
        );
    }
    (taxii, t)
}

const ALL_FOUR: [&str; 4] = [
    "domain n1.example",
    "domain n2.example",
    "domain n3.example",
    "domain n4.example",
];

/// A run with `args` and `--json`: its exit code, report and standard error.
fn run(
    dir: &Path,
    apex: &BackgroundApex,
    taxii: &BackgroundTaxii,
    args: &[&str],
) -> (i32, Value, String) {
    let out = taxii_cmd(dir, apex, taxii)
        .arg("--json")
        .args(args)
        .output()
        .unwrap();
    let (stdout, stderr) = output_text(&out);
    let report = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap(), report, stderr)
}

fn warnings(report: &Value) -> Vec<String> {
    report["warnings"]
        .as_array()
        .map(|w| w.iter().map(|w| w.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

#[test]
fn objects_sharing_a_date_across_a_page_boundary_all_reach_apex() {
    for next_tokens in [false, true] {
        let (apex, taxii) = (
            start_apex(),
            tied(TaxiiSimConfig {
                next_tokens,
                ..TaxiiSimConfig::default()
            }),
        );
        let dir = tempfile::tempdir().unwrap();
        // Pages of two: the first ends with one of the two objects of the second time.
        let (code, report, stderr) = run(dir.path(), &apex, &taxii, &["--taxii-page-size", "2"]);
        assert_eq!(code, 0, "{stderr}");
        assert_eq!(
            owned(&apex, "taxii"),
            ALL_FOUR,
            "next tokens: {next_tokens}"
        );
        assert_eq!(report["items"], 4, "each counted once: {report}");
        assert!(warnings(&report).is_empty(), "{report}");
        // Read to its end: the next run reads nothing again.
        let (code, report, stderr) = run(dir.path(), &apex, &taxii, &["--taxii-page-size", "2"]);
        assert_eq!(code, 0, "{stderr}");
        assert_eq!(report["items"], 0, "{report}");
    }
}

#[test]
fn a_date_that_fills_the_servers_page_is_read_over_two_runs_and_said() {
    // The server sends two objects a page at most, by date: the two objects of the second
    // time fill a page, so whether a third shares that time cannot be known from it.
    let (apex, taxii) = (
        start_apex(),
        tied(TaxiiSimConfig {
            max_page_size: 2,
            next_tokens: false,
            ..TaxiiSimConfig::default()
        }),
    );
    let dir = tempfile::tempdir().unwrap();
    let (code, report, stderr) = run(dir.path(), &apex, &taxii, &[]);
    assert_eq!(code, 0, "{stderr}");
    let warned = warnings(&report);
    assert!(
        warned.len() == 1
            && warned[0].contains(COLLECTION)
            && warned[0].contains("does not move past"),
        "{warned:?}"
    );
    assert_eq!(owned(&apex, "taxii"), ALL_FOUR[..3]);
    // The next run meets it again, steps past that time, says so, and reads the rest.
    let (code, report, stderr) = run(dir.path(), &apex, &taxii, &[]);
    assert_eq!(code, 0, "{stderr}");
    let warned = warnings(&report);
    assert!(
        warned.len() == 1 && warned[0].contains(COLLECTION) && warned[0].contains("stepping past"),
        "{warned:?}"
    );
    assert_eq!(owned(&apex, "taxii"), ALL_FOUR);
}

/// The cursor the job tagged `taxii` stored in the state file in `dir`, once it has one.
fn wait_for_a_cursor(dir: &Path, child: &mut std::process::Child) -> DateTime<Utc> {
    let state = dir.join("apex-ioc-sync-taxii.db");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(Some(cursors)) = newest_cursor(&state, "taxii") {
            return cursors.newest;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it stored a page"
        );
        assert!(Instant::now() < deadline, "no page stored in a minute");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_run_killed_between_pages_by_next_loses_nothing() {
    // Pages of two by `next`: the first ends with one of the two objects of the second
    // time; the server then hangs, and the run is killed while it waits.
    let apex = start_apex();
    let (taxii, t) = tied_at(TaxiiSimConfig {
        max_page_size: 2,
        ..TaxiiSimConfig::default()
    });
    taxii.sim.hold_objects_after(Some(1));
    let dir = tempfile::tempdir().unwrap();
    let mut child = std_bin(dir.path())
        .args(apex_args(&apex))
        .args(["--source", "taxii", "--taxii-url", &taxii.discovery_url()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let cursor = wait_for_a_cursor(dir.path(), &mut child);
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        taxii.sim.objects_requests().len(),
        2,
        "killed on the second page"
    );
    assert_eq!(writes(&apex), 0);
    // The first page's cursor lies just before the time its last object shares with the
    // next page's first.
    let second = t + chrono::Duration::seconds(1);
    assert_eq!(cursor, second - chrono::Duration::microseconds(1));

    taxii.sim.hold_objects_after(None);
    let (code, report, stderr) = run(dir.path(), &apex, &taxii, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(owned(&apex, "taxii"), ALL_FOUR);
    // The second object is read again (the time it shares), with the two after it.
    assert_eq!(report["items"], 3, "{report}");
}

#[test]
fn a_run_failed_between_pages_by_next_loses_nothing() {
    let (apex, taxii) = (
        start_apex(),
        tied(TaxiiSimConfig {
            max_page_size: 2,
            ..TaxiiSimConfig::default()
        }),
    );
    // Discovery, collections and the first page are answered; then the server is down.
    taxii.sim.control.faults.error_5xx_after(3);
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = run(dir.path(), &apex, &taxii, &[]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(writes(&apex), 0);
    taxii.sim.control.faults.clear();
    let (code, _, stderr) = run(dir.path(), &apex, &taxii, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(owned(&apex, "taxii"), ALL_FOUR);
}

/// The value of the gauge `name` (without labels of its own) in the metrics file `text`.
fn gauge(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(&format!("{name}{{")))
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
}

/// The cursor column of the state file's feeds, as stored.
fn stored_cursors(state: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(state).unwrap();
    let mut q = conn.prepare("SELECT cursor FROM feeds").unwrap();
    q.query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn a_server_date_in_the_future_is_never_the_cursor_and_the_metrics_say_so() {
    let (apex, taxii) = (start_apex(), start_taxii(TaxiiSimConfig::default()));
    taxii.sim.add_collection(COLLECTION, "Ahead", None, true);
    let add = |id: &str, domain: &str, added: DateTime<Utc>| {
        let pattern = format!("[domain-name:value = '{domain}']");
        taxii
            .sim
            .add_object(COLLECTION, added, indicator(id, &pattern, ago(3)));
    };
    add("indicator--a", "sane.example", ago(2));
    // Added by a server whose clock runs a day ahead.
    let ahead = Utc::now() + chrono::Duration::days(1);
    add("indicator--f", "ahead.example", ahead);
    let dir = tempfile::tempdir().unwrap();
    let metrics = dir.path().join("taxii.prom");
    let state = dir.path().join("apex-ioc-sync-taxii.db");
    let metrics_arg = ["--metrics-file", metrics.to_str().unwrap()];

    let started = Utc::now();
    let (code, report, stderr) = run(dir.path(), &apex, &taxii, &metrics_arg);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        owned(&apex, "taxii"),
        ["domain ahead.example", "domain sane.example"]
    );
    let warned = warnings(&report);
    assert!(
        warned.iter().any(|w| w.contains(COLLECTION)
            && w.contains(&taxii_time(ahead))
            && w.contains("ahead of this machine's clock")),
        "{warned:?}"
    );
    // The cursor is this machine's time less five minutes, not the server's date.
    let cursors = stored_cursors(&state);
    let cursor: DateTime<Utc> = cursors[0].parse().unwrap();
    assert!(
        cursor <= started - chrono::Duration::minutes(4)
            && cursor > started - chrono::Duration::minutes(6),
        "{cursors:?}"
    );
    // The metrics do not call it fresh: the age counts from where the run started (the
    // first run's 30 days), and the feed is counted as held back.
    let text = std::fs::read_to_string(&metrics).unwrap();
    assert_eq!(
        gauge(&text, "apex_ioc_sync_taxii_cursors_clamped"),
        Some(1.0),
        "{text}"
    );
    let age = gauge(&text, "apex_ioc_sync_taxii_cursor_age_seconds").unwrap();
    assert!(age > 29.0 * 86_400.0, "{text}");

    // An indicator the server adds now (its clock put right) is read: nothing was skipped.
    add("indicator--n", "new.example", Utc::now());
    let (code, report, stderr) = run(dir.path(), &apex, &taxii, &metrics_arg);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        owned(&apex, "taxii").contains(&"domain new.example".to_owned()),
        "{report}"
    );
    // Still held back (the server's date is still ahead), and the age still counts from
    // the last trusted cursor.
    let text = std::fs::read_to_string(&metrics).unwrap();
    assert_eq!(
        gauge(&text, "apex_ioc_sync_taxii_cursors_clamped"),
        Some(1.0),
        "{text}"
    );
    assert!(gauge(&text, "apex_ioc_sync_taxii_cursor_age_seconds").unwrap() > 29.0 * 86_400.0);

    // A cursor in the future left by an earlier version: read from --days again, warned.
    rusqlite::Connection::open(&state)
        .unwrap()
        .execute_batch(
            "UPDATE feeds SET cursor = '2099-01-01T00:00:00.000000Z';
             DELETE FROM taxii_clamped_cursors;",
        )
        .unwrap();
    add("indicator--m", "more.example", Utc::now());
    let (code, report, stderr) = run(dir.path(), &apex, &taxii, &metrics_arg);
    assert_eq!(code, 0, "{stderr}");
    let warned = warnings(&report);
    assert!(
        warned
            .iter()
            .any(|w| w.contains("2099-01-01") && w.contains("read from --days")),
        "{warned:?}"
    );
    assert!(owned(&apex, "taxii").contains(&"domain more.example".to_owned()));
    let cursor: DateTime<Utc> = stored_cursors(&state)[0].parse().unwrap();
    assert!(cursor < Utc::now(), "{cursor}");
}

/// The ids of the indicators in the state file.
fn stored_ids(state: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(state).unwrap();
    let mut q = conn
        .prepare("SELECT id FROM indicators ORDER BY id")
        .unwrap();
    q.query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn revoked_and_expired_indicators_leave_the_state_file_after_seven_days() {
    let (apex, taxii) = (start_apex(), start_taxii(TaxiiSimConfig::default()));
    taxii.sim.add_collection(COLLECTION, "Aging", None, true);
    let days = |n: i64| Utc::now() - chrono::Duration::days(n);
    // Each (id, domain, modified, revoked, valid_until), added to the feed when modified.
    let objects = [
        ("indicator--keep", "keep.example", days(12), false, None),
        ("indicator--goes", "goes.example", days(12), false, None),
        (
            "indicator--rl",
            "revoked-long-ago.example",
            days(10),
            true,
            None,
        ),
        (
            "indicator--rn",
            "revoked-lately.example",
            days(2),
            true,
            None,
        ),
        (
            "indicator--el",
            "expired-long-ago.example",
            days(12),
            false,
            Some(days(10)),
        ),
        (
            "indicator--en",
            "expired-lately.example",
            days(12),
            false,
            Some(days(2)),
        ),
    ];
    for (id, domain, modified, revoked, until) in objects {
        let mut object = indicator(id, &format!("[domain-name:value = '{domain}']"), modified);
        object["revoked"] = json!(revoked);
        if let Some(until) = until {
            object["valid_until"] = json!(taxii_time(until));
        }
        taxii.sim.add_object(COLLECTION, modified, object);
    }
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("apex-ioc-sync-taxii.db");
    let (code, _, stderr) = run(dir.path(), &apex, &taxii, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        owned(&apex, "taxii"),
        ["domain goes.example", "domain keep.example"]
    );
    let everything = [
        "indicator--el",
        "indicator--en",
        "indicator--goes",
        "indicator--keep",
        "indicator--rl",
        "indicator--rn",
    ];
    assert_eq!(stored_ids(&state), everything);

    // `goes` is revoked today.
    let mut revoked = indicator(
        "indicator--goes",
        "[domain-name:value = 'goes.example']",
        Utc::now(),
    );
    revoked["revoked"] = json!(true);
    taxii.sim.add_object(COLLECTION, Utc::now(), revoked);
    // A rehearsal drops nothing.
    let (code, _, stderr) = run(dir.path(), &apex, &taxii, &["--dry-run"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stored_ids(&state), everything);
    // The next run drops what was revoked or expired more than seven days ago, keeps the
    // rest (today's revocation too), and the list loses what was revoked.
    let (code, _, stderr) = run(dir.path(), &apex, &taxii, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stored_ids(&state),
        [
            "indicator--en",
            "indicator--goes",
            "indicator--keep",
            "indicator--rn"
        ]
    );
    assert_eq!(owned(&apex, "taxii"), ["domain keep.example"]);
    // Nothing dropped comes back.
    let (code, _, stderr) = run(dir.path(), &apex, &taxii, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(owned(&apex, "taxii"), ["domain keep.example"]);
}
