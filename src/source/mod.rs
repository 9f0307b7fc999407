//! Sources: where a sync job's IOCs come from. Each source module turns its feed into
//! [`Pulled`]: the desired IOCs with their scan action, a reason for the notes and when they
//! were last seen, plus the values it had to skip, counted by reason. Sources know nothing
//! of destinations. [`Source`] puts the four behind one interface.

pub mod file;
pub mod lumu;
pub mod openioc;
pub mod taxii;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::http::HttpSettings;
use crate::ioc::{Invalid, Ioc, IocKind};
use crate::model::ScanAction;
use crate::policy::Exclusions;

/// A source, set up: what to read and the HTTP settings of its server.
///
/// An enum rather than a trait: the set of sources is closed (each has its own flags in
/// `cli.rs`), they need different things from the run (the Lumu source a deadline, the
/// stateful ones the exclusions, to keep excluded IOCs from taking room), and one `match`
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
    /// contexts at `started + --max-run-minutes`); `exclusions`: what must never be pushed.
    /// Any error means nothing may be written: the caller stops the run.
    pub async fn pull(&self, started: Instant, exclusions: &Exclusions) -> anyhow::Result<Pulled> {
        match self {
            Source::Lumu(s, http) => lumu::pull(s, http, started + s.max_run).await,
            Source::Taxii(s, http) => taxii::pull(s, http, exclusions).await,
            Source::File(s) => file::pull(s, exclusions),
            Source::OpenIoc(s) => openioc::pull(s),
        }
    }
}

/// A file's name for notes and tables (its path when it has no name).
pub fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// When a file was last changed: when a local source's IOCs count as seen.
pub fn modified_time(path: &Path) -> DateTime<Utc> {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .map(DateTime::<Utc>::from)
        .unwrap_or_else(|_| Utc::now())
}

/// A file's bytes as text, or an error naming the file and the line that is not UTF-8.
pub fn utf8_text<'a>(path: &Path, bytes: &'a [u8]) -> anyhow::Result<&'a str> {
    std::str::from_utf8(bytes).map_err(|e| {
        let line = crate::files::first_non_utf8_line(bytes, e);
        anyhow::anyhow!("{}:{line}: not UTF-8 text", path.display())
    })
}

/// One IOC a source wants on the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    pub ioc: Ioc,
    pub scan_action: ScanAction,
    /// Why (adversary types, incident or indicator id): goes into the notes after the tag.
    pub reason: String,
    /// When the source last saw it: the newest are kept when capacity binds.
    pub seen: DateTime<Utc>,
}

/// What a source produced.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Pulled {
    /// Items read (incidents, indicators, files).
    pub items: usize,
    #[serde(skip)]
    pub iocs: Vec<Desired>,
    /// Values that are not usable IOCs, by reason.
    pub skipped: BTreeMap<&'static str, usize>,
    /// Why this pull may lack IOCs the source holds (it could not read everything), if it
    /// may: the plan then removes nothing, since a missing IOC may be in what was not read.
    #[serde(skip)]
    pub partial: Option<String>,
    /// The Lumu source's reads and calls.
    #[serde(skip)]
    pub lumu: Option<lumu::LumuReport>,
    /// The incidents the Lumu source listed (`watch` keeps them; a sync run does not).
    #[serde(skip)]
    pub lumu_incidents: Vec<lumu::Incident>,
    /// Values written defanged (`hxxp`, `[.]`...) and read refanged (plain lists).
    pub refanged: usize,
    /// What went wrong without stopping the source (a TAXII server that stalled): each was
    /// logged as a warning; the report lists them.
    pub warnings: Vec<String>,
}

impl Pulled {
    /// Adds a parsed IOC, or counts why it could not be parsed.
    pub fn add(
        &mut self,
        parsed: Result<Ioc, Invalid>,
        scan_action: ScanAction,
        reason: &str,
        seen: DateTime<Utc>,
    ) {
        match parsed {
            Ok(ioc) => self.iocs.push(Desired {
                ioc,
                scan_action,
                reason: reason.to_owned(),
                seen,
            }),
            Err(why) => self.skip(why.code()),
        }
    }

