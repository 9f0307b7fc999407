//! What must never be pushed: the built-in guard and `--exclude` lists (plain lists and the
//! real MISP warninglists in tests/data), run through the binary against the simulated Apex.

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::common::*;

/// A feed (a plain IOC list) holding what must not be blocked, and three IOCs that may be.
const FEED: &str = "\
# what a careless feed carries
10.20.30.40
127.0.0.1
224.0.0.251
100.64.12.34
co.uk
github.io
localhost
8.8.8.8
mail.corp.example
http://192.168.1.1/admin
# these may be blocked
203.0.113.9
c2.evil.example
someone.github.io
";

/// What the guard holds back of FEED, and the lists' share.
const GUARDED: &[&str] = &[
    "domain co.uk",
    "domain github.io",
    "domain localhost",
    "ip 10.20.30.40",
    "ip 100.64.12.34",
    "ip 127.0.0.1",
    "ip 224.0.0.251",
    "url http://192.168.1.1/admin",
];
const ALLOWED: &[&str] = &[
    "domain c2.evil.example",
    "domain someone.github.io",
    "ip 203.0.113.9",
];

fn public_dns() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/misp-warninglists/public-dns-v4")
}

/// FEED and a company's own allow-list in `dir`: (feed, allow-list).
fn files(dir: &Path) -> (PathBuf, PathBuf) {
    let feed = dir.join("feed.txt");
    std::fs::write(&feed, FEED).unwrap();
    let allow = dir.join("corp-allow.txt");
    std::fs::write(&allow, "# our own\ncorp.example\n").unwrap();
    (feed, allow)
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn a_feed_of_what_must_not_be_blocked_pushes_none_of_it_and_counts_each_by_list() {
    let apex = start_apex();
    let dir = tempfile::tempdir().unwrap();
    let (feed, allow) = files(dir.path());
    let run = || {
        let mut cmd = apex_cmd(dir.path(), &apex);
        cmd.args(["--source", "file", "--file", path(&feed)]).args([
            "--exclude",
            path(&allow),
            "--exclude",
            path(&public_dns()),
        ]);
        cmd
    };

    // A dry run shows each excluded IOC with the entry that matched it, and the counts by
    // list in the order of the lists: the guard's, then --exclude as given.
    let out = run().arg("--dry-run").assert().success();
    let (stdout, _) = output_text(out.get_output());
    for (content, why) in [
        ("10.20.30.40", "builtin:private-ipv4: 10.0.0.0/8"),
        // The simulated Apex Central is on 127.0.0.1: the job's own host comes first.
        (
            "127.0.0.1",
            "builtin:own-infrastructure: 127.0.0.1 (--host)",
        ),
        (
            "8.8.8.8",
            "List of known IPv4 public DNS resolvers: 8.8.8.8",
        ),
        ("mail.corp.example", "corp-allow.txt line 2: corp.example"),
        (
            "github.io",
            "builtin:public-suffix: github.io (private section)",
        ),
        (
            "http://192.168.1.1/admin",
            "builtin:private-ipv4: 192.168.0.0/16",
        ),
    ] {
        let line = format!("{content}  (excluded by {why})");
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with("x ") && l.ends_with(&line)),
            "{line}\n{stdout}"
        );
    }
    assert!(
        stdout.contains(
            "; excluded 10 (builtin:own-infrastructure 1, builtin:private-ipv4 2, builtin:cgnat-ipv4 1, \
             builtin:multicast-ipv4 1, builtin:local-name 1, builtin:public-suffix 2, \
             corp-allow.txt 1, List of known IPv4 public DNS resolvers 1);"
        ),
        "{stdout}"
    );
    assert_eq!(writes(&apex), 0);

    let out = run().arg("--json").assert().success();
    let report = json(&out);
    assert_eq!(
        report["excluded"],
        json!({
            "builtin:own-infrastructure": 1,
            "builtin:private-ipv4": 2,
            "builtin:cgnat-ipv4": 1,
            "builtin:multicast-ipv4": 1,
            "builtin:local-name": 1,
            "builtin:public-suffix": 2,
            "corp-allow.txt": 1,
            "List of known IPv4 public DNS resolvers": 1
        })
    );
    assert_eq!(report["iocs"], json!({"ip": 1, "domain": 2}));
    assert_eq!(report["plan"]["add"], 3);
    assert!(report.get("excluded_iocs").is_none(), "dry runs only");
    assert_eq!(owned(&apex, "file"), ALLOWED);
}

#[test]
fn without_the_guard_its_values_are_pushed_and_the_lists_still_apply() {
    let apex = start_apex();
    let dir = tempfile::tempdir().unwrap();
    let (feed, allow) = files(dir.path());
    // The lists from .config this time, as a scheduled job has them.
    std::fs::write(
        dir.path().join(".config"),
        format!(
            "{}exclude={}\nexclude={}\nno-default-exclusions\n",
            apex_config(&apex),
            path(&allow),
            path(&public_dns())
        ),
    )
    .unwrap();
    let out = bin(dir.path())
        .args(["--source", "file", "--file", path(&feed), "--json"])
        .assert()
        .success();
    let report = json(&out);
    assert_eq!(
        report["excluded"],
        json!({"corp-allow.txt": 1, "List of known IPv4 public DNS resolvers": 1})
    );
    let mut want: Vec<&str> = GUARDED.iter().chain(ALLOWED).copied().collect();
    want.sort();
    assert_eq!(owned(&apex, "file"), want);
}

