//! Missing is not empty: an answer without its list stops the run before any write, and a
//! source that yields nothing removes nothing without `--force`. The real binary against
//! the simulators over loopback HTTP.

use apex_ioc_sync::sim::lumu::SimIncident;
use axum::http::StatusCode;

use crate::common::*;

fn incident(id: &str, adversaries: &[&str]) -> SimIncident {
    SimIncident::open(id, chrono::Duration::hours(1), adversaries, &["C2C"])
}

#[test]
fn a_lumu_page_without_items_stops_the_run_before_any_write() {
    let (apex, lumu) = (start_apex(), start_lumu());
    lumu.sim.add(incident("i-1", &["a.example", "b.example"]));
    let dir = tempfile::tempdir().unwrap();
    lumu_cmd(dir.path(), &apex, &lumu).assert().success();
    let before = apex.sim.all_entries();
    let writes_before = writes(&apex);
    for body in [
        r#"{"paginationInfo":{"page":1,"items":100}}"#,
        r#"{"items":null,"paginationInfo":{"page":1,"items":100}}"#,
    ] {
        lumu.sim.break_answers(Some((StatusCode::OK, body)));
        let out = lumu_cmd(dir.path(), &apex, &lumu)
            .arg("--force")
            .assert()
            .code(1);
        let (_, stderr) = output_text(out.get_output());
        assert!(
            stderr.contains("POST /api/incidents/all (page 1) has no `items`")
                && stderr.contains("nothing was written"),
            "{stderr}"
        );
    }
    assert_eq!(apex.sim.all_entries(), before);
    assert_eq!(writes(&apex), writes_before);
}

#[test]
fn an_apex_answer_without_data_is_an_error_not_an_empty_list() {
    let (apex, lumu) = (start_apex(), start_lumu());
    apex.sim
        .insert(entry("domain", "manual.example", "by hand"));
    lumu.sim
        .add(incident("i-1", &["manual.example", "new.example"]));
    apex.sim.answer_without_data(true);
    let dir = tempfile::tempdir().unwrap();

    // `udso list` shows no empty list.
    let out = apex_run(dir.path(), &apex, &["udso", "list"])
        .args(["--type", "domain"])
        .assert()
        .code(1);
    let (stdout, stderr) = output_text(out.get_output());
    assert!(stdout.is_empty(), "{stdout}");
    assert!(
        stderr.contains("GET /WebApp/api/SuspiciousObjects/UserDefinedSO/?type=domain")
            && stderr.contains("has no `Data`"),
        "{stderr}"
    );

    // A sync stops before reading the source and before any write.
    let out = lumu_cmd(dir.path(), &apex, &lumu).assert().code(1);
    let (_, stderr) = output_text(out.get_output());
    assert!(
        stderr.contains("has no `Data`") && stderr.contains("nothing was written"),
        "{stderr}"
    );
    assert_eq!(writes(&apex), 0);
    assert_eq!(lumu.sim.control.stats.total(), 0);
}

#[test]
fn an_empty_source_removes_nothing_without_force_however_few_entries_are_owned() {
    let (apex, lumu) = (start_apex(), start_lumu());
    lumu.sim.add(incident("i-1", &["a.example", "b.example"]));
    let dir = tempfile::tempdir().unwrap();
    lumu_cmd(dir.path(), &apex, &lumu).assert().success();
    assert_eq!(owned(&apex, "lumu").len(), 2);
    lumu.sim.set_status("i-1", "closed");
    let out = lumu_cmd(dir.path(), &apex, &lumu).assert().code(5);
    let (stdout, stderr) = output_text(out.get_output());
    assert!(
        stderr.contains("would remove 2 of the 2 entries")
            && stderr.contains("the source gave no IOC of the chosen types")
            && stderr.contains("--force"),
        "{stderr}"
    );
    assert!(stdout.contains("with an empty source"), "{stdout}");
    assert_eq!(apex.sim.control.stats.count("DELETE"), 0);
    assert_eq!(owned(&apex, "lumu").len(), 2);
    let out = lumu_cmd(dir.path(), &apex, &lumu)
        .args(["--force", "--json"])
        .assert()
        .success();
    assert_eq!(json(&out)["deleted"], 2);
    assert!(owned(&apex, "lumu").is_empty());
}
