//! A poisoned or broken feed cannot take the company down: the job's own hosts and the
//! hashes of empty input are never pushed, the add brake holds a feed that suddenly grows,
//! and exclusion entries that match nothing are counted and named. The real binary against
//! the simulators over loopback.

use std::path::Path;

use apex_ioc_sync::sim::vision_one::VisionOneSimConfig;
use apex_ioc_sync::sim::{BackgroundApex, BackgroundVisionOne};
use serde_json::json;

use crate::common::*;

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The proxy the environment names: never reached, since NO_PROXY sends the loopback
/// simulators' traffic past it.
const PROXY: &str = "http://proxy.corp.example:3128";

/// A feed naming Apex Central (`--host`, the simulator on 127.0.0.1) and the proxy: held
/// back, each under `builtin:own-infrastructure` with the option that named it.
#[test]
fn the_jobs_own_hosts_are_never_pushed() {
    let apex = start_apex();
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("feed.txt");
    let apex_url = format!("{}/WebApp/API/SuspiciousObjects/", apex.url());
    std::fs::write(
        &feed,
        format!(
            "proxy.corp.example\n{PROXY}/proxy.pac\nwpad.proxy.corp.example\ncorp.example\n\
             127.0.0.1\n{apex_url}\n# may be pushed\nwww.corp.example\nc2.evil.example\n"
        ),
    )
    .unwrap();
    let run = |extra: &[&str]| {
        let mut cmd = apex_cmd(dir.path(), &apex);
        cmd.env("HTTPS_PROXY", PROXY)
            .env("HTTP_PROXY", PROXY)
            .env("NO_PROXY", "127.0.0.1")
            .args(["--source", "file", "--file", path(&feed)])
            .args(extra);
        cmd
    };
    let out = run(&["--dry-run"]).assert().success();
    let (stdout, _) = output_text(out.get_output());
    let proxy = "builtin:own-infrastructure: proxy.corp.example (HTTPS_PROXY)";
    let apex_host = "builtin:own-infrastructure: 127.0.0.1 (--host)";
    for (content, why) in [
        ("proxy.corp.example", proxy),
        ("http://proxy.corp.example:3128/proxy.pac", proxy),
        ("wpad.proxy.corp.example", proxy),
        (
            "corp.example",
            "builtin:own-infrastructure: corp.example (parent domain of proxy.corp.example (HTTPS_PROXY))",
        ),
        ("127.0.0.1", apex_host),
        (apex_url.as_str(), apex_host),
    ] {
        let line = format!("{content}  (excluded by {why})");
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with("x ") && l.ends_with(&line)),
            "{line}\n{stdout}"
        );
    }
    let report = json(&run(&["--json"]).assert().success());
    assert_eq!(report["excluded"], json!({"builtin:own-infrastructure": 6}));
    assert_eq!(
        owned(&apex, "file"),
        ["domain c2.evil.example", "domain www.corp.example"]
    );
    // `--no-default-exclusions` lifts it with the rest of the guard.
    let report = json(
        &run(&["--json", "--no-default-exclusions"])
            .assert()
            .success(),
    );
    assert_eq!(report["excluded"], json!({}));
    assert_eq!(owned(&apex, "file").len(), 8);
}

/// The hashes of empty input, SHA-1 and SHA-256, are never pushed (Vision One holds both
/// kinds); a real hash beside them is.
#[test]
fn the_hashes_of_empty_input_are_never_pushed() {
    let v1: BackgroundVisionOne = start_v1(VisionOneSimConfig::random());
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("hashes.txt");
    std::fs::write(
        &feed,
        "DA39A3EE5E6B4B0D3255BFEF95601890AFD80709\n\
         e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n\
         7440f32a5788882ff0efdcea7e93dd431d6d1398\n",
    )
    .unwrap();
    let out = v1_cmd(dir.path(), &v1)
        .args(["--source", "file", "--file", path(&feed)])
        .args(["--ioc-types", "hash,sha256", "--json"])
        .assert()
        .success();
    let report = json(&out);
    assert_eq!(report["excluded"], json!({"builtin:empty-file-hash": 2}));
    let pushed: Vec<String> = v1
        .sim
        .all_objects()
        .into_iter()
        .map(|o| format!("{} {}", o.object_type, o.value))
        .collect();
    assert_eq!(
        pushed,
        ["fileSha1 7440f32a5788882ff0efdcea7e93dd431d6d1398"]
    );
}

