//! The TAXII job's state: a dry run keeps nothing (but its journal row), indicators are kept per feed and per
//! tag, a `modified` in the future is clamped, the first run's window may pass Lumu's 30
//! days, and `--min-confidence` (TAXII and STIX bundles): the real binary over loopback.

use crate::common::*;
use apex_ioc_sync::sim::taxii::{TaxiiSimConfig, indicator};
use apex_ioc_sync::sim::{BackgroundApex, BackgroundTaxii};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

const A: &str = "0c1b0000-0000-4000-8000-00000000000a";
const B: &str = "0c1b0000-0000-4000-8000-00000000000b";

fn ago(hours: i64) -> DateTime<Utc> {
    Utc::now() - Duration::hours(hours)
}

/// Adds an indicator of `domain` to `collection`, added and modified `hours` ago.
fn add(taxii: &BackgroundTaxii, collection: &str, id: &str, domain: &str, hours: i64) {
    let pattern = format!("[domain-name:value = '{domain}']");
    taxii
        .sim
        .add_object(collection, ago(hours), indicator(id, &pattern, ago(hours)));
}

fn report(
    dir: &std::path::Path,
    apex: &BackgroundApex,
    taxii: &BackgroundTaxii,
    args: &[&str],
) -> Value {
    let out = taxii_cmd(dir, apex, taxii)
        .arg("--json")
        .args(args)
        .assert()
        .success();
    json(&out)
}

/// The TAXII tables of the state file at `path` (feeds with their cursors, indicators), and
/// its schema version, as text.
fn source_state(path: &std::path::Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut rows: Vec<String> = Vec::new();
    for query in [
        "SELECT feed_id, tag, feed, cursor, stalled_at FROM feeds ORDER BY feed_id",
        "SELECT feed_id, id, modified, revoked, valid_until, iocs FROM indicators ORDER BY feed_id, id",
        "PRAGMA user_version",
    ] {
        let mut stmt = conn.prepare(query).unwrap();
        let columns = stmt.column_count();
        let mut found = stmt.query([]).unwrap();
        while let Some(row) = found.next().unwrap() {
            let cells: Vec<String> = (0..columns)
                .map(|i| format!("{:?}", row.get_ref(i).unwrap()))
                .collect();
            rows.push(cells.join("|"));
        }
    }
    rows
}

