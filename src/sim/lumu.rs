//! A simulated Lumu Defender API: incidents with paging and the documented filters, incident
//! contexts, the company-key check, a rate limit with a daily quota, and the calls received
//! by endpoint. An incident's `lastContact` and `contacts` move on when it is
//! [touched](LumuSim::touch), as a real incident's do when an endpoint contacts the adversary
//! again.
//!
//! The incident journal (`GET /api/incidents/open-incidents/updates`, long-polled) records
//! what happens to incidents while the simulator runs: [`LumuSim::open_incident`],
//! [`LumuSim::set_status`] and [`LumuSim::touch`] from code, and over HTTP Lumu's own
//! `POST /api/incidents/{id}/close`, `/mute` and `/unmute`, and `POST /sim/incidents` (the
//! simulator's own: a new incident, as detection would open one), so that `simulate` can be
//! driven while a `watch` follows it. Where Lumu documents nothing (offsets past the end or
//! no longer held, status events without the incident), [`JournalMode`] picks the variant.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::server::{Control, RunningServer, bind_loopback, spawn};

/// An incident as the simulator holds it.
#[derive(Debug, Clone)]
pub struct SimIncident {
    pub id: String,
    pub timestamp: DateTime<Utc>,
    pub last_contact: DateTime<Utc>,
    /// Contacts with the adversary so far.
    pub contacts: u64,
    /// `open`, `muted` or `closed`.
    pub status: String,
    pub adversaries: Vec<String>,
    pub adversary_types: Vec<String>,
    /// URLs and host triggers such as `tcp://1.2.3.4:443`.
    pub threat_triggers: Vec<String>,
    /// SHA-1 hashes.
    pub related_files: Vec<String>,
    /// When the status last changed.
    pub status_timestamp: DateTime<Utc>,
}

impl SimIncident {
    /// An open incident seen `age` ago.
    pub fn open(id: &str, age: chrono::Duration, adversaries: &[&str], types: &[&str]) -> Self {
        let when = Utc::now() - age;
        SimIncident {
            id: id.to_owned(),
            timestamp: when,
            last_contact: when,
            contacts: 3,
            status: "open".into(),
            adversaries: adversaries.iter().map(|s| s.to_string()).collect(),
            adversary_types: types.iter().map(|s| s.to_string()).collect(),
            threat_triggers: Vec::new(),
            related_files: Vec::new(),
            status_timestamp: when,
        }
    }

    pub fn with_triggers(mut self, triggers: &[&str]) -> Self {
        self.threat_triggers = triggers.iter().map(|s| s.to_string()).collect();
        self
    }

    pub fn with_files(mut self, files: &[&str]) -> Self {
        self.related_files = files.iter().map(|s| s.to_string()).collect();
        self
    }

    fn to_json(&self) -> Value {
        let ts = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
        json!({
            "id": self.id,
            "timestamp": ts(self.timestamp),
            "statusTimestamp": ts(self.status_timestamp),
            "status": self.status,
            "contacts": self.contacts,
            "adversaries": self.adversaries,
            "adversaryId": self.adversaries.first(),
            "adversaryTypes": self.adversary_types,
            "description": format!("{} activity", self.adversary_types.join(", ")),
            "labelDistribution": {"0": 3},
            "totalEndpoints": 1,
            "firstContact": ts(self.timestamp),
            "lastContact": ts(self.last_contact),
            "unread": false,
            "hasPlaybackContacts": false,
        })
    }
}

/// The rate limit: requests per window (Lumu's is a minute) and per day.
#[derive(Debug, Clone, Copy)]
pub struct RateLimit {
    pub per_window: u32,
    pub window: Duration,
    pub per_day: u32,
}

impl RateLimit {
    /// Lumu's published quotas: about 50 a minute and 10,000 a day.
    pub const LUMU: RateLimit = RateLimit {
        per_window: 50,
        window: Duration::from_secs(60),
        per_day: 10_000,
    };
}

/// The endpoints of the API, for call counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Endpoint {
    /// `POST /api/incidents/all`: a page of incidents.
    Incidents,
    /// `GET /api/incidents/{id}/context`.
    Context,
    /// `GET /api/incidents/open-incidents/updates`: the journal.
    Updates,
    /// `POST /api/incidents/{id}/close`, `/mute`, `/unmute`.
    Status,
}

