//! How fast `watch` blocks a new Lumu incident, and what it costs while idle: the real
//! binary (`apex-ioc-sync watch`, default options) against the simulated Lumu and Apex
//! Central on loopback, every request to either delayed 20 ms.
//!
//! A company with `WATCH_BENCH_BASE` open incidents (default 1,000, 4 IOCs each) is synced
//! first; then `WATCH_BENCH_INCIDENTS` new incidents (default 500; the reported run has at
//! least 500) open at random moments, `WATCH_BENCH_MEAN_MS` apart on average (default 400,
//! exponentially distributed), each with a domain (its adversary) and a URL (a threat
//! trigger: a context read). For each: the time from its creation to the last of its
//! IOCs' PUTs answered by Apex (p50, p99, max). Target (issue 21): p99 under 5 s.
//!
//! Then the idle cost: Lumu calls over `WATCH_BENCH_IDLE_SECS` (default 300) with nothing
//! happening, per hour, and the full sync's calls (every 30 minutes by default). Lumu's rate
//! limit is not simulated here: the arrival rate is far above any real company's, and the
//! measurement is of the path, not of the quota.
//!
//! `cargo bench --bench watch`.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use apex_ioc_sync::ioc::IocKind;
use apex_ioc_sync::sim::apex::ApexSimConfig;
use apex_ioc_sync::sim::lumu::{Endpoint, LumuSim, SimIncident, generated_incidents, random_uuid};
use apex_ioc_sync::sim::{BackgroundApex, BackgroundLumu};

