//! Lumu calls of the Lumu job, against the simulated Lumu Defender (20 ms a request) and
//! Apex Central on loopback: 2,500 open incidents of 4 IOCs each.
//!
//! - a cold run (empty state file, `--max-context-calls 10000`), an unchanged run, and a run after 1% of the incidents
//!   changed (a new `lastContact` and a new trigger each). Targets (issue 10, DESIGN.md): an
//!   unchanged run costs the incident pages only (25 calls), 1% changed 25 contexts more.
//! - a cold start under Lumu's limit of 50 calls a minute, a minute scaled to a second, with
//!   `--max-context-calls 500`: it converges over several runs and never removes anything.
//!
//! Beside each, "today": the same run made the way the job worked before the context cache
//! (every context read on every run), measured here by running with an empty state file and
//! no budget. `cargo bench --bench lumu_calls`.

use std::time::{Duration, Instant};

use apex_ioc_sync::cli::{
    ApexOpts, IocTypeArg, LoggingMode, LoggingOpts, LumuOpts, Options, SyncOpts,
};
use apex_ioc_sync::commands::sync;
use apex_ioc_sync::exit::ExitCode;
use apex_ioc_sync::secret::Secret;
use apex_ioc_sync::settings::Settings;
use apex_ioc_sync::sim::apex::ApexSimConfig;
use apex_ioc_sync::sim::lumu::{Endpoint, LumuSim, RateLimit, generated_incidents};
use apex_ioc_sync::sim::{BackgroundApex, BackgroundLumu};
use apex_ioc_sync::source::lumu::DEFAULT_MAX_CONTEXT_CALLS;

const INCIDENTS: usize = 2_500;
const IOCS_PER_INCIDENT: usize = 4;
const LUMU_LATENCY: Duration = Duration::from_millis(20);
/// Lumu's 50 calls a minute, with the minute scaled to a second.
const SCALED_LIMIT: RateLimit = RateLimit {
    per_window: 50,
    window: Duration::from_secs(1),
    per_day: 10_000,
};
/// The small budget of the cold start under the limit.
const COLD_START_BUDGET: u32 = 500;

/// One simulated Lumu company and Apex server, and a job against them.
struct Rig {
    apex: BackgroundApex,
    lumu: BackgroundLumu,
    dir: tempfile::TempDir,
    runtime: tokio::runtime::Runtime,
}

/// What one run cost.
#[derive(Debug, Clone, Copy)]
struct Cost {
    list: u64,
    context: u64,
    rate_limited: u64,
    put: u64,
    delete: u64,
    wall: f64,
}

impl Cost {
    fn calls(&self) -> u64 {
        self.list + self.context
    }
}

impl Rig {
    fn new(limit: Option<RateLimit>) -> Self {
        let apex = BackgroundApex::start(ApexSimConfig::random()).unwrap();
        let lumu = BackgroundLumu::start(&LumuSim::random_key()).unwrap();
        lumu.sim.control.faults.set_latency(LUMU_LATENCY);
        lumu.sim.set_rate_limit(limit);
        for incident in generated_incidents(0, INCIDENTS, IOCS_PER_INCIDENT) {
            lumu.sim.add(incident);
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        Rig {
            apex,
            lumu,
            dir: tempfile::tempdir().unwrap(),
            runtime,
        }
    }

    /// One sync run (`max_context_calls`: `None` for the default). `today`: with an empty
    /// state file and no budget, as before the cache.
    fn run(&self, max_context_calls: Option<u32>, today: bool) -> Cost {
        let state = self.dir.path().join("bench.db");
        if today {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", state.display()));
            }
        }
        let c = self.apex.sim.config();
        let settings = Settings::new(
            Options {
                apex: ApexOpts {
                    host: Some(self.apex.url()),
                    application_id: Some(c.app_id.clone()),
                    api_key: Some(Secret::new(&c.api_key)),
                    ..ApexOpts::default()
                },
                lumu: LumuOpts {
                    company_key: Some(Secret::new(self.lumu.sim.company_key())),
                    lumu_url: self.lumu.url(),
                    max_context_calls: if today {
                        10_000
                    } else {
                        max_context_calls.unwrap_or(DEFAULT_MAX_CONTEXT_CALLS)
                    },
                    ..LumuOpts::default()
                },
                sync: SyncOpts {
                    ioc_types: vec![
                        IocTypeArg::Ip,
                        IocTypeArg::Domain,
                        IocTypeArg::Url,
                        IocTypeArg::Hash,
                    ],
                    threads: Some(16),
                    lock_file: Some(self.dir.path().join("bench.lock")),
                    state_file: Some(state),
                    ..SyncOpts::default()
                },
                logging: LoggingOpts {
                    logging: Some(LoggingMode::File),
                    log_file: Some(self.dir.path().join("bench.log")),
                    ..LoggingOpts::default()
                },
                ..Options::default()
            },
            None,
        );
        self.lumu.sim.reset_calls();
        let before = self.apex.sim.control.stats.counts();
        let started = Instant::now();
        let outcome = self.runtime.block_on(sync::run(&settings));
        let wall = started.elapsed().as_secs_f64();
        assert!(matches!(outcome, Ok(ExitCode::Ok)), "{outcome:?}");
        let after = self.apex.sim.control.stats.counts();
        let delta = |m: &str| after.get(m).unwrap_or(&0) - before.get(m).unwrap_or(&0);
        Cost {
            list: self.lumu.sim.calls(Endpoint::Incidents),
            context: self.lumu.sim.calls(Endpoint::Context),
            rate_limited: self.lumu.sim.rate_limited(),
            put: delta("PUT"),
            delete: delta("DELETE"),
            wall,
        }
    }

