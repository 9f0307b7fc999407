//! TAXII 2.1 as a source (Trend's Threat Intelligence feed, or any TAXII 2.1 server); see
//! `reference/taxii-stix.md`.
//!
//! Discovery (or an API root given directly), the collections to read, then each
//! collection's indicators added since its cursor, page by page. Every page is parsed,
//! its patterns' IOCs extracted, and stored with the cursor after it in one transaction
//! (`state.rs`); the desired set is then every indicator valid now.

use std::borrow::Cow;
use std::collections::HashSet;
use std::path::PathBuf;

use anyhow::{Context, anyhow, bail};
use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::header::{ACCEPT, HeaderMap};
use serde::Deserialize;
use url::Url;

use super::Pulled;
use crate::apex::udso::ScanAction;
use crate::http::{HttpSettings, RetryPolicy, send_retrying};
use crate::secret::Secret;
use crate::state::{IndicatorRecord, StateStore};
use crate::stix::{extract::extract, pattern::parse};

/// The media type of TAXII 2.1 (medallion answers 406 to the bare `application/taxii+json`).
pub const TAXII_MEDIA_TYPE: &str = "application/taxii+json;version=2.1";
/// Objects a page, unless `--taxii-page-size` says otherwise (Trend's default).
pub const DEFAULT_PAGE_SIZE: u32 = 1_000;
/// Pages of one collection in one run before the server is taken for one that never ends.
const MAX_PAGES: usize = 100_000;
/// Pages in a row that say `more` but bring nothing.
const MAX_EMPTY_PAGES: usize = 3;

/// How to authenticate to the TAXII server.
#[derive(Debug, Clone)]
pub enum TaxiiAuth {
    None,
    Bearer(Secret),
    Basic { user: String, password: Secret },
}

/// What to read.
#[derive(Debug, Clone)]
pub struct TaxiiSettings {
    /// A discovery URL or an API root.
    pub url: String,
    /// Collection ids, aliases or titles; empty: every readable collection.
    pub collections: Vec<String>,
    pub auth: TaxiiAuth,
    pub page_size: u32,
    /// The first run (or a lost state file) reads indicators added in the last `days`.
    pub days: u32,
    pub scan_action: ScanAction,
    pub state_file: PathBuf,
}

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

/// A STIX object, as far as indicators matter; fields are borrowed from the page.
#[derive(Debug, Deserialize)]
struct StixObject<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    created: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    modified: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pattern: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pattern_type: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    valid_from: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    valid_until: Option<Cow<'a, str>>,
    #[serde(default)]
    revoked: bool,
}

#[derive(Debug, Deserialize)]
struct Envelope<'a> {
    #[serde(default)]
    more: bool,
    #[serde(default)]
    next: Option<String>,
    #[serde(borrow, default)]
    objects: Vec<StixObject<'a>>,
}

/// A TAXII error object, for messages.
#[derive(Debug, Deserialize)]
struct TaxiiError {
    title: Option<String>,
    description: Option<String>,
    error_code: Option<serde_json::Value>,
}

/// The IOCs of the indicator objects among `objects`, as records to store, counting
/// indicators read and values skipped in `pulled`. Shared by TAXII pages and STIX bundles.
pub fn indicator_records<'a>(
    objects: impl IntoIterator<Item = StixObjectRef<'a>>,
    scan_action: ScanAction,
    pulled: &mut Pulled,
) -> Vec<IndicatorRecord> {
    let mut records = Vec::new();
    for object in objects {
        let o = object.0;
        if o.kind != "indicator" {
            continue;
        }
        pulled.items += 1;
        let Some(record) = record(&o, scan_action, pulled) else {
            pulled.skip("invalid-indicator");
            continue;
        };
        records.push(record);
    }
    records
}

/// A borrowed STIX object (opaque outside this module).
pub struct StixObjectRef<'a>(StixObject<'a>);

/// Reads the STIX objects of a JSON array or bundle `objects` field, borrowing from `json`.
pub fn parse_objects(json: &str) -> Result<Vec<StixObjectRef<'_>>, serde_json::Error> {
    #[derive(Deserialize)]
    struct Bundle<'a> {
        #[serde(borrow, default)]
        objects: Vec<StixObject<'a>>,
    }
    let bundle: Bundle = serde_json::from_str(json)?;
    Ok(bundle.objects.into_iter().map(StixObjectRef).collect())
}

