//! What every HTTP client of this tool shares: connection settings (time-out, TLS roots,
//! proxy), the send loop under the one retry policy ([`crate::retry`]), the URL checks
//! (loopback, no credentials in a URL), and error details that never carry a URL (URLs can
//! hold keys).
//!
//! **Proxies.** `--proxy-host`/`--proxy-port` name one proxy for every server; without them
//! the environment's `HTTPS_PROXY`, `HTTP_PROXY` and `ALL_PROXY` (either case) apply, and the
//! OS settings where reqwest reads them (Windows, macOS). Either way `NO_PROXY`/`no_proxy`
//! says which hosts are reached directly, by curl's rules ([`NoProxy`]). The proxy user and
//! password of `--proxy-user`/`--proxy-password` are never put into a URL: the
//! `Proxy-Authorization: Basic` header is built from the raw values (RFC 7617 section 2,
//! UTF-8 per section 2.1), so every byte reaches the proxy as given. (A proxy URL of the
//! environment is a URL: its user and password are percent-decoded once, as curl does.)

use std::fmt;
use std::net::IpAddr;
use std::ops::Deref;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, anyhow, bail};
use base64::Engine as _;
use hyper_util::client::proxy::matcher::Matcher;
use reqwest::StatusCode;
use reqwest::header::HeaderValue;
use url::Url;

use crate::retry::{DeadlineReached, GiveUp, Retrier, Setback, server_wait};
pub use crate::retry::{RateLimitSpent, RetryPolicy};
use crate::secret::Secret;
use crate::text::encode_component;

/// Whether `host` is this machine: `localhost`, `127.0.0.0/8` or `::1`. Traffic to it never
/// leaves the machine (the simulators, a local proxy), so plain `http://` is allowed there.
/// The one loopback check of the project.
pub fn is_loopback(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(name) => name.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    }
}

/// `raw` (a URL as the user gave it) with any user name and password taken out, for a
/// message: `https://user:pass@host/x` is shown as `https://<credentials>@host/x`. Textual,
/// so that it holds for text that does not even parse as a URL.
pub fn without_userinfo(raw: &str) -> String {
    let (scheme, rest) = match raw.find("://") {
        Some(i) => raw.split_at(i + 3),
        None => ("", raw),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}<credentials>@{}", &rest[at + 1..]),
        None => raw.to_owned(),
    }
}

/// Refuses a URL (option `option`'s value) that carries a user name or password: a URL is
/// logged, shown in errors and (for TAXII) kept in the state file, and a credential must go
/// in its own option, `instead`. The message never shows the credential.
pub fn refuse_credentials(raw: &str, option: &str, instead: &str) -> anyhow::Result<()> {
    let trimmed = raw.trim();
    let with_scheme = if trimmed.contains("://") {
        trimmed.to_owned()
    } else {
        format!("https://{trimmed}")
    };
    let has_userinfo = match Url::parse(&with_scheme) {
        Ok(url) => !url.username().is_empty() || url.password().is_some(),
        // Not a URL: the caller says so; just never echo what may be a password.
        Err(_) => without_userinfo(trimmed) != trimmed,
    };
    if has_userinfo {
        bail!(
            "{option} `{}` holds a user name or password before the host: credentials are refused \
             in a URL (URLs are logged, shown in errors and kept in the state file); give them with {instead}",
            without_userinfo(trimmed)
        );
    }
    Ok(())
}

/// An HTTP proxy from the `--proxy-*` options.
#[derive(Debug, Clone)]
pub struct ProxySettings {
    /// `--proxy-host`: a host name or address, or `http://host` (`https://host` for a proxy
    /// spoken to over TLS).
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    pub password: Option<Secret>,
}

