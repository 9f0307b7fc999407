//! The Lumu job end to end: the real binary against simulated Lumu Defender and Apex
//! Central servers over loopback HTTP.

use std::time::Duration;

use crate::common::*;
use apex_ioc_sync::lock::InstanceLock;
use apex_ioc_sync::sim::lumu::{RateLimit, SimIncident};
use axum::http::StatusCode;

fn hours(h: i64) -> chrono::Duration {
    chrono::Duration::hours(h)
}

/// Three incidents covering every kind of IOC, one IPv6 adversary.
fn seed(lumu: &apex_ioc_sync::sim::BackgroundLumu) {
    lumu.sim.add(
        SimIncident::open("inc-1", hours(5), &["c2.example", "203.0.113.5"], &["C2C"])
            .with_triggers(&["https://c2.example/gate.php?a=1", "tcp://198.51.100.9:443"])
            .with_files(&["3395856ce81f2b7382dee72602f798b642f14140"]),
    );
    lumu.sim.add(SimIncident::open(
        "inc-2",
        hours(3),
        &["phish.example", "2001:db8::1"],
        &["Phishing"],
    ));
    lumu.sim.add(SimIncident::open(
        "inc-3",
        hours(1),
        &["Miner.Example."],
        &["Mining"],
    ));
}

const ALL_TYPES: &[&str] = &["--ioc-types", "ip,domain,url,hash"];

#[test]
fn first_sync_pushes_the_expected_set_and_a_second_run_writes_nothing() {
    let (apex, lumu) = (start_apex(), start_lumu());
    seed(&lumu);
    let dir = tempfile::tempdir().unwrap();
    let out = lumu_cmd(dir.path(), &apex, &lumu)
        .args(ALL_TYPES)
        .arg("--json")
        .assert()
        .success();
    let report = json(&out);
    assert_eq!(report["items"], 3);
    assert_eq!(report["invalid"]["ipv6"], 1);
    assert_eq!(report["plan"]["add"], 7);
    assert_eq!(report["put"], 7);
    assert_eq!(
        owned(&apex, "lumu"),
        [
            "domain c2.example",
            "domain miner.example",
            "domain phish.example",
            "file_sha1 3395856ce81f2b7382dee72602f798b642f14140",
            "ip 198.51.100.9",
            "ip 203.0.113.5",
            "url https://c2.example/gate.php?a=1",
        ]
    );
    let entry = apex
        .sim
        .all_entries()
        .into_iter()
        .find(|e| e.content == "c2.example")
        .unwrap();
    assert_eq!(entry.notes, "apex-ioc-sync:lumu C2C incident inc-1");
    assert_eq!(entry.scan_action, "block");
    let expires = entry.expiration_utc_date.unwrap();
    let in_30_days = (chrono::Utc::now() + chrono::Duration::days(30)).naive_utc();
    assert!((in_30_days - expires).num_seconds().abs() < 60, "{expires}");

    let (gets, writes_before) = (apex.sim.control.stats.count("GET"), writes(&apex));
    let out = lumu_cmd(dir.path(), &apex, &lumu)
        .args(ALL_TYPES)
        .assert()
        .success();
    let (stdout, _) = output_text(out.get_output());
    assert!(stdout.contains("plan +0 ~0 -0 =7"), "{stdout}");
    assert_eq!(
        writes(&apex),
        writes_before,
        "an unchanged run writes nothing"
    );
    assert_eq!(
        apex.sim.control.stats.count("GET") - gets,
        5,
        "one access check, then one list call per type"
    );
}

#[test]
fn default_types_are_ip_domain_url_and_scan_action_applies() {
    let (apex, lumu) = (start_apex(), start_lumu());
    seed(&lumu);
    let dir = tempfile::tempdir().unwrap();
    lumu_cmd(dir.path(), &apex, &lumu)
        .args(["--scan-action", "log"])
        .assert()
        .success();
    let all = apex.sim.all_entries();
    assert_eq!(all.len(), 6);
    assert!(
        all.iter()
            .all(|e| e.kind != "file_sha1" && e.scan_action == "log")
    );
    // Changing the scan action updates every owned entry.
    let out = lumu_cmd(dir.path(), &apex, &lumu)
        .arg("--json")
        .assert()
        .success();
    assert_eq!(json(&out)["plan"]["update"], 6);
    assert!(
        apex.sim
            .all_entries()
            .iter()
            .all(|e| e.scan_action == "block")
    );
}

