//! Feeds and their indicators: a feed's cursor and where its server stalled, a page of
//! indicators stored with the cursor after it (upserts, newest version wins), the revoked and
//! expired ones pruned, and the desired set selected from what is valid now.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::{IndicatorRecord, StateStore, stored_time, taxii};
use crate::ioc::{Ioc, IocKind};
use crate::model::ScanAction;
use crate::model::desired::Desired;

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

pub(super) fn decode_iocs(text: &str) -> impl Iterator<Item = (Ioc, ScanAction)> + '_ {
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

impl StateStore {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::tests::{feed, record, t, values, values_of};

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
