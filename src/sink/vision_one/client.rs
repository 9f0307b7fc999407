//! Requests to Vision One's suspicious-object API: list one type (following `nextLink`),
//! add and delete in batches, typed errors, retries.
//!
//! Every request carries `Authorization: Bearer <API token>` (automation guide
//! "Authentication"); the token goes only to the configured base URL's origin.
//! Transport errors, 5xx and 429 (after `Retry-After`) are retried by
//! [`send_retrying`]; items a 207 answer reports as 429 or 5xx are sent again, alone,
//! under the same [`RetryPolicy`] ([`crate::retry`], the one policy of every client).

use std::collections::HashSet;
use std::ops::Range;

use anyhow::Context;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use serde::Serialize;
use serde_json::Value;
use url::Url;

use super::batch::{self, BatchLimits};
use super::model::{
    ErrorFields, FILTER_HEADER, ItemError, ItemResult, ListedObject, NewObject, ObjectRef,
    ObjectType, Op, SUSPICIOUS_OBJECTS_PATH, error_fields, parse_listed, parse_multi_status,
};
use super::region::{Region, parse_base_url};
use crate::http::{Answer, Client, HttpSettings, RetryPolicy, send_retrying};
use crate::ioc::IocKind;
use crate::model::ScanAction;
use crate::retry::{Retrier, ServerWait, Setback};
use crate::secret::Secret;
use crate::text::snippet;

/// The server's name in errors and logs.
pub const SERVER: &str = "Vision One";
/// The longest answer read: a list page of 200 objects of at most about 2,300 bytes each,
/// or a 207 answer for 1,000 items, is well under 1 MB; 16 MiB leaves room and still stops
/// a server that streams without end.
pub const MAX_ANSWER_BYTES: usize = 16 << 20;
/// Objects per list page (`top`): the largest of the values the API takes (50, 100, 200).
pub const PAGE_SIZE: u32 = 200;
/// Objects the access check asks for: the smallest page the API takes.
pub const ACCESS_CHECK_PAGE_SIZE: u32 = 50;
/// Pages read for one type before giving up: 200,000 objects, far past the 10,000 (25,000
/// from Sandbox) a type can hold; a server whose `nextLink` never ends is stopped here.
pub const MAX_PAGES: usize = 1_000;

/// A failed Vision One request.
#[derive(Debug, thiserror::Error)]
pub enum VisionOneError {
    #[error("Vision One refused the API token at {request}: HTTP {status}{}: {}", fields(.error), auth_hint(*.status))]
    Auth {
        request: String,
        status: u16,
        error: ErrorFields,
    },
    #[error("Vision One answered {request} with HTTP {status}{}", fields(.error))]
    Api {
        request: String,
        status: u16,
        error: ErrorFields,
    },
    /// Refused before sending: the body would be larger than the limit.
    #[error("{request} is {size} bytes, more than the {max} Vision One takes in one request")]
    TooLarge {
        request: String,
        size: usize,
        max: usize,
    },
    /// Refused by the server: 413.
    #[error(
        "Vision One refused {request} as too large (HTTP 413): it takes at most 1 MB a request"
    )]
    PayloadTooLarge { request: String },
    /// Connection failures and retries used up; the text names the server and request.
    #[error("{detail}")]
    Transport { request: String, detail: String },
    #[error("unexpected answer from Vision One to {request}: {detail}")]
    BadResponse { request: String, detail: String },
    #[error("{kind} `{value}` cannot be written to Vision One: {reason}")]
    Invalid {
        kind: IocKind,
        value: String,
        reason: String,
    },
}

impl VisionOneError {
    /// Error 4000018 for the whole request: the list is full.
    pub fn is_list_full(&self) -> bool {
        matches!(self, VisionOneError::Api { error, .. } if error.is_list_full())
    }

    /// HTTP status, when the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            VisionOneError::Auth { status, .. } | VisionOneError::Api { status, .. } => {
                Some(*status)
            }
            _ => None,
        }
    }
}