/// How the simulated journal behaves where Lumu documents nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JournalMode {
    /// Status events (`IncidentClosed`, `IncidentMuted`, `IncidentUnmuted`) carry only
    /// `incidentId`, not the incident.
    pub status_by_id: bool,
    /// An offset past the journal's end.
    pub past_end: PastEnd,
    /// An offset the journal no longer holds.
    pub expired: Expired,
    /// Answer at once when there is no event, whatever `time` asks (no long poll).
    pub no_long_poll: bool,
}

/// What the journal answers to an offset past its end.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PastEnd {
    /// No events, and the end's offset (lower than the one asked for), at once.
    #[default]
    Clamp,
    /// 400, as for a bad parameter.
    Refuse,
    /// No events until the journal reaches the offset (the offset comes back unchanged).
    Wait,
}

/// What the journal answers to an offset it no longer holds (see [`LumuSim::expire_journal`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Expired {
    /// The events from the oldest it holds, as if asked for that offset: the gap is silent.
    #[default]
    Skip,
    /// 400, naming the oldest offset it holds.
    Refuse,
}

/// The journal's events; the first is at offset `first`.
#[derive(Debug, Default)]
struct Journal {
    first: u64,
    events: Vec<Value>,
}

impl Journal {
    fn end(&self) -> u64 {
        self.first + self.events.len() as u64
    }
}

/// The longest long poll the simulated journal holds (`time`, seconds).
pub const MAX_JOURNAL_WAIT_SECS: u64 = 300;

#[derive(Debug)]
struct RateState {
    window_start: Instant,
    in_window: u32,
    today: u32,
}

/// The simulated server's data, shared with whoever started it.
#[derive(Debug)]
pub struct LumuSim {
    company_key: String,
    incidents: Mutex<Vec<SimIncident>>,
    rate_limit: Mutex<Option<RateLimit>>,
    rate: Mutex<RateState>,
    /// Answer every incidents page with this body instead (to test malformed answers).
    broken_body: Mutex<Option<(StatusCode, String)>>,
    /// Answer every context with this body instead.
    broken_context: Mutex<Option<(StatusCode, String)>>,
    /// How long an admitted context request waits before its answer (a busy server).
    context_delay: Mutex<Duration>,
    /// Requests received by endpoint (refused ones included), and those refused with 429.
    calls: Mutex<BTreeMap<Endpoint, u64>>,
    rate_limited: Mutex<u64>,
    /// Answer every incidents page with this status and an error that quotes the request's
    /// path and query, as some servers and proxies do (it holds the company key).
    echo_url: Mutex<Option<StatusCode>>,
    /// Answer every incidents page with a redirect to this base URL, path and query kept.
    redirect_to: Mutex<Option<String>>,
    /// The company's id, in the journal's documents.
    company_id: String,
    journal: Mutex<Journal>,
    /// The journal's end offset, for the long polls waiting on it.
    journal_end: tokio::sync::watch::Sender<u64>,
    journal_mode: Mutex<JournalMode>,
    pub control: Control,
}

impl LumuSim {
    pub fn new(company_key: &str) -> Arc<Self> {
        Arc::new(LumuSim {
            company_key: company_key.to_owned(),
            incidents: Mutex::default(),
            rate_limit: Mutex::default(),
            rate: Mutex::new(RateState {
                window_start: Instant::now(),
                in_window: 0,
                today: 0,
            }),
            broken_body: Mutex::default(),
            broken_context: Mutex::default(),
            context_delay: Mutex::default(),
            calls: Mutex::default(),
            rate_limited: Mutex::default(),
            echo_url: Mutex::default(),
            redirect_to: Mutex::default(),
            company_id: random_uuid(),
            journal: Mutex::default(),
            journal_end: tokio::sync::watch::Sender::new(0),
            journal_mode: Mutex::default(),
            control: Control::default(),
        })
    }

    /// A fresh random company key.
    pub fn random_key() -> String {
        (0..32)
            .map(|_| char::from_digit(fastrand::u32(0..16), 16).unwrap())
            .collect()
    }

    pub fn company_key(&self) -> &str {
        &self.company_key
    }

    /// Adds an incident as one that was there before the simulator started: the journal
    /// records nothing (see [`LumuSim::open_incident`]).
    pub fn add(&self, incident: SimIncident) {
        self.incidents.lock().unwrap().push(incident);
    }

