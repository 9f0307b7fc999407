//! Signed requests to the Apex Central Automation API, the response envelope, typed errors
//! and retries.

use std::sync::Mutex;

use anyhow::{Context, bail};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::auth;
use crate::http::{Answer, Client, HttpSettings, RetryPolicy, SendError, send_with};
use crate::ioc::IocKind;
use crate::secret::Secret;
use crate::text::{encode_component, snippet};

/// The only content type the API accepts.
pub const CONTENT_TYPE_JSON: &str = "application/json;charset=utf-8";
/// The longest answer read from Apex Central: a full UDSO list of one type (10,000 entries
/// of at most 2,047 + 256 characters) is about 25 MB.
pub const MAX_ANSWER_BYTES: usize = 64 << 20;

/// `k=v&k=v`, keys and values percent-encoded; the checksum is computed over this form.
pub fn encode_query(query: &[(&str, &str)]) -> String {
    query
        .iter()
        .map(|(k, v)| format!("{}={}", encode_component(k), encode_component(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The meaning of an Apex `Meta.ErrorCode`.
pub fn error_code_meaning(code: i64) -> &'static str {
    match code {
        0 => "success",
        1 => "action not supported",
        2 => "unknown error",
        5 => "database error",
        6 => "internal error",
        7 => "incorrect parameter",
        8 => "data not found",
        9 => "session timeout",
        10 => "insufficient privilege",
        11 => "incorrect input",
        12 => "maximum exceeded",
        13 => "duplicate not allowed",
        14 => "token not provided",
        15 => "malformed token",
        16 => "unsupported version",
        17 => "invalid application ID",
        18 => "token expired",
        19 => "invalid signature",
        20 => "invalid checksum",
        21 => "unsupported hash function",
        23 => "method not supported",
        99 => "internal server error",
        _ => "unknown error code",
    }
}

/// What to do about an authentication error.
fn auth_hint(code: i64) -> &'static str {
    match code {
        17 => "check --application-id",
        19 => "check --api-key: it must be the API key of this application",
        18 => {
            "the token was older than the application's Communication time-out: check that this machine's clock agrees with Apex Central's"
        }
        20 => "the request was changed on the way (a proxy rewriting it?)",
        14 | 15 | 16 | 21 => "this is a bug in apex-ioc-sync: please report it",
        _ => "check the Automation API application in Apex Central",
    }
}

/// A failed Apex call.
#[derive(Debug, thiserror::Error)]
pub enum ApexError {
    #[error("Apex Central refused the request {request}: HTTP {status}, error {code} ({meaning}): {hint}", meaning = error_code_meaning(*.code), hint = auth_hint(*.code))]
    Auth {
        request: String,
        status: u16,
        code: i64,
        message: String,
    },
    #[error("Apex Central answered {request} with HTTP {status}, error {code} ({meaning}){detail}", meaning = error_code_meaning(*.code), detail = detail(.message))]
    Api {
        request: String,
        status: u16,
        code: i64,
        message: String,
    },
    #[error("Apex Central answered {request} with HTTP {status} and no API envelope{detail}", detail = detail(.snippet))]
    Http {
        request: String,
        status: u16,
        snippet: String,
    },
    #[error("cannot reach Apex Central for {request}: {detail}")]
    Transport { request: String, detail: String },
    /// No answer to judge: a proxy refused the request, the server asked for a longer wait
    /// than this tool sits through, or the run's deadline came first.
    #[error(transparent)]
    Stopped(SendError),
    #[error("unexpected answer from Apex Central to {request}: {detail}")]
    BadResponse { request: String, detail: String },
    #[error("{kind} `{content}` is not valid for Apex Central: {reason}")]
    Invalid {
        kind: IocKind,
        content: String,
        reason: String,
    },
}

fn detail(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

impl ApexError {
    pub fn bad_response(request: String, detail: String) -> Self {
        ApexError::BadResponse { request, detail }
    }

    /// HTTP status, when the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApexError::Auth { status, .. }
            | ApexError::Api { status, .. }
            | ApexError::Http { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// 500/8: what was asked for is not there (a delete of an entry already gone).
    pub fn is_data_not_found(&self) -> bool {
        matches!(self, ApexError::Api { code: 8, .. })
    }

    /// 413/12: the list is full.
    pub fn is_capacity(&self) -> bool {
        matches!(self, ApexError::Api { code: 12, .. })
    }

    /// Worth another try: connection errors, time-outs, 429 and 5xx, except the 5xx answers
    /// that would only repeat (data not found, duplicate).
    pub fn is_retryable(&self) -> bool {
        match self {
            ApexError::Transport { .. } => true,
            ApexError::Http { status, .. } => *status == 429 || *status >= 500,
            ApexError::Api { status, code, .. } => {
                *status == 429 || (*status >= 500 && !matches!(code, 8 | 13))
            }
            ApexError::Auth { .. }
            | ApexError::BadResponse { .. }
            | ApexError::Invalid { .. }
            | ApexError::Stopped(_) => false,
        }
    }

    /// This error with every `token` (the signed tokens of its request: a server or a
    /// gateway may echo the `Authorization` header) redacted from the text the server sent.
    fn without_tokens(mut self, tokens: &[Secret]) -> Self {
        let redact = |text: &mut String| {
            for token in tokens {
                *text = token.redact_in(text);
            }
        };
        match &mut self {
            ApexError::Auth { message, .. } | ApexError::Api { message, .. } => redact(message),
            ApexError::Http { snippet, .. } => redact(snippet),
            ApexError::BadResponse { detail, .. } => redact(detail),
            _ => {}
        }
        self
    }
}

/// How Apex versions send one field: the same field arrives as a number on one version and
/// as a string on another (documented for `Meta.Result` and `Meta.ErrorCode`, see
/// `reference/apex-central.md`), and an optional one may be `null`. Every field this tool
/// reads from an Apex answer goes through [`Loose`] with one of the `deserialize_with`
/// functions below:
///
/// | function | accepts | gives |
/// |---|---|---|
/// | [`int_or_string`] | `1`, `1.0`, `"1"`, `" 1 "` | `i64`; anything else (null too) is an error |
/// | [`shown_int`] | anything | `Option<i64>`, `None` when it is not a number: for fields only displayed |
/// | [`text`] | a string, a number, a boolean, `null` (as `""`) | `String` |
/// | [`opt_text`] | the same, `null` as `None` | `Option<String>` |
///
/// `text` and `opt_text` never fail: an object or array is kept as its JSON text.
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub(crate) struct Loose(Value);

impl Loose {
    /// The integer this value stands for; `Ok(None)` for `null` and `""` (absent).
    fn int(&self) -> Result<Option<i64>, String> {
        let from_f64 = |f: f64| (f.fract() == 0.0 && f.abs() < 9.0e15).then_some(f as i64);
        match &self.0 {
            Value::Null => Ok(None),
            Value::Number(n) => n
                .as_i64()
                .or_else(|| n.as_f64().and_then(from_f64))
                .map(Some)
                .ok_or_else(|| format!("`{n}` is not a whole number")),
            Value::String(s) if s.trim().is_empty() => Ok(None),
            Value::String(s) => {
                let t = s.trim();
                t.parse::<i64>()
                    .ok()
                    .or_else(|| t.parse::<f64>().ok().and_then(from_f64))
                    .map(Some)
                    .ok_or_else(|| format!("`{s}` is not a number"))
            }
            other => Err(format!("`{other}` is not a number")),
        }
    }

    /// The text of this value; `None` for `null`.
    fn text(self) -> Option<String> {
        match self.0 {
            Value::Null => None,
            Value::String(s) => Some(s),
            other => Some(other.to_string()),
        }
    }
}

/// A required integer, sent as a number or a numeric string (see [`Loose`]).
pub(crate) fn int_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    Loose::deserialize(d)?
        .int()
        .map_err(serde::de::Error::custom)?
        .ok_or_else(|| serde::de::Error::custom("a number is required here, not null"))
}

/// An integer that is only displayed: never fails; `None` when it is not a number.
pub(crate) fn shown_int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(Loose::deserialize(d)?.int().ok().flatten())
}

/// Text: a string, or a number or boolean as its JSON text; `null` is `""`. Never fails.
pub(crate) fn text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Loose::deserialize(d)?.text().unwrap_or_default())
}

