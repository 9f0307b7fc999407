//! Lumu's incident journal, as `watch` follows it (`reference/lumu.md`, "Updates stream"):
//! `GET /api/incidents/open-incidents/updates?key=K&offset=N&items=M&time=S` long-polls for
//! incident events and answers `{"updates": [...], "offset": N}`, the events in order and the
//! offset to ask for next. Each event is an object with one key, the event's name, whose
//! value is its document: the incident object under `incident`, or its id under
//! `incidentId`.
//!
//! What is documented, and what this module assumes where nothing is (the simulator can do
//! the variants, `sim::lumu::JournalMode`):
//! - `time` is the long poll's wait in seconds (public clients pass 5 to 15);
//! - the offset counts events from 0, and the answer's `offset` is where the next call
//!   starts; an answer whose offset is lower than the one asked for (the journal was reset,
//!   or the offset was past its end) is followed from there, and the job's next full sync
//!   comes early, since events may have been missed;
//! - an offset the journal no longer holds (expired) may be refused with HTTP 400, or
//!   silently served from the oldest event it still holds: a 400 at a stored offset makes
//!   `watch` follow from the journal's end after a full sync; a silent gap cannot be seen,
//!   and the periodic full sync corrects what it missed;
//! - the set of event names is open-ended. Those that change which incidents a job wants:
//!   `NewIncidentCreated`, `IncidentUpdated` and `IncidentUnmuted` with the incident, and
//!   `IncidentClosed` and `IncidentMuted` with the incident or only its id. The others
//!   (`OpenIncidentsStatusUpdated`, `IncidentMarkedAsRead`, `IncidentCommentAdded`, names
//!   not known yet) change no IOC and are skipped, as Lumu's own integrations skip them.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use anyhow::{Context as _, bail};
use chrono::{DateTime, Utc};
use reqwest::Method;
use serde_json::Value;

use super::LumuClient;
use crate::model::lumu::Incident;
use crate::state::watch::IncidentChanges;

/// The journal's path below the API.
const UPDATES_PATH: &str = "incidents/open-incidents/updates";
/// Events asked for in one call: Lumu's largest page (`reference/lumu.md`, paging).
pub const MAX_ITEMS: usize = 100;

/// One answer of the journal.
#[derive(Debug, Clone, PartialEq)]
pub struct Updates {
    /// The events, in order.
    pub events: Vec<Event>,
    /// The offset to ask for next.
    pub offset: u64,
}

/// One event, as far as it concerns the IOCs of a job.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// An incident in the status it is now in: a new, updated, unmuted, muted or closed one
    /// whose document carries the incident.
    Incident {
        name: String,
        incident: Incident,
        status: String,
    },
    /// A status change that names the incident by id only.
    Status {
        name: String,
        id: String,
        status: String,
    },
    /// An event that changes no IOC (statistics, read marks, comments, unknown names).
    Other { name: String },
    /// An event that may change an incident but cannot be applied: its document lacks the
    /// incident (a new incident named by id only), or it is not an object with one key.
    /// The job's next full sync covers it.
    Unusable { name: String, why: String },
}

impl Event {
    /// The event's name (`NewIncidentCreated`...).
    pub fn name(&self) -> &str {
        match self {
            Event::Incident { name, .. }
            | Event::Status { name, .. }
            | Event::Other { name }
            | Event::Unusable { name, .. } => name,
        }
    }

