//! The normal form across versions: IOCs a TAXII state file kept from an earlier version,
//! in an older spelling, are pushed in today's form (and written without error).

use apex_ioc_sync::apex::udso::ScanAction;
use apex_ioc_sync::ioc::{Ioc, IocKind};
use apex_ioc_sync::sim::taxii::TaxiiSimConfig;
use apex_ioc_sync::state::{IndicatorRecord, StateStore};
use chrono::Utc;

use crate::common::{json, owned, start_apex, start_taxii, taxii_cmd};

#[test]
fn iocs_stored_in_an_older_spelling_are_pushed_in_normal_form() {
    let (apex, taxii) = (start_apex(), start_taxii(TaxiiSimConfig::default()));
    taxii
        .sim
        .add_collection("91a7b528-80eb-42ed-a74d-c6fbd5a26116", "Empty", None, true);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.db");
    // As an earlier version stored them: no `/` path, a U-label, a lower-case `%2f`.
    let stale = |kind, value: &str| {
        (
            Ioc {
                kind,
                value: value.to_owned(),
            },
            ScanAction::Block,
        )
    };
    let mut store = StateStore::open(&state).unwrap();
    // The feed the job reads: the collection's objects URL, under the job's tag.
    let objects = format!(
        "{}/api1/collections/91a7b528-80eb-42ed-a74d-c6fbd5a26116/objects/",
        taxii.url()
    );
    let feed = store.feed("taxii", &objects).unwrap();
    store
        .store_page(
            feed,
            &[IndicatorRecord {
                id: "indicator--old".into(),
                modified: Utc::now() - chrono::Duration::days(1),
                clamped: false,
                revoked: false,
                valid_from: None,
                valid_until: None,
                confidence: None,
                iocs: vec![
                    stale(IocKind::Url, "http://old-form.example"),
                    stale(IocKind::Url, "http://old-form.example:80/"),
                    stale(IocKind::Domain, "bücher.example"),
                    stale(IocKind::Url, "http://x.example/a%2fb"),
                ],
            }],
            None,
        )
        .unwrap();
    drop(store);
    let out = taxii_cmd(dir.path(), &apex, &taxii)
        .args(["--json", "--state-file"])
        .arg(&state)
        .assert()
        .success();
    let report = json(&out);
    assert_eq!(report["failed"], serde_json::json!([]));
    assert_eq!(
        owned(&apex, "taxii"),
        [
            "domain xn--bcher-kva.example",
            "url http://old-form.example/",
            "url http://x.example/a%2Fb",
        ]
    );
}

/// A STIX `url:value` with a literal space is pushed percent-encoded, as WHATWG encodes it
/// (a browser requests `/a%20b`), not skipped; the plain list reads it the same way.
#[test]
fn a_url_with_a_space_is_pushed_percent_encoded() {
    let apex = start_apex();
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle.json");
    let indicator = serde_json::json!({
        "type": "indicator",
        "spec_version": "2.1",
        "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
        "created": "2026-01-01T00:00:00.000Z",
        "modified": "2026-01-01T00:00:00.000Z",
        "pattern": "[url:value = 'http://a.example/a b']",
        "pattern_type": "stix",
        "valid_from": "2026-01-01T00:00:00Z"
    });
    std::fs::write(
        &bundle,
        serde_json::json!({"type": "bundle", "id": "bundle--1", "objects": [indicator]})
            .to_string(),
    )
    .unwrap();
    let list = dir.path().join("list.txt");
    std::fs::write(&list, "http://b.example/x y?q=1 2  # seen today\n").unwrap();
    let out = crate::common::apex_cmd(dir.path(), &apex)
        .args(["--source", "file", "--json"])
        .args(["--file", bundle.to_str().unwrap()])
        .args(["--file", list.to_str().unwrap()])
        .assert()
        .success();
    let report = json(&out);
    assert_eq!(report["invalid"], serde_json::json!({}));
    assert_eq!(
        owned(&apex, "file"),
        [
            "url http://a.example/a%20b",
            "url http://b.example/x%20y?q=1%202"
        ]
    );
}
