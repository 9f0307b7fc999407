//! The server loop every simulator shares: HTTP or HTTPS on a loopback listener, request
//! counts by method, injected faults (latency, 5xx, 429 with Retry-After, dropped
//! connections) applied before the simulator's own router sees a request, and a [`Hold`] that
//! stops one request at an exact point (for the crash test, which kills the client there).

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

/// Faults to inject, counted over every request the server receives (the first is 1).
/// "Every n-th" makes them deterministic: a retried request is the next number, so a client
/// that retries converges.
#[derive(Debug, Default)]
pub struct Faults {
    latency_ms: AtomicU64,
    drop_every: AtomicU64,
    error_5xx_every: AtomicU64,
    error_429_every: AtomicU64,
    retry_after_secs: AtomicU64,
    error_5xx_after: AtomicU64,
    first_try_only: std::sync::atomic::AtomicBool,
    seen: Mutex<HashSet<String>>,
    rate_window: Mutex<Option<RateWindow>>,
}

/// How a 429 says when to come back (RFC 9110 section 10.2.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryAfterForm {
    /// `Retry-After: <delay-seconds>`.
    Seconds,
    /// `Retry-After: <IMF-fixdate>`, as `email.utils.formatdate(usegmt=True)` writes it.
    HttpDate,
    /// `Retry-After: <this text>`, as sent (a value no client can read, say).
    Text(String),
}

/// A rate limit that answers 429 to every request whose path ends with `path_suffix` from
/// the first such request until `window` has passed, as `taxiisrv.py` of
/// `cases/http/26-retry-after-http-date` does.
#[derive(Debug, Clone)]
struct RateWindow {
    path_suffix: String,
    window: Duration,
    form: RetryAfterForm,
    until: Option<std::time::SystemTime>,
    /// 429s answered so far.
    answered: u64,
}

impl Faults {
    /// Delay every answer.
    pub fn set_latency(&self, latency: Duration) {
        self.latency_ms
            .store(latency.as_millis() as u64, Ordering::Relaxed);
    }
    /// Close the connection without an answer on every n-th request (0: never).
    pub fn drop_every(&self, n: u64) {
        self.drop_every.store(n, Ordering::Relaxed);
    }
    /// Answer 503 on every n-th request (0: never).
    pub fn error_5xx_every(&self, n: u64) {
        self.error_5xx_every.store(n, Ordering::Relaxed);
    }
    /// Answer 429 with `Retry-After: secs` on every n-th request (0: never).
    pub fn error_429_every(&self, n: u64, retry_after_secs: u64) {
        self.retry_after_secs
            .store(retry_after_secs, Ordering::Relaxed);
        self.error_429_every.store(n, Ordering::Relaxed);
    }
    /// Answer 503 to every request after the n-th (0: never), as a server that goes down.
    pub fn error_5xx_after(&self, n: u64) {
        self.error_5xx_after.store(n, Ordering::Relaxed);
    }
    /// Fault a request (same method and URL) on its first try only, so that a client that
    /// retries converges whatever its concurrency.
    pub fn first_try_only(&self, on: bool) {
        self.first_try_only.store(on, Ordering::Relaxed);
    }
    /// Answer 429 to every request whose path ends with `path_suffix`, from the first such
    /// request until `window` has passed, with `Retry-After` in `form` saying when the
    /// window ends (rounded up to the next second).
    pub fn rate_limit_window(&self, path_suffix: &str, window: Duration, form: RetryAfterForm) {
        *self.rate_window.lock().unwrap() = Some(RateWindow {
            path_suffix: path_suffix.to_owned(),
            window,
            form,
            until: None,
            answered: 0,
        });
    }

    /// The 429s the rate-limit window has answered so far.
    pub fn rate_limited_answers(&self) -> u64 {
        self.rate_window
            .lock()
            .unwrap()
            .as_ref()
            .map_or(0, |w| w.answered)
    }

    /// The `Retry-After` of a request to `path` inside the rate-limit window, if it is.
    fn rate_limited(&self, path: &str) -> Option<String> {
        let mut guard = self.rate_window.lock().unwrap();
        let w = guard.as_mut()?;
        if !path.ends_with(&w.path_suffix) {
            return None;
        }
        let now = std::time::SystemTime::now();
        let until = *w.until.get_or_insert(now + w.window);
        let left = until.duration_since(now).ok().filter(|d| !d.is_zero())?;
        w.answered += 1;
        Some(match &w.form {
            RetryAfterForm::Seconds => (left.as_secs() + 1).to_string(),
            RetryAfterForm::HttpDate => httpdate::fmt_http_date(until + Duration::from_secs(1)),
            RetryAfterForm::Text(text) => text.clone(),
        })
    }

    /// No more faults.
    pub fn clear(&self) {
        self.first_try_only(false);
        self.error_5xx_after(0);
        self.set_latency(Duration::ZERO);
        self.drop_every(0);
        self.error_5xx_every(0);
        self.error_429_every(0, 0);
        *self.rate_window.lock().unwrap() = None;
    }

