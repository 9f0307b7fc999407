//! A simulated Trend Vision One suspicious-object API (`/v3.0/threatintel/suspiciousObjects`
//! and `.../delete`), as Trend's own SDK `pytmv1` 0.11.0 and mock server
//! (`trendmicro/tm-v1-api-mockup` commit e21ef3c3) show the real one behaves:
//! - a Bearer token, else 401 with the automation guide's ("Troubleshooting") error shape;
//! - list: `top` (50, 100 or 200; 100 when absent), the `TMV1-Filter` header (fields `type`,
//!   `url`, `domain`, `ip`, `senderMailAddress`, `fileSha1`, `fileSha256`, `scanAction`,
//!   `riskLevel`; `eq`, `and`, `or`, `not`, parentheses; at most 4,000 characters), and an
//!   absolute `nextLink` (`.../suspiciousObjects?top=N&skipToken=...`) while more remain;
//! - add and delete: a JSON array body of at most 1 MB (else 413), answered 207 with one
//!   result per item in order: 201 added (or updated: adding a listed object replaces its
//!   fields), 204 deleted, 404 `NotFound` for a delete of a missing object, 400 `BadRequest`
//!   for an invalid item; `daysToExpiration` -1 for an object that never expires, left out
//!   for the tenant's default ([`VisionOneSimConfig::default_days_to_expiration`]);
//! - a capacity per type (10,000 by default). Past it the real Vision One silently drops the
//!   objects closest to expiry (online help, "Suspicious Object List"); this simulator
//!   instead refuses each item that does not fit with 400 and error number 4000018 (the
//!   "list full" code), so that a test sees an overflow rather than a quiet loss.
//!
//! What the sources leave open is a mode here: how a never-expiring object's
//! `expiredDateTime` is listed ([`NeverExpiresAs`]), and hashes listed in upper case.
//! Faults (latency, 5xx, 429 with `Retry-After`, dropped connections) come from the shared
//! server loop ([`super::server`]), and 500 entries inside a 207 answer from
//! [`VisionOneSim::item_5xx_every`]; requests are counted by endpoint
//! ([`VisionOneSim::endpoint_count`]) and, when asked, journaled with the headers that
//! matter ([`VisionOneSim::journal`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use base64::Engine as _;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use super::server::{Control, RunningServer, bind_loopback, spawn};
use crate::ioc::normalize_host;
use crate::sink::vision_one::model::{
    DELETE_PATH, FILTER_HEADER, LIST_FULL_ERROR, NEVER_EXPIRES, ObjectType, SUSPICIOUS_OBJECTS_PATH,
};
use crate::sink::vision_one::{CAPACITY_PER_TYPE, MAX_BODY_BYTES};

/// `daysToExpiration` for "never expires", as an `i64` pattern.
const NEVER_EXPIRES_DAYS: i64 = NEVER_EXPIRES as i64;
/// The longest `TMV1-Filter` the API takes.
pub const MAX_FILTER_CHARS: usize = 4_000;
/// The `top` values the list takes, and the one used when none is given.
pub const TOP_VALUES: [usize; 3] = [50, 100, 200];
pub const DEFAULT_TOP: usize = 100;

/// How a never-expiring object's `expiredDateTime` is listed. The sources do not say;
/// pytmv1 requires a string there (`SuspiciousObject.expired_date_time: str`), so the
/// default is a far-future date, and the other forms test a client's tolerance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NeverExpiresAs {
    /// `"9999-12-31T23:59:59Z"`.
    #[default]
    FarFuture,
    /// `null`.
    Null,
    /// The field is left out.
    Absent,
}

/// The far-future date of [`NeverExpiresAs::FarFuture`].
pub const FAR_FUTURE: &str = "9999-12-31T23:59:59Z";

/// How the simulated server is set up.
#[derive(Debug, Clone)]
pub struct VisionOneSimConfig {
    /// The API token every request must carry as `Authorization: Bearer <token>`.
    pub token: String,
    /// Objects per type before adds are refused with 4000018.
    pub capacity: usize,
    /// Largest request body; larger ones get 413.
    pub max_body_bytes: usize,
    pub never_expires_as: NeverExpiresAs,
    /// Store and list SHA-1 and SHA-256 values in upper case.
    pub uppercase_hashes: bool,
    /// The tenant's default expiry for an add without `daysToExpiration` (`None`: never).
    pub default_days_to_expiration: Option<u32>,
    /// Put this origin (`scheme://host:port`) in `nextLink` instead of the server's own:
    /// a server that sends a client elsewhere.
    pub next_link_origin: Option<String>,
}

