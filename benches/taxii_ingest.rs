//! TAXII ingest: 1,000,000 generated indicators from the simulated server in pages of 1,000,
//! parsed, extracted and stored in the state file. Target (DESIGN.md): at least 250,000
//! indicators/s end to end and under 100 MB peak RSS on this machine's 2 cores. The same
//! feed is then read by the reference Python stack (taxii2-client paging, stix2-patterns
//! parsing each pattern) for comparison; its venv is made under target/ when missing.
//!
//! `cargo bench --bench taxii_ingest` (APEX_BENCH_INDICATORS changes the size,
//! APEX_BENCH_PYTHON_INDICATORS the Python sample, default 20,000; 0 leaves Python out).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use apex_ioc_sync::apex::udso::ScanAction;
use apex_ioc_sync::http::HttpSettings;
use apex_ioc_sync::sim::BackgroundTaxii;
use apex_ioc_sync::sim::taxii::TaxiiSimConfig;
use apex_ioc_sync::source::taxii::{Ingested, TaxiiAuth, TaxiiSettings, ingest};

const COLLECTION: &str = "3c1e1a38-6b2a-4f7c-9d40-bench0000001";

fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Peak resident memory of this process so far (Linux `VmHWM`), in MiB.
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// A venv with the reference stack, made once under target/.
fn reference_python() -> Option<PathBuf> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-venv");
    let python = venv.join("bin/python");
    let ready = |p: &Path| {
        Command::new(p)
            .args(["-c", "import taxii2client, stix2patterns"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if !ready(&python) {
        eprintln!(
            "setting up {} with taxii2-client and stix2-patterns...",
            venv.display()
        );
        let made = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status();
        let installed = Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "taxii2-client==2.3.0",
                "stix2-patterns",
            ])
            .status();
        if !(made.is_ok_and(|s| s.success())
            && installed.is_ok_and(|s| s.success())
            && ready(&python))
        {
            eprintln!("the reference Python stack could not be installed: no comparison");
            return None;
        }
    }
    Some(python)
}

fn main() {
    let count = env_count("APEX_BENCH_INDICATORS", 1_000_000);
    let python_count = env_count("APEX_BENCH_PYTHON_INDICATORS", 20_000);
    let taxii = BackgroundTaxii::start(TaxiiSimConfig::default()).unwrap();
    let start = chrono::Utc::now() - chrono::Duration::days(1);
    taxii.sim.add_generated_collection(COLLECTION, count, start);
    let dir = tempfile::tempdir().unwrap();
    let settings = TaxiiSettings {
        url: taxii.discovery_url(),
        collections: vec![COLLECTION.to_owned()],
        auth: TaxiiAuth::None,
        page_size: 1_000,
        days: 30,
        scan_action: ScanAction::Block,
        min_confidence: None,
        state_file: dir.path().join("bench.db"),
        tag: "taxii".to_owned(),
        dry_run: false,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let rss_before = peak_rss_mib();
    let started = Instant::now();
    let Ingested {
        pulled,
        state,
        feeds,
    } = runtime
        .block_on(ingest(&settings, &HttpSettings::default()))
        .expect("ingest");
    let seconds = started.elapsed().as_secs_f64();
    let rate = pulled.items as f64 / seconds;
    let rss = peak_rss_mib();
    let (stored, _) = state.counts(&feeds, chrono::Utc::now()).unwrap();
    let db_size = std::fs::metadata(state.path()).map_or(0, |m| m.len()) as f64 / 1048576.0;
    assert_eq!(pulled.items, count);
    assert_eq!(stored as usize, count);
    println!(
        "apex-ioc-sync: {count} indicators (pages of 1,000) fetched, parsed, extracted and stored"
    );
    println!(
        "  {seconds:.2} s, {rate:.0} indicators/s; peak RSS {rss:.1} MiB (before ingest {rss_before:.1} MiB); state file {db_size:.0} MiB"
    );

    if python_count == 0 {
        return;
    }
    let Some(python) = reference_python() else {
        return;
    };
    let url = format!("{}/api1/collections/{COLLECTION}/", taxii.url());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/taxii_reference.py");
    for mode in ["parse", "noparse"] {
        let n = if mode == "parse" {
            python_count
        } else {
            python_count * 10
        };
        let out = Command::new(&python)
            .args([script, &url, &n.to_string(), mode])
            .output()
            .expect("python runs");
        let text = String::from_utf8_lossy(&out.stdout);
        let mut parts = text.split_whitespace();
        let (Some(read), Some(secs)) = (parts.next(), parts.next()) else {
            eprintln!(
                "the reference stack failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            return;
        };
        let read: f64 = read.parse().unwrap();
        let secs: f64 = secs.parse().unwrap();
        let py_rate = read / secs;
        println!(
            "taxii2-client {}: {read:.0} indicators in {secs:.2} s, {py_rate:.0} indicators/s; apex-ioc-sync is {:.1}x faster",
            if mode == "parse" {
                "+ stix2-patterns"
            } else {
                "alone (no pattern parsing)"
            },
            rate / py_rate
        );
    }
}

/// The allocator of the apex-ioc-sync binary (see src/main.rs), so that the figures are its.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