#[test]
fn closed_incidents_are_removed_unless_preserved() {
    let (apex, lumu) = (start_apex(), start_lumu());
    seed(&lumu);
    let dir = tempfile::tempdir().unwrap();
    lumu_cmd(dir.path(), &apex, &lumu).assert().success();
    lumu.sim.set_status("inc-3", "closed");

    let out = lumu_cmd(dir.path(), &apex, &lumu)
        .args(["--preserve-iocs", "--json"])
        .assert()
        .success();
    assert_eq!(json(&out)["plan"]["preserved"], 1);
    assert!(owned(&apex, "lumu").contains(&"domain miner.example".to_owned()));

    let out = lumu_cmd(dir.path(), &apex, &lumu)
        .arg("--json")
        .assert()
        .success();
    assert_eq!(json(&out)["deleted"], 1);
    assert!(!owned(&apex, "lumu").contains(&"domain miner.example".to_owned()));

    // Closed incidents come back with --incident-status.
    lumu_cmd(dir.path(), &apex, &lumu)
        .args(["--incident-status", "open,closed"])
        .assert()
        .success();
    assert!(owned(&apex, "lumu").contains(&"domain miner.example".to_owned()));
}

#[test]
fn dry_run_shows_the_plan_and_writes_nothing() {
    let (apex, lumu) = (start_apex(), start_lumu());
    seed(&lumu);
    let dir = tempfile::tempdir().unwrap();
    let out = lumu_cmd(dir.path(), &apex, &lumu)
        .arg("--dry-run")
        .assert()
        .success();
    let (stdout, _) = output_text(out.get_output());
    assert!(
        stdout.contains("+ domain     block  c2.example"),
        "{stdout}"
    );
    assert!(
        stdout.contains("[dry run, nothing written]") && stdout.contains("plan +6"),
        "{stdout}"
    );
    assert_eq!(writes(&apex), 0);

    let out = lumu_cmd(dir.path(), &apex, &lumu)
        .args(["--dry-run", "--json"])
        .assert()
        .success();
    let changes = json(&out)["changes"].as_array().unwrap().len();
    assert_eq!(changes, 6);
    assert_eq!(writes(&apex), 0);
}

#[test]
fn foreign_entries_equal_to_our_iocs_stay_untouched() {
    let (apex, lumu) = (start_apex(), start_lumu());
    seed(&lumu);
    let mut manual = entry("domain", "phish.example", "SOC block, ticket 4711");
    manual.scan_action = "log".into();
    apex.sim.insert(manual.clone());
    apex.sim.insert(entry("ip", "192.0.2.1", "manual"));
    let dir = tempfile::tempdir().unwrap();
    let out = lumu_cmd(dir.path(), &apex, &lumu)
        .arg("--json")
        .assert()
        .success();
    assert_eq!(json(&out)["skipped"]["foreign"], 1);
    let after = apex.sim.all_entries();
    assert!(
        after.contains(&manual),
        "the foreign entry is exactly as it was"
    );
    assert!(after.iter().any(|e| e.content == "192.0.2.1"));
    // Closing the incident does not remove the foreign entry either, nor does --clean.
    lumu.sim.set_status("inc-2", "closed");
    lumu_cmd(dir.path(), &apex, &lumu).assert().success();
    lumu_cmd(dir.path(), &apex, &lumu)
        .arg("--clean")
        .assert()
        .success();
    let after = apex.sim.all_entries();
    assert_eq!(after.len(), 2);
    assert!(after.contains(&manual));
}