    /// Opens a new incident now, as detection does: the journal records
    /// `NewIncidentCreated` with the incident, then `OpenIncidentsStatusUpdated`.
    pub fn open_incident(&self, mut incident: SimIncident) {
        let now = Utc::now();
        incident.timestamp = now;
        incident.status_timestamp = now;
        incident.last_contact = incident.last_contact.max(now);
        incident.status = "open".into();
        let document = incident.to_json();
        self.add(incident);
        self.record("NewIncidentCreated", Some(document), None);
    }

    /// Sets an incident's status (`closed`, `muted`, `open`); the journal records
    /// `IncidentClosed`, `IncidentMuted` or `IncidentUnmuted` (with the incident, or its id
    /// alone in [`JournalMode::status_by_id`]), then `OpenIncidentsStatusUpdated`. Returns
    /// whether the incident exists.
    pub fn set_status(&self, id: &str, status: &str) -> bool {
        let changed = {
            let mut incidents = self.incidents.lock().unwrap();
            let Some(i) = incidents.iter_mut().find(|i| i.id == id) else {
                return false;
            };
            if i.status == status {
                None
            } else {
                i.status = status.to_owned();
                i.status_timestamp = Utc::now();
                Some(i.to_json())
            }
        };
        if let Some(document) = changed {
            let name = match status {
                "closed" => "IncidentClosed",
                "muted" => "IncidentMuted",
                _ => "IncidentUnmuted",
            };
            let by_id = self.journal_mode.lock().unwrap().status_by_id;
            if by_id {
                self.record(name, None, Some(id));
            } else {
                self.record(name, Some(document), None);
            }
        }
        true
    }

    /// An endpoint contacted the incident's adversary again: `lastContact` becomes now (and
    /// always moves forward), `contacts` grows by one, and the context gains `trigger`; the
    /// journal records `IncidentUpdated` with the incident.
    pub fn touch(&self, id: &str, trigger: Option<&str>) {
        let mut updated = Vec::new();
        for i in self.incidents.lock().unwrap().iter_mut() {
            if i.id == id {
                i.last_contact = Utc::now().max(i.last_contact + chrono::Duration::milliseconds(1));
                i.contacts += 1;
                i.threat_triggers.extend(trigger.map(str::to_owned));
                updated.push(i.to_json());
            }
        }
        for document in updated {
            self.push_event(json!({"IncidentUpdated": {
                "companyId": self.company_id,
                "incident": document,
            }}));
        }
    }

    /// Records an event of the journal: `name` with `incident` (its document) or `id`, and
    /// the open incidents' statistics after it.
    fn record(&self, name: &str, incident: Option<Value>, id: Option<&str>) {
        let stats = self.open_stats();
        let mut document = json!({"companyId": self.company_id, "openIncidentsStats": stats});
        match (incident, id) {
            (Some(incident), _) => document["incident"] = incident,
            (None, Some(id)) => {
                document["incidentId"] = json!(id);
                document["comment"] = json!("from the simulator");
            }
            (None, None) => {}
        }
        self.push_event(json!({ name: document }));
        self.push_event(json!({"OpenIncidentsStatusUpdated": {
            "companyId": self.company_id,
            "openIncidentsStats": stats,
        }}));
    }

    /// What Lumu's `openIncidentsStats` tells: the open incidents and their contacts.
    fn open_stats(&self) -> Value {
        let incidents = self.incidents.lock().unwrap();
        let open: Vec<&SimIncident> = incidents.iter().filter(|i| i.status == "open").collect();
        let mut types: BTreeMap<&str, u64> = BTreeMap::new();
        for t in open.iter().flat_map(|i| &i.adversary_types) {
            *types.entry(t).or_default() += 1;
        }
        json!({
            "openIncidents": open.len(),
            "totalContacts": open.iter().map(|i| i.contacts).sum::<u64>(),
            "typeDistribution": types,
            "labelDistribution": {"0": open.len()},
            "totalEndpoints": open.len(),
        })
    }

    /// Appends one event, as given, to the journal (an event of a kind this simulator does
    /// not make, or a malformed one), and wakes the long polls.
    pub fn push_event(&self, event: Value) {
        let end = {
            let mut journal = self.journal.lock().unwrap();
            journal.events.push(event);
            journal.end()
        };
        self.journal_end.send_replace(end);
    }

