//! The journal: every run of a job and every write it sends to the destination, kept in the
//! job's state file beside the source's tables, so that a SOC can ask why an entry is on the
//! list, since when, from which incident or indicator, and undo a run (`history`,
//! `explain`, `rollback`).
//!
//! Tables (additive: created with `CREATE TABLE IF NOT EXISTS` when a store is opened, no
//! schema version of their own):
//! - `journal_runs`: one row per run (`id`, `tag`, `kind` sync/clean/rollback, `source`,
//!   `sink` and `location` of the destination, `dry_run`, `forced`, `undoes` (the run a
//!   rollback undoes), `started`/`ended` (microseconds since the epoch; `ended` NULL until
//!   the run ends, and for ever when it was killed), `exit_code`, the plan counts, the
//!   entries the tag owned per type when the run listed (`owned_before`) and after its
//!   writes (`owned_after`), as JSON objects `{"domain": 3}`, and `note` (a brake)).
//! - `journal_writes`: one row per write a run sends (`run`, `seq`, `at`, `op`
//!   add/update/remove, `type`, `content` as sent, `value` its normal form, the
//!   `scan_action`, `expires` (NULL: never) and `notes` sent, the entry's previous state
//!   for an update or a removal (`prev_notes`, `prev_scan_action`, `prev_expires`), and the
//!   `result` with its `error`).
//! - `journal_wanted`: per tag, what the source wanted at the tag's last run and what the
//!   run made of each IOC (`listed`, `foreign`, `capacity`, `excluded` with the list and
//!   entry): what `explain` tells without reading the source again.
//!
//! **What a killed run leaves.** Before the first write is sent, every write of the plan is
//! stored with the result `planned`, in one transaction; each result then replaces it, in a
//! transaction of its own, as soon as it arrives. So after a kill the journal holds the run
//! without an end, every write the run could have sent, and the result of every write whose
//! answer arrived before the kill; a write still `planned` may or may not have reached the
//! destination (`rollback` reads the list to find out).
//!
//! A dry run gets its run row (marked, with its plan counts) and no write rows; it does not
//! create a state file that does not exist.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use chrono::{DateTime, Duration, Utc};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use serde::Serialize;

use super::indicators::decode_iocs;
use super::schema::SCHEMA_VERSION;
use super::{BUSY_TIMEOUT, StateStore, stored_time};
use crate::ioc::{Ioc, IocKind};
use crate::model::{Outcome, TAG_PREFIX, Write, owner_tag};

/// `--journal-days`: runs older than this are pruned at the end of each run.
pub const DEFAULT_JOURNAL_DAYS: u32 = 90;

/// Creates the journal's tables if they are missing; called when a store is opened.
pub(super) fn create_tables(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS journal_runs (
             id TEXT PRIMARY KEY,
             tag TEXT NOT NULL,
             kind TEXT NOT NULL,
             source TEXT NOT NULL,
             sink TEXT NOT NULL,
             location TEXT NOT NULL,
             dry_run INTEGER NOT NULL,
             forced INTEGER NOT NULL,
             undoes TEXT,
             started INTEGER NOT NULL,
             ended INTEGER,
             exit_code INTEGER,
             planned INTEGER NOT NULL DEFAULT 0,
             plan_add INTEGER NOT NULL DEFAULT 0,
             plan_update INTEGER NOT NULL DEFAULT 0,
             plan_remove INTEGER NOT NULL DEFAULT 0,
             owned_before TEXT,
             owned_after TEXT,
             note TEXT
         ) WITHOUT ROWID;
         CREATE INDEX IF NOT EXISTS journal_runs_by_tag ON journal_runs (tag, started);
         CREATE TABLE IF NOT EXISTS journal_writes (
             run TEXT NOT NULL,
             seq INTEGER NOT NULL,
             at INTEGER NOT NULL,
             op TEXT NOT NULL,
             type TEXT NOT NULL,
             content TEXT NOT NULL,
             value TEXT,
             scan_action TEXT,
             expires INTEGER,
             notes TEXT,
             prev_notes TEXT,
             prev_scan_action TEXT,
             prev_expires INTEGER,
             result TEXT NOT NULL,
             error TEXT,
             PRIMARY KEY (run, seq)
         ) WITHOUT ROWID;
         CREATE INDEX IF NOT EXISTS journal_writes_by_value ON journal_writes (value);
         CREATE TABLE IF NOT EXISTS journal_wanted (
             tag TEXT NOT NULL,
             type TEXT NOT NULL,
             value TEXT NOT NULL,
             scan_action TEXT NOT NULL,
             reason TEXT NOT NULL,
             seen INTEGER NOT NULL,
             outcome TEXT NOT NULL,
             detail TEXT,
             run TEXT NOT NULL,
             PRIMARY KEY (tag, type, value)
         ) WITHOUT ROWID;",
    )
}

/// A new run id: the UTC second the run started (`20261206T201500Z`), a dash and four hex
/// digits of chance (two runs of one second differ). Sorts by time as text; short enough to
/// type.
pub fn new_run_id(at: DateTime<Utc>) -> String {
    format!("{}-{:04x}", at.format("%Y%m%dT%H%M%SZ"), fastrand::u16(..))
}

fn time_of(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap_or_default()
}

/// What a run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunKind {
    /// A sync run.
    Sync,
    /// `--clean`.
    Clean,
    /// `rollback RUN-ID`.
    Rollback,
}

impl RunKind {
    fn as_str(self) -> &'static str {
        match self {
            RunKind::Sync => "sync",
            RunKind::Clean => "clean",
            RunKind::Rollback => "rollback",
        }
    }

    fn parse(s: &str) -> RunKind {
        match s {
            "clean" => RunKind::Clean,
            "rollback" => RunKind::Rollback,
            _ => RunKind::Sync,
        }
    }
}

