//! `apex-ioc-sync demo`: two real syncs over HTTP against simulated Lumu Defender and Apex
//! Central servers on loopback, printing the UDSO list after each. Same code path as a
//! scheduled run; no credentials, no network.

use crate::apex::udso::UdsoEntry;
use crate::cli::{GlobalOpts, IocTypeArg};
use crate::commands::{sync, udso};
use crate::exit::{ExitCode, Failure};
use crate::secret::Secret;
use crate::settings::Settings;
use crate::sim::apex::{ApexSim, ApexSimConfig};
use crate::sim::lumu::{Endpoint, LumuSim, SimIncident, sample_incidents};
use crate::{out, outln};

pub async fn run() -> Result<(), Failure> {
    let lock_file =
        std::env::temp_dir().join(format!("apex-ioc-sync-demo-{}.lock", std::process::id()));
    // The job's context cache, gone with the demo.
    let state_file =
        std::env::temp_dir().join(format!("apex-ioc-sync-demo-{}.db", std::process::id()));
    let outcome = runs(&lock_file, &state_file).await;
    let _ = std::fs::remove_file(lock_file);
    for suffix in ["", "-wal", "-shm"] {
        let mut path = state_file.clone().into_os_string();
        path.push(suffix);
        let _ = std::fs::remove_file(path);
    }
    outcome
}

async fn runs(lock_file: &std::path::Path, state_file: &std::path::Path) -> Result<(), Failure> {
    let apex = ApexSim::new(ApexSimConfig::random());
    let apex_server = apex.serve(0, None).await?;
    let lumu = LumuSim::new(&LumuSim::random_key());
    let lumu_server = lumu.serve(0).await?;
    let incidents = sample_incidents();
    for incident in &incidents {
        lumu.add(incident.clone());
    }
    // The SOC's own entries: one equals an IOC Lumu reports. Neither is ever touched.
    for (kind, content, notes) in [
        (
            "domain",
            "login-paypa1.example",
            "blocked by the SOC (ticket 4711)",
        ),
        ("ip", "192.0.2.77", "manual block"),
    ] {
        apex.insert(UdsoEntry {
            kind: kind.into(),
            content: content.into(),
            notes: notes.into(),
            scan_action: "block".into(),
            expiration_utc_date: None,
        });
    }
    let c = apex.config();
    let settings = Settings::new(
        GlobalOpts {
            host: Some(apex_server.url()),
            application_id: Some(c.app_id.clone()),
            api_key: Some(Secret::new(&c.api_key)),
            company_key: Some(Secret::new(lumu.company_key())),
            lumu_url: Some(lumu_server.url()),
            ioc_types: vec![
                IocTypeArg::Ip,
                IocTypeArg::Domain,
                IocTypeArg::Url,
                IocTypeArg::Hash,
            ],
            lock_file: Some(lock_file.to_owned()),
            state_file: Some(state_file.to_owned()),
            ..GlobalOpts::default()
        },
        None,
    );
    outln!("Simulated Apex Central:  {}", apex_server.url())?;
    outln!("Simulated Lumu Defender: {}", lumu_server.url())?;
    outln!("Each run is what a scheduled job does:")?;
    outln!(
        "  apex-ioc-sync --host {} --application-id ... --api-key ... \\\n    --lumu-url {} --company-key ... --ioc-types ip,domain,url,hash",
        apex_server.url(),
        lumu_server.url()
    )?;

    outln!(
        "\n== Run 1: first push ({} open incidents)",
        incidents.len()
    )?;
    let outcome = sync::run(&settings).await;
    show(&apex, outcome)?;

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
    let outcome = sync::run(&settings).await;
    show(&apex, outcome)?;

    outln!("\n== Run 3: nothing changed")?;
    let before = apex.control.stats.counts();
    lumu.reset_calls();
    let outcome = sync::run(&settings).await;
    let after = apex.control.stats.counts();
    outcome?;
    let writes = ["PUT", "DELETE"]
        .iter()
        .map(|m| after.get(*m).unwrap_or(&0) - before.get(*m).unwrap_or(&0))
        .sum::<u64>();
    outln!(
        "Apex: {} GET requests (the access check, then one list per type) and {writes} writes. \
         Lumu: {} incident page and {} contexts (unchanged incidents keep the context cached in \
         the state file).",
        after.get("GET").unwrap_or(&0) - before.get("GET").unwrap_or(&0),
        lumu.calls(Endpoint::Incidents),
        lumu.calls(Endpoint::Context)
    )?;
    outln!(
        "\nEntries without an apex-ioc-sync tag (the SOC's) were never touched, even the one whose \
         content Lumu reports too. Tear this job's entries down with --clean."
    )?;
    Ok(())
}

fn show(apex: &ApexSim, outcome: Result<ExitCode, Failure>) -> Result<(), Failure> {
    outcome?;
    outln!()?;
    out!("{}", udso::table(&apex.all_entries()))?;
    Ok(())
}
