//! A simulated TAXII 2.1 server: discovery with a relative API root, collections, and the
//! objects endpoint with `added_after`, `limit`, `match[type]` and paging by `next` (or, when
//! told, by `X-TAXII-Date-Added-Last` only), auth, the Accept check, and a mode that says
//! `more` forever. A collection can hold stored objects or generate any number of
//! indicators on the fly (for benchmarks, without holding them in memory).
//!
//! [`Oddity`] modes reproduce what real servers do (the cases of
//! `tests/data/cases/taxii/taxii_oddities.py`, one mode each), and the server can point its
//! API root, or redirect, to another origin.
//!
//! By default it is the strict server of the spec: `added_after` is strictly after, and
//! objects are sorted by `date_added`, those added at one time in the order they were added,
//! so objects that share a `date_added` may fall on both sides of a page boundary, by `next`
//! or by date ([`TaxiiSimConfig::next_tokens`]). A server whose clock runs ahead is played
//! by objects added at a time in the future: its `X-TAXII-Date-Added-Last` is then in the
//! future. A server that hangs mid-feed is played by [`TaxiiSim::hold_objects_after`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::server::{Control, RunningServer, bind_loopback, spawn};
use crate::source::taxii::TAXII_MEDIA_TYPE;

/// Where the objects of a collection come from.
#[derive(Debug, Clone)]
enum Objects {
    /// `(date_added, object)`, sorted by `date_added`.
    Stored(Vec<(DateTime<Utc>, String)>),
    /// `count` indicators, the i-th added at `start + i ms`.
    Generated { count: usize, start: DateTime<Utc> },
}

#[derive(Debug, Clone)]
struct SimCollection {
    id: String,
    title: String,
    alias: Option<String>,
    can_read: bool,
    objects: Objects,
}

/// A real server's way of answering, as `taxii_oddities.py` reproduces it
/// (`tests/data/cases/README.md` gives the right behaviour of each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Oddity {
    /// `next` tokens holding reserved characters (`/+=&` and a space), valid only with the
    /// original filters.
    OpaqueNext,
    /// `more: true` with `"next": ""` and X-TAXII-Date-Added-Last; a request with an empty
    /// `next` is taken as one without (the first page again).
    EmptyNext,
    /// No `next`; X-TAXII-Date-Added-First/-Last written with `+00:00` instead of `Z`.
    OffsetHeader,
    /// No `next`; `added_after` taken as inclusive (`>=`).
    Inclusive,
    /// Content-Types written as real servers do (parameters reordered, with spaces and a
    /// charset, `stix+json` for the collection list, `application/json` on an error), and a
    /// collection `forbidden` listed as readable that answers 403.
    ContentTypes,
    /// The objects answer is `{}`: no `objects`, no `more`, no headers.
    Empty,
}