fn time(s: &Option<Cow<'_, str>>) -> Result<Option<DateTime<Utc>>, ()> {
    match s {
        None => Ok(None),
        Some(s) => DateTime::parse_from_rfc3339(s)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| ()),
    }
}

/// One indicator version to store; `None` when its identity or dates are unusable.
fn record(
    o: &StixObject<'_>,
    scan_action: ScanAction,
    pulled: &mut Pulled,
) -> Option<IndicatorRecord> {
    let id = o.id.as_deref()?.to_owned();
    let modified = time(&o.modified).ok()?.or(time(&o.created).ok()?)?;
    let valid_from = time(&o.valid_from).ok()?;
    let valid_until = time(&o.valid_until).ok()?;
    let mut iocs = Vec::new();
    if o.pattern_type.as_deref().unwrap_or("stix") != "stix" {
        pulled.skip("non-stix-pattern");
    } else if let Some(pattern) = &o.pattern {
        match parse(pattern) {
            Ok(parsed) => {
                let extracted = extract(&parsed, scan_action);
                for reason in extracted.skipped {
                    pulled.skip(reason);
                }
                iocs = extracted.iocs;
            }
            Err(e) => {
                tracing::debug!("{id}: pattern does not parse: {e}");
                pulled.skip("invalid-pattern");
            }
        }
    } else {
        pulled.skip("invalid-pattern");
    }
    // Kept even without IOCs: a newer version must still replace an older one.
    Some(IndicatorRecord {
        id,
        modified,
        revoked: o.revoked,
        valid_from,
        valid_until,
        iocs,
    })
}

/// A client of one TAXII server.
struct TaxiiClient {
    http: reqwest::Client,
    auth: TaxiiAuth,
    retry: RetryPolicy,
}

