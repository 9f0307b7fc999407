//! Plain lists (`--source file`) synced to the simulated Apex: the real-world cases of
//! `tests/data/cases/lists/` with their right values, and what `--ioc-types` and Apex leave
//! out (not-selected, unsupported-by-destination).

use std::path::{Path, PathBuf};

use crate::common::{apex_cmd, json, output_text, owned, start_apex};

fn case(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/cases/lists")
        .join(name)
}

/// Syncs one case file and returns the `--json` report.
fn sync_case(apex: &apex_ioc_sync::sim::BackgroundApex, name: &str) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let out = apex_cmd(dir.path(), apex)
        .args(["--source", "file", "--tag", name, "--json", "--file"])
        .arg(case(name))
        .assert()
        .success();
    json(&out)
}

#[test]
fn idn_hosts_are_pushed_as_a_labels() {
    let apex = start_apex();
    let report = sync_case(&apex, "idn.txt");
    assert_eq!(report["items"], 5);
    assert_eq!(report["plan"]["add"], 3);
    assert_eq!(
        owned(&apex, "idn.txt"),
        [
            "domain xn--bcher-kva.example",
            "domain xn--pypal-login-yij.example",
            "url http://xn--bcher-kva.example/login.php",
        ]
    );
}

#[test]
fn defanged_values_are_refanged_and_counted() {
    let apex = start_apex();
    let report = sync_case(&apex, "defanged.txt");
    assert_eq!(report["items"], 9);
    assert_eq!(report["refanged"], 9);
    assert_eq!(report["invalid"], serde_json::json!({}));
    assert_eq!(
        owned(&apex, "defanged.txt"),
        [
            "domain bad-site.example",
            "domain evil-c2.example",
            "domain www.bad-site.example",
            "ip 198.51.100.23",
            "ip 203.0.113.45",
            "url http://cdn-update.example/a.js",
            "url http://malware-drop.example/stage2.exe",
            "url https://phish-portal.example/login",
        ]
    );
}

#[test]
fn a_hash_in_a_url_belongs_to_it() {
    let apex = start_apex();
    let report = sync_case(&apex, "url-fragments.txt");
    assert_eq!(report["items"], 4);
    assert_eq!(
        owned(&apex, "url-fragments.txt"),
        [
            "domain evil-c2.example",
            "url http://files.example/download.php?id=7#page=2",
            "url https://shared-host.example/#/office365/signin",
            "url https://shared-host.example/kit/index.html#victim@example.org",
        ]
    );
}

const SHA1: &str = "73d95a30c812d9cff0eaf37a686fdfef8f9ca531";
const SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn hash_list(dir: &Path) -> PathBuf {
    let list = dir.join("hashes.txt");
    std::fs::write(
        &list,
        format!(
            "{SHA1}\n{}\nd41d8cd98f00b204e9800998ecf8427e\nevil.example\n",
            SHA256.to_uppercase()
        ),
    )
    .unwrap();
    list
}

#[test]
fn types_left_out_by_ioc_types_are_counted() {
    let apex = start_apex();
    let dir = tempfile::tempdir().unwrap();
    let list = hash_list(dir.path());
    let out = apex_cmd(dir.path(), &apex)
        .args(["--source", "file", "--json", "--file"])
        .arg(&list)
        .assert()
        .success();
    let report = json(&out);
    assert_eq!(report["iocs"], serde_json::json!({"domain": 1}));
    assert_eq!(
        report["not_selected"],
        serde_json::json!({"file_sha1": 1, "file_sha256": 1})
    );
    assert_eq!(report["unsupported_by_destination"], serde_json::json!({}));
    assert_eq!(report["invalid"], serde_json::json!({"md5": 1}));
    assert_eq!(owned(&apex, "file"), ["domain evil.example"]);
    // The summary line says it too.
    let out = apex_cmd(dir.path(), &apex)
        .args(["--source", "file", "--dry-run", "--file"])
        .arg(&list)
        .assert()
        .success();
    let (stdout, _) = output_text(out.get_output());
    assert!(
        stdout.contains("2 not-selected (file_sha1 1, file_sha256 1)"),
        "{stdout}"
    );
}

#[test]
fn sha256_is_unsupported_by_apex_and_never_sent() {
    let apex = start_apex();
    let dir = tempfile::tempdir().unwrap();
    let list = hash_list(dir.path());
    let out = apex_cmd(dir.path(), &apex)
        .args([
            "--source",
            "file",
            "--json",
            "--ioc-types",
            "domain,hash,sha256",
            "--file",
        ])
        .arg(&list)
        .assert()
        .success();
    let report = json(&out);
    assert_eq!(
        report["iocs"],
        serde_json::json!({"domain": 1, "file_sha1": 1})
    );
    assert_eq!(report["not_selected"], serde_json::json!({}));
    assert_eq!(
        report["unsupported_by_destination"],
        serde_json::json!({"file_sha256": 1})
    );
    // The access check, then two types listed (the simulator, like Apex, refuses
    // `type=file_sha256`), each listed again right before its add, two adds.
    assert_eq!(apex.sim.control.stats.count("GET"), 5);
    assert_eq!(
        owned(&apex, "file"),
        ["domain evil.example", &format!("file_sha1 {SHA1}")]
    );
    let out = apex_cmd(dir.path(), &apex)
        .args(["--source", "file", "--ioc-types", "domain,sha256", "--file"])
        .arg(&list)
        .assert()
        .success();
    let (stdout, _) = output_text(out.get_output());
    assert!(
        stdout.contains("1 unsupported-by-destination (file_sha256 1)"),
        "{stdout}"
    );
    // `--clean` lists only the types Apex holds, and removes what the tag owns.
    apex_cmd(dir.path(), &apex)
        .args(["--source", "file", "--clean"])
        .assert()
        .success();
    assert!(owned(&apex, "file").is_empty());
}
