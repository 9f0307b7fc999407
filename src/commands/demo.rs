//! `apex-ioc-sync demo`: three real syncs over HTTP against a simulated Lumu Defender and a
//! simulated destination on loopback (Apex Central, or with `--sink vision-one` Vision One),
//! printing the destination's list after each, then a `watch` that follows the simulated
//! Lumu's incident stream while an incident opens and closes. Same code path as a scheduled
//! run and a service; no credentials, no network.

use std::path::Path;
use std::sync::Arc;

use crate::apex::udso::UdsoEntry;
use crate::cli::{
    ApexOpts, DestinationOpts, IocTypeArg, LumuOpts, Options, SinkKind, SyncOpts, VisionOneOpts,
    WatchOpts,
};
use crate::commands::{list, sync, udso, watch};
use crate::exit::Failure;
use crate::model::Listed;
use crate::output::OutputError;
use crate::secret::Secret;
use crate::settings::Settings;
use crate::sim::apex::{ApexSim, ApexSimConfig};
use crate::sim::lumu::{Endpoint, LumuSim, SimIncident, sample_incidents};
use crate::sim::server::RunningServer;
use crate::sim::vision_one::{SimObject, VisionOneSim, VisionOneSimConfig};
use crate::sink::vision_one::ObjectType;
use crate::{out, outln};

/// The SOC's own entries: one equals an IOC Lumu reports. Neither is ever touched.
const SOC_ENTRIES: [(ObjectType, &str, &str); 2] = [
    (
        ObjectType::Domain,
        "login-paypa1.example",
        "blocked by the SOC (ticket 4711)",
    ),
    (ObjectType::Ip, "192.0.2.77", "manual block"),
];

/// The simulated destination of the demo.
enum Destination {
    Apex(Arc<ApexSim>, RunningServer),
    VisionOne(Arc<VisionOneSim>, RunningServer),
}

impl Destination {
    async fn start(sink: SinkKind) -> Result<Self, Failure> {
        Ok(match sink {
            SinkKind::Apex => {
                let apex = ApexSim::new(ApexSimConfig::random());
                let server = apex.serve(0, None).await?;
                for (object_type, content, notes) in SOC_ENTRIES {
                    apex.insert(UdsoEntry {
                        kind: object_type.key().into(),
                        content: content.into(),
                        notes: notes.into(),
                        scan_action: "block".into(),
                        expiration_utc_date: None,
                    });
                }
                Destination::Apex(apex, server)
            }
            SinkKind::VisionOne => {
                let v1 = VisionOneSim::new(VisionOneSimConfig::random());
                let server = v1.serve(0, None).await?;
                for (object_type, value, description) in SOC_ENTRIES {
                    v1.insert(SimObject::new(object_type, value, description));
                }
                Destination::VisionOne(v1, server)
            }
        })
    }

    /// The options that point a job at it.
    fn options(&self) -> Options {
        match self {
            Destination::Apex(apex, server) => {
                let c = apex.config();
                Options {
                    apex: ApexOpts {
                        host: Some(server.url()),
                        application_id: Some(c.app_id.clone()),
                        api_key: Some(Secret::new(&c.api_key)),
                        ..ApexOpts::default()
                    },
                    ..Options::default()
                }
            }
            Destination::VisionOne(v1, server) => Options {
                destination: DestinationOpts {
                    sink: SinkKind::VisionOne,
                },
                vision_one: VisionOneOpts {
                    v1_url: Some(server.url()),
                    v1_token: Some(Secret::new(&v1.config().token)),
                    ..VisionOneOpts::default()
                },
                ..Options::default()
            },
        }
    }

    fn banner(&self, lumu_url: &str) -> Result<(), OutputError> {
        match self {
            Destination::Apex(_, server) => {
                outln!("Simulated Apex Central:  {}", server.url())?;
                outln!("Simulated Lumu Defender: {lumu_url}")?;
                outln!("Each run is what a scheduled job does:")?;
                outln!(
                    "  apex-ioc-sync --host {} --application-id ... --api-key ... \\\n    --lumu-url {lumu_url} --company-key ... --ioc-types ip,domain,url,hash",
                    server.url(),
                )
            }
            Destination::VisionOne(_, server) => {
                outln!("Simulated Trend Vision One: {}", server.url())?;
                outln!("Simulated Lumu Defender:    {lumu_url}")?;
                outln!("Each run is what a scheduled job does:")?;
                outln!(
                    "  apex-ioc-sync --sink vision-one --v1-url {} --v1-token ... \\\n    --lumu-url {lumu_url} --company-key ... --ioc-types ip,domain,url,hash",
                    server.url(),
                )
            }
        }
    }

