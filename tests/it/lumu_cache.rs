//! The Lumu job at scale: the context cache in the state file, the per-run budget of
//! context reads, the daily quota and the run's deadline. The real binary against simulated
//! Lumu Defender and Apex Central servers over loopback HTTP; Lumu's calls are counted by
//! the simulator, by endpoint.

use std::path::Path;
use std::time::Duration;

use crate::common::*;
use apex_ioc_sync::sim::BackgroundLumu;
use apex_ioc_sync::sim::lumu::{Endpoint, RateLimit, SimIncident};
use axum::http::StatusCode;

fn hours(h: i64) -> chrono::Duration {
    chrono::Duration::hours(h)
}

/// Three incidents, each with an adversary and a trigger; inc-1 also a file.
fn seed(lumu: &BackgroundLumu) {
    lumu.sim.add(
        SimIncident::open("inc-1", hours(5), &["c2.example", "203.0.113.5"], &["C2C"])
            .with_triggers(&["https://c2.example/gate.php?a=1", "tcp://198.51.100.9:443"])
            .with_files(&["3395856ce81f2b7382dee72602f798b642f14140"]),
    );
    lumu.sim.add(
        SimIncident::open("inc-2", hours(3), &["phish.example"], &["Phishing"])
            .with_triggers(&["http://phish.example/login"]),
    );
    lumu.sim.add(
        SimIncident::open("inc-3", hours(1), &["miner.example"], &["Mining"])
            .with_triggers(&["stratum+tcp://pool.miner.example:3333"]),
    );
}

const ALL_TYPES: &[&str] = &["--ioc-types", "ip,domain,url,hash"];

/// Lumu's calls since the last reset, by endpoint: (incident pages, contexts).
fn lumu_calls(lumu: &BackgroundLumu) -> (u64, u64) {
    let calls = (
        lumu.sim.calls(Endpoint::Incidents),
        lumu.sim.calls(Endpoint::Context),
    );
    lumu.sim.reset_calls();
    calls
}

fn has(apex: &apex_ioc_sync::sim::BackgroundApex, line: &str) -> bool {
    owned(apex, "lumu").iter().any(|o| o == line)
}

fn state_file(dir: &Path) -> std::path::PathBuf {
    dir.join("apex-ioc-sync-lumu.db")
}

