//! Sync jobs to Trend Vision One (`--sink vision-one`): the real binary against the
//! simulated Vision One (and Lumu, TAXII, files) over loopback HTTP. Every source reaches
//! Vision One; an unchanged run only lists; foreign objects are never touched; `--clean`
//! removes exactly the tag's objects; per-item failures of a 207 answer are reported while
//! the others count; capacity, the list-full error, the access check, the options of each
//! destination, and the request shapes Trend's SDK builds.

use std::collections::BTreeMap;
use std::path::Path;

use apex_ioc_sync::sim::lumu::SimIncident;
use apex_ioc_sync::sim::taxii::{TaxiiSimConfig, indicator};
use apex_ioc_sync::sim::vision_one::{SimObject, VisionOneSimConfig};
use apex_ioc_sync::sim::{BackgroundLumu, BackgroundVisionOne};
use apex_ioc_sync::sink::vision_one::ObjectType;
use chrono::{Duration, Utc};
use serde_json::{Value, json};

use crate::common::*;

const SHA1: &str = "3395856ce81f2b7382dee72602f798b642f14140";
const SHA256: &str = "aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f";

fn v1() -> BackgroundVisionOne {
    start_v1(VisionOneSimConfig::random())
}

/// A `--source file` job of the IOC list `list` to `v1`.
fn v1_file_job(dir: &Path, v1: &BackgroundVisionOne, list: &Path) -> assert_cmd::Command {
    let mut cmd = v1_cmd(dir, v1);
    cmd.args(["--source", "file", "--file", list.to_str().unwrap()]);
    cmd
}

/// `type value` of the objects whose description carries `tag`, sorted.
fn owned_objects(v1: &BackgroundVisionOne, tag: &str) -> Vec<String> {
    let prefix = format!("apex-ioc-sync:{tag}");
    let mut v: Vec<String> = v1
        .sim
        .all_objects()
        .into_iter()
        .filter(|o| o.description == prefix || o.description.starts_with(&format!("{prefix} ")))
        .map(|o| format!("{} {}", o.object_type, o.value))
        .collect();
    v.sort();
    v
}

/// Requests answered since the last call, by endpoint.
fn calls_since(v1: &BackgroundVisionOne, before: &BTreeMap<&'static str, u64>) -> [u64; 3] {
    let after = v1.sim.endpoint_counts();
    let d = |e: &str| after.get(e).unwrap_or(&0) - before.get(e).unwrap_or(&0);
    [d("list"), d("add"), d("delete")]
}

/// The binary reading the simulated Lumu and writing to the simulated Vision One.
fn lumu_v1_cmd(
    dir: &std::path::Path,
    v1: &BackgroundVisionOne,
    lumu: &BackgroundLumu,
) -> assert_cmd::Command {
    let mut cmd = v1_cmd(dir, v1);
    cmd.args([
        "--lumu-url",
        &lumu.url(),
        "--company-key",
        lumu.sim.company_key(),
        "--ioc-types",
        "ip,domain,url,hash",
    ]);
    cmd
}

fn foreign_objects(v1: &BackgroundVisionOne) -> Vec<SimObject> {
    let mut v: Vec<SimObject> = v1
        .sim
        .all_objects()
        .into_iter()
        .filter(|o| !o.description.starts_with("apex-ioc-sync:"))
        .collect();
    v.sort_by(|a, b| (a.object_type, &a.value).cmp(&(b.object_type, &b.value)));
    v
}

