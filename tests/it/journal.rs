//! The journal over HTTP: the real binary against the simulated Lumu, Apex Central and Vision
//! One. Runs and their writes land in the state file as they happen (a killed run's too);
//! `history` lists them, `explain` answers for an IOC pushed, excluded, foreign or never
//! seen, `rollback` undoes a run exactly on Apex Central and on Vision One, `--hold` keeps
//! what it removed off; and the removal brake looks back 24 hours.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use apex_ioc_sync::sim::apex::ApexSimConfig;
use apex_ioc_sync::sim::lumu::SimIncident;
use apex_ioc_sync::sim::vision_one::{SimObject, VisionOneSimConfig};
use apex_ioc_sync::sim::{BackgroundApex, BackgroundLumu, BackgroundVisionOne};
use apex_ioc_sync::sink::vision_one::ObjectType;
use serde_json::Value;

use crate::common::*;

fn hours(h: i64) -> chrono::Duration {
    chrono::Duration::hours(h)
}

/// The Lumu job's default state file in `dir`.
fn state_file(dir: &Path) -> PathBuf {
    dir.join("apex-ioc-sync-lumu.db")
}

/// Three open incidents.
fn seed(lumu: &BackgroundLumu) {
    lumu.sim.add(
        SimIncident::open("inc-1", hours(5), &["c2.example", "203.0.113.5"], &["C2C"])
            .with_triggers(&["https://c2.example/gate.php?a=1"]),
    );
    lumu.sim.add(SimIncident::open(
        "inc-2",
        hours(3),
        &["phish.example"],
        &["Phishing"],
    ));
    lumu.sim.add(SimIncident::open(
        "inc-3",
        hours(1),
        &["miner.example"],
        &["Mining"],
    ));
}

/// The second run's source: inc-2 closed, inc-4 new.
fn change(lumu: &BackgroundLumu) {
    lumu.sim.set_status("inc-2", "closed");
    lumu.sim.add(SimIncident::open(
        "inc-4",
        hours(0),
        &["new.example"],
        &["Malware"],
    ));
}

/// Every entry a tag owns on the simulated Apex, whole: type, content, notes, scan action,
/// expiry; sorted.
fn apex_set(apex: &BackgroundApex, tag: &str) -> Vec<String> {
    let mut v: Vec<String> = apex
        .sim
        .all_entries()
        .into_iter()
        .filter(|e| e.owner_tag() == Some(tag))
        .map(|e| {
            format!(
                "{} {} | {} | {} | {:?}",
                e.kind, e.content, e.notes, e.scan_action, e.expiration_utc_date
            )
        })
        .collect();
    v.sort();
    v
}

/// A run's `--json` report.
fn sync_json(cmd: &mut assert_cmd::Command) -> Value {
    json(&cmd.arg("--json").assert().success())
}

/// `history ...` (with `--json`) of the job whose files are in `dir`.
fn history(dir: &Path, args: &[&str]) -> Value {
    let out = bin(dir)
        .arg("history")
        .args(args)
        .arg("--json")
        .assert()
        .success();
    json(&out)
}

fn run_id(report: &Value) -> String {
    report["run_id"].as_str().expect("a run_id").to_owned()
}