impl VisionOneSimConfig {
    /// A configuration with a fresh random token.
    pub fn random() -> Self {
        let part = |n: usize| -> String {
            (0..n)
                .map(|_| {
                    let c = fastrand::u8(0..62);
                    char::from(match c {
                        0..=25 => b'A' + c,
                        26..=51 => b'a' + c - 26,
                        _ => b'0' + c - 52,
                    })
                })
                .collect()
        };
        VisionOneSimConfig {
            token: format!("eyJ{}.{}.{}", part(33), part(86), part(43)),
            capacity: CAPACITY_PER_TYPE,
            max_body_bytes: MAX_BODY_BYTES,
            never_expires_as: NeverExpiresAs::default(),
            uppercase_hashes: false,
            default_days_to_expiration: None,
            next_link_origin: None,
        }
    }
}

/// One object on the simulated list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimObject {
    pub object_type: ObjectType,
    pub value: String,
    pub description: String,
    pub scan_action: String,
    pub risk_level: String,
    pub expires: Option<DateTime<Utc>>,
    pub last_modified: DateTime<Utc>,
}

impl SimObject {
    /// An object as an analyst would add it by hand: block, high risk, never expires.
    pub fn new(object_type: ObjectType, value: &str, description: &str) -> Self {
        SimObject {
            object_type,
            value: value.to_owned(),
            description: description.to_owned(),
            scan_action: "block".into(),
            risk_level: "high".into(),
            expires: None,
            last_modified: Utc::now(),
        }
    }
}

/// A request as the simulator received it, reduced to what a protocol check compares:
/// the token is shown as `Bearer <token>` when it is the right one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    /// `Bearer <token>`, `Bearer <other>`, another scheme as sent, or empty.
    pub authorization: String,
    pub content_type: Option<String>,
    pub filter: Option<String>,
    /// The JSON body, if any.
    pub body: Option<Value>,
}

/// The simulated server's data, shared with the test or command that started it.
#[derive(Debug)]
pub struct VisionOneSim {
    config: VisionOneSimConfig,
    /// By type, then by match key (values compared case-insensitively where Vision One's
    /// types are: domains, hashes, mail addresses).
    lists: Mutex<BTreeMap<ObjectType, BTreeMap<String, SimObject>>>,
    endpoints: Mutex<BTreeMap<&'static str, u64>>,
    journal: Mutex<Option<Vec<RecordedRequest>>>,
    scheme: OnceLock<&'static str>,
    /// Answer every n-th valid add or delete item with a 500 entry (0: never).
    item_5xx_every: AtomicU64,
    /// Values whose add items are answered 400 (see [`VisionOneSim::refuse_value`]).
    refused: Mutex<HashSet<String>>,
    /// Refused items echo the request (see [`VisionOneSim::echo_request_in_refusals`]).
    echo: AtomicBool,
    items_seen: AtomicU64,
    pub control: Control,
}

impl VisionOneSim {
    pub fn new(config: VisionOneSimConfig) -> Arc<Self> {
        Arc::new(VisionOneSim {
            config,
            lists: Mutex::default(),
            endpoints: Mutex::default(),
            journal: Mutex::default(),
            scheme: OnceLock::new(),
            item_5xx_every: AtomicU64::new(0),
            refused: Mutex::default(),
            echo: AtomicBool::new(false),
            items_seen: AtomicU64::new(0),
            control: Control::default(),
        })
    }

    pub fn config(&self) -> &VisionOneSimConfig {
        &self.config
    }

    /// Puts an object on the list directly (a foreign object, say), bypassing the API and
    /// its capacity.
    pub fn insert(&self, mut object: SimObject) {
        object.value = self.stored_value(object.object_type, &object.value);
        let key = match_key(object.object_type, &object.value);
        self.lists
            .lock()
            .unwrap()
            .entry(object.object_type)
            .or_default()
            .insert(key, object);
    }

    /// The objects of one type that have not expired, in list order.
    pub fn objects(&self, object_type: ObjectType) -> Vec<SimObject> {
        let mut lists = self.lists.lock().unwrap();
        live(&mut lists, object_type).values().cloned().collect()
    }

