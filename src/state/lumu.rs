//! The Lumu job's context cache, in the same state file as the TAXII job's tables: per tag
//! and incident, the `lastContact` and `contacts` the incident showed when its context was
//! read, and the threat triggers and related files that context gave, as Lumu wrote them.
//!
//! Raw values, not IOCs: they are normalised again on every run, like values fresh from
//! Lumu, so cached contexts follow the normal form of the running version and the report's
//! `invalid` counts are the same whether a context was read or cached.

use std::collections::{HashMap, HashSet};

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};

use super::{StateStore, in_savepoint, stored_time};
use crate::model::lumu::{CachedContext, IncidentContext};

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
    /// Every cached context of `tag`, by incident id.
    pub fn lumu_contexts(&self, tag: &str) -> anyhow::Result<HashMap<String, CachedContext>> {
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
        // A savepoint, not a transaction: a dry run's store is inside one already.
        in_savepoint(&self.conn, || {
            let gone: Vec<String> = {
                let mut query = self
                    .conn
                    .prepare("SELECT incident FROM lumu_contexts WHERE tag = ?1")?;
                query
                    .query_map([tag], |r| r.get::<_, String>(0))?
                    .filter(|id| id.as_ref().map_or(true, |id| !listed.contains(id.as_str())))
                    .collect::<Result<_, _>>()?
            };
            let mut delete = self
                .conn
                .prepare("DELETE FROM lumu_contexts WHERE tag = ?1 AND incident = ?2")?;
            for id in &gone {
                delete.execute(params![tag, id])?;
            }
            Ok(gone.len())
        })
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
    fn a_dry_run_store_reads_and_keeps_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let s = StateStore::open_dry_run(&path).unwrap();
        assert!(s.lumu_contexts("lumu").unwrap().is_empty());
        drop(s);
        assert!(!path.exists(), "no file is made");
        let w = StateStore::open(&path).unwrap();
        w.store_lumu_context(
            "lumu",
            "inc-1",
            &cached("t", "https://x.example/"),
            Utc::now(),
        )
        .unwrap();
        drop(w);
        let s = StateStore::open_dry_run(&path).unwrap();
        assert_eq!(s.lumu_contexts("lumu").unwrap().len(), 1);
        s.store_lumu_context("lumu", "inc-2", &cached("t", "x"), Utc::now())
            .unwrap();
        assert_eq!(s.forget_lumu_incidents("lumu", &HashSet::new()).unwrap(), 2);
        drop(s);
        let s = StateStore::open(&path).unwrap();
        assert_eq!(
            s.lumu_contexts("lumu").unwrap().keys().collect::<Vec<_>>(),
            ["inc-1"],
            "the dry run kept nothing"
        );
    }
}
