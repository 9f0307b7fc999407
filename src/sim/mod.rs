//! Simulated servers for tests, benchmarks, `demo` and `simulate`. They listen on loopback
//! only and talk real HTTP, so the client under test is the real one.

pub mod apex;
pub mod server;

use std::sync::Arc;

use apex::{ApexSim, ApexSimConfig};
use server::RunningServer;

/// A simulated Apex Central on its own runtime, for code that is not async itself (tests,
/// benchmarks). Stops when dropped.
pub struct BackgroundApex {
    pub sim: Arc<ApexSim>,
    server: RunningServer,
    _runtime: tokio::runtime::Runtime,
}

impl BackgroundApex {
    pub fn start(config: ApexSimConfig) -> anyhow::Result<Self> {
        Self::start_with_tls(config, None)
    }

    pub fn start_with_tls(
        config: ApexSimConfig,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("apex-sim")
            .enable_all()
            .build()?;
        let sim = ApexSim::new(config);
        let server = runtime.block_on(sim.serve(0, tls))?;
        Ok(BackgroundApex {
            sim,
            server,
            _runtime: runtime,
        })
    }

    /// The `--host` to give the client.
    pub fn url(&self) -> String {
        self.server.url()
    }
}