#[test]
fn an_unchanged_run_reads_the_incident_pages_and_no_context() {
    let (apex, lumu) = (start_apex(), start_lumu());
    for i in 0..250 {
        lumu.sim.add(
            SimIncident::open(
                &format!("inc-{i}"),
                chrono::Duration::minutes(i),
                &[&format!("d{i}.example")],
                &["C2C"],
            )
            .with_triggers(&[&format!("https://d{i}.example/x")]),
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let out = lumu_cmd(dir.path(), &apex, &lumu)
        .arg("--json")
        .assert()
        .success();
    let report = json(&out);
    assert_eq!(lumu_calls(&lumu), (3, 250));
    assert_eq!(report["lumu"]["contexts_read"], 250);
    assert_eq!(report["lumu"]["calls"]["context"], 250);
    assert_eq!(report["put"], 500);
    assert!(state_file(dir.path()).exists());

    let writes_before = writes(&apex);
    let out = lumu_cmd(dir.path(), &apex, &lumu)
        .arg("--json")
        .assert()
        .success();
    let report = json(&out);
    assert_eq!(
        lumu_calls(&lumu),
        (3, 0),
        "ceil(250 / 100) pages and no context"
    );
    let l = &report["lumu"];
    assert_eq!(
        [
            &l["contexts_read"],
            &l["contexts_cached"],
            &l["contexts_deferred"]
        ],
        [0, 250, 0]
    );
    assert_eq!(
        l["calls"],
        serde_json::json!({"incidents": 3, "context": 0})
    );
    assert_eq!(report["plan"]["unchanged"], 500);
    assert_eq!(writes(&apex), writes_before);
}

#[test]
fn a_changed_incident_is_read_again_and_its_new_trigger_pushed_in_one_run() {
    let (apex, lumu) = (start_apex(), start_lumu());
    seed(&lumu);
    let dir = tempfile::tempdir().unwrap();
    lumu_cmd(dir.path(), &apex, &lumu).assert().success();
    lumu_calls(&lumu);
    // An endpoint contacts inc-2's adversary again, at a new URL.
    lumu.sim
        .touch("inc-2", Some("https://phish.example/stage2.php"));
    let out = lumu_cmd(dir.path(), &apex, &lumu)
        .arg("--json")
        .assert()
        .success();
    let report = json(&out);
    assert_eq!(
        lumu_calls(&lumu),
        (1, 1),
        "one context: the changed incident's"
    );
    assert_eq!(report["lumu"]["contexts_read"], 1);
    assert_eq!(report["lumu"]["contexts_cached"], 2);
    assert_eq!(report["plan"]["add"], 1);
    assert!(has(&apex, "url https://phish.example/stage2.php"));
    // And then it is unchanged again.
    lumu_cmd(dir.path(), &apex, &lumu).assert().success();
    assert_eq!(lumu_calls(&lumu), (1, 0));
}

#[test]
fn a_closed_incidents_iocs_go_and_its_cached_context_is_forgotten() {
    let (apex, lumu) = (start_apex(), start_lumu());
    seed(&lumu);
    let dir = tempfile::tempdir().unwrap();
    lumu_cmd(dir.path(), &apex, &lumu)
        .args(ALL_TYPES)
        .assert()
        .success();
    assert_eq!(owned(&apex, "lumu").len(), 9);
    lumu.sim.set_status("inc-1", "closed");
    lumu_calls(&lumu);
    let out = lumu_cmd(dir.path(), &apex, &lumu)
        .args(ALL_TYPES)
        .arg("--json")
        .assert()
        .success();
    let report = json(&out);
    assert_eq!(lumu_calls(&lumu), (1, 0));
    assert_eq!(report["lumu"]["forgotten"], 1);
    assert_eq!(report["removals_withheld"], serde_json::Value::Null);
    assert_eq!(report["deleted"], 5, "its adversaries, triggers and file");
    assert_eq!(
        owned(&apex, "lumu"),
        [
            "domain miner.example",
            "domain phish.example",
            "domain pool.miner.example",
            "url http://phish.example/login",
        ]
    );
    // Reopened, it is a new incident again: its context is read once more.
    lumu.sim.set_status("inc-1", "open");
    lumu_cmd(dir.path(), &apex, &lumu)
        .args(ALL_TYPES)
        .assert()
        .success();
    assert_eq!(lumu_calls(&lumu), (1, 1));
    assert_eq!(owned(&apex, "lumu").len(), 9);
}

/// The quota runs out while an earlier context request is still being answered: that
/// answer (which the server counted) is kept, and no new context is asked for.
#[test]
fn a_context_answered_while_the_quota_runs_out_is_kept() {
    let (apex, lumu) = (start_apex(), start_lumu());
    for (id, age) in [("inc-a", 2), ("inc-b", 1)] {
        lumu.sim.add(
            SimIncident::open(id, hours(age), &[&format!("{id}.example")], &["C2C"])
                .with_triggers(&[&format!("https://{id}.example/x")]),
        );
    }
    // The incident page and one context are left; the context's answer takes a while, so
    // the other context's 429 arrives first.
    lumu.sim.set_rate_limit(Some(RateLimit {
        per_window: 100,
        window: Duration::from_secs(60),
        per_day: 2,
    }));
    lumu.sim.delay_contexts(Duration::from_millis(800));
    let dir = tempfile::tempdir().unwrap();
    let out = lumu_cmd(dir.path(), &apex, &lumu)
        .arg("--json")
        .assert()
        .code(0);
    let l = &json(&out)["lumu"];
    assert_eq!(l["stopped"], "quota");
    assert_eq!(l["contexts_read"], 1, "{l}");
    assert!(
        has(&apex, "url https://inc-a.example/x") ^ has(&apex, "url https://inc-b.example/x"),
        "{:?}",
        owned(&apex, "lumu")
    );
}

#[test]
fn a_quota_spent_mid_run_exits_0_removes_nothing_and_the_next_run_completes() {
    let (apex, lumu) = (start_apex(), start_lumu());
    seed(&lumu);
    let dir = tempfile::tempdir().unwrap();
    lumu_cmd(dir.path(), &apex, &lumu).assert().success();
    // inc-3 closes (its IOCs are due to go); two new incidents open.
    lumu.sim.set_status("inc-3", "closed");
    lumu.sim.add(
        SimIncident::open("inc-4", hours(2), &["new4.example"], &["C2C"])
            .with_triggers(&["https://new4.example/a"]),
    );
    lumu.sim.add(
        SimIncident::open("inc-5", hours(0), &["new5.example"], &["C2C"])
            .with_triggers(&["https://new5.example/b"]),
    );
    // What is left of today's quota: the incident page and one context.
    lumu.sim.new_day();
    lumu.sim.set_rate_limit(Some(RateLimit {
        per_window: 100,
        window: Duration::from_secs(60),
        per_day: 2,
    }));
    lumu_calls(&lumu);
    let out = lumu_cmd(dir.path(), &apex, &lumu)
        .arg("--json")
        .assert()
        .code(0);
    let report = json(&out);
    let (_, stderr) = output_text(out.get_output());
    assert!(
        stderr.contains("daily quota") && stderr.contains("Stopped reading Lumu incident contexts"),
        "{stderr}"
    );
    let l = &report["lumu"];
    assert_eq!(l["stopped"], "quota");
    assert_eq!(l["contexts_read"], 1);
    assert_eq!(l["contexts_missing"], 1);
    assert_eq!(l["contexts_deferred"], 1);
    assert!(
        report["removals_withheld"]
            .as_str()
            .is_some_and(|w| w.contains("new Lumu incidents without a context read yet: 1")),
        "{report}"
    );
    assert_eq!(apex.sim.control.stats.count("DELETE"), 0);
    // The closed incident's IOCs stay (they may be in the unread context); one new incident
    // was read (both were asked for at once: which one the server answered is not fixed), the
    // other gave its adversary.
    assert!(has(&apex, "domain miner.example") && has(&apex, "domain pool.miner.example"));
    assert!(has(&apex, "domain new4.example") && has(&apex, "domain new5.example"));
    assert!(has(&apex, "url https://new4.example/a") ^ has(&apex, "url https://new5.example/b"));

    // The next day the run completes: one page, the one context left.
    lumu.sim.new_day();
    lumu_calls(&lumu);
    let out = lumu_cmd(dir.path(), &apex, &lumu)
        .arg("--json")
        .assert()
        .success();
    let report = json(&out);
    assert_eq!(lumu_calls(&lumu), (1, 1));
    assert_eq!(report["lumu"]["stopped"], serde_json::Value::Null);
    assert_eq!(report["removals_withheld"], serde_json::Value::Null);
    assert!(has(&apex, "url https://new4.example/a") && has(&apex, "url https://new5.example/b"));
    assert!(!has(&apex, "domain miner.example") && !has(&apex, "domain pool.miner.example"));
}

#[test]
fn the_budget_reads_new_incidents_newest_first_and_converges_without_removals() {
    let (apex, lumu) = (start_apex(), start_lumu());
    seed(&lumu);
    let dir = tempfile::tempdir().unwrap();
    lumu_cmd(dir.path(), &apex, &lumu).assert().success();
    let pushed = owned(&apex, "lumu");
    assert_eq!(pushed.len(), 8);
    // The state file is lost (or this is the first run of a version with the cache): every
    // incident is new, and the list already holds their context IOCs.
    std::fs::remove_file(state_file(dir.path())).unwrap();
    lumu.sim.add(
        SimIncident::open("inc-4", hours(10), &["old4.example"], &["C2C"])
            .with_triggers(&["https://old4.example/x"]),
    );
    lumu_calls(&lumu);
    let mut read_triggers = Vec::new();
    for run in 1..=4 {
        let out = lumu_cmd(dir.path(), &apex, &lumu)
            .args(["--max-context-calls", "1", "--json"])
            .assert()
            .success();
        let report = json(&out);
        assert_eq!(lumu_calls(&lumu), (1, 1), "run {run}");
        let l = &report["lumu"];
        assert_eq!(l["contexts_read"], 1, "run {run}");
        assert_eq!(l["contexts_deferred"], 4 - run, "run {run}");
        assert_eq!(l["contexts_missing"], 4 - run, "run {run}");
        assert_eq!(report["removals_withheld"].is_null(), run == 4, "run {run}");
        assert_eq!(apex.sim.control.stats.count("DELETE"), 0, "run {run}");
        // Nothing pushed before goes, and the new incident's adversary comes at once.
        let now = owned(&apex, "lumu");
        assert!(pushed.iter().all(|p| now.contains(p)), "run {run}: {now:?}");
        assert!(has(&apex, "domain old4.example"), "run {run}");
        read_triggers.push(has(&apex, "url https://old4.example/x"));
    }
    // inc-4 is the oldest: its context comes last.
    assert_eq!(read_triggers, [false, false, false, true]);
    lumu_cmd(dir.path(), &apex, &lumu)
        .args(["--max-context-calls", "1"])
        .assert()
        .success();
    assert_eq!(lumu_calls(&lumu), (1, 0), "converged");
}

#[test]
fn new_incidents_are_read_before_changed_ones_and_changed_ones_keep_their_context() {
    let (apex, lumu) = (start_apex(), start_lumu());
    seed(&lumu);
    let dir = tempfile::tempdir().unwrap();
    lumu_cmd(dir.path(), &apex, &lumu).assert().success();
    // inc-1 changes (newest activity of all), and drops nothing; a new, older incident opens.
    lumu.sim.touch("inc-1", Some("https://c2.example/new"));
    lumu.sim.add(SimIncident::open(
        "inc-6",
        hours(20),
        &["old6.example"],
        &["C2C"],
    ));
    lumu_calls(&lumu);
    let out = lumu_cmd(dir.path(), &apex, &lumu)
        .args(["--max-context-calls", "1", "--json"])
        .assert()
        .success();
    let report = json(&out);
    assert_eq!(report["lumu"]["contexts_read"], 1);
    assert_eq!(report["lumu"]["contexts_deferred"], 1);
    assert_eq!(report["lumu"]["contexts_missing"], 0);
    assert!(report["removals_withheld"].is_null());
    // inc-1's cached context still counts: its trigger stays; the new one waits a run.
    assert!(has(&apex, "url https://c2.example/gate.php?a=1"));
    assert!(!has(&apex, "url https://c2.example/new"));
    lumu_cmd(dir.path(), &apex, &lumu)
        .args(["--max-context-calls", "1"])
        .assert()
        .success();
    assert!(has(&apex, "url https://c2.example/new"));
    assert_eq!(lumu_calls(&lumu), (2, 2));
    assert_eq!(apex.sim.control.stats.count("DELETE"), 0);
}

#[test]
fn dry_run_reads_contexts_and_stores_nothing() {
    let (apex, lumu) = (start_apex(), start_lumu());
    seed(&lumu);
    let dir = tempfile::tempdir().unwrap();
    let out = lumu_cmd(dir.path(), &apex, &lumu)
        .args(["--dry-run", "--json"])
        .assert()
        .success();
    assert_eq!(json(&out)["lumu"]["contexts_read"], 3);
    assert!(!state_file(dir.path()).exists(), "no state file is made");
    lumu_cmd(dir.path(), &apex, &lumu).assert().success();
    assert_eq!(lumu_calls(&lumu), (2, 6), "the real run read them again");

    lumu.sim.touch("inc-3", Some("https://miner.example/new"));
    let out = lumu_cmd(dir.path(), &apex, &lumu)
        .args(["--dry-run", "--json"])
        .assert()
        .success();
    let report = json(&out);
    assert_eq!(report["lumu"]["contexts_read"], 1);
    assert_eq!(report["changes"][0]["content"], "https://miner.example/new");
    assert_eq!(writes(&apex), 8);
    // The dry run did not store what it read: the real run reads it again.
    let out = lumu_cmd(dir.path(), &apex, &lumu)
        .arg("--json")
        .assert()
        .success();
    assert_eq!(json(&out)["lumu"]["contexts_read"], 1);
    assert_eq!(lumu_calls(&lumu), (2, 2));
    assert!(has(&apex, "url https://miner.example/new"));
}

#[test]
fn the_deadline_stops_context_reads_and_the_run_syncs_what_it_has() {
    let (apex, lumu) = (start_apex(), start_lumu());
    seed(&lumu);
    let dir = tempfile::tempdir().unwrap();
    // The page and two contexts fit in the window; the third waits half a minute, which
    // would end past the run's deadline: it is not waited for.
    lumu.sim.set_rate_limit(Some(RateLimit {
        per_window: 3,
        window: Duration::from_secs(30),
        per_day: 1000,
    }));
    let log = dir.path().join("job.log");
    let out = lumu_cmd(dir.path(), &apex, &lumu)
        .args(["--max-run-minutes", "0.1", "--json", "--log-file"])
        .arg(&log)
        .assert()
        .success();
    let report = json(&out);
    assert_eq!(report["lumu"]["stopped"], "deadline");
    assert_eq!(report["lumu"]["contexts_read"], 2);
    assert_eq!(report["lumu"]["contexts_missing"], 1);
    assert!(report["removals_withheld"].is_string());
    // The run did not sit in a wait it could not finish: it stopped reading at once.
    let seconds = report["seconds"].as_f64().unwrap();
    assert!(seconds < 4.8, "{seconds}");
    // Every adversary is pushed; one incident's trigger waits for a later run.
    for domain in ["c2.example", "phish.example", "miner.example"] {
        assert!(has(&apex, &format!("domain {domain}")), "{domain}");
    }
    let triggers = [
        "url https://c2.example/gate.php?a=1",
        "url http://phish.example/login",
        "domain pool.miner.example",
    ];
    assert_eq!(triggers.iter().filter(|t| has(&apex, t)).count(), 2);
    // The log says so, in the warning and in the summary.
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("HTTP 429")
            && logged.contains("would end past the run's deadline (--max-run-minutes); not waited")
            && logged.contains("context reads stopped: --max-run-minutes reached")
            && logged.contains("removals withheld"),
        "{logged}"
    );
}

/// Slow context reads: reading stops at four fifths of --max-run-minutes (the reads under
/// way are abandoned), and the fifth left is the sync's, which writes what is known.
#[test]
fn context_reads_stop_at_four_fifths_of_the_run_and_the_sync_gets_the_rest() {
    let (apex, lumu) = (start_apex(), start_lumu());
    seed(&lumu);
    lumu.sim.delay_contexts(Duration::from_secs(60));
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("job.log");
    let out = lumu_cmd(dir.path(), &apex, &lumu)
        .args(["--max-run-minutes", "0.2", "--json", "--log-file"])
        .arg(&log)
        .assert()
        .success();
    let report = json(&out);
    assert_eq!(report["lumu"]["stopped"], "deadline");
    assert_eq!(report["lumu"]["contexts_read"], 0);
    let seconds = report["seconds"].as_f64().unwrap();
    assert!((9.6..12.0).contains(&seconds), "{seconds}");
    assert_eq!(report["left"]["add"], 0);
    for domain in ["c2.example", "phish.example", "miner.example"] {
        assert!(has(&apex, &format!("domain {domain}")), "{domain}");
    }
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("four fifths of --max-run-minutes 0.2, the rest is the sync's) has passed"),
        "{logged}"
    );
}

