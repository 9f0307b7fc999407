//! Lumu Defender incidents as a source (see `reference/lumu.md`).
//!
//! `POST /api/incidents/all` for the incidents of the last `--days` with the chosen statuses
//! and adversary types, page by page; then, for every incident, its context
//! (`GET /api/incidents/{id}/context?hash=sha1`) for URLs, trigger hosts and file hashes.
//! The company key travels in the query string, so no URL ever goes into an error or a log
//! line: requests are named by method and path only.

use anyhow::{Context as _, bail};
use chrono::{DateTime, SecondsFormat, Utc};
use futures::{StreamExt, TryStreamExt};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Pulled;
use crate::apex::udso::ScanAction;
use crate::http::{HttpSettings, RetryPolicy, encode_component, send_retrying};
use crate::ioc::{Ioc, IocKind};
use crate::secret::Secret;

/// Lumu's largest page.
pub const PAGE_ITEMS: usize = 100;
/// Incident contexts read at once (Lumu allows about 50 requests a minute).
pub const CONTEXT_CONCURRENCY: usize = 4;
/// More pages than this is a server that never finishes.
const MAX_PAGES: u64 = 10_000;
/// The longest answer read from Lumu (a page of 100 incidents or one context is far less).
pub const MAX_ANSWER_BYTES: usize = 16 << 20;

/// What to read from Lumu.
#[derive(Debug, Clone)]
pub struct LumuSettings {
    /// `https://defender.lumu.io` (the API is below `/api`).
    pub url: String,
    pub company_key: Secret,
    pub days: u32,
    /// `open`, `muted`, `closed`.
    pub statuses: Vec<String>,
    /// Empty: every type.
    pub adversary_types: Vec<String>,
    pub scan_action: ScanAction,
}

#[derive(Debug, Deserialize)]
struct Page {
    /// Required: a page without `items` (or with `null`) is an error, never no incidents.
    #[serde(default)]
    items: Option<Vec<Incident>>,
    #[serde(rename = "paginationInfo", default)]
    pagination: Option<Pagination>,
}

#[derive(Debug, Deserialize)]
struct Pagination {
    #[serde(default)]
    next: Option<Value>,
}

/// The fields of an incident this source uses.
#[derive(Debug, Clone, Deserialize)]
pub struct Incident {
    pub id: String,
    #[serde(default)]
    pub adversaries: Vec<Value>,
    #[serde(rename = "adversaryTypes", default)]
    pub adversary_types: Vec<String>,
    #[serde(default)]
    pub timestamp: Option<String>,
    #[serde(rename = "lastContact", default)]
    pub last_contact: Option<String>,
}

/// The fields of an incident's context this source uses.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct IncidentContext {
    #[serde(default)]
    pub related_files: Vec<Value>,
    #[serde(default)]
    pub threat_triggers: Vec<Value>,
}

/// A client of the Lumu Defender API.
#[derive(Debug, Clone)]
pub struct LumuClient {
    http: reqwest::Client,
    api: url::Url,
    key: Secret,
    retry: RetryPolicy,
}