#[test]
fn a_lumu_job_syncs_to_vision_one_and_an_unchanged_run_only_lists() {
    let dir = tempfile::tempdir().unwrap();
    let v1 = v1();
    // The SOC's objects: one holds an IOC Lumu reports, in another spelling.
    v1.sim.insert(SimObject::new(
        ObjectType::Domain,
        "C2.BadGuys.Example",
        "blocked by the SOC",
    ));
    v1.sim
        .insert(SimObject::new(ObjectType::Ip, "192.0.2.77", "manual block"));
    let foreign_before = foreign_objects(&v1);
    let lumu = start_lumu();
    let h = Duration::hours;
    lumu.sim.add(
        SimIncident::open(
            "00000000-0000-4000-8000-000000000001",
            h(3),
            &["c2.badguys.example", "203.0.113.10"],
            &["C2C"],
        )
        .with_triggers(&["https://c2.badguys.example/gate.php?id=7"])
        .with_files(&[SHA1]),
    );
    lumu.sim.add(SimIncident::open(
        "00000000-0000-4000-8000-000000000002",
        h(2),
        &["miner.pool.example"],
        &["Mining"],
    ));

    let before = v1.sim.endpoint_counts();
    let out = lumu_v1_cmd(dir.path(), &v1, &lumu)
        .arg("--json")
        .assert()
        .success();
    let report = json(&out);
    assert_eq!(report["destination"], "vision-one");
    assert_eq!(report["plan"]["add"], 4, "{report:#}");
    assert_eq!(report["skipped"], json!({"foreign": 1}));
    assert_eq!(report["put"], 4);
    // The access check, one list per type (ip, domain, url, fileSha1), and per type with
    // adds, the type listed again right before them and one add request.
    assert_eq!(calls_since(&v1, &before), [9, 4, 0]);
    assert_eq!(
        owned_objects(&v1, "lumu"),
        [
            "domain miner.pool.example".to_owned(),
            format!("fileSha1 {SHA1}"),
            "ip 203.0.113.10".into(),
            "url https://c2.badguys.example/gate.php?id=7".into(),
        ]
    );
    for o in v1
        .sim
        .all_objects()
        .iter()
        .filter(|o| o.description.starts_with("apex-ioc-sync:lumu"))
    {
        assert_eq!(
            (o.scan_action.as_str(), o.risk_level.as_str()),
            ("block", "high")
        );
        let days = (o.expires.unwrap() - Utc::now()).num_hours();
        assert!((29 * 24..=30 * 24).contains(&days), "{days} hours");
        assert!(
            o.description.starts_with("apex-ioc-sync:lumu ")
                && o.description.chars().count() <= 256,
            "{}",
            o.description
        );
    }
    assert_eq!(
        foreign_objects(&v1),
        foreign_before,
        "foreign objects untouched"
    );

    // Unchanged: the access check and one list call per type; no write.
    let before = v1.sim.endpoint_counts();
    let out = lumu_v1_cmd(dir.path(), &v1, &lumu)
        .arg("--json")
        .assert()
        .success();
    let report = json(&out);
    assert_eq!(report["plan"]["unchanged"], 4);
    assert_eq!(calls_since(&v1, &before), [5, 0, 0]);

    // An incident closes: its IOCs go (listed again right before the removal).
    lumu.sim
        .set_status("00000000-0000-4000-8000-000000000002", "closed");
    let before = v1.sim.endpoint_counts();
    let out = lumu_v1_cmd(dir.path(), &v1, &lumu)
        .arg("--json")
        .assert()
        .success();
    let report = json(&out);
    assert_eq!(
        (report["plan"]["remove"].clone(), report["deleted"].clone()),
        (json!(1), json!(1))
    );
    assert_eq!(calls_since(&v1, &before), [5 + 1, 0, 1]);
    assert!(!owned_objects(&v1, "lumu").contains(&"domain miner.pool.example".to_owned()));
    assert_eq!(
        foreign_objects(&v1),
        foreign_before,
        "foreign objects untouched"
    );
}

const COLLECTION: &str = "91a7b528-80eb-42ed-a74d-c6fbd5a26116";

/// One TAXII collection: an ip, a domain and a url, a SHA-1 and a SHA-256.
fn taxii_feed() -> apex_ioc_sync::sim::BackgroundTaxii {
    let taxii = start_taxii(TaxiiSimConfig::default());
    taxii
        .sim
        .add_collection(COLLECTION, "Indicators", Some("hvi"), true);
    let when = Utc::now() - Duration::hours(2);
    for (id, pattern) in [
        (
            "indicator--a",
            "[ipv4-addr:value = '198.51.100.1']".to_owned(),
        ),
        (
            "indicator--b",
            "[domain-name:value = 'c2.example' OR url:value = 'http://c2.example/x']".into(),
        ),
        ("indicator--c", format!("[file:hashes.'SHA-1' = '{SHA1}']")),
        (
            "indicator--d",
            format!("[file:hashes.'SHA-256' = '{SHA256}']"),
        ),
    ] {
        taxii
            .sim
            .add_object(COLLECTION, when, indicator(id, &pattern, when));
    }
    taxii
}