impl ProxySettings {
    /// The proxy's URL, `scheme://host:port/`, without credentials. An error (a usage
    /// error: `Settings` checks it before anything is sent) for a value that is not a host, or
    /// that carries a user or password, a port or a path.
    pub fn url(&self) -> anyhow::Result<Url> {
        let host = self.host.trim();
        refuse_credentials(
            host,
            "--proxy-host",
            "--proxy-user and --proxy-password (or PROXY_PASSWORD), which are sent exactly as given",
        )?;
        let with_scheme = if host.contains("://") {
            host.to_owned()
        } else {
            format!("http://{host}")
        };
        let mut url = Url::parse(&with_scheme)
            .with_context(|| format!("--proxy-host `{host}` is not a host name or URL"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            bail!("--proxy-host `{host}`: give a host name (or http://host)");
        }
        if url.port().is_some() {
            bail!("--proxy-host `{host}`: give the port with --proxy-port");
        }
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
            bail!("--proxy-host `{host}`: give the host only, not a path");
        }
        url.set_port(Some(self.port))
            .map_err(|()| anyhow!("--proxy-host `{host}` cannot take a port"))?;
        Ok(url)
    }

    /// `Proxy-Authorization: Basic base64(user ":" password)` from the raw values (RFC 7617
    /// section 2; the user and password as UTF-8, section 2.1), when a user is given; the
    /// password defaults to empty. A user holding `:` is refused: Basic cannot carry it.
    pub fn authorization(&self) -> anyhow::Result<Option<HeaderValue>> {
        let Some(user) = &self.user else {
            return Ok(None);
        };
        if user.contains(':') {
            bail!(
                "--proxy-user holds `:`, which Basic proxy authentication cannot carry in a user name (RFC 7617 section 2)"
            );
        }
        let password = self.password.as_ref().map(Secret::expose).unwrap_or("");
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        let mut header = HeaderValue::from_str(&format!("Basic {encoded}"))
            .expect("base64 is a valid header value");
        header.set_sensitive(true);
        Ok(Some(header))
    }
}

/// Which hosts are reached without a proxy: `NO_PROXY`, by curl's rules
/// (`CURLOPT_NOPROXY`, curl's `lib/noproxy.c`):
///
/// - a comma-separated list (blanks around entries ignored);
/// - a host name matches itself and every name under it (`example.com` and `.example.com`
///   both match `example.com` and `www.example.com`, never `notexample.com`), case and a
///   trailing dot ignored;
/// - an IP address, or a network in CIDR form (`192.168.0.0/16`, `fd00::/8`), matches hosts
///   given as addresses in it (an address host is never matched by a name, nor a name by an
///   address: no DNS look-up is made);
/// - `*` alone matches every host. `*` as one entry of a list does too (curl takes it as a
///   name that matches nothing; reqwest as a wildcard for names only): whoever writes it
///   means every host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NoProxy {
    every_host: bool,
    /// Lower case, without leading or trailing dots.
    names: Vec<String>,
    /// Address and prefix length.
    networks: Vec<(IpAddr, u8)>,
}

impl NoProxy {
    /// `no_proxy`, else `NO_PROXY` (curl reads the lower-case one first); none: no entry.
    pub fn from_env() -> Self {
        std::env::var("no_proxy")
            .or_else(|_| std::env::var("NO_PROXY"))
            .map(|list| Self::parse(&list))
            .unwrap_or_default()
    }

    /// A `NO_PROXY` list.
    pub fn parse(list: &str) -> Self {
        let mut no = NoProxy::default();
        for entry in list.split([',', ' ', '\t']).map(str::trim) {
            if entry.is_empty() {
                continue;
            }
            if entry == "*" {
                no.every_host = true;
                continue;
            }
            let (address, bits) = match entry.split_once('/') {
                Some((address, bits)) => (address, bits.parse::<u8>().ok()),
                None => (entry, None),
            };
            let address = address.trim_start_matches('[').trim_end_matches(']');
            if let Ok(ip) = address.parse::<IpAddr>() {
                let full = if ip.is_ipv4() { 32 } else { 128 };
                no.networks.push((ip, bits.unwrap_or(full).min(full)));
                continue;
            }
            let name = entry.trim_matches('.').to_ascii_lowercase();
            if !name.is_empty() {
                no.names.push(name);
            }
        }
        no
    }