impl Oddity {
    /// Every mode, with the name `taxii_oddities.py` gives it.
    pub const ALL: [(Oddity, &'static str); 6] = [
        (Oddity::OpaqueNext, "opaque-next"),
        (Oddity::EmptyNext, "empty-next"),
        (Oddity::OffsetHeader, "offset-header"),
        (Oddity::Inclusive, "inclusive"),
        (Oddity::ContentTypes, "content-types"),
        (Oddity::Empty, "empty"),
    ];
}

/// The collection of the oddity cases.
pub const ODDITY_COLLECTION: &str = "5d0b3c2e-0000-4000-8000-0000000000c1";

/// How the simulated server pages and authenticates.
#[derive(Debug, Clone)]
pub struct TaxiiSimConfig {
    /// `Authorization: Bearer <token>`; `None` with `basic` also `None`: no auth.
    pub token: Option<String>,
    /// HTTP Basic user and password.
    pub basic: Option<(String, String)>,
    /// The most objects a page (a larger `limit` is cut to it).
    pub max_page_size: usize,
    /// Page with `next` tokens; when false, only `more` and `X-TAXII-Date-Added-Last`.
    pub next_tokens: bool,
    /// A real server's way of answering.
    pub oddity: Option<Oddity>,
    /// The API root the discovery document names (default `../api1/`, relative).
    pub api_root: Option<String>,
    /// Redirect (302) every API root request to this base URL with the same path and query.
    pub redirect_to: Option<String>,
}

impl Default for TaxiiSimConfig {
    fn default() -> Self {
        TaxiiSimConfig {
            token: None,
            basic: None,
            max_page_size: 1_000,
            next_tokens: true,
            oddity: None,
            api_root: None,
            redirect_to: None,
        }
    }
}

/// The simulated server's data.
#[derive(Debug)]
pub struct TaxiiSim {
    config: Mutex<TaxiiSimConfig>,
    collections: Mutex<Vec<SimCollection>>,
    more_forever: Mutex<bool>,
    /// The path and query of every objects request, in order.
    objects_requests: Mutex<Vec<String>>,
    /// Objects requests after this many wait until it is lifted (see
    /// [`TaxiiSim::hold_objects_after`]).
    hold: tokio::sync::watch::Sender<Option<usize>>,
    pub control: Control,
}

/// The `YYYY-MM-DDTHH:MM:SS.ssssssZ` form TAXII uses.
pub fn taxii_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// A STIX 2.1 indicator object.
pub fn indicator(id: &str, pattern: &str, modified: DateTime<Utc>) -> Value {
    json!({
        "type": "indicator",
        "spec_version": "2.1",
        "id": id,
        "created": taxii_time(modified - Duration::days(1)),
        "modified": taxii_time(modified),
        "name": "simulated indicator",
        "indicator_types": ["malicious-activity"],
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": taxii_time(modified - Duration::days(1)),
    })
}

/// The i-th generated indicator (an IPv4 address, a domain, a URL or a SHA-1, in turn),
/// added at `added`, appended to `out`. Written straight into the page without `format!`,
/// so that serving a benchmark's million indicators costs the simulator little of the
/// machine the client is measured on.
pub fn write_generated_indicator(out: &mut String, i: usize, added: DateTime<Utc>) {
    // The time to the second is the same for a thousand indicators in a row.
    thread_local! {
        static SECOND: std::cell::RefCell<(i64, String)> = const {
            std::cell::RefCell::new((i64::MIN, String::new()))
        };
    }
    let mut t = [0u8; 27];
    SECOND.with_borrow_mut(|(second, prefix)| {
        if *second != added.timestamp() {
            *second = added.timestamp();
            *prefix = added.format("%Y-%m-%dT%H:%M:%S.").to_string();
        }
        t[..20].copy_from_slice(prefix.as_bytes());
    });
    put_digits(
        &mut t[20..26],
        u64::from(added.timestamp_subsec_micros()),
        10,
    );
    t[26] = b'Z';
    let t = std::str::from_utf8(&t).expect("ASCII");
    let i64 = i as u64;
    let mut id = [0u8; 12];
    put_digits(&mut id, i64, 10);
    let id = std::str::from_utf8(&id).expect("ASCII");
    for part in [
        r#"{"type":"indicator","spec_version":"2.1","id":"indicator--00000000-0000-4000-8000-"#,
        id,
        r#"","created":""#,
        t,
        r#"","modified":""#,
        t,
        r#"","indicator_types":["malicious-activity"],"pattern":"["#,
    ] {
        out.push_str(part);
    }
    let decimal = |n: u64| n.to_string();
    match i % 4 {
        0 => {
            out.push_str("ipv4-addr:value = '10.");
            out.push_str(&decimal((i64 >> 16) & 255));
            out.push('.');
            out.push_str(&decimal((i64 >> 8) & 255));
            out.push('.');
            out.push_str(&decimal(i64 & 255));
        }
        1 => {
            out.push_str("domain-name:value = 'd");
            out.push_str(&decimal(i64));
            out.push_str(".example.net");
        }
        2 => {
            let n = decimal(i64);
            out.push_str("url:value = 'http://u");
            out.push_str(&n);
            out.push_str(".example.org/p?id=");
            out.push_str(&n);
        }
        _ => {
            let mut hash = [0u8; 40];
            put_digits(&mut hash, i64, 16);
            out.push_str("file:hashes.'SHA-1' = '");
            out.push_str(std::str::from_utf8(&hash).expect("ASCII"));
        }
    }
    out.push_str(r#"']","pattern_type":"stix","valid_from":""#);
    out.push_str(t);
    out.push_str(r#""}"#);
}

/// `n` in `radix` (10 or 16, lower-case), zero-padded to fill `digits`.
fn put_digits(digits: &mut [u8], mut n: u64, radix: u64) {
    for d in digits.iter_mut().rev() {
        *d = b"0123456789abcdef"[(n % radix) as usize];
        n /= radix;
    }
}

impl TaxiiSim {
    pub fn new(config: TaxiiSimConfig) -> Arc<Self> {
        Arc::new(TaxiiSim {
            config: Mutex::new(config),
            collections: Mutex::default(),
            more_forever: Mutex::default(),
            objects_requests: Mutex::default(),
            hold: tokio::sync::watch::Sender::new(None),
            control: Control::default(),
        })
    }

    /// The data of `taxii_oddities.py` in `oddity`'s mode: collection
    /// [`ODDITY_COLLECTION`] ("feed") of five indicators `n01.feed.example` ...
    /// `n05.feed.example` added at `base` + 1..5 s (+ 1, 2, 3, 3, 3 s when `Inclusive`),
    /// created on `base`'s day; pages of at most 2.
    pub fn with_oddity(oddity: Oddity, base: DateTime<Utc>, config: TaxiiSimConfig) -> Arc<Self> {
        let sim = TaxiiSim::new(TaxiiSimConfig {
            max_page_size: 2,
            oddity: Some(oddity),
            ..config
        });
        sim.add_collection(ODDITY_COLLECTION, "feed", None, true);
        let seconds: &[i64] = match oddity {
            Oddity::Inclusive => &[1, 2, 3, 3, 3],
            Oddity::Empty => &[],
            _ => &[1, 2, 3, 4, 5],
        };
        let day = base
            .date_naive()
            .and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_utc();
        for (i, &s) in seconds.iter().enumerate() {
            let n = i + 1;
            let mut object = indicator(
                &format!("indicator--5d0b3c2e-0000-4000-8000-{n:012}"),
                &format!("[domain-name:value = 'n{n:02}.feed.example']"),
                day,
            );
            object["created"] = json!(taxii_time(day));
            object["valid_from"] = json!(taxii_time(day));
            sim.add_object(ODDITY_COLLECTION, base + Duration::seconds(s), object);
        }
        if oddity == Oddity::ContentTypes {
            sim.add_collection("forbidden", "premium", None, true);
        }
        sim
    }

    /// The path and query of every objects request so far.
    pub fn objects_requests(&self) -> Vec<String> {
        self.objects_requests.lock().unwrap().clone()
    }

    fn oddity(&self) -> Option<Oddity> {
        self.config.lock().unwrap().oddity
    }

    pub fn set_config(&self, config: TaxiiSimConfig) {
        *self.config.lock().unwrap() = config;
    }

    /// Adds an empty collection.
    pub fn add_collection(&self, id: &str, title: &str, alias: Option<&str>, can_read: bool) {
        self.collections.lock().unwrap().push(SimCollection {
            id: id.into(),
            title: title.into(),
            alias: alias.map(Into::into),
            can_read,
            objects: Objects::Stored(Vec::new()),
        });
    }

    /// A collection of `count` generated indicators added from `start`, a millisecond apart.
    pub fn add_generated_collection(&self, id: &str, count: usize, start: DateTime<Utc>) {
        self.collections.lock().unwrap().push(SimCollection {
            id: id.into(),
            title: format!("{count} generated indicators"),
            alias: None,
            can_read: true,
            objects: Objects::Generated { count, start },
        });
    }

    /// Adds an object (a new version of an indicator is just another object) at `date_added`.
    /// Any JSON value is served as given, as a server that stores what it is sent does:
    /// `json!("str")`, `json!(5)`, an indicator whose `pattern` is a number...
    pub fn add_object(&self, collection: &str, date_added: DateTime<Utc>, object: Value) {
        self.add_raw_object(collection, date_added, &object.to_string());
    }

    /// Adds the JSON text `object` as it is written, at `date_added`: what a [`Value`] cannot
    /// hold, such as a key given twice. It must be one JSON value, or the page is not JSON.
    pub fn add_raw_object(&self, collection: &str, date_added: DateTime<Utc>, object: &str) {
        let mut collections = self.collections.lock().unwrap();
        let c = collections
            .iter_mut()
            .find(|c| c.id == collection)
            .expect("a collection of the simulator");
        if let Objects::Stored(objects) = &mut c.objects {
            // TAXII timestamps carry microseconds: keep what the headers can say.
            let micros = date_added.timestamp_micros();
            let date_added = DateTime::from_timestamp_micros(micros).expect("a valid time");
            objects.push((date_added, object.to_owned()));
            objects.sort_by_key(|(t, _)| *t);
        }
    }

    /// With `Some(n)`, the objects requests after the n-th get no answer until this is
    /// called again with `None` (a server that hangs mid-feed: the client may be stopped
    /// while it waits); they are counted among the requests when they arrive.
    pub fn hold_objects_after(&self, n: Option<usize>) {
        self.hold.send_replace(n);
    }

    /// Always answer `more: true` with the same page (a server that never finishes).
    pub fn set_more_forever(&self, on: bool) {
        *self.more_forever.lock().unwrap() = on;
    }

    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/taxii2/", get(discovery))
            .route("/api1/", get(api_root))
            .route("/api1/collections/", get(collections))
            .route("/api1/collections/{id}/", get(collection))
            .route("/api1/collections/{id}/objects/", get(objects))
            .with_state(self.clone())
    }

    pub async fn serve(self: &Arc<Self>, port: u16) -> anyhow::Result<RunningServer> {
        let listener = bind_loopback(port).await?;
        spawn(listener, self.router(), None, self.control.clone())
    }

    /// The Accept and auth checks of every request.
    fn admit(&self, headers: &HeaderMap) -> Result<(), Refused> {
        let accept = headers
            .get("accept")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !accept.replace(' ', "").contains(TAXII_MEDIA_TYPE) {
            return Err(Refused::NotAcceptable);
        }
        let config = self.config.lock().unwrap().clone();
        if config.token.is_none() && config.basic.is_none() {
            return Ok(());
        }
        let given = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let bearer_ok = config
            .token
            .as_ref()
            .is_some_and(|t| given == format!("Bearer {t}"));
        let basic_ok = config.basic.as_ref().is_some_and(|(u, p)| {
            given
                == format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
                )
        });
        if bearer_ok || basic_ok {
            Ok(())
        } else {
            Err(Refused::Unauthorized)
        }
    }
}

/// Why a request was refused before it was looked at.
#[derive(Debug)]
enum Refused {
    NotAcceptable,
    Unauthorized,
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Refused::NotAcceptable => taxii_error(
                StatusCode::NOT_ACCEPTABLE,
                "Not Acceptable",
                "use the TAXII 2.1 media type",
            ),
            Refused::Unauthorized => {
                let mut response = taxii_error(
                    StatusCode::UNAUTHORIZED,
                    "Unauthorized",
                    "credentials required",
                );
                response.headers_mut().insert(
                    "www-authenticate",
                    HeaderValue::from_static("Bearer, Basic"),
                );
                response
            }
        }
    }
}