    /// The offset after the journal's last event.
    pub fn journal_end(&self) -> u64 {
        self.journal.lock().unwrap().end()
    }

    /// Drops the events before `offset`, as a journal that keeps only recent events does.
    pub fn expire_journal(&self, offset: u64) {
        let mut journal = self.journal.lock().unwrap();
        let drop = offset
            .saturating_sub(journal.first)
            .min(journal.events.len() as u64);
        journal.events.drain(..drop as usize);
        journal.first += drop;
    }

    /// How the journal behaves where Lumu documents nothing.
    pub fn set_journal_mode(&self, mode: JournalMode) {
        *self.journal_mode.lock().unwrap() = mode;
    }

    pub fn incidents(&self) -> Vec<SimIncident> {
        self.incidents.lock().unwrap().clone()
    }

    pub fn set_rate_limit(&self, limit: Option<RateLimit>) {
        *self.rate_limit.lock().unwrap() = limit;
    }

    /// Admitted context requests are answered after `delay` (refused ones at once), as a busy
    /// server does: a 429 can then overtake an earlier request's answer.
    pub fn delay_contexts(&self, delay: Duration) {
        *self.context_delay.lock().unwrap() = delay;
    }

    /// A new day: the daily quota is whole again.
    pub fn new_day(&self) {
        self.rate.lock().unwrap().today = 0;
    }

    /// Every incidents page is answered with this status and body (`None`: normal answers).
    pub fn break_answers(&self, broken: Option<(StatusCode, &str)>) {
        *self.broken_body.lock().unwrap() = broken.map(|(s, b)| (s, b.to_owned()));
    }

    /// Every context is answered with this status and body (`None`: normal answers).
    pub fn break_contexts(&self, broken: Option<(StatusCode, &str)>) {
        *self.broken_context.lock().unwrap() = broken.map(|(s, b)| (s, b.to_owned()));
    }

    /// Requests received at `endpoint` so far, those refused (401, 429) included.
    pub fn calls(&self, endpoint: Endpoint) -> u64 {
        self.calls
            .lock()
            .unwrap()
            .get(&endpoint)
            .copied()
            .unwrap_or(0)
    }

    /// Requests refused with 429 so far (rate limit or daily quota).
    pub fn rate_limited(&self) -> u64 {
        *self.rate_limited.lock().unwrap()
    }

    /// Counts back to zero.
    pub fn reset_calls(&self) {
        self.calls.lock().unwrap().clear();
        *self.rate_limited.lock().unwrap() = 0;
    }

    /// Every incidents page is answered with `status` and an error quoting the request's
    /// path and query, key included, before the key is checked (`None`: normal answers).
    pub fn echo_url_in_errors(&self, status: Option<StatusCode>) {
        *self.echo_url.lock().unwrap() = status;
    }

    /// Every incidents page is answered with `302 Found` to `base` plus the request's path
    /// and query, key included (`None`: normal answers).
    pub fn redirect_to(&self, base: Option<&str>) {
        *self.redirect_to.lock().unwrap() = base.map(str::to_owned);
    }

    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/api/incidents/all", post(incidents))
            .route("/api/incidents/open-incidents/updates", get(updates))
            .route("/api/incidents/{id}/context", get(context))
            .route("/api/incidents/{id}/{action}", post(status_action))
            .route("/sim/incidents", post(new_incident))
            .with_state(self.clone())
    }

    pub async fn serve(self: &Arc<Self>, port: u16) -> anyhow::Result<RunningServer> {
        let listener = bind_loopback(port).await?;
        spawn(listener, self.router(), None, self.control.clone())
    }

    /// Counts the call, then the key check and the rate limit, before any answer.
    fn admit(&self, endpoint: Endpoint, query: &HashMap<String, String>) -> Result<(), Rejection> {
        *self.calls.lock().unwrap().entry(endpoint).or_default() += 1;
        if query.get("key").map(String::as_str) != Some(self.company_key.as_str()) {
            return Err(error(
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                "invalid company key",
            ));
        }
        let Some(limit) = *self.rate_limit.lock().unwrap() else {
            return Ok(());
        };
        let mut rate = self.rate.lock().unwrap();
        let elapsed = rate.window_start.elapsed();
        if elapsed >= limit.window {
            rate.window_start = Instant::now();
            rate.in_window = 0;
        }
        let (exceeded, reset) = if rate.today >= limit.per_day {
            (true, 6 * 3600)
        } else if rate.in_window >= limit.per_window {
            let left = limit.window.saturating_sub(elapsed);
            (true, left.as_secs_f64().ceil().max(1.0) as u64)
        } else {
            (false, 0)
        };
        if exceeded {
            let limit_value = if rate.today >= limit.per_day {
                limit.per_day
            } else {
                limit.per_window
            };
            *self.rate_limited.lock().unwrap() += 1;
            return Err(Rejection {
                rate_limit: Some((limit_value, reset)),
                ..error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "TooManyRequests",
                    "rate limit exceeded",
                )
            });
        }
        rate.in_window += 1;
        rate.today += 1;
        Ok(())
    }
}

