//! Malformed STIX objects in a TAXII page or a bundle file: each is skipped and counted
//! (`malformed-object`, `invalid-indicator`), one warning per page or bundle names where,
//! and the rest is read and synced; the TAXII cursor moves on past the page.

use crate::common::*;
use apex_ioc_sync::sim::taxii::{TaxiiSimConfig, indicator};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

const COLLECTION: &str = "0f2c8e55-1b7d-4c1e-9a3e-5ad0b1ec7ed1";

fn ago(hours: i64) -> DateTime<Utc> {
    Utc::now() - chrono::Duration::hours(hours)
}

/// An indicator of `domain` added `hours` ago, as JSON text, with `change` applied.
fn domain_indicator(n: u32, hours: i64, change: impl FnOnce(&mut Value)) -> Value {
    let mut o = indicator(
        &format!("indicator--{n}"),
        &format!("[domain-name:value = 'n{n}.example']"),
        ago(hours),
    );
    change(&mut o);
    o
}

/// The report's warnings (it leaves out an empty list).
fn warnings(report: &Value) -> Vec<String> {
    report["warnings"]
        .as_array()
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .map(|w| w.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_taxii_page_with_malformed_objects_syncs_the_good_ones_and_the_cursor_moves_on() {
    let apex = start_apex();
    // Pages of three: malformed objects before, between and after good indicators.
    let taxii = start_taxii(TaxiiSimConfig {
        max_page_size: 3,
        ..Default::default()
    });
    let sim = &taxii.sim;
    sim.add_collection(COLLECTION, "Mixed quality", None, true);
    let mut hours = 60;
    let mut add = |object: Value| {
        hours -= 1;
        sim.add_object(COLLECTION, ago(hours), object);
    };
    add(domain_indicator(1, 60, |_| {}));
    add(json!("str"));
    add(json!(5));
    add(Value::Null);
    add(domain_indicator(9, 60, |o| o["pattern"] = json!(5)));
    add(domain_indicator(2, 60, |_| {}));
    add(domain_indicator(8, 60, |o| {
        o.as_object_mut().unwrap().remove("type");
    }));
    add(domain_indicator(7, 60, |o| o["modified"] = json!([])));
    add(domain_indicator(3, 60, |_| {}));
    // A key given twice: which `id` is meant is unknown.
    let dup = domain_indicator(6, 60, |_| {}).to_string();
    let dup = dup.replacen('{', r#"{"id":"indicator--other","#, 1);
    sim.add_raw_object(COLLECTION, ago(40), &dup);

    let dir = tempfile::tempdir().unwrap();
    let out = taxii_cmd(dir.path(), &apex, &taxii)
        .arg("--json")
        .assert()
        .success();
    let report = json(&out);
    assert_eq!(report["items"], 10, "{report}");
    assert_eq!(report["invalid"]["malformed-object"], 4, "{report}");
    assert_eq!(report["invalid"]["invalid-indicator"], 3, "{report}");
    assert_eq!(
        owned(&apex, "taxii"),
        [
            "domain n1.example",
            "domain n2.example",
            "domain n3.example"
        ]
    );
    // One warning per page with malformed objects (all four), each naming the collection.
    let warned = warnings(&report);
    assert_eq!(warned.len(), 4, "{warned:?}");
    assert!(warned.iter().all(|w| w.contains(COLLECTION)), "{warned:?}");
    assert!(
        warned[0].contains("2 STIX object(s)")
            && warned[0].contains("the first objects[1]: not a JSON object"),
        "{}",
        warned[0]
    );
    assert!(
        warned[1].contains("2 STIX object(s)")
            && warned[1].contains("objects[0]: not a JSON object"),
        "{}",
        warned[1]
    );
    assert!(
        warned[2].contains("objects[0] (indicator--8): no `type` string"),
        "{}",
        warned[2]
    );
    assert!(
        warned[3].contains("`id` appears more than once"),
        "{}",
        warned[3]
    );

    // The cursor moved past those pages: the next run reads nothing again, and warns not.
    let writes_before = writes(&apex);
    let out = taxii_cmd(dir.path(), &apex, &taxii)
        .arg("--json")
        .assert()
        .success();
    let report = json(&out);
    assert_eq!(report["items"], 0, "{report}");
    assert_eq!(warnings(&report), Vec::<String>::new());
    assert_eq!(writes(&apex), writes_before);
    assert_eq!(owned(&apex, "taxii").len(), 3, "the good ones stay");
}

#[test]
fn a_bundle_with_malformed_objects_pushes_the_good_ones_and_names_the_file() {
    let apex = start_apex();
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("w5.json");
    let objects = [
        json!("str"),
        domain_indicator(1, 5, |_| {}),
        json!(5),
        Value::Null,
        domain_indicator(9, 5, |o| o["pattern"] = json!(5)),
        domain_indicator(8, 5, |o| {
            o.as_object_mut().unwrap().remove("type");
        }),
        domain_indicator(7, 5, |o| o["modified"] = json!(["2026-01-01T00:00:00Z"])),
        domain_indicator(6, 5, |o| o["revoked"] = json!("no")),
        json!({"type": "identity", "id": "identity--1", "modified": [], "name": 5}),
        domain_indicator(2, 5, |_| {}),
    ];
    std::fs::write(
        &bundle,
        json!({"type": "bundle", "id": "bundle--1", "objects": objects}).to_string(),
    )
    .unwrap();
    let out = apex_cmd(dir.path(), &apex)
        .args([
            "--source",
            "file",
            "--file",
            bundle.to_str().unwrap(),
            "--json",
        ])
        .assert()
        .success();
    let report = json(&out);
    assert_eq!(
        owned(&apex, "file"),
        ["domain n1.example", "domain n2.example"]
    );
    assert_eq!(report["items"], 9, "every entry but the identity: {report}");
    assert_eq!(report["invalid"]["malformed-object"], 4, "{report}");
    assert_eq!(report["invalid"]["invalid-indicator"], 3, "{report}");
    let warned = warnings(&report);
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(
        warned[0].starts_with(&format!(
            "{}: 7 STIX object(s) skipped as `malformed-object` or `invalid-indicator`, \
             the first objects[0]: not a JSON object;",
            bundle.display()
        )),
        "{}",
        warned[0]
    );
    // A bundle whose envelope is wrong is still an error naming the file.
    std::fs::write(&bundle, r#"{"type": "bundle", "objects": {"a": 1}}"#).unwrap();
    let out = apex_cmd(dir.path(), &apex)
        .args(["--source", "file", "--file", bundle.to_str().unwrap()])
        .assert()
        .code(1);
    let (_, stderr) = output_text(out.get_output());
    assert!(
        stderr.contains("w5.json:1: not a STIX 2.1 bundle"),
        "{stderr}"
    );
    assert_eq!(owned(&apex, "file").len(), 2, "nothing removed");
}