#[test]
fn failed_context_reads_do_not_stop_the_run_and_hold_removals_back() {
    let (apex, lumu) = (start_apex(), start_lumu());
    seed(&lumu);
    let dir = tempfile::tempdir().unwrap();
    lumu_cmd(dir.path(), &apex, &lumu).assert().success();
    lumu.sim.set_status("inc-3", "closed");
    lumu.sim.add(
        SimIncident::open("inc-7", hours(0), &["new7.example"], &["C2C"])
            .with_triggers(&["https://new7.example/x"]),
    );
    lumu.sim.break_contexts(Some((
        StatusCode::NOT_FOUND,
        "{\"name\":\"NotFound\",\"detail\":\"no context\"}",
    )));
    let out = lumu_cmd(dir.path(), &apex, &lumu)
        .arg("--json")
        .assert()
        .success();
    let report = json(&out);
    let (_, stderr) = output_text(out.get_output());
    assert!(
        stderr.contains("HTTP 404") && stderr.contains("read again on a later run"),
        "{stderr}"
    );
    assert!(!stderr.contains(lumu.sim.company_key()));
    assert_eq!(report["lumu"]["contexts_failed"], 1);
    assert!(report["removals_withheld"].is_string());
    assert!(has(&apex, "domain new7.example") && has(&apex, "domain miner.example"));
    assert_eq!(apex.sim.control.stats.count("DELETE"), 0);

    lumu.sim.break_contexts(None);
    lumu_cmd(dir.path(), &apex, &lumu).assert().success();
    assert!(has(&apex, "url https://new7.example/x") && !has(&apex, "domain miner.example"));
}