/// Lumu's error answer `{"name", "detail"}`, with the rate-limit headers on a 429.
#[derive(Debug)]
struct Rejection {
    status: StatusCode,
    name: &'static str,
    detail: String,
    /// `(limit, reset seconds)` for a 429.
    rate_limit: Option<(u32, u64)>,
}

fn error(status: StatusCode, name: &'static str, detail: &str) -> Rejection {
    Rejection {
        status,
        name,
        detail: detail.to_owned(),
        rate_limit: None,
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            axum::Json(json!({"name": self.name, "detail": self.detail})),
        )
            .into_response();
        if let Some((limit, reset)) = self.rate_limit {
            let headers = response.headers_mut();
            headers.insert("ratelimit-limit", HeaderValue::from(limit));
            headers.insert("ratelimit-remaining", HeaderValue::from(0));
            headers.insert("ratelimit-reset", HeaderValue::from(reset));
            headers.insert("retry-after", HeaderValue::from(reset));
        }
        response
    }
}

fn list_of_strings(v: &Value, key: &str) -> Result<Option<Vec<String>>, Rejection> {
    match &v[key] {
        Value::Null => Ok(None),
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .map(Some)
            .ok_or_else(|| {
                error(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    &format!("{key} must be a list of strings"),
                )
            }),
        _ => Err(error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            &format!("{key} must be a list"),
        )),
    }
}

fn date(v: &Value, key: &str) -> Result<Option<DateTime<Utc>>, Rejection> {
    match &v[key] {
        Value::Null => Ok(None),
        Value::String(s) => DateTime::parse_from_rfc3339(s)
            .map(|d| Some(d.with_timezone(&Utc)))
            .map_err(|_| {
                error(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    &format!("{key} is not a date"),
                )
            }),
        _ => Err(error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            &format!("{key} is not a date"),
        )),
    }
}

