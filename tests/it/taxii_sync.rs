//! The TAXII job end to end: the real binary against simulated TAXII 2.1 and Apex Central
//! servers over loopback HTTP, and `--source file` on real STIX data.

use std::time::Duration;

use crate::common::*;
use apex_ioc_sync::sim::BackgroundTaxii;
use apex_ioc_sync::sim::taxii::{TaxiiSimConfig, indicator};
use chrono::{DateTime, Utc};
use serde_json::Value;

const COLLECTION: &str = "91a7b528-80eb-42ed-a74d-c6fbd5a26116";

fn ago(hours: i64) -> DateTime<Utc> {
    Utc::now() - chrono::Duration::hours(hours)
}

/// A token-protected server with one collection of five indicators.
fn feed(config: TaxiiSimConfig) -> BackgroundTaxii {
    let taxii = start_taxii(TaxiiSimConfig {
        token: Some("feed-t0ken".into()),
        ..config
    });
    taxii
        .sim
        .add_collection(COLLECTION, "High Value Indicators", Some("hvi"), true);
    let add = |id: &str, pattern: &str, hours: i64| {
        taxii
            .sim
            .add_object(COLLECTION, ago(hours), indicator(id, pattern, ago(hours)));
    };
    add("indicator--a", "[ipv4-addr:value = '198.51.100.1']", 50);
    add(
        "indicator--b",
        "[domain-name:value = 'c2.example' OR url:value = 'http://c2.example/x']",
        40,
    );
    add(
        "indicator--c",
        "[domain-name:value = 'and.example'] AND [ipv4-addr:value = '203.0.113.0/24']",
        30,
    );
    add(
        "indicator--d",
        "[file:hashes.'SHA-1' = '3395856ce81f2b7382dee72602f798b642f14140']",
        20,
    );
    add(
        "indicator--e",
        "[file:hashes.'SHA-256' = 'aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f']",
        10,
    );
    taxii
}

fn cmd(
    dir: &std::path::Path,
    apex: &apex_ioc_sync::sim::BackgroundApex,
    taxii: &BackgroundTaxii,
) -> assert_cmd::Command {
    let mut c = taxii_cmd(dir, apex, taxii);
    c.args(["--ioc-types", "ip,domain,url,hash"])
        .env("TAXII_TOKEN", "feed-t0ken");
    c
}

fn owned_with_action(apex: &apex_ioc_sync::sim::BackgroundApex) -> Vec<String> {
    let mut v: Vec<String> = apex
        .sim
        .all_entries()
        .into_iter()
        .filter(|e| e.owner_tag() == Some("taxii"))
        .map(|e| format!("{} {} {}", e.kind, e.content, e.scan_action))
        .collect();
    v.sort();
    v
}

#[test]
fn first_sync_extracts_with_the_scan_action_rule_then_resumes_from_the_cursor() {
    let (apex, taxii) = (
        start_apex(),
        feed(TaxiiSimConfig {
            max_page_size: 2,
            ..Default::default()
        }),
    );
    let dir = tempfile::tempdir().unwrap();
    let out = cmd(dir.path(), &apex, &taxii)
        .arg("--json")
        .assert()
        .success();
    let report = json(&out);
    assert_eq!(report["items"], 5);
    assert_eq!(report["invalid"]["cidr-range"], 1);
    // A SHA-256 IOC now, left out because the default types do not select it.
    assert_eq!(report["not_selected"]["file_sha256"], 1);
    assert_eq!(
        owned_with_action(&apex),
        [
            "domain and.example log",
            "domain c2.example block",
            "file_sha1 3395856ce81f2b7382dee72602f798b642f14140 block",
            "ip 198.51.100.1 block",
            "url http://c2.example/x block",
        ]
    );
    let e = apex
        .sim
        .all_entries()
        .into_iter()
        .find(|e| e.content == "198.51.100.1")
        .unwrap();
    assert_eq!(e.notes, "apex-ioc-sync:taxii indicator--a");
    assert!(
        dir.path().join("apex-ioc-sync-taxii.db").exists(),
        "state beside the lock, in the working folder"
    );

    // Nothing new: one objects request (from the cursor), zero writes.
    let gets = taxii.sim.control.stats.count("GET");
    let writes_before = writes(&apex);
    let out = cmd(dir.path(), &apex, &taxii)
        .arg("--json")
        .assert()
        .success();
    assert_eq!(json(&out)["items"], 0);
    assert_eq!(writes(&apex), writes_before);
    assert_eq!(
        taxii.sim.control.stats.count("GET") - gets,
        3,
        "discovery, collections, one page"
    );
}

