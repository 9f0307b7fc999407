//! What every HTTP client of this tool shares: connection settings (time-out, TLS roots,
//! proxy), the retry policy, and error details that never carry a URL (URLs can hold keys).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::header::RETRY_AFTER;

use crate::secret::Secret;

/// Everything but RFC 3986's unreserved characters (letters, digits, `-._~`).
const NOT_UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes a query value or a path segment. Unreserved characters stay literal:
/// servers are not obliged to decode `%2D` back to `-`.
pub fn encode_component(value: &str) -> String {
    utf8_percent_encode(value, NOT_UNRESERVED).to_string()
}

/// An HTTP proxy from the `--proxy-*` options.
#[derive(Debug, Clone)]
pub struct ProxySettings {
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    pub password: Option<Secret>,
}

impl ProxySettings {
    pub fn url(&self) -> String {
        if self.host.contains("://") {
            format!("{}:{}", self.host.trim_end_matches('/'), self.port)
        } else {
            format!("http://{}:{}", self.host, self.port)
        }
    }
}

/// How the HTTP client of one server connects. The time-out and the proxy are shared by
/// every server; the TLS options belong to one server each (`--ca-cert` and `--insecure` to
/// Apex Central, `--taxii-ca-cert` and `--taxii-insecure` to TAXII; see `settings.rs`).
#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub timeout: Duration,
    /// A CA bundle (PEM) trusted besides the system's roots.
    pub ca_cert: Option<PathBuf>,
    /// The option `ca_cert` came from, for errors (`--ca-cert`, `--taxii-ca-cert`).
    pub ca_cert_option: &'static str,
    pub insecure: bool,
    /// `None`: the usual environment variables (HTTPS_PROXY, HTTP_PROXY, NO_PROXY).
    pub proxy: Option<ProxySettings>,
    /// Follow redirects (at most 10). Off for a server whose credential travels in the URL
    /// (Lumu's company key): a redirect would carry it wherever the server points.
    pub follow_redirects: bool,
    /// The run's deadline (`--max-run-minutes`): the client's [`RetryPolicy::deadline`].
    pub deadline: Option<Instant>,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            timeout: Duration::from_secs(60),
            ca_cert: None,
            ca_cert_option: "--ca-cert",
            insecure: false,
            proxy: None,
            follow_redirects: true,
            deadline: None,
        }
    }
}

impl HttpSettings {
    /// A reqwest client with these settings: TLS verified against the system's roots plus
    /// `ca_cert`, unless `insecure`.
    pub fn build_client(&self) -> anyhow::Result<reqwest::Client> {
        self.client_builder()?
            .build()
            .context("cannot set up the HTTP client")
    }

    /// [`HttpSettings::build_client`]'s builder, for a client that needs more (the TAXII
    /// client's redirect policy).
    pub fn client_builder(&self) -> anyhow::Result<reqwest::ClientBuilder> {
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("apex-ioc-sync/", env!("CARGO_PKG_VERSION")))
            .timeout(self.timeout)
            .connect_timeout(self.timeout.min(Duration::from_secs(15)));
        if let Some(path) = &self.ca_cert {
            let option = self.ca_cert_option;
            let pem = crate::files::read_capped(path, crate::files::MAX_PEM_BYTES)
                .with_context(|| format!("cannot read {option} {}", path.display()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).with_context(|| {
                format!(
                    "{option} {} is not a PEM certificate bundle",
                    path.display()
                )
            })?;
            if certs.is_empty() {
                bail!(
                    "{option} {} holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)",
                    path.display()
                );
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        if self.insecure {
            builder = builder.danger_accept_invalid_certs(true);
        }
        if !self.follow_redirects {
            builder = builder.redirect(reqwest::redirect::Policy::none());
        }
        if let Some(proxy) = &self.proxy {
            let mut p = reqwest::Proxy::all(proxy.url())
                .with_context(|| format!("bad proxy {}", proxy.url()))?;
            if let Some(user) = &proxy.user {
                let password = proxy.password.as_ref().map(Secret::expose).unwrap_or("");
                p = p.basic_auth(user, password);
            }
            builder = builder.proxy(p);
        }
        Ok(builder)
    }
}

/// The longest Retry-After honoured; a server asking for more is waited on this long.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);

/// When and how often a request is tried again.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Tries in all, the first included.
    pub attempts: u32,
    /// The first back-off; it doubles each time, with jitter, up to `max_delay`.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// When the run must end (`--max-run-minutes`): no wait that would end past it is
    /// started (a 429's or a back-off); the request fails instead, with what it last got.
    pub deadline: Option<Instant>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(30),
            deadline: None,
        }
    }
}

impl RetryPolicy {
    /// The default policy, bounded by the deadline of `http` (the run's).
    pub fn for_client(http: &HttpSettings) -> Self {
        RetryPolicy {
            deadline: http.deadline,
            ..RetryPolicy::default()
        }
    }

    /// Whether a wait of `wait` from now ends by the deadline (always, without one).
    pub fn may_wait(&self, wait: Duration) -> bool {
        self.deadline.is_none_or(|d| Instant::now() + wait <= d)
    }