#[test]
fn an_unusable_state_file_is_an_error_naming_it_and_nothing_is_written() {
    let (apex, lumu) = (start_apex(), start_lumu());
    seed(&lumu);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("odd.db");
    std::fs::write(&path, "not a database, but long enough to be read as one").unwrap();
    let out = lumu_cmd(dir.path(), &apex, &lumu)
        .args(["--state-file", path.to_str().unwrap()])
        .assert()
        .code(1);
    let (_, stderr) = output_text(out.get_output());
    assert!(
        stderr.contains("odd.db") && stderr.contains("move it away"),
        "{stderr}"
    );
    assert_eq!(lumu_calls(&lumu), (0, 0));
    assert_eq!(writes(&apex), 0);
}

#[test]
fn budget_and_deadline_values_are_checked_on_the_command_line_and_in_config() {
    let (apex, lumu) = (start_apex(), start_lumu());
    seed(&lumu);
    let dir = tempfile::tempdir().unwrap();
    for (flag, value) in [
        ("--max-run-minutes", "0"),
        ("--max-run-minutes", "soon"),
        ("--max-run-minutes", "1441"),
        ("--max-context-calls", "many"),
        ("--max-context-calls", "10001"),
    ] {
        let out = lumu_cmd(dir.path(), &apex, &lumu)
            .args([flag, value])
            .assert()
            .code(2);
        let (_, stderr) = output_text(out.get_output());
        assert!(
            stderr.contains(flag) && stderr.contains(value),
            "{flag} {value}: {stderr}"
        );
    }
    let config = dir.path().join("job.config");
    std::fs::write(&config, "max_context_calls=5\nmax-run-minutes=never\n").unwrap();
    let out = lumu_cmd(dir.path(), &apex, &lumu)
        .args(["--config", config.to_str().unwrap()])
        .assert()
        .code(2);
    let (_, stderr) = output_text(out.get_output());
    assert!(
        stderr.contains("job.config:2: `max-run-minutes`"),
        "{stderr}"
    );
    // Both spellings, in the file; 0 reads no context at all.
    std::fs::write(&config, "max_context_calls=0\nmax-run-minutes=0.5\n").unwrap();
    let out = lumu_cmd(dir.path(), &apex, &lumu)
        .args(["--config", config.to_str().unwrap(), "--json"])
        .assert()
        .success();
    let report = json(&out);
    assert_eq!(report["lumu"]["contexts_read"], 0);
    assert_eq!(report["lumu"]["contexts_deferred"], 3);
    assert_eq!(lumu_calls(&lumu), (1, 0));
}
