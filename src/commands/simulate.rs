//! `apex-ioc-sync simulate`: a simulated Apex Central on loopback until Ctrl-C, for
//! rehearsing a job and its `.config` without touching production.

use std::time::Duration;

use crate::cli::SimulateArgs;
use crate::exit::Failure;
use crate::sim::apex::{ApexSim, ApexSimConfig};
use crate::sim::server::tls_config;

pub async fn run(args: &SimulateArgs) -> Result<(), Failure> {
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(tls_config(cert, key).map_err(Failure::usage)?),
        _ => None,
    };
    let config = ApexSimConfig {
        token_timeout: Duration::from_secs(args.token_timeout),
        capacity: args.capacity,
        ..ApexSimConfig::random()
    };
    let sim = ApexSim::new(config);
    sim.control
        .faults
        .set_latency(Duration::from_millis(args.latency_ms));
    let server = sim.serve(args.port, tls).await?;
    let url = server.url();
    let c = sim.config();
    println!("Simulated Apex Central listening on {url}");
    println!();
    println!("Use these options (or put them in a .config file):");
    println!("  host={url}");
    println!("  application-id={}", c.app_id);
    println!("  api-key={}", c.api_key);
    println!();
    println!("For example:");
    println!(
        "  apex-ioc-sync udso list --host {url} --application-id {} --api-key {}",
        c.app_id, c.api_key
    );
    println!();
    println!("The simulator keeps its list in memory. Press Ctrl-C to stop.");
    tokio::signal::ctrl_c().await?;
    server.stop();
    let counts = sim.control.stats.counts();
    println!(
        "Stopped after {} requests {counts:?}",
        sim.control.stats.total()
    );
    Ok(())
}
