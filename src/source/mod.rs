//! Sources: where a sync job's IOCs come from. Each source module turns its feed into
//! [`Pulled`]: the desired IOCs with their scan action, a reason for the notes and when they
//! were last seen, plus the values it had to skip, counted by reason. Sources know nothing
//! of destinations. [`Source`] puts the four behind one interface.

pub mod file;
pub mod lumu;
pub mod openioc;
pub mod taxii;

use std::path::Path;
use std::time::Instant;

use chrono::{DateTime, Utc};

use crate::http::HttpSettings;
use crate::ioc::Ioc;
use crate::model::desired::Pulled;

/// A source, set up: what to read and the HTTP settings of its server.
///
/// An enum rather than a trait: the set of sources is closed (each has its own flags in
/// `cli`), they need different things from the run (the Lumu source a deadline, the
/// stateful ones what is excluded, to keep excluded IOCs from taking room), and one `match`
/// here is the whole dispatch.
#[derive(Debug)]
pub enum Source {
    /// Lumu Defender incidents.
    Lumu(lumu::LumuSettings, HttpSettings),
    /// TAXII 2.1 collections.
    Taxii(taxii::TaxiiSettings, HttpSettings),
    /// STIX 2.1 bundles and plain IOC lists.
    File(file::FileSettings),
    /// OpenIOC 1.0 and 1.1 files.
    OpenIoc(file::FileSettings),
}

impl Source {
    /// The source's name (`--source`), for reports and messages.
    pub fn name(&self) -> &'static str {
        match self {
            Source::Lumu(..) => "lumu",
            Source::Taxii(..) => "taxii",
            Source::File(_) => "file",
            Source::OpenIoc(_) => "openioc",
        }
    }

    /// Reads the source. `started`: when the run began (the Lumu source stops reading
    /// contexts at `started + --max-run-minutes`); `excluded`: whether an IOC must never be
    /// pushed (the caller builds it from the policy's exclusions; sources know no policy).
    /// Any error means nothing may be written: the caller stops the run.
    pub async fn pull(
        &self,
        started: Instant,
        excluded: &(dyn Fn(&Ioc) -> bool + Sync),
    ) -> anyhow::Result<Pulled> {
        match self {
            Source::Lumu(s, http) => lumu::pull(s, http, started + s.max_run).await,
            Source::Taxii(s, http) => taxii::pull(s, http, excluded).await,
            Source::File(s) => file::pull(s, excluded),
            Source::OpenIoc(s) => openioc::pull(s),
        }
    }
}

/// When a file was last changed: when a local source's IOCs count as seen.
pub fn modified_time(path: &Path) -> DateTime<Utc> {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .map(DateTime::<Utc>::from)
        .unwrap_or_else(|_| Utc::now())
}
