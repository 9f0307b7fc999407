//! The TAXII servers of `tests/data/cases/taxii/taxii_oddities.py`, one simulator mode each
//! (the cases README gives the right behaviour), and the TAXII credentials kept to the
//! origin of `--taxii-url`: the real binary over loopback HTTP.

use crate::common::*;
use apex_ioc_sync::sim::taxii::{ODDITY_COLLECTION, Oddity, TaxiiSim, TaxiiSimConfig};
use apex_ioc_sync::sim::{BackgroundApex, BackgroundTaxii};
use chrono::Utc;
use serde_json::Value;

/// `taxii_oddities.py MODE` as the simulator plays it: five indicators added two days ago.
fn oddity(mode: Oddity) -> BackgroundTaxii {
    BackgroundTaxii::start_sim(TaxiiSim::with_oddity(
        mode,
        Utc::now() - chrono::Duration::days(2),
        TaxiiSimConfig::default(),
    ))
    .expect("simulator starts")
}

/// A run with `args`: its exit code, its JSON report (if any) and its standard error.
fn run(
    dir: &std::path::Path,
    apex: &BackgroundApex,
    taxii: &BackgroundTaxii,
    args: &[&str],
) -> (i32, Value, String) {
    let out = taxii_cmd(dir, apex, taxii)
        .arg("--json")
        .args(args)
        .output()
        .unwrap();
    let (stdout, stderr) = output_text(&out);
    let report = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap(), report, stderr)
}

