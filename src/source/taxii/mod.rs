//! TAXII 2.1 as a source (Trend's Threat Intelligence feed, or any TAXII 2.1 server); see
//! `reference/taxii-stix.md`.
//!
//! Discovery (or an API root given directly), the collections to read, then each
//! collection's indicators added since its cursor, page by page. Every page is parsed,
//! its patterns' IOCs extracted, and stored with the cursor after it in one transaction
//! (`state`), under this job's tag and the collection's feed (API root and collection);
//! the first page's transaction also drops the feed's indicators revoked or expired more
//! than [`PRUNE_GRACE`] ago. The desired set is then every indicator of the chosen
//! collections valid now. A server that stalls ends that collection with what arrived kept
//! and a warning; the run goes on.
//!
//! [`client`] speaks TAXII (discovery, API root, collections, HTTP, auth), [`paging`] holds
//! the paging rules, and this module is the source (pull, ingest); the STIX indicator model
//! is `crate::stix::indicator`, shared with STIX bundle files.

pub mod client;
pub mod paging;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::{Context, anyhow, bail};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use tokio::sync::oneshot;
use url::Url;

use crate::http::HttpSettings;
use crate::ioc::Ioc;
use crate::model::MAX_ENTRIES_PER_KIND;
use crate::model::ScanAction;
use crate::model::desired::Pulled;
use crate::state::{FeedId, PRUNE_GRACE, PageEnd, StateStore};
use crate::stix::indicator::{
    Entry, IndicatorRecord, MAX_CLOCK_SKEW, Reading, clamped_warning, indicator_records_from,
};
pub use client::{Collection, MAX_ANSWER_BYTES, TAXII_MEDIA_TYPE, TaxiiAuth, choose_collections};
use client::{Task, TaxiiClient, objects_url};
pub use paging::DEFAULT_PAGE_SIZE;
use paging::{Cursor, PageInfo, Pager, Request, Stall, walk};

/// `--days` for a TAXII feed's first run: 1 to this many days (ten years); Lumu keeps to 30.
pub const MAX_DAYS: u32 = 3_650;

/// What to read.
#[derive(Debug, Clone)]
pub struct TaxiiSettings {
    /// A discovery URL or an API root.
    pub url: String,
    /// Collection ids, aliases or titles; empty: every readable collection.
    pub collections: Vec<String>,
    pub auth: TaxiiAuth,
    pub page_size: u32,
    /// The first run of a feed (or a lost state file) reads indicators added in the last
    /// `days` (1 to [`MAX_DAYS`]).
    pub days: u32,
    pub scan_action: ScanAction,
    /// `--min-confidence`: indicators with a lower `confidence` are not pushed.
    pub min_confidence: Option<u8>,
    pub state_file: PathBuf,
    /// The job's tag: its feeds' cursors and indicators are its own in the state file.
    pub tag: String,
    /// `--dry-run`: read from the cursors, store nothing, move no cursor.
    pub dry_run: bool,
}

/// A page of the objects endpoint (TAXII 2.1 section 3.7, the envelope).
#[derive(Debug, Deserialize)]
struct Envelope<'a> {
    #[serde(default)]
    more: bool,
    #[serde(default)]
    next: Option<String>,
    /// Each entry read on its own: a malformed one is skipped and counted, not the page.
    #[serde(borrow, default)]
    objects: Vec<Entry<'a>>,
}

