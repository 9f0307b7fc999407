//! `apex-ioc-sync simulate`: simulated Apex Central, Lumu Defender, TAXII and Trend Vision One
//! servers on loopback until Ctrl-C, for rehearsing a job and its `.config` without touching
//! production.

use std::time::Duration;

use crate::cli::SimulateArgs;
use crate::exit::Failure;
use crate::output::OutputError;
use crate::sim::apex::{ApexSim, ApexSimConfig};
use crate::sim::lumu::{LumuSim, RateLimit, sample_incidents};
use crate::sim::taxii::{TaxiiSim, TaxiiSimConfig, indicator};
use crate::sim::vision_one::{SimObject, VisionOneSim, VisionOneSimConfig};
use crate::sink::vision_one::ObjectType;

/// The simulated TAXII server's indicators: one of each kind the extraction handles.
const SAMPLE_PATTERNS: &[(&str, &str)] = &[
    (
        "indicator--6b1a6b3c-0001-4c3a-9f00-000000000001",
        "[ipv4-addr:value = '203.0.113.44']",
    ),
    (
        "indicator--6b1a6b3c-0001-4c3a-9f00-000000000002",
        "[domain-name:value = 'stealer.example' OR url:value = 'https://stealer.example/up']",
    ),
    (
        "indicator--6b1a6b3c-0001-4c3a-9f00-000000000003",
        "[domain-name:value = 'loader.example'] AND [ipv4-addr:value = '198.51.100.0/24']",
    ),
    (
        "indicator--6b1a6b3c-0001-4c3a-9f00-000000000004",
        "[file:hashes.'SHA-1' = 'a94a8fe5ccb19ba61c4c0873d391e987982fbbd3']",
    ),
];
use crate::sim::server::tls_config;

/// Objects an analyst put on the simulated Vision One list by hand: foreign to every job.
const SAMPLE_V1_OBJECTS: &[(ObjectType, &str, &str)] = &[
    (ObjectType::Domain, "phish.example", "added by the SOC"),
    (ObjectType::Ip, "192.0.2.77", "added by the SOC"),
    (
        ObjectType::FileSha256,
        "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
        "sandbox verdict",
    ),
];

/// The banner goes to standard output; whoever started the simulators may stop reading it
/// (a closed pipe), and that must not stop them. Another write error is a warning.
macro_rules! say {
    ($($arg:tt)*) => {
        if let Err(OutputError::Write(e)) = crate::outln!($($arg)*) {
            tracing::warn!("cannot write to standard output: {e}");
        }
    };
}

pub async fn run(args: &SimulateArgs) -> Result<(), Failure> {
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(tls_config(cert, key).map_err(Failure::usage)?),
        _ => None,
    };
    let config = ApexSimConfig {
        token_timeout: Duration::from_secs(args.token_timeout),
        capacity: args.capacity,
        case_insensitive_content: args.case_insensitive_content,
        string_numbers: args.string_numbers,
        ..ApexSimConfig::random()
    };
    let sim = ApexSim::new(config);
    let faults = &sim.control.faults;
    faults.set_latency(Duration::from_millis(args.latency_ms));
    faults.error_5xx_every(args.fail_5xx_every);
    faults.error_429_every(args.fail_429_every, args.retry_after);
    faults.drop_every(args.drop_every);
    let server = sim.serve(args.port, tls).await?;
    let lumu = LumuSim::new(&LumuSim::random_key());
    lumu.set_rate_limit(Some(RateLimit::LUMU));
    for incident in sample_incidents() {
        lumu.add(incident);
    }
    let lumu_server = lumu.serve(args.lumu_port).await?;
    let taxii = TaxiiSim::new(TaxiiSimConfig::default());
    let collection = "91a7b528-80eb-42ed-a74d-c6fbd5a26116";
    taxii.add_collection(collection, "Sample Indicators", Some("sample"), true);
    for (id, pattern) in SAMPLE_PATTERNS {
        let when = chrono::Utc::now() - chrono::Duration::hours(2);
        taxii.add_object(collection, when, indicator(id, pattern, when));
    }
    let taxii_server = taxii.serve(args.taxii_port).await?;
    let v1 = VisionOneSim::new(VisionOneSimConfig::random());
    for (object_type, value, description) in SAMPLE_V1_OBJECTS {
        v1.insert(SimObject::new(*object_type, value, description));
    }
    let v1_server = v1.serve(args.v1_port, None).await?;
    let url = server.url();
    let c = sim.config();
    say!("Simulated Apex Central listening on {url}");
    say!(
        "Simulated Lumu Defender listening on {} ({} open incidents)",
        lumu_server.url(),
        lumu.incidents().len()
    );
    say!(
        "Simulated TAXII 2.1 server listening on {} (discovery {}/taxii2/, collection `sample`)",
        taxii_server.url(),
        taxii_server.url()
    );
    say!(
        "Simulated Trend Vision One listening on {} ({} objects; API token {})",
        v1_server.url(),
        v1.all_objects().len(),
        v1.config().token
    );
    say!();
    say!("Use these options (or put them in a .config file):");
    say!("  host={url}");
    say!("  application-id={}", c.app_id);
    say!("  api-key={}", c.api_key);
    say!("  lumu-url={}", lumu_server.url());
    say!("  company-key={}", lumu.company_key());
    say!();
    say!("For example:");
    say!(
        "  apex-ioc-sync --host {url} --application-id {} --api-key {} --lumu-url {} --company-key {}",
        c.app_id,
        c.api_key,
        lumu_server.url(),
        lumu.company_key()
    );
    say!(
        "  apex-ioc-sync --source taxii --taxii-url {}/taxii2/ --host {url} --application-id {} --api-key {}",
        taxii_server.url(),
        c.app_id,
        c.api_key
    );
    say!(
        "  apex-ioc-sync udso list --host {url} --application-id {} --api-key {}",
        c.app_id,
        c.api_key
    );
    say!(
        "  apex-ioc-sync --sink vision-one --v1-url {} --v1-token {} --lumu-url {} --company-key {}",
        v1_server.url(),
        v1.config().token,
        lumu_server.url(),
        lumu.company_key()
    );
    say!(
        "  apex-ioc-sync list --sink vision-one --v1-url {} --v1-token {}",
        v1_server.url(),
        v1.config().token
    );
    say!(
        "  apex-ioc-sync watch --host {url} --application-id {} --api-key {} --lumu-url {} --company-key {}",
        c.app_id,
        c.api_key,
        lumu_server.url(),
        lumu.company_key()
    );
    say!();
    say!(
        "While a watch follows the simulated Lumu's incident stream, open an incident (the answer is {{\"id\": ...}}: the ID below), then close, mute or unmute it as in Lumu's API:"
    );
    say!(
        "  curl -X POST '{}/sim/incidents?key={}' -d '{{\"adversaries\": [\"evil.example\"], \"adversaryTypes\": [\"C2C\"], \"threatTriggers\": [\"https://evil.example/gate.php\"]}}'",
        lumu_server.url(),
        lumu.company_key()
    );
    say!(
        "  curl -X POST '{}/api/incidents/ID/close?key={}'",
        lumu_server.url(),
        lumu.company_key()
    );
    say!();
    say!("The simulators keep their data in memory. Press Ctrl-C to stop.");
    tokio::signal::ctrl_c().await?;
    server.stop();
    lumu_server.stop();
    taxii_server.stop();
    v1_server.stop();
    let counts = sim.control.stats.counts();
    say!(
        "Stopped after {} requests {counts:?}",
        sim.control.stats.total()
    );
    say!("Vision One answered {:?}", v1.endpoint_counts());
    Ok(())
}