fn warnings(report: &Value) -> Vec<String> {
    report["warnings"]
        .as_array()
        .map(|w| w.iter().map(|w| w.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

#[test]
fn empty_next_is_no_next_four_requests_five_indicators() {
    let (apex, taxii) = (start_apex(), oddity(Oddity::EmptyNext));
    let dir = tempfile::tempdir().unwrap();
    let (code, report, stderr) = run(dir.path(), &apex, &taxii, &["--dry-run"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(report["items"], 5);
    assert_eq!(report["iocs"]["domain"], 5);
    // Paging by date, each page from just before the last date of the page before (it may
    // be shared past the page): five objects in pages of two take four pages, the object
    // at each boundary read twice and counted once.
    let requests = taxii.sim.objects_requests();
    assert_eq!(requests.len(), 4, "{requests:#?}");
    assert!(
        requests.iter().all(|r| !r.contains("next=")),
        "{requests:#?}"
    );
    assert!(warnings(&report).is_empty(), "{report}");
}

#[test]
fn inclusive_keeps_what_arrived_warns_syncs_and_a_later_run_is_not_stuck() {
    let (apex, taxii) = (start_apex(), oddity(Oddity::Inclusive));
    let dir = tempfile::tempdir().unwrap();
    // A rehearsal first: the same outcome, nothing kept.
    let (code, report, stderr) = run(dir.path(), &apex, &taxii, &["--dry-run"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(report["iocs"]["domain"], 4);
    assert_eq!(warnings(&report).len(), 1, "{report}");

    taxii.sim.control.stats.reset();
    let (code, report, stderr) = run(dir.path(), &apex, &taxii, &[]);
    assert_eq!(code, 0, "{stderr}");
    let warned = warnings(&report);
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(
        warned[0].contains(ODDITY_COLLECTION)
            && warned[0].contains("does not move past")
            && warned[0].contains("share that date_added"),
        "{warned:?}"
    );
    assert!(
        stderr.contains("does not move past"),
        "logged too: {stderr}"
    );
    // Every object that arrived is stored and synced.
    assert_eq!(
        owned(&apex, "taxii"),
        [
            "domain n01.feed.example",
            "domain n02.feed.example",
            "domain n03.feed.example",
            "domain n04.feed.example"
        ]
    );
    // The next run meets the same stall at the same date: it steps past it, and says so.
    let (code, report, stderr) = run(dir.path(), &apex, &taxii, &[]);
    assert_eq!(code, 0, "{stderr}");
    let warned = warnings(&report);
    assert!(
        warned.len() == 1 && warned[0].contains("stepping past"),
        "{warned:?}"
    );
    assert_eq!(owned(&apex, "taxii").len(), 4);
    // And the one after that is not stuck: one request, nothing to say.
    let before = taxii.sim.objects_requests().len();
    let (code, report, stderr) = run(dir.path(), &apex, &taxii, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(warnings(&report).is_empty(), "{report}");
    assert_eq!(taxii.sim.objects_requests().len() - before, 1);
    assert_eq!(owned(&apex, "taxii").len(), 4);
}

#[test]
fn opaque_next_goes_back_unchanged_with_the_original_filters() {
    let (apex, taxii) = (start_apex(), oddity(Oddity::OpaqueNext));
    let dir = tempfile::tempdir().unwrap();
    let (code, report, stderr) = run(dir.path(), &apex, &taxii, &["--dry-run"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(report["items"], 5);
    let requests = taxii.sim.objects_requests();
    assert_eq!(requests.len(), 3, "{requests:#?}");
    assert!(
        requests[1].contains("next=p%2F%2B%3D%26x+y"),
        "{requests:#?}"
    );
    let added_after = |r: &str| {
        r.split('&')
            .find(|p| p.starts_with("added_after"))
            .map(str::to_owned)
    };
    assert!(
        requests
            .iter()
            .all(|r| added_after(r) == added_after(&requests[0]))
    );
}

#[test]
fn a_date_header_with_an_offset_is_sent_back_encoded() {
    let (apex, taxii) = (start_apex(), oddity(Oddity::OffsetHeader));
    let dir = tempfile::tempdir().unwrap();
    let (code, report, stderr) = run(dir.path(), &apex, &taxii, &["--dry-run"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(report["items"], 5);
    // As for `empty-next`, four pages by date (the Python server's dates carry a fixed
    // fraction later than the objects' own, so it needs three).
    let requests = taxii.sim.objects_requests();
    assert_eq!(requests.len(), 4, "{requests:#?}");
    assert!(requests[1].contains("%2B00%3A00"), "{requests:#?}");
}

#[test]
fn content_types_as_real_servers_write_them() {
    let (apex, taxii) = (start_apex(), oddity(Oddity::ContentTypes));
    let dir = tempfile::tempdir().unwrap();
    let (code, report, stderr) = run(
        dir.path(),
        &apex,
        &taxii,
        &["--dry-run", "--taxii-collection", "feed"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(report["items"], 5);
    // The collection listed as readable that answers 403: its error, read from an
    // application/json body, stops the run before any write.
    let (code, _, stderr) = run(dir.path(), &apex, &taxii, &[]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("HTTP 403") && stderr.contains("no read access to this collection"),
        "{stderr}"
    );
    assert_eq!(writes(&apex), 0);
}

#[test]
fn an_empty_collection_answered_with_an_empty_object() {
    let (apex, taxii) = (start_apex(), oddity(Oddity::Empty));
    let dir = tempfile::tempdir().unwrap();
    let (code, report, stderr) = run(dir.path(), &apex, &taxii, &["--dry-run"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(report["items"], 0);
    assert!(warnings(&report).is_empty(), "{report}");
}

/// A server for the credentials: one collection with one indicator, behind a token.
fn guarded(config: TaxiiSimConfig) -> BackgroundTaxii {
    let taxii = start_taxii(TaxiiSimConfig {
        token: Some("feed-t0ken".into()),
        ..config
    });
    taxii
        .sim
        .add_collection(ODDITY_COLLECTION, "feed", None, true);
    taxii
}

#[test]
fn an_api_root_on_another_origin_is_refused_and_gets_nothing() {
    let elsewhere = guarded(TaxiiSimConfig::default());
    let taxii = guarded(TaxiiSimConfig {
        api_root: Some(format!("{}/api1/", elsewhere.url())),
        ..TaxiiSimConfig::default()
    });
    let apex = start_apex();
    let dir = tempfile::tempdir().unwrap();
    let out = taxii_cmd(dir.path(), &apex, &taxii)
        .env("TAXII_TOKEN", "feed-t0ken")
        .assert()
        .code(1);
    let (_, stderr) = output_text(out.get_output());
    assert!(
        stderr.contains("on another origin than --taxii-url")
            && stderr.contains(&elsewhere.url())
            && stderr.contains("give its API root as --taxii-url"),
        "{stderr}"
    );
    assert_eq!(
        elsewhere.sim.control.stats.total(),
        0,
        "no request went there"
    );
    assert_eq!(writes(&apex), 0);
}

#[test]
fn a_redirect_to_another_origin_is_not_followed() {
    let elsewhere = guarded(TaxiiSimConfig::default());
    let taxii = guarded(TaxiiSimConfig {
        redirect_to: Some(elsewhere.url()),
        ..TaxiiSimConfig::default()
    });
    let apex = start_apex();
    let dir = tempfile::tempdir().unwrap();
    let out = taxii_cmd(dir.path(), &apex, &taxii)
        .env("TAXII_TOKEN", "feed-t0ken")
        .assert()
        .code(1);
    let (_, stderr) = output_text(out.get_output());
    assert!(
        stderr.contains("HTTP 302")
            && stderr.contains(&format!(
                "a redirect to {} is not followed",
                elsewhere.url()
            )),
        "{stderr}"
    );
    assert_eq!(
        elsewhere.sim.control.stats.total(),
        0,
        "the token never went there"
    );
}