async fn incidents(
    State(sim): State<Arc<LumuSim>>,
    Query(query): Query<HashMap<String, String>>,
    uri: axum::http::Uri,
    _headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let path_and_query = uri.path_and_query().map_or("", |pq| pq.as_str()).to_owned();
    if let Some(status) = *sim.echo_url.lock().unwrap() {
        let detail = format!("cannot serve {path_and_query}");
        return (
            status,
            axum::Json(json!({"name": "BadRequest", "detail": detail})),
        )
            .into_response();
    }
    if let Some(base) = sim.redirect_to.lock().unwrap().clone() {
        let location = format!("{}{path_and_query}", base.trim_end_matches('/'));
        return (
            StatusCode::FOUND,
            [(axum::http::header::LOCATION, location.clone())],
            format!("Moved to {location}"),
        )
            .into_response();
    }
    if let Err(denied) = sim.admit(Endpoint::Incidents, &query) {
        return denied.into_response();
    }
    if let Some((status, body)) = sim.broken_body.lock().unwrap().clone() {
        return (status, body).into_response();
    }
    let filter: Value = if body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(_) => {
                return error(StatusCode::BAD_REQUEST, "BadRequest", "body is not JSON")
                    .into_response();
            }
        }
    };
    let page: usize = match query.get("page").map(|p| p.parse()) {
        None => 1,
        Some(Ok(p)) if p >= 1 => p,
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "page must be a number from 1",
            )
            .into_response();
        }
    };
    let items: usize = match query.get("items").map(|p| p.parse()) {
        None => 50,
        Some(Ok(n)) if (1..=100).contains(&n) => n,
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "items must be from 1 to 100",
            )
            .into_response();
        }
    };
    let (from, to, statuses, types) = match (
        date(&filter, "fromDate"),
        date(&filter, "toDate"),
        list_of_strings(&filter, "status"),
        list_of_strings(&filter, "adversary-types"),
    ) {
        (Ok(f), Ok(t), Ok(s), Ok(a)) => (
            f.unwrap_or_else(|| Utc::now() - chrono::Duration::days(7)),
            t.unwrap_or_else(Utc::now),
            s,
            a,
        ),
        (Err(e), ..) | (_, Err(e), ..) | (.., Err(e), _) | (.., Err(e)) => {
            return e.into_response();
        }
    };
    let mut matching: Vec<SimIncident> = sim
        .incidents()
        .into_iter()
        .filter(|i| i.timestamp >= from && i.timestamp <= to)
        .filter(|i| statuses.as_ref().is_none_or(|s| s.contains(&i.status)))
        .filter(|i| {
            types
                .as_ref()
                .is_none_or(|t| i.adversary_types.iter().any(|a| t.contains(a)))
        })
        .collect();
    matching.sort_by(|a, b| b.timestamp.cmp(&a.timestamp).then(a.id.cmp(&b.id)));
    let start = (page - 1).saturating_mul(items);
    let slice: Vec<Value> = matching
        .iter()
        .skip(start)
        .take(items)
        .map(SimIncident::to_json)
        .collect();
    let mut pagination = json!({"page": page, "items": items});
    if start + items < matching.len() {
        pagination["next"] = json!(page + 1);
    }
    if page > 1 {
        pagination["prev"] = json!(page - 1);
    }
    axum::Json(json!({"items": slice, "paginationInfo": pagination})).into_response()
}

async fn context(
    State(sim): State<Arc<LumuSim>>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Err(denied) = sim.admit(Endpoint::Context, &query) {
        return denied.into_response();
    }
    let delay = *sim.context_delay.lock().unwrap();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if let Some((status, body)) = sim.broken_context.lock().unwrap().clone() {
        return (status, body).into_response();
    }
    let found = sim
        .incidents
        .lock()
        .unwrap()
        .iter()
        .find(|i| i.id == id)
        .cloned();
    let Some(incident) = found else {
        return error(StatusCode::NOT_FOUND, "NotFound", "no such incident").into_response();
    };
    // The simulator knows SHA-1 hashes only; other kinds come back empty.
    let files: Vec<String> = if query.get("hash").map(String::as_str) == Some("sha1") {
        incident.related_files.clone()
    } else {
        Vec::new()
    };
    axum::Json(json!({
        "adversary_id": incident.adversaries.first(),
        "currently_active": incident.status == "open",
        "related_files": files,
        "threat_triggers": incident.threat_triggers,
        "threat_details": [],
        "mitre": {"details": []},
        "playbooks": [],
        "external_resources": [],
    }))
    .into_response()
}

/// A number query parameter: `default` when absent, 400 naming it when not a whole number
/// in `range`.
fn number_param(
    query: &HashMap<String, String>,
    name: &str,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, Rejection> {
    let Some(text) = query.get(name) else {
        return Ok(default);
    };
    match text.trim().parse::<u64>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => Err(error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            &format!(
                "{name} must be a whole number from {} to {}",
                range.start(),
                range.end()
            ),
        )),
    }
}