    /// The list as it stands, as a table.
    fn table(&self) -> String {
        match self {
            Destination::Apex(apex, _) => udso::table(&apex.all_entries()),
            Destination::VisionOne(v1, _) => {
                let records: Vec<Listed> = v1
                    .all_objects()
                    .into_iter()
                    .filter_map(|o| {
                        let kind = o.object_type.ioc_kind()?;
                        Some(Listed {
                            kind,
                            ioc: crate::ioc::Ioc::new(kind, &o.value).ok(),
                            raw: o.value,
                            notes: o.description,
                            scan_action: o.scan_action,
                            expires: o.expires,
                            settings_differ: false,
                        })
                    })
                    .collect();
                list::table(&records)
            }
        }
    }

    /// Requests answered so far: (list calls, writes).
    fn calls(&self) -> (u64, u64) {
        match self {
            Destination::Apex(apex, _) => {
                let counts = apex.control.stats.counts();
                let count = |m: &str| counts.get(m).copied().unwrap_or(0);
                (count("GET"), count("PUT") + count("DELETE"))
            }
            Destination::VisionOne(v1, _) => (
                v1.endpoint_count("list"),
                v1.endpoint_count("add") + v1.endpoint_count("delete"),
            ),
        }
    }

    /// Whether the list holds an entry with `content`.
    fn holds(&self, content: &str) -> bool {
        match self {
            Destination::Apex(apex, _) => apex.all_entries().iter().any(|e| e.content == content),
            Destination::VisionOne(v1, _) => v1.all_objects().iter().any(|o| o.value == content),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Destination::Apex(..) => "Apex",
            Destination::VisionOne(..) => "Vision One",
        }
    }

    fn stop(self) {
        match self {
            Destination::Apex(_, server) | Destination::VisionOne(_, server) => server.stop(),
        }
    }
}

pub async fn run(sink: SinkKind) -> Result<(), Failure> {
    let lock_file =
        std::env::temp_dir().join(format!("apex-ioc-sync-demo-{}.lock", std::process::id()));
    // The job's context cache, gone with the demo.
    let state_file =
        std::env::temp_dir().join(format!("apex-ioc-sync-demo-{}.db", std::process::id()));
    let outcome = runs(sink, &lock_file, &state_file).await;
    let _ = std::fs::remove_file(lock_file);
    for suffix in ["", "-wal", "-shm"] {
        let mut path = state_file.clone().into_os_string();
        path.push(suffix);
        let _ = std::fs::remove_file(path);
    }
    outcome
}