#[test]
fn new_versions_revocations_and_expiry_change_the_list() {
    let (apex, taxii) = (start_apex(), feed(TaxiiSimConfig::default()));
    let dir = tempfile::tempdir().unwrap();
    cmd(dir.path(), &apex, &taxii).assert().success();
    // A new version of a: a different address. Then b revoked, d expired.
    let now = Utc::now();
    taxii.sim.add_object(
        COLLECTION,
        now,
        indicator("indicator--a", "[ipv4-addr:value = '198.51.100.2']", now),
    );
    let mut revoked = indicator("indicator--b", "[domain-name:value = 'c2.example']", now);
    revoked["revoked"] = Value::Bool(true);
    taxii.sim.add_object(COLLECTION, now, revoked);
    let mut expired = indicator(
        "indicator--d",
        "[file:hashes.'SHA-1' = '3395856ce81f2b7382dee72602f798b642f14140']",
        now,
    );
    expired["valid_until"] = Value::String((now - chrono::Duration::minutes(1)).to_rfc3339());
    taxii.sim.add_object(COLLECTION, now, expired);
    // An older version arriving late changes nothing.
    taxii.sim.add_object(
        COLLECTION,
        now,
        indicator(
            "indicator--a",
            "[ipv4-addr:value = '198.51.100.3']",
            ago(100),
        ),
    );
    cmd(dir.path(), &apex, &taxii).assert().success();
    assert_eq!(
        owned_with_action(&apex),
        ["domain and.example log", "ip 198.51.100.2 block"]
    );
}

#[test]
fn paging_without_next_follows_date_added_last() {
    let (apex, taxii) = (
        start_apex(),
        feed(TaxiiSimConfig {
            max_page_size: 2,
            next_tokens: false,
            ..Default::default()
        }),
    );
    let dir = tempfile::tempdir().unwrap();
    let out = cmd(dir.path(), &apex, &taxii)
        .args(["--taxii-page-size", "2", "--json"])
        .assert()
        .success();
    assert_eq!(json(&out)["items"], 5);
    assert_eq!(owned_with_action(&apex).len(), 5);
}

#[test]
fn a_server_that_says_more_for_ever_ends_its_collection_with_a_warning_and_the_sync_goes_on() {
    let (apex, taxii) = (
        start_apex(),
        feed(TaxiiSimConfig {
            max_page_size: 2,
            ..Default::default()
        }),
    );
    taxii.sim.set_more_forever(true);
    let dir = tempfile::tempdir().unwrap();
    let out = cmd(dir.path(), &apex, &taxii)
        .arg("--json")
        .assert()
        .success();
    let report = json(&out);
    // What arrived is kept and pushed; the warning names the collection and what the
    // server did.
    assert_eq!(report["items"], 5);
    assert_eq!(owned_with_action(&apex).len(), 5);
    let warned = report["warnings"][0].as_str().unwrap();
    assert!(
        warned.contains(COLLECTION) && warned.contains("says there is more"),
        "{warned}"
    );
    // The next run starts from just before the last date that arrived (more objects may
    // share it): it reads that one indicator again, and nothing else.
    let out = cmd(dir.path(), &apex, &taxii)
        .arg("--json")
        .assert()
        .success();
    assert_eq!(json(&out)["items"], 1);
    assert_eq!(owned_with_action(&apex).len(), 5);
}

#[test]
fn auth_and_collection_errors_are_clear() {
    let (apex, taxii) = (start_apex(), feed(TaxiiSimConfig::default()));
    let dir = tempfile::tempdir().unwrap();
    let out = taxii_cmd(dir.path(), &apex, &taxii)
        .env("TAXII_TOKEN", "wrong")
        .assert()
        .code(1);
    let (stdout, stderr) = output_text(out.get_output());
    assert!(
        stderr.contains("HTTP 401") && stderr.contains("--taxii-token"),
        "{stderr}"
    );
    assert!(!stderr.contains("wrong") && !stdout.contains("feed-t0ken"));

    let out = cmd(dir.path(), &apex, &taxii)
        .args(["--taxii-collection", "nope"])
        .assert()
        .code(1);
    let (_, stderr) = output_text(out.get_output());
    assert!(
        stderr.contains("`nope` is not a collection") && stderr.contains("High Value Indicators"),
        "{stderr}"
    );
    // By alias and by title.
    cmd(dir.path(), &apex, &taxii)
        .args(["--taxii-collection", "hvi"])
        .assert()
        .success();
    cmd(dir.path(), &apex, &taxii)
        .args(["--taxii-collection", "High Value Indicators"])
        .assert()
        .success();
    // Usage errors before any request.
    let out = apex_cmd(dir.path(), &apex)
        .args(["--source", "taxii"])
        .assert()
        .code(2);
    assert!(output_text(out.get_output()).1.contains("no TAXII server"));
    let out = taxii_cmd(dir.path(), &apex, &taxii)
        .args(["--taxii-user", "u"])
        .assert()
        .code(2);
    assert!(output_text(out.get_output()).1.contains("--taxii-password"));
}

