//! TAXII cursors held back from a server date in the future, in a table of their own beside
//! `feeds`: per feed, the newest such date and the last cursor taken from the server's own
//! dates before it (see `source::taxii::paging`). A feed has a row while its stored cursor
//! is held back; the next cursor taken from the server's dates removes it.
//!
//! The metrics read it ([`super::newest_cursor`]): the cursor of such a feed is this
//! machine's time less the clock skew, which says nothing of how far the feed was really
//! read, so its age counts from the trusted cursor instead, and the feed is counted.

use rusqlite::{Connection, OptionalExtension, params};

/// The table's name.
pub(super) const CLAMPED_CURSORS: &str = "taxii_clamped_cursors";

/// Creates the table if it is missing; called when a store is opened.
pub(super) fn create_tables(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS taxii_clamped_cursors (
             feed_id INTEGER PRIMARY KEY,
             server_date TEXT NOT NULL,
             trusted TEXT NOT NULL
         );",
    )
}

/// Notes that the cursor of `feed` is held back from `server_date`; `trusted` is kept from
/// the first time it was (the cursor before the server's dates ran ahead).
pub(super) fn note_clamped(
    conn: &Connection,
    feed: i64,
    server_date: &str,
    trusted: &str,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO taxii_clamped_cursors (feed_id, server_date, trusted) VALUES (?1, ?2, ?3)
         ON CONFLICT (feed_id) DO UPDATE SET server_date = excluded.server_date",
        params![feed, server_date, trusted],
    )?;
    Ok(())
}

/// The cursor of `feed` is the server's own again.
pub(super) fn clear_clamped(conn: &Connection, feed: i64) -> rusqlite::Result<()> {
    conn.execute(
        "DELETE FROM taxii_clamped_cursors WHERE feed_id = ?1",
        [feed],
    )?;
    Ok(())
}

/// Whether the file has the table (one written before it was added has not; it is made
/// on the next run that is not a dry run).
pub(super) fn has_table(conn: &Connection) -> rusqlite::Result<bool> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
            [CLAMPED_CURSORS],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}