/// `GET /api/incidents/open-incidents/updates?offset&items&time`: the events from `offset`,
/// at most `items` (1 to 100, default 50), waiting up to `time` seconds (default 0) for one
/// to come; `{"updates": [...], "offset": next}`.
async fn updates(
    State(sim): State<Arc<LumuSim>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Err(denied) = sim.admit(Endpoint::Updates, &query) {
        return denied.into_response();
    }
    let params = (
        number_param(&query, "offset", 0, 0..=u64::MAX),
        number_param(&query, "items", 50, 1..=100),
        number_param(&query, "time", 0, 0..=MAX_JOURNAL_WAIT_SECS),
    );
    let (offset, items, wait) = match params {
        (Ok(o), Ok(i), Ok(t)) => (o, i as usize, Duration::from_secs(t)),
        (Err(e), ..) | (_, Err(e), _) | (.., Err(e)) => return e.into_response(),
    };
    let deadline = tokio::time::Instant::now() + wait;
    let mut end_changed = sim.journal_end.subscribe();
    // What an answer without events says: where the events asked for will be.
    let mut idle_offset = offset;
    loop {
        end_changed.borrow_and_update();
        let mode = *sim.journal_mode.lock().unwrap();
        let answer = {
            let journal = sim.journal.lock().unwrap();
            // `offset` starts at 0 (`reference/lumu.md`): 0 is the oldest event held.
            let start = if offset == 0 {
                journal.first
            } else if offset < journal.first {
                match mode.expired {
                    Expired::Skip => journal.first,
                    Expired::Refuse => {
                        return error(
                            StatusCode::BAD_REQUEST,
                            "BadRequest",
                            &format!(
                                "offset {offset} is no longer in the journal, which starts at {}",
                                journal.first
                            ),
                        )
                        .into_response();
                    }
                }
            } else {
                offset
            };
            let end = journal.end();
            if start <= end {
                idle_offset = start;
            }
            if start > end {
                match mode.past_end {
                    PastEnd::Clamp => Some((Vec::new(), end)),
                    PastEnd::Refuse => {
                        return error(
                            StatusCode::BAD_REQUEST,
                            "BadRequest",
                            &format!("offset {offset} is past the journal's end ({end})"),
                        )
                        .into_response();
                    }
                    PastEnd::Wait => None,
                }
            } else if start < end {
                let from = (start - journal.first) as usize;
                let events: Vec<Value> =
                    journal.events[from..].iter().take(items).cloned().collect();
                let next = start + events.len() as u64;
                Some((events, next))
            } else {
                None
            }
        };
        if let Some((events, next)) = answer {
            return axum::Json(json!({"updates": events, "offset": next})).into_response();
        }
        let nothing = || axum::Json(json!({"updates": [], "offset": idle_offset})).into_response();
        if mode.no_long_poll {
            return nothing();
        }
        // Nothing yet: wait for the journal to grow, up to the deadline.
        let grown = tokio::time::timeout_at(deadline, end_changed.changed()).await;
        if !matches!(grown, Ok(Ok(()))) {
            return nothing();
        }
    }
}

/// Lumu's `POST /api/incidents/{id}/close`, `/mute` and `/unmute` (body `{"comment"}`):
/// 200 with an empty body, as Lumu answers them.
async fn status_action(
    State(sim): State<Arc<LumuSim>>,
    Path((id, action)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let status = match action.as_str() {
        "close" => "closed",
        "mute" => "muted",
        "unmute" => "open",
        _ => return error(StatusCode::NOT_FOUND, "NotFound", "no such action").into_response(),
    };
    if let Err(denied) = sim.admit(Endpoint::Status, &query) {
        return denied.into_response();
    }
    if sim.set_status(&id, status) {
        StatusCode::OK.into_response()
    } else {
        error(StatusCode::NOT_FOUND, "NotFound", "no such incident").into_response()
    }
}

/// The simulator's own `POST /sim/incidents?key=K` with
/// `{"adversaries", "adversaryTypes", "threatTriggers", "relatedFiles"}` (lists of strings;
/// adversaries required): opens a new incident, as detection would, and answers its id.
async fn new_incident(
    State(sim): State<Arc<LumuSim>>,
    Query(query): Query<HashMap<String, String>>,
    body: axum::body::Bytes,
) -> Response {
    if query.get("key").map(String::as_str) != Some(sim.company_key.as_str()) {
        return error(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "invalid company key",
        )
        .into_response();
    }
    let Ok(spec) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "BadRequest", "body is not JSON").into_response();
    };
    let lists = (
        list_of_strings(&spec, "adversaries"),
        list_of_strings(&spec, "adversaryTypes"),
        list_of_strings(&spec, "threatTriggers"),
        list_of_strings(&spec, "relatedFiles"),
    );
    let (adversaries, types, triggers, files) = match lists {
        (Ok(Some(a)), Ok(t), Ok(tr), Ok(f)) if !a.is_empty() => (a, t, tr, f),
        (Err(e), ..) | (_, Err(e), ..) | (.., Err(e), _) | (.., Err(e)) => {
            return e.into_response();
        }
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "adversaries must be a list of at least one host or address",
            )
            .into_response();
        }
    };
    let id = random_uuid();
    fn strs(v: &[String]) -> Vec<&str> {
        v.iter().map(String::as_str).collect()
    }
    let types = types.unwrap_or_else(|| vec!["Malware".into()]);
    let incident = SimIncident::open(
        &id,
        chrono::Duration::zero(),
        &strs(&adversaries),
        &strs(&types),
    )
    .with_triggers(&strs(&triggers.unwrap_or_default()))
    .with_files(&strs(&files.unwrap_or_default()));
    sim.open_incident(incident);
    axum::Json(json!({"id": id})).into_response()
}