#[test]
fn basic_auth_works_and_the_first_run_reads_only_days_back() {
    let taxii = start_taxii(TaxiiSimConfig {
        basic: Some(("alice".into(), "s3cret".into())),
        ..Default::default()
    });
    taxii.sim.add_collection(COLLECTION, "Feed", None, true);
    taxii.sim.add_object(
        COLLECTION,
        ago(24 * 40),
        indicator(
            "indicator--old",
            "[domain-name:value = 'old.example']",
            ago(24 * 40),
        ),
    );
    taxii.sim.add_object(
        COLLECTION,
        ago(24),
        indicator(
            "indicator--new",
            "[domain-name:value = 'new.example']",
            ago(24),
        ),
    );
    let apex = start_apex();
    let dir = tempfile::tempdir().unwrap();
    taxii_cmd(dir.path(), &apex, &taxii)
        .args(["--taxii-user", "alice", "--days", "30"])
        .env("TAXII_PASSWORD", "s3cret")
        .assert()
        .success();
    assert_eq!(owned(&apex, "taxii"), ["domain new.example"]);
}

#[test]
fn a_run_that_dies_mid_feed_resumes_where_it_stopped() {
    let (apex, taxii) = (
        start_apex(),
        feed(TaxiiSimConfig {
            max_page_size: 1,
            ..Default::default()
        }),
    );
    let dir = tempfile::tempdir().unwrap();
    // The server goes down after discovery, collections and two pages.
    taxii.sim.control.faults.error_5xx_after(4);
    let out = cmd(dir.path(), &apex, &taxii).assert().code(1);
    assert!(
        output_text(out.get_output())
            .1
            .contains("nothing was written")
    );
    assert_eq!(writes(&apex), 0);
    taxii.sim.control.faults.clear();
    taxii.sim.control.stats.reset();
    let out = cmd(dir.path(), &apex, &taxii)
        .arg("--json")
        .assert()
        .success();
    // From just before b's date (the last stored: more objects may share it): b again,
    // then c, d, e, each one object.
    assert_eq!(json(&out)["items"], 4);
    assert_eq!(owned_with_action(&apex).len(), 5);
}

#[test]
fn a_lost_state_file_starts_over_from_days() {
    let (apex, taxii) = (start_apex(), feed(TaxiiSimConfig::default()));
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("elsewhere.db");
    cmd(dir.path(), &apex, &taxii)
        .args(["--state-file", state.to_str().unwrap()])
        .assert()
        .success();
    std::fs::remove_file(&state).unwrap();
    let out = cmd(dir.path(), &apex, &taxii)
        .args(["--state-file", state.to_str().unwrap(), "--json"])
        .assert()
        .success();
    let report = json(&out);
    assert_eq!(report["items"], 5);
    assert_eq!(report["plan"]["unchanged"], 5);
    std::thread::sleep(Duration::from_millis(10));
}

#[test]
fn file_source_reads_the_apt1_bundle_and_plain_lists() {
    let apex = start_apex();
    let dir = tempfile::tempdir().unwrap();
    let apt1 = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/stix/apt1.json");
    assert!(
        std::path::Path::new(apt1).exists(),
        "tests/data/stix/apt1.json is part of the project"
    );
    let list = dir.path().join("extra.txt");
    std::fs::write(
        &list,
        "# SOC list\n203.0.113.50\nhttps://drop.example/a.exe\n",
    )
    .unwrap();
    let out = apex_cmd(dir.path(), &apex)
        .args([
            "--source",
            "file",
            "--file",
            apt1,
            "--file",
            list.to_str().unwrap(),
            "--json",
        ])
        .assert()
        .success();
    let report = json(&out);
    assert_eq!(report["items"], 14);
    assert_eq!(report["invalid"]["cidr-range"], 4);
    assert_eq!(report["invalid"]["md5"], 3);
    assert_eq!(
        owned(&apex, "file"),
        [
            "domain arrowservice.net",
            "domain hugesoft.org",
            "domain msnhome.org",
            "ip 203.0.113.50",
            "url https://drop.example/a.exe"
        ]
    );
    // No file at all is a usage error, before any request.
    let gets = apex.sim.control.stats.count("GET");
    let out = apex_cmd(dir.path(), &apex)
        .args(["--source", "file"])
        .assert()
        .code(2);
    assert!(
        output_text(out.get_output())
            .1
            .contains("--source file needs at least one --file PATH")
    );
    assert_eq!(apex.sim.control.stats.count("GET"), gets);
    // A broken file stops the run before any write, naming the file and line.
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\"objects\": [\n {\"type\": 1,}\n]}").unwrap();
    let out = apex_cmd(dir.path(), &apex)
        .args(["--source", "file", "--file", bad.to_str().unwrap()])
        .assert()
        .code(1);
    let (_, stderr) = output_text(out.get_output());
    assert!(stderr.contains("bad.json:2"), "{stderr}");
    assert_eq!(owned(&apex, "file").len(), 5);
}