/// The operation of a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    Add,
    Update,
    Remove,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Add => "add",
            Op::Update => "update",
            Op::Remove => "remove",
        }
    }

    fn parse(s: &str) -> anyhow::Result<Op> {
        Ok(match s {
            "add" => Op::Add,
            "update" => Op::Update,
            "remove" => Op::Remove,
            other => bail!("unknown write operation `{other}`"),
        })
    }

    /// `+`, `~`, `-`.
    pub fn sign(self) -> char {
        match self {
            Op::Add => '+',
            Op::Update => '~',
            Op::Remove => '-',
        }
    }
}

/// What became of a write, as the journal keeps it.
pub mod result {
    /// Stored before the write was sent; no answer yet (after a kill: unknown).
    pub const PLANNED: &str = "planned";
    pub const DONE: &str = "done";
    /// Failed after its retries (`error` says why).
    pub const FAILED: &str = "failed";
    /// A removal of an entry that was gone already.
    pub const ALREADY_GONE: &str = "already-gone";
    /// A removal not sent: listed again right before it, the entry no longer carried the tag.
    pub const NOT_OURS: &str = "not-ours";
    /// An add or update not sent: listed again right before it, an entry without the tag
    /// held the IOC.
    pub const TAKEN_MEANWHILE: &str = "taken-meanwhile";
    /// An add not sent: listed again right before it, an entry with the tag held the IOC in
    /// another spelling.
    pub const ALREADY_THERE: &str = "already-there";
    /// Not started: the run's deadline (`--max-run-minutes`) passed first.
    pub const LEFT: &str = "left";
}

/// An entry's state before a write changed it (an update or a removal), as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Previous {
    pub notes: String,
    pub scan_action: String,
    /// `None`: never expires.
    pub expires: Option<DateTime<Utc>>,
}

/// A write as the journal stores it before it is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedWrite {
    pub op: Op,
    pub kind: IocKind,
    /// As sent (an update's and a removal's: the entry's content as listed).
    pub content: String,
    /// The normal form, when the content has one.
    pub value: Option<String>,
    /// Sent with an add or an update.
    pub scan_action: Option<String>,
    /// Sent with an add or an update; `None` never expires.
    pub expires: Option<DateTime<Utc>>,
    /// Sent with an add or an update.
    pub notes: Option<String>,
    /// The entry before an update or a removal.
    pub previous: Option<Previous>,
}

/// One stored write, read back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WriteRow {
    /// The run that sent it.
    pub run: String,
    pub seq: i64,
    /// When its result arrived (while `planned`: when it was planned).
    pub at: DateTime<Utc>,
    pub op: Op,
    #[serde(rename = "type")]
    pub kind: IocKind,
    /// As sent.
    pub content: String,
    pub value: Option<String>,
    pub scan_action: Option<String>,
    /// Sent with an add or update; `null` never expires (or a removal).
    pub expires: Option<DateTime<Utc>>,
    pub notes: Option<String>,
    /// The notes' reason: what follows the tag (incident or indicator ids, file and line).
    pub reason: Option<String>,
    pub previous: Option<Previous>,
    /// `planned`, `done`, `failed`, `already-gone`, `not-ours` (see [`result`]).
    pub result: String,
    pub error: Option<String>,
}

/// The plan counts of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PlanCounts {
    pub add: usize,
    pub update: usize,
    pub remove: usize,
}

/// The destination of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Destination {
    /// `apex` or `vision-one`.
    pub sink: String,
    /// Its base URL.
    pub location: String,
}

/// One stored run, read back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunRow {
    pub id: String,
    pub tag: String,
    pub kind: RunKind,
    pub source: String,
    pub destination: Destination,
    pub dry_run: bool,
    pub forced: bool,
    /// The run a rollback undid.
    pub undoes: Option<String>,
    pub started: DateTime<Utc>,
    /// `None`: still running, or stopped without an end (a kill, a power loss).
    pub ended: Option<DateTime<Utc>>,
    pub exit_code: Option<i64>,
    /// Whether the run got as far as a plan (else the counts are 0).
    pub planned: bool,
    pub plan: PlanCounts,
    /// Writes that failed after their retries.
    pub failed: usize,
    /// Writes stored as planned whose result never came (a run that was stopped).
    pub unanswered: usize,
    /// What held the run back (a brake), if anything did.
    pub note: Option<String>,
}

/// What a job's source wanted at the tag's last run, and what the run made of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Wanted {
    pub scan_action: String,
    /// Incident or indicator ids, file and line.
    pub reason: String,
    /// When the source last saw it.
    pub seen: DateTime<Utc>,
    /// `listed` (pushed, or already there), `foreign` (an entry without the tag holds it),
    /// `capacity` (the list was full), `excluded` (`detail`: the list and entry).
    pub outcome: String,
    pub detail: Option<String>,
    /// The run it was stored by.
    pub run: String,
}

/// One IOC of a run's desired set, for [`JournalRun::store_wanted`].
#[derive(Debug, Clone)]
pub struct WantedIoc<'a> {
    pub ioc: &'a Ioc,
    pub scan_action: &'a str,
    pub reason: &'a str,
    pub seen: DateTime<Utc>,
    pub outcome: &'static str,
    pub detail: Option<String>,
}

/// A STIX indicator of a TAXII job that holds an IOC (from the TAXII tables of the state file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IndicatorHolding {
    pub id: String,
    pub modified: DateTime<Utc>,
    pub revoked: bool,
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_until: Option<DateTime<Utc>>,
    pub confidence: Option<i64>,
    /// Valid at the time asked (not revoked, within its validity).
    pub valid_now: bool,
    pub scan_action: String,
}

/// Rows the journal holds for a tag, and its oldest run, for the metrics file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JournalStats {
    pub runs: u64,
    pub writes: u64,
    pub oldest: Option<DateTime<Utc>>,
}