#[test]
fn owned_entries_that_become_excluded_are_removed_and_the_brake_still_applies() {
    let apex = start_apex();
    let dir = tempfile::tempdir().unwrap();
    let (feed, allow) = files(dir.path());
    let run = |extra: &[&str]| {
        let mut cmd = apex_cmd(dir.path(), &apex);
        cmd.args(["--source", "file", "--file", path(&feed), "--json"])
            .args(extra);
        cmd
    };
    // Pushed before any exclusion was in place.
    run(&["--no-default-exclusions"]).assert().success();
    assert_eq!(owned(&apex, "file").len(), 13);
    // Someone else's entry for an excluded value is never touched.
    apex.sim
        .insert(entry("ip", "10.9.9.9", "added by the SOC by hand"));
    let dns = public_dns();
    let lists = ["--exclude", path(&allow), "--exclude", path(&dns)];

    // Now 10 of the 13 owned entries are excluded: more than half, but not more than 10.
    // One more excluded value in the feed crosses the line.
    let mut feed_text = FEED.to_owned();
    feed_text.push_str("169.254.169.254\n");
    std::fs::write(&feed, &feed_text).unwrap();
    run(&["--no-default-exclusions"]).assert().success();
    assert_eq!(owned(&apex, "file").len(), 14);
    let out = run(&lists).assert().code(5);
    let report = json(&out);
    assert_eq!(
        report["brake"],
        json!({"would_remove": 11, "owned": 14, "empty_source": false})
    );
    assert_eq!(apex.sim.control.stats.count("DELETE"), 0);
    assert_eq!(owned(&apex, "file").len(), 14);

    // --force lifts the brake; --preserve-iocs does not keep excluded entries.
    let out = run(&[&lists[..], &["--force", "--preserve-iocs"]].concat())
        .assert()
        .success();
    let report = json(&out);
    assert_eq!(report["plan"]["remove"], 11);
    assert_eq!(owned(&apex, "file"), ALLOWED);
    assert!(
        apex.sim
            .all_entries()
            .iter()
            .any(|e| e.content == "10.9.9.9")
    );
}

#[test]
fn an_owned_entry_that_left_the_source_and_is_excluded_goes_even_when_preserving() {
    let apex = start_apex();
    let dir = tempfile::tempdir().unwrap();
    let (feed, allow) = files(dir.path());
    std::fs::write(
        &feed,
        "mail.corp.example\nold.evil.example\nc2.evil.example\n",
    )
    .unwrap();
    let run = |extra: &[&str]| {
        let mut cmd = apex_cmd(dir.path(), &apex);
        cmd.args(["--source", "file", "--file", path(&feed)])
            .args(extra);
        cmd
    };
    run(&[]).assert().success();
    // Both leave the source; one is excluded now.
    std::fs::write(&feed, "c2.evil.example\n").unwrap();
    let out = run(&["--preserve-iocs", "--exclude", path(&allow), "--dry-run"])
        .assert()
        .success();
    let (stdout, _) = output_text(out.get_output());
    assert!(
        stdout.lines().any(|l| l.starts_with("- domain")
            && l.ends_with("mail.corp.example  (excluded: an exclusion list matches it)")),
        "{stdout}"
    );
    assert!(stdout.contains("(+1 preserved)"), "{stdout}");
    run(&["--preserve-iocs", "--exclude", path(&allow)])
        .assert()
        .success();
    assert_eq!(
        owned(&apex, "file"),
        ["domain c2.evil.example", "domain old.evil.example"]
    );
}

#[test]
fn a_broken_list_stops_the_run_before_any_request() {
    let apex = start_apex();
    let dir = tempfile::tempdir().unwrap();
    let (feed, _) = files(dir.path());
    let bad_plain = dir.path().join("corp-allow.txt");
    std::fs::write(&bad_plain, "corp.example\n# ok\nnot a domain\n").unwrap();
    let bad_json = dir.path().join("mine.json");
    std::fs::write(
        &bad_json,
        "{\"name\": \"Mine\",\n \"list\": [\"a.example\",]\n}",
    )
    .unwrap();
    let missing = dir.path().join("missing.txt");
    for (list, said) in [
        (
            &bad_plain,
            "corp-allow.txt:3: `not a domain` is not an exclusion entry",
        ),
        (&bad_json, "mine.json:2:"),
        (&missing, "cannot read --exclude"),
    ] {
        let out = apex_cmd(dir.path(), &apex)
            .args(["--source", "file", "--file", path(&feed)])
            .args(["--exclude", path(list)])
            .assert()
            .code(2);
        let (_, stderr) = output_text(out.get_output());
        assert!(
            stderr.contains("an exclusion list could not be loaded; nothing was written")
                && stderr.contains(said),
            "{stderr}"
        );
    }
    assert_eq!(apex.sim.control.stats.total(), 0, "not one request");
}