/// A TAXII job reaches Vision One with every kind, SHA-256 included; the same job against
/// Apex Central counts the SHA-256 as unsupported by the destination and never sends it.
#[test]
fn a_taxii_job_reaches_vision_one_and_sha256_is_unsupported_only_by_apex() {
    let dir = tempfile::tempdir().unwrap();
    let taxii = taxii_feed();
    let v1 = v1();
    let taxii_args = |cmd: &mut assert_cmd::Command| {
        cmd.args([
            "--source",
            "taxii",
            "--taxii-url",
            &taxii.discovery_url(),
            "--ioc-types",
            "ip,domain,url,hash,sha256",
            "--json",
        ]);
    };
    let mut cmd = v1_cmd(dir.path(), &v1);
    cmd.args(["--state-file", "v1.db"]);
    taxii_args(&mut cmd);
    let report = json(&cmd.assert().success());
    assert_eq!(report["unsupported_by_destination"], json!({}));
    assert_eq!(report["iocs"]["file_sha256"], 1, "{report:#}");
    assert_eq!(
        owned_objects(&v1, "taxii"),
        [
            "domain c2.example".to_owned(),
            format!("fileSha1 {SHA1}"),
            format!("fileSha256 {SHA256}"),
            "ip 198.51.100.1".into(),
            "url http://c2.example/x".into(),
        ]
    );

    let apex = start_apex();
    let mut cmd = apex_cmd(dir.path(), &apex);
    cmd.args(["--state-file", "apex.db"]);
    taxii_args(&mut cmd);
    let report = json(&cmd.assert().success());
    assert_eq!(report["destination"], "apex");
    assert_eq!(
        report["unsupported_by_destination"],
        json!({"file_sha256": 1})
    );
    assert_eq!(report["put"], 4);
    assert!(
        owned(&apex, "taxii").iter().all(|e| !e.contains(SHA256)),
        "{:?}",
        owned(&apex, "taxii")
    );
}

/// A plain list to Vision One with `--no-expiration-date`, `--risk-level low` and
/// `--scan-action log`: objects that never expire (daysToExpiration -1), and a second run
/// that converges (nothing to renew).
#[test]
fn a_file_job_writes_never_expiring_objects_and_converges() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("iocs.txt");
    std::fs::write(
        &list,
        format!("evil.example\n198.51.100.7\nhxxps://evil[.]example/dl\n{SHA256}\n"),
    )
    .unwrap();
    let v1 = v1();
    v1.sim.start_journal();
    let run = || {
        let mut cmd = v1_file_job(dir.path(), &v1, &list);
        cmd.args([
            "--ioc-types",
            "ip,domain,url,sha256",
            "--no-expiration-date",
            "--risk-level",
            "low",
            "--scan-action",
            "log",
            "--json",
        ]);
        json(&cmd.assert().success())
    };
    let report = run();
    assert_eq!(report["put"], 4, "{report:#}");
    let objects = v1.sim.all_objects();
    assert_eq!(objects.len(), 4);
    for o in &objects {
        assert_eq!(o.expires, None, "{o:?}");
        assert_eq!(
            (o.scan_action.as_str(), o.risk_level.as_str()),
            ("log", "low")
        );
        assert!(
            o.description.starts_with("apex-ioc-sync:file iocs.txt"),
            "{o:?}"
        );
    }
    let add = v1
        .sim
        .journal()
        .into_iter()
        .find(|r| r.method == "POST")
        .unwrap();
    for item in add.body.unwrap().as_array().unwrap() {
        assert_eq!(item["daysToExpiration"], -1, "{item}");
    }
    let report = run();
    assert_eq!(report["plan"]["unchanged"], 4);
    assert_eq!(report["put"], 0);

    // Back to an expiry: every object is rewritten once (expiration policy changed).
    let mut cmd = v1_file_job(dir.path(), &v1, &list);
    cmd.args(["--ioc-types", "ip,domain,url,sha256", "--json"]);
    let report = json(&cmd.assert().success());
    assert_eq!(report["plan"]["update"], 4, "{report:#}");
    assert!(
        v1.sim
            .all_objects()
            .iter()
            .all(|o| o.expires.is_some() && o.scan_action == "block" && o.risk_level == "high")
    );
}