    pub fn skip(&mut self, reason: &'static str) {
        *self.skipped.entry(reason).or_default() += 1;
    }

    /// Logs `message` as a warning and keeps it for the report.
    pub fn warn(&mut self, message: String) {
        tracing::warn!("{message}");
        self.warnings.push(message);
    }

    /// Adds what `other` (a part of this source's work) counted and found.
    pub fn absorb(&mut self, other: Pulled) {
        self.items += other.items;
        self.iocs.extend(other.iocs);
        for (reason, n) in other.skipped {
            *self.skipped.entry(reason).or_default() += n;
        }
        self.warnings.extend(other.warnings);
    }

    /// One entry per IOC: `block` wins over `log`; the newest sighting's time and reason stay.
    pub fn dedupe(&mut self) {
        let mut merged: HashMap<Ioc, Desired> = HashMap::with_capacity(self.iocs.len());
        for d in self.iocs.drain(..) {
            match merged.get_mut(&d.ioc) {
                None => {
                    merged.insert(d.ioc.clone(), d);
                }
                Some(kept) => {
                    if d.scan_action == ScanAction::Block {
                        kept.scan_action = ScanAction::Block;
                    }
                    if d.seen > kept.seen {
                        kept.seen = d.seen;
                        kept.reason = d.reason;
                    }
                }
            }
        }
        self.iocs = merged.into_values().collect();
        self.iocs.sort_by(|a, b| a.ioc.cmp(&b.ioc));
    }

    /// Normalises every IOC again and merges those that now coincide. A source can hold IOCs
    /// it stored under an earlier version's normal form (the TAXII state file); normalising
    /// is idempotent, so current ones are unchanged. One that is no longer valid is dropped
    /// and counted by its reason.
    pub fn renormalize(&mut self) {
        let mut dropped = Vec::new();
        self.iocs
            .retain_mut(|d| match Ioc::new(d.ioc.kind, &d.ioc.value) {
                Ok(ioc) => {
                    d.ioc = ioc;
                    true
                }
                Err(why) => {
                    dropped.push(why.code());
                    false
                }
            });
        for reason in dropped {
            self.skip(reason);
        }
        self.dedupe();
    }

    /// Desired IOCs by type.
    pub fn by_kind(&self) -> BTreeMap<IocKind, usize> {
        let mut counts = BTreeMap::new();
        for d in &self.iocs {
            *counts.entry(d.ioc.kind).or_default() += 1;
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    #[test]
    fn dedupe_block_wins_and_newest_reason_stays() {
        let mut p = Pulled::default();
        let ip = || Ioc::new(IocKind::Ip, "1.2.3.4");
        p.add(ip(), ScanAction::Log, "old", at(10));
        p.add(ip(), ScanAction::Block, "older", at(5));
        p.add(ip(), ScanAction::Log, "newest", at(20));
        p.add(Ioc::new(IocKind::Ip, "::1"), ScanAction::Log, "x", at(1));
        p.dedupe();
        assert_eq!(p.iocs.len(), 1);
        assert_eq!(p.iocs[0].scan_action, ScanAction::Block);
        assert_eq!(
            (p.iocs[0].reason.as_str(), p.iocs[0].seen),
            ("newest", at(20))
        );
        assert_eq!(p.skipped.get("ipv6"), Some(&1));
    }

    #[test]
    fn iocs_stored_in_an_older_spelling_are_normalised_again() {
        let mut p = Pulled::default();
        let stale = |value: &str| Desired {
            ioc: Ioc {
                kind: IocKind::Url,
                value: value.to_owned(),
            },
            scan_action: ScanAction::Log,
            reason: value.to_owned(),
            seen: at(1),
        };
        p.iocs = vec![
            stale("http://bücher.example"),
            stale("http://xn--bcher-kva.example/"),
            stale("http://*.example/"),
        ];
        p.renormalize();
        let got: Vec<&str> = p.iocs.iter().map(|d| d.ioc.value.as_str()).collect();
        assert_eq!(got, ["http://xn--bcher-kva.example/"]);
        assert_eq!(p.skipped.get("invalid-url"), Some(&1));
    }
}
