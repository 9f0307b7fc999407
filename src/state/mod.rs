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
//!
//! By file: [`StateStore`] here (opening a file, a dry run's store, the WAL and its
//! checkpoints); `schema.rs`, the tables and the upgrades of older schemas;
//! `indicators.rs`, feeds, their cursors and indicators (pages stored, the desired set
//! selected); `cursors.rs`, a job's cursors read for the metrics.

pub mod journal;
pub mod lumu;
pub mod taxii;
pub mod watch;

mod cursors;
mod indicators;
mod schema;

use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags};

pub use crate::stix::indicator::IndicatorRecord;
pub use cursors::{JobCursors, newest_cursor};
pub use indicators::{FeedId, PRUNE_GRACE, PageEnd, Stored};

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

/// Timestamps are stored as microseconds since the epoch (UTC): cheap to write and compare.
fn stored_time(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ioc::{Ioc, IocKind};
    use crate::model::ScanAction;

    pub(super) fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    pub(super) fn record(id: &str, modified: &str, value: &str) -> IndicatorRecord {
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
    pub(super) fn feed(store: &StateStore) -> FeedId {
        store.feed("taxii", "f").unwrap()
    }

    pub(super) fn values_of(
        store: &StateStore,
        feeds: &[FeedId],
        now: &str,
        min: Option<u8>,
    ) -> Vec<String> {
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
    pub(super) fn values(store: &StateStore, now: &str) -> Vec<String> {
        values_of(store, &[feed(store)], now, None)
    }

    /// The file's bytes, for checking that nothing changed it.
    pub(super) fn bytes(path: &Path) -> Vec<u8> {
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
}