/// `--clean` removes the objects of its tag, of every type, and nothing else.
#[test]
fn clean_removes_exactly_the_tags_objects() {
    let dir = tempfile::tempdir().unwrap();
    let v1 = v1();
    let objects = [
        (
            ObjectType::Ip,
            "198.51.100.1",
            "apex-ioc-sync:feed indicator--a",
        ),
        (ObjectType::FileSha256, SHA256, "apex-ioc-sync:feed"),
        (
            ObjectType::Url,
            "https://x.example/a",
            "apex-ioc-sync:feed x",
        ),
        (
            ObjectType::Ip,
            "198.51.100.2",
            "apex-ioc-sync:other indicator--b",
        ),
        (ObjectType::Domain, "x.example", "apex-ioc-sync:feedback"),
        (
            ObjectType::Domain,
            "y.example",
            "by hand, not apex-ioc-sync:feed",
        ),
        (
            ObjectType::SenderMailAddress,
            "a@x.example",
            "apex-ioc-sync:feed",
        ),
    ];
    for (t, value, description) in objects {
        v1.sim.insert(SimObject::new(t, value, description));
    }
    let out = v1_cmd(dir.path(), &v1)
        .args(["--clean", "--tag", "feed", "--dry-run"])
        .assert()
        .success();
    let (stdout, _) = output_text(out.get_output());
    assert!(
        stdout.contains("- file_sha256") && stdout.contains("would remove 3"),
        "{stdout}"
    );
    assert_eq!(v1.sim.all_objects().len(), 7);

    let report = json(
        &v1_cmd(dir.path(), &v1)
            .args(["--clean", "--tag", "feed", "--json"])
            .assert()
            .success(),
    );
    assert_eq!(report["deleted"], 3, "{report:#}");
    assert_eq!(
        report["owned"],
        json!({"ip": 1, "domain": 0, "url": 1, "file_sha1": 0, "file_sha256": 1})
    );
    let mut left: Vec<String> = v1.sim.all_objects().into_iter().map(|o| o.value).collect();
    left.sort();
    // The sender address is no IOC kind of this tool: never listed, never touched.
    assert_eq!(
        left,
        ["198.51.100.2", "a@x.example", "x.example", "y.example"]
    );
}

/// One refused item of a 207 answer is reported (exit 4) and the others count.
#[test]
fn a_refused_item_is_reported_and_the_others_count() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("iocs.txt");
    std::fs::write(&list, "one.example\ntwo.example\nthree.example\n").unwrap();
    let v1 = v1();
    v1.sim.refuse_value("two.example");
    let out = v1_file_job(dir.path(), &v1, &list)
        .args(["--json"])
        .assert()
        .code(4);
    let report = json(&out);
    let (_, stderr) = output_text(out.get_output());
    assert_eq!(report["put"], 2);
    assert_eq!(report["failed"].as_array().unwrap().len(), 1, "{report:#}");
    let failed = &report["failed"][0];
    assert_eq!(
        (failed["content"].clone(), failed["action"].clone()),
        (json!("two.example"), json!("put"))
    );
    let error = failed["error"].as_str().unwrap();
    assert!(
        error.contains("domain `two.example`") && error.contains("HTTP 400 BadRequest"),
        "{error}"
    );
    assert!(stderr.contains("1 of 3 writes failed"), "{stderr}");
    assert_eq!(owned_objects(&v1, "file").len(), 2);
}

