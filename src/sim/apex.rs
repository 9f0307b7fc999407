//! A simulated Apex Central: checks every request as the real server does (JWT signature,
//! `version`, `appid`, `iat` age, checksum over method, lower-cased path and query, and
//! body) and keeps a UDSO list with Apex's field rules and capacity, and an OpenIOC filing
//! cabinet whose files it extracts into that list as Apex does.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use base64::Engine as _;
use chrono::{NaiveDateTime, Utc};
use serde_json::{Value, json};

mod openioc;

use super::server::{Control, RunningServer, bind_loopback, spawn};
use crate::apex::auth;
use crate::apex::openioc::{
    EXTRACTION_PATH, FILE_PATH, FILING_CABINET_PATH, MAX_FILE_BYTES, MAX_FILES_PER_UPLOAD,
};
use crate::apex::udso::{
    LIST_DATE_FORMAT, MAX_NOTES_CHARS, UDSO_PATH, UdsoEntry, parse_expiration,
};
use crate::ioc::{Ioc, IocKind};
use crate::sink::apex::APEX_KINDS;

/// Entries per type a real server holds.
pub const DEFAULT_CAPACITY: usize = 10_000;
/// Seconds a token's `iat` may be away from the simulator's clock (Apex's "Communication
/// time-out"), unless `simulate --token-timeout` says otherwise.
pub const DEFAULT_TOKEN_TIMEOUT_SECS: u64 = 120;

/// How the simulated server is set up.
#[derive(Debug, Clone)]
pub struct ApexSimConfig {
    pub app_id: String,
    pub api_key: String,
    /// The application's "Communication time-out": older tokens get 401/18.
    pub token_timeout: Duration,
    /// Entries per type before adds fail with 413/12.
    pub capacity: usize,
    /// Send every number as a string (`Result`, `ErrorCode`, the OpenIOC statuses and
    /// counts) and every empty optional text as `null` (`ErrorMsg`, `notes`, `ShortDesc`,
    /// `ExtractionErrorMessage`...), as some Apex versions do.
    pub string_numbers: bool,
    /// Match content case-insensitively, as a server with a case-insensitive database
    /// collation may: a put of `evil.example` updates a listed `Evil.Example` (which keeps
    /// its spelling), a delete of either removes it, and `contentFilter` ignores case.
    pub case_insensitive_content: bool,
}

impl ApexSimConfig {
    /// A configuration with fresh random credentials.
    pub fn random() -> Self {
        let hex = |n: usize| -> String {
            (0..n)
                .map(|_| char::from_digit(fastrand::u32(0..16), 16).unwrap())
                .collect()
        };
        ApexSimConfig {
            app_id: format!("{}-{}-{}-{}-{}", hex(8), hex(4), hex(4), hex(4), hex(12))
                .to_uppercase(),
            api_key: format!("{}-{}-{}-{}", hex(8), hex(4), hex(4), hex(12)).to_uppercase(),
            token_timeout: Duration::from_secs(DEFAULT_TOKEN_TIMEOUT_SECS),
            capacity: DEFAULT_CAPACITY,
            string_numbers: false,
            case_insensitive_content: false,
        }
    }
}

/// A file in the OpenIOC filing cabinet.
#[derive(Debug, Clone)]
struct CabinetFile {
    name: String,
    content: Vec<u8>,
    added: NaiveDateTime,
    short_description: String,
    extracted: bool,
}

#[derive(Debug, Clone)]
struct Stored {
    notes: String,
    scan_action: String,
    expiration: Option<NaiveDateTime>,
    /// The `type` the entry is listed with, when it is not the type's own name (`file`, as
    /// some Apex versions list SHA-1 entries).
    listed_type: Option<String>,
}

/// Something to do to the server's data when a request arrives (an edit a person makes
/// meanwhile, an answer that changes).
type Action = Box<dyn FnOnce(&ApexSim) + Send>;

