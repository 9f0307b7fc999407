//! The desired set: what a source wants on the list ([`Desired`], one IOC each) and what a
//! pull produced ([`Pulled`]: the desired IOCs, and the values that are not usable IOCs counted by reason).
//! Sources make them; the policy screens them and the planner plans from them, knowing no
//! source.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::ScanAction;
use super::lumu::{Incident, LumuReport};
use crate::ioc::{Invalid, Ioc, IocKind};

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
    /// Values that are not usable IOCs, by reason (reported as `invalid`; the plan's
    /// `skipped` are desired IOCs left out). Serialised as `skipped`, as before.
    #[serde(rename = "skipped")]
    pub invalid: BTreeMap<&'static str, usize>,
    /// Why this pull may lack IOCs the source holds (it could not read everything), if it
    /// may: the plan then removes nothing, since a missing IOC may be in what was not read.
    #[serde(skip)]
    pub partial: Option<String>,
    /// The Lumu source's reads and calls.
    #[serde(skip)]
    pub lumu: Option<LumuReport>,
    /// The incidents the Lumu source listed (`watch` keeps them; a sync run does not).
    #[serde(skip)]
    pub lumu_incidents: Vec<Incident>,
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
            Err(why) => self.count_invalid(why.code()),
        }
    }

    /// Counts a value that is not a usable IOC, by reason.
    pub fn count_invalid(&mut self, reason: &'static str) {
        *self.invalid.entry(reason).or_default() += 1;
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
        for (reason, n) in other.invalid {
            *self.invalid.entry(reason).or_default() += n;
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
            self.count_invalid(reason);
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
        assert_eq!(p.invalid.get("ipv6"), Some(&1));
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
        assert_eq!(p.invalid.get("invalid-url"), Some(&1));
    }
}
