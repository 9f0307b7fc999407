//! Exclusions: matching 10,000 IOCs against lists of 100,000 entries (target, DESIGN.md:
//! well under 100 ms), loading those lists and MISP's 63,000-address public-dns-v4 list,
//! and what that list adds to a whole (dry) run of 10,000 IOCs against the simulated Apex.
//!
//! `cargo bench --bench exclusions`

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use apex_ioc_sync::apex::udso::ScanAction;
use apex_ioc_sync::cli::{
    ApexOpts, ExclusionOpts, FileOpts, IocTypeArg, LoggingMode, LoggingOpts, Options, SourceKind,
    SyncOpts,
};
use apex_ioc_sync::commands::sync;
use apex_ioc_sync::exit::ExitCode;
use apex_ioc_sync::model::desired::Desired;
use apex_ioc_sync::policy::Exclusions;
use apex_ioc_sync::secret::Secret;
use apex_ioc_sync::settings::Settings;
use apex_ioc_sync::sim::BackgroundApex;
use apex_ioc_sync::sim::apex::ApexSimConfig;
use apex_ioc_sync::text::detect;

const ENTRIES: usize = 100_000;
const IOCS: usize = 10_000;
const ROUNDS: usize = 15;

/// A plain list of `ENTRIES` entries: 40% domains, 30% addresses, 10% /24 blocks, 10% URL
/// prefixes, 10% SHA-1s.
fn plain_list(n: usize) -> String {
    let mut text = String::with_capacity(n * 32);
    for i in 0..n {
        let _ = match i % 10 {
            0..=3 => writeln!(text, "corp{i}.example"),
            4..=6 => writeln!(
                text,
                "45.{}.{}.{}",
                (i >> 16) & 255,
                (i >> 8) & 255,
                i & 255
            ),
            7 => writeln!(text, "46.{}.{}.0/24", (i >> 8) & 255, i & 255),
            8 => writeln!(text, "https://portal{i}.example/app/"),
            _ => writeln!(text, "{i:040x}"),
        };
    }
    text
}

/// `IOCS` IOCs of every kind; one in ten is on the list (the first `matching`).
fn iocs(n: usize) -> Vec<Desired> {
    let now = chrono::Utc::now();
    (0..n)
        .map(|i| {
            let listed = i % 10 == 0;
            // Entries are numbered as in `plain_list`: pick the one of the matching kind.
            let j = i * 10;
            let value = match i % 4 {
                0 if listed => format!("mail.corp{j}.example"),
                0 => format!("c2-{i}.evil.example"),
                1 if listed => format!(
                    "45.{}.{}.{}",
                    ((j + 4) >> 16) & 255,
                    ((j + 4) >> 8) & 255,
                    (j + 4) & 255
                ),
                1 => format!("198.18.{}.{}", (i >> 8) & 255, i & 255),
                2 if listed => format!("https://portal{}.example/app/login?x={i}", j + 8),
                2 => format!("http://drop-{i}.evil.example/p.php?id={i}"),
                _ if listed => format!("{:040x}", j + 9),
                _ => format!("{:040x}", 0xdead_0000_0000u64 + i as u64),
            };
            Desired {
                ioc: detect(&value).unwrap_or_else(|e| panic!("{value}: {e}")),
                scan_action: ScanAction::Block,
                reason: String::new(),
                seen: now,
            }
        })
        .collect()
}

/// The median and fastest of `ROUNDS` runs of `f`.
fn time<T>(mut f: impl FnMut() -> T) -> (Duration, Duration, T) {
    let mut times = Vec::with_capacity(ROUNDS);
    let mut last = None;
    for _ in 0..ROUNDS {
        let started = Instant::now();
        last = Some(f());
        times.push(started.elapsed());
    }
    times.sort();
    (times[ROUNDS / 2], times[0], last.expect("one round"))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn public_dns() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/misp-warninglists/public-dns-v4")
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("big.txt");
    std::fs::write(&list, plain_list(ENTRIES)).unwrap();
    let lists = [list.clone(), public_dns()];

    println!("{:<58} {:>10} {:>10}", "", "median ms", "best ms");
    let row = |name: &str, (median, best): (Duration, Duration)| {
        println!("{name:<58} {:>10.1} {:>10.1}", ms(median), ms(best));
    };
    let (median, best, _) = time(|| Exclusions::load(false, &[], &[public_dns()]).unwrap());
    row("load public-dns-v4 (62,745 addresses)", (median, best));
    let (median, best, _) =
        time(|| Exclusions::load(false, &[], std::slice::from_ref(&list)).unwrap());
    row("load a plain list of 100,000 entries", (median, best));
    let (median, best, exclusions) = time(|| Exclusions::load(true, &[], &lists).unwrap());
    row(
        "load the guard + both lists (162,745 entries)",
        (median, best),
    );

    let desired = iocs(IOCS);
    let (median, best, (kept, held)) = time(|| {
        let mut kept = desired.clone();
        let held = exclusions.screen(&mut kept);
        (kept.len(), held.len())
    });
    assert_eq!(held, IOCS / 10, "one in ten is listed");
    assert_eq!(kept + held, IOCS);
    row(
        &format!("screen {IOCS} IOCs ({held} excluded) against those"),
        (median, best),
    );

    // A whole scheduled run of 10,000 IOCs (a plain list) against the simulated Apex, once
    // they are on the list (list calls, no writes), with and without the public-dns-v4
    // list: what loading it costs a run.
    let feed = dir.path().join("feed.txt");
    let text: String = iocs(IOCS)
        .iter()
        .map(|d| format!("{}\n", d.ioc.value))
        .collect();
    std::fs::write(&feed, text).unwrap();
    let apex = BackgroundApex::start(ApexSimConfig::random()).unwrap();
    let c = apex.sim.config();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let settings = |exclude: Vec<PathBuf>| {
        Settings::new(
            Options {
                apex: ApexOpts {
                    host: Some(apex.url()),
                    application_id: Some(c.app_id.clone()),
                    api_key: Some(Secret::new(&c.api_key)),
                    ..ApexOpts::default()
                },
                files: FileOpts {
                    file: vec![feed.clone()],
                },
                sync: SyncOpts {
                    source: SourceKind::File,
                    ioc_types: vec![
                        IocTypeArg::Ip,
                        IocTypeArg::Domain,
                        IocTypeArg::Url,
                        IocTypeArg::Hash,
                    ],
                    lock_file: Some(dir.path().join("bench.lock")),
                    ..SyncOpts::default()
                },
                exclusions: ExclusionOpts {
                    exclude,
                    ..ExclusionOpts::default()
                },
                logging: LoggingOpts {
                    logging: Some(LoggingMode::File),
                    log_file: Some(dir.path().join("bench.log")),
                    ..LoggingOpts::default()
                },
                ..Options::default()
            },
            None,
        )
    };
    let cold = runtime.block_on(sync::run(&settings(vec![])));
    assert!(matches!(cold, Ok(ExitCode::Ok)), "{cold:?}");
    for (name, exclude) in [
        ("unchanged run of 10,000 IOCs, guard only", vec![]),
        (
            "unchanged run of 10,000 IOCs, guard + public-dns-v4",
            vec![public_dns()],
        ),
    ] {
        let settings = settings(exclude);
        let (median, best, outcome) = time(|| runtime.block_on(sync::run(&settings)));
        assert!(matches!(outcome, Ok(ExitCode::Ok)), "{outcome:?}");
        row(name, (median, best));
    }
}