/// `demo` no longer pushes the empty file's SHA-1 with `block`: the guard holds it back and
/// says so, and a real hash is still pushed.
#[test]
fn demo_pushes_a_real_hash_and_holds_the_empty_files_back() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin(dir.path()).arg("demo").assert().success();
    let (stdout, _) = output_text(out.get_output());
    assert!(
        stdout.contains("; excluded 1 (builtin:empty-file-hash 1);"),
        "{stdout}"
    );
    assert!(
        stdout.lines().any(|l| l.starts_with("file_sha1")
            && l.contains("ours:lumu")
            && l.contains("7440f32a5788882ff0efdcea7e93dd431d6d1398")),
        "{stdout}"
    );
    assert!(!stdout.contains("da39a3ee"), "{stdout}");
}

/// An Apex Central that holds 2 entries of tag `file` (one the feed still names, one it
/// dropped), and a feed of those and `adds` new domains.
fn brake_case(adds: usize) -> (BackgroundApex, tempfile::TempDir, std::path::PathBuf) {
    let apex = start_apex();
    for ip in ["198.18.0.1", "198.18.0.2"] {
        apex.sim
            .insert(entry("ip", ip, "apex-ioc-sync:file feed.txt line 1"));
    }
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("feed.txt");
    let mut text = "198.18.0.1\n".to_owned();
    for i in 0..adds {
        text.push_str(&format!("c2-{i}.evil.example\n"));
    }
    std::fs::write(&feed, text).unwrap();
    (apex, dir, feed)
}

/// With `--max-adds 10` and 2 entries owned, the brake holds a run of more than
/// max(10, 3 x 2) = 10 adds: nothing added, updated or removed, exit 5, said in the summary,
/// the error, `--json` and the metrics; `--force` goes ahead.
#[test]
fn the_add_brake_holds_a_run_that_adds_too_much_unless_forced() {
    let (apex, dir, feed) = brake_case(11);
    let run = |extra: &[&str]| {
        let mut cmd = apex_cmd(dir.path(), &apex);
        cmd.args(["--source", "file", "--file", path(&feed)])
            .args(["--max-adds", "10"])
            .args(extra);
        cmd
    };
    let before = owned(&apex, "file");
    let out = run(&[]).assert().code(5);
    let (stdout, stderr) = output_text(out.get_output());
    assert!(
        stdout.contains(
            "; ADD BRAKE: would add 11, more than 10 (the larger of --max-adds and 3 x 2 owned), wrote nothing"
        ),
        "{stdout}"
    );
    assert!(
        stderr.contains(
            "add brake: this run would add 11 entries, more than 10 (the larger of --max-adds 10 \
             and 3 times the 2 entries tag `file` owns); nothing was written, neither the adds \
             nor 1 updates and 1 removals"
        ) && stderr.contains("run again with --force"),
        "{stderr}"
    );
    assert_eq!(writes(&apex), 0);
    assert_eq!(owned(&apex, "file"), before);

    let metrics = dir.path().join("sync.prom");
    let out = run(&["--json", "--metrics-file", path(&metrics)])
        .assert()
        .code(5);
    let report = json(&out);
    assert_eq!(
        report["add_brake"],
        json!({"would_add": 11, "owned": 2, "threshold": 10, "would_update": 1, "would_remove": 1})
    );
    assert_eq!(report["brake"], json!(null));
    assert_eq!(
        (
            &report["plan"]["add"],
            &report["plan"]["update"],
            &report["plan"]["remove"]
        ),
        (&json!(0), &json!(0), &json!(0))
    );
    let metrics = std::fs::read_to_string(&metrics).unwrap();
    for line in [
        "apex_ioc_sync_last_run_exit_code{tag=\"file\",source=\"file\",sink=\"apex\"} 5",
        "apex_ioc_sync_brake_engaged{tag=\"file\",source=\"file\",sink=\"apex\"} 1",
        "apex_ioc_sync_brake_held_adds{tag=\"file\",source=\"file\",sink=\"apex\"} 11",
        "apex_ioc_sync_brake_held_removals{tag=\"file\",source=\"file\",sink=\"apex\"} 0",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line}\n{metrics}");
    }
    assert_eq!(writes(&apex), 0);

    let report = json(&run(&["--json", "--force"]).assert().success());
    assert_eq!(report["add_brake"], json!(null));
    assert_eq!(
        (&report["plan"]["add"], &report["plan"]["remove"]),
        (&json!(11), &json!(1))
    );
    let now = owned(&apex, "file");
    assert_eq!(now.len(), 12);
    assert!(now.contains(&"ip 198.18.0.1".to_owned()));
    assert!(!now.contains(&"ip 198.18.0.2".to_owned()));
}