fn taxii_error(status: StatusCode, title: &str, description: &str) -> Response {
    taxii_json(
        status,
        &json!({"title": title, "description": description, "http_status": status.as_u16().to_string()}),
    )
}

fn taxii_json(status: StatusCode, body: &Value) -> Response {
    taxii_body(status, body.to_string())
}

fn taxii_body(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static(TAXII_MEDIA_TYPE));
    response
}

/// The Content-Type of an answer of `kind` (`discovery`, `collections`, `objects`,
/// `error`), as the server writes it.
fn content_type(oddity: Option<Oddity>, kind: &str) -> &'static str {
    match (oddity, kind) {
        (Some(Oddity::ContentTypes), "discovery") => {
            "application/taxii+json; version=2.1; charset=utf-8"
        }
        (Some(Oddity::ContentTypes), "collections") => {
            "application/stix+json; charset=utf-8; version=2.1"
        }
        (Some(Oddity::ContentTypes), "objects") => {
            "application/taxii+json; charset=utf-8; version=2.1"
        }
        (Some(Oddity::ContentTypes), "error") => "application/json; charset=utf-8",
        _ => TAXII_MEDIA_TYPE,
    }
}

/// `response` with its Content-Type as the server writes answers of `kind`.
fn typed(sim: &TaxiiSim, kind: &str, mut response: Response) -> Response {
    response.headers_mut().insert(
        "content-type",
        HeaderValue::from_static(content_type(sim.oddity(), kind)),
    );
    response
}