    /// `; not tried again: ...`, for errors of a request not retried because of the deadline.
    pub fn past_deadline(wait: Duration) -> String {
        format!(
            "; not tried again: the run's deadline (--max-run-minutes) comes before a wait of {:.1}s would end",
            wait.as_secs_f64()
        )
    }

    /// The wait before try `attempt + 1` (`attempt` counts from 1): the server's
    /// Retry-After when it gave one, else exponential back-off with full jitter.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(after) = retry_after {
            return after.min(MAX_RETRY_AFTER);
        }
        let exp = self
            .base_delay
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(self.max_delay);
        // Half fixed, half random: spreads retries of concurrent writers apart.
        exp / 2 + exp.mul_f64(fastrand::f64() / 2.0)
    }
}

/// `Retry-After` in seconds (the HTTP-date form is rare from API servers: treated as absent).
pub fn parse_retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// A reqwest error's causes, without the URL (the caller names the request; a URL may carry
/// a key, as Lumu's does in its query string). reqwest's own `Display` ends with
/// ` for url (...)`: it is used only when there is no cause, and then without that part.
pub fn transport_detail(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut parts = Vec::new();
    if e.is_timeout() {
        parts.push("timed out (see --timeout)".to_owned());
    }
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    if parts.is_empty() {
        parts.push(without_url(e));
    }
    parts.join(": ")
}

/// A reqwest error's own description, without the ` for url (...)` reqwest adds.
fn without_url(e: &reqwest::Error) -> String {
    let text = e.to_string();
    match e.url() {
        Some(url) => text.replace(&format!(" for url ({url})"), ""),
        None => text,
    }
}

/// Why a response body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The body is longer than the cap for that endpoint (by its `Content-Length`, or by
    /// what arrived): a server that streams without end is stopped here.
    #[error("the answer is larger than {size}, the most this tool reads from that endpoint", size = crate::files::describe_size(*.cap as u64))]
    TooLarge { cap: usize },
    #[error("cannot read the answer: {0}")]
    Transport(String),
}

/// Reads a response body of at most `cap` bytes, chunk by chunk, so that a body without end
/// (or a lying `Content-Length`) never takes more than `cap` of memory.
pub async fn read_body(
    mut response: reqwest::Response,
    cap: usize,
) -> Result<bytes::Bytes, BodyError> {
    if response.content_length().is_some_and(|n| n > cap as u64) {
        return Err(BodyError::TooLarge { cap });
    }
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| BodyError::Transport(transport_detail(&e)))?
    {
        if body.len() + chunk.len() > cap {
            return Err(BodyError::TooLarge { cap });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// A server's answer that is neither a connection failure, a 5xx nor a 429.
#[derive(Debug)]
pub struct Answer {
    pub status: reqwest::StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: bytes::Bytes,
}

/// A 429 that asks to wait longer than this is a spent quota: give up.
pub const MAX_RATE_LIMIT_WAIT: Duration = Duration::from_secs(300);
/// Rate-limit waits one request may sit through.
const MAX_RATE_LIMIT_WAITS: u32 = 20;

/// A server's rate limit asks for a longer wait than [`send_retrying`] sits through (more
/// than [`MAX_RATE_LIMIT_WAIT`], or after 20 waits for one request): its quota is spent.
/// Returned inside `anyhow::Error`; callers that go on without the answer find it with
/// `downcast_ref`.
#[derive(Debug, thiserror::Error)]
#[error(
    "{server}'s rate limit is spent at {name} (it asks to wait {wait_secs}s): \
     the daily quota is probably used up; run again later"
)]
pub struct RateLimitSpent {
    pub server: String,
    /// The request, by method and path.
    pub name: String,
    pub wait_secs: u64,
}

/// A request [`send_retrying`] gave up on because the wait before its next try would end
/// past the run's deadline ([`RetryPolicy::deadline`]). Returned inside `anyhow::Error`;
/// callers that stop reading at the deadline find it with `downcast_ref`.
#[derive(Debug, thiserror::Error)]
#[error("{failure} ({name}){}", RetryPolicy::past_deadline(*.wait))]
pub struct PastDeadline {
    /// What the last try got.
    pub failure: String,
    /// The request, by method and path.
    pub name: String,
    pub wait: Duration,
}

/// How long a 429 asks to wait: `RateLimit-Reset` or `Retry-After` (seconds), whichever is
/// longer; a second if neither.
pub fn rate_limit_wait(headers: &reqwest::header::HeaderMap) -> Duration {
    let reset = headers
        .get("ratelimit-reset")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    match (reset, parse_retry_after(headers)) {
        (Some(a), Some(b)) => a.max(b),
        (Some(a), None) | (None, Some(a)) => a,
        (None, None) => Duration::from_secs(1),
    }
}

