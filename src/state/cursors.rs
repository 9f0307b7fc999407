//! The TAXII cursors of a job, read for the metrics without changing the state file (opened
//! read-only: nothing is created, upgraded or journalled).

use std::path::Path;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use rusqlite::OpenFlags;

use super::schema::SCHEMA_VERSION;
use super::{BUSY_TIMEOUT, open_file, taxii};

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
    use rusqlite::Connection;

    use super::*;
    use crate::state::tests::t;
    use crate::state::{PageEnd, StateStore};

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
}