/// A new run's row.
#[derive(Debug, Clone)]
pub struct NewRun<'a> {
    pub id: &'a str,
    pub tag: &'a str,
    pub kind: RunKind,
    pub source: &'a str,
    pub sink: &'a str,
    pub location: &'a str,
    pub dry_run: bool,
    pub forced: bool,
    pub undoes: Option<&'a str>,
    pub started: DateTime<Utc>,
}

/// The journal of a state file, open.
pub struct Journal {
    conn: Connection,
    path: PathBuf,
}

/// `path` in errors: "the journal in the state file X".
fn where_(path: &Path) -> String {
    format!("the journal in the state file {}", path.display())
}

impl Journal {
    /// Opens the journal for a run that writes: the state file is created or upgraded as a
    /// store is ([`StateStore::open`]), and its journal tables made.
    pub fn open(path: &Path) -> anyhow::Result<Journal> {
        let StateStore { conn, .. } = StateStore::open(path)?;
        Ok(Journal {
            conn,
            path: path.to_owned(),
        })
    }

    /// Opens the journal for a dry run: `None` when the state file does not exist (a dry
    /// run creates no file); else the file is opened as it is (no upgrade, which a dry run
    /// never commits) and only the journal's tables are added.
    pub fn open_for_dry_run(path: &Path) -> anyhow::Result<Option<Journal>> {
        if !path.exists() {
            return Ok(None);
        }
        let open = || -> anyhow::Result<Connection> {
            let conn = Connection::open(path)?;
            conn.busy_timeout(BUSY_TIMEOUT)?;
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
            if version > SCHEMA_VERSION {
                bail!("it was written by a newer apex-ioc-sync (schema {version})");
            }
            create_tables(&conn)?;
            Ok(conn)
        };
        let conn = open().with_context(|| {
            format!(
                "the state file {} is not usable (move it away to start over from --days)",
                path.display()
            )
        })?;
        Ok(Some(Journal {
            conn,
            path: path.to_owned(),
        }))
    }