/// Optional text: as [`text`], with `null` as `None`. Never fails.
pub(crate) fn opt_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Loose::deserialize(d)?.text())
}

#[derive(Debug, Deserialize)]
struct Meta {
    #[serde(rename = "Result", deserialize_with = "int_or_string")]
    result: i64,
    #[serde(rename = "ErrorCode", deserialize_with = "int_or_string")]
    error_code: i64,
    /// Only shown.
    #[serde(rename = "ErrorMsg", default, deserialize_with = "opt_text")]
    error_msg: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Envelope {
    #[serde(rename = "Data", default)]
    data: Value,
    #[serde(rename = "Meta")]
    meta: Meta,
}

/// Reads an envelope's `Data` as `T`, or an error naming the request and `what` it should be.
/// An answer without `Data` (or with `null`) is an error, never an empty `T`: missing is not
/// empty.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    request: &str,
    data: Value,
    what: &str,
) -> Result<T, ApexError> {
    if data.is_null() {
        return Err(ApexError::bad_response(
            request.to_owned(),
            format!("the answer has no `Data` (expected {what}); nothing was taken from it"),
        ));
    }
    serde_json::from_value(data).map_err(|e| {
        ApexError::bad_response(request.to_owned(), format!("the answer is not {what}: {e}"))
    })
}

