//! The state of incremental sources: an embedded SQLite store holding, per feed (TAXII API
//! root and collection), the cursor (the server's last `date_added`), and every indicator's
//! newest version with the IOCs extracted from it.
//!
//! A page of objects and the cursor after it are committed in one transaction, so a run that
//! dies halfway loses nothing and duplicates nothing: the next run resumes after the last
//! stored page.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use crate::apex::udso::ScanAction;
use crate::ioc::{Ioc, IocKind};
use crate::source::Desired;

/// The layout this version writes; schema 1 is upgraded, a newer store is refused, not
/// guessed at.
const SCHEMA_VERSION: i64 = 2;

/// One indicator version, as it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndicatorRecord {
    pub id: String,
    pub modified: DateTime<Utc>,
    pub revoked: bool,
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_until: Option<DateTime<Utc>>,
    pub iocs: Vec<(Ioc, ScanAction)>,
}

/// What storing a page did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    /// New indicators, or newer versions of known ones.
    pub written: usize,
    /// Versions not newer than the one already stored.
    pub stale: usize,
}

/// The store, open.
pub struct StateStore {
    conn: Connection,
    path: PathBuf,
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

/// The indicators table of this schema, as `CREATE TABLE <name> ...`.
fn indicators_table(name: &str) -> String {
    format!(
        "CREATE TABLE {name} (
             id TEXT PRIMARY KEY,
             modified INTEGER NOT NULL,
             revoked INTEGER NOT NULL,
             valid_from INTEGER,
             valid_until INTEGER,
             iocs TEXT NOT NULL
         ) WITHOUT ROWID;"
    )
}

/// Indicators written by one statement.
const ROWS_PER_UPSERT: usize = 100;