impl TaxiiClient {
    /// GET with the TAXII headers and retries; the body of a 2xx answer, or an error that
    /// carries the server's TAXII error object.
    async fn get(&self, url: &Url) -> anyhow::Result<(HeaderMap, bytes::Bytes)> {
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
        let answer = send_retrying(build, &self.retry, "the TAXII server", &name).await?;
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
    async fn api_root(&self, url: &Url) -> anyhow::Result<Url> {
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

    async fn collections(&self, root: &Url) -> anyhow::Result<Vec<Collection>> {
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

/// Reads one collection from its cursor to the end, storing page by page.
async fn pull_collection(
    client: &TaxiiClient,
    settings: &TaxiiSettings,
    root: &Url,
    collection: &Collection,
    state: &mut StateStore,
    pulled: &mut Pulled,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    if !collection.can_read {
        bail!(
            "collection {} ({}) is not readable with these credentials",
            collection.id,
            collection.title
        );
    }
    let objects_url = root.join(&format!("collections/{}/objects/", collection.id))?;
    let feed = objects_url.as_str().to_owned();
    let first_added_after = match state.cursor(&feed)? {
        Some(cursor) => cursor,
        None => (now - chrono::Duration::days(i64::from(settings.days)))
            .to_rfc3339_opts(SecondsFormat::Micros, true),
    };
    let limit = settings.page_size.to_string();
    let mut added_after = first_added_after;
    let mut next: Option<String> = None;
    let mut empty_pages = 0;
    // The first object version of every page: a server that sends a page again makes no progress.
    let mut page_starts: HashSet<(String, String)> = HashSet::new();
    for page in 1..=MAX_PAGES {
        // `next` goes with the same original filters (medallion rejects a changed query).
        let mut url = objects_url.clone();
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("match[type]", "indicator")
                .append_pair("limit", &limit)
                .append_pair("added_after", &added_after);
            if let Some(next) = &next {
                q.append_pair("next", next);
            }
        }
        let (headers, body) = client.get(&url).await?;
        let text = std::str::from_utf8(&body)
            .with_context(|| format!("page {page} of collection {} is not UTF-8", collection.id))?;
        let envelope: Envelope = serde_json::from_str(text).with_context(|| {
            format!(
                "page {page} of collection {} is not a TAXII envelope",
                collection.id
            )
        })?;
        let last_added = headers
            .get("x-taxii-date-added-last")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let count = envelope.objects.len();
        if let Some(first) = envelope.objects.first() {
            let key = (
                first.id.as_deref().unwrap_or_default().to_owned(),
                first.modified.as_deref().unwrap_or_default().to_owned(),
            );
            if !page_starts.insert(key) {
                bail!(
                    "the TAXII server sent the same page again for collection {} (page {page}): it is not making progress",
                    collection.id
                );
            }
        }
        let records = indicator_records(
            envelope.objects.into_iter().map(StixObjectRef),
            settings.scan_action,
            pulled,
        );
        state.store_page(&feed, &records, last_added.as_deref())?;
        tracing::debug!("collection {}: page {page}, {count} objects", collection.id);
        if !envelope.more {
            return Ok(());
        }
        empty_pages = if count == 0 { empty_pages + 1 } else { 0 };
        if empty_pages >= MAX_EMPTY_PAGES {
            bail!(
                "the TAXII server keeps saying there is more in collection {} but sends nothing",
                collection.id
            );
        }
        match (envelope.next, last_added) {
            // A server may keep one `next` for a whole paging session (medallion does).
            (Some(n), _) => next = Some(n),
            // No `next`: page on from the last date_added of this page.
            (None, Some(last)) if last != added_after => {
                added_after = last;
                next = None;
            }
            (None, _) => bail!(
                "the TAXII server says there is more in collection {} but gives neither `next` nor a newer X-TAXII-Date-Added-Last",
                collection.id
            ),
        }
    }
    bail!(
        "collection {} did not end after {MAX_PAGES} pages",
        collection.id
    )
}

/// Reads every chosen collection into the state store, then returns the IOCs of every
/// indicator valid now.
pub async fn pull(settings: &TaxiiSettings, http: &HttpSettings) -> anyhow::Result<Pulled> {
    let url = Url::parse(&settings.url)
        .with_context(|| format!("--taxii-url `{}` is not a URL", settings.url))?;
    if !matches!(url.scheme(), "http" | "https") {
        bail!(
            "--taxii-url `{}` must be an http or https URL",
            settings.url
        );
    }
    let client = TaxiiClient {
        http: http.build_client()?,
        auth: settings.auth.clone(),
        retry: RetryPolicy::default(),
    };
    let mut state = StateStore::open(&settings.state_file)?;
    let now = Utc::now();
    let root = client.api_root(&url).await?;
    let all = client.collections(&root).await?;
    let chosen = choose_collections(&all, &settings.collections)?;
    let mut pulled = Pulled::default();
    for collection in &chosen {
        pull_collection(
            &client,
            settings,
            &root,
            collection,
            &mut state,
            &mut pulled,
            now,
        )
        .await?;
    }
    let (stored, valid) = state.counts(now)?;
    tracing::info!(
        "TAXII: {} indicators read from {} collection(s); {stored} stored, {valid} valid now",
        pulled.items,
        chosen.len()
    );
    pulled.iocs = state.desired(now)?;
    pulled.dedupe();
    Ok(pulled)
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

    #[test]
    fn indicators_become_records_and_the_rest_is_counted() {
        let json = r#"{"type":"bundle","objects":[
            {"type":"indicator","id":"indicator--1","created":"2026-11-01T00:00:00Z","modified":"2026-11-02T00:00:00.123Z",
             "pattern":"[domain-name:value = 'evil.example']","pattern_type":"stix","valid_from":"2026-11-01T00:00:00Z"},
            {"type":"indicator","id":"indicator--2","created":"2026-11-01T00:00:00Z",
             "pattern":"rule x { condition: true }","pattern_type":"yara","valid_from":"2026-11-01T00:00:00Z"},
            {"type":"indicator","id":"indicator--3","created":"2026-11-01T00:00:00Z",
             "pattern":"[domain-name:value = ","pattern_type":"stix","valid_from":"2026-11-01T00:00:00Z"},
            {"type":"indicator","id":"indicator--4","modified":"yesterday","pattern":"[url:value = 'http://x.example/']"},
            {"type":"malware","id":"malware--1","name":"x"}
        ]}"#;
        let mut pulled = Pulled::default();
        let records =
            indicator_records(parse_objects(json).unwrap(), ScanAction::Block, &mut pulled);
        assert_eq!(pulled.items, 4);
        assert_eq!(records.len(), 3);
        assert_eq!(records[0].iocs.len(), 1);
        assert_eq!(
            records[0].modified.to_rfc3339(),
            "2026-11-02T00:00:00.123+00:00"
        );
        assert!(records[1].iocs.is_empty() && records[2].iocs.is_empty());
        assert_eq!(pulled.skipped.get("non-stix-pattern"), Some(&1));
        assert_eq!(pulled.skipped.get("invalid-pattern"), Some(&1));
        assert_eq!(pulled.skipped.get("invalid-indicator"), Some(&1));
    }
}
