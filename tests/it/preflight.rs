//! The destination first: one signed Apex call before the source is pulled, so a wrong key
//! or a skewed clock fails at once and costs the source nothing. The real binary against
//! the simulators over loopback.

use std::time::Duration;

use apex_ioc_sync::sim::apex::ApexSimConfig;
use apex_ioc_sync::sim::lumu::SimIncident;
use apex_ioc_sync::sim::taxii::TaxiiSimConfig;

use crate::common::*;

#[test]
fn a_wrong_api_key_fails_before_lumu_is_asked_anything() {
    let (apex, lumu) = (start_apex(), start_lumu());
    lumu.sim.add(SimIncident::open(
        "i-1",
        chrono::Duration::hours(1),
        &["c2.example"],
        &["C2C"],
    ));
    let dir = tempfile::tempdir().unwrap();
    let out = lumu_cmd(dir.path(), &apex, &lumu)
        .args(["--api-key", "WRONG-KEY"])
        .assert()
        .code(1);
    let (_, stderr) = output_text(out.get_output());
    assert!(
        stderr.contains("access check of Apex Central failed")
            && stderr.contains("the source was not read")
            && stderr.contains("check --api-key"),
        "{stderr}"
    );
    assert_eq!(lumu.sim.control.stats.total(), 0, "Lumu received nothing");
    assert_eq!(apex.sim.control.stats.total(), 1, "one signed call");
}

#[test]
fn a_skewed_clock_fails_before_taxii_is_asked_anything() {
    // A server whose "Communication time-out" every token misses, as with a skewed clock.
    let apex = start_apex_with(ApexSimConfig {
        token_timeout: Duration::ZERO,
        ..ApexSimConfig::random()
    });
    let taxii = start_taxii(TaxiiSimConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let out = taxii_cmd(dir.path(), &apex, &taxii)
        .args(["--state-file", dir.path().join("s.db").to_str().unwrap()])
        .assert()
        .code(1);
    let (_, stderr) = output_text(out.get_output());
    assert!(
        stderr.contains("token expired") && stderr.contains("clock"),
        "{stderr}"
    );
    assert_eq!(taxii.sim.control.stats.total(), 0, "TAXII received nothing");
    assert!(
        !dir.path().join("s.db").exists(),
        "not even the state file was opened"
    );
}