    /// Whether a request to `host` (as a URL holds it; IPv6 in brackets) goes direct.
    pub fn matches(&self, host: &str) -> bool {
        if self.every_host {
            return true;
        }
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return self
                .networks
                .iter()
                .any(|(net, bits)| in_network(ip, *net, *bits));
        }
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.names.iter().any(|name| {
            host == *name
                || (host.len() > name.len()
                    && host.ends_with(name.as_str())
                    && host.as_bytes()[host.len() - name.len() - 1] == b'.')
        })
    }
}

/// Whether `ip` is in the network `net`/`bits`.
fn in_network(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

/// The proxy a request goes through, for a message: never its credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyNote {
    /// `host:port`.
    pub shown: String,
    /// Named by `--proxy-host` (else by the environment or the OS settings).
    pub from_flags: bool,
    /// Credentials are sent to it.
    pub credentials: bool,
}

/// How requests are routed: the `NO_PROXY` rules, then `--proxy-host` or the environment.
#[derive(Clone)]
struct ProxyRoutes {
    no_proxy: NoProxy,
    via: Via,
}

#[derive(Clone)]
enum Via {
    /// `--proxy-host`: its URL (without credentials), and whether a user is sent.
    Flags { url: Url, credentials: bool },
    /// The environment's proxy variables and the OS settings, as hyper-util reads them
    /// (reqwest's own source for them); its `NO_PROXY` reading is overruled by ours.
    System(Arc<Matcher>),
}

impl fmt::Debug for ProxyRoutes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let via = match &self.via {
            Via::Flags { url, .. } => format!("--proxy-host {}", shown_proxy(url)),
            Via::System(_) => "the environment".to_owned(),
        };
        f.debug_struct("ProxyRoutes")
            .field("no_proxy", &self.no_proxy)
            .field("via", &via)
            .finish()
    }
}

/// `host:port` of a proxy URL.
fn shown_proxy(url: &Url) -> String {
    match (url.host_str(), url.port_or_known_default()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_owned(),
        (None, _) => "?".to_owned(),
    }
}

impl ProxyRoutes {
    fn new(proxy: Option<&ProxySettings>) -> anyhow::Result<Self> {
        let via = match proxy {
            Some(p) => Via::Flags {
                url: p.url()?,
                credentials: p.user.is_some(),
            },
            None => Via::System(Arc::new(Matcher::from_system())),
        };
        Ok(ProxyRoutes {
            no_proxy: NoProxy::from_env(),
            via,
        })
    }

    /// The proxy a request to `url` goes through (with the credentials of an environment
    /// variable's URL), or `None`: direct.
    fn route(&self, url: &Url) -> Option<Url> {
        if self.no_proxy.matches(url.host_str()?) {
            return None;
        }
        match &self.via {
            Via::Flags { url, .. } => Some(url.clone()),
            Via::System(matcher) => system_route(matcher, url),
        }
    }

    fn note(&self, url: &Url) -> Option<ProxyNote> {
        let proxy = self.route(url)?;
        Some(match &self.via {
            Via::Flags { credentials, .. } => ProxyNote {
                shown: shown_proxy(&proxy),
                from_flags: true,
                credentials: *credentials,
            },
            Via::System(_) => ProxyNote {
                shown: shown_proxy(&proxy),
                from_flags: false,
                credentials: !proxy.username().is_empty(),
            },
        })
    }

    /// The reqwest proxy that routes every request by [`ProxyRoutes::route`].
    fn reqwest_proxy(self, authorization: Option<HeaderValue>) -> reqwest::Proxy {
        let proxy = reqwest::Proxy::custom(move |url| self.route(url));
        match authorization {
            Some(header) => proxy.custom_http_auth(header),
            None => proxy,
        }
    }
}