/// ` Code: message`, or a body snippet, for an error line.
fn fields(e: &ErrorFields) -> String {
    let mut s = String::new();
    if !e.code.is_empty() {
        s.push(' ');
        s.push_str(&e.code);
    }
    if !e.message.is_empty() {
        s.push_str(": ");
        s.push_str(&e.message);
    }
    s
}

fn auth_hint(status: u16) -> &'static str {
    if status == 403 {
        "the API key's role needs the Threat Intelligence permission \"Suspicious Object Management\""
    } else {
        "check --v1-token (or V1_API_TOKEN): it may be expired or disabled, or belong to another region than --v1-region/--v1-url"
    }
}

/// A client of one Vision One region (or a base URL given by hand).
#[derive(Debug, Clone)]
pub struct VisionOneClient {
    http: Client,
    base: Url,
    authorization: HeaderValue,
    retry: RetryPolicy,
    limits: BatchLimits,
    page_size: u32,
}

impl VisionOneClient {
    /// A client of the API at `base` (`scheme://host[:port]`, see [`parse_base_url`]).
    pub fn new(base: &str, token: &Secret, http: &HttpSettings) -> anyhow::Result<Self> {
        let base = parse_base_url(base).map_err(|e| anyhow::anyhow!("--v1-url {e}"))?;
        let mut authorization = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
            .ok()
            .filter(|_| !token.expose().trim().is_empty())
            .context("the Vision One API token is empty or holds characters an HTTP header cannot carry; check --v1-token")?;
        authorization.set_sensitive(true);
        Ok(VisionOneClient {
            http: http.build_client()?,
            base,
            authorization,
            retry: http.retry_policy(),
            limits: BatchLimits::default(),
            page_size: PAGE_SIZE,
        })
    }

