//! Lumu Defender incidents as a source (see `reference/lumu.md`).
//!
//! `POST /api/incidents/all` for the incidents of the last `--days` with the chosen statuses
//! and adversary types, page by page; then the context of the incidents that need one
//! (`GET /api/incidents/{id}/context?hash=sha1`) for URLs, trigger hosts and file hashes.
//! The company key travels in the query string, so no URL ever goes into an error or a log
//! line: requests are named by method and path only.
//!
//! Contexts cost one call each against a quota of about 50 calls a minute and 10,000 a day,
//! so they are cached in the state file (`state::lumu`) with the `lastContact` and
//! `contacts` each was read at. A run reads the context of an incident only when it is new
//! or either value changed, at most `--max-context-calls` of them (new incidents first, then
//! changed ones, newest first within each), and stops reading when the daily quota is spent,
//! too many reads fail, or its share of the run's time is spent (four fifths of
//! `--max-run-minutes`: the rest is the sync's, whose writes stop at the run's deadline).
//! An incident whose context is not read
//! keeps its cached one; a new one gives its adversaries now and its context later. While
//! any listed incident has no context at all, the pull is marked partial and the plan
//! removes nothing: an IOC that is missing may be in a context not read yet.
//!
//! [`stream`] follows Lumu's incident journal for `watch`.

pub mod stream;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use chrono::{DateTime, SecondsFormat, Utc};
use futures::StreamExt;
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::http::{Client, HttpSettings, RateLimitSpent, RetryPolicy, send_retrying};
use crate::ioc::{Ioc, IocKind};
use crate::model::ScanAction;
use crate::model::desired::Pulled;
use crate::model::lumu::{CachedContext, Incident, IncidentContext, LumuCalls, LumuReport};
use crate::retry::DeadlineReached;
use crate::secret::Secret;
use crate::state::StateStore;
use crate::text::{encode_component, snippet};

/// Lumu's largest page.
pub const PAGE_ITEMS: usize = 100;
/// Incident contexts read at once (Lumu allows about 50 requests a minute).
pub const CONTEXT_CONCURRENCY: usize = 4;
/// More pages than this is a server that never finishes.
const MAX_PAGES: u64 = 10_000;
/// The longest answer read from Lumu (a page of 100 incidents or one context is far less).
pub const MAX_ANSWER_BYTES: usize = 16 << 20;
/// Contexts read at most in one run unless `--max-context-calls` says otherwise: about 20
/// minutes at Lumu's published 50 calls a minute.
pub const DEFAULT_MAX_CONTEXT_CALLS: u32 = 1_000;
/// Failed context reads (other than a spent quota) after which a run stops reading: a
/// server that fails this often is not helped by more calls.
const MAX_CONTEXT_FAILURES: usize = 10;

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
    /// Contexts read at most in this run (`--max-context-calls`).
    pub max_context_calls: usize,
    /// How long the whole run may take (`--max-run-minutes`): reading stops after four
    /// fifths of it ([`reading_deadline`]).
    pub max_run: Duration,
    /// The context cache (`--state-file`).
    pub state_file: PathBuf,
    /// The job's tag: the cache keeps its rows per tag.
    pub tag: String,
    /// Read Lumu, but store nothing in the state file (`--dry-run`).
    pub dry_run: bool,
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

#[derive(Debug, Default)]
struct CallCounters {
    incidents: AtomicU64,
    context: AtomicU64,
    /// `GET /api/incidents/open-incidents/updates` ([`stream`]).
    updates: AtomicU64,
}

/// A client of the Lumu Defender API.
#[derive(Debug, Clone)]
pub struct LumuClient {
    http: Client,
    /// The client's time-out (`--timeout`): a long poll's request is given its wait on top.
    timeout: Duration,
    api: url::Url,
    key: Secret,
    retry: RetryPolicy,
    calls: Arc<CallCounters>,
}

impl LumuClient {
    /// A client of the Lumu API at `url` (`--lumu-url`); a URL with a user name or password
    /// is refused (the company key is Lumu's only credential).
    pub fn new(url: &str, key: Secret, http: &HttpSettings) -> anyhow::Result<Self> {
        crate::http::refuse_credentials(url, "--lumu-url", "--company-key (or LUMU_COMPANY_KEY)")?;
        let mut api = url::Url::parse(url.trim_end_matches('/'))
            .with_context(|| format!("--lumu-url `{url}` is not a URL"))?;
        if !matches!(api.scheme(), "http" | "https") || api.host_str().is_none() {
            bail!("--lumu-url `{url}` must be an http or https URL");
        }
        let path = format!("{}/api/", api.path().trim_end_matches('/'));
        api.set_path(&path);
        Ok(LumuClient {
            http: http.build_client()?,
            timeout: http.timeout,
            api,
            key,
            retry: http.retry_policy(),
            calls: Arc::default(),
        })
    }

