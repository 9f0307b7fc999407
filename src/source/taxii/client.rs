//! The TAXII 2.1 client: every request with the TAXII media type and the credentials,
//! retried per the HTTP policy; TAXII error objects read into messages; discovery, the API
//! root and its collections (TAXII 2.1 sections 4 and 5; see `reference/taxii-stix.md`).

use anyhow::{Context, anyhow, bail};
use reqwest::header::{ACCEPT, HeaderMap};
use serde::Deserialize;
use url::Url;

use crate::http::{RetryPolicy, send_retrying};
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

/// A page request running on its own task; dropped, it is cancelled.
pub struct InFlight(tokio::task::JoinHandle<anyhow::Result<(HeaderMap, bytes::Bytes)>>);

impl InFlight {
    pub fn get(client: &TaxiiClient, url: Url) -> Self {
        let client = client.clone();
        InFlight(tokio::spawn(async move { client.get(&url).await }))
    }

    /// The answer, once (the handle is spent after it).
    pub async fn answer(&mut self) -> anyhow::Result<(HeaderMap, bytes::Bytes)> {
        (&mut self.0)
            .await
            .map_err(|e| anyhow!("a TAXII page request was lost: {e}"))?
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A client of one TAXII server.
#[derive(Clone)]
pub struct TaxiiClient {
    pub http: reqwest::Client,
    pub auth: TaxiiAuth,
    pub retry: RetryPolicy,
}

impl TaxiiClient {
    /// GET with the TAXII headers and retries; the body of a 2xx answer, or an error that
    /// carries the server's TAXII error object.
    pub async fn get(&self, url: &Url) -> anyhow::Result<(HeaderMap, bytes::Bytes)> {
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
        let hint = match answer.status.as_u16() {
            401 => " (check --taxii-token, or --taxii-user and --taxii-password)",
            403 | 404 => " (no access to it with these credentials, or it does not exist)",
            406 => " (the server does not speak TAXII 2.1)",
            _ => "",
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
