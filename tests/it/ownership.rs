//! Ownership by normal form, never by spelling: the real binary against a simulated Apex
//! Central that matches content byte for byte, or case-insensitively as a real one may.

use apex_ioc_sync::apex::client::ApexClient;
use apex_ioc_sync::apex::udso::{ScanAction, UdsoWrite};
use apex_ioc_sync::http::{HttpSettings, RetryPolicy};
use apex_ioc_sync::ioc::IocKind;
use apex_ioc_sync::secret::Secret;
use apex_ioc_sync::sim::BackgroundApex;
use apex_ioc_sync::sim::apex::ApexSimConfig;
use apex_ioc_sync::sim::lumu::SimIncident;
use axum::http::Method;

use crate::common::*;

fn case_insensitive_apex() -> BackgroundApex {
    start_apex_with(ApexSimConfig {
        case_insensitive_content: true,
        ..ApexSimConfig::random()
    })
}

fn notes_of(apex: &BackgroundApex, content: &str) -> Option<String> {
    apex.sim
        .all_entries()
        .into_iter()
        .find(|e| e.content == content)
        .map(|e| e.notes)
}

fn incident(id: &str, adversaries: &[&str]) -> SimIncident {
    SimIncident::open(id, chrono::Duration::hours(1), adversaries, &["C2C"])
}

#[test]
fn the_case_insensitive_simulator_updates_and_deletes_the_entry_it_matches() {
    let apex = case_insensitive_apex();
    let c = apex.sim.config();
    let client = ApexClient::new(
        &apex.url(),
        &c.app_id,
        Secret::new(&c.api_key),
        &HttpSettings::default(),
    )
    .unwrap()
    .with_retry(RetryPolicy {
        attempts: 1,
        ..RetryPolicy::default()
    });
    apex.sim
        .insert(entry("domain", "Evil.Example", "blocked by the SOC"));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let put = UdsoWrite {
            kind: IocKind::Domain,
            content: "evil.example".into(),
            notes: "apex-ioc-sync:x".into(),
            scan_action: ScanAction::Log,
            expiration: None,
        };
        client.put_udso(&put).await.unwrap();
        let listed = client.list_udso(IocKind::Domain).await.unwrap();
        assert_eq!(listed.len(), 1, "{listed:?}");
        assert_eq!(
            (listed[0].content.as_str(), listed[0].notes.as_str()),
            ("Evil.Example", "apex-ioc-sync:x"),
            "the put landed on the entry it matches, which keeps its spelling"
        );
        client
            .delete_udso(IocKind::Domain, "EVIL.EXAMPLE")
            .await
            .unwrap();
        assert!(client.list_udso(IocKind::Domain).await.unwrap().is_empty());
    });
}

/// The person's `Evil.Example` holds the IOC `evil.example` the source reports: on a server
/// that matches case-insensitively, a put of `evil.example` would take it over (and a later
/// run delete it).
#[test]
fn a_foreign_entry_in_another_spelling_is_never_taken_over() {
    let (apex, lumu) = (case_insensitive_apex(), start_lumu());
    apex.sim
        .insert(entry("domain", "Evil.Example.", "blocked by the SOC"));
    let sha1 = "3395856CE81F2B7382DEE72602F798B642F14140";
    apex.sim.insert(entry("file", sha1, "from the EDR team"));
    lumu.sim
        .add(incident("i-1", &["evil.example", "new.example"]).with_files(&[&sha1.to_lowercase()]));
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let out = lumu_cmd(dir.path(), &apex, &lumu)
            .args(["--ioc-types", "domain", "hash"])
            .assert()
            .success();
        let (stdout, _) = output_text(out.get_output());
        assert!(stdout.contains("skipped 2 (foreign 2)"), "{stdout}");
    }
    assert_eq!(
        notes_of(&apex, "Evil.Example.").as_deref(),
        Some("blocked by the SOC")
    );
    assert_eq!(notes_of(&apex, sha1).as_deref(), Some("from the EDR team"));
    assert_eq!(owned(&apex, "lumu"), ["domain new.example"]);
    assert_eq!(apex.sim.control.stats.count("PUT"), 1, "only new.example");
}