/// The plan never goes past Vision One's 10,000 objects per type (past it, Vision One
/// would silently drop the objects closest to expiry): other objects count, the newest
/// desired IOCs fill the room left, the rest is skipped as `capacity`.
#[test]
fn the_plan_never_goes_past_vision_ones_capacity() {
    let dir = tempfile::tempdir().unwrap();
    let v1 = v1();
    for i in 0..9_998u32 {
        let ip = format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255);
        v1.sim
            .insert(SimObject::new(ObjectType::Ip, &ip, "sandbox"));
    }
    let list = dir.path().join("iocs.txt");
    std::fs::write(
        &list,
        "198.51.100.1\n198.51.100.2\n198.51.100.3\n198.51.100.4\n",
    )
    .unwrap();
    let report = json(
        &v1_file_job(dir.path(), &v1, &list)
            .args(["--json"])
            .assert()
            .success(),
    );
    assert_eq!(report["plan"]["add"], 2, "{report:#}");
    assert_eq!(report["skipped"], json!({"capacity": 2}));
    assert_eq!(v1.sim.objects(ObjectType::Ip).len(), 10_000);
}

/// A list fuller than the plan knew (here a simulator of 3 objects a type, where the real
/// one holds 10,000): each item refused with error 4000018 is tried once more after the
/// removals, then reported; the others count.
#[test]
fn items_refused_as_list_full_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let v1 = start_v1(VisionOneSimConfig {
        capacity: 3,
        ..VisionOneSimConfig::random()
    });
    let list = dir.path().join("iocs.txt");
    std::fs::write(
        &list,
        "a.example\nb.example\nc.example\nd.example\ne.example\n",
    )
    .unwrap();
    let out = v1_file_job(dir.path(), &v1, &list)
        .args(["--json"])
        .assert()
        .code(4);
    let report = json(&out);
    assert_eq!(report["put"], 3);
    let failed = report["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 2);
    for f in failed {
        assert!(
            f["error"]
                .as_str()
                .unwrap()
                .contains("full (error 4000018)"),
            "{f}"
        );
    }
    // The first try and the one after the removals.
    assert_eq!(v1.sim.endpoint_count("add"), 2);
}

/// A wrong token fails the access check: exit 1 before the source is read, the token in
/// no output.
#[test]
fn a_wrong_token_fails_before_the_source_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let v1 = v1();
    let lumu = start_lumu();
    lumu.sim.add(SimIncident::open(
        "00000000-0000-4000-8000-000000000001",
        Duration::hours(1),
        &["c2.example"],
        &["C2C"],
    ));
    let out = bin(dir.path())
        .args([
            "--sink",
            "vision-one",
            "--v1-url",
            &v1.url(),
            "--lumu-url",
            &lumu.url(),
            "--company-key",
            lumu.sim.company_key(),
            "-vv",
        ])
        .env("V1_API_TOKEN", "eyJ-wrong-token-secret-part")
        .assert()
        .code(1);
    let (stdout, stderr) = output_text(out.get_output());
    assert!(
        stderr.contains("the access check of Vision One failed; the source was not read")
            && stderr.contains("InvalidCredentials")
            && stderr.contains("--v1-token"),
        "{stderr}"
    );
    assert!(!format!("{stdout}{stderr}").contains("wrong-token-secret-part"));
    assert_eq!(
        lumu.sim
            .calls(apex_ioc_sync::sim::lumu::Endpoint::Incidents),
        0
    );
    assert_eq!(v1.sim.endpoint_counts(), BTreeMap::from([("list", 1)]));
}

