//! Simulated servers for tests, benchmarks, `demo` and `simulate`. They listen on loopback
//! only and talk real HTTP, so the client under test is the real one.

pub mod apex;
pub mod lumu;
pub mod proxy;
pub mod server;
pub mod taxii;
pub mod vision_one;

use std::sync::Arc;

use apex::{ApexSim, ApexSimConfig};
use lumu::LumuSim;
use server::RunningServer;
use taxii::{TaxiiSim, TaxiiSimConfig};
use vision_one::{VisionOneSim, VisionOneSimConfig};

/// A simulator on its own runtime, for code that is not async itself (tests, benchmarks).
/// Stops when dropped.
pub struct Background<S> {
    pub sim: Arc<S>,
    server: RunningServer,
    _runtime: tokio::runtime::Runtime,
}

/// A simulated Apex Central in the background.
pub type BackgroundApex = Background<ApexSim>;
/// A simulated Lumu Defender in the background.
pub type BackgroundLumu = Background<LumuSim>;
/// A simulated TAXII 2.1 server in the background.
pub type BackgroundTaxii = Background<TaxiiSim>;
/// A simulated Trend Vision One in the background.
pub type BackgroundVisionOne = Background<VisionOneSim>;

impl<S> Background<S> {
    /// The server's URL (`--host` or `--lumu-url`).
    pub fn url(&self) -> String {
        self.server.url()
    }
}

impl<S> Background<S> {
    /// Starts `serve` for `sim` on a runtime of its own, on a free loopback port.
    fn launch<F, Fut>(sim: Arc<S>, serve: F) -> anyhow::Result<Self>
    where
        F: FnOnce(Arc<S>) -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<RunningServer>>,
    {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("sim")
            .enable_all()
            .build()?;
        let server = runtime.block_on(serve(sim.clone()))?;
        Ok(Background {
            sim,
            server,
            _runtime: runtime,
        })
    }
}

impl Background<ApexSim> {
    pub fn start(config: ApexSimConfig) -> anyhow::Result<Self> {
        Self::start_with_tls(config, None)
    }

    pub fn start_with_tls(
        config: ApexSimConfig,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> anyhow::Result<Self> {
        Self::launch(ApexSim::new(config), |sim| async move {
            sim.serve(0, tls).await
        })
    }
}

impl Background<LumuSim> {
    pub fn start(company_key: &str) -> anyhow::Result<Self> {
        Self::launch(LumuSim::new(company_key), |sim| async move {
            sim.serve(0).await
        })
    }
}

impl Background<TaxiiSim> {
    pub fn start(config: TaxiiSimConfig) -> anyhow::Result<Self> {
        Self::start_sim(TaxiiSim::new(config))
    }

    /// Serves `sim` (e.g. [`TaxiiSim::with_oddity`]).
    pub fn start_sim(sim: Arc<TaxiiSim>) -> anyhow::Result<Self> {
        Self::launch(sim, |sim| async move { sim.serve(0).await })
    }

    /// The discovery URL (`--taxii-url`).
    pub fn discovery_url(&self) -> String {
        format!("{}/taxii2/", self.server.url())
    }
}

impl Background<VisionOneSim> {
    pub fn start(config: VisionOneSimConfig) -> anyhow::Result<Self> {
        Self::launch(VisionOneSim::new(config), |sim| async move {
            sim.serve(0, None).await
        })
    }
}