/// Upserts `rows` indicators; a newer version replaces an older one, an older is ignored.
fn upsert_sql(rows: usize) -> String {
    let values = vec!["(?, ?, ?, ?, ?, ?)"; rows].join(", ");
    format!(
        "INSERT INTO indicators (id, modified, revoked, valid_from, valid_until, iocs)
         VALUES {values}
         ON CONFLICT (id) DO UPDATE SET
             modified = excluded.modified, revoked = excluded.revoked,
             valid_from = excluded.valid_from, valid_until = excluded.valid_until,
             iocs = excluded.iocs
         WHERE excluded.modified > indicators.modified"
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

impl StateStore {
    /// Opens (or creates) the store at `path`.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let conn = Connection::open(path)
            .with_context(|| format!("cannot open the state file {}", path.display()))?;
        let store = StateStore {
            conn,
            path: path.to_owned(),
        };
        store.init().with_context(|| {
            format!(
                "the state file {} is not usable (move it away to start over from --days)",
                path.display()
            )
        })?;
        Ok(store)
    }

    /// An in-memory store, for tests.
    pub fn in_memory() -> anyhow::Result<Self> {
        let store = StateStore {
            conn: Connection::open_in_memory()?,
            path: PathBuf::from(IN_MEMORY),
        };
        store.init()?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn init(&self) -> anyhow::Result<()> {
        // WAL with NORMAL sync: a commit survives a crash of this process; a power loss may
        // lose the last pages, which the next run then reads again from the older cursor.
        self.conn.pragma_update(None, "journal_mode", "WAL")?;
        self.conn.pragma_update(None, "synchronous", "NORMAL")?;
        // A 16 MiB page cache and checkpoints every ~32 MiB of WAL: large feeds are written
        // in long runs of pages.
        self.conn.pragma_update(None, "cache_size", -16_384)?;
        self.conn
            .pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES)?;
        let version: i64 = self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            bail!("it was written by a newer apex-ioc-sync (schema {version})");
        }
        if version == 1 {
            self.upgrade_from_schema_1()?;
        }
        self.conn.execute_batch(&format!(
            "CREATE TABLE IF NOT EXISTS cursors (
                 feed TEXT PRIMARY KEY,
                 added_after TEXT NOT NULL
             );
             {}",
            indicators_table("IF NOT EXISTS indicators")
        ))?;
        self.conn
            .pragma_update(None, "user_version", SCHEMA_VERSION)?;
        Ok(())
    }

    /// Schema 1 kept times as RFC 3339 text; they become microseconds, in one transaction,
    /// so that an upgraded job goes on from its cursor and keeps every indicator.
    fn upgrade_from_schema_1(&self) -> anyhow::Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        tx.execute_batch(&indicators_table("indicators_v2"))?;
        {
            let mut read = tx.prepare(
                "SELECT id, modified, revoked, valid_from, valid_until, iocs FROM indicators",
            )?;
            let mut write =
                tx.prepare("INSERT INTO indicators_v2 VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?;
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
        tx.execute_batch(
            "DROP TABLE indicators;
             ALTER TABLE indicators_v2 RENAME TO indicators;
             PRAGMA user_version = 2;",
        )?;
        tx.commit()?;
        tracing::info!("state file {} upgraded to schema 2", self.path.display());
        Ok(())
    }

    /// Runs WAL checkpoints on a thread of their own, on a second connection, until the
    /// returned handle is stopped. With `synchronous=NORMAL` a checkpoint is where SQLite
    /// waits for the disk; done here, the pages of a large feed keep being committed
    /// meanwhile instead of waiting for it.
    pub fn checkpoint_in_background(&self) -> anyhow::Result<BackgroundCheckpoints> {
        if self.path == Path::new(IN_MEMORY) {
            return Ok(BackgroundCheckpoints(None));
        }
        let reader = Connection::open(&self.path)?;
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

    /// The server's last `date_added` stored for `feed`, if any.
    pub fn cursor(&self, feed: &str) -> anyhow::Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT added_after FROM cursors WHERE feed = ?1",
                [feed],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Stores a page's indicators (a newer version replaces an older one) and, in the same
    /// transaction, the cursor after the page.
    pub fn store_page(
        &mut self,
        feed: &str,
        indicators: &[IndicatorRecord],
        cursor: Option<&str>,
    ) -> anyhow::Result<Stored> {
        let tx = self.conn.transaction()?;
        let mut stored = Stored::default();
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
                bind(&i.id)?;
                bind(&stored_time(i.modified))?;
                bind(&i.revoked)?;
                bind(&i.valid_from.map(stored_time))?;
                bind(&i.valid_until.map(stored_time))?;
                bind(iocs)?;
            }
            let changed = upsert.raw_execute()?;
            stored.written += changed;
            stored.stale += chunk.len() - changed;
        }
        if let Some(cursor) = cursor {
            tx.execute(
                "INSERT INTO cursors (feed, added_after) VALUES (?1, ?2)
                 ON CONFLICT (feed) DO UPDATE SET added_after = excluded.added_after",
                params![feed, cursor],
            )?;
        }
        tx.commit()?;
        Ok(stored)
    }

    /// The IOCs of every indicator valid at `now` (not revoked, not before `valid_from`, not
    /// past `valid_until`), newest version's, with the indicator's id as the reason and its
    /// `modified` as when it was seen; one entry per IOC (`block` wins; the newest
    /// sighting's time and reason stay).
    ///
    /// At most `per_kind` IOCs of each type are kept, the newest: the list holds no more
    /// than that, so a feed with millions of valid indicators costs memory for what can be
    /// pushed, not for all of it. The sightings left out are logged, and returned by type.
    /// IOCs `uncounted` names (those the exclusion policy will hold back) take no room: met
    /// while there is room, they are returned beside the `per_kind` others.
    pub fn desired(
        &self,
        now: DateTime<Utc>,
        per_kind: usize,
        uncounted: impl Fn(&Ioc) -> bool,
    ) -> anyhow::Result<(Vec<Desired>, BTreeMap<IocKind, usize>)> {
        let now = stored_time(now);
        let mut query = self.conn.prepare(
            "SELECT id, modified, iocs FROM indicators
             WHERE revoked = 0 AND iocs <> ''
               AND (valid_from IS NULL OR valid_from <= ?1)
               AND (valid_until IS NULL OR valid_until > ?1)
             ORDER BY modified DESC, id",
        )?;
        let mut rows = query.query([now])?;
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

    /// Indicators stored, and how many of them are valid at `now`.
    pub fn counts(&self, now: DateTime<Utc>) -> anyhow::Result<(u64, u64)> {
        let now = stored_time(now);
        Ok(self.conn.query_row(
            "SELECT COUNT(*), COALESCE(SUM(revoked = 0
                 AND (valid_from IS NULL OR valid_from <= ?1)
                 AND (valid_until IS NULL OR valid_until > ?1)), 0)
             FROM indicators",
            [now],
            |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
        )?)
    }
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
            revoked: false,
            valid_from: None,
            valid_until: None,
            iocs: vec![(Ioc::new(IocKind::Domain, value).unwrap(), ScanAction::Block)],
        }
    }

    fn values(store: &StateStore, now: &str) -> Vec<String> {
        let mut v: Vec<String> = store
            .desired(t(now), usize::MAX, |_| false)
            .unwrap()
            .0
            .into_iter()
            .map(|d| d.ioc.value)
            .collect();
        v.sort();
        v
    }

    #[test]
    fn newest_version_wins_whatever_the_order() {
        let mut s = StateStore::in_memory().unwrap();
        let newer = record("indicator--1", "2026-11-02T00:00:00.5Z", "new.example");
        let older = record("indicator--1", "2026-11-02T00:00:00.123Z", "old.example");
        assert_eq!(s.store_page("f", &[newer], None).unwrap().written, 1);
        assert_eq!(s.store_page("f", &[older], None).unwrap().stale, 1);
        assert_eq!(values(&s, "2026-11-23T00:00:00Z"), ["new.example"]);
    }

    #[test]
    fn validity_window_and_revocation() {
        let mut s = StateStore::in_memory().unwrap();
        let mut future = record("indicator--f", "2026-11-01T00:00:00Z", "future.example");
        future.valid_from = Some(t("2026-12-01T00:00:00Z"));
        let mut expired = record("indicator--e", "2026-11-01T00:00:00Z", "expired.example");
        expired.valid_until = Some(t("2026-11-10T00:00:00Z"));
        let live = record("indicator--l", "2026-11-01T00:00:00Z", "live.example");
        s.store_page(
            "f",
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
        assert_eq!(s.counts(t("2026-12-02T00:00:00Z")).unwrap(), (3, 2));
        let mut revoked = record("indicator--l", "2026-11-03T00:00:00Z", "live.example");
        revoked.revoked = true;
        s.store_page("f", &[revoked], None).unwrap();
        assert_eq!(values(&s, "2026-12-02T00:00:00Z"), ["future.example"]);
    }

    #[test]
    fn cursors_are_per_feed_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        {
            let mut s = StateStore::open(&path).unwrap();
            assert_eq!(s.cursor("a").unwrap(), None);
            s.store_page(
                "a",
                &[record("indicator--1", "2026-11-01T00:00:00Z", "a.example")],
                Some("c1"),
            )
            .unwrap();
            s.store_page("b", &[], Some("c2")).unwrap();
            s.store_page("a", &[], Some("c3")).unwrap();
        }
        let s = StateStore::open(&path).unwrap();
        assert_eq!(s.cursor("a").unwrap().as_deref(), Some("c3"));
        assert_eq!(s.cursor("b").unwrap().as_deref(), Some("c2"));
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
        s.store_page("f", &page, None).unwrap();
        let (desired, left_out) = s.desired(t("2026-11-23T00:00:00Z"), 2, |_| false).unwrap();
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
        let (desired, left_out) = s.desired(t("2026-11-23T00:00:00Z"), 2, excluded).unwrap();
        let got: Vec<&str> = desired.iter().map(|d| d.ioc.value.as_str()).collect();
        assert_eq!(got, ["10.0.0.4", "10.0.0.3", "10.0.0.2", "old.example"]);
        assert_eq!(left_out, BTreeMap::from([(IocKind::Ip, 1)]));
    }

    #[test]
    fn a_store_of_schema_1_is_upgraded_and_a_newer_one_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        {
            // What version 1 wrote: times as text.
            let old = Connection::open(&path).unwrap();
            old.execute_batch(
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
        let mut s = StateStore::open(&path).unwrap();
        assert_eq!(values(&s, "2026-11-23T00:00:00Z"), ["kept.example"]);
        assert_eq!(
            s.cursor("f").unwrap().as_deref(),
            Some("2026-11-20T00:00:00.000000Z")
        );
        // Versions compare as before: an older one does not replace the upgraded row.
        let older = record("indicator--1", "2026-11-02T00:00:00.4Z", "older.example");
        assert_eq!(s.store_page("f", &[older], None).unwrap().stale, 1);
        drop(s);

        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", 3)
            .unwrap();
        let err = format!("{:#}", StateStore::open(&path).err().unwrap());
        assert!(err.contains("newer apex-ioc-sync (schema 3)"), "{err}");
    }

    #[test]
    fn a_long_page_with_versions_of_one_indicator_in_any_order() {
        let mut s = StateStore::in_memory().unwrap();
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
        let stored = s.store_page("f", &page, Some("cursor")).unwrap();
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
            s.store_page("f", &records, Some(&format!("c{page}")))
                .unwrap();
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        s.stop_background_checkpoints(checkpoints).unwrap();
        drop(s);
        let s = StateStore::open(&path).unwrap();
        assert_eq!(values(&s, "2026-11-23T00:00:00Z").len(), 1000);
        assert_eq!(s.cursor("f").unwrap().as_deref(), Some("c19"));
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