/// Run 4: `watch` follows the simulated Lumu's incident stream; an incident opens, and is
/// closed, while it runs.
async fn watch_run(
    settings: &Settings,
    destination: &Destination,
    lumu: &LumuSim,
) -> Result<(), Failure> {
    outln!(
        "\n== Run 4: apex-ioc-sync watch follows Lumu's incident stream; an incident opens, then closes"
    )?;
    let opts = WatchOpts {
        long_poll_seconds: 5,
        ..WatchOpts::default()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let watching = watch::run_until(settings, &opts, async {
        let _ = stopped.await;
    });
    let drive = async {
        let outcome = drive_watch(destination, lumu).await;
        let _ = stop.send(());
        outcome
    };
    let (watched, driven) = tokio::join!(watching, drive);
    watched?;
    let (pushed, removed) = driven?;
    outln!(
        "The new incident's IOCs were on the list {} ms after it opened, and off it {} ms after it \
         closed; a scheduled job would have taken up to 30 minutes.",
        pushed.as_millis(),
        removed.as_millis()
    )?;
    Ok(())
}

/// Opens an incident once the watch follows the journal, waits for its IOC on the list,
/// closes it and waits for the IOC to go: how long each took.
async fn drive_watch(
    destination: &Destination,
    lumu: &LumuSim,
) -> Result<(std::time::Duration, std::time::Duration), Failure> {
    use std::time::{Duration, Instant};
    async fn until(what: &str, done: impl Fn() -> bool) -> Result<Duration, Failure> {
        let started = Instant::now();
        while !done() {
            if started.elapsed() > Duration::from_secs(60) {
                return Err(Failure::from(anyhow::anyhow!(
                    "the demo's watch: no {what} within a minute"
                )));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(started.elapsed())
    }
    // Following: its first full sync has listed the incidents, and it waits on the journal.
    let listed = lumu.calls(Endpoint::Incidents);
    until("full sync", || lumu.calls(Endpoint::Incidents) > listed).await?;
    let asked = lumu.calls(Endpoint::Updates);
    until("call to the journal", || {
        lumu.calls(Endpoint::Updates) > asked
    })
    .await?;
    let id = "1b1f6d6e-5c1a-4a8e-9d3e-000000000008";
    lumu.open_incident(
        SimIncident::open(
            id,
            chrono::Duration::zero(),
            &["fresh-c2.example"],
            &["C2C"],
        )
        .with_triggers(&["https://fresh-c2.example/gate.php"]),
    );
    let pushed = until("push", || destination.holds("fresh-c2.example")).await?;
    lumu.set_status(id, "closed");
    let removed = until("removal", || !destination.holds("fresh-c2.example")).await?;
    // The batch ends with its summary line and its commit, then the watch asks the journal
    // again: stopped before that, it would abandon the batch (and its line) uncommitted.
    let asked = lumu.calls(Endpoint::Updates);
    until("call to the journal after the close", || {
        lumu.calls(Endpoint::Updates) > asked
    })
    .await?;
    Ok((pushed, removed))
}

async fn runs(sink: SinkKind, lock_file: &Path, state_file: &Path) -> Result<(), Failure> {
    let destination = Destination::start(sink).await?;
    let lumu = LumuSim::new(&LumuSim::random_key());
    let lumu_server = lumu.serve(0).await?;
    let incidents = sample_incidents();
    for incident in &incidents {
        lumu.add(incident.clone());
    }
    let settings = Settings::new(
        Options {
            lumu: LumuOpts {
                company_key: Some(Secret::new(lumu.company_key())),
                lumu_url: lumu_server.url(),
                ..LumuOpts::default()
            },
            sync: SyncOpts {
                ioc_types: vec![
                    IocTypeArg::Ip,
                    IocTypeArg::Domain,
                    IocTypeArg::Url,
                    IocTypeArg::Hash,
                ],
                lock_file: Some(lock_file.to_owned()),
                state_file: Some(state_file.to_owned()),
                ..SyncOpts::default()
            },
            ..destination.options()
        },
        None,
    );
    destination.banner(&lumu_server.url())?;

    outln!(
        "\n== Run 1: first push ({} open incidents)",
        incidents.len()
    )?;
    sync::run(&settings).await?;
    outln!()?;
    out!("{}", destination.table())?;

    let closed = [&incidents[0].id, &incidents[1].id];
    for id in closed {
        lumu.set_status(id, "closed");
    }
    let h = chrono::Duration::hours;
    lumu.add(
        SimIncident::open(
            "1b1f6d6e-5c1a-4a8e-9d3e-000000000006",
            h(1),
            &["update-check.example"],
            &["C2C"],
        )
        .with_triggers(&["https://update-check.example/v2/beacon"]),
    );
    lumu.add(SimIncident::open(
        "1b1f6d6e-5c1a-4a8e-9d3e-000000000007",
        h(0),
        &["203.0.113.99"],
        &["Spam"],
    ));
    outln!("\n== Run 2: two incidents closed, two new ones opened")?;
    sync::run(&settings).await?;
    outln!()?;
    out!("{}", destination.table())?;

    outln!("\n== Run 3: nothing changed")?;
    let (lists_before, writes_before) = destination.calls();
    lumu.reset_calls();
    sync::run(&settings).await?;
    let (lists_after, writes_after) = destination.calls();
    outln!(
        "{}: {} list calls (the access check included) and {} writes. Lumu: {} incident \
         page and {} contexts (unchanged incidents keep the context cached in the state file).",
        destination.name(),
        lists_after - lists_before,
        writes_after - writes_before,
        lumu.calls(Endpoint::Incidents),
        lumu.calls(Endpoint::Context)
    )?;
    watch_run(&settings, &destination, &lumu).await?;
    outln!(
        "\nEntries without an apex-ioc-sync tag (the SOC's) were never touched, even the one whose \
         content Lumu reports too. The empty file's SHA-1, which one incident names, was held \
         back by the built-in guard (builtin:empty-file-hash): blocking it would block every \
         empty file. Tear this job's entries down with --clean."
    )?;
    destination.stop();
    lumu_server.stop();
    Ok(())
}