    fn hits(every: &AtomicU64, n: u64) -> bool {
        let every = every.load(Ordering::Relaxed);
        every > 0 && n.is_multiple_of(every)
    }
}

/// Requests received, by method, faulted ones included.
#[derive(Debug, Default)]
pub struct Stats {
    total: AtomicU64,
    by_method: Mutex<BTreeMap<String, u64>>,
    /// The method of every request in order, when asked for ([`Stats::keep_order`]).
    order: Mutex<Option<Vec<String>>>,
}

impl Stats {
    fn record(&self, method: &str) -> u64 {
        *self
            .by_method
            .lock()
            .unwrap()
            .entry(method.to_owned())
            .or_default() += 1;
        if let Some(order) = self.order.lock().unwrap().as_mut() {
            order.push(method.to_owned());
        }
        self.total.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// From now on, keep the method of every request in order (off by default: a simulator
    /// that serves for hours would keep them all).
    pub fn keep_order(&self) {
        self.order.lock().unwrap().get_or_insert_default();
    }

    /// The methods of the requests received since [`Stats::keep_order`], in order: the n-th
    /// request (as [`Hold`] counts) is the n-th when kept from the start.
    pub fn order(&self) -> Vec<String> {
        self.order.lock().unwrap().clone().unwrap_or_default()
    }

    /// Requests received so far with this method.
    pub fn count(&self, method: &str) -> u64 {
        self.by_method
            .lock()
            .unwrap()
            .get(method)
            .copied()
            .unwrap_or(0)
    }

    /// Every method's count.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.by_method.lock().unwrap().clone()
    }

    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    pub fn reset(&self) {
        self.by_method.lock().unwrap().clear();
        if let Some(order) = self.order.lock().unwrap().as_mut() {
            order.clear();
        }
        self.total.store(0, Ordering::Relaxed);
    }
}

/// Where a [`Hold`] stops its request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldPoint {
    /// Before the simulator sees it: the request has no effect.
    BeforeHandling,
    /// After the simulator acted on it (a put stored, a page chosen), before the answer goes
    /// out: the server did it, the client does not know.
    BeforeAnswer,
}

/// Stops the n-th request the server receives (counted as [`Stats`] counts, the first is 1)
/// at a [`HoldPoint`] until [`Hold::release`], so that a test can kill the client while that
/// request is held: an exact point of the client's run, whatever the machine's speed. The
/// other requests go on meanwhile, as they would on a real server.
#[derive(Debug, Default)]
pub struct Hold {
    armed: Mutex<Option<(u64, HoldPoint)>>,
    /// The number of the request being held, once it arrived.
    held: Mutex<Option<u64>>,
    arrived: Condvar,
    released: std::sync::atomic::AtomicBool,
}

impl Hold {
    /// Holds the `nth` request at `point` (one request: a second call replaces the first).
    pub fn arm(&self, nth: u64, point: HoldPoint) {
        *self.held.lock().unwrap() = None;
        self.released.store(false, Ordering::SeqCst);
        *self.armed.lock().unwrap() = Some((nth, point));
    }

    /// Waits up to `timeout` for the armed request to be held; its number when it is.
    pub fn wait_held(&self, timeout: Duration) -> Option<u64> {
        let held = self.held.lock().unwrap();
        let (held, _) = self
            .arrived
            .wait_timeout_while(held, timeout, |h| h.is_none())
            .unwrap();
        *held
    }

    /// Lets the held request (and any later one) go on.
    pub fn release(&self) {
        *self.armed.lock().unwrap() = None;
        self.released.store(true, Ordering::SeqCst);
    }

    /// The point where request `n` is to be held, if it is the armed one (disarms).
    fn due(&self, n: u64) -> Option<HoldPoint> {
        let mut armed = self.armed.lock().unwrap();
        match *armed {
            Some((nth, point)) if nth == n => {
                *armed = None;
                Some(point)
            }
            _ => None,
        }
    }

    /// Holds request `n` until released. A short poll: the hold is for tests, and waits on
    /// the simulator's runtime without blocking a thread of it.
    async fn hold(&self, n: u64) {
        *self.held.lock().unwrap() = Some(n);
        self.arrived.notify_all();
        while !self.released.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}

/// The fault and count controls of one running server.
#[derive(Debug, Default, Clone)]
pub struct Control {
    pub faults: Arc<Faults>,
    pub stats: Arc<Stats>,
    pub hold: Arc<Hold>,
}

/// Reads a PEM certificate chain and key into a rustls server configuration.
pub fn tls_config(cert: &Path, key: &Path) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let read = |path: &Path| {
        crate::files::read_capped(path, crate::files::MAX_PEM_BYTES)
            .with_context(|| format!("cannot read {}", path.display()))
    };
    let cert_pem = read(cert)?;
    let certs = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("cannot read certificates from {}", cert.display()))?;
    anyhow::ensure!(!certs.is_empty(), "{} holds no certificate", cert.display());
    let key = PrivateKeyDer::from_pem_slice(&read(key)?)
        .with_context(|| format!("cannot read a private key from {}", key.display()))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .context("TLS protocol versions")?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .context("the certificate and key do not make a TLS identity")?;
    Ok(Arc::new(config))
}