const LATENCY: Duration = Duration::from_millis(20);
const BASE_IOCS_PER_INCIDENT: usize = 4;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A pause drawn from the exponential distribution of mean `mean` (arrivals at random
/// moments: a Poisson process).
fn exponential(mean: Duration) -> Duration {
    let u = fastrand::f64().max(f64::MIN_POSITIVE);
    mean.mul_f64(-u.ln())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn start_watch(dir: &Path, apex: &BackgroundApex, lumu: &BackgroundLumu) -> Child {
    let c = apex.sim.config();
    Command::new(env!("CARGO_BIN_EXE_apex-ioc-sync"))
        .current_dir(dir)
        .arg("watch")
        .args(["--host", &apex.url(), "--application-id", &c.app_id])
        .args(["--api-key", &c.api_key])
        .args([
            "--lumu-url",
            &lumu.url(),
            "--company-key",
            lumu.sim.company_key(),
        ])
        .args([
            "--ioc-types",
            "ip,domain,url",
            "--max-context-calls",
            "10000",
        ])
        .args(["--logging", "file", "--log-file", "watch.log"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the watch starts")
}

fn stop(mut watch: Child) {
    #[cfg(unix)]
    {
        let _ = Command::new("kill")
            .args(["-TERM", &watch.id().to_string()])
            .status();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(status)) = watch.try_wait() {
                println!(
                    "SIGTERM: the watch stopped in {:.2} s, {status}",
                    started.elapsed().as_secs_f64()
                );
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    let _ = watch.kill();
    let _ = watch.wait();
}

fn main() {
    let incidents = env("WATCH_BENCH_INCIDENTS", 500) as usize;
    let mean = Duration::from_millis(env("WATCH_BENCH_MEAN_MS", 400));
    let base = env("WATCH_BENCH_BASE", 1_000) as usize;
    let idle = Duration::from_secs(env("WATCH_BENCH_IDLE_SECS", 300));

    let apex = BackgroundApex::start(ApexSimConfig::random()).unwrap();
    apex.sim.control.faults.set_latency(LATENCY);
    let lumu = BackgroundLumu::start(&LumuSim::random_key()).unwrap();
    lumu.sim.control.faults.set_latency(LATENCY);
    for incident in generated_incidents(0, base, BASE_IOCS_PER_INCIDENT) {
        lumu.sim.add(incident);
    }
    let dir = tempfile::tempdir().unwrap();
    println!(
        "watch: {base} open incidents ({} IOCs), then {incidents} new ones {} ms apart on \
         average; Apex and Lumu answer in {} ms",
        base * BASE_IOCS_PER_INCIDENT,
        mean.as_millis(),
        LATENCY.as_millis()
    );
    let started = Instant::now();
    let watch = start_watch(dir.path(), &apex, &lumu);
    // The first full sync: every IOC of the company on the list (the hashes are not chosen).
    let expected = base * BASE_IOCS_PER_INCIDENT * 3 / 4;
    while apex.sim.all_entries().len() < expected {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "the first full sync did not finish"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let first_sync_calls = lumu.sim.calls(Endpoint::Incidents) + lumu.sim.calls(Endpoint::Context);
    println!(
        "first full sync: {:.1} s, {first_sync_calls} Lumu calls ({} incident pages, {} contexts)",
        started.elapsed().as_secs_f64(),
        lumu.sim.calls(Endpoint::Incidents),
        lumu.sim.calls(Endpoint::Context)
    );
    // Let it reach the journal.
    std::thread::sleep(Duration::from_secs(2));

    // New incidents at random moments.
    let opened: Vec<(String, String, Instant)> = std::thread::scope(|scope| {
        let opener = scope.spawn(|| {
            let mut opened = Vec::with_capacity(incidents);
            for i in 0..incidents {
                std::thread::sleep(exponential(mean));
                let domain = format!("w-{i}.example.org");
                let url = format!("https://drop-w-{i}.example.net/gate.php");
                let incident = SimIncident::open(
                    &random_uuid(),
                    chrono::Duration::zero(),
                    &[&domain],
                    &["C2C"],
                )
                .with_triggers(&[&url]);
                let created = Instant::now();
                lumu.sim.open_incident(incident);
                opened.push((domain, url, created));
            }
            opened
        });
        opener.join().unwrap()
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut latencies = Vec::with_capacity(incidents);
    for (domain, url, created) in &opened {
        let answered = loop {
            let times = (
                apex.sim.first_put_at(IocKind::Domain, domain),
                apex.sim.first_put_at(IocKind::Url, url),
            );
            if let (Some(a), Some(b)) = times {
                break a.max(b);
            }
            assert!(Instant::now() < deadline, "{domain} was never pushed");
            std::thread::sleep(Duration::from_millis(20));
        };
        latencies.push(answered.saturating_duration_since(*created));
    }
    latencies.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "creation to PUT answered over {} incidents: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms, \
         min {:.0} ms",
        latencies.len(),
        ms(percentile(&latencies, 50.0)),
        ms(percentile(&latencies, 99.0)),
        ms(*latencies.last().unwrap()),
        ms(latencies[0])
    );
    let puts = apex.sim.control.stats.count("PUT");
    let gets = apex.sim.control.stats.count("GET");
    println!(
        "Apex requests since the start: {gets} GET, {puts} PUT; Lumu: {} journal calls, {} \
         context reads",
        lumu.sim.calls(Endpoint::Updates),
        lumu.sim.calls(Endpoint::Context)
    );

    // Idle: nothing happens.
    std::thread::sleep(Duration::from_secs(2));
    lumu.sim.reset_calls();
    std::thread::sleep(idle);
    let journal = lumu.sim.calls(Endpoint::Updates);
    let other = lumu.sim.calls(Endpoint::Incidents) + lumu.sim.calls(Endpoint::Context);
    let per_hour = journal as f64 * 3600.0 / idle.as_secs_f64();
    let pages = (base + incidents).div_ceil(100);
    println!(
        "idle for {} s: {journal} journal calls, {other} other Lumu calls: {per_hour:.0} journal \
         calls an hour, plus {pages} incident pages per full sync ({} an hour at the default \
         30 minutes): {:.0} an hour, {:.0} a day of Lumu's 10,000",
        idle.as_secs(),
        2 * pages,
        per_hour + 2.0 * pages as f64,
        24.0 * (per_hour + 2.0 * pages as f64)
    );
    stop(watch);
    let p99 = percentile(&latencies, 99.0);
    assert!(
        incidents < 500 || p99 < Duration::from_secs(5),
        "p99 {p99:?} over 5 s"
    );
}
