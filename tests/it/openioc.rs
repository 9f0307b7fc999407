//! Both OpenIOC paths end to end, the real binary against the simulated Apex Central over
//! loopback HTTP: `--source openioc` (we read the files and sync their IOCs), and
//! `openioc upload|list|delete` (Apex's filing cabinet, where Apex extracts them).

use std::path::{Path, PathBuf};

use crate::common::*;
use apex_ioc_sync::sim::BackgroundApex;

const CORPUS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/openioc/mandiant-apt"
);
const CASES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/cases/openioc");

/// An OpenIOC 1.0 file: an OR of a domain and a SHA-1, and an AND holding an ip.
const MIXED_1_0: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<ioc xmlns="http://schemas.mandiant.com/2010/ioc" id="mixed" last-modified="2026-11-01T00:00:00Z">
  <short_description>Mixed</short_description>
  <definition>
    <Indicator id="top" operator="OR">
      <IndicatorItem id="dns" condition="contains">
        <Context document="DnsEntryItem" search="DnsEntryItem/Host" type="mir"/>
        <Content type="string">c2.evil.example</Content>
      </IndicatorItem>
      <IndicatorItem id="hash" condition="is">
        <Context document="FileItem" search="FileItem/Sha1sum" type="mir"/>
        <Content type="sha1">3395856CE81F2B7382DEE72602F798B642F14140</Content>
      </IndicatorItem>
      <IndicatorItem id="md5" condition="is">
        <Context document="FileItem" search="FileItem/Md5sum" type="mir"/>
        <Content type="md5">d41d8cd98f00b204e9800998ecf8427e</Content>
      </IndicatorItem>
      <Indicator id="both" operator="AND">
        <IndicatorItem id="ip" condition="is">
          <Context document="PortItem" search="PortItem/remoteIP" type="mir"/>
          <Content type="IP">203.0.113.7</Content>
        </IndicatorItem>
        <IndicatorItem id="name" condition="is">
          <Context document="FileItem" search="FileItem/FileName" type="mir"/>
          <Content type="string">dropper.exe</Content>
        </IndicatorItem>
      </Indicator>
    </Indicator>
  </definition>
</ioc>
"#;