/// The simulated server's data, shared with the test or command that started it.
pub struct ApexSim {
    config: ApexSimConfig,
    lists: Mutex<HashMap<IocKind, BTreeMap<String, Stored>>>,
    /// OpenIOC files by FileHashID.
    cabinet: Mutex<BTreeMap<String, CabinetFile>>,
    /// Answer successful calls without `Data` (a broken or changed server).
    without_data: AtomicBool,
    /// Refuse every write (PUT, DELETE) with an error that echoes the request.
    echo_writes: AtomicBool,
    /// Actions to run when the n-th request with a method arrives, before it is answered.
    on_request: Mutex<Vec<(Method, u64, Action)>>,
    requests: Mutex<HashMap<Method, u64>>,
    /// When each content was first put, by kind.
    put_at: Mutex<HashMap<(IocKind, String), std::time::Instant>>,
    pub control: Control,
}

impl std::fmt::Debug for ApexSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApexSim")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl ApexSim {
    pub fn new(config: ApexSimConfig) -> Arc<Self> {
        Arc::new(ApexSim {
            config,
            lists: Mutex::default(),
            cabinet: Mutex::default(),
            without_data: AtomicBool::new(false),
            echo_writes: AtomicBool::new(false),
            on_request: Mutex::default(),
            requests: Mutex::default(),
            put_at: Mutex::default(),
            control: Control::default(),
        })
    }

    /// From now on, answer successful calls with an envelope that has no `Data`.
    pub fn answer_without_data(&self, on: bool) {
        self.without_data.store(on, Ordering::Relaxed);
    }

    /// From now on, refuse every UDSO write (PUT, DELETE) with HTTP 400, error 7, whose
    /// message echoes the request: its line and its `Authorization` header (the signed
    /// token), as a server or gateway that quotes a bad request does.
    pub fn echo_writes(&self, on: bool) {
        self.echo_writes.store(on, Ordering::Relaxed);
    }

    /// Runs `action` when the `nth` request with `method` arrives (counting from 1), before
    /// that request is answered: an edit someone makes while a run is under way.
    pub fn on_request(
        &self,
        method: Method,
        nth: u64,
        action: impl FnOnce(&ApexSim) + Send + 'static,
    ) {
        self.on_request
            .lock()
            .unwrap()
            .push((method, nth, Box::new(action)));
    }

    /// Counts a request and runs the actions waiting for it.
    fn arrived(&self, method: &Method) {
        let n = {
            let mut requests = self.requests.lock().unwrap();
            let n = requests.entry(method.clone()).or_default();
            *n += 1;
            *n
        };
        let due: Vec<Action> = {
            let mut waiting = self.on_request.lock().unwrap();
            let (due, rest): (Vec<_>, Vec<_>) = waiting
                .drain(..)
                .partition(|(m, nth, _)| m == method && *nth == n);
            *waiting = rest;
            due.into_iter().map(|(_, _, action)| action).collect()
        };
        for action in due {
            action(self);
        }
    }

    /// The listed content `content` is stored under: itself, or with case-insensitive
    /// matching the spelling already listed.
    fn stored_key(&self, list: &BTreeMap<String, Stored>, content: &str) -> Option<String> {
        if list.contains_key(content) {
            return Some(content.to_owned());
        }
        if !self.config.case_insensitive_content {
            return None;
        }
        let lower = content.to_lowercase();
        list.keys().find(|k| k.to_lowercase() == lower).cloned()
    }

    /// A number as this server sends it.
    pub(super) fn number(&self, n: i64) -> Value {
        if self.config.string_numbers {
            json!(n.to_string())
        } else {
            json!(n)
        }
    }

    /// An optional text as this server sends it: empty is `null` when it sends strings.
    pub(super) fn optional_text(&self, text: &str) -> Value {
        if self.config.string_numbers && text.is_empty() {
            Value::Null
        } else {
            json!(text)
        }
    }

    pub fn config(&self) -> &ApexSimConfig {
        &self.config
    }

    /// Puts an entry on the list directly (a foreign entry, say), bypassing the API. An
    /// entry of type `file` is a SHA-1 entry listed as `file`.
    pub fn insert(&self, entry: UdsoEntry) {
        let kind = entry.ioc_kind().expect("a UDSO type");
        let listed_type = (entry.kind != kind.udso_type()).then(|| entry.kind.clone());
        self.lists.lock().unwrap().entry(kind).or_default().insert(
            entry.content,
            Stored {
                notes: entry.notes,
                scan_action: entry.scan_action,
                expiration: entry.expiration_utc_date,
                listed_type,
            },
        );
    }

    /// Removes an entry directly, as a person using the console would; returns whether it
    /// was listed.
    pub fn remove(&self, kind: IocKind, content: &str) -> bool {
        let mut lists = self.lists.lock().unwrap();
        Self::live(&mut lists, kind).remove(content).is_some()
    }

    /// The list of one type, without the entries that have expired (Apex drops them).
    fn live(
        lists: &mut HashMap<IocKind, BTreeMap<String, Stored>>,
        kind: IocKind,
    ) -> &mut BTreeMap<String, Stored> {
        let now = Utc::now().naive_utc();
        let list = lists.entry(kind).or_default();
        list.retain(|_, s| s.expiration.is_none_or(|e| e > now));
        list
    }

    /// The entries of one type that have not expired, sorted by content.
    pub fn entries(&self, kind: IocKind) -> Vec<UdsoEntry> {
        let mut lists = self.lists.lock().unwrap();
        Self::live(&mut lists, kind)
            .iter()
            .map(|(content, s)| UdsoEntry {
                kind: s
                    .listed_type
                    .clone()
                    .unwrap_or_else(|| kind.udso_type().to_owned()),
                content: content.clone(),
                notes: s.notes.clone(),
                scan_action: s.scan_action.clone(),
                expiration_utc_date: s.expiration,
            })
            .collect()
    }

    /// Every entry of every type.
    pub fn all_entries(&self) -> Vec<UdsoEntry> {
        APEX_KINDS
            .into_iter()
            .flat_map(|k| self.entries(k))
            .collect()
    }

    /// The names of the files in the OpenIOC filing cabinet.
    pub fn cabinet_names(&self) -> Vec<String> {
        self.cabinet
            .lock()
            .unwrap()
            .values()
            .map(|f| f.name.clone())
            .collect()
    }

    /// The router of the UDSO and OpenIOC APIs.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route(UDSO_PATH, any(api))
            .route(FILE_PATH, any(api))
            .route(EXTRACTION_PATH, any(api))
            .route(FILING_CABINET_PATH, any(api))
            // 200 files of 10 MB, in base64.
            .layer(DefaultBodyLimit::max(
                MAX_FILES_PER_UPLOAD * MAX_FILE_BYTES * 4 / 3 + (1 << 20),
            ))
            .with_state(self.clone())
    }

    /// Serves on a loopback port (0 picks one), over TLS when given a configuration.
    pub async fn serve(
        self: &Arc<Self>,
        port: u16,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> anyhow::Result<RunningServer> {
        let listener = bind_loopback(port).await?;
        spawn(listener, self.router(), tls, self.control.clone())
    }

    fn envelope(&self, status: StatusCode, code: i64, message: &str, data: Value) -> Response {
        let result = self.number(if code == 0 { 1 } else { 0 });
        let mut body = json!({
            "Data": data,
            "Meta": {"Result": result, "ErrorCode": self.number(code), "ErrorMsg": self.optional_text(message)},
            "PermissionCtrl": {"permission": "255", "elements": null},
            "FeatureCtrl": {"mode": "0"},
            "SystemCtrl": {"TmcmSoDist_Role": "none"},
        });
        if code == 0 && self.without_data.load(Ordering::Relaxed) {
            body.as_object_mut().expect("an object").remove("Data");
        }
        (status, axum::Json(body)).into_response()
    }

    fn error(&self, status: u16, code: i64, message: &str) -> Response {
        self.envelope(
            StatusCode::from_u16(status).expect("a valid status"),
            code,
            message,
            Value::Null,
        )
    }

    fn ok(&self, data: Value) -> Response {
        self.envelope(StatusCode::OK, 0, "", data)
    }

    /// The checks of a real server, in the order it can make them: a token at all, a
    /// readable token, a supported algorithm, a known application, its signature, the API
    /// version, the token's age, and the checksum of this very request.
    fn authenticate(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(), (i64, &'static str)> {
        let deny = |code: i64, message: &'static str| Err((code, message));
        let Some(token) = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        else {
            return deny(14, "Token not provided");
        };
        let Ok(header) = jsonwebtoken::decode_header(token) else {
            return deny(15, "Malformed token");
        };
        use jsonwebtoken::Algorithm::{HS256, HS384, HS512};
        if !matches!(header.alg, HS256 | HS384 | HS512) {
            return deny(21, "Unsupported hash function");
        }
        let Some(payload) = token
            .split('.')
            .nth(1)
            .and_then(|p| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(p)
                    .ok()
            })
            .and_then(|p| serde_json::from_slice::<Value>(&p).ok())
        else {
            return deny(15, "Malformed token");
        };
        if payload["appid"].as_str() != Some(self.config.app_id.as_str()) {
            return deny(17, "Invalid application ID");
        }
        let claims = match auth::verify(token, &self.config.api_key) {
            Ok(claims) => claims,
            Err(e) if matches!(e.kind(), jsonwebtoken::errors::ErrorKind::InvalidSignature) => {
                return deny(19, "Invalid signature");
            }
            // A signed token without the claims Apex needs (version, iat, checksum).
            Err(_) => return deny(15, "Malformed token"),
        };
        if claims.version != auth::API_VERSION {
            return deny(16, "Unsupported version");
        }
        let age = auth::now_iat() - claims.iat;
        if age.abs() > self.config.token_timeout.as_secs_f64() {
            return deny(18, "Token expired");
        }
        let path_and_query = uri.path_and_query().map_or(uri.path(), |pq| pq.as_str());
        if claims.checksum != auth::checksum(method.as_str(), path_and_query, "", body) {
            return deny(20, "Invalid checksum");
        }
        Ok(())
    }

    fn list(&self, query: &HashMap<String, String>) -> Response {
        let Some(kind) = query.get("type").and_then(|t| udso_kind(t)) else {
            return self.error(400, 7, "type must be ip, url, file_sha1 or domain");
        };
        let filter = query.get("contentFilter").map(String::as_str).unwrap_or("");
        let matches = |content: &str| {
            if self.config.case_insensitive_content {
                content.to_lowercase().contains(&filter.to_lowercase())
            } else {
                content.contains(filter)
            }
        };
        let data: Vec<Value> = self
            .entries(kind)
            .into_iter()
            .filter(|e| matches(&e.content))
            .map(|e| {
                json!({
                    "type": e.kind,
                    "content": e.content,
                    "notes": self.optional_text(&e.notes),
                    "scan_action": e.scan_action,
                    "expiration_utc_date": e.expiration_utc_date.map(|d| d.format(LIST_DATE_FORMAT).to_string()),
                })
            })
            .collect();
        self.ok(Value::Array(data))
    }

    /// Adds or updates an entry, as long as the type has room: Err(()) when it is full.
    fn store(&self, kind: IocKind, content: &str, stored: Stored) -> Result<(), ()> {
        // Check and insert under one lock, so concurrent adds cannot overfill the list.
        let mut lists = self.lists.lock().unwrap();
        let list = Self::live(&mut lists, kind);
        match self.stored_key(list, content) {
            // An update keeps the entry's own spelling and type name.
            Some(key) => {
                let listed_type = list.get(&key).and_then(|s| s.listed_type.clone());
                list.insert(
                    key,
                    Stored {
                        listed_type,
                        ..stored
                    },
                );
            }
            None if list.len() >= self.config.capacity => return Err(()),
            None => {
                list.insert(content.to_owned(), stored);
            }
        }
        Ok(())
    }

    fn put(&self, body: &[u8]) -> Response {
        let Ok(body) = serde_json::from_slice::<Value>(body) else {
            return self.error(400, 7, "body is not JSON");
        };
        let param = &body["param"];
        let Some(kind) = param["type"].as_str().and_then(udso_kind) else {
            return self.error(400, 7, "type must be ip, url, file_sha1 or domain");
        };
        let Some(content) = param["content"].as_str() else {
            return self.error(400, 7, "content is required");
        };
        if Ioc::new(kind, content).is_err() {
            return self.error(400, 11, &format!("content is not a valid {kind}"));
        }
        let notes = param["notes"].as_str().unwrap_or("");
        if notes.chars().count() > MAX_NOTES_CHARS {
            return self.error(400, 11, "notes are longer than 256 characters");
        }
        let scan_action = match param["scan_action"].as_str() {
            Some(a @ ("log" | "block")) => a,
            Some("quarantine") if kind == IocKind::FileSha1 => "quarantine",
            _ => return self.error(400, 7, "scan_action must be log or block"),
        };
        let expiration = match &param["expiration_utc_date"] {
            Value::Null => None,
            Value::String(s) => match parse_expiration(s) {
                Some(d) => Some(d),
                None => return self.error(400, 7, "expiration_utc_date is not a date"),
            },
            _ => return self.error(400, 7, "expiration_utc_date is not a date"),
        };
        let stored = Stored {
            notes: notes.to_owned(),
            scan_action: scan_action.to_owned(),
            expiration,
            listed_type: None,
        };
        match self.store(kind, content, stored) {
            Ok(()) => {
                self.put_at
                    .lock()
                    .unwrap()
                    .entry((kind, content.to_owned()))
                    .or_insert_with(std::time::Instant::now);
                self.ok(Value::Null)
            }
            Err(()) => self.error(413, 12, "Maximum exceeded"),
        }
    }

    /// When a put of `content` (of `kind`) was first stored and answered, if one was: how a
    /// benchmark times an IOC's way from its source to the list.
    pub fn first_put_at(&self, kind: IocKind, content: &str) -> Option<std::time::Instant> {
        self.put_at
            .lock()
            .unwrap()
            .get(&(kind, content.to_owned()))
            .copied()
    }

    fn delete(&self, query: &HashMap<String, String>) -> Response {
        let (Some(kind), Some(content)) = (
            query.get("type").and_then(|t| udso_kind(t)),
            query.get("content"),
        ) else {
            return self.error(400, 7, "type and content are required");
        };
        let removed = {
            let mut lists = self.lists.lock().unwrap();
            let list = Self::live(&mut lists, kind);
            self.stored_key(list, content)
                .and_then(|key| list.remove(&key))
        };
        match removed {
            Some(_) => self.ok(Value::Null),
            None => self.error(500, 8, "Data not found"),
        }
    }
}