impl LumuClient {
    pub fn new(url: &str, key: Secret, http: &HttpSettings) -> anyhow::Result<Self> {
        let mut api = url::Url::parse(url.trim_end_matches('/'))
            .with_context(|| format!("--lumu-url `{url}` is not a URL"))?;
        if !matches!(api.scheme(), "http" | "https") || api.host_str().is_none() {
            bail!("--lumu-url `{url}` must be an http or https URL");
        }
        let path = format!("{}/api/", api.path().trim_end_matches('/'));
        api.set_path(&path);
        Ok(LumuClient {
            http: http.build_client()?,
            api,
            key,
            retry: RetryPolicy::default(),
        })
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// One API call, retried on connection errors, time-outs and 5xx, waiting out 429s
    /// (and giving up when the daily quota is spent); the JSON of a successful answer.
    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let shown_query: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let name = if shown_query.is_empty() {
            format!("{method} /api/{path}")
        } else {
            format!("{method} /api/{path}?{}", shown_query.join("&"))
        };
        let mut url = self.api.join(path).expect("a relative API path");
        url.query_pairs_mut()
            .append_pair("key", self.key.expose())
            .extend_pairs(query);
        tracing::trace!("Lumu {name}");
        let build = || {
            let request = self.http.request(method.clone(), url.clone());
            match body {
                Some(body) => request.json(body),
                None => request,
            }
        };
        let answer =
            send_retrying(build, &self.retry, "Lumu Defender", &name, MAX_ANSWER_BYTES).await?;
        let status = answer.status;
        if status.is_success() {
            return serde_json::from_slice(&answer.body)
                .with_context(|| format!("Lumu Defender's answer to {name} is not JSON"));
        }
        // A body may echo the request's URL, and with it the key.
        let message = self.key.redact_in(&lumu_error(status, &answer.body));
        if status.is_redirection() {
            bail!(
                "Lumu Defender answered {name} with a redirect (HTTP {status}), which is not \
                 followed, since the company key travels in the URL: give --lumu-url as the \
                 address Lumu's API answers at (https://defender.lumu.io)"
            );
        }
        if status == StatusCode::UNAUTHORIZED {
            bail!(
                "Lumu Defender refused the company key at {name} (HTTP 401{message}): check --company-key"
            );
        }
        bail!("Lumu Defender answered {name} with HTTP {status}{message}");
    }