#[test]
fn two_tags_live_side_by_side() {
    let apex = start_apex();
    let (a, b) = (start_lumu(), start_lumu());
    a.sim.add(SimIncident::open(
        "a-1",
        hours(1),
        &["a1.example", "a2.example"],
        &["C2C"],
    ));
    b.sim.add(SimIncident::open(
        "b-1",
        hours(1),
        &["b1.example", "203.0.113.77"],
        &["Spam"],
    ));
    let dir = tempfile::tempdir().unwrap();
    lumu_cmd(dir.path(), &apex, &a)
        .args(["--tag", "company-a"])
        .assert()
        .success();
    lumu_cmd(dir.path(), &apex, &b)
        .args(["--tag", "company-b"])
        .assert()
        .success();
    assert_eq!(
        owned(&apex, "company-a"),
        ["domain a1.example", "domain a2.example"]
    );
    assert_eq!(
        owned(&apex, "company-b"),
        ["domain b1.example", "ip 203.0.113.77"]
    );
    // A's incident closes: A's source is empty, so its removals wait for --force; then
    // only A's entries go.
    a.sim.set_status("a-1", "closed");
    lumu_cmd(dir.path(), &apex, &a)
        .args(["--tag", "company-a"])
        .assert()
        .code(5);
    assert_eq!(owned(&apex, "company-a").len(), 2);
    lumu_cmd(dir.path(), &apex, &a)
        .args(["--tag", "company-a", "--force"])
        .assert()
        .success();
    assert!(owned(&apex, "company-a").is_empty());
    assert_eq!(owned(&apex, "company-b").len(), 2);
    lumu_cmd(dir.path(), &apex, &b)
        .args(["--tag", "company-b", "--clean"])
        .assert()
        .success();
    assert!(apex.sim.all_entries().is_empty());
}