/// A server started by [`spawn`]: its address and a way to stop it.
#[derive(Debug)]
pub struct RunningServer {
    pub addr: SocketAddr,
    pub tls: bool,
    stop: watch::Sender<bool>,
}

impl RunningServer {
    /// `http://127.0.0.1:port` (or https).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Serves `router` on `listener` until the returned server is stopped or dropped.
pub fn spawn(
    listener: TcpListener,
    router: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    control: Control,
) -> anyhow::Result<RunningServer> {
    let addr = listener.local_addr()?;
    let (stop, mut stopped) = watch::channel(false);
    let acceptor = tls.clone().map(tokio_rustls::TlsAcceptor::from);
    tokio::spawn(async move {
        loop {
            let (stream, _) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(conn) => conn,
                    Err(_) => continue,
                },
                _ = stopped.changed() => break,
            };
            let router = router.clone();
            let control = control.clone();
            let acceptor = acceptor.clone();
            let mut stopped = stopped.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                    handle(req, router.clone(), control.clone())
                });
                let builder = hyper::server::conn::http1::Builder::new();
                // Connection errors (including the faults we inject) end that connection only.
                let _ = match acceptor {
                    Some(acceptor) => match acceptor.accept(stream).await {
                        Ok(tls_stream) => {
                            let conn = builder.serve_connection(TokioIo::new(tls_stream), service);
                            tokio::select! { r = conn => r.map_err(|_| ()), _ = stopped.changed() => Ok(()) }
                        }
                        Err(_) => Err(()),
                    },
                    None => {
                        let conn = builder.serve_connection(TokioIo::new(stream), service);
                        tokio::select! { r = conn => r.map_err(|_| ()), _ = stopped.changed() => Ok(()) }
                    }
                };
            });
        }
    });
    Ok(RunningServer {
        addr,
        tls: tls.is_some(),
        stop,
    })
}

async fn handle(
    req: hyper::Request<Incoming>,
    router: Router,
    control: Control,
) -> Result<axum::response::Response, std::io::Error> {
    let n = control.stats.record(req.method().as_str());
    let faults = &control.faults;
    // A retry is the same method, URL and body (every add has the same URL).
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(Body::new(body), usize::MAX)
        .await
        .map_err(std::io::Error::other)?;
    let key = format!(
        "{} {} {}",
        parts.method,
        parts.uri,
        String::from_utf8_lossy(&body)
    );
    let req = hyper::Request::from_parts(parts, Body::from(body));
    let hold = control.hold.due(n);
    if hold == Some(HoldPoint::BeforeHandling) {
        control.hold.hold(n).await;
    }
    let answer = answer(req, router, faults, n, key).await;
    if hold == Some(HoldPoint::BeforeAnswer) {
        control.hold.hold(n).await;
    }
    answer
}

/// The answer to request `n` (`key`: its method, URL and body): a fault, or the router's.
async fn answer(
    req: hyper::Request<Body>,
    router: Router,
    faults: &Faults,
    n: u64,
    key: String,
) -> Result<axum::response::Response, std::io::Error> {
    let retried = !faults.seen.lock().unwrap().insert(key);
    if retried && faults.first_try_only.load(Ordering::Relaxed) {
        return router_answer(req, router).await;
    }
    let latency = faults.latency_ms.load(Ordering::Relaxed);
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    if Faults::hits(&faults.drop_every, n) {
        // An error from the service makes hyper close the connection without an answer.
        return Err(std::io::Error::other(
            "connection dropped by fault injection",
        ));
    }
    let down_after = faults.error_5xx_after.load(Ordering::Relaxed);
    if Faults::hits(&faults.error_5xx_every, n) || (down_after > 0 && n > down_after) {
        return Ok(plain(503, "Service Unavailable (injected)", None));
    }
    if Faults::hits(&faults.error_429_every, n) {
        let after = faults.retry_after_secs.load(Ordering::Relaxed);
        return Ok(plain(
            429,
            "Too Many Requests (injected)",
            Some(after.to_string()),
        ));
    }
    if let Some(after) = faults.rate_limited(req.uri().path()) {
        return Ok(plain(
            429,
            "Too Many Requests (rate limit window)",
            Some(after),
        ));
    }
    router_answer(req, router).await
}

async fn router_answer(
    req: hyper::Request<Body>,
    router: Router,
) -> Result<axum::response::Response, std::io::Error> {
    Ok(router
        .oneshot(req)
        .await
        .unwrap_or_else(|never| match never {}))
}

fn plain(status: u16, body: &'static str, retry_after: Option<String>) -> axum::response::Response {
    let mut builder = axum::http::Response::builder()
        .status(status)
        .header("content-type", "text/plain");
    if let Some(after) = retry_after {
        builder = builder.header("retry-after", after);
    }
    builder.body(Body::from(body)).expect("a valid response")
}

/// Binds a loopback port (0 picks a free one).
pub async fn bind_loopback(port: u16) -> anyhow::Result<TcpListener> {
    TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("cannot listen on 127.0.0.1:{port}"))
}
