//! The Lumu job's context cache, in the same state file as the TAXII job's tables: per tag
//! and incident, the `lastContact` and `contacts` the incident showed when its context was
//! read, and the threat triggers and related files that context gave, as Lumu wrote them.
//!
//! Raw values, not IOCs: they are normalised again on every run, like values fresh from
//! Lumu, so cached contexts follow the normal form of the running version and the report's
//! `invalid` counts are the same whether a context was read or cached.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use super::{SCHEMA_VERSION, StateStore, stored_time};
use crate::source::lumu::IncidentContext;

/// An incident's context as last read, and the incident's state it was read at.
#[derive(Debug, Clone, PartialEq)]
pub struct CachedContext {
    /// `lastContact` as Lumu wrote it (compared as text: any change means a new read).
    pub last_contact: Option<String>,
    pub contacts: Option<i64>,
    pub context: IncidentContext,
}

/// Creates the cache's table if it is missing; called when a store is opened.
pub(super) fn create_tables(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS lumu_contexts (
             tag TEXT NOT NULL,
             incident TEXT NOT NULL,
             last_contact TEXT,
             contacts INTEGER,
             context TEXT NOT NULL,
             read_at INTEGER NOT NULL,
             PRIMARY KEY (tag, incident)
         ) WITHOUT ROWID;",
    )
}

impl StateStore {
    /// Opens an existing store for reading only (a dry run stores nothing, and creates no
    /// file): `None` when `path` does not exist.
    ///
    /// # Errors
    /// A file that is not a store of this or an older schema, named in the message.
    pub fn open_read_only(path: &Path) -> anyhow::Result<Option<Self>> {
        if !path.exists() {
            return Ok(None);
        }
        let opened = || -> anyhow::Result<Connection> {
            let conn = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
            if version > SCHEMA_VERSION {
                bail!("it was written by a newer apex-ioc-sync (schema {version})");
            }
            Ok(conn)
        };
        let conn = opened().with_context(|| {
            format!(
                "the state file {} is not usable (move it away to start over)",
                path.display()
            )
        })?;
        Ok(Some(StateStore {
            conn,
            path: PathBuf::from(path),
        }))
    }