/// A TAXII error object, typed as the server types errors.
fn sim_error(sim: &TaxiiSim, status: StatusCode, title: &str, description: &str) -> Response {
    typed(sim, "error", taxii_error(status, title, description))
}

/// A 302 to the same path and query under `redirect_to`, when the server is set to.
fn redirected(sim: &TaxiiSim, uri: &Uri) -> Option<Response> {
    let base = sim.config.lock().unwrap().redirect_to.clone()?;
    let to = format!(
        "{}{}",
        base.trim_end_matches('/'),
        uri.path_and_query().map_or("/", |p| p.as_str())
    );
    let mut response = StatusCode::FOUND.into_response();
    response
        .headers_mut()
        .insert("location", HeaderValue::from_str(&to).ok()?);
    Some(response)
}

async fn discovery(State(sim): State<Arc<TaxiiSim>>, headers: HeaderMap) -> Response {
    if let Err(refused) = sim.admit(&headers) {
        return refused.into_response();
    }
    // Relative roots, as the spec allows: clients must resolve them.
    let root = sim
        .config
        .lock()
        .unwrap()
        .api_root
        .clone()
        .unwrap_or_else(|| "../api1/".to_owned());
    typed(
        &sim,
        "discovery",
        taxii_json(
            StatusCode::OK,
            &json!({"title": "Simulated TAXII", "default": root, "api_roots": [root]}),
        ),
    )
}