/// Turns a status and a body into the `Data` of a successful envelope, or a typed error.
pub fn parse_envelope(request: &str, status: StatusCode, body: &[u8]) -> Result<Value, ApexError> {
    let envelope = match serde_json::from_slice::<Envelope>(body) {
        Ok(envelope) => envelope,
        Err(e) if status.is_success() => {
            return Err(ApexError::bad_response(
                request.to_owned(),
                format!("HTTP {status} but the body is not an API envelope: {e}"),
            ));
        }
        Err(_) => {
            return Err(ApexError::Http {
                request: request.to_owned(),
                status: status.as_u16(),
                snippet: snippet(body),
            });
        }
    };
    let Meta {
        result,
        error_code,
        error_msg,
    } = envelope.meta;
    if status.is_success() && result == 1 && error_code == 0 {
        return Ok(envelope.data);
    }
    let request = request.to_owned();
    let message = error_msg.unwrap_or_default();
    let status = status.as_u16();
    if status == 401 || (14..=21).contains(&error_code) {
        return Err(ApexError::Auth {
            request,
            status,
            code: error_code,
            message,
        });
    }
    if status == 429 {
        return Err(ApexError::Http {
            request,
            status,
            snippet: message,
        });
    }
    Err(ApexError::Api {
        request,
        status,
        code: error_code,
        message,
    })
}

