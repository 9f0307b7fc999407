//! The state of incremental sources: an embedded SQLite store holding, per feed (a TAXII
//! API root and collection) and per job tag, the cursor (where the feed's next run resumes:
//! the `added_after` it sends, from the server's `date_added`; see
//! `source::taxii::paging`), where the server last stalled, and every indicator's newest
//! version with the IOCs extracted from it.
//!
//! A page of objects and the cursor after it are committed in one transaction, so a run that
//! dies halfway loses nothing and duplicates nothing: the next run resumes at the last
//! stored page (it reads that page's last `date_added` again, which more objects may share). A dry run's store ([`StateStore::open_dry_run`]) keeps everything in one
//! transaction that is never committed: it reads what is stored, and writes nothing.
//!
//! Schema 3 (this version): `feeds (feed_id, tag, feed, cursor, stalled_at)` and
//! `indicators (feed_id, id, modified, clamped, revoked, valid_from, valid_until,
//! confidence, iocs)`, times as microseconds since the epoch. Schema 1 (times as text) and
//! schema 2 (one set of indicators for the whole file) are upgraded in place.
//!
//! The Lumu job's context cache lives in the same file, in tables of its own ([`lumu`]), and
//! so do the TAXII cursors held back from a server date in the future ([`taxii`]), and
//! every job's journal of its runs and writes ([`journal`]), and where `watch` stands in
//! Lumu's incident stream ([`watch`]).
//!
//! Revoked and expired indicators are dropped [`PRUNE_GRACE`] after their revocation or
//! expiry (see [`PageEnd::prune_before`]): they are pushed no more, and every run would
//! scan them.

pub mod journal;
pub mod lumu;
pub mod taxii;
pub mod watch;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use crate::ioc::{Ioc, IocKind};
use crate::model::ScanAction;
use crate::model::desired::Desired;
pub use crate::stix::indicator::IndicatorRecord;

/// The layout this version writes; schemas 1 and 2 are upgraded, a newer store is refused,
/// not guessed at.
const SCHEMA_VERSION: i64 = 3;

/// One feed of one job (its tag), as the store numbers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FeedId(i64);

/// What storing a page did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    /// New indicators, or newer versions of known ones.
    pub written: usize,
    /// Versions not newer than the one already stored.
    pub stale: usize,
    /// Revoked or expired indicators dropped (see [`PageEnd::prune_before`]).
    pub pruned: usize,
}

/// How long a revoked indicator (from its revocation: the `modified` of the revoked
/// version) or an expired one (from its `valid_until`) stays in the state file. Neither is
/// pushed; kept a while, the revoked version still outranks an older version a feed may
/// send again late (newest `modified` wins), and a run that reads the feed again from an
/// older cursor (a clamped or reset one) finds it.
pub const PRUNE_GRACE: chrono::TimeDelta = chrono::TimeDelta::days(7);

/// What a page's transaction writes beside the page's indicators.
#[derive(Debug, Default, Clone, Copy)]
pub struct PageEnd<'a> {
    /// The feed's cursor after the page (where its next run resumes), when it moves.
    pub cursor: Option<&'a str>,
    /// The cursor is held back from a server date in the future: that date, and the last
    /// cursor taken from the server's own dates before it ([`taxii`]). `None` with a
    /// cursor: the cursor is the server's own again.
    pub clamped: Option<(&'a str, &'a str)>,
    /// Drop the feed's indicators revoked (by their `modified`) or expired (by their
    /// `valid_until`) before this time, before the page is stored: once a run (with its
    /// first page), so that a feed's indicators are scanned once a run, not once a page.
    pub prune_before: Option<DateTime<Utc>>,
}

/// The store, open.
pub struct StateStore {
    conn: Connection,
    path: PathBuf,
    /// A dry run's store: one transaction, never committed.
    dry_run: bool,
}

/// Checkpoint after this many WAL pages (~32 MiB)...
const WAL_AUTOCHECKPOINT_PAGES: i64 = 8_192;
/// ... or, during a feed's ingest, this often on a thread of their own.
const CHECKPOINT_INTERVAL: std::time::Duration = std::time::Duration::from_millis(250);

/// ... with this backstop on commit meanwhile (~256 MiB).
const WAL_BACKSTOP_PAGES: i64 = 65_536;

/// What [`StateStore::checkpoint_in_background`] started; dropped, it stops the thread.
pub struct BackgroundCheckpoints(
    Option<(std::sync::mpsc::Sender<()>, std::thread::JoinHandle<()>)>,
);

impl Drop for BackgroundCheckpoints {
    fn drop(&mut self) {
        if let Some((stop, thread)) = self.0.take() {
            drop(stop);
            let _ = thread.join();
        }
    }
}

const IN_MEMORY: &str = ":memory:";

/// How long a write waits for another job's (on the same state file) to end.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The tables of this schema; `indicators` is created as `indicators_table`.
fn schema(indicators_table: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS feeds (
             feed_id INTEGER PRIMARY KEY,
             tag TEXT,
             feed TEXT NOT NULL,
             cursor TEXT,
             stalled_at TEXT,
             UNIQUE (tag, feed)
         );
         CREATE TABLE IF NOT EXISTS {indicators_table} (
             feed_id INTEGER NOT NULL,
             id TEXT NOT NULL,
             modified INTEGER NOT NULL,
             clamped INTEGER NOT NULL,
             revoked INTEGER NOT NULL,
             valid_from INTEGER,
             valid_until INTEGER,
             confidence INTEGER,
             iocs TEXT NOT NULL,
             PRIMARY KEY (feed_id, id)
         ) WITHOUT ROWID;"
    )
}

/// Indicators written by one statement.
const ROWS_PER_UPSERT: usize = 100;

/// Upserts `rows` indicators; a newer version replaces an older one, an older is ignored. A
/// version whose `modified` was clamped (it lay in the future) is replaced by any version
/// read after it: its own time says nothing.
fn upsert_sql(rows: usize) -> String {
    let values = vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?)"; rows].join(", ");
    format!(
        "INSERT INTO indicators
             (feed_id, id, modified, clamped, revoked, valid_from, valid_until, confidence, iocs)
         VALUES {values}
         ON CONFLICT (feed_id, id) DO UPDATE SET
             modified = excluded.modified, clamped = excluded.clamped,
             revoked = excluded.revoked, valid_from = excluded.valid_from,
             valid_until = excluded.valid_until, confidence = excluded.confidence,
             iocs = excluded.iocs
         WHERE excluded.modified > indicators.modified OR indicators.clamped"
    )
}

/// Timestamps are stored as microseconds since the epoch (UTC): cheap to write and compare.
fn stored_time(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// `ip|block|1.2.3.4` lines: compact, and read back without a JSON parser.
fn encode_iocs(iocs: &[(Ioc, ScanAction)], out: &mut String) {
    out.clear();
    for (ioc, action) in iocs {
        out.push_str(ioc.kind.udso_type());
        out.push('|');
        out.push_str(action.as_str());
        out.push('|');
        out.push_str(&ioc.value);
        out.push('\n');
    }
}

fn decode_iocs(text: &str) -> impl Iterator<Item = (Ioc, ScanAction)> + '_ {
    text.lines().filter_map(|line| {
        let mut parts = line.splitn(3, '|');
        let kind = IocKind::from_udso_type(parts.next()?)?;
        let action = match parts.next()? {
            "block" => ScanAction::Block,
            _ => ScanAction::Log,
        };
        let value = parts.next()?.to_owned();
        Some((Ioc { kind, value }, action))
    })
}

/// `feed_id IN (...)` for `feeds` (numbers the store made, so written inline).
fn feed_filter(feeds: &[FeedId]) -> String {
    let ids: Vec<String> = feeds.iter().map(|f| f.0.to_string()).collect();
    format!("feed_id IN ({})", ids.join(", "))
}

