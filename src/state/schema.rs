//! The store's schema and its upgrades: the tables this version writes, and schemas 1 and 2
//! brought to it in place, in one transaction (a kill, a full disk or an error anywhere in
//! it leaves the file as it was).

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use rusqlite::params;

use super::{StateStore, in_savepoint, journal, lumu, stored_time, taxii, watch};

/// The layout this version writes; schemas 1 and 2 are upgraded, a newer store is refused,
/// not guessed at.
pub(super) const SCHEMA_VERSION: i64 = 3;

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

impl StateStore {
    /// Brings the schema to [`SCHEMA_VERSION`], inside the caller's transaction.
    pub(super) fn upgrade(&self) -> anyhow::Result<()> {
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
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use rusqlite::Connection;

    use super::*;
    use crate::state::tests::{bytes, feed, record, values, values_of};

    /// Where an upgrade from schema 1 can be cut: between its steps, and after every step
    /// and table but before the version is written.
    const UPGRADE_FAULTS: [&str; 2] = ["after-schema-2", "before-user-version"];

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
                .args([
                    "--exact",
                    "state::schema::tests::upgrade_killed_child",
                    "--ignored",
                ])
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
}