/// The proxy hyper-util's matcher (environment, OS settings) picks for `url`, as a URL whose
/// user and password, if any, are percent-encoded byte for byte, so that reqwest, which
/// decodes them once, sends exactly what the matcher read.
fn system_route(matcher: &Matcher, url: &Url) -> Option<Url> {
    let uri: hyper::Uri = url.as_str().parse().ok()?;
    let intercept = matcher.intercept(&uri)?;
    let mut proxy = Url::parse(&intercept.uri().to_string()).ok()?;
    if let Some((user, password)) = intercept.basic_auth().and_then(decode_basic) {
        proxy.set_username(&encode_component(&user)).ok()?;
        proxy
            .set_password(Some(&encode_component(&password)))
            .ok()?;
    }
    Some(proxy)
}

/// `Basic base64(user:password)` back into its two parts.
fn decode_basic(header: &HeaderValue) -> Option<(String, String)> {
    let encoded = header.to_str().ok()?.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// An HTTP client of one server: reqwest's, and how it routes requests through proxies (for
/// messages about a proxy). Derefs to the reqwest client.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    routes: Arc<ProxyRoutes>,
}

impl Deref for Client {
    type Target = reqwest::Client;

    fn deref(&self) -> &reqwest::Client {
        &self.http
    }
}

impl Client {
    /// The proxy a request to `url` goes through, or `None`: direct.
    pub fn proxy_for(&self, url: &Url) -> Option<ProxyNote> {
        self.routes.note(url)
    }
}

/// How the HTTP client of one server connects. The time-out and the proxy are shared by
/// every server; the TLS options belong to one server each (`--ca-cert` and `--insecure` to
/// Apex Central, `--taxii-ca-cert` and `--taxii-insecure` to TAXII; see `settings::clients`).
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
    /// Accept plain `http://` to a host that is not loopback (Apex Central's `--allow-http`;
    /// the other servers' clients refuse or warn on their own terms).
    pub allow_http: bool,
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
            allow_http: false,
            deadline: None,
        }
    }
}

impl HttpSettings {
    /// The retry policy of a client with these settings: the default one, bounded by the
    /// run's deadline.
    pub fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            deadline: self.deadline,
            ..RetryPolicy::default()
        }
    }

    /// A client with these settings: TLS verified against the system's roots plus
    /// `ca_cert`, unless `insecure`; requests routed per the proxy settings.
    pub fn build_client(&self) -> anyhow::Result<Client> {
        self.build_client_with(|builder| builder)
    }

    /// [`HttpSettings::build_client`], with more settings on reqwest's builder (the TAXII
    /// client's redirect policy).
    pub fn build_client_with(
        &self,
        more: impl FnOnce(reqwest::ClientBuilder) -> reqwest::ClientBuilder,
    ) -> anyhow::Result<Client> {
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
        let authorization = match &self.proxy {
            Some(proxy) => proxy.authorization()?,
            None => None,
        };
        let routes = ProxyRoutes::new(self.proxy.as_ref())?;
        // One proxy of our own for every request: reqwest's reading of the environment is
        // then off, and ours (NO_PROXY by curl's rules) decides.
        builder = builder.proxy(routes.clone().reqwest_proxy(authorization));
        Ok(Client {
            http: more(builder)
                .build()
                .context("cannot set up the HTTP client")?,
            routes: Arc::new(routes),
        })
    }
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

/// A proxy answered 407 Proxy Authentication Required: it refused the credentials sent, or
/// wants some. Names the proxy (`host:port`, never the password) and what to check.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", self.message())]
pub struct ProxyRefused {
    /// The proxy the request went through, when known.
    pub proxy: Option<ProxyNote>,
    pub server: String,
    /// The request, by method and path.
    pub name: String,
}