async fn api_root(State(sim): State<Arc<TaxiiSim>>, uri: Uri, headers: HeaderMap) -> Response {
    if let Some(redirect) = redirected(&sim, &uri) {
        return redirect;
    }
    if let Err(refused) = sim.admit(&headers) {
        return refused.into_response();
    }
    taxii_json(
        StatusCode::OK,
        &json!({"title": "Simulated API root", "versions": [TAXII_MEDIA_TYPE], "max_content_length": 104_857_600}),
    )
}

async fn collections(State(sim): State<Arc<TaxiiSim>>, uri: Uri, headers: HeaderMap) -> Response {
    if let Some(redirect) = redirected(&sim, &uri) {
        return redirect;
    }
    if let Err(refused) = sim.admit(&headers) {
        return refused.into_response();
    }
    let list: Vec<Value> = sim
        .collections
        .lock()
        .unwrap()
        .iter()
        .map(|c| {
            let mut v = json!({"id": c.id, "title": c.title, "can_read": c.can_read, "can_write": false,
                               "media_types": ["application/stix+json;version=2.1"]});
            if let Some(alias) = &c.alias {
                v["alias"] = json!(alias);
            }
            v
        })
        .collect();
    if list.is_empty() {
        return typed(&sim, "collections", taxii_json(StatusCode::OK, &json!({})));
    }
    typed(
        &sim,
        "collections",
        taxii_json(StatusCode::OK, &json!({"collections": list})),
    )
}

async fn collection(
    State(sim): State<Arc<TaxiiSim>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(refused) = sim.admit(&headers) {
        return refused.into_response();
    }
    match sim.collections.lock().unwrap().iter().find(|c| c.id == id) {
        Some(c) => taxii_json(
            StatusCode::OK,
            &json!({"id": c.id, "title": c.title, "can_read": c.can_read, "can_write": false,
                    "media_types": ["application/stix+json;version=2.1"]}),
        ),
        None => taxii_error(StatusCode::NOT_FOUND, "Collection not found", &id),
    }
}

