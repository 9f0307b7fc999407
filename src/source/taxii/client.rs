//! The TAXII 2.1 client: every request with the TAXII media type and the credentials,
//! retried per the HTTP policy; TAXII error objects read into messages; discovery, the API
//! root and its collections (TAXII 2.1 sections 4 and 5; see `reference/taxii-stix.md`).
//!
//! The client talks to one origin (scheme, host and port): the one of `--taxii-url`. An API
//! root or a collection URL elsewhere is refused, and a redirect elsewhere is not followed,
//! so the credentials go to that origin only.

use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use anyhow::{Context, anyhow, bail};
use reqwest::header::{ACCEPT, HeaderMap, LOCATION};
use serde::Deserialize;
use url::{Origin, Url};

use crate::http::{Client, HttpSettings, RetryPolicy, send_retrying};
use crate::secret::Secret;

/// The media type of TAXII 2.1 (medallion answers 406 to the bare `application/taxii+json`).
pub const TAXII_MEDIA_TYPE: &str = "application/taxii+json;version=2.1";
/// The longest answer read from a TAXII server: a page of 10,000 large objects fits.
pub const MAX_ANSWER_BYTES: usize = 64 << 20;

/// How to authenticate to the TAXII server.
#[derive(Debug, Clone)]
pub enum TaxiiAuth {
    None,
    Bearer(Secret),
    Basic { user: String, password: Secret },
}

/// A collection as the API root's collection list describes it (TAXII 2.1 section 5.2).
#[derive(Debug, Clone, Deserialize)]
pub struct Collection {
    pub id: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub alias: Option<String>,
    #[serde(default)]
    pub can_read: bool,
}

/// A TAXII error object, for messages.
#[derive(Debug, Deserialize)]
struct TaxiiError {
    title: Option<String>,
    description: Option<String>,
    error_code: Option<serde_json::Value>,
}

/// Work on a task of its own (a page request and its parsing), started at once; awaited,
/// its result; dropped, it is cancelled.
pub struct Task<T>(tokio::task::JoinHandle<anyhow::Result<T>>);

impl<T: Send + 'static> Task<T> {
    pub fn spawn(work: impl Future<Output = anyhow::Result<T>> + Send + 'static) -> Self {
        Task(tokio::spawn(work))
    }
}

impl<T> Future for Task<T> {
    type Output = anyhow::Result<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0)
            .poll(cx)
            .map(|joined| joined.map_err(|e| anyhow!("a TAXII page request was lost: {e}"))?)
    }
}

impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The most redirects followed for one request (reqwest's default).
const MAX_REDIRECTS: usize = 10;

/// A client of one TAXII server.
#[derive(Clone)]
pub struct TaxiiClient {
    http: Client,
    auth: TaxiiAuth,
    retry: RetryPolicy,
    /// The origin of `--taxii-url`: the only one this client sends requests (and the
    /// credentials) to.
    origin: Origin,
}

/// An origin as `scheme://host[:port]`.
fn origin_text(origin: &Origin) -> String {
    origin.ascii_serialization()
}

impl TaxiiClient {
    /// A client for the server of `taxii_url` (`--taxii-url`): its origin is the only one
    /// requests go to; a redirect to another is not followed (reqwest would keep the
    /// `Authorization` header when only the scheme changes).
    pub fn new(http: &HttpSettings, taxii_url: &Url, auth: TaxiiAuth) -> anyhow::Result<Self> {
        let origin = taxii_url.origin();
        let home = origin.clone();
        let policy = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() > MAX_REDIRECTS {
                attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
            } else if attempt.url().origin() != home {
                // The 3xx answer goes to the caller, which says why it stopped there.
                attempt.stop()
            } else {
                attempt.follow()
            }
        });
        Ok(TaxiiClient {
            http: http.build_client_with(|builder| builder.redirect(policy))?,
            auth,
            retry: http.retry_policy(),
            origin,
        })
    }

    /// Refuses `url` unless it is on the origin of `--taxii-url`; `what` names it. A URL
    /// carrying a user name or password (an API root a discovery document names so) is
    /// refused too: its credentials would be sent besides ours, and the URL of a collection
    /// is kept in the state file.
    pub fn check_origin(&self, url: &Url, what: &str) -> anyhow::Result<()> {
        if !url.username().is_empty() || url.password().is_some() {
            bail!(
                "{what} {} carries a user name or password in its URL: not read (the TAXII credentials \
                 are --taxii-token, or --taxii-user and --taxii-password, and a URL is kept in the state file)",
                crate::http::without_userinfo(url.as_str())
            );
        }
        if url.origin() == self.origin {
            return Ok(());
        }
        bail!(
            "{what} {url} is on another origin than --taxii-url ({}): not read, so that the TAXII credentials \
             go only to {}. If that server is the one to read, give its API root as --taxii-url",
            origin_text(&url.origin()),
            origin_text(&self.origin)
        )
    }

    /// GET with the TAXII headers and retries; the body of a 2xx answer, or an error that
    /// carries the server's TAXII error object. A URL on another origin than
    /// `--taxii-url`'s is refused before anything is sent.
    pub async fn get(&self, url: &Url) -> anyhow::Result<(HeaderMap, bytes::Bytes)> {
        self.check_origin(url, "the TAXII URL")?;
        let name = format!("GET {}", url.path());
        let build = || {
            let request = self.http.get(url.clone()).header(ACCEPT, TAXII_MEDIA_TYPE);
            match &self.auth {
                TaxiiAuth::None => request,
                TaxiiAuth::Bearer(token) => request.bearer_auth(token.expose()),
                TaxiiAuth::Basic { user, password } => {
                    request.basic_auth(user, Some(password.expose()))
                }
            }
        };
        let answer = send_retrying(
            &self.http,
            build,
            &self.retry,
            "the TAXII server",
            &name,
            MAX_ANSWER_BYTES,
        )
        .await?;
        if answer.status.is_success() {
            return Ok((answer.headers, answer.body));
        }
        let detail = match serde_json::from_slice::<TaxiiError>(&answer.body) {
            Ok(TaxiiError {
                title,
                description,
                error_code,
            }) => {
                let parts: Vec<String> = [
                    title,
                    description,
                    error_code.map(|c| format!("error code {c}")),
                ]
                .into_iter()
                .flatten()
                .collect();
                if parts.is_empty() {
                    String::new()
                } else {
                    format!(": {}", parts.join(": "))
                }
            }
            Err(_) => String::new(),
        };
        let elsewhere = answer
            .headers
            .get(LOCATION)
            .and_then(|l| l.to_str().ok())
            .and_then(|l| url.join(l).ok())
            .filter(|to| to.origin() != self.origin);
        let hint = match (answer.status.as_u16(), elsewhere) {
            (300..=399, Some(to)) => format!(
                " (a redirect to {} is not followed: the TAXII credentials go only to {}, the origin of --taxii-url)",
                origin_text(&to.origin()),
                origin_text(&self.origin)
            ),
            (401, _) => " (check --taxii-token, or --taxii-user and --taxii-password)".to_owned(),
            (403 | 404, _) => {
                " (no access to it with these credentials, or it does not exist)".to_owned()
            }
            (406, _) => " (the server does not speak TAXII 2.1)".to_owned(),
            _ => String::new(),
        };
        bail!(
            "the TAXII server answered {name} with HTTP {}{detail}{hint}",
            answer.status
        );
    }

    async fn get_json<T: for<'de> Deserialize<'de>>(
        &self,
        url: &Url,
        what: &str,
    ) -> anyhow::Result<T> {
        let (_, body) = self.get(url).await?;
        serde_json::from_slice(&body).with_context(|| {
            format!(
                "the TAXII server's {what} at {} is not as TAXII 2.1 says",
                url.path()
            )
        })
    }

    /// The API root: `url` itself, or the discovery document's default (else first) root.
    pub async fn api_root(&self, url: &Url) -> anyhow::Result<Url> {
        let doc: serde_json::Value = self.get_json(url, "discovery or API root document").await?;
        let Some(roots) = doc.get("api_roots") else {
            return Ok(with_slash(url.clone()));
        };
        let chosen = doc
            .get("default")
            .and_then(|d| d.as_str())
            .or_else(|| roots.as_array()?.first()?.as_str())
            .ok_or_else(|| {
                anyhow!(
                    "the TAXII discovery document at {} lists no API root",
                    url.path()
                )
            })?;
        // Roots may be relative to the discovery URL.
        let root = url
            .join(chosen)
            .with_context(|| format!("API root `{chosen}` is not a URL"))?;
        self.check_origin(&root, "the discovery document's API root")?;
        Ok(with_slash(root))
    }

    pub async fn collections(&self, root: &Url) -> anyhow::Result<Vec<Collection>> {
        #[derive(Deserialize)]
        struct Collections {
            #[serde(default)]
            collections: Vec<Collection>,
        }
        let url = root.join("collections/")?;
        Ok(self
            .get_json::<Collections>(&url, "collection list")
            .await?
            .collections)
    }
}