    /// Every cached context of `tag`, by incident id.
    pub fn lumu_contexts(&self, tag: &str) -> anyhow::Result<HashMap<String, CachedContext>> {
        // A read-only store written before this table existed has none.
        let exists = self
            .conn
            .query_row(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'lumu_contexts'",
                [],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        if !exists {
            return Ok(HashMap::new());
        }
        let mut query = self.conn.prepare(
            "SELECT incident, last_contact, contacts, context FROM lumu_contexts WHERE tag = ?1",
        )?;
        let mut rows = query.query([tag])?;
        let mut cached = HashMap::new();
        while let Some(row) = rows.next()? {
            let incident: String = row.get(0)?;
            let text: String = row.get(3)?;
            let context: IncidentContext = serde_json::from_str(&text).with_context(|| {
                format!(
                    "the cached context of Lumu incident {incident} in {} is not readable \
                     (move the state file away to read every context again)",
                    self.path.display()
                )
            })?;
            cached.insert(
                incident,
                CachedContext {
                    last_contact: row.get(1)?,
                    contacts: row.get(2)?,
                    context,
                },
            );
        }
        Ok(cached)
    }

    /// Stores (or replaces) the context of `incident` read at `read_at`. Committed at once:
    /// what a run has read survives the run being stopped.
    pub fn store_lumu_context(
        &self,
        tag: &str,
        incident: &str,
        cached: &CachedContext,
        read_at: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let context = serde_json::to_string(&cached.context)?;
        self.conn
            .prepare_cached(
                "INSERT INTO lumu_contexts (tag, incident, last_contact, contacts, context, read_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (tag, incident) DO UPDATE SET
                     last_contact = excluded.last_contact, contacts = excluded.contacts,
                     context = excluded.context, read_at = excluded.read_at",
            )?
            .execute(params![
                tag,
                incident,
                cached.last_contact,
                cached.contacts,
                context,
                stored_time(read_at)
            ])?;
        Ok(())
    }

    /// Forgets the cached contexts of `tag` whose incident is not in `listed` (closed, out
    /// of the window or filtered out); returns how many.
    pub fn forget_lumu_incidents(
        &self,
        tag: &str,
        listed: &HashSet<&str>,
    ) -> anyhow::Result<usize> {
        let tx = self.conn.unchecked_transaction()?;
        let gone: Vec<String> = {
            let mut query = tx.prepare("SELECT incident FROM lumu_contexts WHERE tag = ?1")?;
            query
                .query_map([tag], |r| r.get::<_, String>(0))?
                .filter(|id| id.as_ref().map_or(true, |id| !listed.contains(id.as_str())))
                .collect::<Result<_, _>>()?
        };
        {
            let mut delete =
                tx.prepare("DELETE FROM lumu_contexts WHERE tag = ?1 AND incident = ?2")?;
            for id in &gone {
                delete.execute(params![tag, id])?;
            }
        }
        tx.commit()?;
        Ok(gone.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cached(last_contact: &str, trigger: &str) -> CachedContext {
        CachedContext {
            last_contact: Some(last_contact.into()),
            contacts: Some(3),
            context: IncidentContext {
                threat_triggers: vec![json!(trigger), json!({"odd": 1})],
                related_files: vec![json!("3395856ce81f2b7382dee72602f798b642f14140")],
            },
        }
    }

    #[test]
    fn contexts_are_kept_per_tag_replaced_and_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let now = Utc::now();
        {
            let s = StateStore::open(&path).unwrap();
            s.store_lumu_context("a", "inc-1", &cached("t1", "https://x.example/1"), now)
                .unwrap();
            s.store_lumu_context("a", "inc-2", &cached("t1", "https://x.example/2"), now)
                .unwrap();
            s.store_lumu_context("b", "inc-1", &cached("t1", "https://y.example/1"), now)
                .unwrap();
            // A newer read replaces the older one.
            s.store_lumu_context("a", "inc-1", &cached("t2", "https://x.example/new"), now)
                .unwrap();
        }
        let s = StateStore::open(&path).unwrap();
        let a = s.lumu_contexts("a").unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(a["inc-1"], cached("t2", "https://x.example/new"));
        assert_eq!(
            s.lumu_contexts("b").unwrap()["inc-1"],
            cached("t1", "https://y.example/1")
        );
        // inc-2 is no longer listed for tag a; tag b keeps its own inc-1.
        let forgotten = s
            .forget_lumu_incidents("a", &HashSet::from(["inc-1"]))
            .unwrap();
        assert_eq!(forgotten, 1);
        assert_eq!(
            s.lumu_contexts("a").unwrap().keys().collect::<Vec<_>>(),
            ["inc-1"]
        );
        assert_eq!(s.lumu_contexts("b").unwrap().len(), 1);
    }

    #[test]
    fn a_read_only_store_reads_and_never_creates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        assert!(StateStore::open_read_only(&path).unwrap().is_none());
        assert!(!path.exists(), "no file is made");
        // A store written before the Lumu table existed: no cached context, no error.
        Connection::open(&path)
            .unwrap()
            .execute_batch("CREATE TABLE cursors (feed TEXT PRIMARY KEY); PRAGMA user_version = 2;")
            .unwrap();
        let s = StateStore::open_read_only(&path).unwrap().unwrap();
        assert!(s.lumu_contexts("lumu").unwrap().is_empty());
        drop(s);
        let w = StateStore::open(&path).unwrap();
        w.store_lumu_context(
            "lumu",
            "inc-1",
            &cached("t", "https://x.example/"),
            Utc::now(),
        )
        .unwrap();
        drop(w);
        let s = StateStore::open_read_only(&path).unwrap().unwrap();
        assert_eq!(s.lumu_contexts("lumu").unwrap().len(), 1);
        assert!(
            s.store_lumu_context("lumu", "inc-2", &cached("t", "x"), Utc::now())
                .is_err(),
            "read only"
        );
    }
}