/// At the threshold the run goes ahead as before: adds, updates and removals.
#[test]
fn a_run_at_the_add_threshold_goes_ahead() {
    let (apex, dir, feed) = brake_case(10);
    let out = apex_cmd(dir.path(), &apex)
        .args(["--source", "file", "--file", path(&feed)])
        .args(["--max-adds", "10", "--json"])
        .assert()
        .success();
    let report = json(&out);
    assert_eq!(report["add_brake"], json!(null));
    assert_eq!(
        (
            &report["plan"]["add"],
            &report["plan"]["update"],
            &report["plan"]["remove"]
        ),
        (&json!(10), &json!(1), &json!(1))
    );
    assert_eq!(owned(&apex, "file").len(), 11);
}

/// The case the brake is for, with its default threshold: a job that owns 1,000 entries,
/// and a feed that suddenly names 50,000 IOCs. Nothing is written.
#[test]
fn a_poisoned_feed_of_50000_iocs_is_held_whole_by_default() {
    let apex = start_apex();
    let name = |i: usize| format!("d{i:05}.example");
    for i in 0..1_000 {
        apex.sim
            .insert(entry("domain", &name(i), "apex-ioc-sync:file feed"));
    }
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("feed.txt");
    let text: String = (0..50_000).map(|i| format!("{}\n", name(i))).collect();
    std::fs::write(&feed, text).unwrap();
    let out = apex_cmd(dir.path(), &apex)
        .args(["--source", "file", "--file", path(&feed), "--json"])
        .assert()
        .code(5);
    let report = json(&out);
    // The list holds 10,000 domains: the 1,000 owned, and 9,000 adds.
    assert_eq!(
        report["add_brake"],
        json!({"would_add": 9_000, "owned": 1_000, "threshold": 5_000, "would_update": 1_000, "would_remove": 0})
    );
    assert_eq!(writes(&apex), 0);
    assert_eq!(owned(&apex, "file").len(), 1_000);
}

/// Entries that can match nothing are counted by list in `--json` and named in a warning;
/// `*.name` in a `hostname` list and `.name` in a `string` list (MISP's own `google` list)
/// are applied as the domain and every name under it.
#[test]
fn exclusion_entries_that_match_nothing_are_counted_and_named() {
    let apex = start_apex();
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("feed.txt");
    std::fs::write(
        &feed,
        "mail.corp.example\nmail.google.de\nc2.evil.example\n",
    )
    .unwrap();
    let made_up = dir.path().join("made-up.json");
    std::fs::write(
        &made_up,
        r#"{"name": "Made up", "type": "hostname", "matching_attributes": ["domain"],
            "list": ["*.corp.example", "corona helden"]}"#,
    )
    .unwrap();
    let google = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/misp-warninglists/google");
    let out = apex_cmd(dir.path(), &apex)
        .args(["--source", "file", "--file", path(&feed), "--json"])
        .args(["--exclude", path(&made_up), "--exclude", path(&google)])
        .assert()
        .success();
    let report = json(&out);
    assert_eq!(
        report["excluded"],
        json!({"Made up": 1, "List of known google domains": 1})
    );
    assert_eq!(report["exclusions_unused"], json!({"Made up": 1}));
    let (_, stderr) = output_text(out.get_output());
    assert!(
        stderr.contains("WARN")
            && stderr.contains("made-up.json: 1 entries of the exclusion list `Made up` are not entries its type can match"),
        "{stderr}"
    );
    assert_eq!(owned(&apex, "file"), ["domain c2.evil.example"]);
}