/// Runs `f` in a savepoint of its own: a transaction of its own outside one, nested in a
/// dry run's.
pub(crate) fn in_savepoint<T>(
    conn: &Connection,
    f: impl FnOnce() -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    conn.execute_batch("SAVEPOINT upgrade")?;
    match f() {
        Ok(value) => {
            conn.execute_batch("RELEASE upgrade")?;
            Ok(value)
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK TO upgrade; RELEASE upgrade");
            Err(e)
        }
    }
}

/// Faults injected into a schema upgrade by the tests: a step that fails (an error, as a
/// full disk gives), or the process killed there (`abort`, as SIGKILL does: the program
/// rolls nothing back). Nothing in a build that is not a test.
mod upgrade_fault {
    /// The environment variable that makes a test process die at the point it names.
    #[cfg(test)]
    pub const KILL_AT: &str = "APEX_IOC_SYNC_TEST_KILL_UPGRADE_AT";

    #[cfg(test)]
    thread_local! {
        /// The point at which the upgrade fails.
        pub static FAIL_AT: std::cell::Cell<Option<&'static str>> =
            const { std::cell::Cell::new(None) };
    }

    /// Fails, or dies, when a test asked for it at `point`.
    #[cfg(test)]
    pub fn at(point: &'static str) -> anyhow::Result<()> {
        if std::env::var(KILL_AT).is_ok_and(|p| p == point) {
            std::process::abort();
        }
        if FAIL_AT.with(|f| f.get()) == Some(point) {
            anyhow::bail!("injected fault at {point}");
        }
        Ok(())
    }

    #[cfg(not(test))]
    #[inline(always)]
    pub fn at(_point: &'static str) -> anyhow::Result<()> {
        Ok(())
    }
}

/// Opens the SQLite file at `path` with `flags`, for a file only its owner reads: with
/// `create`, a missing file is created first by this tool, `0600` on Unix and never through a
/// symbolic link ([`crate::files::open_private`]), and SQLite gives its `-wal` and `-shm`
/// files the database file's mode (`findCreateFileMode`, `unixOpenSharedMemory` in SQLite's
/// `os_unix.c`). A symbolic link at `path` is refused, and SQLite is told to refuse one too
/// (`SQLITE_OPEN_NOFOLLOW`: "the database filename is not allowed to contain a symbolic
/// link"). Since SQLite checks every part of the name, it is given the file in the folder's
/// canonical path on Unix: a link higher up (`/var` on macOS, a home folder on another
/// disk) is the administrator's, and allowed.
fn open_file(path: &Path, flags: OpenFlags, create: bool) -> anyhow::Result<Connection> {
    if create {
        match crate::files::open_private(
            path,
            std::fs::OpenOptions::new().write(true).create_new(true),
        ) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e.into()),
        }
    }
    crate::files::refuse_symlink(path)?;
    #[cfg(unix)]
    let path = &match path.file_name() {
        Some(name) => std::fs::canonicalize(crate::files::folder_of(path))?.join(name),
        None => path.to_owned(),
    };
    Ok(Connection::open_with_flags(
        path,
        flags | OpenFlags::SQLITE_OPEN_NOFOLLOW,
    )?)
}