    /// Every object of every type.
    pub fn all_objects(&self) -> Vec<SimObject> {
        ObjectType::ALL
            .into_iter()
            .flat_map(|t| self.objects(t))
            .collect()
    }

    /// Requests the API answered at one endpoint: `list`, `add`, `delete` or `other`.
    /// Requests answered by an injected fault are counted in `control.stats` only.
    pub fn endpoint_count(&self, endpoint: &str) -> u64 {
        self.endpoints
            .lock()
            .unwrap()
            .get(endpoint)
            .copied()
            .unwrap_or(0)
    }

    pub fn endpoint_counts(&self) -> BTreeMap<&'static str, u64> {
        self.endpoints.lock().unwrap().clone()
    }

    /// Answers every n-th valid add or delete item (counted over all requests) with a 500
    /// entry in the 207 answer, leaving the list unchanged for it (0: never). Trend's mock
    /// server has such entries (`add_suspicious_207_500_internal_server_error.json`).
    pub fn item_5xx_every(&self, n: u64) {
        self.item_5xx_every.store(n, Ordering::Relaxed);
    }

    /// Answers every add item of `value` with 400 `BadRequest`, as Trend's mock server's
    /// `add_suspicious_207_400_bad_request.json` answers a refused item, leaving the list
    /// unchanged for it: a failed item beside others that are done.
    pub fn refuse_value(&self, value: &str) {
        self.refused.lock().unwrap().insert(value.to_owned());
    }

    /// From now on, a refused item's message (see [`Self::refuse_value`]) echoes the request:
    /// its `Authorization` header, and the token again as a query string would carry it, as
    /// a gateway that quotes the request it refused does.
    pub fn echo_request_in_refusals(&self, on: bool) {
        self.echo.store(on, Ordering::Relaxed);
    }

    /// True when the next valid item is to fail with 500.
    fn item_fault(&self) -> bool {
        let every = self.item_5xx_every.load(Ordering::Relaxed);
        let n = self.items_seen.fetch_add(1, Ordering::Relaxed) + 1;
        every > 0 && n.is_multiple_of(every)
    }

    /// Starts recording every request the API answers (see [`RecordedRequest`]).
    pub fn start_journal(&self) {
        *self.journal.lock().unwrap() = Some(Vec::new());
    }

    /// The requests recorded since [`Self::start_journal`].
    pub fn journal(&self) -> Vec<RecordedRequest> {
        self.journal.lock().unwrap().clone().unwrap_or_default()
    }

    /// The router of the suspicious-object API.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route(SUSPICIOUS_OBJECTS_PATH, any(api))
            .route(DELETE_PATH, any(api))
            .fallback(any(api))
            // The 1 MB limit is checked by the handler, to answer in Vision One's shape.
            .layer(DefaultBodyLimit::disable())
            .with_state(self.clone())
    }

    /// Serves on a loopback port (0 picks one), over TLS when given a configuration.
    pub async fn serve(
        self: &Arc<Self>,
        port: u16,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> anyhow::Result<RunningServer> {
        let _ = self
            .scheme
            .set(if tls.is_some() { "https" } else { "http" });
        let listener = bind_loopback(port).await?;
        spawn(listener, self.router(), tls, self.control.clone())
    }

    fn stored_value(&self, object_type: ObjectType, value: &str) -> String {
        let hash = matches!(object_type, ObjectType::FileSha1 | ObjectType::FileSha256);
        if hash && self.config.uppercase_hashes {
            value.to_ascii_uppercase()
        } else {
            value.to_owned()
        }
    }

    fn count(&self, endpoint: &'static str) {
        *self.endpoints.lock().unwrap().entry(endpoint).or_default() += 1;
    }

    fn record(&self, method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) {
        let mut journal = self.journal.lock().unwrap();
        let Some(journal) = journal.as_mut() else {
            return;
        };
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let authorization = match header("authorization") {
            None => String::new(),
            Some(v) => match v.strip_prefix("Bearer ") {
                Some(t) if t == self.config.token => "Bearer <token>".into(),
                Some(_) => "Bearer <other>".into(),
                None => v.split(' ').next().unwrap_or_default().to_owned(),
            },
        };
        journal.push(RecordedRequest {
            method: method.to_string(),
            path: uri.path().to_owned(),
            query: query_pairs(uri),
            authorization,
            content_type: header("content-type"),
            filter: header(FILTER_HEADER),
            body: serde_json::from_slice(body).ok(),
        });
    }

    fn list(&self, uri: &Uri, headers: &HeaderMap) -> Response {
        let query: HashMap<String, String> = query_pairs(uri).into_iter().collect();
        let top = match query.get("top") {
            None => DEFAULT_TOP,
            Some(t) => match t.parse::<usize>() {
                Ok(n) if TOP_VALUES.contains(&n) => n,
                _ => return bad_request(&format!("Invalid top `{t}`: use 50, 100 or 200.")),
            },
        };
        let filter = match headers.get(FILTER_HEADER).map(|v| v.to_str()) {
            None => None,
            Some(Err(_)) => return bad_request("Invalid TMV1-Filter header."),
            Some(Ok(f)) if f.chars().count() > MAX_FILTER_CHARS => {
                return bad_request("TMV1-Filter is longer than 4000 characters.");
            }
            Some(Ok(f)) => match filter::parse(f) {
                Ok(expr) => Some(expr),
                Err(e) => return bad_request(&format!("Invalid TMV1-Filter: {e}")),
            },
        };
        let after = match query.get("skipToken") {
            None => None,
            Some(token) => match decode_cursor(token) {
                Some(cursor) => Some(cursor),
                None => return bad_request("Invalid skipToken."),
            },
        };
        let mut lists = self.lists.lock().unwrap();
        let mut page = Vec::with_capacity(top);
        let mut last = None;
        let mut more = false;
        'types: for object_type in ObjectType::ALL {
            for (key, object) in live(&mut lists, object_type).iter() {
                // List order: types in `ObjectType` order, then keys.
                if after
                    .as_ref()
                    .is_some_and(|(t, k)| (object_type, key) <= (*t, k))
                {
                    continue;
                }
                if !filter.as_ref().is_none_or(|f| f.matches(object)) {
                    continue;
                }
                if page.len() == top {
                    more = true;
                    break 'types;
                }
                page.push(self.listed(object));
                last = Some((object_type, key.clone()));
            }
        }
        let mut body = json!({ "items": page });
        if let (true, Some(last)) = (more, last) {
            let origin = self.config.next_link_origin.clone().unwrap_or_else(|| {
                let scheme = self.scheme.get().copied().unwrap_or("http");
                let host = headers
                    .get("host")
                    .and_then(|h| h.to_str().ok())
                    .unwrap_or("127.0.0.1");
                format!("{scheme}://{host}")
            });
            body["nextLink"] = format!(
                "{origin}{SUSPICIOUS_OBJECTS_PATH}?top={top}&skipToken={}",
                encode_cursor(&last)
            )
            .into();
        }
        (StatusCode::OK, axum::Json(body)).into_response()
    }

    fn listed(&self, o: &SimObject) -> Value {
        let key = o.object_type.key();
        let mut item = json!({
            key: o.value,
            "type": key,
            "description": o.description,
            "scanAction": o.scan_action,
            "riskLevel": o.risk_level,
            "inExceptionList": false,
            "lastModifiedDateTime": o.last_modified.to_rfc3339_opts(SecondsFormat::Secs, true),
        });
        let expiry = match (o.expires, self.config.never_expires_as) {
            (Some(d), _) => Some(d.to_rfc3339_opts(SecondsFormat::Secs, true).into()),
            (None, NeverExpiresAs::FarFuture) => Some(FAR_FUTURE.into()),
            (None, NeverExpiresAs::Null) => Some(Value::Null),
            (None, NeverExpiresAs::Absent) => None,
        };
        if let Some(expiry) = expiry {
            item["expiredDateTime"] = expiry;
        }
        item
    }

    /// The items of an add or delete body, or the whole request's error answer.
    fn items(&self, body: &[u8]) -> Result<Vec<Value>, Box<Response>> {
        if body.len() > self.config.max_body_bytes {
            return Err(Box::new(error(
                413,
                "RequestEntityTooLarge",
                "The request body is larger than 1 MB.",
            )));
        }
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Array(items)) => Ok(items),
            _ => Err(Box::new(bad_request("Invalid request format."))),
        }
    }

    fn add(&self, body: &[u8], authorization: &str) -> Response {
        let items = match self.items(body) {
            Ok(items) => items,
            Err(answer) => return *answer,
        };
        let now = Utc::now();
        let results: Vec<Value> = items
            .iter()
            .map(|item| match self.new_object(item, now) {
                Err(message) => item_error(400, "BadRequest", &message, None),
                Ok(object) if self.refused.lock().unwrap().contains(&object.value) => {
                    let mut message = format!("The object `{}` cannot be added.", object.value);
                    if self.echo.load(Ordering::Relaxed) {
                        let token = authorization.strip_prefix("Bearer ").unwrap_or("");
                        let encoded: String =
                            url::form_urlencoded::byte_serialize(token.as_bytes()).collect();
                        message.push_str(&format!(
                            " Request: POST {SUSPICIOUS_OBJECTS_PATH}?token={encoded} Authorization: {authorization}"
                        ));
                    }
                    item_error(400, "BadRequest", &message, None)
                }
                Ok(_) if self.item_fault() => internal_error(),
                Ok(object) => self.store(object),
            })
            .collect();
        multi_status(results)
    }

    /// Adds or updates, as long as the type has room.
    fn store(&self, object: SimObject) -> Value {
        // Check and insert under one lock, so concurrent adds cannot overfill the list.
        let mut lists = self.lists.lock().unwrap();
        let list = live(&mut lists, object.object_type);
        let key = match_key(object.object_type, &object.value);
        if !list.contains_key(&key) && list.len() >= self.config.capacity {
            return item_error(
                400,
                "BadRequest",
                &format!(
                    "The number of {} objects exceeds the maximum of {}. (Error code: {LIST_FULL_ERROR})",
                    object.object_type, self.config.capacity
                ),
                Some(LIST_FULL_ERROR),
            );
        }
        list.insert(key, object);
        json!({ "status": 201 })
    }

    fn new_object(&self, item: &Value, now: DateTime<Utc>) -> Result<SimObject, String> {
        let (object_type, value) = typed_value(item)?;
        let text = |field: &str| -> Result<Option<&str>, String> {
            match item.get(field) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.as_str())),
                Some(_) => Err(format!("Invalid {field}: not a string.")),
            }
        };
        let description = text("description")?.unwrap_or_default();
        let scan_action = match text("scanAction")? {
            None => "block",
            Some(a @ ("block" | "log")) => a,
            Some(a) => return Err(format!("Invalid scanAction `{a}`: use block or log.")),
        };
        let risk_level = match text("riskLevel")? {
            None => "high",
            Some(r @ ("high" | "medium" | "low")) => r,
            Some(r) => {
                return Err(format!("Invalid riskLevel `{r}`: use high, medium or low."));
            }
        };
        let days = match item.get("daysToExpiration") {
            None | Some(Value::Null) => self.config.default_days_to_expiration,
            Some(d) => match d.as_i64() {
                Some(NEVER_EXPIRES_DAYS) => None,
                Some(d) if d > 0 => Some(
                    u32::try_from(d)
                        .map_err(|_| format!("Invalid daysToExpiration `{d}`: too many days."))?,
                ),
                _ => {
                    return Err(format!(
                        "Invalid daysToExpiration `{d}`: a positive number of days, or -1 for never."
                    ));
                }
            },
        };
        Ok(SimObject {
            object_type,
            value: self.stored_value(object_type, value),
            description: description.to_owned(),
            scan_action: scan_action.to_owned(),
            risk_level: risk_level.to_owned(),
            expires: days.map(|d| now + Duration::days(i64::from(d))),
            last_modified: now,
        })
    }

    fn delete(&self, body: &[u8]) -> Response {
        let items = match self.items(body) {
            Ok(items) => items,
            Err(answer) => return *answer,
        };
        let mut lists = self.lists.lock().unwrap();
        let results = items
            .iter()
            .map(|item| match typed_value(item) {
                Err(message) => item_error(400, "BadRequest", &message, None),
                Ok(_) if self.item_fault() => internal_error(),
                Ok((object_type, value)) => {
                    let key = match_key(object_type, value);
                    match live(&mut lists, object_type).remove(&key) {
                        Some(_) => json!({ "status": 204 }),
                        None => item_error(404, "NotFound", "Not found", None),
                    }
                }
            })
            .collect();
        multi_status(results)
    }
}