/// An OpenIOC 1.1 file with a URL, in CRLF lines.
fn url_1_1() -> String {
    r#"<?xml version="1.0" encoding="UTF-8"?>
<OpenIOC xmlns="http://openioc.org/schemas/OpenIOC_1.1" id="urls" last-modified="2026-11-02T00:00:00">
  <metadata><short_description>URLs</short_description></metadata>
  <criteria>
    <Indicator id="o" operator="OR">
      <IndicatorItem id="u" condition="is" preserve-case="false" negate="false">
        <Context document="UrlHistoryItem" search="UrlHistoryItem/URL" type="mir"/>
        <Content type="string">http://evil.example/gate.php</Content>
      </IndicatorItem>
    </Indicator>
  </criteria>
</OpenIOC>
"#
    .replace('\n', "\r\n")
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn with_action(apex: &BackgroundApex, tag: &str) -> Vec<String> {
    let mut v: Vec<String> = apex
        .sim
        .all_entries()
        .into_iter()
        .filter(|e| e.owner_tag() == Some(tag))
        .map(|e| format!("{} {} {}", e.kind, e.content, e.scan_action))
        .collect();
    v.sort();
    v
}

fn sync(dir: &Path, apex: &BackgroundApex, files: &[&Path]) -> assert_cmd::Command {
    let mut cmd = apex_cmd(dir, apex);
    cmd.args(["--source", "openioc", "--ioc-types", "ip,domain,url,hash"]);
    for file in files {
        cmd.arg("--file").arg(file);
    }
    cmd
}

#[test]
fn a_folder_of_openioc_files_is_synced_and_a_removed_file_is_unsynced() {
    let apex = start_apex();
    let dir = tempfile::tempdir().unwrap();
    let feeds = dir.path().join("iocs");
    std::fs::create_dir(&feeds).unwrap();
    write(&feeds, "mixed.ioc", MIXED_1_0);
    let url_file = write(&feeds, "urls.ioc.xml", &url_1_1());
    write(&feeds, "notes.txt", "not read: not an .ioc file");

    let out = sync(dir.path(), &apex, &[&feeds])
        .arg("--json")
        .assert()
        .code(0);
    let report = json(&out);
    assert_eq!(report["source"], "openioc");
    assert_eq!(report["items"], 6);
    assert_eq!(report["invalid"]["md5"], 1);
    assert_eq!(report["invalid"]["not-an-ioc-term"], 1);
    assert_eq!(
        with_action(&apex, "openioc"),
        [
            "domain c2.evil.example block",
            "file_sha1 3395856ce81f2b7382dee72602f798b642f14140 block",
            // Under an AND: it only matches with its sibling, so it is only logged.
            "ip 203.0.113.7 log",
            "url http://evil.example/gate.php block",
        ]
    );
    let notes: Vec<String> = apex
        .sim
        .all_entries()
        .into_iter()
        .map(|e| e.notes)
        .collect();
    assert!(
        notes.contains(&"apex-ioc-sync:openioc urls.ioc.xml item u".to_owned()),
        "{notes:?}"
    );

    std::fs::remove_file(url_file).unwrap();
    sync(dir.path(), &apex, &[&feeds]).assert().code(0);
    assert_eq!(with_action(&apex, "openioc").len(), 3);
    assert!(
        !with_action(&apex, "openioc")
            .iter()
            .any(|e| e.starts_with("url"))
    );
}

/// `cases/openioc/hx-events.ioc`: OpenIOC 1.1 event terms, as FireEye HX exports them.
#[test]
fn openioc_1_1_event_terms_are_synced() {
    let apex = start_apex();
    let dir = tempfile::tempdir().unwrap();
    let case = Path::new(CASES).join("hx-events.ioc");
    let out = sync(dir.path(), &apex, &[&case])
        .arg("--json")
        .assert()
        .code(0);
    let report = json(&out);
    assert_eq!(report["items"], 6);
    assert_eq!(report["invalid"]["md5"], 1);
    assert_eq!(report["invalid"].as_object().unwrap().len(), 1, "{report}");
    assert_eq!(
        with_action(&apex, "openioc"),
        [
            "domain cdn-sync.example block",
            "domain control-term.example block",
            "domain update-check.example block",
            "ip 198.51.100.60 block",
            "ip 203.0.113.50 block",
        ]
    );
    let notes: Vec<String> = apex
        .sim
        .all_entries()
        .into_iter()
        .map(|e| e.notes)
        .collect();
    assert!(
        notes.contains(
            &"apex-ioc-sync:openioc hx-events.ioc item 0c1d2e3f-0000-4000-8000-000000001511"
                .to_owned()
        ),
        "{notes:?}"
    );
}

#[test]
fn a_malformed_file_stops_the_run_before_any_write() {
    let apex = start_apex();
    let dir = tempfile::tempdir().unwrap();
    let good = write(dir.path(), "good.ioc", MIXED_1_0);
    let bad = write(
        dir.path(),
        "bad.ioc",
        "<?xml version=\"1.0\"?>\n<ioc xmlns=\"http://schemas.mandiant.com/2010/ioc\">\n  <definition>\n  </Indicator>\n</ioc>\n",
    );
    let out = sync(dir.path(), &apex, &[&good, &bad]).assert().code(1);
    let stderr = output_text(out.get_output()).1;
    assert!(stderr.contains("bad.ioc:4:"), "{stderr}");
    assert!(stderr.contains("nothing was written"), "{stderr}");
    assert_eq!(writes(&apex), 0);
}

#[test]
fn the_mandiant_corpus_syncs_its_ips_and_domains() {
    let apex = start_apex();
    let dir = tempfile::tempdir().unwrap();
    let out = sync(dir.path(), &apex, &[Path::new(CORPUS)])
        .arg("--json")
        .assert()
        .code(0);
    let report = json(&out);
    assert_eq!(report["items"], 167);
    assert_eq!(report["iocs"]["ip"], 22);
    assert_eq!(report["iocs"]["domain"], 41);
    assert_eq!(report["invalid"]["md5"], 38);
    assert_eq!(owned(&apex, "openioc").len(), 63);
}

#[test]
fn upload_extract_list_and_delete_in_the_filing_cabinet() {
    let apex = start_apex();
    let dir = tempfile::tempdir().unwrap();
    apex.sim
        .insert(entry("domain", "manual.example", "added by the SOC"));

    let out = apex_run(dir.path(), &apex, &["openioc", "upload"])
        .args([CORPUS, "--extract", "--scan-action", "log", "--json"])
        .assert()
        .code(0);
    let report = json(&out);
    let uploaded = report["uploaded"].as_array().unwrap();
    assert_eq!(uploaded.len(), 11);
    assert!(uploaded.iter().all(|u| u["UploadedStatus"] == 1));
    let extracted = report["extracted"].as_array().unwrap();
    assert_eq!(extracted.len(), 11);
    assert!(extracted.iter().all(|e| e["ExtractingStatus"] == 1));
    // Apex made the entries: none carries our tag, every one has the chosen action.
    let entries = apex.sim.all_entries();
    let from_apex: Vec<_> = entries
        .iter()
        .filter(|e| e.notes.starts_with("OpenIOC "))
        .collect();
    assert_eq!(from_apex.len(), 63);
    assert!(
        from_apex
            .iter()
            .all(|e| e.owner_tag().is_none() && e.scan_action == "log")
    );

    let out = apex_run(dir.path(), &apex, &["openioc", "list"])
        .assert()
        .code(0);
    let listing = output_text(out.get_output()).0;
    assert!(listing.starts_with("FILE HASH ID"), "{listing}");
    assert!(listing.contains("APT28_a438caeb-96dd-4225-853c-fc5910980961.ioc"));
    assert!(
        listing.ends_with("11 files in the filing cabinet\n"),
        "{listing}"
    );

    let first = uploaded[0]["FileHashID"].as_str().unwrap().to_owned();
    let out = apex_run(dir.path(), &apex, &["openioc", "delete"])
        .args([&first, "0000000000000000000000000000000000000000"])
        .assert()
        .code(4);
    let table = output_text(out.get_output()).0;
    assert!(table.contains(&format!("{first}  deleted")), "{table}");
    assert!(table.contains("not in the filing cabinet"), "{table}");
    assert_eq!(apex.sim.cabinet_names().len(), 10);

    // A sync job's --clean leaves Apex's own entries and the SOC's alone.
    apex_cmd(dir.path(), &apex)
        .args(["--source", "openioc", "--clean"])
        .assert()
        .code(0);
    assert_eq!(apex.sim.all_entries().len(), 64);
}

#[test]
fn upload_checks_every_file_first_and_sends_nothing_when_one_is_refused() {
    let apex = start_apex();
    let dir = tempfile::tempdir().unwrap();
    let good = write(dir.path(), "good.ioc", MIXED_1_0);
    let newer = write(dir.path(), "urls.ioc", &url_1_1());
    let out = apex_run(dir.path(), &apex, &["openioc", "upload"])
        .arg(&good)
        .arg(&newer)
        .assert()
        .code(1);
    let stderr = output_text(out.get_output()).1;
    assert!(
        stderr.contains("urls.ioc is OpenIOC 1.1") && stderr.contains("nothing was uploaded"),
        "{stderr}"
    );
    assert_eq!(apex.sim.control.stats.total(), 0);

    let out = apex_run(dir.path(), &apex, &["openioc", "upload"])
        .arg(&good)
        .assert()
        .code(0);
    let table = output_text(out.get_output()).0;
    assert!(
        table.contains("good.ioc") && table.contains("uploaded"),
        "{table}"
    );
    assert!(table.ends_with("1 of 1 files uploaded\n"), "{table}");
    // Uploaded, not extracted: the list is untouched.
    assert!(apex.sim.all_entries().is_empty());
}

#[test]
fn a_failed_extraction_still_reports_the_uploads_and_exits_4() {
    let apex = start_apex();
    let dir = tempfile::tempdir().unwrap();
    let good = write(dir.path(), "good.ioc", MIXED_1_0);
    // The upload is answered; the server then fails: the extraction runs out of tries.
    apex.sim.control.faults.error_5xx_after(1);
    let out = apex_run(dir.path(), &apex, &["openioc", "upload"])
        .args(["--extract"])
        .arg(&good)
        .assert()
        .code(4);
    let (stdout, stderr) = output_text(out.get_output());
    assert!(
        stdout.contains("good.ioc") && stdout.contains("uploaded"),
        "{stdout}"
    );
    assert!(
        stderr.contains("stopped after 1 of 1 files were uploaded") && stderr.contains("503"),
        "{stderr}"
    );
    assert_eq!(apex.sim.cabinet_names(), ["good.ioc"]);
}

#[test]
fn the_openioc_commands_have_no_dry_run() {
    let apex = start_apex();
    let dir = tempfile::tempdir().unwrap();
    let good = write(dir.path(), "good.ioc", MIXED_1_0);
    let out = apex_run(dir.path(), &apex, &["openioc", "upload"])
        .args(["--dry-run"])
        .arg(&good)
        .assert()
        .code(2);
    // Refused by name, as an option of the sync job only (`openioc --help` says how to
    // see what a sync of the files would write).
    let stderr = output_text(out.get_output()).1;
    assert!(
        stderr.contains("unexpected argument '--dry-run'")
            && stderr.contains(
                "--dry-run is an option of: apex-ioc-sync (the sync job), apex-ioc-sync rollback\n"
            ),
        "{stderr}"
    );
    assert_eq!(apex.sim.control.stats.total(), 0);
}