async fn objects(
    State(sim): State<Arc<TaxiiSim>>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Some(redirect) = redirected(&sim, &uri) {
        return redirect;
    }
    if let Err(refused) = sim.admit(&headers) {
        return refused.into_response();
    }
    let nth = {
        let mut requests = sim.objects_requests.lock().unwrap();
        requests.push(
            uri.path_and_query()
                .map_or_else(String::new, |p| p.to_string()),
        );
        requests.len()
    };
    let mut hold = sim.hold.subscribe();
    // Never fails: the sender lives as long as the simulator.
    let _ = hold.wait_for(|after| after.is_none_or(|n| nth <= n)).await;
    let oddity = sim.oddity();
    if oddity == Some(Oddity::ContentTypes) && id == "forbidden" {
        return sim_error(
            &sim,
            StatusCode::FORBIDDEN,
            "Forbidden",
            "no read access to this collection",
        );
    }
    let Some(collection) = sim
        .collections
        .lock()
        .unwrap()
        .iter()
        .find(|c| c.id == id)
        .cloned()
    else {
        return sim_error(&sim, StatusCode::NOT_FOUND, "Collection not found", &id);
    };
    if !collection.can_read {
        return sim_error(
            &sim,
            StatusCode::FORBIDDEN,
            "Forbidden",
            "this collection is not readable",
        );
    }
    let config = sim.config.lock().unwrap().clone();
    let added_after = match query
        .get("added_after")
        .map(|a| DateTime::parse_from_rfc3339(a))
    {
        None => None,
        Some(Ok(t)) => Some(t.with_timezone(&Utc)),
        Some(Err(_)) => {
            return sim_error(
                &sim,
                StatusCode::BAD_REQUEST,
                "Bad added_after",
                "not a timestamp",
            );
        }
    };
    let limit = match query.get("limit").map(|l| l.parse::<usize>()) {
        None => config.max_page_size,
        Some(Ok(l)) if l > 0 => l.min(config.max_page_size),
        _ => {
            return sim_error(
                &sim,
                StatusCode::BAD_REQUEST,
                "Bad limit",
                "a positive integer",
            );
        }
    };
    // `next` is the offset into this exact query's results; it must come with the same filters.
    let filters = format!(
        "{:?}|{limit}|{:?}",
        query.get("added_after"),
        query.get("match[type]")
    );
    let filters = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&filters);
    // OpaqueNext tokens carry reserved characters, as some servers' do.
    let token_prefix = if oddity == Some(Oddity::OpaqueNext) {
        "p/+=&x y"
    } else {
        ""
    };
    let offset = match query.get("next").map(String::as_str) {
        None => 0,
        // An empty `next` names no place: the first page again.
        Some("") if oddity == Some(Oddity::EmptyNext) => 0,
        Some(token) => match token
            .strip_prefix(token_prefix)
            .and_then(|t| t.split_once('@'))
        {
            Some((offset, f)) if f == filters => offset.parse().unwrap_or(usize::MAX),
            _ => {
                return sim_error(
                    &sim,
                    StatusCode::BAD_REQUEST,
                    "Bad next",
                    "next does not belong to this query (same filters, please)",
                );
            }
        },
    };
    if oddity == Some(Oddity::Empty) {
        return typed(&sim, "objects", taxii_body(StatusCode::OK, "{}".to_owned()));
    }
    // Every simulated object is taken for an indicator, so `match[type]=indicator` selects
    // them all (malformed ones too, as a server that indexed them as indicators would).
    let inclusive = oddity == Some(Oddity::Inclusive);
    let page = select(&collection.objects, added_after, inclusive, offset, limit);
    let forever = *sim.more_forever.lock().unwrap();
    let more = forever || offset + page.count < page.total;
    let tokens = config.next_tokens
        && !matches!(
            oddity,
            Some(Oddity::Inclusive | Oddity::OffsetHeader | Oddity::EmptyNext)
        );
    let mut body = String::with_capacity(page.objects.len() + 128);
    body.push_str(&format!("{{\"more\":{more}"));
    if more && oddity == Some(Oddity::EmptyNext) {
        body.push_str(",\"next\":\"\"");
    } else if more && tokens && !forever {
        let token = format!("{token_prefix}{}@{filters}", offset + page.count);
        body.push_str(&format!(",\"next\":{}", json!(token)));
    }
    if page.count > 0 {
        body.push_str(",\"objects\":[");
        body.push_str(&page.objects);
        body.push(']');
    }
    body.push('}');
    let mut response = typed(&sim, "objects", taxii_body(StatusCode::OK, body));
    if let Some((first, last)) = page.added {
        let written = |t: DateTime<Utc>| match oddity {
            Some(Oddity::OffsetHeader) => t.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string(),
            _ => taxii_time(t),
        };
        let h = response.headers_mut();
        h.insert(
            "x-taxii-date-added-first",
            HeaderValue::from_str(&written(first)).unwrap(),
        );
        h.insert(
            "x-taxii-date-added-last",
            HeaderValue::from_str(&written(last)).unwrap(),
        );
    }
    response
}

