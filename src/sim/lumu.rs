//! A simulated Lumu Defender API: incidents with paging and the documented filters, incident
//! contexts, the company-key check, a rate limit with a daily quota, and the calls received
//! by endpoint. An incident's `lastContact` and `contacts` move on when it is
//! [touched](LumuSim::touch), as a real incident's do when an endpoint contacts the adversary
//! again.

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
            "statusTimestamp": ts(self.timestamp),
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
}

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

    pub fn add(&self, incident: SimIncident) {
        self.incidents.lock().unwrap().push(incident);
    }

    /// Sets an incident's status (`closed`, `muted`, `open`).
    pub fn set_status(&self, id: &str, status: &str) {
        for i in self.incidents.lock().unwrap().iter_mut() {
            if i.id == id {
                i.status = status.to_owned();
            }
        }
    }

    /// An endpoint contacted the incident's adversary again: `lastContact` becomes now (and
    /// always moves forward), `contacts` grows by one, and the context gains `trigger`.
    pub fn touch(&self, id: &str, trigger: Option<&str>) {
        for i in self.incidents.lock().unwrap().iter_mut() {
            if i.id == id {
                i.last_contact = Utc::now().max(i.last_contact + chrono::Duration::milliseconds(1));
                i.contacts += 1;
                i.threat_triggers.extend(trigger.map(str::to_owned));
            }
        }
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
            .route("/api/incidents/{id}/context", get(context))
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
