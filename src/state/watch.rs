//! What `watch` keeps of Lumu's incident stream, per job tag, in the same state file as the
//! Lumu context cache ([`super::lumu`]):
//!
//! - `lumu_watch`: the journal offset to ask for next (every event before it has been applied
//!   to the list), and when the last full sync ended;
//! - `lumu_watch_incidents`: the incidents the job wants (open, or of the chosen statuses and
//!   adversary types, in the window), as the last full sync listed them and the stream has
//!   changed them since: the fields of each incident this tool reads, as Lumu wrote them.
//!
//! The two change together: a batch of events commits its incidents and the offset after
//! it in one transaction, after the batch's writes to the destination, so a process that is
//! killed before the commit applies the same batch again when it starts (the writes are
//! idempotent) and never skips an event.

use std::collections::HashMap;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::{StateStore, in_savepoint, stored_time};
use crate::model::lumu::Incident;

/// Where a job's stream stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamPosition {
    /// The offset to ask Lumu's journal for next.
    pub offset: u64,
    /// When the last full sync of the job ended, if one has.
    pub reconciled_at: Option<DateTime<Utc>>,
}

/// Creates the tables if they are missing; called when a store is opened.
pub(super) fn create_tables(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS lumu_watch (
             tag TEXT PRIMARY KEY,
             journal_offset INTEGER NOT NULL,
             reconciled_at INTEGER,
             committed_at INTEGER NOT NULL
         ) WITHOUT ROWID;
         CREATE TABLE IF NOT EXISTS lumu_watch_incidents (
             tag TEXT NOT NULL,
             incident TEXT NOT NULL,
             document TEXT NOT NULL,
             PRIMARY KEY (tag, incident)
         ) WITHOUT ROWID;",
    )
}

/// How the incidents a job wants changed: `Some` (re)stores an incident, `None` forgets it.
pub type IncidentChanges = HashMap<String, Option<Incident>>;

impl StateStore {
    /// Where the stream of `tag` stands; `None` before its first commit.
    pub fn stream_position(&self, tag: &str) -> anyhow::Result<Option<StreamPosition>> {
        let row = self
            .conn
            .query_row(
                "SELECT journal_offset, reconciled_at FROM lumu_watch WHERE tag = ?1",
                [tag],
                |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Option<i64>>(1)?)),
            )
            .optional()?;
        Ok(row.map(|(offset, reconciled)| StreamPosition {
            offset: offset.max(0) as u64,
            reconciled_at: reconciled.and_then(DateTime::from_timestamp_micros),
        }))
    }

    /// The incidents `tag` wants, by id.
    pub fn watched_incidents(&self, tag: &str) -> anyhow::Result<HashMap<String, Incident>> {
        let mut query = self
            .conn
            .prepare("SELECT incident, document FROM lumu_watch_incidents WHERE tag = ?1")?;
        let mut rows = query.query([tag])?;
        let mut incidents = HashMap::new();
        while let Some(row) = rows.next()? {
            let id: String = row.get(0)?;
            let text: String = row.get(1)?;
            let incident: Incident = serde_json::from_str(&text).with_context(|| {
                format!(
                    "the stored Lumu incident {id} in {} is not readable (move the state file \
                     away: watch then starts over with a full sync)",
                    self.path.display()
                )
            })?;
            incidents.insert(id, incident);
        }
        Ok(incidents)
    }

    /// Commits a batch of the stream: the incidents it changed and the offset after it, in
    /// one transaction.
    pub fn commit_stream_batch(
        &self,
        tag: &str,
        changes: &IncidentChanges,
        offset: u64,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        in_savepoint(&self.conn, || {
            self.apply_changes(tag, changes)?;
            self.conn
                .prepare_cached(
                    "INSERT INTO lumu_watch (tag, journal_offset, reconciled_at, committed_at)
                     VALUES (?1, ?2, NULL, ?3)
                     ON CONFLICT (tag) DO UPDATE SET
                         journal_offset = excluded.journal_offset,
                         committed_at = excluded.committed_at",
                )?
                .execute(params![tag, offset_value(offset)?, stored_time(now)])?;
            Ok(())
        })
    }

    /// Commits a full sync: the incidents it listed replace the stored ones, the offset is
    /// set to `offset`, and the sync's end is recorded.
    pub fn commit_reconcile(
        &self,
        tag: &str,
        listed: &[Incident],
        offset: u64,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        in_savepoint(&self.conn, || {
            self.conn
                .execute("DELETE FROM lumu_watch_incidents WHERE tag = ?1", [tag])?;
            let changes: IncidentChanges = listed
                .iter()
                .map(|i| (i.id.clone(), Some(i.clone())))
                .collect();
            self.apply_changes(tag, &changes)?;
            self.conn
                .prepare_cached(
                    "INSERT INTO lumu_watch (tag, journal_offset, reconciled_at, committed_at)
                     VALUES (?1, ?2, ?3, ?3)
                     ON CONFLICT (tag) DO UPDATE SET
                         journal_offset = excluded.journal_offset,
                         reconciled_at = excluded.reconciled_at,
                         committed_at = excluded.committed_at",
                )?
                .execute(params![tag, offset_value(offset)?, stored_time(now)])?;
            Ok(())
        })
    }

    /// Forgets where the stream of `tag` stands (its offset is no longer valid), keeping its
    /// incidents: the next start follows the journal from its end after a full sync.
    pub fn forget_stream_position(&self, tag: &str) -> anyhow::Result<()> {
        self.conn
            .execute("DELETE FROM lumu_watch WHERE tag = ?1", [tag])?;
        Ok(())
    }

    fn apply_changes(&self, tag: &str, changes: &IncidentChanges) -> anyhow::Result<()> {
        let mut upsert = self.conn.prepare_cached(
            "INSERT INTO lumu_watch_incidents (tag, incident, document) VALUES (?1, ?2, ?3)
             ON CONFLICT (tag, incident) DO UPDATE SET document = excluded.document",
        )?;
        let mut delete = self
            .conn
            .prepare_cached("DELETE FROM lumu_watch_incidents WHERE tag = ?1 AND incident = ?2")?;
        for (id, incident) in changes {
            match incident {
                Some(incident) => {
                    upsert.execute(params![tag, id, serde_json::to_string(incident)?])?;
                }
                None => {
                    delete.execute(params![tag, id])?;
                }
            }
        }
        Ok(())
    }
}

