//! Apex answers as other versions send them: every number as a string and empty optional
//! texts as `null`. Every command that reads an Apex answer, end to end over HTTP.

use apex_ioc_sync::sim::BackgroundApex;
use apex_ioc_sync::sim::apex::ApexSimConfig;
use apex_ioc_sync::sim::lumu::SimIncident;

use crate::common::*;

const OPENIOC_1_0: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<ioc xmlns="http://schemas.mandiant.com/2010/ioc" id="one" last-modified="2026-11-01T00:00:00Z">
  <definition>
    <Indicator id="top" operator="OR">
      <IndicatorItem id="dns" condition="is">
        <Context document="DnsEntryItem" search="DnsEntryItem/Host" type="mir"/>
        <Content type="string">c2.forms.example</Content>
      </IndicatorItem>
    </Indicator>
  </definition>
</ioc>
"#;

fn string_apex() -> BackgroundApex {
    start_apex_with(ApexSimConfig {
        string_numbers: true,
        ..ApexSimConfig::random()
    })
}

#[test]
fn a_sync_and_udso_list_work_with_string_numbers_and_null_texts() {
    let (apex, lumu) = (string_apex(), start_lumu());
    apex.sim.insert(entry("domain", "manual.example", ""));
    lumu.sim.add(SimIncident::open(
        "i-1",
        chrono::Duration::hours(1),
        &["a.example", "b.example"],
        &["C2C"],
    ));
    let dir = tempfile::tempdir().unwrap();
    let out = lumu_cmd(dir.path(), &apex, &lumu).assert().success();
    assert!(output_text(out.get_output()).0.contains("plan +2 ~0 -0 =0"));
    let out = lumu_cmd(dir.path(), &apex, &lumu).assert().success();
    assert!(output_text(out.get_output()).0.contains("plan +0 ~0 -0 =2"));
    let out = apex_run(dir.path(), &apex, &["udso", "list"])
        .args(["--type", "domain"])
        .assert()
        .success();
    let table = output_text(out.get_output()).0;
    assert!(
        table.ends_with("3 entries (domain 3); 2 carry an apex-ioc-sync tag (lumu 2)\n"),
        "{table}"
    );
    // An error envelope in string form is understood too (500/8: already gone).
    apex_cmd(dir.path(), &apex)
        .args(["--clean", "--tag", "lumu"])
        .assert()
        .success();
    assert!(owned(&apex, "lumu").is_empty());
}

#[test]
fn the_openioc_commands_work_with_string_numbers_and_null_texts() {
    let apex = string_apex();
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.ioc");
    std::fs::write(&good, OPENIOC_1_0).unwrap();
    // Upload, extract, list and delete, each answer in string form.
    let out = apex_run(dir.path(), &apex, &["openioc", "upload"])
        .args(["--extract", "--json"])
        .arg(&good)
        .assert()
        .code(0);
    let report = json(&out);
    assert_eq!(report["uploaded"][0]["UploadedStatus"], 1);
    assert_eq!(report["extracted"][0]["ExtractingStatus"], 1);
    assert_eq!(
        report["extracted"][0]["ExtractionErrorMessage"],
        serde_json::Value::Null
    );
    let id = report["uploaded"][0]["FileHashID"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        apex.sim
            .all_entries()
            .iter()
            .any(|e| e.content == "c2.forms.example")
    );

    let out = apex_run(dir.path(), &apex, &["openioc", "list"])
        .assert()
        .code(0);
    let listing = output_text(out.get_output()).0;
    assert!(
        listing.contains(&id)
            && listing.contains(" yes ")
            && listing.ends_with("1 files in the filing cabinet\n"),
        "{listing}"
    );

    let out = apex_run(dir.path(), &apex, &["openioc", "delete"])
        .args([&id, "0000000000000000000000000000000000000000"])
        .assert()
        .code(4);
    let table = output_text(out.get_output()).0;
    assert!(
        table.contains(&format!("{id}  deleted")) && table.contains("not in the filing cabinet"),
        "{table}"
    );
}

/// A file Apex refuses comes back with a `null` FileHashID, a string status and a string
/// message type.
#[test]
fn a_refused_upload_in_string_form_is_reported() {
    let apex = string_apex();
    // `openioc upload` checks files before sending them, so the library sends one Apex
    // refuses.
    let c = apex.sim.config();
    let client = apex_ioc_sync::apex::client::ApexClient::new(
        &apex.url(),
        &c.app_id,
        apex_ioc_sync::secret::Secret::new(&c.api_key),
        &apex_ioc_sync::http::HttpSettings::default(),
    )
    .unwrap();
    let refused = apex_ioc_sync::apex::openioc::UploadFile::new("bad.ioc", b"not openioc");
    let result = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(client.upload_openioc(&[refused]))
        .unwrap();
    assert_eq!(result.files.len(), 1);
    assert!(!result.files[0].ok());
    assert_eq!(
        (result.files[0].hash_id.as_str(), result.files[0].status),
        ("", 0)
    );
    assert_eq!(result.messages[0].kind, Some(2));
    assert!(result.messages[0].message.contains("bad.ioc"));
}
