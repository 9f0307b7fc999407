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
use crate::policy::Exclusions;
use crate::secret::Secret;
use crate::state::{IndicatorRecord, StateStore};
use crate::stix::{extract::extract, pattern::parse};
use crate::sync::plan::UDSO_CAPACITY;

/// The media type of TAXII 2.1 (medallion answers 406 to the bare `application/taxii+json`).
pub const TAXII_MEDIA_TYPE: &str = "application/taxii+json;version=2.1";
/// Objects a page, unless `--taxii-page-size` says otherwise (Trend's default).
pub const DEFAULT_PAGE_SIZE: u32 = 1_000;
/// Pages of one collection in one run before the server is taken for one that never ends.
const MAX_PAGES: usize = 100_000;
/// Pages in a row that say `more` but bring nothing.
const MAX_EMPTY_PAGES: usize = 3;
/// The longest answer read from a TAXII server: a page of 10,000 large objects fits.
pub const MAX_ANSWER_BYTES: usize = 64 << 20;

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
        Some(s) => match utc_timestamp(s) {
            Some(t) => Ok(Some(t)),
            None => DateTime::parse_from_rfc3339(s)
                .map(|t| Some(t.with_timezone(&Utc)))
                .map_err(|_| ()),
        },
    }
}

/// The form STIX requires, `YYYY-MM-DDTHH:MM:SS[.s+]Z`, read without chrono's general
/// parser: a feed carries three of them per indicator. Anything else is left to chrono.
fn utc_timestamp(s: &str) -> Option<DateTime<Utc>> {
    let b = s.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        b.get(range)?.iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let punctuation = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if b.len() < 20 || b[b.len() - 1] != b'Z' || punctuation.iter().any(|&(i, c)| b[i] != c) {
        return None;
    }
    let fraction = &b[19..b.len() - 1];
    let nanos = match fraction {
        [] => 0,
        [b'.', rest @ ..] if (1..=9).contains(&rest.len()) => {
            digits(20..20 + rest.len())? * 10u32.pow(9 - rest.len() as u32)
        }
        _ => return None,
    };
    let date =
        chrono::NaiveDate::from_ymd_opt(digits(0..4)? as i32, digits(5..7)?, digits(8..10)?)?;
    let time = date.and_hms_nano_opt(digits(11..13)?, digits(14..16)?, digits(17..19)?, nanos)?;
    Some(time.and_utc())
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

/// The state store on a thread of its own, so that storing a page (SQLite) and parsing the
/// next one run on different cores. Pages are committed in the order they are sent, each
/// with its cursor in one transaction, as before.
struct PageWriter {
    jobs: tokio::sync::mpsc::Sender<WriterJob>,
    thread: std::thread::JoinHandle<anyhow::Result<StateStore>>,
}

enum WriterJob {
    Store {
        feed: String,
        records: Vec<IndicatorRecord>,
        cursor: Option<String>,
    },
    Cursor {
        feed: String,
        reply: tokio::sync::oneshot::Sender<anyhow::Result<Option<String>>>,
    },
}

impl PageWriter {
    fn start(mut state: StateStore) -> Self {
        // A few pages in the queue keep both cores busy without holding much memory.
        let (jobs, mut queue) = tokio::sync::mpsc::channel::<WriterJob>(4);
        let thread = std::thread::spawn(move || {
            let checkpoints = state.checkpoint_in_background()?;
            while let Some(job) = queue.blocking_recv() {
                match job {
                    WriterJob::Store {
                        feed,
                        records,
                        cursor,
                    } => {
                        state.store_page(&feed, &records, cursor.as_deref())?;
                    }
                    WriterJob::Cursor { feed, reply } => {
                        let _ = reply.send(state.cursor(&feed));
                    }
                }
            }
            state.stop_background_checkpoints(checkpoints)?;
            Ok(state)
        });
        PageWriter { jobs, thread }
    }

    async fn cursor(&self, feed: &str) -> anyhow::Result<Option<String>> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.send(WriterJob::Cursor {
            feed: feed.to_owned(),
            reply,
        })
        .await?;
        answer
            .await
            .map_err(|_| anyhow!("the state writer stopped"))?
    }

    async fn store(
        &self,
        feed: String,
        records: Vec<IndicatorRecord>,
        cursor: Option<String>,
    ) -> anyhow::Result<()> {
        self.send(WriterJob::Store {
            feed,
            records,
            cursor,
        })
        .await
    }

    async fn send(&self, job: WriterJob) -> anyhow::Result<()> {
        // A closed queue means the writer failed; `finish` reports why.
        self.jobs
            .send(job)
            .await
            .map_err(|_| anyhow!("the state writer stopped"))
    }

    /// Waits for every page to be committed and returns the store, or the writer's error.
    async fn finish(self) -> anyhow::Result<StateStore> {
        drop(self.jobs);
        let thread = self.thread;
        tokio::task::spawn_blocking(move || thread.join())
            .await?
            .map_err(|_| anyhow!("the state writer panicked"))?
    }
}