#[test]
fn runs_and_writes_are_journalled_and_history_lists_them_newest_first() {
    let (apex, lumu) = (start_apex(), start_lumu());
    seed(&lumu);
    let dir = tempfile::tempdir().unwrap();
    let metrics = dir.path().join("lumu.prom");
    let first = sync_json(
        lumu_cmd(dir.path(), &apex, &lumu).args(["--metrics-file", metrics.to_str().unwrap()]),
    );
    let first_id = run_id(&first);
    assert!(
        first_id.len() == 21 && first_id.as_bytes()[8] == b'T' && first_id.contains("Z-"),
        "{first_id}"
    );
    assert_eq!(first["plan"]["add"], 5);
    change(&lumu);
    let second = sync_json(
        lumu_cmd(dir.path(), &apex, &lumu).args(["--metrics-file", metrics.to_str().unwrap()]),
    );
    let second_id = run_id(&second);
    assert_ne!(first_id, second_id);

    // The runs, newest first, with the shape scripts rely on.
    let runs = history(dir.path(), &[]);
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["id"], second_id.as_str());
    assert_eq!(runs[1]["id"], first_id.as_str());
    assert_eq!(
        (
            runs[0]["plan"]["add"].clone(),
            runs[0]["plan"]["update"].clone(),
            runs[0]["plan"]["remove"].clone()
        ),
        (1.into(), 0.into(), 1.into())
    );
    assert_eq!(runs[0]["exit_code"], 0);
    assert_eq!(runs[0]["tag"], "lumu");
    assert_eq!(runs[0]["source"], "lumu");
    assert_eq!(runs[0]["destination"]["sink"], "apex");
    assert_eq!(runs[0]["destination"]["location"], apex.url().as_str());
    assert!(runs[0]["ended"].is_string());

    // One run's writes: op, type, content as sent, result; a removal keeps what it removed.
    let writes = history(dir.path(), &[&second_id]);
    let writes = writes.as_array().unwrap();
    let summary: Vec<String> = writes
        .iter()
        .map(|w| format!("{} {} {} {}", w["op"], w["type"], w["content"], w["result"]))
        .collect();
    assert_eq!(
        summary,
        [
            r#""add" "domain" "new.example" "done""#,
            r#""remove" "domain" "phish.example" "done""#
        ]
    );
    assert_eq!(writes[0]["reason"], "Malware incident inc-4");
    assert_eq!(writes[0]["scan_action"], "block");
    assert!(writes[0]["expires"].is_string());
    assert_eq!(
        writes[1]["previous"]["notes"],
        "apex-ioc-sync:lumu Phishing incident inc-2"
    );

    // As text: one line a run, and the summary line carries the id.
    let out = bin(dir.path()).arg("history").assert().success();
    let (text, _) = output_text(out.get_output());
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].starts_with(&second_id), "{text}");
    assert!(
        lines[0].contains("lumu -> apex") && lines[0].contains("+1 ~0 -1  failed 0  exit 0"),
        "{text}"
    );
    let out = lumu_cmd(dir.path(), &apex, &lumu).assert().success();
    let (summary, _) = output_text(out.get_output());
    let third_id = summary.trim().rsplit("; run ").next().unwrap().to_owned();
    assert!(
        third_id.starts_with("20") && third_id.len() == 21,
        "{summary}"
    );
    assert_eq!(
        history(dir.path(), &[&third_id]).as_array().unwrap().len(),
        0
    );

    // Filters: the tag, and the start.
    let state = state_file(dir.path());
    let state = state.to_str().unwrap();
    assert_eq!(
        history(dir.path(), &["--since", "1h"])
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        history(dir.path(), &["--since", "2999-01-01"])
            .as_array()
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        history(dir.path(), &["--state-file", state, "--tag", "other"])
            .as_array()
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        history(dir.path(), &["--state-file", state, "--tag", "lumu"])
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // The metrics file counts the journal's rows (of the second run, the last with it).
    let text = std::fs::read_to_string(&metrics).unwrap();
    assert!(
        text.contains(
            "apex_ioc_sync_journal_rows{tag=\"lumu\",source=\"lumu\",sink=\"apex\",table=\"runs\"} 2\n"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "apex_ioc_sync_journal_rows{tag=\"lumu\",source=\"lumu\",sink=\"apex\",table=\"writes\"} 7\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("apex_ioc_sync_journal_age_seconds{"),
        "{text}"
    );
}

#[test]
fn a_dry_run_is_journalled_marked_and_without_writes_when_a_state_file_exists() {
    let (apex, lumu) = (start_apex(), start_lumu());
    seed(&lumu);
    let dir = tempfile::tempdir().unwrap();
    // No state file: a dry run creates none (its run id is still given).
    let dry = sync_json(lumu_cmd(dir.path(), &apex, &lumu).arg("--dry-run"));
    assert!(dry["run_id"].is_null(), "{dry}");
    assert!(!state_file(dir.path()).exists());
    lumu_cmd(dir.path(), &apex, &lumu).assert().success();
    change(&lumu);
    let dry = sync_json(lumu_cmd(dir.path(), &apex, &lumu).arg("--dry-run"));
    let id = run_id(&dry);
    let runs = history(dir.path(), &[]);
    assert_eq!(runs[0]["id"], id.as_str());
    assert_eq!(runs[0]["dry_run"], true);
    assert_eq!(runs[0]["plan"]["add"], 1);
    assert_eq!(history(dir.path(), &[&id]).as_array().unwrap().len(), 0);
    let out = bin(dir.path()).arg("history").assert().success();
    assert!(output_text(out.get_output()).0.contains("[dry run]"));
    // Rolling a dry run back is refused: it wrote nothing.
    let out = apex_run(dir.path(), &apex, &["rollback", &id])
        .assert()
        .code(2);
    let (_, stderr) = output_text(out.get_output());
    assert!(stderr.contains("was a dry run"), "{stderr}");
}

#[test]
fn history_of_a_job_that_never_ran_or_of_an_unknown_run_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin(dir.path()).arg("history").assert().code(1);
    let (_, stderr) = output_text(out.get_output());
    assert!(
        stderr.contains("no journal")
            && stderr.contains("apex-ioc-sync-lumu.db")
            && stderr.contains("does not exist"),
        "{stderr}"
    );
    assert!(!state_file(dir.path()).exists(), "history made the file");
    let (apex, lumu) = (start_apex(), start_lumu());
    seed(&lumu);
    lumu_cmd(dir.path(), &apex, &lumu).assert().success();
    let out = bin(dir.path())
        .args(["history", "20200101T000000Z-0000"])
        .assert()
        .code(1);
    let (_, stderr) = output_text(out.get_output());
    assert!(
        stderr.contains("no run 20200101T000000Z-0000") && stderr.contains("history"),
        "{stderr}"
    );
    let out = apex_run(dir.path(), &apex, &["rollback", "20200101T000000Z-0000"])
        .assert()
        .code(1);
    let (_, stderr) = output_text(out.get_output());
    assert!(stderr.contains("no run 20200101T000000Z-0000"), "{stderr}");
}

/// The Lumu job with `args`, then the same job's `explain` of `ioc` as JSON.
fn explain(dir: &Path, apex: &BackgroundApex, args: &[&str], ioc: &str) -> (Value, String) {
    let out = apex_run(dir, apex, &["explain", ioc])
        .args(args)
        .arg("--json")
        .assert()
        .success();
    let json = json(&out);
    let out = apex_run(dir, apex, &["explain", ioc])
        .args(args)
        .assert()
        .success();
    (json, output_text(out.get_output()).0)
}

#[test]
fn explain_answers_for_an_ioc_pushed_excluded_foreign_and_never_seen() {
    let (apex, lumu) = (start_apex(), start_lumu());
    seed(&lumu);
    lumu.sim.add(SimIncident::open(
        "inc-5",
        hours(2),
        &["allowed.example", "foreign.example"],
        &["C2C"],
    ));
    apex.sim
        .insert(entry("domain", "Foreign.Example", "blocked by the SOC"));
    let dir = tempfile::tempdir().unwrap();
    let allow = dir.path().join("allow.txt");
    std::fs::write(&allow, "# ours\nallowed.example\n").unwrap();
    let exclude = ["--exclude", allow.to_str().unwrap()];
    lumu_cmd(dir.path(), &apex, &lumu)
        .args(exclude)
        .assert()
        .success();

    // Pushed: any spelling, its normal form, why and since when.
    let (e, text) = explain(dir.path(), &apex, &exclude, "C2[.]Example.");
    assert_eq!(
        (e["type"].clone(), e["value"].clone()),
        ("domain".into(), "c2.example".into())
    );
    assert!(
        e["verdict"]
            .as_str()
            .unwrap()
            .starts_with("on the list, owned by this job (tag lumu): added by run"),
        "{e}"
    );
    let entries = e["destination"]["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["ours"], true);
    let job = &e["jobs"][0];
    assert_eq!(job["tag"], "lumu");
    assert_eq!(job["wanted"]["reason"], "C2C incident inc-1");
    assert_eq!(job["wanted"]["outcome"], "listed");
    assert_eq!(job["writes"][0]["op"], "add");
    assert_eq!(job["writes"][0]["result"], "done");
    assert!(e["excluded"].is_null());
    assert!(
        text.contains("domain c2.example  (from `C2[.]Example.`)"),
        "{text}"
    );
    assert!(text.contains("C2C incident inc-1"), "{text}");

    // A URL, defanged.
    let (e, _) = explain(
        dir.path(),
        &apex,
        &exclude,
        "hxxps://C2[.]Example/gate.php?a=1",
    );
    assert_eq!(e["value"], "https://c2.example/gate.php?a=1");
    assert_eq!(e["destination"]["entries"][0]["ours"], true);

    // Excluded: which list, which entry; and the run left it out for that.
    let (e, text) = explain(dir.path(), &apex, &exclude, "allowed.example");
    assert_eq!(e["excluded"]["list"], "allow.txt");
    assert_eq!(e["excluded"]["line"], 2);
    assert!(e["destination"]["entries"].as_array().unwrap().is_empty());
    assert_eq!(e["jobs"][0]["wanted"]["outcome"], "excluded");
    assert!(
        e["verdict"]
            .as_str()
            .unwrap()
            .contains("held back by allow.txt line 2: allowed.example"),
        "{e}"
    );
    assert!(text.contains("held back by allow.txt line 2"), "{text}");

    // Foreign: on the list, not ours, and the run left it out.
    let (e, _) = explain(dir.path(), &apex, &exclude, "foreign.example");
    let entries = e["destination"]["entries"].as_array().unwrap();
    assert_eq!(entries[0]["content"], "Foreign.Example");
    assert!(entries[0]["owner_tag"].is_null());
    assert_eq!(e["jobs"][0]["wanted"]["outcome"], "foreign");
    assert!(
        e["verdict"].as_str().unwrap().contains("foreign entry"),
        "{e}"
    );

    // Never seen.
    let (e, text) = explain(dir.path(), &apex, &exclude, "never.example");
    assert!(e["jobs"][0]["wanted"].is_null());
    assert!(e["jobs"][0]["writes"].as_array().unwrap().is_empty());
    assert!(e["verdict"].as_str().unwrap().contains("never seen"), "{e}");
    assert!(text.contains("absent"), "{text}");

    // Removed by a later run: the journal says which.
    lumu.sim.set_status("inc-3", "closed");
    lumu_cmd(dir.path(), &apex, &lumu)
        .args(exclude)
        .assert()
        .success();
    let (e, _) = explain(dir.path(), &apex, &exclude, "miner.example");
    assert!(
        e["verdict"]
            .as_str()
            .unwrap()
            .starts_with("not on the list: removed by run"),
        "{e}"
    );
    // Not an IOC: a usage error that says why.
    let out = apex_run(dir.path(), &apex, &["explain", "not an ioc"])
        .assert()
        .code(2);
    assert!(output_text(out.get_output()).1.contains("is not an IOC"));
}

#[test]
fn rollback_of_the_second_run_restores_the_first_runs_set_on_apex_and_hold_keeps_it() {
    let (apex, lumu) = (start_apex(), start_lumu());
    seed(&lumu);
    let dir = tempfile::tempdir().unwrap();
    lumu_cmd(dir.path(), &apex, &lumu).assert().success();
    let first = apex_set(&apex, "lumu");
    assert_eq!(first.len(), 5);
    // The second run adds, removes, and updates every kept entry (another scan action).
    change(&lumu);
    let second = sync_json(lumu_cmd(dir.path(), &apex, &lumu).args(["--scan-action", "log"]));
    assert_eq!(
        (
            second["plan"]["add"].clone(),
            second["plan"]["update"].clone(),
            second["plan"]["remove"].clone()
        ),
        (1.into(), 4.into(), 1.into())
    );
    let id = run_id(&second);
    assert_ne!(apex_set(&apex, "lumu"), first);

    // The plan first: a dry run writes nothing.
    let writes_before = writes(&apex);
    let out = apex_run(dir.path(), &apex, &["rollback", &id, "--dry-run", "--json"])
        .assert()
        .success();
    let plan = json(&out);
    assert_eq!(plan["dry_run"], true);
    assert_eq!(plan["undoes"], id.as_str());
    assert_eq!(
        (
            plan["plan"]["add"].clone(),
            plan["plan"]["update"].clone(),
            plan["plan"]["remove"].clone()
        ),
        (1.into(), 4.into(), 1.into())
    );
    assert_eq!(writes(&apex), writes_before, "a dry run writes nothing");
    let out = apex_run(dir.path(), &apex, &["rollback", &id, "--dry-run"])
        .assert()
        .success();
    let (text, _) = output_text(out.get_output());
    assert!(
        text.contains("- domain") && text.contains("new.example"),
        "{text}"
    );
    assert!(
        text.contains("+ domain") && text.contains("phish.example"),
        "{text}"
    );
    assert!(
        text.contains("the next run of tag lumu pushes again"),
        "{text}"
    );

    // The rollback: the first run's set, exactly (notes, scan actions, expiries).
    let hold = dir.path().join("hold.txt");
    let out = apex_run(dir.path(), &apex, &["rollback", &id, "--json"])
        .args(["--hold", hold.to_str().unwrap()])
        .assert()
        .success();
    let report = json(&out);
    assert_eq!(report["put"], 5);
    assert_eq!(report["deleted"], 1);
    assert_eq!(report["held"], serde_json::json!(["new.example"]));
    assert_eq!(apex_set(&apex, "lumu"), first);
    let rollback_id = run_id(&report);

    // It is a run of the journal, of its own writes.
    let runs = history(dir.path(), &[]);
    assert_eq!(runs[0]["id"], rollback_id.as_str());
    assert_eq!(runs[0]["kind"], "rollback");
    assert_eq!(runs[0]["undoes"], id.as_str());
    assert_eq!(
        history(dir.path(), &[&rollback_id])
            .as_array()
            .unwrap()
            .len(),
        6
    );

    // The next run would push new.example again; the hold list keeps it off.
    let held = lumu_cmd(dir.path(), &apex, &lumu)
        .args(["--hold", hold.to_str().unwrap(), "--json"])
        .assert()
        .success();
    let report = json(&held);
    assert_eq!(report["excluded"]["hold:hold.txt"], 1, "{report}");
    assert!(!owned(&apex, "lumu").contains(&"domain new.example".to_owned()));
    let (e, _) = explain(
        dir.path(),
        &apex,
        &["--hold", hold.to_str().unwrap()],
        "new.example",
    );
    assert_eq!(e["excluded"]["list"], "hold:hold.txt");
    // A hold list that does not exist is a configuration error, not an empty list.
    let out = lumu_cmd(dir.path(), &apex, &lumu)
        .args(["--hold", dir.path().join("none.txt").to_str().unwrap()])
        .assert()
        .code(2);
    assert!(output_text(out.get_output()).1.contains("create it empty"));
}

#[test]
fn rollback_of_a_clean_run_puts_every_entry_back() {
    let (apex, lumu) = (start_apex(), start_lumu());
    seed(&lumu);
    let dir = tempfile::tempdir().unwrap();
    lumu_cmd(dir.path(), &apex, &lumu).assert().success();
    let before = apex_set(&apex, "lumu");
    let clean = sync_json(apex_cmd(dir.path(), &apex).arg("--clean"));
    assert!(apex_set(&apex, "lumu").is_empty());
    let id = run_id(&clean);
    // Re-adds only: no brake applies.
    apex_run(dir.path(), &apex, &["rollback", &id])
        .assert()
        .success();
    assert_eq!(apex_set(&apex, "lumu"), before);
}

/// Every object of the simulated Vision One carrying `tag`: type, value, description, scan
/// action; sorted; and each one's expiry.
fn v1_set(
    v1: &BackgroundVisionOne,
    tag: &str,
) -> (Vec<String>, Vec<Option<chrono::DateTime<chrono::Utc>>>) {
    let prefix = format!("apex-ioc-sync:{tag} ");
    let mut v: Vec<(String, Option<chrono::DateTime<chrono::Utc>>)> = v1
        .sim
        .all_objects()
        .into_iter()
        .filter(|o| o.description.starts_with(&prefix))
        .map(|o| {
            let shown = format!(
                "{} {} | {} | {}",
                o.object_type, o.value, o.description, o.scan_action
            );
            (shown, o.expires)
        })
        .collect();
    v.sort();
    v.into_iter().unzip()
}

#[test]
fn rollback_of_the_second_run_restores_the_first_runs_set_on_vision_one() {
    let v1 = start_v1(VisionOneSimConfig::random());
    v1.sim.insert(SimObject::new(
        ObjectType::Domain,
        "hand.example",
        "added by hand",
    ));
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("feed.txt");
    let job = || {
        let mut cmd = v1_cmd(dir.path(), &v1);
        cmd.args(["--source", "file", "--file", list.to_str().unwrap()]);
        cmd
    };
    std::fs::write(
        &list,
        "a.example\nb.example\n198.51.100.7\nhttp://c.example/x\n",
    )
    .unwrap();
    job().assert().success();
    let first = v1_set(&v1, "file");
    assert_eq!(first.0.len(), 4);
    std::fs::write(&list, "a.example\n198.51.100.7\nd.example\n").unwrap();
    let second = sync_json(job().args(["--scan-action", "log"]));
    let id = run_id(&second);
    assert_eq!(
        (
            second["plan"]["add"].clone(),
            second["plan"]["update"].clone(),
            second["plan"]["remove"].clone()
        ),
        (1.into(), 2.into(), 2.into())
    );
    v1_run(dir.path(), &v1, &["rollback", &id])
        .args(["--source", "file"])
        .assert()
        .success();
    let restored = v1_set(&v1, "file");
    assert_eq!(restored.0, first.0);
    // Vision One takes expiries in whole days from now: the same, to a few seconds.
    for (was, is) in first.1.iter().zip(&restored.1) {
        let (was, is) = (was.unwrap(), is.unwrap());
        assert!((was - is).num_seconds().abs() < 3600, "{was} {is}");
    }
    assert!(
        v1.sim
            .all_objects()
            .iter()
            .any(|o| o.value == "hand.example"),
        "the foreign object stays"
    );
    // A second rollback of the same run finds nothing left to undo, and writes nothing.
    let out = v1_run(dir.path(), &v1, &["rollback", &id, "--json"])
        .args(["--source", "file"])
        .assert()
        .success();
    let again = json(&out);
    assert_eq!(again["plan"]["add"], 0);
    assert_eq!(again["plan"]["remove"], 0);
    assert_eq!(again["plan"]["update"], 0);
    assert_eq!(again["skipped"].as_array().unwrap().len(), 5, "{again}");
}

#[test]
fn a_rollback_for_another_destination_is_refused() {
    let (apex, lumu) = (start_apex(), start_lumu());
    seed(&lumu);
    let dir = tempfile::tempdir().unwrap();
    let report = sync_json(&mut lumu_cmd(dir.path(), &apex, &lumu));
    let other = start_apex();
    let out = apex_run(dir.path(), &other, &["rollback", &run_id(&report)])
        .assert()
        .code(2);
    let (_, stderr) = output_text(out.get_output());
    assert!(
        stderr.contains("wrote to apex") && stderr.contains(&apex.url()),
        "{stderr}"
    );
    assert_eq!(
        other.sim.control.stats.total(),
        0,
        "nothing asked of the other server"
    );
}

/// The number of writes of the newest run in the journal at `path` whose answer came.
fn answered(path: &Path) -> usize {
    let Ok(conn) =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return 0;
    };
    conn.query_row(
        "SELECT COUNT(*) FROM journal_writes WHERE result <> 'planned'",
        [],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n as usize)
    .unwrap_or(0)
}

#[test]
fn a_killed_runs_journal_shows_the_writes_made_before_the_kill() {
    let apex = start_apex_with(ApexSimConfig::random());
    apex.sim
        .control
        .faults
        .set_latency(Duration::from_millis(150));
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("feed.txt");
    let feed: String = (0..40).map(|i| format!("d{i}.example\n")).collect();
    std::fs::write(&list, feed).unwrap();
    let mut child = std_bin(dir.path())
        .args(apex_args(&apex))
        .args(["--source", "file", "--file", list.to_str().unwrap()])
        .args(["--threads", "1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let state = dir.path().join("apex-ioc-sync-file.db");
    let started = Instant::now();
    while answered(&state) < 5 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the run never got to its writes"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended too soon"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let runs = history(dir.path(), &["--source", "file"]);
    let run = &runs[0];
    assert!(
        run["ended"].is_null() && run["exit_code"].is_null(),
        "{run}"
    );
    assert_eq!(run["plan"]["add"], 40);
    let id = run["id"].as_str().unwrap().to_owned();
    let writes = history(dir.path(), &["--source", "file", &id]);
    let writes = writes.as_array().unwrap();
    assert_eq!(writes.len(), 40, "every planned write is there");
    let done: Vec<&str> = writes
        .iter()
        .filter(|w| w["result"] == "done")
        .map(|w| w["content"].as_str().unwrap())
        .collect();
    assert!(
        writes
            .iter()
            .all(|w| w["result"] == "done" || w["result"] == "planned"),
        "{writes:?}"
    );
    // Every write answered before the kill is on the list, and at most the one in flight
    // (one write at a time) besides.
    let on_list = owned(&apex, "file");
    for content in &done {
        assert!(on_list.contains(&format!("domain {content}")), "{content}");
    }
    assert!(
        on_list.len() >= done.len() && on_list.len() <= done.len() + 1,
        "{} done, {} on the list",
        done.len(),
        on_list.len()
    );
    let out = bin(dir.path())
        .args(["history", "--source", "file"])
        .assert()
        .success();
    let (text, _) = output_text(out.get_output());
    assert!(
        text.contains("no end (running, or stopped by a kill)"),
        "{text}"
    );
    assert!(text.contains("writes without a result"), "{text}");

    // The killed run rolls back whole: the list shows which unanswered writes were made.
    apex.sim.control.faults.set_latency(Duration::ZERO);
    apex_run(dir.path(), &apex, &["rollback", &id])
        .args(["--source", "file", "--force"])
        .assert()
        .success();
    assert!(owned(&apex, "file").is_empty());
}

/// A plain list of `n` domains.
fn domains(list: &Path, n: usize) {
    let text: String = (0..n).map(|i| format!("d{i}.example\n")).collect();
    std::fs::write(list, text).unwrap();
}

#[test]
fn a_source_shrinking_by_40_percent_a_run_is_braked_on_the_third_run_within_24_hours() {
    let apex = start_apex();
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("feed.txt");
    let job = || {
        let mut cmd = apex_cmd(dir.path(), &apex);
        cmd.args(["--source", "file", "--file", list.to_str().unwrap()]);
        cmd
    };
    domains(&list, 100);
    job().assert().success();
    domains(&list, 60);
    let second = sync_json(&mut job());
    assert_eq!(second["deleted"], 40);
    assert!(second["window_brake"].is_null());
    domains(&list, 36);
    // 24 of the 60 owned: under the per-run brake; but 36 of the 100 owned an hour ago.
    let out = job().arg("--json").assert().code(5);
    let third = json(&out);
    assert!(third["brake"].is_null(), "{third}");
    assert_eq!(third["window_brake"]["peak"], 100);
    assert_eq!(third["window_brake"]["would_remain"], 36);
    assert_eq!(third["deleted"], 0);
    let (_, stderr) = output_text(out.get_output());
    assert!(
        stderr.contains("24-hour window") && stderr.contains("--force"),
        "{stderr}"
    );
    assert_eq!(owned(&apex, "file").len(), 60, "nothing removed");
    let runs = history(dir.path(), &["--source", "file"]);
    assert!(
        runs[0]["note"]
            .as_str()
            .unwrap()
            .starts_with("window brake"),
        "{runs}"
    );
    // --force lifts it.
    let forced = sync_json(job().arg("--force"));
    assert_eq!(forced["deleted"], 24);
    assert_eq!(owned(&apex, "file").len(), 36);
    // The forced run acknowledged the shrink: the next small one goes through.
    domains(&list, 30);
    let after = sync_json(&mut job());
    assert_eq!(after["deleted"], 6);
}

#[test]
fn explain_shows_a_taxii_jobs_indicators_with_their_validity() {
    use apex_ioc_sync::sim::taxii::{TaxiiSimConfig, indicator};
    let apex = start_apex();
    let taxii = start_taxii(TaxiiSimConfig::default());
    let collection = "0c1b0000-0000-4000-8000-00000000000a";
    taxii.sim.add_collection(collection, "A", None, true);
    let at = chrono::Utc::now() - hours(2);
    taxii.sim.add_object(
        collection,
        at,
        indicator("indicator--1", "[domain-name:value = 'one.example']", at),
    );
    let dir = tempfile::tempdir().unwrap();
    taxii_cmd(dir.path(), &apex, &taxii).assert().success();
    let out = apex_run(dir.path(), &apex, &["explain", "One.Example", "--json"])
        .args(["--source", "taxii"])
        .assert()
        .success();
    let e = json(&out);
    let job = &e["jobs"][0];
    assert_eq!(job["tag"], "taxii");
    assert_eq!(job["wanted"]["reason"], "indicator--1");
    assert_eq!(job["indicators"][0]["id"], "indicator--1");
    assert_eq!(job["indicators"][0]["valid_now"], true);
    assert_eq!(job["indicators"][0]["revoked"], false);
    assert_eq!(e["destination"]["entries"][0]["ours"], true);
}

/// A rollback takes the lock its job takes: with `lock-scope=destination` in the job's
/// `.config`, the destination's lock, so it never writes beside a job of that destination.
#[test]
fn a_rollback_takes_the_destination_lock_its_job_takes() {
    let (apex, lumu) = (start_apex(), start_lumu());
    seed(&lumu);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("job.config"), "lock_scope=destination\n").unwrap();
    let first = sync_json(lumu_cmd(dir.path(), &apex, &lumu).args(["--config", "job.config"]));
    let id = run_id(&first);
    let port = apex.url().rsplit(':').next().unwrap().to_owned();
    let lock = dir
        .path()
        .join(format!("apex-ioc-sync@apex-127.0.0.1-{port}.lock"));
    let held = apex_ioc_sync::lock::InstanceLock::acquire(&lock).unwrap();
    let writes_before = writes(&apex);
    let out = apex_run(
        dir.path(),
        &apex,
        &["rollback", &id, "--config", "job.config"],
    )
    .assert()
    .code(3);
    assert_eq!(
        output_text(out.get_output()).1,
        "Error: Another instance is running. Quitting.\n"
    );
    assert_eq!(writes(&apex), writes_before);
    drop(held);
    apex_run(
        dir.path(),
        &apex,
        &["rollback", &id, "--config", "job.config"],
    )
    .assert()
    .success();
    assert!(apex_set(&apex, "lumu").is_empty());
}