#[test]
fn a_dry_run_keeps_nothing_and_moves_no_cursor() {
    let (apex, taxii) = (start_apex(), start_taxii(TaxiiSimConfig::default()));
    taxii.sim.add_collection(A, "A", None, true);
    add(&taxii, A, "indicator--1", "one.example", 10);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("apex-ioc-sync-taxii.db");
    let dry = report(dir.path(), &apex, &taxii, &["--dry-run"]);
    assert_eq!(
        (dry["items"].clone(), dry["plan"]["add"].clone()),
        (json!(1), json!(1))
    );
    assert!(!state.exists(), "a dry run made the state file");

    report(dir.path(), &apex, &taxii, &[]);
    assert_eq!(owned(&apex, "taxii"), ["domain one.example"]);
    add(&taxii, A, "indicator--2", "two.example", 1);
    let before = source_state(&state);
    let dry = report(dir.path(), &apex, &taxii, &["--dry-run"]);
    assert_eq!(dry["items"], 1);
    assert_eq!(dry["plan"]["add"], 1);
    // The source's state is as it was; the journal alone has the dry run's row.
    assert_eq!(source_state(&state), before, "the state file changed");
    let marked: i64 = rusqlite::Connection::open(&state)
        .unwrap()
        .query_row(
            "SELECT dry_run FROM journal_runs WHERE id = ?1",
            [dry["run_id"].as_str().unwrap()],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(marked, 1);
    // The real run after the rehearsal still reads the new indicator from the old cursor.
    let real = report(dir.path(), &apex, &taxii, &[]);
    assert_eq!(real["items"], 1);
    assert_eq!(
        owned(&apex, "taxii"),
        ["domain one.example", "domain two.example"]
    );
}

#[test]
fn indicators_are_kept_per_collection_and_per_tag() {
    let (apex, taxii) = (start_apex(), start_taxii(TaxiiSimConfig::default()));
    taxii.sim.add_collection(A, "A", None, true);
    taxii.sim.add_collection(B, "B", None, true);
    add(&taxii, A, "indicator--a", "a.example", 10);
    add(&taxii, B, "indicator--b", "b.example", 10);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("shared.db");
    let state = state.to_str().unwrap();
    report(dir.path(), &apex, &taxii, &["--state-file", state]);
    assert_eq!(
        owned(&apex, "taxii"),
        ["domain a.example", "domain b.example"]
    );

    // B dropped from the job: its indicators are no longer pushed.
    report(
        dir.path(),
        &apex,
        &taxii,
        &["--state-file", state, "--taxii-collection", "A"],
    );
    assert_eq!(owned(&apex, "taxii"), ["domain a.example"]);

    // A second job (another tag) on the same state file reads B from its own start and
    // pushes B only; the first job's entries stay as they are.
    let other = report(
        dir.path(),
        &apex,
        &taxii,
        &[
            "--state-file",
            state,
            "--taxii-collection",
            "B",
            "--tag",
            "other",
        ],
    );
    assert_eq!(other["items"], 1);
    assert_eq!(owned(&apex, "other"), ["domain b.example"]);
    assert_eq!(owned(&apex, "taxii"), ["domain a.example"]);
}

#[test]
fn a_modified_time_in_the_future_does_not_block_a_later_revocation() {
    let (apex, taxii) = (start_apex(), start_taxii(TaxiiSimConfig::default()));
    taxii.sim.add_collection(A, "A", None, true);
    let far: DateTime<Utc> = "2099-01-01T00:00:00Z".parse().unwrap();
    let mut future = indicator(
        "indicator--f",
        "[domain-name:value = 'future.example']",
        far,
    );
    future["valid_from"] = json!("2026-01-01T00:00:00Z");
    taxii.sim.add_object(A, ago(2), future);
    // Another indicator stays, so the source is never empty (an empty one brakes removals).
    add(&taxii, A, "indicator--s", "stays.example", 3);
    let dir = tempfile::tempdir().unwrap();
    let first = report(dir.path(), &apex, &taxii, &[]);
    assert_eq!(
        owned(&apex, "taxii"),
        ["domain future.example", "domain stays.example"]
    );
    let warned = first["warnings"].to_string();
    assert!(warned.contains("in the future"), "{first}");
    // The producer revokes it, with an honest time.
    let mut revoked = indicator(
        "indicator--f",
        "[domain-name:value = 'future.example']",
        Utc::now(),
    );
    revoked["revoked"] = json!(true);
    taxii.sim.add_object(A, Utc::now(), revoked);
    report(dir.path(), &apex, &taxii, &[]);
    assert_eq!(owned(&apex, "taxii"), ["domain stays.example"]);
}

#[test]
fn the_first_run_window_of_a_feed_is_not_capped_at_30_days() {
    let (apex, taxii) = (start_apex(), start_taxii(TaxiiSimConfig::default()));
    taxii.sim.add_collection(A, "A", None, true);
    add(&taxii, A, "indicator--old", "old.example", 24 * 90);
    add(&taxii, A, "indicator--new", "new.example", 24);
    let dir = tempfile::tempdir().unwrap();
    report(dir.path(), &apex, &taxii, &["--days", "120"]);
    assert_eq!(
        owned(&apex, "taxii"),
        ["domain new.example", "domain old.example"]
    );
    // Lumu keeps to its 30 days, and no source goes past ten years.
    let out = apex_cmd(dir.path(), &apex)
        .args(["--company-key", "k", "--days", "120"])
        .assert()
        .code(2);
    assert!(
        output_text(out.get_output())
            .1
            .contains("give 1 to 30 for --source lumu")
    );
    taxii_cmd(dir.path(), &apex, &taxii)
        .args(["--days", "3651"])
        .assert()
        .code(2);
}

/// A STIX indicator of `domain` with `confidence` (none: `None`).
fn with_confidence(id: &str, domain: &str, confidence: Option<u8>) -> Value {
    let mut o = indicator(id, &format!("[domain-name:value = '{domain}']"), ago(3));
    if let Some(c) = confidence {
        o["confidence"] = json!(c);
    }
    o
}

#[test]
fn min_confidence_skips_low_confidence_taxii_indicators_and_keeps_those_without() {
    let (apex, taxii) = (start_apex(), start_taxii(TaxiiSimConfig::default()));
    taxii.sim.add_collection(A, "A", None, true);
    for o in [
        with_confidence("indicator--h", "high.example", Some(90)),
        with_confidence("indicator--l", "low.example", Some(40)),
        with_confidence("indicator--n", "none.example", None),
    ] {
        taxii.sim.add_object(A, ago(3), o);
    }
    let dir = tempfile::tempdir().unwrap();
    let run = report(dir.path(), &apex, &taxii, &["--min-confidence", "50"]);
    assert_eq!(run["invalid"]["low-confidence"], 1);
    assert_eq!(
        owned(&apex, "taxii"),
        ["domain high.example", "domain none.example"]
    );
    // The threshold applies to what is stored: without it, the next run pushes all three.
    report(dir.path(), &apex, &taxii, &[]);
    assert_eq!(owned(&apex, "taxii").len(), 3);
    // Lumu indicators have no confidence: the option is refused there.
    let out = apex_cmd(dir.path(), &apex)
        .args(["--company-key", "k", "--min-confidence", "50"])
        .assert()
        .code(2);
    assert!(
        output_text(out.get_output())
            .1
            .contains("--min-confidence applies to STIX")
    );
    taxii_cmd(dir.path(), &apex, &taxii)
        .args(["--min-confidence", "101"])
        .assert()
        .code(2);
}

#[test]
fn min_confidence_applies_to_stix_bundles() {
    let apex = start_apex();
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle.json");
    let objects = [
        with_confidence("indicator--h", "high.example", Some(90)),
        with_confidence("indicator--l", "low.example", Some(10)),
        with_confidence("indicator--n", "none.example", None),
    ];
    std::fs::write(
        &bundle,
        json!({"type": "bundle", "id": "bundle--1", "objects": objects}).to_string(),
    )
    .unwrap();
    let out = apex_cmd(dir.path(), &apex)
        .args(["--source", "file", "--file", bundle.to_str().unwrap()])
        .args(["--min-confidence", "50", "--json"])
        .assert()
        .success();
    assert_eq!(json(&out)["invalid"]["low-confidence"], 1);
    assert_eq!(
        owned(&apex, "file"),
        ["domain high.example", "domain none.example"]
    );
}