impl StateStore {
    /// Opens (or creates) the store at `path`.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        Self::open_at(path, false)
    }

    /// Opens the store at `path` for a dry run: it reads what is stored, and everything the
    /// run writes (pages, cursors, an upgrade of an older schema) stays in one transaction
    /// that is never committed, so the file is left as it was. A missing file is not
    /// created: an empty store in memory stands in.
    pub fn open_dry_run(path: &Path) -> anyhow::Result<Self> {
        if !path.exists() {
            let mut store = Self::in_memory()?;
            store.path = path.to_owned();
            return Ok(store);
        }
        Self::open_at(path, true)
    }

    fn open_at(path: &Path, dry_run: bool) -> anyhow::Result<Self> {
        let conn = open_file(path, OpenFlags::default(), !dry_run)
            .with_context(|| format!("cannot open the state file {}", path.display()))?;
        let store = StateStore {
            conn,
            path: path.to_owned(),
            dry_run,
        };
        store.init().with_context(|| {
            format!(
                "the state file {} is not usable (move it away to start over from --days)",
                path.display()
            )
        })?;
        Ok(store)
    }

    /// An in-memory store (STIX bundle files, tests).
    pub fn in_memory() -> anyhow::Result<Self> {
        let store = StateStore {
            conn: Connection::open_in_memory()?,
            path: PathBuf::from(IN_MEMORY),
            dry_run: false,
        };
        store.init()?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn init(&self) -> anyhow::Result<()> {
        // Jobs of other tags may share the file: wait for one that is writing a page.
        self.conn.busy_timeout(BUSY_TIMEOUT)?;
        if self.dry_run {
            // The journal mode is a property of the file: a dry run leaves it alone. Its
            // transaction, never committed, holds the upgrade too.
            self.conn.execute_batch("BEGIN")?;
        } else {
            // WAL with NORMAL sync: a commit survives a crash of this process; a power loss
            // may lose the last pages, which the next run then reads again from the older
            // cursor. (Outside a transaction: SQLite changes the journal mode only there.)
            self.conn.pragma_update(None, "journal_mode", "WAL")?;
            self.conn.pragma_update(None, "synchronous", "NORMAL")?;
        }
        // A 16 MiB page cache and checkpoints every ~32 MiB of WAL: large feeds are written
        // in long runs of pages.
        self.conn.pragma_update(None, "cache_size", -16_384)?;
        self.conn
            .pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES)?;
        if self.dry_run {
            return self.upgrade();
        }
        // The whole upgrade (every step, every table, the version) is one transaction: a
        // kill, a full disk or an error anywhere in it leaves the file as it was, and the
        // next run upgrades it from there. IMMEDIATE takes the write lock before the version
        // is read, so two jobs opening one old file upgrade it once.
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        match self.upgrade() {
            Ok(()) => Ok(self.conn.execute_batch("COMMIT")?),
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }

    /// Brings the schema to [`SCHEMA_VERSION`], inside the caller's transaction.
    fn upgrade(&self) -> anyhow::Result<()> {
        let version: i64 = self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            bail!("it was written by a newer apex-ioc-sync (schema {version})");
        }
        if version == 1 {
            in_savepoint(&self.conn, || self.upgrade_from_schema_1())?;
            upgrade_fault::at("after-schema-2")?;
        }
        if (1..=2).contains(&version) {
            in_savepoint(&self.conn, || self.upgrade_from_schema_2())?;
        }
        self.conn.execute_batch(&schema("indicators"))?;
        lumu::create_tables(&self.conn)?;
        taxii::create_tables(&self.conn)?;
        journal::create_tables(&self.conn)?;
        watch::create_tables(&self.conn)?;
        upgrade_fault::at("before-user-version")?;
        self.conn
            .pragma_update(None, "user_version", SCHEMA_VERSION)?;
        Ok(())
    }

    /// Schema 1 kept times as RFC 3339 text; they become microseconds (schema 2), so that an
    /// upgraded job goes on from its cursor and keeps every indicator.
    fn upgrade_from_schema_1(&self) -> anyhow::Result<()> {
        self.conn.execute_batch(
            "CREATE TABLE indicators_v2 (
                 id TEXT PRIMARY KEY,
                 modified INTEGER NOT NULL,
                 revoked INTEGER NOT NULL,
                 valid_from INTEGER,
                 valid_until INTEGER,
                 iocs TEXT NOT NULL
             ) WITHOUT ROWID;",
        )?;
        {
            let mut read = self.conn.prepare(
                "SELECT id, modified, revoked, valid_from, valid_until, iocs FROM indicators",
            )?;
            let mut write = self
                .conn
                .prepare("INSERT INTO indicators_v2 VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?;
            let mut rows = read.query([])?;
            while let Some(row) = rows.next()? {
                let id: String = row.get(0)?;
                let micros = |column: usize| -> anyhow::Result<Option<i64>> {
                    let Some(text) = row.get::<_, Option<String>>(column)? else {
                        return Ok(None);
                    };
                    let time = DateTime::parse_from_rfc3339(&text)
                        .with_context(|| format!("indicator {id}: `{text}` is not a time"))?;
                    Ok(Some(stored_time(time.with_timezone(&Utc))))
                };
                let modified = micros(1)?.unwrap_or_default();
                let (valid_from, valid_until) = (micros(3)?, micros(4)?);
                let revoked: bool = row.get(2)?;
                let iocs: String = row.get(5)?;
                write.execute(params![
                    id,
                    modified,
                    revoked,
                    valid_from,
                    valid_until,
                    iocs
                ])?;
            }
        }
        self.conn.execute_batch(
            "DROP TABLE indicators;
             ALTER TABLE indicators_v2 RENAME TO indicators;",
        )?;
        tracing::info!("state file {} upgraded to schema 2", self.path.display());
        Ok(())
    }

    /// Schema 2 kept one set of indicators for the whole file and a cursor per feed. Each
    /// feed becomes a feed of no tag yet (the first job that reads it claims it, see
    /// [`StateStore::feed`]), and the indicators are the feed's. Which feed an indicator
    /// came from was not kept: with one feed (the usual job) that is exact; with several,
    /// every feed keeps a copy, so that nothing the job pushed is lost, and a feed's own
    /// versions replace the copies as they arrive.
    fn upgrade_from_schema_2(&self) -> anyhow::Result<()> {
        self.conn.execute_batch(&schema("indicators_v3"))?;
        self.conn.execute_batch(
            "INSERT INTO feeds (tag, feed, cursor) SELECT NULL, feed, added_after FROM cursors;
             INSERT INTO indicators_v3
                 SELECT f.feed_id, i.id, i.modified, 0, i.revoked, i.valid_from, i.valid_until,
                        NULL, i.iocs
                 FROM indicators i CROSS JOIN feeds f;",
        )?;
        let feeds: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM feeds", [], |r| r.get(0))?;
        let indicators: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM indicators", [], |r| r.get(0))?;
        self.conn.execute_batch(
            "DROP TABLE indicators;
             DROP TABLE cursors;
             ALTER TABLE indicators_v3 RENAME TO indicators;",
        )?;
        match feeds {
            0 if indicators > 0 => tracing::warn!(
                "state file {}: {indicators} indicators without a cursor were dropped in the upgrade to schema 3 \
                 (no feed to keep them under); the next run reads from --days",
                self.path.display()
            ),
            0 | 1 => {}
            _ => tracing::warn!(
                "state file {}: its {indicators} indicators came from {feeds} feeds, without a note of which; \
                 each feed keeps a copy after the upgrade to schema 3",
                self.path.display()
            ),
        }
        tracing::info!("state file {} upgraded to schema 3", self.path.display());
        Ok(())
    }

    /// Runs WAL checkpoints on a thread of their own, on a second connection, until the
    /// returned handle is stopped. With `synchronous=NORMAL` a checkpoint is where SQLite
    /// waits for the disk; done here, the pages of a large feed keep being committed
    /// meanwhile instead of waiting for it. A dry run's or an in-memory store has none.
    pub fn checkpoint_in_background(&self) -> anyhow::Result<BackgroundCheckpoints> {
        if self.path == Path::new(IN_MEMORY) || self.dry_run || !self.path.exists() {
            return Ok(BackgroundCheckpoints(None));
        }
        let reader = open_file(&self.path, OpenFlags::default(), false)?;
        // On commit only as a backstop, should the thread fall far behind.
        self.conn
            .pragma_update(None, "wal_autocheckpoint", WAL_BACKSTOP_PAGES)?;
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                stopped.recv_timeout(CHECKPOINT_INTERVAL)
            {
                // PASSIVE never blocks the writer; a failed one is retried next time.
                if let Err(e) = reader.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    tracing::debug!("background checkpoint: {e}");
                }
            }
        });
        Ok(BackgroundCheckpoints(Some((stop, thread))))
    }

    /// Back to checkpoints on commit.
    pub fn stop_background_checkpoints(&self, handle: BackgroundCheckpoints) -> anyhow::Result<()> {
        drop(handle);
        self.conn
            .pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES)?;
        Ok(())
    }

    /// The feed `feed` of the job tagged `tag`, made if new. A feed upgraded from schema 2
    /// (no tag yet) is claimed by the first job that asks for it.
    pub fn feed(&self, tag: &str, feed: &str) -> anyhow::Result<FeedId> {
        let find = |tag: Option<&str>| -> rusqlite::Result<Option<i64>> {
            self.conn
                .query_row(
                    "SELECT feed_id FROM feeds WHERE tag IS ?1 AND feed = ?2",
                    params![tag, feed],
                    |r| r.get(0),
                )
                .optional()
        };
        if let Some(id) = find(Some(tag))? {
            return Ok(FeedId(id));
        }
        if let Some(id) = find(None)? {
            self.conn.execute(
                "UPDATE feeds SET tag = ?1 WHERE feed_id = ?2",
                params![tag, id],
            )?;
            return Ok(FeedId(id));
        }
        self.conn.execute(
            "INSERT INTO feeds (tag, feed) VALUES (?1, ?2)",
            params![tag, feed],
        )?;
        Ok(FeedId(self.conn.last_insert_rowid()))
    }

    /// The cursor stored for `feed` (where its next run resumes), if any.
    pub fn cursor(&self, feed: FeedId) -> anyhow::Result<Option<String>> {
        Ok(self.conn.query_row(
            "SELECT cursor FROM feeds WHERE feed_id = ?1",
            [feed.0],
            |r| r.get(0),
        )?)
    }

    /// The date at which the server of `feed` did not move on in the last run, if it did
    /// not (see `source::taxii::paging`).
    pub fn stalled_at(&self, feed: FeedId) -> anyhow::Result<Option<String>> {
        Ok(self.conn.query_row(
            "SELECT stalled_at FROM feeds WHERE feed_id = ?1",
            [feed.0],
            |r| r.get(0),
        )?)
    }

    /// Notes (or, with `None`, clears) the date at which the server of `feed` did not move on.
    pub fn set_stalled_at(&self, feed: FeedId, at: Option<&str>) -> anyhow::Result<()> {
        self.conn.execute(
            "UPDATE feeds SET stalled_at = ?1 WHERE feed_id = ?2",
            params![at, feed.0],
        )?;
        Ok(())
    }

    /// Stores a page's indicators in `feed` (a newer version replaces an older one) and, in
    /// the same transaction, the cursor after the page.
    pub fn store_page(
        &mut self,
        feed: FeedId,
        indicators: &[IndicatorRecord],
        cursor: Option<&str>,
    ) -> anyhow::Result<Stored> {
        self.store_page_with(
            feed,
            indicators,
            PageEnd {
                cursor,
                ..PageEnd::default()
            },
        )
    }

    /// Stores a page's indicators in `feed` (a newer version replaces an older one) and, in
    /// the same transaction, what `end` says: the cursor after the page, whether it is held
    /// back, and the revoked and expired indicators to drop.
    pub fn store_page_with(
        &mut self,
        feed: FeedId,
        indicators: &[IndicatorRecord],
        end: PageEnd<'_>,
    ) -> anyhow::Result<Stored> {
        // A savepoint: a transaction of its own, or nested in a dry run's.
        let tx = self.conn.savepoint()?;
        let mut stored = Stored::default();
        if let Some(before) = end.prune_before {
            stored.pruned = tx.execute(
                "DELETE FROM indicators WHERE feed_id = ?1
                     AND ((revoked AND modified < ?2) OR valid_until < ?2)",
                params![feed.0, stored_time(before)],
            )?;
        }
        // Rows go in statements of ROWS_PER_UPSERT (the rest in one more): far fewer
        // statement runs for a page of a thousand.
        let mut encoded: Vec<String> = Vec::new();
        for chunk in indicators.chunks(ROWS_PER_UPSERT) {
            let mut upsert = tx.prepare_cached(&upsert_sql(chunk.len()))?;
            encoded.resize_with(chunk.len(), String::new);
            for (i, text) in chunk.iter().zip(&mut encoded) {
                encode_iocs(&i.iocs, text);
            }
            let mut column = 0;
            let mut bind = |value: &dyn rusqlite::ToSql| {
                column += 1;
                upsert.raw_bind_parameter(column, value)
            };
            for (i, iocs) in chunk.iter().zip(&encoded) {
                bind(&feed.0)?;
                bind(&i.id)?;
                bind(&stored_time(i.modified))?;
                bind(&i.clamped)?;
                bind(&i.revoked)?;
                bind(&i.valid_from.map(stored_time))?;
                bind(&i.valid_until.map(stored_time))?;
                bind(&i.confidence)?;
                bind(iocs)?;
            }
            let changed = upsert.raw_execute()?;
            stored.written += changed;
            stored.stale += chunk.len() - changed;
        }
        if let Some(cursor) = end.cursor {
            tx.execute(
                "UPDATE feeds SET cursor = ?1 WHERE feed_id = ?2",
                params![cursor, feed.0],
            )?;
            match end.clamped {
                Some((server_date, trusted)) => {
                    taxii::note_clamped(&tx, feed.0, server_date, trusted)?;
                }
                None => taxii::clear_clamped(&tx, feed.0)?,
            }
        }
        tx.commit()?;
        Ok(stored)
    }

    /// The IOCs of every indicator of `feeds` valid at `now` (not revoked, not before
    /// `valid_from`, not past `valid_until`) whose `confidence` is at least `min_confidence`
    /// (one without a confidence passes), newest version's, with the indicator's id as the
    /// reason and its `modified` as when it was seen; one entry per IOC (`block` wins; the
    /// newest sighting's time and reason stay). Other feeds' and other tags' indicators
    /// stay out.
    ///
    /// At most `per_kind` IOCs of each type are kept, the newest: the list holds no more
    /// than that, so a feed with millions of valid indicators costs memory for what can be
    /// pushed, not for all of it. The sightings left out are logged, and returned by type.
    /// IOCs `uncounted` names (those the exclusion policy will hold back) take no room: met
    /// while there is room, they are returned beside the `per_kind` others.
    pub fn desired(
        &self,
        feeds: &[FeedId],
        now: DateTime<Utc>,
        per_kind: usize,
        min_confidence: Option<u8>,
        uncounted: impl Fn(&Ioc) -> bool,
    ) -> anyhow::Result<(Vec<Desired>, BTreeMap<IocKind, usize>)> {
        let now = stored_time(now);
        let mut query = self.conn.prepare(&format!(
            "SELECT id, modified, iocs FROM indicators
             WHERE {} AND revoked = 0 AND iocs <> ''
               AND (valid_from IS NULL OR valid_from <= ?1)
               AND (valid_until IS NULL OR valid_until > ?1)
               AND (?2 IS NULL OR confidence IS NULL OR confidence >= ?2)
             ORDER BY modified DESC, id",
            feed_filter(feeds)
        ))?;
        let mut rows = query.query(params![now, min_confidence])?;
        let mut desired: Vec<Desired> = Vec::new();
        let mut index: HashMap<Ioc, usize> = HashMap::new();
        let mut kept: HashMap<IocKind, usize> = HashMap::new();
        let mut left_out: BTreeMap<IocKind, usize> = BTreeMap::new();
        while let Some(row) = rows.next()? {
            let id: String = row.get(0)?;
            let modified: i64 = row.get(1)?;
            let iocs: String = row.get(2)?;
            let seen = DateTime::from_timestamp_micros(modified).unwrap_or_default();
            for (ioc, scan_action) in decode_iocs(&iocs) {
                if let Some(&at) = index.get(&ioc) {
                    if scan_action == ScanAction::Block {
                        desired[at].scan_action = ScanAction::Block;
                    }
                    continue;
                }
                let count = kept.entry(ioc.kind).or_default();
                if *count >= per_kind {
                    *left_out.entry(ioc.kind).or_default() += 1;
                    continue;
                }
                // Asked only while there is room: past it, nothing more is kept anyway.
                if !uncounted(&ioc) {
                    *count += 1;
                }
                index.insert(ioc.clone(), desired.len());
                desired.push(Desired {
                    ioc,
                    scan_action,
                    reason: id.clone(),
                    seen,
                });
            }
        }
        for (kind, sightings) in &left_out {
            tracing::warn!(
                "more valid {kind} IOCs than the list holds ({per_kind}); the newest are pushed, \
                 {sightings} older sightings left out"
            );
        }
        Ok((desired, left_out))
    }

    /// Indicators stored for `feeds`, and how many of them are valid at `now`.
    pub fn counts(&self, feeds: &[FeedId], now: DateTime<Utc>) -> anyhow::Result<(u64, u64)> {
        let now = stored_time(now);
        Ok(self.conn.query_row(
            &format!(
                "SELECT COUNT(*), COALESCE(SUM(revoked = 0
                     AND (valid_from IS NULL OR valid_from <= ?1)
                     AND (valid_until IS NULL OR valid_until > ?1)), 0)
                 FROM indicators WHERE {}",
                feed_filter(feeds)
            ),
            [now],
            |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
        )?)
    }
}