/// What is known of a feed when its reading starts.
struct FeedStart {
    id: FeedId,
    cursor: Option<String>,
    stalled_at: Option<String>,
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
        feed: FeedId,
        records: Vec<IndicatorRecord>,
        cursor: Option<Cursor>,
        /// Drop the feed's indicators revoked or expired before this time (see
        /// [`PageEnd::prune_before`]); the collection's name, for the log.
        prune: Option<(DateTime<Utc>, String)>,
    },
    Open {
        tag: String,
        feed: String,
        reply: oneshot::Sender<anyhow::Result<FeedStart>>,
    },
    Stalled {
        feed: FeedId,
        at: Option<String>,
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
                        prune,
                    } => {
                        let clamped = cursor.as_ref().and_then(|c| c.clamped.as_ref());
                        let end = PageEnd {
                            cursor: cursor.as_ref().map(|c| c.added_after.as_str()),
                            clamped: clamped.map(|c| (c.server_date.as_str(), c.trusted.as_str())),
                            prune_before: prune.as_ref().map(|(before, _)| *before),
                        };
                        let stored = state.store_page_with(feed, &records, end)?;
                        if let Some((_, name)) = &prune
                            && stored.pruned > 0
                        {
                            tracing::info!(
                                "TAXII collection {name}: {} indicators revoked or expired more than {} days ago \
                                 dropped from the state file {}",
                                stored.pruned,
                                PRUNE_GRACE.num_days(),
                                state.path().display()
                            );
                        }
                    }
                    WriterJob::Open { tag, feed, reply } => {
                        let open = || -> anyhow::Result<FeedStart> {
                            let id = state.feed(&tag, &feed)?;
                            Ok(FeedStart {
                                id,
                                cursor: state.cursor(id)?,
                                stalled_at: state.stalled_at(id)?,
                            })
                        };
                        let _ = reply.send(open());
                    }
                    WriterJob::Stalled { feed, at } => {
                        state.set_stalled_at(feed, at.as_deref())?;
                    }
                }
            }
            state.stop_background_checkpoints(checkpoints)?;
            Ok(state)
        });
        PageWriter { jobs, thread }
    }

    /// The feed `feed` of the job tagged `tag`, its cursor and where it last stalled.
    async fn open(&self, tag: &str, feed: &str) -> anyhow::Result<FeedStart> {
        let (reply, answer) = oneshot::channel();
        self.send(WriterJob::Open {
            tag: tag.to_owned(),
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
        feed: FeedId,
        records: Vec<IndicatorRecord>,
        cursor: Option<Cursor>,
        prune: Option<(DateTime<Utc>, String)>,
    ) -> anyhow::Result<()> {
        self.send(WriterJob::Store {
            feed,
            records,
            cursor,
            prune,
        })
        .await
    }

    async fn stalled(&self, feed: FeedId, at: Option<String>) -> anyhow::Result<()> {
        self.send(WriterJob::Stalled { feed, at }).await
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

/// A page's records, and what reading them counted.
type PageRecords = (Vec<IndicatorRecord>, Pulled);

/// The objects (`id` and `modified` as written, joined by a newline) of the page before,
/// when the next page is asked for by date: that page starts with the objects of the last
/// `date_added` again (see `paging`), which are then neither counted nor stored twice.
#[derive(Clone, Default)]
struct PageBefore(Arc<Mutex<HashSet<String>>>);

impl PageBefore {
    /// How many of `objects`, from the first, the page before held (same `id` and
    /// `modified`); then notes `objects` as the page before the next one, if `by_date`.
    fn again(&self, objects: &[Entry<'_>], by_date: bool) -> usize {
        let mut before = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = |o: &Entry<'_>| Some(format!("{}\n{}", o.id()?, o.modified_text()?));
        let again = if before.is_empty() {
            0
        } else {
            objects
                .iter()
                .take_while(|o| key(o).is_some_and(|k| before.contains(&k)))
                .count()
        };
        before.clear();
        if by_date {
            before.extend(objects.iter().filter_map(key));
        }
        again
    }
}

/// Starts fetching the page at `url` on a task of its own: its envelope facts arrive first
/// (so the next request can leave), its records (parsed and extracted on that task) after.
/// The objects at its start that `before` held are skipped.
fn fetch_page(
    client: &TaxiiClient,
    url: Url,
    reading: Reading,
    collection: &str,
    before: &PageBefore,
) -> impl Future<Output = anyhow::Result<(PageInfo, Task<PageRecords>)>> + use<> {
    let (info_tx, info_rx) = oneshot::channel();
    let client = client.clone();
    let collection = collection.to_owned();
    let before = before.clone();
    let task = Task::spawn(async move {
        let (headers, body) = client.get(&url).await?;
        let text = std::str::from_utf8(&body)
            .with_context(|| format!("a page of collection {collection} is not UTF-8"))?;
        let envelope: Envelope = serde_json::from_str(text).with_context(|| {
            format!("a page of collection {collection} is not a TAXII envelope")
        })?;
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let info = PageInfo {
            more: envelope.more,
            next: envelope.next,
            objects: envelope.objects.len(),
            fingerprint: fingerprint(&envelope.objects),
            date_added_first: header("x-taxii-date-added-first"),
            date_added_last: header("x-taxii-date-added-last"),
        };
        let info_first = info.date_added_first.clone();
        // Noted before the envelope facts go out: the next page's task, started on them,
        // compares its objects with these.
        let by_date = info.more && info.next.as_deref().is_none_or(str::is_empty);
        let again = before.again(&envelope.objects, by_date);
        // The reader gone means the walk ended (an error elsewhere): nothing to parse for.
        let _ = info_tx.send(info);
        let mut pulled = Pulled::default();
        let from = match &info_first {
            Some(first) => format!("collection {collection}, the page added from {first}"),
            None => format!("collection {collection}"),
        };
        let records = indicator_records_from(again, envelope.objects, &reading, &from, &mut pulled);
        Ok((records, pulled))
    });
    async move {
        match info_rx.await {
            Ok(info) => Ok((info, task)),
            // The task ended before the envelope was read: its error says why.
            Err(_) => Err(task
                .await
                .err()
                .unwrap_or_else(|| anyhow!("a TAXII page was lost"))),
        }
    }
}

/// The first and last object's id and version, and their number: a page sent again has the
/// same digest.
fn fingerprint(objects: &[Entry<'_>]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    objects.len().hash(&mut hasher);
    for o in objects.first().into_iter().chain(objects.last()) {
        o.id().hash(&mut hasher);
        o.modified_text().hash(&mut hasher);
    }
    hasher.finish()
}

/// Reads one collection from its cursor, storing page by page, until its end or until the
/// server stalls (then warns, and remembers where for the next run). Its feed in the store.
async fn pull_collection(
    client: &TaxiiClient,
    settings: &TaxiiSettings,
    root: &Url,
    collection: &Collection,
    writer: &PageWriter,
    pulled: &mut Pulled,
    now: DateTime<Utc>,
) -> anyhow::Result<FeedId> {
    let name = format!("{} ({})", collection.id, collection.title);
    if !collection.can_read {
        bail!("collection {name} is not readable with these credentials");
    }
    let objects_url = objects_url(root, &collection.id)?;
    client.check_origin(&objects_url, "the collection URL")?;
    let feed = writer.open(&settings.tag, objects_url.as_str()).await?;
    let window = (now - chrono::Duration::days(i64::from(settings.days)))
        .to_rfc3339_opts(SecondsFormat::Micros, true);
    let start = match &feed.cursor {
        // Stored by a version that took a server's date in the future as the cursor: from
        // there, nothing would ever be read again.
        Some(cursor)
            if DateTime::parse_from_rfc3339(cursor.trim())
                .is_ok_and(|at| at > now + MAX_CLOCK_SKEW) =>
        {
            pulled.warn(format!(
                "TAXII collection {name}: its cursor {cursor} in the state file {} lies in the future \
                 (a server date in the future, stored by an earlier version): read from --days ({} days) again instead",
                settings.state_file.display(),
                settings.days
            ));
            window
        }
        Some(cursor) => cursor.clone(),
        None => window,
    };
    let pager = Pager::new(&start, settings.page_size, feed.stalled_at.as_deref())
        .with_context(|| {
            format!(
                "the cursor of collection {name} in the state file {} (move the file away to start over from --days)",
                settings.state_file.display()
            )
        })?
        .with_clock(now);
    let reading = Reading {
        scan_action: settings.scan_action,
        min_confidence: settings.min_confidence,
        now,
    };
    let mut read = Pulled::default();
    let mut clamped = 0;
    let mut cursor = feed.cursor.clone();
    let before = PageBefore::default();
    // The feed's revoked and expired indicators go with the first page (a dry run keeps
    // them: it writes nothing).
    let mut prune = (!settings.dry_run).then(|| (now - PRUNE_GRACE, name.clone()));
    let walked = walk(
        pager,
        |request: &Request| {
            fetch_page(
                client,
                page_url(&objects_url, request),
                reading,
                &collection.id,
                &before,
            )
        },
        async |(records, counted): PageRecords, page_cursor: Option<Cursor>| {
            read.absorb(counted);
            clamped += records.iter().filter(|r| r.clamped).count();
            if let Some(c) = &page_cursor {
                cursor = Some(c.added_after.clone());
            }
            writer
                .store(feed.id, records, page_cursor, prune.take())
                .await
        },
    )
    .await;
    let indicators = read.items;
    pulled.absorb(read);
    let walked = walked?;
    tracing::debug!(
        "collection {name}: {} pages, {indicators} indicators",
        walked.pages
    );
    if clamped > 0 {
        pulled.warn(clamped_warning(clamped, &format!("collection {name}")));
    }
    for note in &walked.notes {
        pulled.warn(format!("TAXII collection {name}: {note}"));
    }
    match &walked.stall {
        None if feed.stalled_at.is_some() => writer.stalled(feed.id, None).await?,
        None => {}
        Some(stall) => {
            pulled.warn(stall_warning(&name, stall, indicators, cursor.as_deref()));
            writer
                .stalled(feed.id, stall.stuck_at().map(str::to_owned))
                .await?;
        }
    }
    Ok(feed.id)
}

/// The warning for a collection whose server stalled; `cursor` is the collection's cursor
/// after the run, if it has one.
fn stall_warning(name: &str, stall: &Stall, indicators: usize, cursor: Option<&str>) -> String {
    let cursor = match cursor {
        Some(c) => format!("its cursor stays at {c} (nothing after it was skipped)"),
        None => "it has no cursor yet (the next run reads from --days again)".to_owned(),
    };
    let next = match stall {
        Stall::NotAdvancing { .. } => {
            "if the server does not move past that date in the next run either, that run steps past it"
        }
        _ => "the next run goes on from there",
    };
    format!(
        "TAXII collection {name}: {stall}. The {indicators} indicators read from it in this run are kept, \
         {cursor}, and the sync goes on with what is stored; {next}"
    )
}

/// What [`ingest`] read.
pub struct Ingested {
    /// The indicators read and the values skipped in this run, and any warnings.
    pub pulled: Pulled,
    /// The store, with every page read.
    pub state: StateStore,
    /// The feeds of the chosen collections: what this job pushes.
    pub feeds: Vec<FeedId>,
}

/// Reads every chosen collection into the state store, then returns the IOCs of every
/// indicator of those collections valid now (IOCs `excluded` holds take no room among the
/// newest).
pub async fn pull(
    settings: &TaxiiSettings,
    http: &HttpSettings,
    excluded: &(dyn Fn(&Ioc) -> bool + Sync),
) -> anyhow::Result<Pulled> {
    let Ingested {
        mut pulled,
        state,
        feeds,
    } = ingest(settings, http).await?;
    let (desired, _) = state.desired(
        &feeds,
        Utc::now(),
        MAX_ENTRIES_PER_KIND,
        settings.min_confidence,
        excluded,
    )?;
    pulled.iocs = desired;
    pulled.dedupe();
    Ok(pulled)
}

/// Reads every chosen collection from its cursor into the state store (in a dry run, into
/// a transaction that is never committed).
pub async fn ingest(settings: &TaxiiSettings, http: &HttpSettings) -> anyhow::Result<Ingested> {
    let url = Url::parse(&settings.url)
        .with_context(|| format!("--taxii-url `{}` is not a URL", settings.url))?;
    if !matches!(url.scheme(), "http" | "https") {
        bail!(
            "--taxii-url `{}` must be an http or https URL",
            settings.url
        );
    }
    let client = TaxiiClient::new(http, &url, settings.auth.clone())?;
    let state = if settings.dry_run {
        StateStore::open_dry_run(&settings.state_file)?
    } else {
        StateStore::open(&settings.state_file)?
    };
    let writer = PageWriter::start(state);
    let now = Utc::now();
    let root = client.api_root(&url).await?;
    let all = client.collections(&root).await?;
    let chosen = choose_collections(&all, &settings.collections)?;
    let mut pulled = Pulled::default();
    let mut feeds = Vec::new();
    let mut read = Ok(());
    for collection in &chosen {
        match pull_collection(
            &client,
            settings,
            &root,
            collection,
            &writer,
            &mut pulled,
            now,
        )
        .await
        {
            Ok(feed) => feeds.push(feed),
            Err(e) => {
                read = Err(e);
                break;
            }
        }
    }
    // The pages read so far are committed either way; a writer error is the root cause.
    let state = writer.finish().await?;
    read?;
    let (stored, valid) = state.counts(&feeds, now)?;
    tracing::info!(
        "TAXII: {} indicators read from {} collection(s); {stored} stored, {valid} valid now{}",
        pulled.items,
        chosen.len(),
        if settings.dry_run {
            " (dry run: nothing kept)"
        } else {
            ""
        }
    );
    Ok(Ingested {
        pulled,
        state,
        feeds,
    })
}