/// SQLite's integers are signed: an offset past `i64::MAX` is no offset this store keeps.
fn offset_value(offset: u64) -> anyhow::Result<i64> {
    i64::try_from(offset).map_err(|_| anyhow::anyhow!("journal offset {offset} is out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn incident(id: &str, adversary: &str) -> Incident {
        serde_json::from_value(json!({
            "id": id,
            "adversaries": [adversary],
            "adversaryTypes": ["C2C"],
            "timestamp": "2026-11-20T10:00:00.000Z",
            "lastContact": "2026-11-22T08:30:00.000Z",
            "contacts": 3,
        }))
        .unwrap()
    }

    #[test]
    fn batches_and_full_syncs_commit_incidents_with_the_offset_per_tag() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let now = Utc::now();
        {
            let s = StateStore::open(&path).unwrap();
            assert_eq!(s.stream_position("a").unwrap(), None);
            s.commit_reconcile(
                "a",
                &[incident("i1", "a.example"), incident("i2", "b.example")],
                7,
                now,
            )
            .unwrap();
            s.commit_reconcile("b", &[incident("i1", "x.example")], 3, now)
                .unwrap();
            let mut changes = IncidentChanges::new();
            changes.insert("i2".into(), None);
            changes.insert("i3".into(), Some(incident("i3", "c.example")));
            s.commit_stream_batch("a", &changes, 9, now).unwrap();
        }
        let s = StateStore::open(&path).unwrap();
        let a = s.stream_position("a").unwrap().unwrap();
        assert_eq!(a.offset, 9);
        assert_eq!(
            a.reconciled_at.unwrap().timestamp_micros(),
            now.timestamp_micros(),
            "a batch keeps the time of the last full sync"
        );
        let mut ids: Vec<String> = s.watched_incidents("a").unwrap().into_keys().collect();
        ids.sort();
        assert_eq!(ids, ["i1", "i3"]);
        assert_eq!(
            s.watched_incidents("a").unwrap()["i3"].adversaries,
            [json!("c.example")]
        );
        assert_eq!(s.watched_incidents("b").unwrap().len(), 1);
        assert_eq!(s.stream_position("b").unwrap().unwrap().offset, 3);
        // A full sync replaces the incidents of its tag only.
        s.commit_reconcile("a", &[incident("i4", "d.example")], 9, now)
            .unwrap();
        assert_eq!(
            s.watched_incidents("a")
                .unwrap()
                .into_keys()
                .collect::<Vec<_>>(),
            ["i4"]
        );
        assert_eq!(s.watched_incidents("b").unwrap().len(), 1);
        s.forget_stream_position("a").unwrap();
        assert_eq!(s.stream_position("a").unwrap(), None);
        assert_eq!(s.watched_incidents("a").unwrap().len(), 1);
    }

    #[test]
    fn a_batch_before_any_full_sync_has_no_reconcile_time() {
        let s = StateStore::in_memory().unwrap();
        s.commit_stream_batch("t", &IncidentChanges::new(), 4, Utc::now())
            .unwrap();
        assert_eq!(
            s.stream_position("t").unwrap(),
            Some(StreamPosition {
                offset: 4,
                reconciled_at: None
            })
        );
        assert!(offset_value(u64::MAX).is_err());
    }
}