/// Where Apex Central is: `--host` as a bare host (https assumed) or a URL with scheme and port.
/// Plain `http://` is refused unless the host is loopback or `allow_http` (`--allow-http`):
/// the signed requests, and the listing the removals trust, would travel in clear. A user
/// name or password in it is refused (the credentials are `--application-id` and `--api-key`).
pub fn parse_host(host: &str, allow_http: bool) -> anyhow::Result<String> {
    let host = host.trim();
    crate::http::refuse_credentials(host, "--host", "--application-id and --api-key")?;
    let with_scheme = if host.contains("://") {
        host.to_owned()
    } else {
        format!("https://{host}")
    };
    let url = url::Url::parse(&with_scheme)
        .with_context(|| format!("--host `{host}` is not a host name or URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        bail!("--host `{host}`: the scheme must be https (or http for local tests)");
    }
    let Some(name) = url.host_str() else {
        bail!("--host `{host}` has no host name");
    };
    if url.path() != "/" || url.query().is_some() {
        bail!("--host `{host}`: give the server only (scheme, host and port), not a path");
    }
    if url.scheme() == "http"
        && !allow_http
        && !url.host().is_some_and(|h| crate::http::is_loopback(&h))
    {
        bail!(
            "--host `{host}` is plain http:// to another machine: the signed requests, and the \
             list the removals trust, would travel in clear, readable and changeable by anyone on \
             the path. Use https://, or give --allow-http (or `allow-http` in the .config file) \
             to accept that risk"
        );
    }
    Ok(match url.port() {
        Some(port) => format!("{}://{name}:{port}", url.scheme()),
        None => format!("{}://{name}", url.scheme()),
    })
}

/// A client of one Apex Central server.
#[derive(Debug, Clone)]
pub struct ApexClient {
    http: Client,
    /// `scheme://host[:port]`
    base: String,
    app_id: String,
    api_key: Secret,
    retry: RetryPolicy,
}

impl ApexClient {
    pub fn new(
        host: &str,
        app_id: &str,
        api_key: Secret,
        http: &HttpSettings,
    ) -> anyhow::Result<Self> {
        Ok(ApexClient {
            http: http.build_client()?,
            base: parse_host(host, http.allow_http)?,
            app_id: app_id.to_owned(),
            api_key,
            retry: http.retry_policy(),
        })
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// One API call, retried per the policy ([`crate::retry`]); returns the envelope's
    /// `Data`. Every try is signed anew (a token made now): a token never outlives Apex's
    /// Communication time-out, however long the retries wait.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<Value, ApexError> {
        let mut path_and_query = path.to_owned();
        if !query.is_empty() {
            path_and_query.push('?');
            path_and_query.push_str(&encode_query(query));
        }
        let request_name = format!("{method} {path_and_query}");
        let url = format!("{}{path_and_query}", self.base);
        let body = body.unwrap_or_default();
        let sign = || {
            auth::token(
                &self.app_id,
                self.api_key.expose(),
                method.as_str(),
                &path_and_query,
                &body,
                auth::now_iat(),
            )
        };
        // Signing fails for every try or for none: find out before sending.
        let first = sign().map_err(|e| {
            ApexError::bad_response(request_name.clone(), format!("cannot sign: {e}"))
        })?;
        // Every token sent, to redact from what the server answers.
        let sent: Mutex<Vec<Secret>> = Mutex::default();
        let build = || {
            let token = sign().unwrap_or_else(|_| first.clone());
            sent.lock().unwrap().push(Secret::new(&token));
            let mut authorization = HeaderValue::from_str(&format!("Bearer {token}"))
                .expect("a JWT is a valid header value");
            authorization.set_sensitive(true);
            let mut request = self
                .http
                .request(method.clone(), &url)
                .header(AUTHORIZATION, authorization)
                .header(CONTENT_TYPE, CONTENT_TYPE_JSON);
            if !body.is_empty() {
                request = request.body(body.clone());
            }
            tracing::trace!("{request_name}");
            request
        };
        // 5xx answers are tried again, except those that would only repeat (500 with
        // "data not found" or "duplicate"): see `ApexError::is_retryable`.
        let worth_retrying = |a: &Answer| {
            a.status.is_server_error()
                && parse_envelope(&request_name, a.status, &a.body)
                    .err()
                    .is_none_or(|e| e.is_retryable())
        };
        let answer = send_with(
            &self.http,
            build,
            &self.retry,
            "Apex Central",
            &request_name,
            MAX_ANSWER_BYTES,
            worth_retrying,
        )
        .await;
        let tokens = std::mem::take(&mut *sent.lock().unwrap());
        let answer = answer.map_err(|e| match e {
            SendError::Unreachable { detail, tries, .. } => ApexError::Transport {
                request: request_name.clone(),
                detail: format!("{detail} ({tries} tries)"),
            },
            SendError::TooLarge { error, .. } => ApexError::BadResponse {
                request: request_name.clone(),
                detail: error.to_string(),
            },
            other => ApexError::Stopped(other),
        })?;
        parse_envelope(&request_name, answer.status, &answer.body)
            .map_err(|e| e.without_tokens(&tokens))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(
            encode_query(&[
                ("type", "url"),
                ("content", "https://Evil.Example.com/Path?q=1")
            ]),
            "type=url&content=https%3A%2F%2FEvil.Example.com%2FPath%3Fq%3D1"
        );
        assert_eq!(
            encode_component("a b&c=d/ü~-._"),
            "a%20b%26c%3Dd%2F%C3%BC~-._"
        );
    }

    fn parse(status: u16, body: &str) -> Result<Value, ApexError> {
        parse_envelope(
            "GET /x",
            StatusCode::from_u16(status).unwrap(),
            body.as_bytes(),
        )
    }

    #[test]
    fn envelope_success_with_integer_or_string_codes() {
        let ok = r#"{"Data":[1],"Meta":{"Result":1,"ErrorCode":0,"ErrorMsg":""},"PermissionCtrl":{},"FeatureCtrl":{"mode":"0"},"SystemCtrl":{}}"#;
        assert_eq!(parse(200, ok).unwrap(), serde_json::json!([1]));
        let ok = r#"{"Data":null,"Meta":{"Result":"1","ErrorCode":"0","ErrorMsg":null}}"#;
        assert_eq!(parse(200, ok).unwrap(), Value::Null);
    }

    #[test]
    fn envelope_errors_are_typed_and_name_the_meaning() {
        let e = parse(
            401,
            r#"{"Meta":{"Result":0,"ErrorCode":19,"ErrorMsg":"Invalid signature"}}"#,
        )
        .unwrap_err();
        assert!(matches!(e, ApexError::Auth { code: 19, .. }));
        let text = e.to_string();
        assert!(
            text.contains("invalid signature") && text.contains("--api-key"),
            "{text}"
        );
        assert!(!e.is_retryable());

        let e = parse(
            401,
            r#"{"Meta":{"Result":"0","ErrorCode":"18","ErrorMsg":""}}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("token expired") && e.to_string().contains("clock"));

        let e = parse(
            500,
            r#"{"Meta":{"Result":0,"ErrorCode":8,"ErrorMsg":"not found"}}"#,
        )
        .unwrap_err();
        assert!(e.is_data_not_found() && !e.is_retryable());
        assert!(e.to_string().contains("data not found"));

        let e = parse(413, r#"{"Meta":{"Result":0,"ErrorCode":"12"}}"#).unwrap_err();
        assert!(e.is_capacity() && e.to_string().contains("maximum exceeded"));

        let e = parse(500, r#"{"Meta":{"Result":0,"ErrorCode":6}}"#).unwrap_err();
        assert!(e.is_retryable());
        let e = parse(
            400,
            r#"{"Meta":{"Result":0,"ErrorCode":7,"ErrorMsg":"bad type"}}"#,
        )
        .unwrap_err();
        assert!(
            !e.is_retryable()
                && e.to_string()
                    .contains("error 7 (incorrect parameter): bad type")
        );
        // A 200 whose Meta says failure is a failure.
        assert!(parse(200, r#"{"Meta":{"Result":0,"ErrorCode":2}}"#).is_err());
    }

    #[derive(Debug, Deserialize)]
    struct Fields {
        #[serde(deserialize_with = "int_or_string")]
        status: i64,
        #[serde(default, deserialize_with = "shown_int")]
        shown: Option<i64>,
        #[serde(default, deserialize_with = "text")]
        name: String,
        #[serde(default, deserialize_with = "opt_text")]
        message: Option<String>,
    }

    fn fields(json: &str) -> Result<Fields, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn fields_take_numbers_numeric_strings_and_nulls() {
        for status in ["1", "\"1\"", "\" 1 \"", "1.0", "\"1.0\""] {
            let f = fields(&format!(r#"{{"status":{status}}}"#)).unwrap();
            assert_eq!(f.status, 1, "{status}");
        }
        let f = fields(r#"{"status":-1,"shown":"2","name":7,"message":null}"#).unwrap();
        assert_eq!(
            (f.status, f.shown, f.name.as_str(), f.message),
            (-1, Some(2), "7", None)
        );
        // Only shown: never fails.
        let f = fields(r#"{"status":0,"shown":"pending","name":null,"message":{"a":1}}"#).unwrap();
        assert_eq!(
            (f.shown, f.name.as_str(), f.message.as_deref()),
            (None, "", Some(r#"{"a":1}"#))
        );
        // Read: a wrong or missing value is an error that says what it got.
        for (json, says) in [
            (r#"{"status":"one"}"#, "`one` is not a number"),
            (r#"{"status":1.5}"#, "`1.5` is not a whole number"),
            (r#"{"status":null}"#, "a number is required"),
            (r#"{"status":[1]}"#, "is not a number"),
            (r#"{}"#, "missing field `status`"),
        ] {
            let e = fields(json).unwrap_err().to_string();
            assert!(e.contains(says), "{json}: {e}");
        }
    }

    #[test]
    fn missing_or_null_data_is_an_error_never_an_empty_list() {
        for body in [
            r#"{"Meta":{"Result":1,"ErrorCode":0}}"#,
            r#"{"Data":null,"Meta":{"Result":"1","ErrorCode":"0","ErrorMsg":null}}"#,
        ] {
            let data = parse(200, body).unwrap();
            let e = decode::<Vec<Value>>("GET /x?type=ip", data, "an array of UDSO entries")
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("GET /x?type=ip") && e.contains("has no `Data`"),
                "{e}"
            );
        }
        let data = parse(200, r#"{"Data":[],"Meta":{"Result":1,"ErrorCode":0}}"#).unwrap();
        assert!(
            decode::<Vec<Value>>("GET /x", data, "a list")
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn non_envelope_answers() {
        let e = parse(502, "<html>Bad gateway</html>").unwrap_err();
        assert!(matches!(e, ApexError::Http { status: 502, .. }) && e.is_retryable());
        assert!(e.to_string().contains("Bad gateway"));
        let e = parse(429, "slow down").unwrap_err();
        assert!(e.is_retryable());
        let e = parse(404, "no").unwrap_err();
        assert!(!e.is_retryable());
        let e = parse(200, "not json").unwrap_err();
        assert!(matches!(e, ApexError::BadResponse { .. }));
        let e = parse(200, r#"{"Meta":{"Result":"one","ErrorCode":0}}"#).unwrap_err();
        assert!(e.to_string().contains("`one` is not a number"), "{e}");
    }

    #[test]
    fn host_forms() {
        let parse = |h: &str| parse_host(h, false);
        assert_eq!(parse("apex.corp").unwrap(), "https://apex.corp");
        assert_eq!(parse("apex.corp:8443").unwrap(), "https://apex.corp:8443");
        assert_eq!(
            parse("https://Apex.Corp:8443/").unwrap(),
            "https://apex.corp:8443"
        );
        assert_eq!(
            parse("http://127.0.0.1:9000").unwrap(),
            "http://127.0.0.1:9000"
        );
        assert_eq!(parse("http://localhost").unwrap(), "http://localhost");
        assert!(
            parse("ftp://apex.corp")
                .unwrap_err()
                .to_string()
                .contains("scheme")
        );
        assert!(
            parse("https://apex.corp/WebApp")
                .unwrap_err()
                .to_string()
                .contains("path")
        );
        assert!(parse("exa mple").is_err());
    }

    #[test]
    fn plain_http_to_another_machine_needs_allow_http() {
        let e = parse_host("http://apex.corp:8080", false)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("plain http://") && e.contains("--allow-http") && e.contains("https://"),
            "{e}"
        );
        assert_eq!(
            parse_host("http://apex.corp:8080", true).unwrap(),
            "http://apex.corp:8080"
        );
        assert!(parse_host("http://10.0.0.5", false).is_err());
    }

    #[test]
    fn credentials_in_the_host_are_refused_and_never_echoed() {
        for host in ["https://admin:Pa55@apex.corp", "admin:Pa55@apex.corp:8443"] {
            let e = parse_host(host, true).unwrap_err().to_string();
            assert!(
                e.contains("--host") && e.contains("--api-key") && !e.contains("Pa55"),
                "{e}"
            );
        }
    }
}
