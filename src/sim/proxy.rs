//! A forward HTTP proxy on loopback that may demand Basic proxy authentication, as an
//! enterprise proxy does (`cases/http/20-proxy-password-percent/authproxy.py`): absolute-form
//! requests (`GET http://127.0.0.1:PORT/path`) are checked and forwarded one by one, `CONNECT`
//! is checked and tunnelled; a request without the right `Proxy-Authorization` gets 407 with
//! `Proxy-Authenticate: Basic`. Every request is recorded with what its
//! `Proxy-Authorization` decodes to, so a test sees the exact bytes a client sent. It relays
//! to loopback only.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use base64::Engine as _;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// One request the proxy received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxiedRequest {
    /// `GET`, `CONNECT`, ...
    pub method: String,
    /// The request target: `http://127.0.0.1:PORT/path`, or `127.0.0.1:PORT` for `CONNECT`.
    pub target: String,
    /// What `Proxy-Authorization: Basic ...` decodes to (`user:password`), when sent; a
    /// header that is not Basic or not base64 of UTF-8 is kept as sent.
    pub credentials: Option<String>,
    /// Let through (the credentials matched, or none are demanded).
    pub admitted: bool,
}

/// A running proxy; stops when dropped.
pub struct ForwardProxy {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<ProxiedRequest>>>,
    _runtime: tokio::runtime::Runtime,
}

impl ForwardProxy {
    /// Starts a proxy on a free loopback port that demands `credentials` (`user`,
    /// `password`), or nothing when `None`.
    pub fn start(credentials: Option<(&str, &str)>) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("sim-proxy")
            .enable_all()
            .build()?;
        let listener = runtime
            .block_on(TcpListener::bind("127.0.0.1:0"))
            .context("cannot listen on loopback")?;
        let addr = listener.local_addr()?;
        let requests: Arc<Mutex<Vec<ProxiedRequest>>> = Arc::default();
        let expected = credentials.map(|(user, password)| format!("{user}:{password}"));
        let seen = requests.clone();
        runtime.spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (seen, expected) = (seen.clone(), expected.clone());
                tokio::spawn(async move {
                    let _ = serve(client, expected.as_deref(), &seen).await;
                });
            }
        });
        Ok(ForwardProxy {
            addr,
            requests,
            _runtime: runtime,
        })
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<ProxiedRequest> {
        self.requests.lock().unwrap().clone()
    }
}

/// A request head: its first line's method and target, and its header lines.
struct Head {
    method: String,
    target: String,
    version: String,
    headers: Vec<(String, String)>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

async fn read_head(reader: &mut BufReader<TcpStream>) -> anyhow::Result<Option<Head>> {
    let mut first = String::new();
    if reader.read_line(&mut first).await? == 0 {
        return Ok(None);
    }
    let mut parts = first.split_whitespace();
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        anyhow::bail!("not an HTTP request line: {first:?}");
    };
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await? == 0 {
            anyhow::bail!("the head ended early");
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    Ok(Some(Head {
        method: method.to_owned(),
        target: target.to_owned(),
        version: version.to_owned(),
        headers,
    }))
}

/// `user:password` of a `Basic` header, or the header as sent.
fn decoded(header: &str) -> String {
    header
        .strip_prefix("Basic ")
        .and_then(|b64| {
            base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .ok()
        })
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .unwrap_or_else(|| header.to_owned())
}

/// `host:port` of a loopback target ([`crate::http::is_loopback`]), else `None` (this proxy
/// relays to loopback only).
fn loopback_authority(target: &str) -> Option<String> {
    let authority = target
        .strip_prefix("http://")
        .unwrap_or(target)
        .split('/')
        .next()?;
    let url = url::Url::parse(&format!("http://{authority}/")).ok()?;
    let loopback = url.username().is_empty() && crate::http::is_loopback(&url.host()?);
    loopback.then(|| authority.to_owned())
}

async fn serve(
    client: TcpStream,
    expected: Option<&str>,
    seen: &Mutex<Vec<ProxiedRequest>>,
) -> anyhow::Result<()> {
    let mut reader = BufReader::new(client);
    while let Some(head) = read_head(&mut reader).await? {
        let credentials = head.header("proxy-authorization").map(decoded);
        let admitted = match expected {
            None => true,
            Some(expected) => credentials.as_deref() == Some(expected),
        };
        seen.lock().unwrap().push(ProxiedRequest {
            method: head.method.clone(),
            target: head.target.clone(),
            credentials,
            admitted,
        });
        let length: usize = head
            .header("content-length")
            .and_then(|l| l.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        reader.read_exact(&mut body).await?;
        if !admitted {
            let text = "proxy auth required";
            let answer = format!(
                "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"sim\"\r\n\
                 Content-Type: text/plain\r\nContent-Length: {}\r\n\r\n{text}",
                text.len()
            );
            reader.get_mut().write_all(answer.as_bytes()).await?;
            continue;
        }
        let Some(authority) = loopback_authority(&head.target) else {
            reader
                .get_mut()
                .write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                .await?;
            continue;
        };
        let mut upstream = TcpStream::connect(&authority).await?;
        if head.method == "CONNECT" {
            reader
                .get_mut()
                .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                .await?;
            let buffered = reader.buffer().to_vec();
            upstream.write_all(&buffered).await?;
            let mut client = reader.into_inner();
            tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
            return Ok(());
        }
        // One request per upstream connection, closed after its answer: the answer is
        // relayed as it came, framing and all.
        let mut forwarded = format!("{} {} {}\r\n", head.method, head.target, head.version);
        for (name, value) in &head.headers {
            if !["proxy-authorization", "proxy-connection", "connection"]
                .iter()
                .any(|n| name.eq_ignore_ascii_case(n))
            {
                forwarded.push_str(&format!("{name}: {value}\r\n"));
            }
        }
        forwarded.push_str("Connection: close\r\n\r\n");
        upstream.write_all(forwarded.as_bytes()).await?;
        upstream.write_all(&body).await?;
        let mut answer = Vec::new();
        upstream.read_to_end(&mut answer).await?;
        reader.get_mut().write_all(&answer).await?;
    }
    Ok(())
}