    /// Every incident in the window, following `paginationInfo.next`.
    pub async fn incidents(
        &self,
        settings: &LumuSettings,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Vec<Incident>> {
        let from = now - chrono::Duration::days(i64::from(settings.days));
        let mut body = json!({
            "fromDate": from.to_rfc3339_opts(SecondsFormat::Millis, true),
            "toDate": now.to_rfc3339_opts(SecondsFormat::Millis, true),
            "status": settings.statuses,
        });
        if !settings.adversary_types.is_empty() {
            body["adversary-types"] = json!(settings.adversary_types);
        }
        let items = PAGE_ITEMS.to_string();
        let mut incidents = Vec::new();
        let mut page: u64 = 1;
        loop {
            let page_text = page.to_string();
            let answer = self
                .call(
                    Method::POST,
                    "incidents/all",
                    &[("page", &page_text), ("items", &items)],
                    Some(&body),
                )
                .await?;
            let parsed: Page = serde_json::from_value(answer).with_context(|| {
                format!("Lumu Defender's incident page {page} is not a list of incidents")
            })?;
            let Some(items) = parsed.items else {
                bail!(
                    "Lumu Defender's answer to POST /api/incidents/all (page {page}) has no `items`: \
                     an answer without the incident list is not an empty one"
                );
            };
            incidents.extend(items);
            let next = parsed
                .pagination
                .and_then(|p| p.next)
                .and_then(|n| match n {
                    Value::Number(n) => n.as_u64(),
                    Value::String(s) => s.parse().ok(),
                    _ => None,
                });
            match next {
                None => break,
                Some(next) if next <= page || next > MAX_PAGES => bail!(
                    "Lumu Defender's paging does not advance (page {page} says next is {next})"
                ),
                Some(next) => page = next,
            }
        }
        Ok(incidents)
    }

    /// An incident's context with SHA-1 file hashes.
    pub async fn context(&self, incident_id: &str) -> anyhow::Result<IncidentContext> {
        let answer = self
            .call(
                Method::GET,
                &format!("incidents/{}/context", encode_component(incident_id)),
                &[("hash", "sha1")],
                None,
            )
            .await?;
        serde_json::from_value(answer).with_context(|| {
            format!("the context of Lumu incident {incident_id} is not as documented")
        })
    }
}

/// Lumu's error body `{"name", "detail"}`, for a message.
fn lumu_error(status: StatusCode, body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct LumuErrorBody {
        name: Option<String>,
        detail: Option<Value>,
    }
    match serde_json::from_slice::<LumuErrorBody>(body) {
        Ok(LumuErrorBody { name, detail }) => {
            let detail = match detail {
                Some(Value::String(s)) => s,
                Some(other) => other.to_string(),
                None => String::new(),
            };
            let parts: Vec<String> = [name.unwrap_or_default(), detail]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect();
            if parts.is_empty() {
                String::new()
            } else {
                format!(": {}", parts.join(": "))
            }
        }
        Err(_) if status.is_server_error() || body.is_empty() => String::new(),
        Err(_) => {
            let text: String = String::from_utf8_lossy(body).chars().take(200).collect();
            format!(": {}", text.trim())
        }
    }
}

/// The IOCs of one incident: its adversaries and the hosts of non-web triggers as ip or
/// domain, web triggers as url, related files as SHA-1.
pub fn extract(
    incident: &Incident,
    context: &IncidentContext,
    scan_action: ScanAction,
    now: DateTime<Utc>,
    pulled: &mut Pulled,
) {
    let types = if incident.adversary_types.is_empty() {
        "incident".to_owned()
    } else {
        format!("{} incident", incident.adversary_types.join(","))
    };
    let reason = format!("{types} {}", incident.id);
    let seen = [&incident.last_contact, &incident.timestamp]
        .into_iter()
        .flatten()
        .find_map(|t| DateTime::parse_from_rfc3339(t).ok())
        .map_or(now, |t| t.with_timezone(&Utc));
    let mut add = |parsed| pulled.add(parsed, scan_action, &reason, seen);
    let mut unusable = 0;
    for adversary in &incident.adversaries {
        match adversary.as_str() {
            Some(host) => add(Ioc::from_host(host)),
            None => unusable += 1,
        }
    }
    for trigger in &context.threat_triggers {
        match trigger.as_str() {
            Some(t) => add(trigger_ioc(t)),
            None => unusable += 1,
        }
    }
    for file in &context.related_files {
        match file.as_str() {
            Some(hash) => add(Ioc::new(IocKind::FileSha1, hash)),
            None => unusable += 1,
        }
    }
    for _ in 0..unusable {
        pulled.skip("not-a-string");
    }
}

/// `http(s)://...` is a URL IOC; `tcp://host:port` and the like give their host.
fn trigger_ioc(trigger: &str) -> Result<Ioc, crate::ioc::Invalid> {
    let trigger = trigger.trim();
    let Some((scheme, rest)) = trigger.split_once("://") else {
        return Ioc::from_host(trigger);
    };
    if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") {
        return Ioc::new(IocKind::Url, trigger);
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    Ioc::from_host(host)
}

/// Reads every incident in the window and its context, and returns their IOCs.
pub async fn pull(settings: &LumuSettings, http: &HttpSettings) -> anyhow::Result<Pulled> {
    let client = LumuClient::new(&settings.url, settings.company_key.clone(), http)?;
    pull_with(&client, settings, Utc::now()).await
}

pub async fn pull_with(
    client: &LumuClient,
    settings: &LumuSettings,
    now: DateTime<Utc>,
) -> anyhow::Result<Pulled> {
    let incidents = client.incidents(settings, now).await?;
    tracing::info!(
        "Lumu: {} incidents in the last {} days",
        incidents.len(),
        settings.days
    );
    let contexts: Vec<IncidentContext> = futures::stream::iter(&incidents)
        .map(|incident| client.context(&incident.id))
        .buffered(CONTEXT_CONCURRENCY)
        .try_collect()
        .await?;
    let mut pulled = Pulled {
        items: incidents.len(),
        ..Pulled::default()
    };
    for (incident, context) in incidents.iter().zip(&contexts) {
        extract(incident, context, settings.scan_action, now, &mut pulled);
    }
    pulled.dedupe();
    Ok(pulled)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incident(adversaries: &[&str]) -> Incident {
        Incident {
            id: "7dbb3a9e-0000-4000-8000-000000000001".into(),
            adversaries: adversaries.iter().map(|a| json!(a)).collect(),
            adversary_types: vec!["C2C".into(), "Malware".into()],
            timestamp: Some("2026-11-20T10:00:00.000Z".into()),
            last_contact: Some("2026-11-22T08:30:00.000Z".into()),
        }
    }

    fn values(p: &Pulled) -> Vec<String> {
        p.iocs.iter().map(|d| d.ioc.to_string()).collect()
    }

    #[test]
    fn adversaries_triggers_and_files_become_iocs() {
        let inc = incident(&["C2.Example.com.", "203.0.113.9", "2001:db8::1", "bad host!"]);
        let ctx = IncidentContext {
            related_files: vec![
                json!("73D95A30C812D9CFF0EAF37A686FDFEF8F9CA531"),
                json!("d41d8cd98f00b204e9800998ecf8427e"),
            ],
            threat_triggers: vec![
                json!("HTTPS://Evil.Example.com/Path/A.php?x=1"),
                json!("tcp://198.51.100.7:443"),
                json!("udp://dns.Example.net.:53"),
                json!("ftp://files.example.org/x"),
                json!({"unexpected": "object"}),
            ],
        };
        let mut p = Pulled::default();
        extract(&inc, &ctx, ScanAction::Block, Utc::now(), &mut p);
        p.dedupe();
        assert_eq!(
            values(&p),
            [
                "ip 198.51.100.7",
                "ip 203.0.113.9",
                "domain c2.example.com",
                "domain dns.example.net",
                "domain files.example.org",
                "url https://evil.example.com/Path/A.php?x=1",
                "file_sha1 73d95a30c812d9cff0eaf37a686fdfef8f9ca531",
            ]
        );
        assert_eq!(p.skipped.get("ipv6"), Some(&1));
        assert_eq!(p.skipped.get("invalid-host"), Some(&1));
        assert_eq!(p.skipped.get("invalid-sha1"), Some(&1));
        assert_eq!(p.skipped.get("not-a-string"), Some(&1));
        let d = &p.iocs[0];
        assert_eq!(
            d.reason,
            "C2C,Malware incident 7dbb3a9e-0000-4000-8000-000000000001"
        );
        assert_eq!(d.seen.to_rfc3339(), "2026-11-22T08:30:00+00:00");
        assert_eq!(d.scan_action, ScanAction::Block);
    }

    #[test]
    fn lumu_error_bodies() {
        assert_eq!(
            lumu_error(
                StatusCode::BAD_REQUEST,
                br#"{"name":"BadRequest","detail":"items must be <= 100"}"#
            ),
            ": BadRequest: items must be <= 100"
        );
        assert_eq!(lumu_error(StatusCode::BAD_GATEWAY, b"<html>"), "");
        assert_eq!(lumu_error(StatusCode::NOT_FOUND, b"nope"), ": nope");
    }

    #[test]
    fn incident_ids_stay_literal_in_the_context_path() {
        let c = LumuClient::new(
            "https://defender.lumu.io",
            Secret::new("k"),
            &HttpSettings::default(),
        )
        .unwrap();
        let id = "7dbb3a9e-0b1c-4a8e-9d3e-f00dbeef0001";
        let path = format!("incidents/{}/context", encode_component(id));
        assert_eq!(
            c.api.join(&path).unwrap().path(),
            "/api/incidents/7dbb3a9e-0b1c-4a8e-9d3e-f00dbeef0001/context"
        );
        assert_eq!(encode_component("a/b?c"), "a%2Fb%3Fc");
    }

    #[test]
    fn api_base_keeps_a_path_prefix() {
        let c = LumuClient::new(
            "https://defender.lumu.io/",
            Secret::new("k"),
            &HttpSettings::default(),
        )
        .unwrap();
        assert_eq!(c.api.as_str(), "https://defender.lumu.io/api/");
        let c = LumuClient::new(
            "http://127.0.0.1:9/proxy",
            Secret::new("k"),
            &HttpSettings::default(),
        )
        .unwrap();
        assert_eq!(
            c.api.join("incidents/all").unwrap().as_str(),
            "http://127.0.0.1:9/proxy/api/incidents/all"
        );
        assert!(LumuClient::new("ftp://x", Secret::new("k"), &HttpSettings::default()).is_err());
    }
}