/// Sends the request `build` makes, again on connection errors, time-outs and 5xx (per
/// `retry`) and on 429 (after the wait the server asks for). Returns the first other answer,
/// or the last 5xx, for the caller to judge. `server` and `name` (method and path, never a URL: URLs can
/// carry keys) go into errors. A body longer than `max_body` bytes is an error (not retried).
pub async fn send_retrying(
    build: impl Fn() -> reqwest::RequestBuilder,
    retry: &RetryPolicy,
    server: &str,
    name: &str,
    max_body: usize,
) -> anyhow::Result<Answer> {
    let mut attempt = 1;
    let mut rate_waits = 0;
    loop {
        let failure = match build().send().await {
            Err(e) => format!("cannot reach {server}: {}", transport_detail(&e)),
            Ok(response) => {
                let status = response.status();
                let headers = response.headers().clone();
                if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
                    let wait = rate_limit_wait(&headers);
                    if wait > MAX_RATE_LIMIT_WAIT || rate_waits >= MAX_RATE_LIMIT_WAITS {
                        return Err(RateLimitSpent {
                            server: server.to_owned(),
                            name: name.to_owned(),
                            wait_secs: wait.as_secs(),
                        }
                        .into());
                    }
                    if !retry.may_wait(wait) {
                        return Err(PastDeadline {
                            failure: format!("{server} answered with HTTP 429 (rate limit)"),
                            name: name.to_owned(),
                            wait,
                        }
                        .into());
                    }
                    rate_waits += 1;
                    tracing::info!("{server} rate limit reached; waiting {}s", wait.as_secs());
                    tokio::time::sleep(wait).await;
                    continue;
                }
                match read_body(response, max_body).await {
                    // The last 5xx goes to the caller too, which knows how to read its body.
                    Ok(body) if !status.is_server_error() || attempt >= retry.attempts => {
                        return Ok(Answer {
                            status,
                            headers,
                            body,
                        });
                    }
                    Ok(_) => format!("{server} answered HTTP {status}"),
                    Err(e @ BodyError::TooLarge { .. }) => {
                        bail!("{server}'s answer to {name}: {e}")
                    }
                    Err(BodyError::Transport(e)) => format!("cannot read {server}'s answer: {e}"),
                }
            }
        };
        if attempt >= retry.attempts {
            bail!("{failure} ({name}, {attempt} tries)");
        }
        let wait = retry.delay(attempt, None);
        if !retry.may_wait(wait) {
            return Err(PastDeadline {
                failure,
                name: format!("{name}, {attempt} tries"),
                wait,
            }
            .into());
        }
        tracing::debug!("{failure} at {name}; try {} in {wait:?}", attempt + 1);
        tokio::time::sleep(wait).await;
        attempt += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_honours_retry_after() {
        let p = RetryPolicy {
            attempts: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            ..RetryPolicy::default()
        };
        for _ in 0..50 {
            let d1 = p.delay(1, None);
            assert!(d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100));
            let d3 = p.delay(3, None);
            assert!(d3 >= Duration::from_millis(200) && d3 <= Duration::from_millis(400));
            assert!(p.delay(30, None) <= Duration::from_secs(1));
        }
        assert_eq!(
            p.delay(1, Some(Duration::from_millis(700))),
            Duration::from_millis(700)
        );
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(90))),
            Duration::from_secs(90)
        );
        assert_eq!(p.delay(1, Some(Duration::from_secs(900))), MAX_RETRY_AFTER);
    }

    #[test]
    fn no_wait_past_the_deadline() {
        let unbounded = RetryPolicy::default();
        assert!(unbounded.may_wait(Duration::from_secs(3600)));
        let bounded = RetryPolicy {
            deadline: Some(Instant::now() + Duration::from_secs(10)),
            ..RetryPolicy::default()
        };
        assert!(bounded.may_wait(Duration::from_secs(1)));
        assert!(!bounded.may_wait(Duration::from_secs(60)));
        let http = HttpSettings {
            deadline: bounded.deadline,
            ..HttpSettings::default()
        };
        assert_eq!(RetryPolicy::for_client(&http).deadline, bounded.deadline);
    }

    #[tokio::test]
    async fn transport_errors_never_carry_the_url() {
        // Nothing listens on port 9 of loopback; the key is in the query string.
        let e = reqwest::Client::new()
            .get("http://127.0.0.1:9/api/?key=SECRET-KEY")
            .send()
            .await
            .unwrap_err();
        assert!(
            e.to_string().contains("SECRET-KEY"),
            "reqwest's Display has the URL"
        );
        let detail = transport_detail(&e);
        assert!(!detail.contains("SECRET-KEY"), "{detail}");
        assert!(
            !without_url(&e).contains("SECRET-KEY"),
            "{}",
            without_url(&e)
        );
        assert!(without_url(&e).starts_with("error sending request"));
    }

    #[test]
    fn proxy_urls() {
        let p = ProxySettings {
            host: "proxy.corp".into(),
            port: 3128,
            user: None,
            password: None,
        };
        assert_eq!(p.url(), "http://proxy.corp:3128");
        let p = ProxySettings {
            host: "http://proxy.corp/".into(),
            ..p
        };
        assert_eq!(p.url(), "http://proxy.corp:3128");
    }
}
