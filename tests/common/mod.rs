//! Helpers shared by the integration tests: a simulated Apex Central on loopback and the
//! real binary pointed at it.
#![allow(dead_code)]

use std::path::Path;

use apex_ioc_sync::apex::udso::UdsoEntry;
use apex_ioc_sync::sim::BackgroundApex;
use apex_ioc_sync::sim::apex::ApexSimConfig;
use assert_cmd::Command;

/// Environment variables that would leak into the binary from the developer's shell.
const CLEARED_ENV: &[&str] = &[
    "APEX_API_KEY",
    "LUMU_COMPANY_KEY",
    "TAXII_TOKEN",
    "TAXII_PASSWORD",
    "PROXY_PASSWORD",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
];

pub fn start_apex() -> BackgroundApex {
    BackgroundApex::start(ApexSimConfig::random()).expect("simulator starts")
}

pub fn start_apex_with(config: ApexSimConfig) -> BackgroundApex {
    BackgroundApex::start(config).expect("simulator starts")
}

/// The binary, run in `dir` (so no stray `.config` is read and lock files stay there).
pub fn bin(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("apex-ioc-sync").expect("binary built");
    cmd.current_dir(dir);
    for var in CLEARED_ENV {
        cmd.env_remove(var);
    }
    cmd
}

/// The binary with the simulator's host and credentials.
pub fn apex_cmd(dir: &Path, apex: &BackgroundApex) -> Command {
    let mut cmd = bin(dir);
    let c = apex.sim.config();
    cmd.args([
        "--host",
        &apex.url(),
        "--application-id",
        &c.app_id,
        "--api-key",
        &c.api_key,
    ]);
    cmd
}

pub fn entry(kind: &str, content: &str, notes: &str) -> UdsoEntry {
    UdsoEntry {
        kind: kind.into(),
        content: content.into(),
        notes: notes.into(),
        scan_action: "block".into(),
        expiration_utc_date: None,
    }
}

/// Standard output and error of a finished command, as text.
pub fn output_text(out: &std::process::Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