/// The options of one destination are usage errors with the other, naming the option (and
/// the `.config` line); a secret the environment holds is not an option given.
#[test]
fn options_of_the_other_destination_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let v1 = v1();
    let err = |cmd: &mut assert_cmd::Command| -> String {
        let out = cmd.assert().code(2);
        output_text(out.get_output()).1
    };
    let e = err(v1_cmd(dir.path(), &v1).args(["--host", "apex.corp"]));
    assert!(
        e.contains(
            "--host is an option of Apex Central (--sink apex), and this job writes to Vision One"
        ),
        "{e}"
    );
    let e = err(v1_cmd(dir.path(), &v1).arg("--insecure"));
    assert!(e.contains("--insecure is an option of Apex Central"), "{e}");
    let apex = start_apex();
    let e = err(apex_cmd(dir.path(), &apex).args(["--risk-level", "low"]));
    assert!(
        e.contains("--risk-level is an option of Vision One (--sink vision-one), and this job writes to Apex Central"),
        "{e}"
    );
    let e = err(apex_cmd(dir.path(), &apex).args(["--v1-token", "t0k"]));
    assert!(
        e.contains("--v1-token is an option of Vision One") && !e.contains("t0k"),
        "{e}"
    );
    std::fs::write(dir.path().join("job.config"), "sink=apex\n\nv1-region=eu\n").unwrap();
    let e = err(apex_cmd(dir.path(), &apex).args(["--config", "job.config"]));
    assert!(
        e.contains("--v1-region (job.config:3) is an option of Vision One"),
        "{e}"
    );
    // Vision One needs a server, one way, and a token.
    let e = err(bin(dir.path()).args(["--sink", "vision-one", "--v1-token", "some-t0ken"]));
    assert!(
        e.contains("no Vision One server: give --v1-region (us, eu, jp"),
        "{e}"
    );
    let e = err(bin(dir.path()).args([
        "--sink",
        "vision-one",
        "--v1-region",
        "eu",
        "--v1-url",
        "https://v1.corp",
        "--v1-token",
        "some-t0ken",
    ]));
    assert!(e.contains("either --v1-url or --v1-region"), "{e}");
    let e = err(bin(dir.path()).args(["--sink", "vision-one", "--v1-region", "eu"]));
    assert!(
        e.contains("no Vision One API token") && e.contains("V1_API_TOKEN"),
        "{e}"
    );
    let e = err(bin(dir.path()).args([
        "--sink",
        "vision-one",
        "--v1-url",
        "http://v1.corp",
        "--v1-token",
        "some-t0ken",
    ]));
    assert!(e.contains("--v1-url") && e.contains("unencrypted"), "{e}");
    // Apex's own commands take no destination: `--sink` is refused by name, and the tip
    // names the commands that take it (`list` lists Vision One).
    let e = err(&mut v1_run(dir.path(), &v1, &["udso", "list"]));
    assert!(
        e.contains("unexpected argument '--sink'")
            && e.contains("--sink is an option of: apex-ioc-sync (the sync job), apex-ioc-sync list, apex-ioc-sync demo"),
        "{e}"
    );
    // A token in the environment does not stop an Apex job (the same shell may run both).
    let list = dir.path().join("iocs.txt");
    std::fs::write(&list, "evil.example\n").unwrap();
    apex_cmd(dir.path(), &apex)
        .args(["--source", "file", "--file", list.to_str().unwrap()])
        .env("V1_API_TOKEN", "from-the-environment")
        .assert()
        .success();
}

/// The token never reaches standard output, standard error or the log file, at -vv, in a
/// run that writes and one that fails; a `.config` holding it is warned about.
#[cfg(unix)]
#[test]
fn the_token_stays_secret() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let v1 = v1();
    let token = v1.sim.config().token.clone();
    let config = dir.path().join(".config");
    std::fs::write(
        &config,
        format!("sink=vision-one\nv1-url={}\nv1-token={token}\n", v1.url()),
    )
    .unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    let list = dir.path().join("iocs.txt");
    std::fs::write(&list, "evil.example\n").unwrap();
    let out = bin(dir.path())
        .args(["--source", "file", "--file", "iocs.txt", "-vv"])
        .assert()
        .success();
    let (stdout, stderr) = output_text(out.get_output());
    assert!(
        stderr.contains("holds v1-token and can be read by other users"),
        "{stderr}"
    );
    assert!(!format!("{stdout}{stderr}").contains(&token));
    // A failing run: the list is refused with a 503 on every try.
    v1.sim.control.faults.error_5xx_every(1);
    let out = bin(dir.path())
        .args([
            "--source",
            "file",
            "--file",
            "iocs.txt",
            "-vv",
            "--logging",
            "file",
        ])
        .assert()
        .code(1);
    let (stdout, stderr) = output_text(out.get_output());
    let log = std::fs::read_to_string(dir.path().join("apex-ioc-sync.log")).unwrap();
    assert!(
        stderr.contains("access check of Vision One failed"),
        "{stderr}"
    );
    assert!(!format!("{stdout}{stderr}{log}").contains(&token));
}