async fn api(
    State(sim): State<Arc<VisionOneSim>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let endpoint = match (uri.path(), &method) {
        (SUSPICIOUS_OBJECTS_PATH, &Method::GET) => "list",
        (SUSPICIOUS_OBJECTS_PATH, &Method::POST) => "add",
        (DELETE_PATH, &Method::POST) => "delete",
        _ => "other",
    };
    sim.count(endpoint);
    sim.record(&method, &uri, &headers, &body);
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if token != Some(sim.config.token.as_str()) {
        // The automation guide's "Troubleshooting" example, word for word.
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": {
                "code": "InvalidCredentials",
                "message": "Invalid token, Authorization token invaild for header",
                "innererror": {"code": "InvalidToken", "service": "svp"}
            }})),
        )
            .into_response();
    }
    match endpoint {
        "list" => sim.list(&uri, &headers),
        "add" => sim.add(
            &body,
            headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or(""),
        ),
        "delete" => sim.delete(&body),
        _ if uri.path() == SUSPICIOUS_OBJECTS_PATH || uri.path() == DELETE_PATH => error(
            405,
            "MethodNotAllowed",
            &format!("The URL does not support the {method} method."),
        ),
        _ => error(404, "NotFound", "Not found"),
    }
}

/// The objects of one type, without those that have expired (Vision One drops them).
fn live(
    lists: &mut BTreeMap<ObjectType, BTreeMap<String, SimObject>>,
    object_type: ObjectType,
) -> &mut BTreeMap<String, SimObject> {
    let now = Utc::now();
    let list = lists.entry(object_type).or_default();
    list.retain(|_, o| o.expires.is_none_or(|e| e > now));
    list
}