    /// Reads one element of `updates`.
    pub fn parse(update: &Value) -> Event {
        let Some((name, document)) = update
            .as_object()
            .filter(|o| o.len() == 1)
            .and_then(|o| o.iter().next())
        else {
            return Event::Unusable {
                name: "(unnamed)".into(),
                why: "an update that is not an object with one key".into(),
            };
        };
        let name = name.clone();
        // The status an event puts an incident in, for the events that change it.
        let status = match name.as_str() {
            "NewIncidentCreated" | "IncidentUnmuted" => Some("open"),
            "IncidentClosed" => Some("closed"),
            "IncidentMuted" => Some("muted"),
            // Its document says (an update of a muted incident leaves it muted).
            "IncidentUpdated" => None,
            _ => return Event::Other { name },
        };
        let incident = match document.get("incident") {
            Some(Value::Null) | None => None,
            Some(value) => match serde_json::from_value::<Incident>(value.clone()) {
                Ok(incident) => Some(incident),
                Err(e) => {
                    return Event::Unusable {
                        name,
                        why: format!("its incident is not as documented: {e}"),
                    };
                }
            },
        };
        match (incident, status) {
            (Some(incident), Some(status)) => Event::Incident {
                name,
                incident,
                status: status.to_owned(),
            },
            (Some(incident), None) => {
                // In the open incidents' journal an update without a status is an open one.
                let status = incident.status.clone().unwrap_or_else(|| "open".into());
                Event::Incident {
                    name,
                    incident,
                    status,
                }
            }
            (None, status) => {
                let id = document.get("incidentId").and_then(Value::as_str);
                match (id, status) {
                    // A closed or muted incident needs no more than its id to be let go.
                    (Some(id), Some(status @ ("closed" | "muted"))) => Event::Status {
                        name,
                        id: id.to_owned(),
                        status: status.to_owned(),
                    },
                    (Some(id), _) => Event::Unusable {
                        why: format!("it names incident {id} without the incident itself"),
                        name,
                    },
                    (None, _) => Event::Unusable {
                        name,
                        why: "its document has neither `incident` nor `incidentId`".into(),
                    },
                }
            }
        }
    }

    /// When the change happened, by the incident's own times: its status change for a
    /// status event, its creation for a new one, its last contact for an update.
    pub fn happened(&self) -> Option<DateTime<Utc>> {
        let Event::Incident { name, incident, .. } = self else {
            return None;
        };
        let time = match name.as_str() {
            "NewIncidentCreated" => incident.timestamp.as_ref(),
            "IncidentUpdated" => incident.last_contact.as_ref(),
            _ => incident.status_timestamp.as_ref(),
        }?;
        DateTime::parse_from_rfc3339(time)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }
}

/// The answer's `updates` and `offset`, both required: an answer without them is an error,
/// never "no events".
pub fn parse_answer(answer: &Value) -> anyhow::Result<Updates> {
    let Some(updates) = answer.get("updates").and_then(Value::as_array) else {
        bail!(
            "Lumu Defender's journal answer has no `updates` list: an answer without the \
             events is not an empty one"
        );
    };
    let offset = match answer.get("offset") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    };
    let Some(offset) = offset else {
        bail!(
            "Lumu Defender's journal answer has no usable `offset` (a whole number): {}",
            answer.get("offset").map_or("none".into(), Value::to_string)
        );
    };
    Ok(Updates {
        events: updates.iter().map(Event::parse).collect(),
        offset,
    })
}

/// An HTTP answer of Lumu's other than success, as an error that keeps the status (a
/// journal that refuses an offset answers 400).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct LumuStatusError {
    pub status: reqwest::StatusCode,
    pub message: String,
}

impl LumuClient {
    /// One call to the journal: the events from `offset`, at most `items`, waiting up to
    /// `wait` (whole seconds) for one to come.
    pub async fn updates(
        &self,
        offset: u64,
        items: usize,
        wait: Duration,
    ) -> anyhow::Result<Updates> {
        let (offset_text, items_text) = (offset.to_string(), items.to_string());
        let time = wait.as_secs().to_string();
        let answer = self
            .call(
                &self.calls.updates,
                Method::GET,
                UPDATES_PATH,
                &[
                    ("offset", &offset_text),
                    ("items", &items_text),
                    ("time", &time),
                ],
                None,
                Some(wait),
            )
            .await?;
        parse_answer(&answer).with_context(|| format!("the journal's answer at offset {offset}"))
    }