/// A UDSO `type` Apex takes; `file_sha256` is refused as Apex refuses any unknown type.
fn udso_kind(t: &str) -> Option<IocKind> {
    IocKind::from_udso_type(t).filter(|k| APEX_KINDS.contains(k))
}

async fn api(
    State(sim): State<Arc<ApexSim>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err((code, message)) = sim.authenticate(&method, &uri, &headers, &body) {
        return sim.error(401, code, message);
    }
    sim.arrived(&method);
    let query: HashMap<String, String> = uri
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    if sim.echo_writes.load(Ordering::Relaxed)
        && uri.path() == UDSO_PATH
        && matches!(method, Method::PUT | Method::DELETE)
    {
        let authorization = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        return sim.error(
            400,
            7,
            &format!("bad request: {method} {uri} Authorization: {authorization}"),
        );
    }
    match (uri.path(), method) {
        (UDSO_PATH, Method::GET) => sim.list(&query),
        (UDSO_PATH, Method::PUT) => sim.put(&body),
        (UDSO_PATH, Method::DELETE) => sim.delete(&query),
        (FILE_PATH, Method::POST) => sim.upload(&body),
        (FILE_PATH, Method::DELETE) => sim.delete_files(&query),
        (EXTRACTION_PATH, Method::PUT) => sim.extract(&body),
        (FILING_CABINET_PATH, Method::GET) => sim.filing_cabinet(&query),
        _ => sim.error(405, 23, "Method not supported"),
    }
}