/// A random version-4 UUID, as Lumu's ids are.
pub fn random_uuid() -> String {
    let hex = |n: usize| -> String {
        (0..n)
            .map(|_| char::from_digit(fastrand::u32(0..16), 16).unwrap())
            .collect()
    };
    let variant = char::from_digit(fastrand::u32(8..12), 16).unwrap();
    format!(
        "{}-{}-4{}-{variant}{}-{}",
        hex(8),
        hex(4),
        hex(3),
        hex(3),
        hex(12)
    )
}

/// `n` generated open incidents with `iocs_per_incident` distinct IOCs each (domains, IPv4
/// addresses, URLs and SHA-1 hashes in turn), numbered from `first`: for benchmarks and
/// large tests.
pub fn generated_incidents(first: usize, n: usize, iocs_per_incident: usize) -> Vec<SimIncident> {
    (first..first + n)
        .map(|i| {
            let mut incident = SimIncident::open(
                &format!("00000000-0000-4000-8000-{i:012}"),
                chrono::Duration::minutes((i % 1000) as i64 + 1),
                &[],
                &["C2C"],
            );
            for j in 0..iocs_per_incident {
                let n = i * iocs_per_incident + j;
                match j % 4 {
                    0 => incident.adversaries.push(format!("c2-{n}.example.net")),
                    // 198.18.0.0/15, the benchmarking range (RFC 2544): public-looking
                    // addresses the built-in guard lets through, unique below 131,072.
                    1 => incident.adversaries.push(format!(
                        "198.{}.{}.{}",
                        18 + ((n >> 16) & 1),
                        (n >> 8) & 255,
                        n & 255
                    )),
                    2 => incident
                        .threat_triggers
                        .push(format!("https://drop-{n}.example.org/p.php?id={n}")),
                    _ => incident.related_files.push(format!("{n:040x}")),
                }
            }
            incident
        })
        .collect()
}

/// A handful of open incidents of the kinds Lumu reports, for `demo` and `simulate`.
pub fn sample_incidents() -> Vec<SimIncident> {
    let h = chrono::Duration::hours;
    vec![
        SimIncident::open(
            "1b1f6d6e-5c1a-4a8e-9d3e-000000000001",
            h(30),
            &["c2.badguys.example", "203.0.113.10"],
            &["C2C"],
        )
        .with_triggers(&[
            "https://c2.badguys.example/gate.php?id=7",
            "tcp://203.0.113.10:8443",
        ])
        .with_files(&["3395856ce81f2b7382dee72602f798b642f14140"]),
        SimIncident::open(
            "1b1f6d6e-5c1a-4a8e-9d3e-000000000002",
            h(20),
            &["miner.pool.example"],
            &["Mining"],
        )
        .with_triggers(&["stratum+tcp://miner.pool.example:3333"]),
        SimIncident::open(
            "1b1f6d6e-5c1a-4a8e-9d3e-000000000003",
            h(12),
            &["login-paypa1.example"],
            &["Phishing"],
        )
        .with_triggers(&["http://login-paypa1.example/signin/"]),
        SimIncident::open(
            "1b1f6d6e-5c1a-4a8e-9d3e-000000000004",
            h(6),
            &["xj3k9q2.example", "2001:db8::66"],
            &["DGA", "Malware"],
        )
        // A dropper's SHA-1, and the empty file's, which feeds do carry (a sandbox that saw
        // an empty download): the built-in guard holds that one back.
        .with_files(&[
            "7440f32a5788882ff0efdcea7e93dd431d6d1398",
            "da39a3ee5e6b4b0d3255bfef95601890afd80709",
        ]),
        SimIncident::open(
            "1b1f6d6e-5c1a-4a8e-9d3e-000000000005",
            h(2),
            &["198.51.100.23"],
            &["Malware"],
        )
        .with_triggers(&["https://198.51.100.23/payload.bin"]),
    ]
}
