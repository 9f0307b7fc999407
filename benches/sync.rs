//! Destination round trips of the Lumu job, against the simulators on loopback with
//! injected latency: a cold push of 10,000 IOCs, an unchanged run, and 10% churn, at 4 and
//! 16 concurrent writes, to Apex Central and to Vision One. Targets (DESIGN.md): Apex's
//! cold push at 16 within 1.2x of the ideal 10,000 x 20 ms / 16 = 12.5 s; an unchanged run
//! makes list calls only; Vision One's cold push in at least 50 times fewer requests than
//! Apex's.
//!
//! The journal's cost: the same cold push to Apex at 16 writes at once with and without the
//! journal (every write stored before it is sent, each result as it arrives), the rows it
//! took, and the journal alone (no network) for as many writes.
//!
//! `cargo bench --bench sync` (set APEX_BENCH_IOCS to change the size, and
//! SYNC_BENCH_SINKS=apex, vision-one or journal to run one part only).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use apex_ioc_sync::cli::{
    ApexOpts, DestinationOpts, IocTypeArg, LoggingMode, LoggingOpts, LumuOpts, Options, SinkKind,
    SyncOpts, VisionOneOpts,
};
use apex_ioc_sync::commands::sync;
use apex_ioc_sync::exit::ExitCode;
use apex_ioc_sync::secret::Secret;
use apex_ioc_sync::settings::Settings;
use apex_ioc_sync::sim::apex::ApexSimConfig;
use apex_ioc_sync::sim::lumu::{LumuSim, generated_incidents};
use apex_ioc_sync::sim::vision_one::VisionOneSimConfig;
use apex_ioc_sync::sim::{BackgroundApex, BackgroundLumu, BackgroundVisionOne};

const LATENCY: Duration = Duration::from_millis(20);
const IOCS_PER_INCIDENT: usize = 4;

