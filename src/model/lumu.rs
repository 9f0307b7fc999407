//! Lumu's records that more than the Lumu source keeps: the incidents and contexts the state
//! file caches (`state::lumu`, `state::watch`) and a pull hands to `watch`, as Lumu writes
//! them (see `reference/lumu.md`); and what the source did in a run, for the report and the
//! metrics.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The fields of an incident the Lumu source uses (written back as Lumu names them, so that
/// `watch` can keep them in the state file).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Incident {
    pub id: String,
    #[serde(default)]
    pub adversaries: Vec<Value>,
    #[serde(rename = "adversaryTypes", default)]
    pub adversary_types: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    #[serde(
        rename = "lastContact",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub last_contact: Option<String>,
    /// A number; read leniently (a string of digits counts, anything else as absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contacts: Option<Value>,
    /// `open`, `muted` or `closed` (open-ended); the incident stream's events carry it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// When the status last changed.
    #[serde(
        rename = "statusTimestamp",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub status_timestamp: Option<String>,
}

impl Incident {
    /// `contacts` as a count, when it is one.
    pub fn contacts(&self) -> Option<i64> {
        match self.contacts.as_ref()? {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// When the incident was last seen: `lastContact`, else `timestamp`.
    pub fn seen(&self) -> Option<DateTime<Utc>> {
        [&self.last_contact, &self.timestamp]
            .into_iter()
            .flatten()
            .find_map(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
    }

    /// Whether `cached` was read at the incident's present `lastContact` and `contacts`.
    pub fn unchanged_since(&self, cached: &CachedContext) -> bool {
        cached.last_contact == self.last_contact && cached.contacts == self.contacts()
    }
}

/// The fields of an incident's context the Lumu source uses (and the cache keeps).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct IncidentContext {
    #[serde(default)]
    pub related_files: Vec<Value>,
    #[serde(default)]
    pub threat_triggers: Vec<Value>,
}

/// Requests sent to Lumu, retries included (what the quota counts), by endpoint.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LumuCalls {
    /// `POST /api/incidents/all`.
    pub incidents: u64,
    /// `GET /api/incidents/{id}/context`.
    pub context: u64,
}

impl LumuCalls {
    pub fn total(&self) -> u64 {
        self.incidents + self.context
    }
}

/// An incident's context as last read, and the incident's state it was read at.
#[derive(Debug, Clone, PartialEq)]
pub struct CachedContext {
    /// `lastContact` as Lumu wrote it (compared as text: any change means a new read).
    pub last_contact: Option<String>,
    pub contacts: Option<i64>,
    pub context: IncidentContext,
}

/// What the Lumu source did in a run, for the report.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct LumuReport {
    /// Incidents listed (each once).
    pub incidents: usize,
    /// Contexts read in this run.
    pub contexts_read: usize,
    /// Incidents unchanged since their cached context was read.
    pub contexts_cached: usize,
    /// New or changed incidents whose context is left for a later run (over
    /// `--max-context-calls`, or reading stopped): a changed one keeps its cached context, a
    /// new one gives its adversaries only.
    pub contexts_deferred: usize,
    /// Context reads that failed (treated as deferred).
    pub contexts_failed: usize,
    /// Listed incidents with no context at all (new and not read): while there are any,
    /// nothing is removed.
    pub contexts_missing: usize,
    /// Cached contexts forgotten: their incidents are no longer listed.
    pub forgotten: usize,
    /// Requests sent to Lumu, retries included.
    pub calls: LumuCalls,
    /// Why context reads stopped before the budget was used: `quota` (the daily quota is
    /// spent), `deadline` (`--max-run-minutes`), `failures`.
    pub stopped: Option<&'static str>,
}