    /// Opens the journal of an existing state file to read it (`history`, `explain`,
    /// `rollback`): the file is not created, upgraded or changed. A file that does not
    /// exist, or holds no journal yet, is an error that says so and where it looked:
    /// missing is not empty.
    pub fn read(path: &Path) -> anyhow::Result<Journal> {
        if !path.exists() {
            bail!(
                "no journal: the state file {} does not exist. Either this job has not run yet, \
                 or it keeps its state elsewhere: give the job's --config, --tag or --state-file",
                path.display()
            );
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .with_context(|| format!("cannot open the state file {}", path.display()))?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let has_journal = conn
            .query_row(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'journal_runs'",
                [],
                |_| Ok(()),
            )
            .optional()
            .with_context(|| {
                format!(
                    "the state file {} is not readable as a state file",
                    path.display()
                )
            })?
            .is_some();
        if !has_journal {
            bail!(
                "the state file {} holds no journal yet: its job has not run since apex-ioc-sync \
                 began keeping one (the next run starts it)",
                path.display()
            );
        }
        Ok(Journal {
            conn,
            path: path.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Starts a run: stores its row (without an end).
    pub fn begin(self, run: &NewRun) -> anyhow::Result<JournalRun> {
        self.conn
            .execute(
                "INSERT INTO journal_runs
                 (id, tag, kind, source, sink, location, dry_run, forced, undoes, started)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    run.id,
                    run.tag,
                    run.kind.as_str(),
                    run.source,
                    run.sink,
                    run.location,
                    run.dry_run,
                    run.forced,
                    run.undoes,
                    stored_time(run.started)
                ],
            )
            .with_context(|| format!("cannot start run {} in {}", run.id, where_(&self.path)))?;
        tracing::info!(
            "run {} ({}{}) begins",
            run.id,
            run.kind.as_str(),
            if run.dry_run { ", dry run" } else { "" },
        );
        tracing::debug!("run {} journalled in {}", run.id, self.path.display());
        Ok(JournalRun {
            journal: self,
            id: run.id.to_owned(),
            seqs: HashMap::new(),
            ops: Vec::new(),
            owned_before: None,
            error: None,
        })
    }

    /// The per-type owned counts of the runs of `tag` on this destination since `since`
    /// (dry runs included: their listing is a fact too), for the window brake: each run's
    /// `owned_before` and `owned_after`. A forced run (`--force`, `--clean`) acknowledged
    /// what was gone before it: only its `owned_after` and the runs after it count.
    pub fn owned_history(
        &self,
        tag: &str,
        destination: &Destination,
        since: DateTime<Utc>,
    ) -> anyhow::Result<Vec<BTreeMap<IocKind, usize>>> {
        let read = || -> anyhow::Result<Vec<BTreeMap<IocKind, usize>>> {
            let mut query = self.conn.prepare(
                "SELECT forced AND NOT dry_run, owned_before, owned_after FROM journal_runs
                 WHERE tag = ?1 AND sink = ?2 AND location = ?3 AND started >= ?4
                 ORDER BY started, id",
            )?;
            let rows: Vec<(bool, Option<String>, Option<String>)> = query
                .query_map(
                    params![
                        tag,
                        destination.sink,
                        destination.location,
                        stored_time(since)
                    ],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )?
                .collect::<Result<_, _>>()?;
            let start = rows.iter().rposition(|(forced, _, _)| *forced);
            let mut counts = Vec::new();
            for (at, (_, before, after)) in rows.iter().enumerate() {
                let counted: &[&Option<String>] = match start {
                    Some(s) if at < s => &[],
                    Some(s) if at == s => &[after],
                    _ => &[before, after],
                };
                for text in counted.iter().filter_map(|t| t.as_deref()) {
                    counts.push(serde_json::from_str(text)?);
                }
            }
            Ok(counts)
        };
        read().with_context(|| {
            format!(
                "cannot read the owned counts of tag {tag} from {}",
                where_(&self.path)
            )
        })
    }

    /// The runs newest first: of `tag` (every tag when `None`), started at or after `since`.
    pub fn runs(
        &self,
        tag: Option<&str>,
        since: Option<DateTime<Utc>>,
    ) -> anyhow::Result<Vec<RunRow>> {
        let read = || -> anyhow::Result<Vec<RunRow>> {
            let mut query = self.conn.prepare(&format!(
                "{RUN_COLUMNS} WHERE (?1 IS NULL OR r.tag = ?1) AND (?2 IS NULL OR r.started >= ?2)
                 ORDER BY r.started DESC, r.id DESC"
            ))?;
            let rows = query
                .query_map(params![tag, since.map(stored_time)], run_row)?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        };
        read().with_context(|| format!("cannot read the runs of {}", where_(&self.path)))
    }

    /// The run `id`; an error naming the journal when there is none.
    pub fn run(&self, id: &str) -> anyhow::Result<RunRow> {
        let found = self
            .conn
            .query_row(&format!("{RUN_COLUMNS} WHERE r.id = ?1"), [id], run_row)
            .optional()
            .with_context(|| format!("cannot read run {id} from {}", where_(&self.path)))?;
        found.ok_or_else(|| {
            anyhow::anyhow!(
                "no run {id} in {} (`apex-ioc-sync history` lists its runs)",
                where_(&self.path)
            )
        })
    }

    /// The writes of run `id`, in the order they were planned.
    pub fn writes(&self, id: &str) -> anyhow::Result<Vec<WriteRow>> {
        self.write_rows("w.run = ?1 ORDER BY w.seq", params![id])
            .with_context(|| {
                format!(
                    "cannot read the writes of run {id} from {}",
                    where_(&self.path)
                )
            })
    }

    /// The writes of `ioc` (by its normal form) by runs of any tag, oldest first.
    pub fn writes_of(&self, ioc: &Ioc) -> anyhow::Result<Vec<WriteRow>> {
        self.write_rows(
            "w.value = ?1 AND w.type = ?2 ORDER BY r.started, w.run, w.seq",
            params![ioc.value, ioc.kind.udso_type()],
        )
        .with_context(|| {
            format!(
                "cannot read the writes of {ioc} from {}",
                where_(&self.path)
            )
        })
    }

    fn write_rows(
        &self,
        filter: &str,
        params: impl rusqlite::Params,
    ) -> anyhow::Result<Vec<WriteRow>> {
        let mut query = self.conn.prepare(&format!(
            "SELECT w.run, w.seq, w.at, w.op, w.type, w.content, w.value, w.scan_action,
                    w.expires, w.notes, w.prev_notes, w.prev_scan_action, w.prev_expires,
                    w.result, w.error
             FROM journal_writes w JOIN journal_runs r ON r.id = w.run
             WHERE {filter}"
        ))?;
        let mut rows = query.query(params)?;
        let mut writes = Vec::new();
        while let Some(row) = rows.next()? {
            let kind: String = row.get(4)?;
            let notes: Option<String> = row.get(9)?;
            let prev_notes: Option<String> = row.get(10)?;
            let previous = match prev_notes {
                Some(notes) => Some(Previous {
                    notes,
                    scan_action: row.get::<_, Option<String>>(11)?.unwrap_or_default(),
                    expires: row.get::<_, Option<i64>>(12)?.map(time_of),
                }),
                None => None,
            };
            writes.push(WriteRow {
                run: row.get(0)?,
                seq: row.get(1)?,
                at: time_of(row.get(2)?),
                op: Op::parse(&row.get::<_, String>(3)?)?,
                kind: IocKind::from_udso_type(&kind)
                    .ok_or_else(|| anyhow::anyhow!("unknown IOC type `{kind}`"))?,
                content: row.get(5)?,
                value: row.get(6)?,
                scan_action: row.get(7)?,
                expires: row.get::<_, Option<i64>>(8)?.map(time_of),
                reason: notes.as_deref().map(reason_of),
                notes,
                previous,
                result: row.get(13)?,
                error: row.get(14)?,
            });
        }
        Ok(writes)
    }

    /// The tags that have runs in this journal, sorted.
    pub fn tags(&self) -> anyhow::Result<Vec<String>> {
        let mut query = self.conn.prepare(
            "SELECT tag FROM journal_runs UNION SELECT tag FROM journal_wanted ORDER BY 1",
        )?;
        let tags = query
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()
            .with_context(|| format!("cannot read the tags of {}", where_(&self.path)))?;
        Ok(tags)
    }

    /// What the source of `tag` wanted of `ioc` at the tag's last run that stored its
    /// desired set; `None` when it did not want it.
    pub fn wanted(&self, tag: &str, ioc: &Ioc) -> anyhow::Result<Option<Wanted>> {
        self.conn
            .query_row(
                "SELECT scan_action, reason, seen, outcome, detail, run FROM journal_wanted
                 WHERE tag = ?1 AND type = ?2 AND value = ?3",
                params![tag, ioc.kind.udso_type(), ioc.value],
                |r| {
                    Ok(Wanted {
                        scan_action: r.get(0)?,
                        reason: r.get(1)?,
                        seen: time_of(r.get(2)?),
                        outcome: r.get(3)?,
                        detail: r.get(4)?,
                        run: r.get(5)?,
                    })
                },
            )
            .optional()
            .with_context(|| {
                format!(
                    "cannot read what tag {tag} wanted from {}",
                    where_(&self.path)
                )
            })
    }

    /// The run of `tag` that last stored its desired set, if any did.
    pub fn wanted_run(&self, tag: &str) -> anyhow::Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT run FROM journal_wanted WHERE tag = ?1 LIMIT 1",
                [tag],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// The TAXII indicators of `tag`'s feeds whose IOCs include `ioc`, newest first, with
    /// their validity at `now`. Empty when the file has no TAXII tables or feeds of the tag.
    /// Reads every stored indicator of the tag (a scan: `explain` asks once).
    pub fn indicators_holding(
        &self,
        tag: &str,
        ioc: &Ioc,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Vec<IndicatorHolding>> {
        let read = || -> anyhow::Result<Vec<IndicatorHolding>> {
            let has_feeds = self
                .conn
                .query_row(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'feeds'",
                    [],
                    |_| Ok(()),
                )
                .optional()?
                .is_some();
            if !has_feeds {
                return Ok(Vec::new());
            }
            // The IOC lines of `state::indicators`: `type|action|value`, one a line.
            let needle = format!("|{}\n", ioc.value);
            let mut query = self.conn.prepare(
                "SELECT i.id, i.modified, i.revoked, i.valid_from, i.valid_until, i.confidence, i.iocs
                 FROM indicators i JOIN feeds f ON f.feed_id = i.feed_id
                 WHERE f.tag = ?1 AND instr(i.iocs, ?2) > 0
                 ORDER BY i.modified DESC, i.id",
            )?;
            let mut rows = query.query(params![tag, needle])?;
            let now = stored_time(now);
            let mut found = Vec::new();
            while let Some(row) = rows.next()? {
                let iocs: String = row.get(6)?;
                let Some((_, action)) = decode_iocs(&iocs).find(|(held, _)| held == ioc) else {
                    continue;
                };
                let revoked: bool = row.get(2)?;
                let valid_from: Option<i64> = row.get(3)?;
                let valid_until: Option<i64> = row.get(4)?;
                found.push(IndicatorHolding {
                    id: row.get(0)?,
                    modified: time_of(row.get(1)?),
                    revoked,
                    valid_from: valid_from.map(time_of),
                    valid_until: valid_until.map(time_of),
                    confidence: row.get(5)?,
                    valid_now: !revoked
                        && valid_from.is_none_or(|t| t <= now)
                        && valid_until.is_none_or(|t| t > now),
                    scan_action: action.as_str().to_owned(),
                });
            }
            Ok(found)
        };
        read().with_context(|| {
            format!(
                "cannot read the TAXII indicators of tag {tag} from the state file {}",
                self.path.display()
            )
        })
    }

    /// Forgets the runs of `tag` that started more than `days` days before `now`, with their
    /// writes; returns how many runs.
    pub fn prune(&self, tag: &str, days: u32, now: DateTime<Utc>) -> anyhow::Result<usize> {
        let before = stored_time(now - Duration::days(i64::from(days)));
        let prune = || -> anyhow::Result<usize> {
            super::in_savepoint(&self.conn, || {
                self.conn.execute(
                    "DELETE FROM journal_writes WHERE run IN
                         (SELECT id FROM journal_runs WHERE tag = ?1 AND started < ?2)",
                    params![tag, before],
                )?;
                Ok(self.conn.execute(
                    "DELETE FROM journal_runs WHERE tag = ?1 AND started < ?2",
                    params![tag, before],
                )?)
            })
        };
        prune().with_context(|| format!("cannot prune {}", where_(&self.path)))
    }

    /// The rows the journal holds for `tag`, and its oldest run's start.
    pub fn stats(&self, tag: &str) -> anyhow::Result<JournalStats> {
        let read = || -> rusqlite::Result<JournalStats> {
            let (runs, oldest): (i64, Option<i64>) = self.conn.query_row(
                "SELECT COUNT(*), MIN(started) FROM journal_runs WHERE tag = ?1",
                [tag],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let writes: i64 = self.conn.query_row(
                "SELECT COUNT(*) FROM journal_writes WHERE run IN
                     (SELECT id FROM journal_runs WHERE tag = ?1)",
                [tag],
                |r| r.get(0),
            )?;
            Ok(JournalStats {
                runs: runs as u64,
                writes: writes as u64,
                oldest: oldest.map(time_of),
            })
        };
        read().with_context(|| format!("cannot count the rows of {}", where_(&self.path)))
    }
}

/// The notes' reason: what follows `apex-ioc-sync:<tag> `.
pub fn reason_of(notes: &str) -> String {
    match owner_tag(notes) {
        Some(tag) => notes[TAG_PREFIX.len() + tag.len()..].trim().to_owned(),
        None => notes.to_owned(),
    }
}

const RUN_COLUMNS: &str = "SELECT r.id, r.tag, r.kind, r.source, r.sink, r.location, r.dry_run,
        r.forced, r.undoes, r.started, r.ended, r.exit_code, r.planned, r.plan_add,
        r.plan_update, r.plan_remove, r.note,
        (SELECT COUNT(*) FROM journal_writes w WHERE w.run = r.id AND w.result = 'failed'),
        (SELECT COUNT(*) FROM journal_writes w WHERE w.run = r.id AND w.result = 'planned')
    FROM journal_runs r";

fn run_row(r: &rusqlite::Row) -> rusqlite::Result<RunRow> {
    let count = |i: usize| -> rusqlite::Result<usize> { Ok(r.get::<_, i64>(i)? as usize) };
    Ok(RunRow {
        id: r.get(0)?,
        tag: r.get(1)?,
        kind: RunKind::parse(&r.get::<_, String>(2)?),
        source: r.get(3)?,
        destination: Destination {
            sink: r.get(4)?,
            location: r.get(5)?,
        },
        dry_run: r.get(6)?,
        forced: r.get(7)?,
        undoes: r.get(8)?,
        started: time_of(r.get(9)?),
        ended: r.get::<_, Option<i64>>(10)?.map(time_of),
        exit_code: r.get(11)?,
        planned: r.get(12)?,
        plan: PlanCounts {
            add: count(13)?,
            update: count(14)?,
            remove: count(15)?,
        },
        note: r.get(16)?,
        failed: count(17)?,
        unanswered: count(18)?,
    })
}

/// A run being journalled: its row, and its writes as they are planned and answered.
pub struct JournalRun {
    journal: Journal,
    id: String,
    /// (delete?, type, content as sent) -> the write's `seq`.
    seqs: HashMap<(bool, IocKind, String), usize>,
    /// By `seq`: the write's operation and type.
    ops: Vec<(Op, IocKind)>,
    owned_before: Option<BTreeMap<IocKind, usize>>,
    /// The first result that could not be stored: the run fails at its end.
    error: Option<String>,
}

impl JournalRun {
    /// The run's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The journal's state file.
    pub fn path(&self) -> &Path {
        &self.journal.path
    }

    /// The journal this run is stored in (to read it).
    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// Stores what the tag owned, per type, as listed before the writes.
    pub fn listed(&mut self, owned: &BTreeMap<IocKind, usize>) -> anyhow::Result<()> {
        self.owned_before = Some(owned.clone());
        self.journal
            .conn
            .execute(
                "UPDATE journal_runs SET owned_before = ?1 WHERE id = ?2",
                params![serde_json::to_string(owned)?, self.id],
            )
            .with_context(|| self.failed_to("store the owned counts"))?;
        Ok(())
    }

    /// Stores the plan's counts, and what held the plan back (a brake), if anything did.
    pub fn plan(&mut self, counts: PlanCounts, note: Option<&str>) -> anyhow::Result<()> {
        self.journal
            .conn
            .execute(
                "UPDATE journal_runs SET planned = 1, plan_add = ?1, plan_update = ?2,
                     plan_remove = ?3, note = ?4 WHERE id = ?5",
                params![
                    counts.add as i64,
                    counts.update as i64,
                    counts.remove as i64,
                    note,
                    self.id
                ],
            )
            .with_context(|| self.failed_to("store the plan"))?;
        Ok(())
    }

    /// Stores every write about to be sent, with the result `planned`, in one transaction.
    /// Called before the first is sent: an error here means none may be sent.
    pub fn planned(&mut self, writes: &[PlannedWrite]) -> anyhow::Result<()> {
        let now = stored_time(Utc::now());
        let first = self.ops.len();
        let store = |conn: &mut Connection| -> anyhow::Result<()> {
            let tx = conn.transaction()?;
            {
                let mut insert = tx.prepare(
                    "INSERT INTO journal_writes (run, seq, at, op, type, content, value,
                         scan_action, expires, notes, prev_notes, prev_scan_action, prev_expires,
                         result)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                )?;
                for (i, w) in writes.iter().enumerate() {
                    let prev = w.previous.as_ref();
                    insert.execute(params![
                        self.id,
                        (first + i) as i64,
                        now,
                        w.op.as_str(),
                        w.kind.udso_type(),
                        w.content,
                        w.value,
                        w.scan_action,
                        w.expires.map(stored_time),
                        w.notes,
                        prev.map(|p| &p.notes),
                        prev.map(|p| &p.scan_action),
                        prev.and_then(|p| p.expires).map(stored_time),
                        result::PLANNED
                    ])?;
                }
            }
            tx.commit()?;
            Ok(())
        };
        store(&mut self.journal.conn)
            .with_context(|| self.failed_to("store the planned writes"))?;
        for (i, w) in writes.iter().enumerate() {
            self.seqs
                .insert((w.op == Op::Remove, w.kind, w.content.clone()), first + i);
            self.ops.push((w.op, w.kind));
        }
        Ok(())
    }

    /// Stores the result of one write, as it arrives (a transaction of its own). A result
    /// that cannot be stored is logged, and fails the run at its end ([`Self::error`]).
    pub fn result(&mut self, write: &Write, outcome: Outcome<'_>) {
        let key = (
            matches!(write, Write::Delete { .. }),
            write.kind(),
            write.content().to_owned(),
        );
        let Some(&seq) = self.seqs.get(&key) else {
            self.fail(format!(
                "a result of {} `{}`, which was not planned",
                write.kind(),
                write.content()
            ));
            return;
        };
        let (result, error) = match outcome {
            Outcome::Done => (result::DONE, None),
            Outcome::AlreadyGone => (result::ALREADY_GONE, None),
            Outcome::NoLongerOurs => (result::NOT_OURS, None),
            Outcome::TakenMeanwhile => (result::TAKEN_MEANWHILE, None),
            Outcome::AlreadyThere => (result::ALREADY_THERE, None),
            Outcome::Left => (result::LEFT, None),
            Outcome::Failed(e) => (result::FAILED, Some(e)),
        };
        let stored = self.journal.conn.execute(
            "UPDATE journal_writes SET result = ?1, error = ?2, at = ?3 WHERE run = ?4 AND seq = ?5",
            params![
                result,
                error,
                stored_time(Utc::now()),
                self.id,
                seq as i64
            ],
        );
        if let Err(e) = stored {
            self.fail(format!("{e}"));
        }
    }

    fn fail(&mut self, e: String) {
        tracing::error!("{}: {e}", self.failed_to("store the result of a write"));
        self.error.get_or_insert(e);
    }

    fn failed_to(&self, what: &str) -> String {
        format!(
            "run {}: cannot {what} in {}",
            self.id,
            where_(&self.journal.path)
        )
    }

    /// The first result that could not be stored, if one could not.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// Stores what the tag owns after the writes, per type: what it owned when the run
    /// listed, plus the adds done, minus the removals done (or already gone). Nothing when
    /// the run never listed.
    pub fn store_owned_after(&mut self) -> anyhow::Result<()> {
        let Some(mut owned) = self.owned_before.clone() else {
            return Ok(());
        };
        let mut query = self.journal.conn.prepare(
            "SELECT op, type, result FROM journal_writes WHERE run = ?1
                 AND result IN ('done', 'already-gone')",
        )?;
        let done: Vec<(String, String, String)> = query
            .query_map([&self.id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<_, _>>()?;
        drop(query);
        for (op, kind, result) in done {
            let Some(kind) = IocKind::from_udso_type(&kind) else {
                continue;
            };
            let count = owned.entry(kind).or_default();
            match (op.as_str(), result.as_str()) {
                ("add", "done") => *count += 1,
                ("remove", _) => *count = count.saturating_sub(1),
                _ => {}
            }
        }
        self.journal
            .conn
            .execute(
                "UPDATE journal_runs SET owned_after = ?1 WHERE id = ?2",
                params![serde_json::to_string(&owned)?, self.id],
            )
            .with_context(|| self.failed_to("store the owned counts"))?;
        Ok(())
    }

    /// Replaces what the source of `tag` wanted with this run's desired set, in one
    /// transaction.
    pub fn store_wanted(&mut self, tag: &str, wanted: &[WantedIoc]) -> anyhow::Result<()> {
        let id = self.id.clone();
        let store = |conn: &mut Connection| -> anyhow::Result<()> {
            let tx = conn.transaction()?;
            tx.execute("DELETE FROM journal_wanted WHERE tag = ?1", [tag])?;
            {
                let mut insert = tx.prepare(
                    "INSERT OR REPLACE INTO journal_wanted
                         (tag, type, value, scan_action, reason, seen, outcome, detail, run)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )?;
                for w in wanted {
                    insert.execute(params![
                        tag,
                        w.ioc.kind.udso_type(),
                        w.ioc.value,
                        w.scan_action,
                        w.reason,
                        stored_time(w.seen),
                        w.outcome,
                        w.detail,
                        id
                    ])?;
                }
            }
            tx.commit()?;
            Ok(())
        };
        store(&mut self.journal.conn)
            .with_context(|| self.failed_to("store what the source wanted"))
    }

    /// Ends the run: its end time and exit code. Returns the journal, to prune or read it.
    pub fn finish(self, exit_code: u8) -> anyhow::Result<Journal> {
        self.journal
            .conn
            .execute(
                "UPDATE journal_runs SET ended = ?1, exit_code = ?2 WHERE id = ?3",
                params![stored_time(Utc::now()), exit_code, self.id],
            )
            .with_context(|| self.failed_to("end the run"))?;
        Ok(self.journal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn destination() -> Destination {
        Destination {
            sink: "apex".into(),
            location: "https://apex.example:443".into(),
        }
    }

    fn new_run<'a>(id: &'a str, started: &str, forced: bool) -> NewRun<'a> {
        NewRun {
            id,
            tag: "lumu",
            kind: RunKind::Sync,
            source: "lumu",
            sink: "apex",
            location: "https://apex.example:443",
            dry_run: false,
            forced,
            undoes: None,
            started: t(started),
        }
    }

    fn add(value: &str) -> PlannedWrite {
        PlannedWrite {
            op: Op::Add,
            kind: IocKind::Domain,
            content: value.into(),
            value: Some(value.into()),
            scan_action: Some("block".into()),
            expires: Some(t("2027-01-01T00:00:00Z")),
            notes: Some("apex-ioc-sync:lumu C2C incident inc-1".into()),
            previous: None,
        }
    }

    fn remove(value: &str) -> PlannedWrite {
        PlannedWrite {
            op: Op::Remove,
            kind: IocKind::Domain,
            content: value.into(),
            value: Some(value.into()),
            scan_action: None,
            expires: None,
            notes: None,
            previous: Some(Previous {
                notes: "apex-ioc-sync:lumu Phishing incident inc-2".into(),
                scan_action: "log".into(),
                expires: None,
            }),
        }
    }

    fn domains(n: usize) -> BTreeMap<IocKind, usize> {
        BTreeMap::from([(IocKind::Domain, n)])
    }

    #[test]
    fn a_run_its_writes_and_their_results_are_kept_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let mut run = Journal::open(&path)
            .unwrap()
            .begin(&new_run("r1", "2026-12-06T20:15:00Z", false))
            .unwrap();
        run.listed(&domains(1)).unwrap();
        run.plan(
            PlanCounts {
                add: 2,
                update: 0,
                remove: 1,
            },
            None,
        )
        .unwrap();
        run.planned(&[add("a.example"), add("b.example"), remove("old.example")])
            .unwrap();
        let put = |v: &str| {
            Write::Put(crate::model::Put {
                kind: IocKind::Domain,
                content: v.into(),
                notes: String::new(),
                scan_action: crate::model::ScanAction::Block,
                expiration: None,
            })
        };
        run.result(&put("a.example"), Outcome::Done);
        run.result(&put("b.example"), Outcome::Failed("HTTP 500"));
        run.result(
            &Write::Delete {
                kind: IocKind::Domain,
                content: "old.example".into(),
            },
            Outcome::Done,
        );
        assert_eq!(run.error(), None);
        run.store_owned_after().unwrap();
        let journal = run.finish(4).unwrap();

        let runs = journal.runs(None, None).unwrap();
        assert_eq!(runs.len(), 1);
        let r = &runs[0];
        assert_eq!((r.id.as_str(), r.exit_code, r.failed), ("r1", Some(4), 1));
        assert_eq!((r.plan.add, r.plan.remove), (2, 1));
        assert!(r.ended.is_some());
        let writes = journal.writes("r1").unwrap();
        let got: Vec<(&str, &str, &str)> = writes
            .iter()
            .map(|w| (w.op.as_str(), w.content.as_str(), w.result.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("add", "a.example", "done"),
                ("add", "b.example", "failed"),
                ("remove", "old.example", "done")
            ]
        );
        assert_eq!(writes[0].reason.as_deref(), Some("C2C incident inc-1"));
        assert_eq!(writes[1].error.as_deref(), Some("HTTP 500"));
        assert_eq!(writes[2].previous.as_ref().unwrap().scan_action, "log");
        // 1 owned, one add done, one removal done: 1 after.
        let history = journal
            .owned_history("lumu", &destination(), t("2026-12-06T00:00:00Z"))
            .unwrap();
        assert_eq!(history, [domains(1), domains(1)]);
        let ioc = Ioc::new(IocKind::Domain, "a.example").unwrap();
        assert_eq!(journal.writes_of(&ioc).unwrap().len(), 1);
    }

    #[test]
    fn a_result_that_was_not_planned_is_an_error_of_the_run() {
        let mut run = Journal::open(&tempfile::tempdir().unwrap().path().join("s.db"))
            .unwrap()
            .begin(&new_run("r1", "2026-12-06T20:15:00Z", false))
            .unwrap();
        run.result(
            &Write::Delete {
                kind: IocKind::Ip,
                content: "10.0.0.1".into(),
            },
            Outcome::Done,
        );
        assert!(run.error().unwrap().contains("not planned"));
    }

    #[test]
    fn the_owned_history_starts_at_the_last_forced_run_and_stays_on_its_destination() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let record = |id: &str, at: &str, forced: bool, before: usize, after: usize| {
            let mut run = Journal::open(&path)
                .unwrap()
                .begin(&new_run(id, at, forced))
                .unwrap();
            run.listed(&domains(before)).unwrap();
            run.journal
                .conn
                .execute(
                    "UPDATE journal_runs SET owned_after = ?1 WHERE id = ?2",
                    params![serde_json::to_string(&domains(after)).unwrap(), id],
                )
                .unwrap();
            run.finish(0).unwrap();
        };
        record("old", "2026-12-05T00:00:00Z", false, 500, 500);
        record("a", "2026-12-06T10:00:00Z", false, 100, 60);
        record("b", "2026-12-06T11:00:00Z", false, 60, 36);
        let journal = Journal::open(&path).unwrap();
        let since = t("2026-12-06T00:00:00Z");
        let history = journal
            .owned_history("lumu", &destination(), since)
            .unwrap();
        assert_eq!(
            history,
            [domains(100), domains(60), domains(60), domains(36)]
        );
        // Another destination, another tag: nothing.
        let other = Destination {
            location: "https://other.example:443".into(),
            ..destination()
        };
        assert!(
            journal
                .owned_history("lumu", &other, since)
                .unwrap()
                .is_empty()
        );
        assert!(
            journal
                .owned_history("taxii", &destination(), since)
                .unwrap()
                .is_empty()
        );
        // A forced run acknowledged what went before it: its count after, and later runs.
        record("c", "2026-12-06T12:00:00Z", true, 36, 20);
        record("d", "2026-12-06T13:00:00Z", false, 20, 20);
        let history = journal
            .owned_history("lumu", &destination(), since)
            .unwrap();
        assert_eq!(history, [domains(20), domains(20), domains(20)]);
    }

    #[test]
    fn pruning_forgets_old_runs_of_the_tag_with_their_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        for (id, at) in [
            ("old", "2026-08-01T00:00:00Z"),
            ("new", "2026-12-01T00:00:00Z"),
        ] {
            let mut run = Journal::open(&path)
                .unwrap()
                .begin(&new_run(id, at, false))
                .unwrap();
            run.planned(&[add(&format!("{id}.example"))]).unwrap();
            run.finish(0).unwrap();
        }
        let journal = Journal::open(&path).unwrap();
        let now = t("2026-12-06T00:00:00Z");
        assert_eq!(journal.stats("lumu").unwrap().writes, 2);
        assert_eq!(journal.prune("taxii", 90, now).unwrap(), 0);
        assert_eq!(journal.prune("lumu", 90, now).unwrap(), 1);
        let stats = journal.stats("lumu").unwrap();
        assert_eq!((stats.runs, stats.writes), (1, 1));
        assert_eq!(stats.oldest, Some(t("2026-12-01T00:00:00Z")));
    }

    #[test]
    fn reading_a_missing_file_or_one_without_a_journal_says_so_and_where() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("none.db");
        let err = format!("{:#}", Journal::read(&path).err().unwrap());
        assert!(
            err.contains("does not exist") && err.contains("none.db"),
            "{err}"
        );
        assert!(!path.exists(), "reading made the file");
        Connection::open(&path)
            .unwrap()
            .execute_batch("CREATE TABLE x (a)")
            .unwrap();
        let err = format!("{:#}", Journal::read(&path).err().unwrap());
        assert!(err.contains("holds no journal yet"), "{err}");
        assert!(
            Journal::read(&path).is_err(),
            "reading added no journal to the file"
        );
    }

    #[test]
    fn a_dry_run_creates_no_state_file_and_journals_in_one_that_exists() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        assert!(Journal::open_for_dry_run(&path).unwrap().is_none());
        assert!(!path.exists());
        Connection::open(&path)
            .unwrap()
            .execute_batch("PRAGMA user_version = 2;")
            .unwrap();
        let journal = Journal::open_for_dry_run(&path).unwrap().unwrap();
        let run = journal
            .begin(&NewRun {
                dry_run: true,
                ..new_run("dry", "2026-12-06T20:15:00Z", false)
            })
            .unwrap();
        run.finish(0).unwrap();
        let version: i64 = Connection::open(&path)
            .unwrap()
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, 2, "a dry run upgrades nothing");
        let runs = Journal::read(&path).unwrap().runs(None, None).unwrap();
        assert!(runs[0].dry_run);
    }

    #[test]
    fn run_ids_sort_by_time_and_reasons_follow_the_tag() {
        let a = new_run_id(t("2026-12-06T20:15:00Z"));
        let b = new_run_id(t("2026-12-06T20:15:01Z"));
        assert!(a.starts_with("20261206T201500Z-") && a.len() == 21, "{a}");
        assert!(a < b);
        assert_eq!(
            reason_of("apex-ioc-sync:soc feed.txt line 3"),
            "feed.txt line 3"
        );
        assert_eq!(reason_of("apex-ioc-sync:soc"), "");
    }
}