/// The objects endpoint of collection `id` under API root `root`: the id is one path
/// segment (percent-encoded), so no id a server lists leads anywhere else.
pub fn objects_url(root: &Url, id: &str) -> anyhow::Result<Url> {
    let mut url = root.clone();
    url.path_segments_mut()
        .map_err(|()| anyhow!("the API root {root} cannot hold a path"))?
        .pop_if_empty()
        .extend(["collections", id, "objects", ""]);
    Ok(url)
}

fn with_slash(mut url: Url) -> Url {
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    url
}

/// The collections `wanted` names (by id, alias or title), or every readable one.
pub fn choose_collections(
    all: &[Collection],
    wanted: &[String],
) -> anyhow::Result<Vec<Collection>> {
    if wanted.is_empty() {
        let readable: Vec<Collection> = all.iter().filter(|c| c.can_read).cloned().collect();
        if readable.is_empty() {
            bail!("the TAXII API root has no collection these credentials can read");
        }
        return Ok(readable);
    }
    wanted
        .iter()
        .map(|w| {
            all.iter()
                .find(|c| &c.id == w || c.alias.as_ref() == Some(w) || &c.title == w)
                .cloned()
                .ok_or_else(|| {
                    let known: Vec<String> = all
                        .iter()
                        .map(|c| format!("{} ({})", c.id, c.title))
                        .collect();
                    anyhow!(
                        "--taxii-collection `{w}` is not a collection of this API root; it has: {}",
                        if known.is_empty() {
                            "none".to_owned()
                        } else {
                            known.join(", ")
                        }
                    )
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collection(id: &str, title: &str, alias: Option<&str>, can_read: bool) -> Collection {
        Collection {
            id: id.into(),
            title: title.into(),
            alias: alias.map(Into::into),
            can_read,
        }
    }

    #[test]
    fn collections_by_id_alias_or_title_or_every_readable_one() {
        let all = [
            collection(
                "91a7b528-80eb-42ed-a74d-c6fbd5a26116",
                "High Value Indicators",
                Some("hvi"),
                true,
            ),
            collection(
                "52892447-4d7e-4f70-b94d-d7f22742ff63",
                "Private",
                None,
                false,
            ),
        ];
        let ids = |v: Vec<Collection>| v.into_iter().map(|c| c.title).collect::<Vec<_>>();
        assert_eq!(
            ids(choose_collections(&all, &[]).unwrap()),
            ["High Value Indicators"]
        );
        assert_eq!(
            ids(choose_collections(&all, &["hvi".into()]).unwrap()),
            ["High Value Indicators"]
        );
        assert_eq!(
            ids(choose_collections(&all, &["Private".into()]).unwrap()),
            ["Private"]
        );
        let err = choose_collections(&all, &["nope".into()])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`nope`") && err.contains("High Value Indicators"),
            "{err}"
        );
        assert!(choose_collections(&all[1..], &[]).is_err());
    }
}