/// `list` shows either destination's list; `--type sha256` only where it exists.
#[test]
fn list_shows_either_destination() {
    let dir = tempfile::tempdir().unwrap();
    let v1 = v1();
    v1.sim.insert(SimObject::new(
        ObjectType::FileSha256,
        SHA256,
        "apex-ioc-sync:feed x",
    ));
    v1.sim.insert(SimObject::new(
        ObjectType::Domain,
        "phish.example",
        "by hand",
    ));
    let out = v1_run(dir.path(), &v1, &["list"]).assert().success();
    let (stdout, _) = output_text(out.get_output());
    assert!(
        stdout.contains(
            "2 entries (domain 1, file_sha256 1); 1 carries an apex-ioc-sync tag (feed 1)"
        ),
        "{stdout}"
    );
    let listed = json(
        &v1_run(dir.path(), &v1, &["list"])
            .args(["--type", "sha256", "--json"])
            .assert()
            .success(),
    );
    assert_eq!(
        listed,
        json!([{"type": "file_sha256", "content": SHA256, "notes": "apex-ioc-sync:feed x",
                "scan_action": "block", "expires": null, "owner_tag": "feed"}])
    );
    let apex = start_apex();
    apex.sim
        .insert(entry("ip", "192.0.2.1", "apex-ioc-sync:lumu x"));
    let listed = json(
        &apex_run(dir.path(), &apex, &["list"])
            .args(["--json"])
            .assert()
            .success(),
    );
    assert_eq!(listed[0]["owner_tag"], "lumu");
    let out = apex_run(dir.path(), &apex, &["list"])
        .args(["--type", "sha256"])
        .assert()
        .code(2);
    assert!(
        output_text(out.get_output())
            .1
            .contains("Apex Central's list holds no file_sha256"),
    );
}