fn main() {
    let iocs: usize = std::env::var("APEX_BENCH_IOCS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let sinks =
        std::env::var("SYNC_BENCH_SINKS").unwrap_or_else(|_| "apex,vision-one,journal".into());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    if sinks.split(',').any(|s| s == "apex") {
        apex(iocs, &runtime);
    }
    if sinks.split(',').any(|s| s == "vision-one") {
        vision_one(iocs, &runtime);
    }
    if sinks.split(',').any(|s| s == "journal") {
        journal(iocs, &runtime);
    }
}

/// The Apex cold push at 16 writes at once, without and with the journal; then the journal
/// alone for as many writes.
fn journal(iocs: usize, runtime: &tokio::runtime::Runtime) {
    const THREADS: u16 = 16;
    println!(
        "\n{iocs} IOCs, Apex cold push at {THREADS} writes at once, latency {} ms: the journal's cost",
        LATENCY.as_millis()
    );
    println!(
        "{:<16}  {:>9}  {:>9}  {:>11}  {:>10}",
        "journal", "wall (s)", "ideal (s)", "rows (runs)", "file (MiB)"
    );
    for journalled in [false, true] {
        let apex = BackgroundApex::start(ApexSimConfig::random()).unwrap();
        apex.sim.control.faults.set_latency(LATENCY);
        let lumu = lumu_with(iocs);
        let dir = tempfile::tempdir().unwrap();
        let c = apex.sim.config();
        let settings = Settings::new(
            Options {
                apex: ApexOpts {
                    host: Some(apex.url()),
                    application_id: Some(c.app_id.clone()),
                    api_key: Some(Secret::new(&c.api_key)),
                    ..ApexOpts::default()
                },
                ..job_options(&lumu, dir.path(), THREADS)
            },
            None,
        );
        let settings = if journalled {
            settings
        } else {
            settings.without_journal()
        };
        let started = Instant::now();
        let outcome = runtime.block_on(sync::run(&settings));
        let wall = started.elapsed().as_secs_f64();
        assert!(matches!(outcome, Ok(ExitCode::Ok)), "{outcome:?}");
        let writes = apex.sim.control.stats.count("PUT") + apex.sim.control.stats.count("DELETE");
        let ideal = writes as f64 * LATENCY.as_secs_f64() / f64::from(THREADS);
        let state = dir.path().join("bench.db");
        let (rows, runs) = if journalled {
            let conn = rusqlite::Connection::open(&state).unwrap();
            let count = |table: &str| -> i64 {
                conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
                    .unwrap()
            };
            (count("journal_writes"), count("journal_runs"))
        } else {
            (0, 0)
        };
        let size = std::fs::metadata(&state).map_or(0, |m| m.len()) as f64 / (1 << 20) as f64;
        println!(
            "{:<16}  {wall:>9.2}  {ideal:>9.2}  {:>11}  {size:>10.1}",
            if journalled { "on" } else { "off (bench only)" },
            format!("{rows} ({runs})")
        );
    }
    journal_alone(iocs);
}

/// The journal without the network: `iocs` writes stored as planned in one transaction,
/// then each result in a transaction of its own, as a run stores them.
fn journal_alone(iocs: usize) {
    use apex_ioc_sync::ioc::IocKind;
    use apex_ioc_sync::model::{Outcome, Put, ScanAction, Write};
    use apex_ioc_sync::state::journal::{Journal, NewRun, Op, PlannedWrite, RunKind};

    let dir = tempfile::tempdir().unwrap();
    let now = chrono::Utc::now();
    let mut run = Journal::open(&dir.path().join("alone.db"))
        .unwrap()
        .begin(&NewRun {
            id: "bench",
            tag: "lumu",
            kind: RunKind::Sync,
            source: "lumu",
            sink: "apex",
            location: "https://apex.example",
            dry_run: false,
            forced: false,
            undoes: None,
            started: now,
        })
        .unwrap();
    let puts: Vec<Put> = (0..iocs)
        .map(|i| Put {
            kind: IocKind::Domain,
            content: format!("d{i}.example"),
            notes: format!("apex-ioc-sync:lumu C2C incident {i:08x}-0000-4000-8000-000000000000"),
            scan_action: ScanAction::Block,
            expiration: Some(now),
        })
        .collect();
    let planned: Vec<PlannedWrite> = puts
        .iter()
        .map(|p| PlannedWrite {
            op: Op::Add,
            kind: p.kind,
            content: p.content.clone(),
            value: Some(p.content.clone()),
            scan_action: Some("block".into()),
            expires: p.expiration,
            notes: Some(p.notes.clone()),
            previous: None,
        })
        .collect();
    let started = Instant::now();
    run.planned(&planned).unwrap();
    let planning = started.elapsed().as_secs_f64();
    let started = Instant::now();
    for put in puts {
        run.result(&Write::Put(put), Outcome::Done);
    }
    let results = started.elapsed().as_secs_f64();
    assert!(run.error().is_none());
    run.finish(0).unwrap();
    println!(
        "journal alone: {iocs} writes planned in {:.0} ms (one transaction), {iocs} results in {:.0} ms ({:.0} us each, a transaction each)",
        planning * 1e3,
        results * 1e3,
        results * 1e6 / iocs as f64
    );
}

/// A Lumu simulator with `iocs` IOCs in incidents of [`IOCS_PER_INCIDENT`].
fn lumu_with(iocs: usize) -> BackgroundLumu {
    let lumu = BackgroundLumu::start(&LumuSim::random_key()).unwrap();
    for incident in generated_incidents(0, iocs / IOCS_PER_INCIDENT, IOCS_PER_INCIDENT) {
        lumu.sim.add(incident);
    }
    lumu
}

/// The options of the Lumu job (every IOC type Lumu gives), with `threads` writes at once.
fn job_options(lumu: &BackgroundLumu, dir: &std::path::Path, threads: u16) -> Options {
    Options {
        lumu: LumuOpts {
            company_key: Some(Secret::new(lumu.sim.company_key())),
            lumu_url: lumu.url(),
            // Every context in the cold push (no rate limit here to budget for).
            max_context_calls: 10_000,
            ..LumuOpts::default()
        },
        sync: SyncOpts {
            ioc_types: vec![
                IocTypeArg::Ip,
                IocTypeArg::Domain,
                IocTypeArg::Url,
                IocTypeArg::Hash,
            ],
            threads: Some(threads),
            lock_file: Some(dir.join("bench.lock")),
            state_file: Some(dir.join("bench.db")),
            // The cold push is 10,000 adds on purpose: past the add brake's default.
            max_adds: usize::MAX,
            ..SyncOpts::default()
        },
        logging: LoggingOpts {
            logging: Some(LoggingMode::File),
            log_file: Some(dir.join("bench.log")),
            ..LoggingOpts::default()
        },
        ..Options::default()
    }
}

/// 10% churn: a tenth of the incidents close, as many new ones open.
fn churn(lumu: &BackgroundLumu, iocs: usize) {
    let incidents = iocs / IOCS_PER_INCIDENT;
    let churn = incidents / 10;
    for incident in lumu.sim.incidents().iter().take(churn) {
        lumu.sim.set_status(&incident.id, "closed");
    }
    for incident in generated_incidents(incidents, churn, IOCS_PER_INCIDENT) {
        lumu.sim.add(incident);
    }
}

/// The same job against the simulated Vision One: requests by endpoint and wall time.
fn vision_one(iocs: usize, runtime: &tokio::runtime::Runtime) {
    println!(
        "\n{iocs} IOCs ({} incidents x {IOCS_PER_INCIDENT}), Vision One latency {} ms per request",
        iocs / IOCS_PER_INCIDENT,
        LATENCY.as_millis()
    );
    println!(
        "{:>7}  {:<10}  {:>5}  {:>5}  {:>7}  {:>8}  {:>9}",
        "threads", "run", "list", "add", "delete", "requests", "wall (s)"
    );
    for threads in [4u16, 16] {
        let v1 = BackgroundVisionOne::start(VisionOneSimConfig::random()).unwrap();
        v1.sim.control.faults.set_latency(LATENCY);
        let lumu = lumu_with(iocs);
        let dir = tempfile::tempdir().unwrap();
        let settings = Settings::new(
            Options {
                destination: DestinationOpts {
                    sink: SinkKind::VisionOne,
                },
                vision_one: VisionOneOpts {
                    v1_url: Some(v1.url()),
                    v1_token: Some(Secret::new(&v1.sim.config().token)),
                    ..VisionOneOpts::default()
                },
                ..job_options(&lumu, dir.path(), threads)
            },
            None,
        );
        let measure = |name: &str| {
            let before = v1.sim.endpoint_counts();
            let started = Instant::now();
            let outcome = runtime.block_on(sync::run(&settings));
            let wall = started.elapsed().as_secs_f64();
            assert!(matches!(outcome, Ok(ExitCode::Ok)), "{name}: {outcome:?}");
            let after = v1.sim.endpoint_counts();
            let delta = |e: &str| after.get(e).unwrap_or(&0) - before.get(e).unwrap_or(&0);
            let total: u64 = ["list", "add", "delete", "other"]
                .iter()
                .map(|e| delta(e))
                .sum();
            println!(
                "{threads:>7}  {name:<10}  {:>5}  {:>5}  {:>7}  {total:>8}  {wall:>9.2}",
                delta("list"),
                delta("add"),
                delta("delete")
            );
        };
        measure("cold push");
        measure("unchanged");
        churn(&lumu, iocs);
        measure("10% churn");
    }
}

/// The job against the simulated Apex Central.
fn apex(iocs: usize, runtime: &tokio::runtime::Runtime) {
    println!(
        "{iocs} IOCs ({} incidents x {IOCS_PER_INCIDENT}), Apex latency {} ms per request",
        iocs / IOCS_PER_INCIDENT,
        LATENCY.as_millis()
    );
    println!(
        "{:>7}  {:<10}  {:>6}  {:>6}  {:>7}  {:>9}  {:>9}",
        "threads", "run", "GET", "PUT", "DELETE", "wall (s)", "ideal (s)"
    );
    for threads in [4u16, 16] {
        let apex = BackgroundApex::start(ApexSimConfig::random()).unwrap();
        apex.sim.control.faults.set_latency(LATENCY);
        let lumu = lumu_with(iocs);
        let dir = tempfile::tempdir().unwrap();
        let c = apex.sim.config();
        let settings = Settings::new(
            Options {
                apex: ApexOpts {
                    host: Some(apex.url()),
                    application_id: Some(c.app_id.clone()),
                    api_key: Some(Secret::new(&c.api_key)),
                    ..ApexOpts::default()
                },
                ..job_options(&lumu, dir.path(), threads)
            },
            None,
        );
        let measure = |name: &str| {
            let before = apex.sim.control.stats.counts();
            let started = Instant::now();
            let outcome = runtime.block_on(sync::run(&settings));
            let wall = started.elapsed().as_secs_f64();
            assert!(matches!(outcome, Ok(ExitCode::Ok)), "{name}: {outcome:?}");
            let after = apex.sim.control.stats.counts();
            let delta = |m: &str| after.get(m).unwrap_or(&0) - before.get(m).unwrap_or(&0);
            let writes = delta("PUT") + delta("DELETE");
            let ideal = (writes as f64 * LATENCY.as_secs_f64()) / f64::from(threads);
            println!(
                "{threads:>7}  {name:<10}  {:>6}  {:>6}  {:>7}  {wall:>9.2}  {ideal:>9.2}",
                delta("GET"),
                delta("PUT"),
                delta("DELETE")
            );
            BTreeMap::from([("wall", wall), ("ideal", ideal)])
        };
        let cold = measure("cold push");
        measure("unchanged");
        churn(&lumu, iocs);
        measure("10% churn");
        println!(
            "{threads:>7}  cold push / ideal = {:.2}x",
            cold["wall"] / cold["ideal"]
        );
    }
}