    /// A client of a region's API host.
    pub fn for_region(region: Region, token: &Secret, http: &HttpSettings) -> anyhow::Result<Self> {
        Self::new(&region.base_url(), token, http)
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Other batch limits (tests; the defaults are Vision One's).
    pub fn with_limits(mut self, limits: BatchLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Another list page size (`top`: the API takes 50, 100 or 200).
    pub fn with_page_size(mut self, top: u32) -> Self {
        self.page_size = top;
        self
    }

    /// `scheme://host[:port]/`
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    pub fn limits(&self) -> BatchLimits {
        self.limits
    }

    /// How to cut `items` into add or delete requests: see [`batch::batches`].
    pub fn batches<T: Serialize>(&self, items: &[T]) -> Vec<Range<usize>> {
        batch::batches(items, self.limits)
    }

    fn url(&self, path: &str) -> Url {
        self.base.join(path).expect("an absolute path joins")
    }

    /// Every object of one kind: `GET /v3.0/threatintel/suspiciousObjects?top=200` with
    /// `TMV1-Filter: type eq '<type>'`, then each `nextLink` (with the same filter header,
    /// as pytmv1's `Core._consume_linkable` does) until an answer has none.
    ///
    /// A `nextLink` to another origin than the base URL is an error (the token is never
    /// sent there), as is one seen before, or more than [`MAX_PAGES`] pages. Objects of
    /// another type (a server that ignored the filter) are left out.
    pub async fn list(&self, kind: IocKind) -> Result<Vec<ListedObject>, VisionOneError> {
        let filter = format!("type eq '{}'", ObjectType::for_kind(kind).key());
        let mut url = self.url(SUSPICIOUS_OBJECTS_PATH);
        url.query_pairs_mut()
            .append_pair("top", &self.page_size.to_string());
        let mut seen = HashSet::new();
        let mut objects = Vec::new();
        for page in 1..=MAX_PAGES {
            let request = format!("GET {SUSPICIOUS_OBJECTS_PATH} ({filter}, page {page})");
            let bad = |detail: String| VisionOneError::BadResponse {
                request: request.clone(),
                detail,
            };
            let body = self.get_page(&url, &filter, &request).await?;
            let items = match body.get("items") {
                Some(Value::Array(items)) => items.as_slice(),
                Some(Value::Null) => &[],
                _ => return Err(bad("the body has no `items` array".into())),
            };
            for item in items {
                if let Some(object) = parse_listed(item, kind).map_err(&bad)? {
                    objects.push(object);
                }
            }
            let next = match body.get("nextLink") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) if s.is_empty() => None,
                Some(Value::String(s)) => Some(s.as_str()),
                Some(other) => return Err(bad(format!("`nextLink` is not a URL: {other}"))),
            };
            let Some(next) = next else {
                tracing::debug!("{SERVER}: {} {kind} objects in {page} pages", objects.len());
                return Ok(objects);
            };
            let next = self
                .base
                .join(next)
                .map_err(|e| bad(format!("`nextLink` is not a URL: {e}")))?;
            if next.origin() != self.base.origin() {
                return Err(bad(format!(
                    "its nextLink points to another server ({}); the API token is sent only to {}",
                    next.origin().ascii_serialization(),
                    self.base.origin().ascii_serialization()
                )));
            }
            if !seen.insert(next.to_string()) {
                return Err(bad("its nextLink repeats a page already read".into()));
            }
            url = next;
        }
        Err(VisionOneError::BadResponse {
            request: format!("GET {SUSPICIOUS_OBJECTS_PATH} ({filter})"),
            detail: format!("more than {MAX_PAGES} pages; stopped"),
        })
    }

    /// One cheap call, before a source is read: the first page of at most 50 `ip` objects
    /// (`GET /v3.0/threatintel/suspiciousObjects?top=50`, `TMV1-Filter: type eq 'ip'`,
    /// nothing followed). A wrong or expired token, a token of another region, a role
    /// without "Suspicious Object Management" or a wrong `--v1-url` fails here in one
    /// request; the answer must carry its `items` array.
    pub async fn check_access(&self) -> Result<(), VisionOneError> {
        let filter = format!("type eq '{}'", ObjectType::Ip.key());
        let mut url = self.url(SUSPICIOUS_OBJECTS_PATH);
        url.query_pairs_mut()
            .append_pair("top", &ACCESS_CHECK_PAGE_SIZE.to_string());
        let request = format!("GET {SUSPICIOUS_OBJECTS_PATH} ({filter}, access check)");
        let body = self.get_page(&url, &filter, &request).await?;
        match body.get("items") {
            Some(Value::Array(_)) => Ok(()),
            _ => Err(VisionOneError::BadResponse {
                request,
                detail: "the body has no `items` array".into(),
            }),
        }
    }

    /// One list page as JSON: `GET url` with the token and the filter header, retried by
    /// [`send_retrying`]; any status but 200 is the typed error of that answer.
    async fn get_page(
        &self,
        url: &Url,
        filter: &str,
        request: &str,
    ) -> Result<Value, VisionOneError> {
        let answer = send_retrying(
            &self.http,
            || {
                self.http
                    .get(url.clone())
                    .header(AUTHORIZATION, self.authorization.clone())
                    .header(FILTER_HEADER, filter)
            },
            &self.retry,
            SERVER,
            request,
            MAX_ANSWER_BYTES,
        )
        .await
        .map_err(|e| transport(request, e))?;
        if answer.status != StatusCode::OK {
            return Err(answer_error(request, &answer));
        }
        serde_json::from_slice(&answer.body).map_err(|e| VisionOneError::BadResponse {
            request: request.to_owned(),
            detail: format!("the body is not JSON: {e}"),
        })
    }

    /// Adds (or updates) `items` in one request (`POST
    /// /v3.0/threatintel/suspiciousObjects`): one result per item, in order. The items
    /// must fit one request ([`Self::batches`] cuts a longer list).
    pub async fn add(&self, items: &[NewObject]) -> Result<Vec<ItemResult>, VisionOneError> {
        if let Some(o) = items
            .iter()
            .find(|o| o.scan_action == ScanAction::Quarantine)
        {
            return Err(VisionOneError::Invalid {
                kind: o.kind,
                value: o.value.clone(),
                reason: "Vision One's scan actions are block and log".into(),
            });
        }
        self.write(Op::Add, items).await
    }

    /// Deletes `items` in one request (`POST /v3.0/threatintel/suspiciousObjects/delete`):
    /// one result per item, in order; an object already gone is
    /// [`super::model::ItemOutcome::AlreadyGone`].
    pub async fn delete(&self, items: &[ObjectRef]) -> Result<Vec<ItemResult>, VisionOneError> {
        self.write(Op::Delete, items).await
    }

    /// Sends `items`, then again those the answer reported as 429 or 5xx, while the retry
    /// policy allows (a 429 item is a rate limit, waited out after the back-off; a 5xx item
    /// uses up a try). A failure of a later try leaves those items with their last result.
    async fn write<T: Serialize>(
        &self,
        op: Op,
        items: &[T],
    ) -> Result<Vec<ItemResult>, VisionOneError> {
        let all: Vec<&T> = items.iter().collect();
        let mut results = self.write_once(op, &all).await?;
        let name = format!("POST {} (items sent again)", op.path());
        let mut retrier = Retrier::new(&self.retry, SERVER, &name);
        loop {
            let again: Vec<usize> = (0..results.len())
                .filter(|&i| matches!(&results[i], Err(e) if e.is_retryable()))
                .collect();
            if again.is_empty() {
                return Ok(results);
            }
            let rate_limited = again
                .iter()
                .any(|&i| matches!(&results[i], Err(ItemError::Rejected { status: 429, .. })));
            let setback = if rate_limited {
                Setback::RateLimited {
                    wait: ServerWait::Unsaid,
                }
            } else {
                Setback::Server {
                    status: StatusCode::INTERNAL_SERVER_ERROR,
                    wait: ServerWait::Unsaid,
                }
            };
            tracing::debug!(
                "{SERVER}: {} of {} items to {op} failed with 429 or 5xx; sending them again",
                again.len(),
                results.len()
            );
            if let Err(e) = retrier.wait(&setback).await {
                tracing::debug!("{SERVER}: not sent again: {e:?}");
                return Ok(results);
            }
            let subset: Vec<&T> = again.iter().map(|&i| &items[i]).collect();
            match self.write_once(op, &subset).await {
                Ok(retried) => {
                    for (i, result) in again.into_iter().zip(retried) {
                        results[i] = result;
                    }
                }
                Err(e) => {
                    tracing::debug!("{e}");
                    return Ok(results);
                }
            }
        }
    }

    async fn write_once<T: Serialize>(
        &self,
        op: Op,
        items: &[&T],
    ) -> Result<Vec<ItemResult>, VisionOneError> {
        let request = format!("POST {} ({} items)", op.path(), items.len());
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let body = bytes::Bytes::from(batch::body(items, self.limits.max_body_bytes).map_err(
            |size| VisionOneError::TooLarge {
                request: request.clone(),
                size,
                max: self.limits.max_body_bytes,
            },
        )?);
        let url = self.url(op.path());
        let answer = send_retrying(
            &self.http,
            || {
                self.http
                    .post(url.clone())
                    .header(AUTHORIZATION, self.authorization.clone())
                    .header(CONTENT_TYPE, "application/json")
                    .body(body.clone())
            },
            &self.retry,
            SERVER,
            &request,
            MAX_ANSWER_BYTES,
        )
        .await
        .map_err(|e| transport(&request, e))?;
        if !matches!(answer.status.as_u16(), 200 | 207) {
            return Err(answer_error(&request, &answer));
        }
        let results = parse_multi_status(op, &answer.body, items.len()).map_err(|detail| {
            VisionOneError::BadResponse {
                request: request.clone(),
                detail,
            }
        })?;
        let failed = results.iter().filter(|r| r.is_err()).count();
        if failed > 0 {
            tracing::debug!("{request}: {failed} items refused");
        }
        Ok(results)
    }
}

fn transport(request: &str, e: anyhow::Error) -> VisionOneError {
    VisionOneError::Transport {
        request: request.to_owned(),
        detail: format!("{e:#}"),
    }
}

/// The typed error of an answer that is not the expected success.
fn answer_error(request: &str, answer: &Answer) -> VisionOneError {
    let status = answer.status.as_u16();
    let mut error = serde_json::from_slice::<Value>(&answer.body)
        .map(|v| error_fields(&v))
        .unwrap_or_default();
    if error.code.is_empty() && error.message.is_empty() {
        // Not Vision One's error shape (a proxy's page, a plain-text gateway answer).
        error.message = snippet(&answer.body);
    }
    let request = request.to_owned();
    match status {
        401 | 403 => VisionOneError::Auth {
            request,
            status,
            error,
        },
        413 => VisionOneError::PayloadTooLarge { request },
        _ if answer.status.is_success() => VisionOneError::BadResponse {
            request,
            detail: format!("HTTP {status}, not the status this call answers with"),
        },
        _ => VisionOneError::Api {
            request,
            status,
            error,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> Answer {
        Answer {
            status: StatusCode::from_u16(status).unwrap(),
            headers: Default::default(),
            body: bytes::Bytes::from(body.to_owned()),
        }
    }

    #[test]
    fn error_answers_are_typed_and_say_what_to_do() {
        // The 401 of the automation guide's "Troubleshooting" page.
        let e = answer_error(
            "GET /x",
            &answer(
                401,
                r#"{"error":{"code":"InvalidCredentials","message":"Invalid token, Authorization token invaild for header","innererror":{"code":"InvalidToken","service":"svp"}}}"#,
            ),
        );
        assert!(matches!(e, VisionOneError::Auth { status: 401, .. }));
        let text = e.to_string();
        assert!(
            text.contains("InvalidCredentials") && text.contains("--v1-token"),
            "{text}"
        );
        let e = answer_error(
            "GET /x",
            &answer(
                403,
                r#"{"error":{"code":"AccessDenied","message":"Insufficient permissions."}}"#,
            ),
        );
        assert!(
            e.to_string().contains("Suspicious Object Management"),
            "{e}"
        );
        let e = answer_error(
            "POST /x",
            &answer(
                400,
                r#"{"error":{"code":"BadRequest","message":"Exceeded (Error code: 4000018)","number":4000018}}"#,
            ),
        );
        assert!(e.is_list_full() && e.status() == Some(400));
        let e = answer_error(
            "POST /x",
            &answer(413, "<html>Request Entity Too Large</html>"),
        );
        assert!(matches!(e, VisionOneError::PayloadTooLarge { .. }), "{e}");
        let e = answer_error("GET /x", &answer(502, "<html>Bad gateway</html>"));
        assert!(e.to_string().contains("HTTP 502: <html>Bad gateway"), "{e}");
        // The mock server's list errors carry code and message at the top.
        let e = answer_error(
            "GET /x",
            &answer(400, r#"{"code":"BadRequest","message":"Bad request"}"#),
        );
        assert!(
            e.to_string().ends_with("HTTP 400 BadRequest: Bad request"),
            "{e}"
        );
        let e = answer_error("GET /x", &answer(204, ""));
        assert!(matches!(e, VisionOneError::BadResponse { .. }));
    }

    #[test]
    fn the_token_is_never_printed() {
        let token = Secret::new("eyJ0eXAiOiJKV1Qi.secret-part");
        let c = VisionOneClient::new(
            "https://api.xdr.trendmicro.com",
            &token,
            &HttpSettings::default(),
        )
        .unwrap();
        let debug = format!("{c:?}");
        assert!(!debug.contains("secret-part"), "{debug}");
        let e = VisionOneClient::new(
            "https://x.example",
            &Secret::new("bad\ntoken"),
            &HttpSettings::default(),
        )
        .unwrap_err();
        assert!(!format!("{e:#}").contains("bad"), "{e:#}");
        assert!(
            VisionOneClient::new(
                "https://x.example",
                &Secret::new(" "),
                &HttpSettings::default()
            )
            .is_err()
        );
        let e =
            VisionOneClient::new("http://v1.corp", &token, &HttpSettings::default()).unwrap_err();
        assert!(e.to_string().starts_with("--v1-url"), "{e}");
    }
}