    /// Requests sent so far by this client (and its clones).
    pub fn calls(&self) -> LumuCalls {
        LumuCalls {
            incidents: self.calls.incidents.load(Ordering::Relaxed),
            context: self.calls.context.load(Ordering::Relaxed),
        }
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// One API call, retried on connection errors, time-outs and 5xx, waiting out 429s
    /// (and giving up with [`RateLimitSpent`] when the daily quota is spent); the JSON of a
    /// successful answer. Every request sent, retries included, counts on `counter`. A
    /// request waits `longer` more than the client's time-out (a long poll).
    async fn call(
        &self,
        counter: &AtomicU64,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
        longer: Option<Duration>,
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
            counter.fetch_add(1, Ordering::Relaxed);
            let mut request = self.http.request(method.clone(), url.clone());
            if let Some(longer) = longer {
                request = request.timeout(self.timeout + longer);
            }
            match body {
                Some(body) => request.json(body),
                None => request,
            }
        };
        let answer = send_retrying(
            &self.http,
            build,
            &self.retry,
            "Lumu Defender",
            &name,
            MAX_ANSWER_BYTES,
        )
        .await?;
        let status = answer.status;
        if status.is_success() {
            return serde_json::from_slice(&answer.body)
                .with_context(|| format!("Lumu Defender's answer to {name} is not JSON"));
        }
        // A body may echo the request's URL, and with it the key.
        let message = self.key.redact_in(&lumu_error(status, &answer.body));
        let message = if status.is_redirection() {
            format!(
                "Lumu Defender answered {name} with a redirect (HTTP {status}), which is not \
                 followed, since the company key travels in the URL: give --lumu-url as the \
                 address Lumu's API answers at (https://defender.lumu.io)"
            )
        } else if status == StatusCode::UNAUTHORIZED {
            format!(
                "Lumu Defender refused the company key at {name} (HTTP 401{message}): check --company-key"
            )
        } else {
            format!("Lumu Defender answered {name} with HTTP {status}{message}")
        };
        // The status stays readable: the journal refuses an offset it no longer holds with 400.
        Err(stream::LumuStatusError { status, message }.into())
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
                    &self.calls.incidents,
                    Method::POST,
                    "incidents/all",
                    &[("page", &page_text), ("items", &items)],
                    Some(&body),
                    None,
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
                &self.calls.context,
                Method::GET,
                &format!("incidents/{}/context", encode_component(incident_id)),
                &[("hash", "sha1")],
                None,
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
        Err(_) => format!(": {}", snippet(body)),
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
    let seen = incident.seen().unwrap_or(now);
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
        pulled.count_invalid("not-a-string");
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

/// The context cache of one job: the state file's Lumu table for its tag (in a dry run,
/// read and never written).
struct ContextCache {
    store: StateStore,
    tag: String,
}

impl ContextCache {
    fn open(settings: &LumuSettings) -> anyhow::Result<Self> {
        // A dry run's store reads what is stored and keeps nothing (no file is created).
        let store = if settings.dry_run {
            StateStore::open_dry_run(&settings.state_file)?
        } else {
            StateStore::open(&settings.state_file)?
        };
        Ok(ContextCache {
            store,
            tag: settings.tag.clone(),
        })
    }

    fn load(&self) -> anyhow::Result<HashMap<String, CachedContext>> {
        self.store.lumu_contexts(&self.tag)
    }

    fn store(&self, incident: &str, cached: &CachedContext) -> anyhow::Result<()> {
        self.store
            .store_lumu_context(&self.tag, incident, cached, Utc::now())
    }

    fn forget_all_but(&self, listed: &HashSet<&str>) -> anyhow::Result<usize> {
        self.store.forget_lumu_incidents(&self.tag, listed)
    }

    fn name(&self) -> String {
        self.store.path().display().to_string()
    }
}

/// When reading stops in a run that must end at `run_deadline` and may take `max_run` in
/// all: four fifths of the way, so that the fifth left (5 minutes of the default 25) is the
/// sync's. A source that read up to the run's deadline would leave no time for its writes,
/// run after run.
pub fn reading_deadline(run_deadline: Instant, max_run: Duration) -> Instant {
    run_deadline - max_run / 5
}

/// Reads the incidents in the window and the contexts that are due, and returns their IOCs;
/// the run must end by `deadline`, and reading stops at its [`reading_deadline`].
///
/// # Errors
/// The incident list cannot be read in full (whatever the reason, the deadline included),
/// or the state file cannot be opened or written. A context that cannot be read is no
/// error: it is reported, and read again by a later run.
pub async fn pull(
    settings: &LumuSettings,
    http: &HttpSettings,
    deadline: Instant,
) -> anyhow::Result<Pulled> {
    let client = LumuClient::new(&settings.url, settings.company_key.clone(), http)?;
    let cache = ContextCache::open(settings)?;
    pull_with(&client, settings, &cache, Utc::now(), deadline).await
}

async fn pull_with(
    client: &LumuClient,
    settings: &LumuSettings,
    cache: &ContextCache,
    now: DateTime<Utc>,
    deadline: Instant,
) -> anyhow::Result<Pulled> {
    let deadline = tokio::time::Instant::from_std(reading_deadline(deadline, settings.max_run));
    let minutes = settings.max_run.as_secs_f64() / 60.0;
    let listed = match tokio::time::timeout_at(deadline, client.incidents(settings, now)).await {
        Ok(listed) => listed?,
        Err(_) => bail!(
            "the source's time (four fifths of --max-run-minutes {minutes}) ran out while \
             Lumu's incident list was read"
        ),
    };
    // A list that moves while it is paged can show an incident twice.
    let mut ids = HashSet::new();
    let incidents: Vec<Incident> = listed
        .into_iter()
        .filter(|i| ids.insert(i.id.clone()))
        .collect();
    tracing::info!(
        "Lumu: {} incidents in the last {} days",
        incidents.len(),
        settings.days
    );

    let mut cached = cache.load().with_context(|| {
        format!(
            "cannot read Lumu incident contexts from the state file {}",
            cache.name()
        )
    })?;
    let mut report = LumuReport {
        incidents: incidents.len(),
        ..LumuReport::default()
    };
    // What each incident's context IOCs come from this run.
    let mut contexts: Vec<Option<IncidentContext>> = vec![None; incidents.len()];
    let (mut new, mut changed) = (Vec::new(), Vec::new());
    for (i, incident) in incidents.iter().enumerate() {
        match cached.remove(&incident.id) {
            Some(c) if incident.unchanged_since(&c) => {
                contexts[i] = Some(c.context);
                report.contexts_cached += 1;
            }
            Some(c) => {
                // Kept until the new one is read.
                contexts[i] = Some(c.context);
                changed.push(i);
            }
            None => new.push(i),
        }
    }
    // New incidents first (they have no context at all, and hold removals back), then changed
    // ones; the newest first within each.
    for due in [&mut new, &mut changed] {
        due.sort_by(|&a, &b| {
            let (a, b) = (&incidents[a], &incidents[b]);
            b.seen().cmp(&a.seen()).then_with(|| a.id.cmp(&b.id))
        });
    }
    let mut due = new;
    due.append(&mut changed);
    let budget = settings.max_context_calls.min(due.len());
    if budget < due.len() {
        tracing::info!(
            "Lumu: {} contexts are due; {budget} are read in this run (--max-context-calls), \
             the rest in later runs",
            due.len()
        );
    }

    // Once reading stops (deadline, quota, failures), no new context is asked for, but the
    // answers already on their way are still taken: the server counted them, and dropping
    // them would spend quota for nothing.
    let stop = AtomicBool::new(false);
    let mut reads = futures::stream::iter(due[..budget].iter().copied())
        .map(|i| {
            let incident = &incidents[i];
            let stop = &stop;
            async move {
                if stop.load(Ordering::Relaxed) {
                    return (i, None);
                }
                let read = tokio::time::timeout_at(deadline, client.context(&incident.id)).await;
                (i, Some(read))
            }
        })
        .buffer_unordered(CONTEXT_CONCURRENCY);
    while let Some((i, read)) = reads.next().await {
        // Not asked for: reading had stopped (it stays due for a later run).
        let Some(read) = read else { continue };
        let incident = &incidents[i];
        match read {
            Ok(Ok(context)) => {
                let entry = CachedContext {
                    last_contact: incident.last_contact.clone(),
                    contacts: incident.contacts(),
                    context,
                };
                cache.store(&incident.id, &entry).with_context(|| {
                    format!(
                        "cannot store Lumu incident contexts in the state file {}",
                        cache.name()
                    )
                })?;
                contexts[i] = Some(entry.context);
                report.contexts_read += 1;
            }
            Err(_) => {
                if report.stopped.is_none() {
                    report.stopped = Some("deadline");
                    tracing::warn!(
                        "the source's time (four fifths of --max-run-minutes {minutes}, the \
                         rest is the sync's) has passed: stopped reading Lumu incident contexts \
                         after {} of {budget}; syncing what is known",
                        report.contexts_read
                    );
                }
                stop.store(true, Ordering::Relaxed);
            }
            // A 429 whose wait would end past the run's deadline: no read can be made in
            // this run any more.
            Ok(Err(e)) if e.downcast_ref::<DeadlineReached>().is_some() => {
                if report.stopped.is_none() {
                    report.stopped = Some("deadline");
                    tracing::warn!(
                        "{e:#}. Stopped reading Lumu incident contexts after {} of {budget}; \
                         syncing what is known",
                        report.contexts_read
                    );
                }
                stop.store(true, Ordering::Relaxed);
            }
            Ok(Err(e)) if e.downcast_ref::<RateLimitSpent>().is_some() => {
                if report.stopped.is_none() {
                    report.stopped = Some("quota");
                    tracing::warn!(
                        "{e:#}. Stopped reading Lumu incident contexts after {} of {budget}; \
                         syncing what is known; the rest are read on a later run",
                        report.contexts_read
                    );
                }
                stop.store(true, Ordering::Relaxed);
            }
            Ok(Err(e)) => {
                report.contexts_failed += 1;
                tracing::warn!("{e:#}; read again on a later run");
                if report.contexts_failed >= MAX_CONTEXT_FAILURES && report.stopped.is_none() {
                    report.stopped = Some("failures");
                    tracing::warn!(
                        "{} Lumu incident contexts could not be read: stopped reading contexts; \
                         syncing what is known",
                        report.contexts_failed
                    );
                    stop.store(true, Ordering::Relaxed);
                }
            }
        }
    }
    drop(reads);
    report.contexts_deferred = due.len() - report.contexts_read - report.contexts_failed;
    report.contexts_missing = contexts.iter().filter(|c| c.is_none()).count();
    report.forgotten = cache
        .forget_all_but(&ids.iter().map(String::as_str).collect())
        .with_context(|| {
            format!(
                "cannot forget closed Lumu incidents in the state file {}",
                cache.name()
            )
        })?;
    report.calls = client.calls();

    let mut pulled = assemble(
        incidents.iter().zip(contexts.iter().map(Option::as_ref)),
        settings.scan_action,
        now,
    );
    pulled.lumu = Some(report);
    pulled.lumu_incidents = incidents;
    Ok(pulled)
}

/// The IOCs of `incidents`, each with its context (`None`: not read yet). While any
/// incident has no context, the pull is partial: an IOC missing from it may be in a context
/// not read yet, so nothing is removed.
pub fn assemble<'a>(
    incidents: impl IntoIterator<Item = (&'a Incident, Option<&'a IncidentContext>)>,
    scan_action: ScanAction,
    now: DateTime<Utc>,
) -> Pulled {
    let mut pulled = Pulled::default();
    let none = IncidentContext::default();
    let mut missing = 0;
    for (incident, context) in incidents {
        pulled.items += 1;
        if context.is_none() {
            missing += 1;
        }
        extract(
            incident,
            context.unwrap_or(&none),
            scan_action,
            now,
            &mut pulled,
        );
    }
    pulled.dedupe();
    if missing > 0 {
        pulled.partial = Some(format!(
            "new Lumu incidents without a context read yet: {missing}"
        ));
    }
    pulled
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
            contacts: Some(json!(3)),
            status: None,
            status_timestamp: None,
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
        assert_eq!(p.invalid.get("ipv6"), Some(&1));
        assert_eq!(p.invalid.get("invalid-host"), Some(&1));
        assert_eq!(p.invalid.get("invalid-sha1"), Some(&1));
        assert_eq!(p.invalid.get("not-a-string"), Some(&1));
        let d = &p.iocs[0];
        assert_eq!(
            d.reason,
            "C2C,Malware incident 7dbb3a9e-0000-4000-8000-000000000001"
        );
        assert_eq!(d.seen.to_rfc3339(), "2026-11-22T08:30:00+00:00");
        assert_eq!(d.scan_action, ScanAction::Block);
    }