#[test]
fn the_removal_brake_holds_until_forced() {
    let (apex, lumu) = (start_apex(), start_lumu());
    for i in 0..12 {
        lumu.sim.add(SimIncident::open(
            &format!("inc-{i}"),
            hours(1),
            &[&format!("d{i}.example")],
            &["DGA"],
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    lumu_cmd(dir.path(), &apex, &lumu).assert().success();
    for i in 0..12 {
        lumu.sim.set_status(&format!("inc-{i}"), "closed");
    }
    lumu.sim.add(SimIncident::open(
        "new",
        hours(0),
        &["new.example"],
        &["DGA"],
    ));
    let out = lumu_cmd(dir.path(), &apex, &lumu).assert().code(5);
    let (stdout, stderr) = output_text(out.get_output());
    assert!(
        stderr.contains("removal brake")
            && stderr.contains("12 of the 12")
            && stderr.contains("--force"),
        "{stderr}"
    );
    assert!(stdout.contains("BRAKE"), "{stdout}");
    assert_eq!(apex.sim.control.stats.count("DELETE"), 0);
    assert!(
        owned(&apex, "lumu").contains(&"domain new.example".to_owned()),
        "adds still happen"
    );
    lumu_cmd(dir.path(), &apex, &lumu)
        .arg("--force")
        .assert()
        .success();
    assert_eq!(owned(&apex, "lumu"), ["domain new.example"]);
}

#[test]
fn a_lumu_failure_writes_nothing_and_exits_1() {
    let (apex, lumu) = (start_apex(), start_lumu());
    seed(&lumu);
    let dir = tempfile::tempdir().unwrap();
    lumu_cmd(dir.path(), &apex, &lumu).assert().success();
    let before = apex.sim.all_entries();
    lumu.sim.set_status("inc-1", "closed");
    let key = lumu.sim.company_key().to_owned();

    let check = |out: &std::process::Output, expect: &str| {
        let (stdout, stderr) = output_text(out);
        assert!(stderr.contains(expect), "{stderr}");
        assert!(stderr.contains("nothing was written"), "{stderr}");
        assert!(
            !stderr.contains(&key) && !stdout.contains(&key),
            "the company key leaked"
        );
    };
    // Wrong key.
    let out = lumu_cmd(dir.path(), &apex, &lumu)
        .args(["--company-key", "wrong"])
        .assert()
        .code(1);
    check(out.get_output(), "refused the company key");
    // A server error (retried, then given up).
    lumu.sim.break_answers(Some((
        StatusCode::INTERNAL_SERVER_ERROR,
        "{\"name\":\"Internal\",\"detail\":\"db down\"}",
    )));
    let out = lumu_cmd(dir.path(), &apex, &lumu).assert().code(1);
    check(
        out.get_output(),
        "HTTP 500 Internal Server Error: Internal: db down",
    );
    // Malformed JSON.
    lumu.sim
        .break_answers(Some((StatusCode::OK, "{\"items\": [")));
    let out = lumu_cmd(dir.path(), &apex, &lumu).assert().code(1);
    check(out.get_output(), "is not JSON");
    // JSON of the wrong shape.
    lumu.sim
        .break_answers(Some((StatusCode::OK, "{\"items\": [{\"no_id\": 1}]}")));
    let out = lumu_cmd(dir.path(), &apex, &lumu).assert().code(1);
    check(out.get_output(), "is not a list of incidents");

    assert_eq!(apex.sim.all_entries(), before, "nothing was removed");
    assert_eq!(apex.sim.control.stats.count("DELETE"), 0);
}

#[test]
fn a_spent_daily_quota_aborts_and_the_minute_limit_is_waited_out() {
    let (apex, lumu) = (start_apex(), start_lumu());
    seed(&lumu);
    let dir = tempfile::tempdir().unwrap();
    // 3 requests a second: the 4 calls of a run (1 page, 3 contexts) must wait once.
    lumu.sim.set_rate_limit(Some(RateLimit {
        per_window: 3,
        window: Duration::from_secs(1),
        per_day: 1000,
    }));
    lumu_cmd(dir.path(), &apex, &lumu).assert().success();
    assert_eq!(owned(&apex, "lumu").len(), 6);
    assert!(
        lumu.sim.control.stats.total() > 4,
        "a 429 was answered and retried"
    );

    lumu.sim.set_rate_limit(Some(RateLimit {
        per_window: 100,
        window: Duration::from_secs(60),
        per_day: 0,
    }));
    let out = lumu_cmd(dir.path(), &apex, &lumu).assert().code(1);
    let (_, stderr) = output_text(out.get_output());
    assert!(stderr.contains("daily quota"), "{stderr}");
}

#[test]
fn injected_apex_faults_still_converge() {
    let (apex, lumu) = (start_apex(), start_lumu());
    for i in 0..30 {
        lumu.sim.add(
            SimIncident::open(
                &format!("inc-{i}"),
                hours(1),
                &[&format!("d{i}.example"), &format!("198.51.100.{i}")],
                &["C2C"],
            )
            .with_triggers(&[&format!("http://d{i}.example/x")]),
        );
    }
    let faults = &apex.sim.control.faults;
    faults.first_try_only(true);
    faults.error_5xx_every(3);
    faults.error_429_every(5, 1);
    faults.drop_every(7);
    faults.set_latency(Duration::from_millis(10));
    let dir = tempfile::tempdir().unwrap();
    lumu_cmd(dir.path(), &apex, &lumu)
        .args(["--threads", "8"])
        .assert()
        .success();
    assert_eq!(owned(&apex, "lumu").len(), 90);
    // Half the incidents close; the removals go through the same faults.
    for i in 0..15 {
        lumu.sim.set_status(&format!("inc-{i}"), "closed");
    }
    lumu_cmd(dir.path(), &apex, &lumu)
        .args(["--threads", "8"])
        .assert()
        .success();
    assert_eq!(owned(&apex, "lumu").len(), 45);
    faults.clear();
    let out = lumu_cmd(dir.path(), &apex, &lumu)
        .arg("--json")
        .assert()
        .success();
    assert_eq!(json(&out)["plan"]["unchanged"], 45);
}

#[test]
fn capacity_keeps_the_newest_and_reports_the_rest() {
    let apex = start_apex();
    for i in 0..(10_000 - 3) {
        apex.sim.insert(entry(
            "ip",
            &format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255),
            "manual",
        ));
    }
    let lumu = start_lumu();
    for (i, age) in [5, 1, 4, 2, 3].iter().enumerate() {
        lumu.sim.add(SimIncident::open(
            &format!("inc-{i}"),
            hours(*age),
            &[&format!("198.51.100.{i}")],
            &["C2C"],
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let out = lumu_cmd(dir.path(), &apex, &lumu)
        .args(["--ioc-types", "ip", "--json"])
        .assert()
        .success();
    let report = json(&out);
    assert_eq!(report["skipped"]["capacity"], 2);
    // The three newest: ages 1, 2 and 3 hours.
    assert_eq!(
        owned(&apex, "lumu"),
        ["ip 198.51.100.1", "ip 198.51.100.3", "ip 198.51.100.4"]
    );
}

#[test]
fn a_second_instance_of_a_lumu_job_exits_3_before_any_request() {
    let (apex, lumu) = (start_apex(), start_lumu());
    let dir = tempfile::tempdir().unwrap();
    let _held = InstanceLock::acquire(&dir.path().join("apex-ioc-sync-lumu.lock")).unwrap();
    let out = lumu_cmd(dir.path(), &apex, &lumu).assert().code(3);
    assert_eq!(
        output_text(out.get_output()).1,
        "Error: Another instance is running. Quitting.\n"
    );
    assert_eq!(
        lumu.sim.control.stats.total() + apex.sim.control.stats.total(),
        0
    );
}

#[test]
fn missing_company_key_and_missing_files_are_usage_errors() {
    let apex = start_apex();
    let dir = tempfile::tempdir().unwrap();
    let out = apex_cmd(dir.path(), &apex).assert().code(2);
    assert!(
        output_text(out.get_output())
            .1
            .contains("no Lumu company key")
    );
    let out = apex_cmd(dir.path(), &apex)
        .args(["--source", "openioc"])
        .assert()
        .code(2);
    assert!(
        output_text(out.get_output())
            .1
            .contains("--source openioc needs at least one --file PATH")
    );
}

#[test]
fn secrets_never_reach_output_or_logs_in_lumu_runs() {
    let (apex, lumu) = (start_apex(), start_lumu());
    seed(&lumu);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("job.log");
    let c = apex.sim.config();
    let company_key = lumu.sim.company_key().to_owned();
    let secrets = [
        c.api_key.as_str(),
        company_key.as_str(),
        "pr0xy-s3cret",
        "taxii-t0ken",
        "taxii-passw0rd",
    ];
    // An unused port: the Lumu request fails to connect (its URL holds the key).
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let run = |args: &[&str], code: i32| {
        let out = bin(dir.path())
            .args(["--host", &apex.url(), "--application-id", &c.app_id, "-vv"])
            .args(["--taxii-token", "taxii-t0ken", "--taxii-user", "u"])
            .args(args)
            .env("APEX_API_KEY", &c.api_key)
            .env("LUMU_COMPANY_KEY", &company_key)
            .env("PROXY_PASSWORD", "pr0xy-s3cret")
            .env("TAXII_PASSWORD", "taxii-passw0rd")
            .assert()
            .code(code);
        let (stdout, stderr) = output_text(out.get_output());
        let logged = std::fs::read_to_string(&log).unwrap_or_default();
        for text in [&stdout, &stderr, &logged] {
            for secret in secrets {
                assert!(!text.contains(secret), "{secret} leaked into:\n{text}");
            }
            assert!(!text.contains("eyJ"), "a token leaked into:\n{text}");
        }
    };
    let lumu_url = lumu.url();
    let log_file = log.to_str().unwrap();
    run(&["--lumu-url", &lumu_url, "--json"], 0);
    run(&["--lumu-url", &lumu_url, "--dry-run"], 0);
    run(&["--lumu-url", &lumu_url, "--log-file", log_file], 0);
    run(
        &[
            "--lumu-url",
            &format!("http://{dead}"),
            "--log-file",
            log_file,
            "--timeout",
            "2",
        ],
        1,
    );
    lumu.sim
        .break_answers(Some((StatusCode::BAD_GATEWAY, "upstream down")));
    run(&["--lumu-url", &lumu_url, "--log-file", log_file], 1);
    run(&["--lumu-url", &lumu_url, "--json"], 1);
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("lumu (tag lumu): 3 items"), "{logged}");
    assert!(
        logged.contains("cannot reach Lumu Defender") && logged.contains("HTTP 502"),
        "{logged}"
    );
}