/// Values Vision One treats alike share a key: host names, hashes and mail addresses
/// without regard to case.
fn match_key(object_type: ObjectType, value: &str) -> String {
    match object_type {
        ObjectType::Ip | ObjectType::Url => value.to_owned(),
        ObjectType::Domain
        | ObjectType::FileSha1
        | ObjectType::FileSha256
        | ObjectType::SenderMailAddress => value.to_ascii_lowercase(),
    }
}

/// The one type key of an add or delete item and its value, checked for that type.
fn typed_value(item: &Value) -> Result<(ObjectType, &str), String> {
    let Some(obj) = item.as_object() else {
        return Err("Invalid request format: an item is not an object.".into());
    };
    let mut found = ObjectType::ALL
        .into_iter()
        .filter_map(|t| obj.get(t.key()).map(|v| (t, v)));
    let (object_type, value) = match (found.next(), found.next()) {
        (Some(one), None) => one,
        (None, _) => {
            return Err(
                "Fields not found: give one of url, domain, ip, senderMailAddress, fileSha1, fileSha256."
                    .into(),
            );
        }
        (Some(_), Some(_)) => return Err("Give one object per item.".into()),
    };
    let Some(value) = value.as_str() else {
        return Err(format!("Invalid {object_type}: not a string."));
    };
    let valid = match object_type {
        ObjectType::Ip => value.parse::<IpAddr>().is_ok(),
        ObjectType::Domain => normalize_host(value).is_some(),
        ObjectType::Url => url::Url::parse(value)
            .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some()),
        ObjectType::FileSha1 => is_hex(value, 40),
        ObjectType::FileSha256 => is_hex(value, 64),
        ObjectType::SenderMailAddress => value
            .split_once('@')
            .is_some_and(|(user, host)| !user.is_empty() && normalize_host(host).is_some()),
    };
    if !valid {
        return Err(format!(
            "Invalid field format: `{value}` is not a valid {object_type}."
        ));
    }
    Ok((object_type, value))
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn query_pairs(uri: &Uri) -> Vec<(String, String)> {
    uri.query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default()
}

