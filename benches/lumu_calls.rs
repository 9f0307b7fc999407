//! Lumu calls of the Lumu job (BASELINE VARIANT, for main's code): 2,500 incidents.
//! Cold run, unchanged run, 1% of incidents changed, and a cold start under Lumu's
//! 50-a-minute limit (a minute scaled to a second).

use std::time::{Duration, Instant};

use apex_ioc_sync::cli::{GlobalOpts, IocTypeArg, LoggingMode};
use apex_ioc_sync::commands::sync;
use apex_ioc_sync::exit::ExitCode;
use apex_ioc_sync::secret::Secret;
use apex_ioc_sync::settings::Settings;
use apex_ioc_sync::sim::apex::ApexSimConfig;
use apex_ioc_sync::sim::lumu::{Endpoint, LumuSim, RateLimit, generated_incidents};
use apex_ioc_sync::sim::{BackgroundApex, BackgroundLumu};

const INCIDENTS: usize = 2_500;
const IOCS_PER_INCIDENT: usize = 4;
const LUMU_LATENCY: Duration = Duration::from_millis(20);

struct Rig {
    apex: BackgroundApex,
    lumu: BackgroundLumu,
    settings: Settings,
    _dir: tempfile::TempDir,
}

fn start_rig() -> Rig {
    let apex = BackgroundApex::start(ApexSimConfig::random()).unwrap();
    let lumu = BackgroundLumu::start(&LumuSim::random_key()).unwrap();
    lumu.sim.control.faults.set_latency(LUMU_LATENCY);
    for incident in generated_incidents(0, INCIDENTS, IOCS_PER_INCIDENT) {
        lumu.sim.add(incident);
    }
    let dir = tempfile::tempdir().unwrap();
    let c = apex.sim.config();
    let settings = Settings::new(
        GlobalOpts {
            host: Some(apex.url()),
            application_id: Some(c.app_id.clone()),
            api_key: Some(Secret::new(&c.api_key)),
            company_key: Some(Secret::new(lumu.sim.company_key())),
            lumu_url: Some(lumu.url()),
            ioc_types: vec![
                IocTypeArg::Ip,
                IocTypeArg::Domain,
                IocTypeArg::Url,
                IocTypeArg::Hash,
            ],
            threads: Some(16),
            lock_file: Some(dir.path().join("bench.lock")),
            state_file: Some(dir.path().join("bench.db")),
            logging: Some(LoggingMode::File),
            log_file: Some(dir.path().join("bench.log")),
            ..GlobalOpts::default()
        },
        None,
    );
    Rig {
        apex,
        lumu,
        settings,
        _dir: dir,
    }
}

fn measure(runtime: &tokio::runtime::Runtime, rig: &Rig, name: &str) {
    rig.lumu.sim.reset_calls();
    let apex_before = rig.apex.sim.control.stats.counts();
    let started = Instant::now();
    let outcome = runtime.block_on(sync::run(&rig.settings));
    let wall = started.elapsed().as_secs_f64();
    assert!(matches!(outcome, Ok(ExitCode::Ok)), "{name}: {outcome:?}");
    let after = rig.apex.sim.control.stats.counts();
    let delta = |m: &str| after.get(m).unwrap_or(&0) - apex_before.get(m).unwrap_or(&0);
    let (list, context) = (
        rig.lumu.sim.calls(Endpoint::Incidents),
        rig.lumu.sim.calls(Endpoint::Context),
    );
    println!(
        "{name:<28} {list:>5} {context:>8} {:>6} {:>5} {:>6} {:>7} {wall:>9.2}",
        list + context,
        rig.lumu.sim.rate_limited(),
        delta("PUT"),
        delta("DELETE"),
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!(
        "{INCIDENTS} incidents x {IOCS_PER_INCIDENT} IOCs, Lumu latency {} ms",
        LUMU_LATENCY.as_millis()
    );
    println!(
        "{:<28} {:>5} {:>8} {:>6} {:>5} {:>6} {:>7} {:>9}",
        "run", "list", "context", "calls", "429", "PUT", "DELETE", "wall (s)"
    );
    let rig = start_rig();
    measure(&runtime, &rig, "cold run");
    measure(&runtime, &rig, "unchanged run");
    for incident in rig.lumu.sim.incidents().iter().step_by(100) {
        rig.lumu.sim.touch(
            &incident.id,
            Some(&format!("https://new.example/{}", incident.id)),
        );
    }
    measure(&runtime, &rig, "1% changed");
    drop(rig);

    let rig = start_rig();
    rig.lumu.sim.set_rate_limit(Some(RateLimit {
        per_window: 50,
        window: Duration::from_secs(1),
        per_day: 10_000,
    }));
    measure(&runtime, &rig, "cold start, 50/min (1)");
    measure(&runtime, &rig, "cold start, 50/min (2)");
}