    /// A new `lastContact` and a new trigger for every 100th incident.
    fn change_one_percent(&self) -> usize {
        let incidents = self.lumu.sim.incidents();
        let changed: Vec<_> = incidents.iter().step_by(100).collect();
        for incident in &changed {
            let trigger = format!("https://changed.example/{}", incident.id);
            self.lumu.sim.touch(&incident.id, Some(&trigger));
        }
        changed.len()
    }

    fn owned(&self) -> usize {
        self.apex.sim.all_entries().len()
    }
}

fn header() {
    println!(
        "{:<26} | {:>11} {:>9} | {:>5} {:>8} {:>6} {:>5} {:>6} {:>7} {:>9}",
        "run",
        "today calls",
        "today (s)",
        "list",
        "contexts",
        "calls",
        "429s",
        "PUT",
        "DELETE",
        "wall (s)"
    );
}

fn row(name: &str, today: Option<Cost>, now: Cost) {
    let (calls, wall) = today.map_or(("".to_owned(), "".to_owned()), |t| {
        (t.calls().to_string(), format!("{:.2}", t.wall))
    });
    println!(
        "{name:<26} | {calls:>11} {wall:>9} | {:>5} {:>8} {:>6} {:>5} {:>6} {:>7} {:>9.2}",
        now.list,
        now.context,
        now.calls(),
        now.rate_limited,
        now.put,
        now.delete,
        now.wall
    );
}

fn main() {
    println!(
        "{INCIDENTS} open incidents x {IOCS_PER_INCIDENT} IOCs, Lumu latency {} ms; \
         \"today\": every context read on every run (as before the context cache)",
        LUMU_LATENCY.as_millis()
    );
    header();

    // The same three runs, the way it worked before and the way it works now.
    let (before, now) = (Rig::new(None), Rig::new(None));
    // No rate limit here: the cold run reads every context at once.
    let cold = (before.run(None, true), now.run(Some(10_000), false));
    row("cold run (no budget)", Some(cold.0), cold.1);
    let unchanged = (before.run(None, true), now.run(None, false));
    row("unchanged run", Some(unchanged.0), unchanged.1);
    let changed = before.change_one_percent();
    assert_eq!(now.change_one_percent(), changed);
    let one_percent = (before.run(None, true), now.run(None, false));
    row(
        &format!("1% changed ({changed} incidents)"),
        Some(one_percent.0),
        one_percent.1,
    );
    assert_eq!(unchanged.1.context, 0, "an unchanged run reads no context");
    assert_eq!(unchanged.1.calls(), 25);
    assert_eq!(one_percent.1.calls(), 25 + changed as u64);
    assert_eq!(
        one_percent.1.put, changed as u64,
        "the new triggers are pushed"
    );
    drop((before, now));

    // A cold start under 50 calls a minute (scaled: a second is a minute).
    println!(
        "\ncold start under {} calls a minute (scaled: 1 s stands for 1 min), \
         --max-context-calls {COLD_START_BUDGET}:",
        SCALED_LIMIT.per_window
    );
    header();
    let before = Rig::new(Some(SCALED_LIMIT));
    let today = before.run(None, true);
    drop(before);
    let now = Rig::new(Some(SCALED_LIMIT));
    let mut runs = 0;
    let mut deletes = 0;
    loop {
        runs += 1;
        let cost = now.run(Some(COLD_START_BUDGET), false);
        deletes += cost.delete;
        row(&format!("run {runs}"), (runs == 1).then_some(today), cost);
        if cost.context == 0 {
            break;
        }
        assert!(runs < 10, "no convergence");
    }
    assert_eq!(deletes, 0, "no removal churn");
    assert_eq!(now.owned(), INCIDENTS * IOCS_PER_INCIDENT, "converged");
    println!(
        "converged after {} runs reading contexts, {deletes} removals; today's single run \
         takes {:.1} (scaled) minutes, past a 30-minute schedule",
        runs - 1,
        today.wall
    );
}