/// One page of a collection's objects.
struct Page {
    /// The objects, comma-separated.
    objects: String,
    count: usize,
    /// The `date_added` of the first and the last object.
    added: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// Objects added after `added_after`, on this page and the following ones.
    total: usize,
}

/// The page at `offset` of the objects added after `added_after` (or at it, `inclusive`).
fn select(
    objects: &Objects,
    added_after: Option<DateTime<Utc>>,
    inclusive: bool,
    offset: usize,
    limit: usize,
) -> Page {
    match objects {
        Objects::Stored(all) => {
            let start = added_after.map_or(0, |a| {
                all.partition_point(|(t, _)| if inclusive { *t < a } else { *t <= a })
            });
            let matching = &all[start..];
            let page: Vec<&(DateTime<Utc>, String)> =
                matching.iter().skip(offset).take(limit).collect();
            Page {
                objects: page
                    .iter()
                    .map(|(_, o)| o.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
                count: page.len(),
                added: page.first().zip(page.last()).map(|(f, l)| (f.0, l.0)),
                total: matching.len(),
            }
        }
        Objects::Generated { count, start } => {
            let time = |i: usize| *start + Duration::milliseconds(i as i64);
            // The first index added strictly after `added_after` (or at it, `inclusive`).
            let first = match added_after {
                None => 0,
                Some(a) if a < *start => 0,
                Some(a) => {
                    let since = a - *start;
                    let whole = since.num_milliseconds() as usize;
                    let at_one = since == Duration::milliseconds(whole as i64);
                    (whole + usize::from(!(inclusive && at_one))).min(*count)
                }
            };
            let total = count - first;
            let from = first + offset.min(total);
            let to = (from + limit).min(*count);
            let mut objects = String::with_capacity((to - from) * 480);
            for i in from..to {
                if i > from {
                    objects.push(',');
                }
                write_generated_indicator(&mut objects, i, time(i));
            }
            Page {
                objects,
                count: to - from,
                added: (from < to).then(|| (time(from), time(to - 1))),
                total,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_indicators_are_stix_with_four_kinds_of_pattern() {
        let added: DateTime<Utc> = "2026-11-23T08:00:01.002Z".parse().unwrap();
        let expected = [
            (65540, "[ipv4-addr:value = '10.1.0.4']"),
            (65541, "[domain-name:value = 'd65541.example.net']"),
            (
                65542,
                "[url:value = 'http://u65542.example.org/p?id=65542']",
            ),
            (
                65551,
                "[file:hashes.'SHA-1' = '000000000000000000000000000000000001000f']",
            ),
        ];
        for (i, pattern) in expected {
            let mut out = String::new();
            write_generated_indicator(&mut out, i, added);
            let object: Value = serde_json::from_str(&out).unwrap();
            assert_eq!(object["pattern"], *pattern, "{out}");
            assert_eq!(
                object["id"],
                format!("indicator--00000000-0000-4000-8000-{i:012}")
            );
            for field in ["created", "modified", "valid_from"] {
                assert_eq!(object[field], "2026-11-23T08:00:01.002000Z");
            }
            assert_eq!(object["type"], "indicator");
        }
    }
}