impl ProxyRefused {
    fn message(&self) -> String {
        let status = "HTTP 407 Proxy Authentication Required";
        let (server, name) = (&self.server, &self.name);
        match &self.proxy {
            Some(p) if p.credentials && p.from_flags => format!(
                "the proxy {} refused the credentials sent for {name} to {server} ({status}): \
                 check --proxy-user and --proxy-password (or PROXY_PASSWORD); they are sent exactly as given",
                p.shown
            ),
            Some(p) if p.credentials => format!(
                "the proxy {} refused the credentials sent for {name} to {server} ({status}): \
                 check the user and password in the proxy URL of the environment (HTTPS_PROXY, HTTP_PROXY)",
                p.shown
            ),
            Some(p) => format!(
                "the proxy {} asks for credentials for {name} to {server} ({status}): \
                 give --proxy-user and --proxy-password",
                p.shown
            ),
            None => format!(
                "{server} answered {name} with {status}, as a proxy would, but no proxy is used for it"
            ),
        }
    }
}

/// Why [`send_with`] has no answer for its caller.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Connection errors or time-outs on every try.
    #[error("cannot reach {server}: {detail} ({name}, {tries} tries)")]
    Unreachable {
        server: String,
        name: String,
        detail: String,
        tries: u32,
    },
    /// An answer longer than the cap (not retried).
    #[error("{server}'s answer to {name}: {error}")]
    TooLarge {
        server: String,
        name: String,
        error: BodyError,
    },
    #[error(transparent)]
    Spent(RateLimitSpent),
    #[error(transparent)]
    Deadline(DeadlineReached),
    #[error(transparent)]
    Proxy(ProxyRefused),
}

impl SendError {
    /// As an `anyhow::Error` whose concrete type is the cause's own ([`RateLimitSpent`],
    /// [`DeadlineReached`], [`ProxyRefused`]), so that callers find it with `downcast_ref`.
    pub fn into_anyhow(self) -> anyhow::Error {
        match self {
            SendError::Spent(e) => e.into(),
            SendError::Deadline(e) => e.into(),
            SendError::Proxy(e) => e.into(),
            other => anyhow::Error::new(other),
        }
    }
}

/// Whether a connection error is a proxy's 407 to `CONNECT` (an `https://` request through
/// a proxy). hyper-util's tunnel error is not public: its text is what is left to match.
fn is_tunnel_refusal(e: &reqwest::Error) -> bool {
    use std::error::Error as _;
    let mut source = e.source();
    while let Some(s) = source {
        if s.to_string().contains("proxy authorization required") {
            return true;
        }
        source = s.source();
    }
    false
}

/// [`send_with`] for servers whose every 5xx is worth another try; its errors as
/// `anyhow::Error` (see [`SendError::into_anyhow`]).
pub async fn send_retrying(
    client: &Client,
    build: impl Fn() -> reqwest::RequestBuilder,
    retry: &RetryPolicy,
    server: &str,
    name: &str,
    max_body: usize,
) -> anyhow::Result<Answer> {
    send_with(client, build, retry, server, name, max_body, |a| {
        a.status.is_server_error()
    })
    .await
    .map_err(SendError::into_anyhow)
}