    /// Calls made to the journal so far, retries included.
    pub fn updates_calls(&self) -> u64 {
        self.calls
            .updates
            .load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Which incidents a job wants: `--incident-status`, `--adversary-types` (empty: every
/// type) and `--days`, as the full sync asks Lumu for them.
#[derive(Debug, Clone)]
pub struct Wanted {
    pub statuses: Vec<String>,
    pub adversary_types: Vec<String>,
    pub days: u32,
}

impl Wanted {
    /// Whether the job wants `incident` in `status` at `now`. An incident without a
    /// readable creation time counts as in the window.
    pub fn wants(&self, incident: &Incident, status: &str, now: DateTime<Utc>) -> bool {
        let in_window = incident
            .timestamp
            .as_deref()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .is_none_or(|t| t >= now - chrono::Duration::days(i64::from(self.days)));
        self.statuses.iter().any(|s| s == status)
            && (self.adversary_types.is_empty()
                || incident
                    .adversary_types
                    .iter()
                    .any(|t| self.adversary_types.contains(t)))
            && in_window
    }
}

/// What a batch of events does to the incidents a job wants.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Folded {
    /// By incident: wanted now (with its newest document), or let go (`None`).
    pub changes: IncidentChanges,
    /// Incidents the batch made wanted or changed: their context may be due.
    pub touched: HashSet<String>,
    /// Events that changed the wanted incidents.
    pub applied: usize,
    /// Events skipped because they change no IOC of the job (statistics, read marks, an
    /// incident of another type, a change that leaves a let-go incident let go), by name.
    pub skipped: BTreeMap<String, usize>,
    /// Events that could not be applied, with why (the next full sync covers them).
    pub unusable: Vec<String>,
    /// The earliest time an applied event happened, by the incident's own times.
    pub earliest: Option<DateTime<Utc>>,
}

impl Folded {
    /// Whether the batch changed the wanted incidents.
    pub fn changed(&self) -> bool {
        !self.changes.is_empty()
    }
}

/// Applies `events`, in order, to `wanted_now` (the incidents the job wants before them):
/// the last event of an incident decides whether it is wanted after the batch.
pub fn fold(
    events: &[Event],
    wanted_now: &HashMap<String, Incident>,
    wanted: &Wanted,
    now: DateTime<Utc>,
) -> Folded {
    let mut folded = Folded::default();
    let is_wanted = |folded: &Folded, id: &str| match folded.changes.get(id) {
        Some(change) => change.is_some(),
        None => wanted_now.contains_key(id),
    };
    for event in events {
        let skip = |folded: &mut Folded| {
            *folded.skipped.entry(event.name().to_owned()).or_default() += 1;
        };
        match event {
            Event::Incident {
                incident, status, ..
            } => {
                let keep = wanted.wants(incident, status, now);
                if !keep && !is_wanted(&folded, &incident.id) {
                    skip(&mut folded);
                    continue;
                }
                let mut incident = incident.clone();
                incident.status = Some(status.clone());
                if keep {
                    folded.touched.insert(incident.id.clone());
                    folded.changes.insert(incident.id.clone(), Some(incident));
                } else {
                    folded.touched.remove(&incident.id);
                    folded.changes.insert(incident.id.clone(), None);
                }
            }
            Event::Status { id, status, .. } => {
                if !is_wanted(&folded, id) {
                    skip(&mut folded);
                    continue;
                }
                if wanted.statuses.iter().any(|s| s == status) {
                    // Still wanted in its new status (`--incident-status open,muted`).
                    let known = match folded.changes.get(id) {
                        Some(Some(incident)) => incident.clone(),
                        _ => wanted_now[id].clone(),
                    };
                    let mut incident = known;
                    incident.status = Some(status.clone());
                    folded.changes.insert(id.clone(), Some(incident));
                } else {
                    folded.touched.remove(id);
                    folded.changes.insert(id.clone(), None);
                }
            }
            Event::Other { .. } => {
                skip(&mut folded);
                continue;
            }
            Event::Unusable { name, why } => {
                folded.unusable.push(format!("{name}: {why}"));
                continue;
            }
        }
        folded.applied += 1;
        if let Some(at) = event.happened() {
            folded.earliest = Some(folded.earliest.map_or(at, |e| e.min(at)));
        }
    }
    // A change that ends where it began (opened and closed within the batch, for an
    // incident the job did not want before) changes nothing.
    folded
        .changes
        .retain(|id, change| change.is_some() || wanted_now.contains_key(id));
    folded
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(id: &str, types: &[&str], adversary: &str) -> Value {
        json!({
            "id": id,
            "timestamp": "2026-11-20T10:00:00.000Z",
            "statusTimestamp": "2026-11-20T10:05:00.000Z",
            "status": "open",
            "adversaries": [adversary],
            "adversaryTypes": types,
            "lastContact": "2026-11-20T10:01:00.000Z",
            "contacts": 1,
        })
    }

    fn event(name: &str, document: Value) -> Event {
        Event::parse(&json!({ name: document }))
    }

    fn now() -> DateTime<Utc> {
        "2026-11-21T00:00:00Z".parse().unwrap()
    }

    fn open_only() -> Wanted {
        Wanted {
            statuses: vec!["open".into()],
            adversary_types: Vec::new(),
            days: 30,
        }
    }

    #[test]
    fn events_are_read_by_name_with_the_incident_or_its_id() {
        let new = event(
            "NewIncidentCreated",
            json!({"companyId": "c", "incident": doc("a", &["C2C"], "x.example"), "openIncidentsStats": {}}),
        );
        let Event::Incident {
            incident, status, ..
        } = &new
        else {
            panic!("{new:?}")
        };
        assert_eq!((incident.id.as_str(), status.as_str()), ("a", "open"));
        assert_eq!(
            new.happened().unwrap().to_rfc3339(),
            "2026-11-20T10:00:00+00:00"
        );
        // The name decides the status, whatever the document's snapshot says.
        let closed = event(
            "IncidentClosed",
            json!({"incident": doc("a", &["C2C"], "x")}),
        );
        assert!(matches!(&closed, Event::Incident { status, .. } if status == "closed"));
        assert_eq!(
            closed.happened().unwrap().to_rfc3339(),
            "2026-11-20T10:05:00+00:00"
        );
        assert_eq!(
            event("IncidentMuted", json!({"incidentId": "a", "comment": "fp"})),
            Event::Status {
                name: "IncidentMuted".into(),
                id: "a".into(),
                status: "muted".into()
            }
        );
        let mut muted_doc = doc("b", &["C2C"], "y");
        muted_doc["status"] = json!("muted");
        assert!(matches!(
            event("IncidentUpdated", json!({"incident": muted_doc})),
            Event::Incident { status, .. } if status == "muted"
        ));
        for name in [
            "OpenIncidentsStatusUpdated",
            "IncidentMarkedAsRead",
            "IncidentCommentAdded",
            "SomethingNew",
        ] {
            assert_eq!(
                event(name, json!({"incidentId": "a"})),
                Event::Other { name: name.into() }
            );
        }
        // A new incident named by id only cannot be pushed: the full sync covers it.
        assert!(matches!(
            event("NewIncidentCreated", json!({"incidentId": "a"})),
            Event::Unusable { .. }
        ));
        assert!(matches!(
            event("IncidentClosed", json!({"comment": "x"})),
            Event::Unusable { .. }
        ));
        assert!(matches!(
            Event::parse(&json!({"A": {}, "B": {}})),
            Event::Unusable { .. }
        ));
        assert!(matches!(
            Event::parse(&json!("text")),
            Event::Unusable { .. }
        ));
        assert!(matches!(
            event("NewIncidentCreated", json!({"incident": {"adversaries": []}})),
            Event::Unusable { why, .. } if why.contains("not as documented")
        ));
    }

    #[test]
    fn an_answer_needs_its_updates_and_offset() {
        let ok = parse_answer(&json!({"updates": [], "offset": 12})).unwrap();
        assert_eq!((ok.events.len(), ok.offset), (0, 12));
        assert_eq!(
            parse_answer(&json!({"updates": [], "offset": "13"}))
                .unwrap()
                .offset,
            13
        );
        let e = parse_answer(&json!({"offset": 1})).unwrap_err().to_string();
        assert!(e.contains("no `updates`"), "{e}");
        let e = parse_answer(&json!({"updates": [], "offset": -1}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("no usable `offset`"), "{e}");
    }

    #[test]
    fn the_last_event_of_an_incident_decides() {
        let wanted_now: HashMap<String, Incident> = [(
            "old".to_owned(),
            serde_json::from_value(doc("old", &["C2C"], "o.example")).unwrap(),
        )]
        .into();
        let events = [
            event(
                "NewIncidentCreated",
                json!({"incident": doc("a", &["C2C"], "a.example")}),
            ),
            event(
                "NewIncidentCreated",
                json!({"incident": doc("b", &["Spam"], "b.example")}),
            ),
            event(
                "OpenIncidentsStatusUpdated",
                json!({"openIncidentsStats": {}}),
            ),
            event("IncidentClosed", json!({"incidentId": "old"})),
            // Opened and closed in the same batch: nothing to do.
            event(
                "NewIncidentCreated",
                json!({"incident": doc("c", &["C2C"], "c.example")}),
            ),
            event("IncidentMuted", json!({"incidentId": "c"})),
            // Closed before it was known: nothing to let go.
            event("IncidentClosed", json!({"incidentId": "never-seen"})),
            event("NewIncidentCreated", json!({"incidentId": "d"})),
        ];
        let wanted = Wanted {
            adversary_types: vec!["C2C".into(), "Malware".into()],
            ..open_only()
        };
        let f = fold(&events, &wanted_now, &wanted, now());
        let mut changes: Vec<(String, bool)> = f
            .changes
            .iter()
            .map(|(id, c)| (id.clone(), c.is_some()))
            .collect();
        changes.sort();
        assert_eq!(changes, [("a".to_owned(), true), ("old".to_owned(), false)]);
        assert_eq!(f.touched, HashSet::from(["a".to_owned()]));
        assert_eq!(f.applied, 4, "a, old, and c twice");
        assert_eq!(f.skipped["NewIncidentCreated"], 1, "b is Spam");
        assert_eq!(f.skipped["IncidentClosed"], 1);
        assert_eq!(f.skipped["OpenIncidentsStatusUpdated"], 1);
        assert_eq!(f.unusable.len(), 1, "{:?}", f.unusable);
        assert_eq!(
            f.earliest.unwrap().to_rfc3339(),
            "2026-11-20T10:00:00+00:00"
        );
        assert!(f.changed());
    }

    #[test]
    fn statuses_and_the_window_follow_the_job_options() {
        let wanted_now: HashMap<String, Incident> = [(
            "a".to_owned(),
            serde_json::from_value(doc("a", &["C2C"], "a.example")).unwrap(),
        )]
        .into();
        let open_and_muted = Wanted {
            statuses: vec!["open".into(), "muted".into()],
            ..open_only()
        };
        let muted = [event("IncidentMuted", json!({"incidentId": "a"}))];
        let f = fold(&muted, &wanted_now, &open_and_muted, now());
        let kept = f.changes["a"].as_ref().unwrap();
        assert_eq!(kept.status.as_deref(), Some("muted"));
        assert_eq!(kept.adversaries, [json!("a.example")]);
        let f = fold(&muted, &wanted_now, &open_only(), now());
        assert_eq!(f.changes["a"], None);
        // Older than --days: let go.
        let late = Wanted {
            days: 1,
            ..open_only()
        };
        let update = [event(
            "IncidentUpdated",
            json!({"incident": doc("a", &["C2C"], "a")}),
        )];
        let in_a_week = now() + chrono::Duration::days(7);
        assert_eq!(
            fold(&update, &wanted_now, &late, in_a_week).changes["a"],
            None
        );
        assert!(fold(&update, &wanted_now, &late, now()).changes["a"].is_some());
    }
}