/// The requests the binary sends to Vision One have the shapes Trend's SDK pytmv1 builds
/// (`tests/data/vision-one/pytmv1-requests.json`, recorded by `.ci/interop_pytmv1.py`):
/// lists (first page and `nextLink`), adds of every type, deletes.
#[test]
fn the_binarys_requests_have_the_shapes_pytmv1_builds() {
    let dir = tempfile::tempdir().unwrap();
    let v1 = v1();
    // Two pages of ip objects at top=200.
    for i in 0..250u32 {
        v1.sim.insert(SimObject::new(
            ObjectType::Ip,
            &format!("10.1.{}.{}", i / 200, i % 200),
            "by hand",
        ));
    }
    let list = dir.path().join("iocs.txt");
    std::fs::write(
        &list,
        format!("198.51.100.9\nc2.example\nhttps://c2.example/gate.php?id=1\n{SHA1}\n{SHA256}\n"),
    )
    .unwrap();
    v1.sim.start_journal();
    v1_file_job(dir.path(), &v1, &list)
        .args(["--ioc-types", "ip,domain,url,hash,sha256"])
        .assert()
        .success();
    v1_cmd(dir.path(), &v1)
        .args(["--clean", "--tag", "file"])
        .assert()
        .success();
    let journal = v1.sim.journal();
    let ours: Vec<Value> = journal.iter().map(shape).collect();
    let gets: Vec<&Value> = ours.iter().filter(|r| r["method"] == "GET").collect();
    let posts: Vec<&Value> = ours.iter().filter(|r| r["method"] == "POST").collect();
    assert_eq!(
        posts.len(),
        6,
        "one add per type (each right after its type is listed again), one delete: {posts:#?}"
    );

    // Every list request: pytmv1's method, path, headers and body, plus the documented
    // `top` and `TMV1-Filter`; the next page exactly as nextLink gave it.
    let first = pytmv1_request("list");
    let next = pytmv1_request("list-next");
    for get in &gets {
        for field in ["method", "path", "body"] {
            assert_eq!(get[field], first[field], "{field}");
        }
        for header in ["Authorization", "Content-Type"] {
            assert_eq!(get["headers"][header], first["headers"][header], "{header}");
        }
        let filter = get["headers"]["TMV1-Filter"].as_str().unwrap();
        assert!(filter.starts_with("type eq '"), "{filter}");
        assert!(
            get["query"] == json!(["top"]) || get["query"] == next["query"],
            "{get}"
        );
    }
    assert!(
        gets.iter().any(|g| g["query"] == next["query"]),
        "a next page was read"
    );

    // The adds (one request per type), then the delete; each type's item in whichever
    // request carries it.
    let (adds, delete) = posts.split_at(posts.len() - 1);
    for (ours, theirs) in [
        (adds.to_vec(), pytmv1_request("add")),
        (delete.to_vec(), pytmv1_request("delete")),
    ] {
        for post in &ours {
            for field in ["method", "path", "query", "headers"] {
                assert_eq!(
                    post[field], theirs[field],
                    "{field} of {}",
                    theirs["operation"]
                );
            }
        }
        let items = Value::Array(
            ours.iter()
                .flat_map(|post| post["body"].as_array().unwrap().clone())
                .collect(),
        );
        for t in [
            ObjectType::Ip,
            ObjectType::Domain,
            ObjectType::Url,
            ObjectType::FileSha1,
            ObjectType::FileSha256,
        ] {
            assert_eq!(
                item_with_key(&items, t.key()),
                item_with_key(&theirs["body"], t.key()),
                "{t} item of {}",
                theirs["operation"]
            );
        }
    }
}

/// `demo --sink vision-one` runs the three syncs against the simulated Vision One; the
/// default demo still runs against the simulated Apex Central.
#[test]
fn demo_runs_against_either_destination() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin(dir.path())
        .args(["demo", "--sink", "vision-one"])
        .assert()
        .success();
    let (stdout, _) = output_text(out.get_output());
    assert!(
        stdout.contains("Simulated Trend Vision One: http://127.0.0.1:"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Vision One: 5 list calls (the access check included) and 0 writes."),
        "{stdout}"
    );
    assert!(
        stdout.contains("blocked by the SOC (ticket 4711)"),
        "{stdout}"
    );
    let out = bin(dir.path()).arg("demo").assert().success();
    let (stdout, _) = output_text(out.get_output());
    assert!(
        stdout.contains("Simulated Apex Central:  http://127.0.0.1:"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Apex: 5 list calls (the access check included) and 0 writes."),
        "{stdout}"
    );
}

/// A changed `--risk-level` rewrites the objects the job owns (and only those) once.
#[test]
fn a_changed_risk_level_rewrites_owned_objects() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("iocs.txt");
    std::fs::write(&list, "a.example\nb.example\n").unwrap();
    let v1 = v1();
    v1.sim
        .insert(SimObject::new(ObjectType::Domain, "c.example", "by hand"));
    let run = |risk: &str| {
        json(
            &v1_cmd(dir.path(), &v1)
                .args(["--source", "file", "--file", list.to_str().unwrap()])
                .args(["--risk-level", risk, "--json"])
                .assert()
                .success(),
        )
    };
    assert_eq!(run("high")["put"], 2);
    let report = run("medium");
    assert_eq!(report["plan"]["update"], 2, "{report:#}");
    let risk: Vec<(String, String)> = v1
        .sim
        .objects(ObjectType::Domain)
        .into_iter()
        .map(|o| (o.value, o.risk_level))
        .collect();
    assert_eq!(
        risk,
        [
            ("a.example".into(), "medium".into()),
            ("b.example".into(), "medium".into()),
            ("c.example".into(), "high".into())
        ]
    );
    assert_eq!(run("medium")["plan"]["unchanged"], 2);
}