/// The TAXII cursors of a job, as the metrics show them (see [`newest_cursor`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobCursors {
    /// The newest cursor among the job's feeds; a feed whose cursor is held back from a
    /// server date in the future counts with the last cursor taken from its server's own
    /// dates ([`taxii`]), which stays where it was while the server's dates run ahead.
    pub newest: DateTime<Utc>,
    /// The job's feeds whose cursor is held back from a server date in the future.
    pub clamped: usize,
}

/// The newest cursor (where the feed's next run resumes: the server's `date_added` after
/// the last stored page) among the feeds of the job tagged `tag` in the state file at
/// `path`, and how many are held back from a date in the future, read without changing the
/// file: it is opened read-only, so nothing is created, upgraded or journalled. `None` when
/// there is no file, no feed of that tag with a cursor, or the file is of a schema before
/// per-tag feeds (2 and older: the next real run upgrades it). An error names the file when
/// it cannot be read, was written by a newer version, or holds a cursor that is not an
/// RFC 3339 time.
pub fn newest_cursor(path: &Path, tag: &str) -> anyhow::Result<Option<JobCursors>> {
    if !path.exists() {
        return Ok(None);
    }
    let read = || -> anyhow::Result<Option<JobCursors>> {
        let conn = open_file(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            false,
        )?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            bail!("it was written by a newer apex-ioc-sync (schema {version})");
        }
        if version < SCHEMA_VERSION {
            return Ok(None);
        }
        let trusted = if taxii::has_table(&conn)? {
            "(SELECT trusted FROM taxii_clamped_cursors c WHERE c.feed_id = f.feed_id)"
        } else {
            "NULL"
        };
        let mut query = conn.prepare(&format!(
            "SELECT f.cursor, {trusted} FROM feeds f WHERE f.tag = ?1 AND f.cursor IS NOT NULL"
        ))?;
        let mut newest: Option<DateTime<Utc>> = None;
        let mut clamped = 0;
        let rows = query.query_map([tag], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
        })?;
        for row in rows {
            let (cursor, trusted) = row?;
            clamped += usize::from(trusted.is_some());
            let cursor = trusted.unwrap_or(cursor);
            let at = DateTime::parse_from_rfc3339(cursor.trim())
                .with_context(|| format!("the cursor `{cursor}` is not an RFC 3339 time"))?
                .with_timezone(&Utc);
            newest = newest.max(Some(at));
        }
        Ok(newest.map(|newest| JobCursors { newest, clamped }))
    };
    read().with_context(|| {
        format!(
            "cannot read the TAXII cursors of tag {tag} in the state file {}",
            path.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn record(id: &str, modified: &str, value: &str) -> IndicatorRecord {
        IndicatorRecord {
            id: id.into(),
            modified: t(modified),
            clamped: false,
            revoked: false,
            valid_from: None,
            valid_until: None,
            confidence: None,
            iocs: vec![(Ioc::new(IocKind::Domain, value).unwrap(), ScanAction::Block)],
        }
    }

    /// The feed `f` of the job tagged `taxii`.
    fn feed(store: &StateStore) -> FeedId {
        store.feed("taxii", "f").unwrap()
    }

    fn values_of(store: &StateStore, feeds: &[FeedId], now: &str, min: Option<u8>) -> Vec<String> {
        let mut v: Vec<String> = store
            .desired(feeds, t(now), usize::MAX, min, |_| false)
            .unwrap()
            .0
            .into_iter()
            .map(|d| d.ioc.value)
            .collect();
        v.sort();
        v
    }

    /// The desired values of feed `f` of tag `taxii`.
    fn values(store: &StateStore, now: &str) -> Vec<String> {
        values_of(store, &[feed(store)], now, None)
    }

    #[test]
    fn newest_version_wins_whatever_the_order() {
        let mut s = StateStore::in_memory().unwrap();
        let f = feed(&s);
        let newer = record("indicator--1", "2026-11-02T00:00:00.5Z", "new.example");
        let older = record("indicator--1", "2026-11-02T00:00:00.123Z", "old.example");
        assert_eq!(s.store_page(f, &[newer], None).unwrap().written, 1);
        assert_eq!(s.store_page(f, &[older], None).unwrap().stale, 1);
        assert_eq!(values(&s, "2026-11-23T00:00:00Z"), ["new.example"]);
    }

    #[test]
    fn a_clamped_version_gives_way_to_any_version_read_after_it() {
        let mut s = StateStore::in_memory().unwrap();
        let f = feed(&s);
        // Read at 2026-11-23 with a `modified` in 2099: clamped to the time it was read.
        let mut future = record("indicator--1", "2026-11-23T00:00:00Z", "future.example");
        future.clamped = true;
        s.store_page(f, &[future], None).unwrap();
        // A revocation made earlier than that moment, read later, still wins.
        let mut revoked = record("indicator--1", "2026-11-22T00:00:00Z", "future.example");
        revoked.revoked = true;
        assert_eq!(s.store_page(f, &[revoked], None).unwrap().written, 1);
        assert!(values(&s, "2026-11-24T00:00:00Z").is_empty());
        // Once replaced by a version of its own time, older versions are stale again.
        let older = record("indicator--1", "2026-11-21T00:00:00Z", "older.example");
        assert_eq!(s.store_page(f, &[older], None).unwrap().stale, 1);
    }

    #[test]
    fn min_confidence_leaves_out_lower_confidence_and_keeps_none() {
        let mut s = StateStore::in_memory().unwrap();
        let f = feed(&s);
        let with = |id: &str, value: &str, confidence: Option<u8>| IndicatorRecord {
            confidence,
            ..record(id, "2026-11-01T00:00:00Z", value)
        };
        s.store_page(
            f,
            &[
                with("indicator--1", "low.example", Some(20)),
                with("indicator--2", "high.example", Some(80)),
                with("indicator--3", "edge.example", Some(50)),
                with("indicator--4", "none.example", None),
            ],
            None,
        )
        .unwrap();
        let now = "2026-11-23T00:00:00Z";
        assert_eq!(
            values_of(&s, &[f], now, Some(50)),
            ["edge.example", "high.example", "none.example"]
        );
        assert_eq!(values_of(&s, &[f], now, None).len(), 4);
        assert_eq!(values_of(&s, &[f], now, Some(0)).len(), 4);
    }

    #[test]
    fn validity_window_and_revocation() {
        let mut s = StateStore::in_memory().unwrap();
        let f = feed(&s);
        let mut future = record("indicator--f", "2026-11-01T00:00:00Z", "future.example");
        future.valid_from = Some(t("2026-12-01T00:00:00Z"));
        let mut expired = record("indicator--e", "2026-11-01T00:00:00Z", "expired.example");
        expired.valid_until = Some(t("2026-11-10T00:00:00Z"));
        let live = record("indicator--l", "2026-11-01T00:00:00Z", "live.example");
        s.store_page(
            f,
            &[future, expired, live],
            Some("2026-11-01T00:00:00.000000Z"),
        )
        .unwrap();
        assert_eq!(
            values(&s, "2026-11-05T00:00:00Z"),
            ["expired.example", "live.example"]
        );
        assert_eq!(
            values(&s, "2026-12-02T00:00:00Z"),
            ["future.example", "live.example"]
        );
        assert_eq!(s.counts(&[f], t("2026-12-02T00:00:00Z")).unwrap(), (3, 2));
        let mut revoked = record("indicator--l", "2026-11-03T00:00:00Z", "live.example");
        revoked.revoked = true;
        s.store_page(f, &[revoked], None).unwrap();
        assert_eq!(values(&s, "2026-12-02T00:00:00Z"), ["future.example"]);
    }

    #[test]
    fn feeds_are_kept_apart_per_collection_and_per_tag() {
        let mut s = StateStore::in_memory().unwrap();
        let a = s
            .feed("taxii", "https://t.example/api1/collections/a/objects/")
            .unwrap();
        let b = s
            .feed("taxii", "https://t.example/api1/collections/b/objects/")
            .unwrap();
        let other = s
            .feed("trend", "https://t.example/api1/collections/a/objects/")
            .unwrap();
        assert!(a != b && a != other);
        assert_eq!(
            s.feed("taxii", "https://t.example/api1/collections/a/objects/")
                .unwrap(),
            a
        );
        // One indicator id in two feeds: each keeps its own version.
        s.store_page(
            a,
            &[record("indicator--1", "2026-11-01T00:00:00Z", "a.example")],
            Some("ca"),
        )
        .unwrap();
        s.store_page(
            b,
            &[record("indicator--2", "2026-11-01T00:00:00Z", "b.example")],
            Some("cb"),
        )
        .unwrap();
        s.store_page(
            other,
            &[record(
                "indicator--1",
                "2026-11-02T00:00:00Z",
                "other.example",
            )],
            Some("co"),
        )
        .unwrap();
        let now = "2026-11-23T00:00:00Z";
        // A collection dropped from --taxii-collection: only the chosen feeds are pushed.
        assert_eq!(values_of(&s, &[a], now, None), ["a.example"]);
        assert_eq!(
            values_of(&s, &[a, b], now, None),
            ["a.example", "b.example"]
        );
        // Another tag's job on the same file and collection: its own cursor and indicators.
        assert_eq!(values_of(&s, &[other], now, None), ["other.example"]);
        assert_eq!(s.cursor(a).unwrap().as_deref(), Some("ca"));
        assert_eq!(s.cursor(other).unwrap().as_deref(), Some("co"));
        assert_eq!(s.counts(&[a], t(now)).unwrap(), (1, 1));
        assert!(values_of(&s, &[], now, None).is_empty());
    }

    #[test]
    fn revoked_and_expired_indicators_are_dropped_after_the_grace_period() {
        let mut s = StateStore::in_memory().unwrap();
        let (f, g) = (feed(&s), s.feed("taxii", "g").unwrap());
        let now = t("2026-11-23T00:00:00Z");
        let days = |n: i64| now - chrono::TimeDelta::days(n);
        let revoked = |id: &str, modified: DateTime<Utc>| IndicatorRecord {
            revoked: true,
            modified,
            ..record(id, "2026-11-01T00:00:00Z", &format!("{id}.example"))
        };
        let expires = |id: &str, until: DateTime<Utc>| IndicatorRecord {
            valid_until: Some(until),
            ..record(id, "2026-11-01T00:00:00Z", &format!("{id}.example"))
        };
        let page = [
            record("valid", "2026-11-01T00:00:00Z", "valid.example"),
            revoked("revoked-long-ago", days(8)),
            revoked("revoked-lately", days(6)),
            expires("expired-long-ago", days(8)),
            expires("expired-lately", days(6)),
            expires("expires-later", now + chrono::TimeDelta::days(1)),
        ];
        s.store_page(f, &page, Some("c1")).unwrap();
        s.store_page(g, &page, Some("g1")).unwrap();
        let ids = |s: &StateStore, f: FeedId| -> Vec<String> {
            let mut q = s
                .conn
                .prepare("SELECT id FROM indicators WHERE feed_id = ?1 ORDER BY id")
                .unwrap();
            q.query_map([f.0], |r| r.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect()
        };
        let desired_before = values_of(&s, &[f], "2026-11-23T00:00:00Z", None);
        let stored = s
            .store_page_with(
                f,
                &[record("new", "2026-11-22T00:00:00Z", "new.example")],
                PageEnd {
                    cursor: Some("c2"),
                    clamped: None,
                    prune_before: Some(now - PRUNE_GRACE),
                },
            )
            .unwrap();
        assert_eq!((stored.pruned, stored.written), (2, 1));
        assert_eq!(
            ids(&s, f),
            [
                "expired-lately",
                "expires-later",
                "new",
                "revoked-lately",
                "valid"
            ]
        );
        // What is pushed is the same (plus the new one); another feed keeps its own.
        let mut desired_after = values_of(&s, &[f], "2026-11-23T00:00:00Z", None);
        desired_after.retain(|v| v != "new.example");
        assert_eq!(desired_after, desired_before);
        assert_eq!(ids(&s, g).len(), 6);
        assert_eq!(s.cursor(f).unwrap().as_deref(), Some("c2"));
    }

    #[test]
    fn the_newest_cursor_of_a_tag_is_read_without_changing_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        assert_eq!(newest_cursor(&path, "taxii").unwrap(), None);
        assert!(!path.exists(), "reading creates no file");
        // A store still open (its WAL in use) is read as committed.
        let mut s = StateStore::open(&path).unwrap();
        let (a, b) = (s.feed("taxii", "a").unwrap(), s.feed("taxii", "b").unwrap());
        let other = s.feed("other", "a").unwrap();
        assert_eq!(newest_cursor(&path, "taxii").unwrap(), None);
        s.store_page(a, &[], Some("2026-11-01T00:00:00.000000Z"))
            .unwrap();
        s.store_page(b, &[], Some("2026-11-02T10:00:00+02:00"))
            .unwrap();
        s.store_page(other, &[], Some("2026-11-20T00:00:00Z"))
            .unwrap();
        let cursors = |newest: &str, clamped: usize| {
            Some(JobCursors {
                newest: t(newest),
                clamped,
            })
        };
        assert_eq!(
            newest_cursor(&path, "taxii").unwrap(),
            cursors("2026-11-02T08:00:00Z", 0)
        );
        // A cursor held back from a server date in the future counts with its trusted
        // cursor, kept from the first time it was held back, and is counted.
        let held = |server_date, trusted| PageEnd {
            cursor: Some("2026-11-20T00:00:00.000000Z"),
            clamped: Some((server_date, trusted)),
            prune_before: None,
        };
        s.store_page_with(a, &[], held("2099-01-01T00:00:00Z", "2026-10-30T00:00:00Z"))
            .unwrap();
        s.store_page_with(a, &[], held("2099-01-02T00:00:00Z", "2026-11-20T00:00:00Z"))
            .unwrap();
        assert_eq!(
            newest_cursor(&path, "taxii").unwrap(),
            cursors("2026-11-02T08:00:00Z", 1)
        );
        s.store_page(b, &[], Some("2026-11-21T00:00:00Z")).unwrap();
        assert_eq!(
            newest_cursor(&path, "taxii").unwrap(),
            cursors("2026-11-21T00:00:00Z", 1)
        );
        // A cursor from the server's dates again: no longer held back.
        s.store_page(a, &[], Some("2026-11-22T00:00:00Z")).unwrap();
        assert_eq!(
            newest_cursor(&path, "taxii").unwrap(),
            cursors("2026-11-22T00:00:00Z", 0)
        );
        drop(s);
        let before = std::fs::read(&path).unwrap();
        assert_eq!(
            newest_cursor(&path, "other").unwrap(),
            cursors("2026-11-20T00:00:00Z", 0)
        );
        assert_eq!(newest_cursor(&path, "none").unwrap(), None);
        assert_eq!(std::fs::read(&path).unwrap(), before);
        // A file of this schema written before the table was added is read all the same.
        Connection::open(&path)
            .unwrap()
            .execute_batch("DROP TABLE taxii_clamped_cursors")
            .unwrap();
        assert_eq!(
            newest_cursor(&path, "other").unwrap(),
            cursors("2026-11-20T00:00:00Z", 0)
        );

        let s = StateStore::open(&path).unwrap();
        s.conn
            .execute("UPDATE feeds SET cursor = 'c3' WHERE tag = 'taxii'", [])
            .unwrap();
        let err = format!("{:#}", newest_cursor(&path, "taxii").unwrap_err());
        assert!(
            err.contains("the cursor `c3` is not an RFC 3339 time"),
            "{err}"
        );
        assert!(err.contains(&path.display().to_string()), "{err}");
    }

    #[test]
    fn cursors_and_stalls_are_per_feed_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        {
            let mut s = StateStore::open(&path).unwrap();
            let (a, b) = (s.feed("taxii", "a").unwrap(), s.feed("taxii", "b").unwrap());
            assert_eq!(s.cursor(a).unwrap(), None);
            s.store_page(
                a,
                &[record("indicator--1", "2026-11-01T00:00:00Z", "a.example")],
                Some("c1"),
            )
            .unwrap();
            s.store_page(b, &[], Some("c2")).unwrap();
            s.store_page(a, &[], Some("c3")).unwrap();
            s.set_stalled_at(b, Some("2026-11-01T00:00:03Z")).unwrap();
        }
        let s = StateStore::open(&path).unwrap();
        let (a, b) = (s.feed("taxii", "a").unwrap(), s.feed("taxii", "b").unwrap());
        assert_eq!(s.cursor(a).unwrap().as_deref(), Some("c3"));
        assert_eq!(s.cursor(b).unwrap().as_deref(), Some("c2"));
        assert_eq!(s.stalled_at(a).unwrap(), None);
        assert_eq!(
            s.stalled_at(b).unwrap().as_deref(),
            Some("2026-11-01T00:00:03Z")
        );
        s.set_stalled_at(b, None).unwrap();
        assert_eq!(s.stalled_at(b).unwrap(), None);
        assert_eq!(
            values_of(&s, &[a], "2026-11-23T00:00:00Z", None),
            ["a.example"]
        );
    }

    /// The file's bytes, for checking that nothing changed it.
    fn bytes(path: &Path) -> Vec<u8> {
        std::fs::read(path).unwrap()
    }

    #[test]
    fn a_dry_run_store_reads_what_is_stored_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        // No file: none is made, and the store works in memory.
        {
            let mut s = StateStore::open_dry_run(&path).unwrap();
            let f = feed(&s);
            s.store_page(
                f,
                &[record("indicator--1", "2026-11-01T00:00:00Z", "a.example")],
                Some("c"),
            )
            .unwrap();
            assert_eq!(values(&s, "2026-11-23T00:00:00Z"), ["a.example"]);
        }
        assert!(!path.exists(), "a dry run made the state file");
        {
            let mut s = StateStore::open(&path).unwrap();
            let f = feed(&s);
            s.store_page(
                f,
                &[record("indicator--1", "2026-11-01T00:00:00Z", "a.example")],
                Some("c1"),
            )
            .unwrap();
        }
        let before = bytes(&path);
        {
            let mut s = StateStore::open_dry_run(&path).unwrap();
            let f = feed(&s);
            let other = s.feed("taxii", "g").unwrap();
            assert_eq!(s.cursor(f).unwrap().as_deref(), Some("c1"));
            s.store_page(
                f,
                &[record("indicator--2", "2026-11-02T00:00:00Z", "b.example")],
                Some("c2"),
            )
            .unwrap();
            s.set_stalled_at(other, Some("x")).unwrap();
            // The run sees its own pages...
            assert_eq!(s.cursor(f).unwrap().as_deref(), Some("c2"));
            assert_eq!(
                values(&s, "2026-11-23T00:00:00Z"),
                ["a.example", "b.example"]
            );
            assert!(s.checkpoint_in_background().unwrap().0.is_none());
        }
        // ...and none of it stays.
        assert_eq!(bytes(&path), before);
        let s = StateStore::open(&path).unwrap();
        let f = feed(&s);
        assert_eq!(s.cursor(f).unwrap().as_deref(), Some("c1"));
        assert_eq!(values(&s, "2026-11-23T00:00:00Z"), ["a.example"]);
    }

    #[test]
    fn a_file_that_is_not_a_store_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        std::fs::write(
            &path,
            "this is not sqlite, it is a text file that is long enough",
        )
        .unwrap();
        let err = format!("{:#}", StateStore::open(&path).err().unwrap());
        assert!(
            err.contains("state.db") && err.contains("move it away"),
            "{err}"
        );
    }

    #[test]
    fn desired_keeps_the_newest_of_each_type_and_block_wins_over_older_sightings() {
        let mut s = StateStore::in_memory().unwrap();
        let f = feed(&s);
        let ip = |id: &str, day: u32, value: &str, action: ScanAction| IndicatorRecord {
            iocs: vec![(Ioc::new(IocKind::Ip, value).unwrap(), action)],
            ..record(id, &format!("2026-11-{day:02}T00:00:00Z"), "x.example")
        };
        let page = [
            ip("indicator--1", 1, "10.0.0.1", ScanAction::Log),
            ip("indicator--2", 2, "10.0.0.2", ScanAction::Log),
            ip("indicator--3", 3, "10.0.0.3", ScanAction::Log),
            // An older sighting of the newest ip, with block.
            ip("indicator--0", 1, "10.0.0.4", ScanAction::Block),
            ip("indicator--4", 4, "10.0.0.4", ScanAction::Log),
            record("indicator--d", "2026-11-01T00:00:00Z", "old.example"),
        ];
        s.store_page(f, &page, None).unwrap();
        let (desired, left_out) = s
            .desired(&[f], t("2026-11-23T00:00:00Z"), 2, None, |_| false)
            .unwrap();
        let got: Vec<String> = desired
            .iter()
            .map(|d| format!("{} {} {}", d.ioc, d.scan_action, d.reason))
            .collect();
        assert_eq!(
            got,
            [
                "ip 10.0.0.4 block indicator--4",
                "ip 10.0.0.3 log indicator--3",
                "domain old.example block indicator--d"
            ]
        );
        // 10.0.0.2 and 10.0.0.1 did not fit; 10.0.0.4's second sighting is no loss.
        assert_eq!(left_out, BTreeMap::from([(IocKind::Ip, 2)]));

        // An IOC the policy will hold back takes no room: 10.0.0.2 fits beside it.
        let excluded = |ioc: &Ioc| ioc.value == "10.0.0.4";
        let (desired, left_out) = s
            .desired(&[f], t("2026-11-23T00:00:00Z"), 2, None, excluded)
            .unwrap();
        let got: Vec<&str> = desired.iter().map(|d| d.ioc.value.as_str()).collect();
        assert_eq!(got, ["10.0.0.4", "10.0.0.3", "10.0.0.2", "old.example"]);
        assert_eq!(left_out, BTreeMap::from([(IocKind::Ip, 1)]));
    }

    /// What version 2 wrote: one set of indicators, a cursor per feed.
    const SCHEMA_2: &str = "
        CREATE TABLE cursors (feed TEXT PRIMARY KEY, added_after TEXT NOT NULL);
        CREATE TABLE indicators (id TEXT PRIMARY KEY, modified INTEGER NOT NULL,
            revoked INTEGER NOT NULL, valid_from INTEGER, valid_until INTEGER,
            iocs TEXT NOT NULL) WITHOUT ROWID;
        INSERT INTO indicators VALUES ('indicator--1', 1793577600500000, 0, NULL, NULL,
            'domain|block|kept.example
');
        PRAGMA user_version = 2;";

    /// A state file as version 1 wrote it (times as text), at `path`: feed `f` at cursor
    /// 2026-11-20, one indicator valid on 2026-11-23 (`kept.example`), one expired.
    fn write_schema_1(path: &Path) {
        Connection::open(path)
            .unwrap()
            .execute_batch(
                "CREATE TABLE cursors (feed TEXT PRIMARY KEY, added_after TEXT NOT NULL);
                 CREATE TABLE indicators (id TEXT PRIMARY KEY, modified TEXT NOT NULL,
                     revoked INTEGER NOT NULL, valid_from TEXT, valid_until TEXT,
                     iocs TEXT NOT NULL) WITHOUT ROWID;
                 INSERT INTO cursors VALUES ('f', '2026-11-20T00:00:00.000000Z');
                 INSERT INTO indicators VALUES ('indicator--1', '2026-11-02T00:00:00.500000Z', 0,
                     '2026-11-01T00:00:00.000000Z', '2026-12-01T00:00:00.000000Z',
                     'domain|block|kept.example
');
                 INSERT INTO indicators VALUES ('indicator--2', '2026-11-02T00:00:00.000000Z', 0,
                     '2026-11-01T00:00:00.000000Z', '2026-11-10T00:00:00.000000Z',
                     'domain|block|expired.example
');
                 PRAGMA user_version = 1;",
            )
            .unwrap();
    }

    /// The store at `path` upgraded from [`write_schema_1`] and usable: its cursor, its
    /// indicator, schema 3 on file, and a page stored after it.
    fn assert_upgraded_from_schema_1(path: &Path) {
        let mut s = StateStore::open(path).unwrap();
        assert_eq!(values(&s, "2026-11-23T00:00:00Z"), ["kept.example"]);
        let f = feed(&s);
        assert_eq!(
            s.cursor(f).unwrap().as_deref(),
            Some("2026-11-20T00:00:00.000000Z")
        );
        let newer = record("indicator--3", "2026-11-21T00:00:00Z", "new.example");
        assert_eq!(s.store_page(f, &[newer], Some("c")).unwrap().written, 1);
        drop(s);
        let version: i64 = Connection::open(path)
            .unwrap()
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
    }

    /// Where an upgrade from schema 1 can be cut: between its steps, and after every step
    /// and table but before the version is written.
    const UPGRADE_FAULTS: [&str; 2] = ["after-schema-2", "before-user-version"];

    #[test]
    fn a_failed_upgrade_leaves_the_file_as_it_was_and_the_next_run_upgrades_it() {
        for point in UPGRADE_FAULTS {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("state.db");
            write_schema_1(&path);
            upgrade_fault::FAIL_AT.with(|f| f.set(Some(point)));
            let failed = StateStore::open(&path).err().map(|e| format!("{e:#}"));
            upgrade_fault::FAIL_AT.with(|f| f.set(None));
            let failed = failed.expect("the injected fault fails the open");
            assert!(failed.contains("injected fault"), "{point}: {failed}");
            // Nothing of the upgrade was kept: the next run upgrades the file whole.
            let version: i64 = Connection::open(&path)
                .unwrap()
                .pragma_query_value(None, "user_version", |r| r.get(0))
                .unwrap();
            assert_eq!(version, 1, "{point}");
            assert_upgraded_from_schema_1(&path);
        }
    }

    /// Run by [`a_kill_during_an_upgrade_leaves_a_file_the_next_run_upgrades`] in a process
    /// of its own, which dies at the point it is given.
    #[test]
    #[ignore = "a child process of a_kill_during_an_upgrade_leaves_a_file_the_next_run_upgrades"]
    fn upgrade_killed_child() {
        let path = std::env::var_os("APEX_IOC_SYNC_TEST_STATE_FILE").expect("run by its parent");
        let _ = StateStore::open(Path::new(&path));
    }

    #[test]
    fn a_kill_during_an_upgrade_leaves_a_file_the_next_run_upgrades() {
        for point in UPGRADE_FAULTS {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("state.db");
            write_schema_1(&path);
            // This test binary again, running only the child, which aborts at `point`: no
            // rollback by the program, as under SIGKILL.
            let status = std::process::Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "state::tests::upgrade_killed_child", "--ignored"])
                .args(["--test-threads", "1", "--nocapture"])
                .env(upgrade_fault::KILL_AT, point)
                .env("APEX_IOC_SYNC_TEST_STATE_FILE", &path)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .unwrap();
            assert!(!status.success(), "{point}: the child died at the point");
            assert_upgraded_from_schema_1(&path);
        }
    }

    #[test]
    fn a_store_of_schema_1_is_upgraded_and_a_newer_one_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        write_schema_1(&path);
        let mut s = StateStore::open(&path).unwrap();
        assert_eq!(values(&s, "2026-11-23T00:00:00Z"), ["kept.example"]);
        let f = feed(&s);
        assert_eq!(
            s.cursor(f).unwrap().as_deref(),
            Some("2026-11-20T00:00:00.000000Z")
        );
        // Versions compare as before: an older one does not replace the upgraded row.
        let older = record("indicator--1", "2026-11-02T00:00:00.4Z", "older.example");
        assert_eq!(s.store_page(f, &[older], None).unwrap().stale, 1);
        drop(s);

        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", 4)
            .unwrap();
        let err = format!("{:#}", StateStore::open(&path).err().unwrap());
        assert!(err.contains("newer apex-ioc-sync (schema 4)"), "{err}");
    }

    #[test]
    fn a_store_of_schema_2_is_upgraded_into_the_feed_of_the_job_that_reads_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch(&format!(
                "{SCHEMA_2} INSERT INTO cursors VALUES ('f', '2026-11-20T00:00:00.000000Z');"
            ))
            .unwrap();
        // A dry run upgrades in its transaction only: the file stays schema 2.
        let before = bytes(&path);
        {
            let s = StateStore::open_dry_run(&path).unwrap();
            assert_eq!(values(&s, "2026-11-23T00:00:00Z"), ["kept.example"]);
        }
        assert_eq!(bytes(&path), before);
        let mut s = StateStore::open(&path).unwrap();
        // The first job to ask for the feed claims it, with its cursor and indicators.
        let f = feed(&s);
        assert_eq!(
            s.cursor(f).unwrap().as_deref(),
            Some("2026-11-20T00:00:00.000000Z")
        );
        assert_eq!(values(&s, "2026-11-23T00:00:00Z"), ["kept.example"]);
        // Another tag on the same feed starts over, with nothing of the first job's.
        let other = s.feed("trend", "f").unwrap();
        assert_eq!(s.cursor(other).unwrap(), None);
        assert!(values_of(&s, &[other], "2026-11-23T00:00:00Z", None).is_empty());
        let older = record("indicator--1", "2026-11-02T00:00:00.4Z", "older.example");
        assert_eq!(s.store_page(f, &[older], None).unwrap().stale, 1);
        drop(s);
        let version: i64 = Connection::open(&path)
            .unwrap()
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
    }

    #[test]
    fn a_store_of_schema_2_with_several_feeds_keeps_a_copy_in_each() {
        let s = StateStore::in_memory().unwrap();
        s.conn
            .execute_batch("DROP TABLE feeds; DROP TABLE indicators; PRAGMA user_version = 0;")
            .unwrap();
        s.conn
            .execute_batch(&format!(
                "{SCHEMA_2} INSERT INTO cursors VALUES ('a', 'ca'), ('b', 'cb');"
            ))
            .unwrap();
        s.init().unwrap();
        let (a, b) = (s.feed("taxii", "a").unwrap(), s.feed("taxii", "b").unwrap());
        let now = "2026-11-23T00:00:00Z";
        assert_eq!(values_of(&s, &[a], now, None), ["kept.example"]);
        assert_eq!(values_of(&s, &[b], now, None), ["kept.example"]);
        assert_eq!(s.cursor(b).unwrap().as_deref(), Some("cb"));
    }

    #[test]
    fn a_long_page_with_versions_of_one_indicator_in_any_order() {
        let mut s = StateStore::in_memory().unwrap();
        let f = feed(&s);
        // More rows than one statement takes, and two versions of one indicator in the page.
        let mut page: Vec<IndicatorRecord> = (0..250)
            .map(|n| {
                record(
                    &format!("indicator--{n}"),
                    "2026-11-01T00:00:00Z",
                    &format!("d{n}.example"),
                )
            })
            .collect();
        page.push(record(
            "indicator--7",
            "2026-11-02T00:00:00Z",
            "newer.example",
        ));
        page.push(record(
            "indicator--7",
            "2026-10-01T00:00:00Z",
            "older.example",
        ));
        let stored = s.store_page(f, &page, Some("cursor")).unwrap();
        assert_eq!((stored.written, stored.stale), (251, 1));
        let values = values(&s, "2026-11-23T00:00:00Z");
        assert_eq!(values.len(), 250);
        assert!(values.contains(&"newer.example".to_owned()));
        assert!(!values.contains(&"d7.example".to_owned()));
    }

    #[test]
    fn pages_committed_during_background_checkpoints_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let mut s = StateStore::open(&path).unwrap();
        let f = feed(&s);
        let checkpoints = s.checkpoint_in_background().unwrap();
        for page in 0..20 {
            let records: Vec<IndicatorRecord> = (0..50)
                .map(|n| {
                    record(
                        &format!("indicator--{page}-{n}"),
                        "2026-11-01T00:00:00Z",
                        &format!("p{page}n{n}.example"),
                    )
                })
                .collect();
            s.store_page(f, &records, Some(&format!("c{page}")))
                .unwrap();
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        s.stop_background_checkpoints(checkpoints).unwrap();
        drop(s);
        let s = StateStore::open(&path).unwrap();
        assert_eq!(values(&s, "2026-11-23T00:00:00Z").len(), 1000);
        assert_eq!(s.cursor(feed(&s)).unwrap().as_deref(), Some("c19"));
    }

    #[test]
    fn ioc_lines_round_trip() {
        let iocs = vec![
            (
                Ioc::new(IocKind::Url, "http://x.example/a|b").unwrap(),
                ScanAction::Log,
            ),
            (Ioc::new(IocKind::Ip, "1.2.3.4").unwrap(), ScanAction::Block),
        ];
        let mut text = "stale".to_owned();
        encode_iocs(&iocs, &mut text);
        let back: Vec<_> = decode_iocs(&text).collect();
        assert_eq!(back, iocs);
    }
}
