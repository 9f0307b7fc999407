//! TAXII 2.1 as a source (Trend's Threat Intelligence feed, or any TAXII 2.1 server); see
//! `reference/taxii-stix.md`.
//!
//! Discovery (or an API root given directly), the collections to read, then each
//! collection's indicators added since its cursor, page by page. Every page is parsed,
//! its patterns' IOCs extracted, and stored with the cursor after it in one transaction
//! (`state.rs`); the desired set is then every indicator valid now.
//!
//! [`client`] speaks TAXII (discovery, API root, collections, HTTP, auth), [`paging`] holds
//! the paging rules, and this module is the source (pull, ingest); the STIX indicator model
//! is `crate::stix::indicator`, shared with STIX bundle files.

pub mod client;
pub mod paging;

use std::path::PathBuf;

use anyhow::{Context, anyhow, bail};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use url::Url;

use super::Pulled;
use crate::apex::udso::ScanAction;
use crate::http::{HttpSettings, RetryPolicy};
use crate::state::StateStore;
use crate::stix::indicator::{IndicatorRecord, StixObject, indicator_records};
use crate::sync::plan::UDSO_CAPACITY;
pub use client::{Collection, MAX_ANSWER_BYTES, TAXII_MEDIA_TYPE, TaxiiAuth, choose_collections};
use client::{InFlight, TaxiiClient};
pub use paging::DEFAULT_PAGE_SIZE;
use paging::{PageInfo, Pager, Request, Then};

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

/// A page of the objects endpoint (TAXII 2.1 section 3.7, the envelope).
#[derive(Debug, Deserialize)]
struct Envelope<'a> {
    #[serde(default)]
    more: bool,
    #[serde(default)]
    next: Option<String>,
    #[serde(borrow, default)]
    objects: Vec<StixObject<'a>>,
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

/// The URL of a page: `objects_url` with the request's filters; `next` goes with the same
/// original filters (medallion rejects a changed query).
fn page_url(objects_url: &Url, request: &Request) -> Url {
    let mut url = objects_url.clone();
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("match[type]", "indicator")
            .append_pair("limit", &request.limit.to_string())
            .append_pair("added_after", &request.added_after);
        if let Some(next) = &request.next {
            q.append_pair("next", next);
        }
    }
    url
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
    let mut pager = Pager::new(&collection.id, first_added_after, settings.page_size);
    // The next page is requested as soon as this one's envelope is read, so the server
    // and the network work while this page is parsed and stored.
    let mut request = InFlight::get(client, page_url(&objects_url, &pager.first()));
    for page in 1.. {
        let (headers, body) = request.answer().await?;
        let text = std::str::from_utf8(&body)
            .with_context(|| format!("page {page} of collection {} is not UTF-8", collection.id))?;
        let Envelope {
            more,
            next,
            objects,
        } = serde_json::from_str(text).with_context(|| {
            format!(
                "page {page} of collection {} is not a TAXII envelope",
                collection.id
            )
        })?;
        let info = PageInfo {
            more,
            next,
            objects: objects.len(),
            first: objects.first().map(|o| {
                (
                    o.id().unwrap_or_default().to_owned(),
                    o.modified_text().unwrap_or_default().to_owned(),
                )
            }),
            date_added_last: headers
                .get("x-taxii-date-added-last")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        };
        let step = pager.after(&info)?;
        let done = match &step.then {
            Then::Request(next) => {
                request = InFlight::get(client, page_url(&objects_url, next));
                false
            }
            Then::Done => true,
        };
        let records = indicator_records(objects, settings.scan_action, pulled);
        writer.store(feed.clone(), records, step.cursor).await?;
        tracing::debug!(
            "collection {}: page {page}, {} objects",
            collection.id,
            info.objects
        );
        if done {
            break;
        }
    }
    Ok(())
}

/// Reads every chosen collection into the state store, then returns the IOCs of every
/// indicator valid now.
pub async fn pull(settings: &TaxiiSettings, http: &HttpSettings) -> anyhow::Result<Pulled> {
    let (mut pulled, state) = ingest(settings, http).await?;
    let (desired, _) = state.desired(Utc::now(), UDSO_CAPACITY)?;
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