    #[test]
    fn an_incident_changes_with_its_last_contact_or_its_contacts() {
        let inc = incident(&["c2.example"]);
        let at = |last: &str, contacts: Option<i64>| CachedContext {
            last_contact: Some(last.into()),
            contacts,
            context: IncidentContext::default(),
        };
        assert!(inc.unchanged_since(&at("2026-11-22T08:30:00.000Z", Some(3))));
        assert!(!inc.unchanged_since(&at("2026-11-22T08:29:00.000Z", Some(3))));
        assert!(!inc.unchanged_since(&at("2026-11-22T08:30:00.000Z", Some(2))));
        assert!(!inc.unchanged_since(&at("2026-11-22T08:30:00.000Z", None)));
        // `contacts` as Lumu may write it.
        let with = |v: Value| Incident {
            contacts: Some(v),
            ..incident(&[])
        };
        assert_eq!(with(json!(7)).contacts(), Some(7));
        assert_eq!(with(json!("7")).contacts(), Some(7));
        assert_eq!(with(json!(7.5)).contacts(), None);
        assert_eq!(with(json!(null)).contacts(), None);
        let listed: Incident =
            serde_json::from_value(json!({"id": "x", "contacts": "n/a"})).unwrap();
        assert_eq!(
            listed.contacts(),
            None,
            "an odd value does not fail the page"
        );
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