/// Sends the request `build` makes (once per try) under `retry` ([`crate::retry`]): again on
/// connection errors and time-outs, on answers `worth_retrying` says are (5xx, say), and on
/// 429 after the wait the server asks for. Returns the first other answer, or the last
/// retried one once the tries are used up, for the caller to judge. `server` and `name`
/// (method and path, never a URL: URLs can carry keys) go into errors. A body longer than
/// `max_body` bytes is an error (not retried); so is a proxy's 407.
pub async fn send_with(
    client: &Client,
    build: impl Fn() -> reqwest::RequestBuilder,
    retry: &RetryPolicy,
    server: &str,
    name: &str,
    max_body: usize,
    worth_retrying: impl Fn(&Answer) -> bool,
) -> Result<Answer, SendError> {
    let mut retrier = Retrier::new(retry, server, name);
    let refused = |url: Option<&Url>| {
        SendError::Proxy(ProxyRefused {
            proxy: url.and_then(|u| client.proxy_for(u)),
            server: server.to_owned(),
            name: name.to_owned(),
        })
    };
    loop {
        let mut last = None;
        let setback = match build().send().await {
            Err(e) if is_tunnel_refusal(&e) => return Err(refused(e.url())),
            Err(e) => Setback::Transport(transport_detail(&e)),
            Ok(response) if response.status() == StatusCode::PROXY_AUTHENTICATION_REQUIRED => {
                return Err(refused(Some(response.url())));
            }
            Ok(response) if response.status() == StatusCode::TOO_MANY_REQUESTS => {
                Setback::RateLimited {
                    wait: server_wait(response.headers(), SystemTime::now()),
                }
            }
            Ok(response) => {
                let status = response.status();
                let headers = response.headers().clone();
                match read_body(response, max_body).await {
                    Ok(body) => {
                        let answer = Answer {
                            status,
                            headers,
                            body,
                        };
                        if !worth_retrying(&answer) {
                            return Ok(answer);
                        }
                        let wait = server_wait(&answer.headers, SystemTime::now());
                        last = Some(answer);
                        Setback::Server { status, wait }
                    }
                    Err(error @ BodyError::TooLarge { .. }) => {
                        return Err(SendError::TooLarge {
                            server: server.to_owned(),
                            name: name.to_owned(),
                            error,
                        });
                    }
                    Err(BodyError::Transport(e)) => {
                        Setback::Transport(format!("cannot read the answer: {e}"))
                    }
                }
            }
        };
        match retrier.wait(&setback).await {
            Ok(()) => {}
            Err(GiveUp::TriesUsed { tries }) => {
                return match (last, setback) {
                    // The last 5xx goes to the caller, which knows how to read its body.
                    (Some(answer), _) => Ok(answer),
                    (None, Setback::Transport(detail)) => Err(SendError::Unreachable {
                        server: server.to_owned(),
                        name: name.to_owned(),
                        detail,
                        tries,
                    }),
                    (None, _) => unreachable!("only failed tries use up the tries"),
                };
            }
            Err(GiveUp::Spent(e)) => return Err(SendError::Spent(e)),
            Err(GiveUp::Deadline(e)) => return Err(SendError::Deadline(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn proxy(host: &str) -> ProxySettings {
        ProxySettings {
            host: host.into(),
            port: 3128,
            user: None,
            password: None,
        }
    }

    #[test]
    fn proxy_urls() {
        assert_eq!(
            proxy("proxy.corp").url().unwrap().as_str(),
            "http://proxy.corp:3128/"
        );
        assert_eq!(
            proxy("http://proxy.corp/").url().unwrap().as_str(),
            "http://proxy.corp:3128/"
        );
        for (bad, says) in [
            ("http://proxy.corp:8080", "--proxy-port"),
            ("http://proxy.corp/x", "not a path"),
            ("socks5://proxy.corp", "give a host name"),
        ] {
            let e = proxy(bad).url().unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
        // Credentials in the host are refused, and never echoed.
        for bad in ["http://svc:S3cr%41t@proxy.corp", "svc:S3cr%41t@proxy.corp"] {
            let e = proxy(bad).url().unwrap_err().to_string();
            assert!(
                e.contains("--proxy-user and --proxy-password") && !e.contains("S3cr"),
                "{e}"
            );
            assert!(e.contains("<credentials>@proxy.corp"), "{e}");
        }
    }

    #[test]
    fn the_proxy_authorization_is_built_from_the_raw_values() {
        let decode = |h: HeaderValue| {
            let text = h
                .to_str()
                .unwrap()
                .strip_prefix("Basic ")
                .unwrap()
                .to_owned();
            String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .unwrap(),
            )
            .unwrap()
        };
        for password in ["plain-Passw0rd", "Pa@ss:w0rd#7%41/x", "p%25x", "pässwörd€"] {
            let p = ProxySettings {
                user: Some("svc-ioc".into()),
                password: Some(Secret::new(password)),
                ..proxy("proxy.corp")
            };
            let header = p.authorization().unwrap().unwrap();
            assert!(header.is_sensitive());
            assert_eq!(decode(header), format!("svc-ioc:{password}"));
        }
        let p = ProxySettings {
            user: Some("svc:ioc".into()),
            ..proxy("proxy.corp")
        };
        assert!(
            p.authorization()
                .unwrap_err()
                .to_string()
                .contains("RFC 7617")
        );
        assert_eq!(proxy("p").authorization().unwrap(), None);
    }

    #[test]
    fn environment_proxy_credentials_keep_every_byte() {
        // What an environment variable's URL says, percent-decoded once (as curl does):
        // `p%2541@x` is the password `p%41@x`.
        let matcher = Matcher::builder()
            .all("http://svc%20ioc:p%2541%40x%E2%82%AC@proxy.corp:3128")
            .build();
        let url = Url::parse("https://apex.corp/x").unwrap();
        let proxy = system_route(&matcher, &url).unwrap();
        assert_eq!(proxy.host_str(), Some("proxy.corp"));
        let header = Matcher::builder()
            .all(String::from(proxy))
            .build()
            .intercept(&"https://apex.corp/x".parse().unwrap())
            .unwrap()
            .basic_auth()
            .cloned()
            .unwrap();
        assert_eq!(
            decode_basic(&header).unwrap(),
            ("svc ioc".to_owned(), "p%41@x€".to_owned())
        );
    }

    #[test]
    fn no_proxy_follows_curl() {
        let no = NoProxy::parse("example.com, .corp.example,10.0.0.0/8 ,192.168.1.7, fd00::/8");
        for direct in [
            "example.com",
            "www.example.com",
            "WWW.Example.COM.",
            "corp.example",
            "a.b.corp.example",
            "10.1.2.3",
            "192.168.1.7",
            "[fd00::1]",
        ] {
            assert!(no.matches(direct), "{direct}");
        }
        for proxied in [
            "notexample.com",
            "example.com.evil",
            "192.168.1.8",
            "11.0.0.1",
            "[fe80::1]",
            "apex.corp",
        ] {
            assert!(!no.matches(proxied), "{proxied}");
        }
        // `*` alone, or anywhere in the list: every host, names and addresses alike.
        for every in ["*", " * ", "localhost,*", "*,example.com"] {
            let no = NoProxy::parse(every);
            for host in ["apex.corp", "127.0.0.1", "[::1]", "x"] {
                assert!(no.matches(host), "{every}: {host}");
            }
        }
        assert!(!NoProxy::parse("").matches("x"));
        assert!(!NoProxy::parse("*.example.com").matches("127.0.0.1"));
    }

    #[test]
    fn urls_with_credentials_are_refused_without_echoing_them() {
        for raw in [
            "https://reader:Hunter2@taxii.example/taxii2/",
            "https://reader@taxii.example/",
            "reader:Hunter2@apex.corp",
            "https://reader:Hun ter2@taxii.example/",
        ] {
            let e = refuse_credentials(raw, "--taxii-url", "--taxii-user and --taxii-password")
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("--taxii-url") && e.contains("--taxii-user") && !e.contains("Hun"),
                "{raw}: {e}"
            );
        }
        refuse_credentials("https://taxii.example/a@b", "--taxii-url", "x").unwrap();
        refuse_credentials("apex.corp:8443", "--host", "x").unwrap();
        assert_eq!(
            without_userinfo("https://u:p@h:1/x@y?q=@"),
            "https://<credentials>@h:1/x@y?q=@"
        );
    }

    #[test]
    fn loopback_hosts() {
        for (url, loopback) in [
            ("http://127.0.0.1:9", true),
            ("http://127.8.9.10", true),
            ("http://LOCALHOST/", true),
            ("http://[::1]/", true),
            ("http://10.0.0.1/", false),
            ("http://apex.corp/", false),
            ("http://localhost.evil/", false),
        ] {
            let url = Url::parse(url).unwrap();
            assert_eq!(is_loopback(&url.host().unwrap()), loopback, "{url}");
        }
    }
}