/// `skipToken`: the last (type, key) of the page, base64url of a JSON pair.
fn encode_cursor((object_type, key): &(ObjectType, String)) -> String {
    let json = serde_json::to_vec(&(object_type.key(), key)).expect("a pair serialises");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

fn decode_cursor(token: &str) -> Option<(ObjectType, String)> {
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()?;
    let (type_key, key): (String, String) = serde_json::from_slice(&json).ok()?;
    Some((ObjectType::from_key(&type_key)?, key))
}

fn error(status: u16, code: &str, message: &str) -> Response {
    (
        StatusCode::from_u16(status).expect("a valid status"),
        axum::Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

fn bad_request(message: &str) -> Response {
    error(400, "BadRequest", message)
}

/// A failed item of a 207 answer, as Trend's mock server writes it.
fn item_error(status: u16, code: &str, message: &str, number: Option<i64>) -> Value {
    let mut error = json!({"code": code, "message": message});
    if let Some(number) = number {
        error["number"] = number.into();
    }
    json!({"status": status, "body": {"error": error}})
}

fn internal_error() -> Value {
    item_error(500, "InternalServerError", "Internal server error.", None)
}

fn multi_status(results: Vec<Value>) -> Response {
    (StatusCode::MULTI_STATUS, axum::Json(Value::Array(results))).into_response()
}

/// `TMV1-Filter` expressions: `field eq 'value'` joined by `and`, `or`, `not` and
/// parentheses (operators in any case; `''` is a quote inside a value).
mod filter {
    use super::{ObjectType, SimObject};

    #[derive(Debug, Clone, PartialEq)]
    pub enum Expr {
        Eq(Field, String),
        Not(Box<Expr>),
        And(Box<Expr>, Box<Expr>),
        Or(Box<Expr>, Box<Expr>),
    }

    #[derive(Debug, Clone, Copy, PartialEq)]
    pub enum Field {
        Type,
        Value(ObjectType),
        ScanAction,
        RiskLevel,
    }

    impl Expr {
        pub fn matches(&self, o: &SimObject) -> bool {
            match self {
                Expr::Eq(Field::Type, v) => o.object_type.key() == v,
                Expr::Eq(Field::Value(t), v) => o.object_type == *t && o.value == *v,
                Expr::Eq(Field::ScanAction, v) => o.scan_action == *v,
                Expr::Eq(Field::RiskLevel, v) => o.risk_level == *v,
                Expr::Not(e) => !e.matches(o),
                Expr::And(a, b) => a.matches(o) && b.matches(o),
                Expr::Or(a, b) => a.matches(o) || b.matches(o),
            }
        }
    }

    #[derive(Debug, Clone, PartialEq)]
    enum Token {
        Open,
        Close,
        Word(String),
        Text(String),
    }

    fn tokens(s: &str) -> Result<Vec<Token>, String> {
        let mut out = Vec::new();
        let mut chars = s.chars().peekable();
        while let Some(&c) = chars.peek() {
            match c {
                c if c.is_whitespace() => {
                    chars.next();
                }
                '(' => {
                    chars.next();
                    out.push(Token::Open);
                }
                ')' => {
                    chars.next();
                    out.push(Token::Close);
                }
                '\'' => {
                    chars.next();
                    let mut text = String::new();
                    loop {
                        match chars.next() {
                            None => return Err("a quoted value is not closed".into()),
                            Some('\'') if chars.peek() == Some(&'\'') => {
                                chars.next();
                                text.push('\'');
                            }
                            Some('\'') => break,
                            Some(c) => text.push(c),
                        }
                    }
                    out.push(Token::Text(text));
                }
                c if c.is_ascii_alphanumeric() || c == '_' => {
                    let mut word = String::new();
                    while let Some(&c) = chars.peek() {
                        if !(c.is_ascii_alphanumeric() || c == '_') {
                            break;
                        }
                        word.push(c);
                        chars.next();
                    }
                    out.push(Token::Word(word));
                }
                other => return Err(format!("unexpected `{other}`")),
            }
        }
        Ok(out)
    }

    pub fn parse(s: &str) -> Result<Expr, String> {
        let tokens = tokens(s)?;
        let mut p = Parser { tokens, at: 0 };
        let expr = p.or()?;
        match p.tokens.get(p.at) {
            None => Ok(expr),
            Some(t) => Err(format!("unexpected {t:?}")),
        }
    }

    struct Parser {
        tokens: Vec<Token>,
        at: usize,
    }

    impl Parser {
        fn keyword(&mut self, k: &str) -> bool {
            if matches!(self.tokens.get(self.at), Some(Token::Word(w)) if w.eq_ignore_ascii_case(k))
            {
                self.at += 1;
                true
            } else {
                false
            }
        }

        fn or(&mut self) -> Result<Expr, String> {
            let mut e = self.and()?;
            while self.keyword("or") {
                e = Expr::Or(Box::new(e), Box::new(self.and()?));
            }
            Ok(e)
        }

        fn and(&mut self) -> Result<Expr, String> {
            let mut e = self.unary()?;
            while self.keyword("and") {
                e = Expr::And(Box::new(e), Box::new(self.unary()?));
            }
            Ok(e)
        }

        fn unary(&mut self) -> Result<Expr, String> {
            if self.keyword("not") {
                return Ok(Expr::Not(Box::new(self.unary()?)));
            }
            match self.tokens.get(self.at).cloned() {
                Some(Token::Open) => {
                    self.at += 1;
                    let e = self.or()?;
                    if self.tokens.get(self.at) != Some(&Token::Close) {
                        return Err("a parenthesis is not closed".into());
                    }
                    self.at += 1;
                    Ok(e)
                }
                Some(Token::Word(name)) => {
                    self.at += 1;
                    let field = match name.as_str() {
                        "type" => Field::Type,
                        "scanAction" => Field::ScanAction,
                        "riskLevel" => Field::RiskLevel,
                        other => Field::Value(
                            ObjectType::from_key(other)
                                .ok_or_else(|| format!("unknown field `{other}`"))?,
                        ),
                    };
                    if !self.keyword("eq") {
                        return Err(format!("expected eq after `{name}`"));
                    }
                    match self.tokens.get(self.at).cloned() {
                        Some(Token::Text(v)) => {
                            self.at += 1;
                            Ok(Expr::Eq(field, v))
                        }
                        _ => Err(format!("expected a quoted value after `{name} eq`")),
                    }
                }
                other => Err(format!("expected a condition, found {other:?}")),
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn object(t: ObjectType, v: &str, risk: &str) -> SimObject {
            let mut o = SimObject::new(t, v, "");
            o.risk_level = risk.into();
            o
        }

        #[test]
        fn filters_of_the_documented_forms() {
            let url = object(ObjectType::Url, "https://x.example/it's", "high");
            let ip = object(ObjectType::Ip, "10.0.0.1", "low");
            let f = parse("type eq 'url'").unwrap();
            assert!(f.matches(&url) && !f.matches(&ip));
            // The documentation's own example, operators in upper case.
            let f = parse("type eq 'url' AND riskLevel eq 'high'").unwrap();
            assert!(f.matches(&url) && !f.matches(&ip));
            let f = parse("not (type eq 'url' or ip eq '10.0.0.2')").unwrap();
            assert!(!f.matches(&url) && f.matches(&ip));
            let f = parse("url eq 'https://x.example/it''s'").unwrap();
            assert!(f.matches(&url));
            for bad in [
                "type = 'url'",
                "type eq url",
                "colour eq 'red'",
                "(type eq 'url'",
                "type eq 'url",
                "type eq 'url' and",
                "",
            ] {
                assert!(parse(bad).is_err(), "{bad}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        let p = (ObjectType::Url, "https://x.example/?a=b&c".to_owned());
        assert_eq!(decode_cursor(&encode_cursor(&p)), Some(p));
        assert_eq!(decode_cursor("!!"), None);
    }

    #[test]
    fn items_are_checked_for_their_type() {
        for (item, ok) in [
            (json!({"ip": "10.0.0.1"}), true),
            (json!({"ip": "2001:db8::1"}), true),
            (json!({"ip": "10.0.0.256"}), false),
            (json!({"domain": "Evil.Example"}), true),
            (json!({"domain": "*.evil.example"}), false),
            (json!({"url": "https://evil.example/a?b"}), true),
            (json!({"url": "ftp://evil.example"}), false),
            (
                json!({"fileSha1": "A94A8FE5CCB19BA61C4C0873D391E987982FBBD3"}),
                true,
            ),
            (json!({"fileSha1": "a94a8fe5"}), false),
            (
                json!({"fileSha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}),
                true,
            ),
            (json!({"senderMailAddress": "a@evil.example"}), true),
            (json!({"ip": "10.0.0.1", "domain": "x.example"}), false),
            (json!({"description": "no object"}), false),
            (json!({"ip": 1}), false),
            (json!("10.0.0.1"), false),
        ] {
            assert_eq!(typed_value(&item).is_ok(), ok, "{item}");
        }
    }
}