/// A page request running on its own task; dropped, it is cancelled.
struct InFlight(tokio::task::JoinHandle<anyhow::Result<(HeaderMap, bytes::Bytes)>>);

impl InFlight {
    fn get(client: &TaxiiClient, url: Url) -> Self {
        let client = client.clone();
        InFlight(tokio::spawn(async move { client.get(&url).await }))
    }

    async fn answer(mut self) -> anyhow::Result<(HeaderMap, bytes::Bytes)> {
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
    writer: &PageWriter,
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
    let first_added_after = match writer.cursor(&feed).await? {
        Some(cursor) => cursor,
        None => (now - chrono::Duration::days(i64::from(settings.days)))
            .to_rfc3339_opts(SecondsFormat::Micros, true),
    };
    let limit = settings.page_size.to_string();
    let mut added_after = first_added_after;
    let mut next: Option<String>;
    let mut empty_pages = 0;
    // The first object version of every page: a server that sends a page again makes no progress.
    let mut page_starts: HashSet<(String, String)> = HashSet::new();
    // `next` goes with the same original filters (medallion rejects a changed query).
    let page_url = |added_after: &str, next: Option<&str>| {
        let mut url = objects_url.clone();
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("match[type]", "indicator")
                .append_pair("limit", &limit)
                .append_pair("added_after", added_after);
            if let Some(next) = next {
                q.append_pair("next", next);
            }
        }
        url
    };
    // The next page is requested as soon as this one's envelope is read, so the server
    // and the network work while this page is parsed and stored.
    let mut request = Some(InFlight::get(client, page_url(&added_after, None)));
    for page in 1..=MAX_PAGES {
        let (headers, body) = match request.take() {
            Some(in_flight) => in_flight.answer().await?,
            None => unreachable!("a request is in flight at the top of the loop"),
        };
        let text = std::str::from_utf8(&body)
            .with_context(|| format!("page {page} of collection {} is not UTF-8", collection.id))?;
        let Envelope {
            more,
            next: next_token,
            objects,
        } = serde_json::from_str(text).with_context(|| {
            format!(
                "page {page} of collection {} is not a TAXII envelope",
                collection.id
            )
        })?;
        let last_added = headers
            .get("x-taxii-date-added-last")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let count = objects.len();
        if let Some(first) = objects.first() {
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
        if more {
            empty_pages = if count == 0 { empty_pages + 1 } else { 0 };
            if empty_pages >= MAX_EMPTY_PAGES {
                bail!(
                    "the TAXII server keeps saying there is more in collection {} but sends nothing",
                    collection.id
                );
            }
            match (next_token, &last_added) {
                // A server may keep one `next` for a whole paging session (medallion does).
                (Some(n), _) => next = Some(n),
                // No `next`: page on from the last date_added of this page.
                (None, Some(last)) if *last != added_after => {
                    added_after = last.clone();
                    next = None;
                }
                (None, _) => bail!(
                    "the TAXII server says there is more in collection {} but gives neither `next` nor a newer X-TAXII-Date-Added-Last",
                    collection.id
                ),
            }
            request = Some(InFlight::get(
                client,
                page_url(&added_after, next.as_deref()),
            ));
        }
        let records = indicator_records(
            objects.into_iter().map(StixObjectRef),
            settings.scan_action,
            pulled,
        );
        writer.store(feed.clone(), records, last_added).await?;
        tracing::debug!("collection {}: page {page}, {count} objects", collection.id);
        if !more {
            return Ok(());
        }
    }
    bail!(
        "collection {} did not end after {MAX_PAGES} pages",
        collection.id
    )
}

/// Reads every chosen collection into the state store, then returns the IOCs of every
/// indicator valid now (IOCs `exclusions` match take no room among the newest).
pub async fn pull(
    settings: &TaxiiSettings,
    http: &HttpSettings,
    exclusions: &Exclusions,
) -> anyhow::Result<Pulled> {
    let (mut pulled, state) = ingest(settings, http).await?;
    let (desired, _) = state.desired(Utc::now(), UDSO_CAPACITY, |ioc| exclusions.excludes(ioc))?;
    pulled.iocs = desired;
    pulled.dedupe();
    Ok(pulled)
}

/// Reads every chosen collection from its cursor into the state store: the indicators read
/// and the values skipped, and the store.
pub async fn ingest(
    settings: &TaxiiSettings,
    http: &HttpSettings,
) -> anyhow::Result<(Pulled, StateStore)> {
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
    let writer = PageWriter::start(StateStore::open(&settings.state_file)?);
    let now = Utc::now();
    let root = client.api_root(&url).await?;
    let all = client.collections(&root).await?;
    let chosen = choose_collections(&all, &settings.collections)?;
    let mut pulled = Pulled::default();
    let mut read = Ok(());
    for collection in &chosen {
        read = pull_collection(
            &client,
            settings,
            &root,
            collection,
            &writer,
            &mut pulled,
            now,
        )
        .await;
        if read.is_err() {
            break;
        }
    }
    // The pages read so far are committed either way; a writer error is the root cause.
    let state = writer.finish().await?;
    read?;
    let (stored, valid) = state.counts(now)?;
    tracing::info!(
        "TAXII: {} indicators read from {} collection(s); {stored} stored, {valid} valid now",
        pulled.items,
        chosen.len()
    );
    Ok((pulled, state))
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
    fn stix_timestamps_read_fast_agree_with_chrono() {
        for text in [
            "2026-11-23T08:00:00Z",
            "2026-11-23T08:00:00.1Z",
            "2026-11-23T08:00:00.123456Z",
            "2026-11-23T08:00:00.123456789Z",
            "1999-12-31T23:59:59.5Z",
            "2024-02-29T00:00:00Z",
        ] {
            let chrono = DateTime::parse_from_rfc3339(text)
                .unwrap()
                .with_timezone(&Utc);
            assert_eq!(utc_timestamp(text), Some(chrono), "{text}");
        }
        // Other forms go to chrono (an offset), or are refused (impossible dates, junk).
        for text in [
            "2026-11-23T08:00:00+01:00",
            "2026-11-23T08:00:00.Z",
            "2026-11-23T08:00:00.1234567890Z",
            "2025-02-29T00:00:00Z",
            "2026-11-23T24:00:00Z",
            "2026-11-23 08:00:00Z",
            "2026-1a-23T08:00:00Z",
            "",
        ] {
            assert_eq!(utc_timestamp(text), None, "{text}");
        }
        let offset = Some(Cow::Borrowed("2026-11-23T09:00:00+01:00"));
        assert_eq!(
            time(&offset),
            Ok(Some("2026-11-23T08:00:00Z".parse().unwrap()))
        );
        assert_eq!(time(&Some(Cow::Borrowed("yesterday"))), Err(()));
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