/// An owned entry listed in another spelling (an upper-case SHA-1 listed as `file`, a host
/// with capitals and a trailing dot) holds the desired IOC: not added again, not removed,
/// and a second run writes nothing.
#[test]
fn an_owned_entry_in_another_spelling_is_neither_readded_nor_flapping() {
    for case_insensitive in [false, true] {
        let apex = start_apex_with(ApexSimConfig {
            case_insensitive_content: case_insensitive,
            ..ApexSimConfig::random()
        });
        let lumu = start_lumu();
        let sha1 = "3395856CE81F2B7382DEE72602F798B642F14140";
        let mut file = entry("file", sha1, "apex-ioc-sync:lumu C2C incident i-1");
        file.scan_action = "log".into();
        apex.sim.insert(file);
        apex.sim.insert(entry(
            "domain",
            "C2.Example.",
            "apex-ioc-sync:lumu C2C incident i-1",
        ));
        lumu.sim
            .add(incident("i-1", &["c2.example"]).with_files(&[&sha1.to_lowercase()]));
        let dir = tempfile::tempdir().unwrap();
        let run = || {
            lumu_cmd(dir.path(), &apex, &lumu)
                .args(["--ioc-types", "domain", "hash", "--no-expiration-date"])
                .assert()
                .success()
        };
        let out = run();
        let (stdout, _) = output_text(out.get_output());
        // The file entry's scan action is updated, by its listed content.
        assert!(stdout.contains("plan +0 ~1 -0 =1"), "{stdout}");
        assert_eq!(apex.sim.control.stats.count("DELETE"), 0, "{stdout}");
        let mut listed: Vec<(String, String, String)> = apex
            .sim
            .all_entries()
            .into_iter()
            .map(|e| (e.kind, e.content, e.scan_action))
            .collect();
        listed.sort();
        assert_eq!(
            listed,
            [
                ("domain".into(), "C2.Example.".into(), "block".into()),
                ("file".into(), sha1.into(), "block".into()),
            ],
            "case-insensitive: {case_insensitive}"
        );
        let writes_before = writes(&apex);
        let out = run();
        let (stdout, _) = output_text(out.get_output());
        assert!(stdout.contains("plan +0 ~0 -0 =2"), "{stdout}");
        assert_eq!(writes(&apex), writes_before, "converged in one run");
    }
}

#[test]
fn removals_name_the_entry_as_listed() {
    let (apex, lumu) = (start_apex(), start_lumu());
    apex.sim.insert(entry(
        "domain",
        "Gone.Example.",
        "apex-ioc-sync:lumu C2C incident old",
    ));
    lumu.sim.add(incident("i-1", &["kept.example"]));
    let dir = tempfile::tempdir().unwrap();
    let out = lumu_cmd(dir.path(), &apex, &lumu).assert().success();
    let (stdout, _) = output_text(out.get_output());
    assert!(stdout.contains("plan +1 ~0 -1"), "{stdout}");
    // On a server that matches byte for byte, a delete of `gone.example` would miss it.
    assert_eq!(owned(&apex, "lumu"), ["domain kept.example"]);
}

/// Between the listing and the removals someone takes an entry over (edits its notes): it
/// is listed again right before the removals, and left alone.
#[test]
fn an_entry_edited_before_the_removals_is_not_removed() {
    let (apex, lumu) = (start_apex(), start_lumu());
    for content in ["old-1.example", "old-2.example"] {
        apex.sim.insert(entry(
            "domain",
            content,
            "apex-ioc-sync:lumu C2C incident old",
        ));
    }
    lumu.sim.add(incident("i-1", &["kept.example"]));
    // The first write of the run is the add of kept.example; the edit comes with it.
    apex.sim.on_request(Method::PUT, 1, |sim| {
        let mut taken = entry("domain", "old-1.example", "kept by the SOC");
        taken.scan_action = "log".into();
        sim.insert(taken);
    });
    let dir = tempfile::tempdir().unwrap();
    let out = lumu_cmd(dir.path(), &apex, &lumu).assert().success();
    let (stdout, stderr) = output_text(out.get_output());
    assert!(
        stdout.contains("1 not removed (edited meanwhile)"),
        "{stdout}"
    );
    assert!(
        stderr.contains("old-1.example") && stderr.contains("no longer carries the tag lumu"),
        "{stderr}"
    );
    assert_eq!(
        notes_of(&apex, "old-1.example").as_deref(),
        Some("kept by the SOC")
    );
    assert_eq!(
        notes_of(&apex, "old-2.example"),
        None,
        "still ours: removed"
    );
    assert_eq!(apex.sim.control.stats.count("DELETE"), 1);
}

/// The listing right before the removals comes back without `Data`: nothing of that type
/// is removed, and the run says so (exit 4: the next run tries again).
#[test]
fn a_relisting_without_data_removes_nothing() {
    let (apex, lumu) = (start_apex(), start_lumu());
    apex.sim.insert(entry(
        "domain",
        "old.example",
        "apex-ioc-sync:lumu C2C incident old",
    ));
    lumu.sim.add(incident("i-1", &["kept.example"]));
    apex.sim
        .on_request(Method::PUT, 1, |sim| sim.answer_without_data(true));
    let dir = tempfile::tempdir().unwrap();
    let out = lumu_cmd(dir.path(), &apex, &lumu).assert().code(4);
    let (_, stderr) = output_text(out.get_output());
    assert!(
        stderr.contains("old.example")
            && stderr.contains("could not be read again right before the removals")
            && stderr.contains("no `Data`"),
        "{stderr}"
    );
    assert_eq!(apex.sim.control.stats.count("DELETE"), 0);
    assert!(notes_of(&apex, "old.example").is_some());
}
