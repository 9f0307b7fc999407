//! The paging rules of a collection's objects endpoint (TAXII 2.1 section 3.4; see
//! `reference/taxii-stix.md`): which request follows a page, the cursor to store with it,
//! and when a server that stalls or pages inconsistently is left where it is.
//!
//! [`Pager`] is pure: it sees only what a page's envelope and headers say, and the time it
//! is told ([`Pager::with_clock`]). [`walk`] drives it with a page function (HTTP in the
//! source, a fake server in the tests) and hands every page to a keeper with the cursor to
//! store with it.
//!
//! The rules:
//! - `more` with a non-empty `next`: send `next` back with the same filters. An empty `next`
//!   is no `next`.
//! - `more` without `next`: page on with `added_after` = the page's
//!   `X-TAXII-Date-Added-Last` less one microsecond, written as the server writes its dates.
//!   `added_after` means strictly after, and more objects may share the page's last
//!   `date_added` than the page holds: asking from just before that date reads it whole
//!   again. The objects read twice (the tail of the page before) are counted and stored once
//!   (see the source's `fetch_page`). TAXII dates have microseconds at most, so a server
//!   that takes `added_after` as inclusive (`>=`) answers the same.
//! - The cursor stored with a page is where the next run resumes (the `added_after` it
//!   sends): after a page that says `more`, the page's last `date_added` less one
//!   microsecond, since the rest of that date may be on the next page, which a kill or an
//!   error may keep from being read; after the last page, the newest `date_added` read (all
//!   of it arrived), or the `added_after` of the last request if that is later. It is the
//!   server's clock, never ours, and never moves back; but a date more than
//!   [`MAX_CLOCK_SKEW`] ahead of the clock the pager is told is never stored: the cursor is
//!   held at that clock less the skew instead ([`Clamped`]), and the pager says so.
//! - A stall ends the collection with what arrived kept: `more` with no way on (no `next`,
//!   no usable date), the same page again, empty pages in a row, a page that does not move
//!   past the date it was asked from, a date before `added_after`, or more pages than any
//!   feed has. The stall is told, never silent.
//! - A server that does not move past a date (more objects share that `date_added` than it
//!   sends in one page) is first asked for the largest page; if it stalls at the same date in
//!   the next run too, the pager steps past that date (it asks for what was added after it;
//!   a server that answers with that date again takes `added_after` as inclusive, and is
//!   asked from one microsecond later) and says so, instead of stalling there for ever.

use std::collections::HashSet;
use std::fmt;

use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};

use crate::stix::indicator::MAX_CLOCK_SKEW;

/// Objects a page, unless `--taxii-page-size` says otherwise (Trend's default).
pub const DEFAULT_PAGE_SIZE: u32 = 1_000;
/// The largest `limit` asked for (Trend's maximum), when a page may split one `date_added`.
pub const MAX_PAGE_SIZE: u32 = 10_000;
/// Pages of one collection in one run before the server is taken for one that never ends
/// (a hundred million objects at the default page size).
pub const MAX_PAGES: usize = 100_000;
/// Pages in a row that say `more` and bring nothing before the server is left.
pub const MAX_EMPTY_PAGES: usize = 3;

/// A request for a page of a collection's indicators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The `added_after` filter, as sent.
    pub added_after: String,
    /// The server's `next`, sent back with the same filters.
    pub next: Option<String>,
    /// The `limit` filter.
    pub limit: u32,
}

/// What the paging rules need to know of a page: its envelope and headers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageInfo {
    /// The envelope's `more` (absent: false).
    pub more: bool,
    /// The envelope's `next`, as sent.
    pub next: Option<String>,
    /// Objects on the page.
    pub objects: usize,
    /// A digest of the page's objects (first and last id and version, and their number):
    /// the same page sent again has the same one.
    pub fingerprint: u64,
    /// The `X-TAXII-Date-Added-First` header, as sent.
    pub date_added_first: Option<String>,
    /// The `X-TAXII-Date-Added-Last` header, as sent.
    pub date_added_last: Option<String>,
}

/// The cursor to store with a page: where the collection's next run resumes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// The `added_after` the next run sends (RFC 3339).
    pub added_after: String,
    /// Set when the date the cursor would have moved to lay more than [`MAX_CLOCK_SKEW`]
    /// ahead of the pager's clock: `added_after` is then that clock less the skew (or stays
    /// where it was, if that is later).
    pub clamped: Option<Clamped>,
}

/// A cursor held back because the server's date lay in the future.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clamped {
    /// The server's `X-TAXII-Date-Added-Last`, as written.
    pub server_date: String,
    /// The newest cursor taken from the server's own dates before it (or where the run
    /// started): the last one known to be the server's real progress.
    pub trusted: String,
}

/// How a server stalled or paged inconsistently; the collection ends there, with what
/// arrived kept. Displayed as what the server did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stall {
    /// `more` with neither a `next` nor a usable `X-TAXII-Date-Added-Last`.
    NoWayOn {
        objects: usize,
        /// The header, when it was there but not a timestamp.
        unreadable: Option<String>,
    },
    /// Paging by `next`, a page the server already sent in this run.
    SamePage { page: usize },
    /// Paging by `next`, this many pages in a row that say `more` and bring nothing.
    EmptyPages { pages: usize },
    /// Paging by date, the page ends at the date it was asked from: the server does not
    /// move past that `date_added`, `at` (as written).
    NotAdvancing {
        at: String,
        objects: usize,
        limit: u32,
        /// The page ends at the `added_after` it was asked for itself: the server takes
        /// `added_after` as inclusive.
        inclusive: bool,
    },
    /// Paging by date, the page ends before the `added_after` it was asked for.
    WentBack { added_after: String, last: String },
    /// More pages than [`MAX_PAGES`] in one run.
    TooManyPages { pages: usize },
}

impl Stall {
    /// The date a later run steps past if the server stalls there again.
    pub fn stuck_at(&self) -> Option<&str> {
        match self {
            Stall::NotAdvancing { at, .. } => Some(at),
            _ => None,
        }
    }
}

impl fmt::Display for Stall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stall::NoWayOn {
                objects,
                unreadable: None,
            } => write!(
                f,
                "the server says there is more but gives neither `next` nor X-TAXII-Date-Added-Last (on a page of {objects} objects)"
            ),
            Stall::NoWayOn {
                objects,
                unreadable: Some(header),
            } => write!(
                f,
                "the server says there is more but gives no `next`, and its X-TAXII-Date-Added-Last `{header}` is not a timestamp (on a page of {objects} objects)"
            ),
            Stall::SamePage { page } => write!(
                f,
                "the server sent a page it had already sent (page {page}), following its own `next`"
            ),
            Stall::EmptyPages { pages } => write!(
                f,
                "the server said there is more on {pages} pages in a row but sent no objects"
            ),
            Stall::NotAdvancing {
                at,
                objects,
                limit,
                inclusive: true,
            } => write!(
                f,
                "the server does not move past date_added {at}: asked for objects added after it \
                 (limit {limit}), it sent {objects} added at that very time and says there is more, without `next` \
                 (it treats added_after as inclusive, and more objects share that date_added than it sends in one page)"
            ),
            Stall::NotAdvancing {
                at,
                objects,
                limit,
                inclusive: false,
            } => write!(
                f,
                "the server does not move past date_added {at}: asked for the objects added from that time on \
                 (limit {limit}), it sent {objects}, all added at that very time, and says there is more, without `next` \
                 (more objects share that date_added than it sends in one page, or it says `more` wrongly)"
            ),
            Stall::WentBack { added_after, last } => write!(
                f,
                "the server went back: asked for objects added after {added_after}, it sent a page whose X-TAXII-Date-Added-Last is {last}, \
                 and says there is more, without `next` (it ignores added_after)"
            ),
            Stall::TooManyPages { pages } => write!(
                f,
                "the server was still saying there is more after {pages} pages"
            ),
        }
    }
}

/// What follows a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Then {
    /// Ask for this page next.
    Request(Request),
    /// The collection is read to its end.
    Done,
    /// The server stalled: the collection ends here.
    Stalled(Stall),
}

/// The rules' answer to a page: the cursor to store with it (when it moves, or is held back
/// from a date in the future), and what follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub cursor: Option<Cursor>,
    pub then: Then,
}

/// A timestamp: as written (sent back as such), the instant it names, and how it was
/// written (its offset, and `Z` or not), for the timestamps made from it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Mark {
    text: String,
    at: DateTime<Utc>,
    offset: FixedOffset,
    z: bool,
}

impl Mark {
    fn parse(text: &str) -> Option<Self> {
        let written = DateTime::parse_from_rfc3339(text.trim()).ok()?;
        Some(Mark {
            text: text.to_owned(),
            at: written.with_timezone(&Utc),
            offset: *written.offset(),
            z: text.trim_end().ends_with(['Z', 'z']),
        })
    }

    /// `at` in TAXII's own form, `YYYY-MM-DDTHH:MM:SS.ssssssZ`.
    fn ours(at: DateTime<Utc>) -> Self {
        Mark {
            text: at.to_rfc3339_opts(SecondsFormat::Micros, true),
            at,
            offset: FixedOffset::east_opt(0).expect("UTC"),
            z: true,
        }
    }

    /// This time moved by `micros` microseconds, written as this one was: in its offset, and
    /// with microseconds (nanoseconds if it has more).
    fn shifted(&self, micros: i64) -> Self {
        let at = self.at + chrono::Duration::microseconds(micros);
        let written = at.with_timezone(&self.offset);
        let digits = if at.timestamp_subsec_nanos().is_multiple_of(1_000) {
            SecondsFormat::Micros
        } else {
            SecondsFormat::Nanos
        };
        Mark {
            text: written.to_rfc3339_opts(digits, self.z),
            at,
            offset: self.offset,
            z: self.z,
        }
    }
}

/// The paging state of one collection in one run.
#[derive(Debug)]
pub struct Pager {
    limit: u32,
    /// The `limit` of the next request: `limit`, or [`MAX_PAGE_SIZE`] to get past a date.
    limit_now: u32,
    added_after: Mark,
    next: Option<String>,
    /// The cursor stored so far (where the run started, at first).
    cursor: Mark,
    /// The newest cursor stored from the server's own dates (where the run started, at
    /// first): what a cursor held back from a date in the future is known to be after.
    trusted: Mark,
    /// The newest `X-TAXII-Date-Added-Last` of this run.
    newest: Option<Mark>,
    /// The latest cursor taken from the server's dates, and the one a later date is held
    /// at instead (see [`Pager::with_clock`]).
    clock: Option<(DateTime<Utc>, Mark)>,
    /// The newest server date that lay past the clock's limit, if any did.
    future: Option<Mark>,
    /// Where the previous run stalled because the server did not move past a date.
    stuck_before: Option<DateTime<Utc>>,
    /// The `added_after` this run stepped past a date with.
    stepped: Option<Mark>,
    pages: usize,
    empty_pages: usize,
    fingerprints: HashSet<u64>,
    notes: Vec<String>,
    objects_without_date: bool,
}

impl Pager {
    /// Paging from `added_after` (the stored cursor, or the start of the first run's window;
    /// an RFC 3339 timestamp) in pages of `limit`; the cursor only moves past it.
    /// `stuck_before` is the date at which the previous run stalled, if it did because the
    /// server did not move past it. An `added_after` that is not a timestamp is an error.
    pub fn new(added_after: &str, limit: u32, stuck_before: Option<&str>) -> anyhow::Result<Self> {
        let start = Mark::parse(added_after)
            .ok_or_else(|| anyhow::anyhow!("`{added_after}` is not an RFC 3339 timestamp"))?;
        Ok(Pager {
            limit,
            limit_now: limit,
            cursor: start.clone(),
            trusted: start.clone(),
            added_after: start,
            newest: None,
            clock: None,
            future: None,
            next: None,
            stuck_before: stuck_before.and_then(Mark::parse).map(|m| m.at),
            stepped: None,
            pages: 0,
            empty_pages: 0,
            fingerprints: HashSet::new(),
            notes: Vec::new(),
            objects_without_date: false,
        })
    }

    /// Judges the server's dates by this machine's clock read at `now`: a cursor more than
    /// [`MAX_CLOCK_SKEW`] after it is not stored; the cursor is held at `now` less that skew
    /// instead (or stays where it is, if later), which skips nothing the server adds later
    /// if its clock is within the skew of ours, or ahead of it.
    pub fn with_clock(mut self, now: DateTime<Utc>) -> Self {
        self.clock = Some((now + MAX_CLOCK_SKEW, Mark::ours(now - MAX_CLOCK_SKEW)));
        self
    }

    /// The first request.
    pub fn first(&self) -> Request {
        self.request()
    }

    /// Pages answered so far.
    pub fn pages(&self) -> usize {
        self.pages
    }

    /// What the server did that did not stop the paging but should be known (no dates, so
    /// the cursor cannot move; a step past a date; a date in the future), once each.
    pub fn notes(&self) -> Vec<String> {
        let mut notes = self.notes.clone();
        if self.objects_without_date {
            notes.push(
                "the server sends objects without X-TAXII-Date-Added-Last, so the cursor cannot move: \
                 the next run reads the same objects again"
                    .to_owned(),
            );
        }
        if let Some(future) = &self.future {
            notes.push(format!(
                "the server's X-TAXII-Date-Added-Last {} lies more than {} minutes ahead of this machine's clock \
                 (the server's clock runs ahead, or the date is wrong): it is not taken as the cursor, which is held at {} \
                 instead, so that the next run reads on from there and skips nothing; check the server's clock",
                future.text,
                MAX_CLOCK_SKEW.num_minutes(),
                self.cursor.text
            ));
        }
        notes
    }

    fn request(&self) -> Request {
        Request {
            added_after: self.added_after.text.clone(),
            next: self.next.clone(),
            limit: self.limit_now,
        }
    }

    /// A header's date; an unreadable one is noted and taken as absent.
    fn date(&mut self, header: &Option<String>, name: &str) -> (Option<Mark>, Option<String>) {
        let Some(text) = header else {
            return (None, None);
        };
        match Mark::parse(text) {
            Some(mark) => (Some(mark), None),
            None => {
                let note = format!("the server's {name} `{text}` is not a timestamp");
                if !self.notes.contains(&note) {
                    self.notes.push(note);
                }
                (None, Some(text.clone()))
            }
        }
    }

    /// The step after `page`, the answer to the last request.
    pub fn after(&mut self, page: &PageInfo) -> Step {
        self.pages += 1;
        let (last, unreadable) = self.date(&page.date_added_last, "X-TAXII-Date-Added-Last");
        match &last {
            Some(l) if self.newest.as_ref().is_none_or(|n| l.at > n.at) => {
                self.newest = Some(l.clone());
            }
            Some(_) => {}
            None if page.objects > 0 => self.objects_without_date = true,
            None => {}
        }
        let then = self.then(page, last.clone(), unreadable);
        let cursor = match &then {
            // Read to the end: every object of the newest date arrived, and everything after
            // the last request's `added_after` (later than that date after a step past it).
            Then::Done => match self.newest.clone() {
                Some(newest) if newest.at >= self.added_after.at => {
                    self.resume_at(newest.clone(), &newest)
                }
                newest => {
                    let sent = self.added_after.clone();
                    self.resume_at(sent.clone(), newest.as_ref().unwrap_or(&sent))
                }
            },
            // The rest of the page's last date may follow: the next run reads it again.
            _ => last.and_then(|l| self.resume_at(l.shifted(-1), &l)),
        };
        Step { cursor, then }
    }

    /// The cursor to store for resuming at `at`, taken from the server's date `date`: `None`
    /// when it would not move. One past the clock's limit is held back (and noted).
    fn resume_at(&mut self, at: Mark, date: &Mark) -> Option<Cursor> {
        if let Some((latest, held)) = &self.clock
            && at.at > *latest
        {
            if held.at > self.cursor.at {
                self.cursor = held.clone();
            }
            if self.future.as_ref().is_none_or(|f| date.at > f.at) {
                self.future = Some(date.clone());
            }
            return Some(Cursor {
                added_after: self.cursor.text.clone(),
                clamped: Some(Clamped {
                    server_date: date.text.clone(),
                    trusted: self.trusted.text.clone(),
                }),
            });
        }
        if at.at <= self.cursor.at {
            return None;
        }
        self.cursor = at.clone();
        self.trusted = at;
        Some(Cursor {
            added_after: self.cursor.text.clone(),
            clamped: None,
        })
    }

    fn then(&mut self, page: &PageInfo, last: Option<Mark>, unreadable: Option<String>) -> Then {
        if !page.more {
            return Then::Done;
        }
        if self.pages >= MAX_PAGES {
            return Then::Stalled(Stall::TooManyPages { pages: self.pages });
        }
        if let Some(next) = page.next.as_ref().filter(|n| !n.is_empty()) {
            // By `next`, with the filters of the request that brought it.
            if page.objects > 0 && !self.fingerprints.insert(page.fingerprint) {
                return Then::Stalled(Stall::SamePage { page: self.pages });
            }
            self.empty_pages = if page.objects == 0 {
                self.empty_pages + 1
            } else {
                0
            };
            if self.empty_pages >= MAX_EMPTY_PAGES {
                return Then::Stalled(Stall::EmptyPages {
                    pages: self.empty_pages,
                });
            }
            self.next = Some(next.clone());
            return Then::Request(self.request());
        }
        // By date: from just before the page's last date_added, which reads that date whole
        // again (more objects may share it than the page holds).
        self.next = None;
        let Some(last) = last else {
            return Then::Stalled(Stall::NoWayOn {
                objects: page.objects,
                unreadable,
            });
        };
        if last.at < self.added_after.at {
            return Then::Stalled(Stall::WentBack {
                added_after: self.added_after.text.clone(),
                last: last.text,
            });
        }
        let again = last.shifted(-1);
        if again.at > self.added_after.at {
            self.added_after = again;
            self.limit_now = self.limit;
            return Then::Request(self.request());
        }
        // The page ends at the date it was asked from: every object on it was added then. A
        // larger page may hold every object of that date, if the server sent all it was
        // asked for.
        if page.objects >= self.limit_now as usize && self.limit_now < MAX_PAGE_SIZE {
            self.limit_now = MAX_PAGE_SIZE;
            return Then::Request(self.request());
        }
        let inclusive = last.at <= self.added_after.at;
        match &self.stepped {
            None if self.stuck_before == Some(last.at) => {
                self.notes.push(format!(
                    "the server did not move past date_added {} in the previous run either: stepping past it; \
                     objects added at that time beyond the {} it sends cannot be read from this server",
                    last.text, page.objects
                ));
                // What was added after that date: a server that keeps to the spec sends it.
                self.step(last);
                Then::Request(self.request())
            }
            // Asked for what was added after the date, the server sent that date again: it
            // takes `added_after` as inclusive.
            Some(stepped) if inclusive && stepped.at == last.at => {
                self.step(last.shifted(1));
                Then::Request(self.request())
            }
            _ => Then::Stalled(Stall::NotAdvancing {
                at: last.text,
                objects: page.objects,
                limit: self.limit_now,
                inclusive,
            }),
        }
    }

    /// Asks next for what was added after `past`.
    fn step(&mut self, past: Mark) {
        self.added_after = past.clone();
        self.stepped = Some(past);
        self.limit_now = self.limit;
    }
}

/// How reading a collection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Walked {
    pub pages: usize,
    /// `None`: read to its end.
    pub stall: Option<Stall>,
    /// See [`Pager::notes`].
    pub notes: Vec<String>,
}

/// Reads a collection with `pager`'s rules. `fetch` starts a request at once and returns
/// the page's envelope facts, then (a second future) its payload, so that the next page is
/// on its way while this one is still parsed and kept. `keep` stores each payload with
/// the cursor to store with it, in order. An error of `fetch` or `keep` ends the walk with
/// that error (the pages kept before it stay kept).
pub async fn walk<F, Fut, Rest, P, K>(
    mut pager: Pager,
    mut fetch: F,
    mut keep: K,
) -> anyhow::Result<Walked>
where
    F: FnMut(&Request) -> Fut,
    Fut: Future<Output = anyhow::Result<(PageInfo, Rest)>>,
    Rest: Future<Output = anyhow::Result<P>>,
    K: AsyncFnMut(P, Option<Cursor>) -> anyhow::Result<()>,
{
    let mut pending = fetch(&pager.first());
    loop {
        let (info, rest) = pending.await?;
        let step = pager.after(&info);
        let next = match &step.then {
            Then::Request(request) => Some(fetch(request)),
            Then::Done | Then::Stalled(_) => None,
        };
        keep(rest.await?, step.cursor).await?;
        let stall = match (step.then, next) {
            (Then::Request(_), Some(next)) => {
                pending = next;
                continue;
            }
            (Then::Stalled(stall), _) => Some(stall),
            _ => None,
        };
        return Ok(Walked {
            pages: pager.pages(),
            stall,
            notes: pager.notes(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::ready;

    /// A fake TAXII server: objects `(date_added second, id)`, sorted by date, paged by
    /// `limit` (capped at `cap`), with the quirks a test turns on.
    #[derive(Debug, Clone)]
    struct Fake {
        objects: Vec<(u32, u32)>,
        cap: u32,
        /// `added_after` is `>=` instead of `>`.
        inclusive: bool,
        /// Page by `next` tokens (offsets).
        tokens: bool,
        /// Send `"next": ""` with `more`.
        empty_next: bool,
        /// Ignore `next` and `added_after`: always the first page, `more`.
        stuck: bool,
        /// `more` after the last object too, with nothing on the page.
        more_forever: bool,
        /// No X-TAXII-Date-Added-* headers.
        no_dates: bool,
        /// X-TAXII-Date-Added-Last written this way instead of a timestamp.
        bad_date: Option<&'static str>,
        /// Objects: pages of (added_after, next) asked for.
        requests: Vec<Request>,
    }

    fn at(second: u32) -> String {
        let base: DateTime<Utc> = "2026-11-28T10:00:00Z".parse().unwrap();
        (base + chrono::Duration::seconds(i64::from(second)))
            .to_rfc3339_opts(SecondsFormat::Micros, true)
    }

    /// One microsecond before `at(second)`: where a page that ends at that date resumes.
    fn before(second: u32) -> String {
        let t: DateTime<Utc> = at(second).parse().unwrap();
        (t - chrono::Duration::microseconds(1)).to_rfc3339_opts(SecondsFormat::Micros, true)
    }

    fn instant(text: &str) -> DateTime<chrono::FixedOffset> {
        DateTime::parse_from_rfc3339(text).unwrap()
    }

    impl Fake {
        fn new(seconds: &[u32]) -> Self {
            Fake {
                objects: seconds
                    .iter()
                    .enumerate()
                    .map(|(i, &s)| (s, i as u32 + 1))
                    .collect(),
                cap: 1_000,
                inclusive: false,
                tokens: false,
                empty_next: false,
                stuck: false,
                more_forever: false,
                no_dates: false,
                bad_date: None,
                requests: Vec::new(),
            }
        }

        /// The page for `r`, and its object ids.
        fn answer(&mut self, r: &Request) -> (PageInfo, Vec<u32>) {
            self.requests.push(r.clone());
            let after = DateTime::parse_from_rfc3339(&r.added_after).unwrap();
            let base = DateTime::parse_from_rfc3339(&at(0)).unwrap();
            let matching: Vec<(u32, u32)> = self
                .objects
                .iter()
                .copied()
                .filter(|&(s, _)| {
                    let added = base + chrono::Duration::seconds(i64::from(s));
                    self.stuck
                        || if self.inclusive {
                            added >= after
                        } else {
                            added > after
                        }
                })
                .collect();
            let offset = match (&r.next, self.tokens && !self.stuck) {
                (Some(n), true) => n.parse().unwrap(),
                _ => 0,
            };
            let limit = r.limit.min(self.cap) as usize;
            let page: Vec<(u32, u32)> = matching.iter().skip(offset).take(limit).copied().collect();
            let more = self.stuck || self.more_forever || offset + page.len() < matching.len();
            let next = match (more, self.tokens, self.empty_next) {
                (true, true, _) => Some((offset + page.len()).to_string()),
                (true, false, true) => Some(String::new()),
                _ => None,
            };
            let dates = !self.no_dates && !page.is_empty();
            let info = PageInfo {
                more,
                next,
                objects: page.len(),
                fingerprint: page.iter().fold(page.len() as u64, |h, &(_, id)| {
                    h.wrapping_mul(31).wrapping_add(u64::from(id))
                }),
                date_added_first: dates.then(|| at(page[0].0)),
                date_added_last: match self.bad_date {
                    Some(bad) => Some(bad.to_owned()),
                    None => dates.then(|| at(page[page.len() - 1].0)),
                },
            };
            (info, page.iter().map(|&(_, id)| id).collect())
        }
    }

    /// What a run kept: object ids in order, the cursors stored, and how it ended.
    #[derive(Debug)]
    struct Run {
        kept: Vec<u32>,
        /// The cursor after the run (`start` when it did not move).
        cursor: Option<String>,
        /// The cursors stored held back from a date in the future.
        clamps: Vec<Clamped>,
        walked: Walked,
    }

    /// A run from `start` (the cursor, or the first run's window).
    fn run(fake: &mut Fake, start: &str, limit: u32, stuck: Option<&str>) -> Run {
        run_at(fake, start, limit, stuck, None)
    }

    /// [`run`] with the pager told the time, `clock`.
    fn run_at(
        fake: &mut Fake,
        start: &str,
        limit: u32,
        stuck: Option<&str>,
        clock: Option<DateTime<Utc>>,
    ) -> Run {
        let mut pager = Pager::new(start, limit, stuck).unwrap();
        if let Some(now) = clock {
            pager = pager.with_clock(now);
        }
        let mut kept = Vec::new();
        let mut stored: Option<String> = Some(start.to_owned());
        let mut clamps = Vec::new();
        let walked = futures::executor::block_on(walk(
            pager,
            |r: &Request| {
                let (info, ids) = fake.answer(r);
                ready(anyhow::Ok((info, ready(anyhow::Ok(ids)))))
            },
            async |ids: Vec<u32>, c: Option<Cursor>| {
                kept.extend(ids);
                if let Some(c) = c {
                    // The cursor never moves back; a held one may stay where it is.
                    if let Some(old) = &stored {
                        let (new, old) = (instant(&c.added_after), instant(old));
                        assert!(
                            new > old || (c.clamped.is_some() && new == old),
                            "{c:?} after {old}"
                        );
                    }
                    stored = Some(c.added_after);
                    clamps.extend(c.clamped);
                }
                Ok(())
            },
        ))
        .unwrap();
        Run {
            kept,
            cursor: stored,
            clamps,
            walked,
        }
    }

    fn distinct(kept: &[u32]) -> Vec<u32> {
        let mut v = kept.to_vec();
        v.sort();
        v.dedup();
        v
    }

    const START: &str = "2026-11-01T00:00:00.000000Z";

    #[test]
    fn pages_by_next_with_the_original_filters() {
        let mut fake = Fake {
            tokens: true,
            ..Fake::new(&[1, 2, 3, 4, 5])
        };
        let r = run(&mut fake, START, 2, None);
        assert_eq!(r.kept, [1, 2, 3, 4, 5]);
        assert_eq!(r.walked.stall, None);
        assert_eq!(r.cursor.as_deref(), Some(at(5).as_str()));
        assert_eq!(fake.requests.len(), 3);
        for request in &fake.requests {
            assert_eq!((request.added_after.as_str(), request.limit), (START, 2));
        }
        assert_eq!(fake.requests[2].next.as_deref(), Some("4"));
    }

    #[test]
    fn an_empty_next_is_no_next_and_paging_goes_on_by_date() {
        let mut fake = Fake {
            empty_next: true,
            cap: 2,
            ..Fake::new(&[1, 2, 3, 4, 5])
        };
        let r = run(&mut fake, START, 1_000, None);
        // Each page from just before the last one's last date: the object at that date comes
        // twice (the source counts and stores it once), and five objects take four pages.
        assert_eq!(r.kept, [1, 2, 2, 3, 3, 4, 4, 5]);
        assert_eq!(r.walked.stall, None);
        assert_eq!(fake.requests.len(), 4, "{:?}", fake.requests);
        assert!(fake.requests.iter().all(|r| r.next.is_none()));
        assert_eq!(fake.requests[1].added_after, before(2));
        assert_eq!(r.cursor.as_deref(), Some(at(5).as_str()));
    }

    #[test]
    fn an_inclusive_server_with_a_batch_sharing_one_date_stalls_then_is_stepped_past() {
        let mut fake = Fake {
            inclusive: true,
            cap: 2,
            ..Fake::new(&[1, 2, 3, 3, 3])
        };
        let first = run(&mut fake, START, 1_000, None);
        // Everything that arrived is kept (the repeats are harmless), the cursor stays just
        // before the shared date (the next run reads that date again), and the stall names
        // the date.
        assert_eq!(distinct(&first.kept), [1, 2, 3, 4]);
        assert_eq!(first.cursor.as_deref(), Some(before(3).as_str()));
        let stall = first.walked.stall.clone().unwrap();
        assert_eq!(
            stall,
            Stall::NotAdvancing {
                at: at(3),
                objects: 2,
                limit: 1_000,
                inclusive: false
            }
        );
        assert!(
            stall.to_string().contains("share that date_added"),
            "{stall}"
        );
        assert_eq!(fake.requests.len(), 3);

        // The next run stalls at the same date: it steps past it, says so, and ends.
        fake.requests.clear();
        let cursor = first.cursor.unwrap();
        let second_run = run(&mut fake, &cursor, 1_000, stall.stuck_at());
        assert_eq!(second_run.walked.stall, None);
        assert!(
            second_run.walked.notes[0].contains("stepping past"),
            "{:?}",
            second_run.walked.notes
        );
        let stepped = second_run.cursor.unwrap();
        assert_eq!(stepped, "2026-11-28T10:00:03.000001Z");

        // And the run after that is not stuck: nothing new, nothing said.
        fake.requests.clear();
        let third = run(&mut fake, &stepped, 1_000, None);
        assert_eq!((third.kept.len(), third.walked.stall), (0, None));
        assert!(third.walked.notes.is_empty());
        assert_eq!(fake.requests.len(), 1);
    }

    #[test]
    fn a_date_shared_across_a_page_boundary_is_read_whole_from_a_strict_server() {
        // Indicators added at 1, 2, 2, 3; pages of 2; the server keeps to the spec
        // (`added_after` strictly after) and pages by date only.
        let mut fake = Fake {
            cap: 3,
            ..Fake::new(&[1, 2, 2, 3])
        };
        let r = run(&mut fake, START, 2, None);
        assert_eq!(distinct(&r.kept), [1, 2, 3, 4]);
        assert_eq!(r.walked.stall, None);
        assert!(r.walked.notes.is_empty(), "{:?}", r.walked.notes);
        // From just before 2: the page holds 2 alone, so the largest page is asked for.
        let asked: Vec<(String, u32)> = fake
            .requests
            .iter()
            .map(|r| (r.added_after.clone(), r.limit))
            .collect();
        assert_eq!(
            asked,
            [
                (START.to_owned(), 2),
                (before(2), 2),
                (before(2), MAX_PAGE_SIZE)
            ]
        );
        assert_eq!(r.cursor.as_deref(), Some(at(3).as_str()));
        // The same by `next`: nothing to re-read within the run.
        let mut fake = Fake {
            tokens: true,
            ..Fake::new(&[1, 2, 2, 3])
        };
        let r = run(&mut fake, START, 2, None);
        assert_eq!(r.kept, [1, 2, 3, 4]);
        assert_eq!(r.cursor.as_deref(), Some(at(3).as_str()));
    }

    #[test]
    fn a_date_that_fills_the_servers_largest_page_stalls_then_is_stepped_past() {
        // The server sends 2 objects at most; three share date 2.
        let mut fake = Fake {
            cap: 2,
            ..Fake::new(&[1, 2, 2, 2, 3])
        };
        let first = run(&mut fake, START, 2, None);
        assert_eq!(distinct(&first.kept), [1, 2, 3]);
        let stall = first.walked.stall.clone().unwrap();
        assert_eq!(stall.stuck_at(), Some(at(2).as_str()));
        assert!(!stall.to_string().contains("inclusive"), "{stall}");
        assert_eq!(first.cursor.as_deref(), Some(before(2).as_str()));
        // The next run stalls there again: it asks for what was added after 2, which this
        // server (strictly after) answers; the third object of date 2 is lost, and said so.
        fake.requests.clear();
        let second = run(&mut fake, &before(2), 2, stall.stuck_at());
        assert_eq!(second.walked.stall, None);
        assert!(
            second.walked.notes[0].contains("stepping past")
                && second.walked.notes[0].contains(&at(2)),
            "{:?}",
            second.walked.notes
        );
        assert!(second.kept.contains(&5), "{:?}", second.kept);
        assert!(fake.requests.iter().any(|r| r.added_after == at(2)));
        assert_eq!(second.cursor.as_deref(), Some(at(3).as_str()));
    }

    #[test]
    fn an_error_between_pages_by_next_resumes_before_the_last_date_stored() {
        // 1, 2, 2, 3 by `next` in pages of 2: the page of 1 and 2 is stored, then the server
        // fails. The next run must read the second object of date 2.
        let mut fake = Fake {
            tokens: true,
            ..Fake::new(&[1, 2, 2, 3])
        };
        let mut stored = None;
        let mut kept = Vec::new();
        let mut pages = 0;
        let result = futures::executor::block_on(walk(
            Pager::new(START, 2, None).unwrap(),
            |r: &Request| {
                pages += 1;
                let (info, ids) = fake.answer(r);
                ready(if pages == 1 {
                    anyhow::Ok((info, ready(anyhow::Ok(ids))))
                } else {
                    Err(anyhow::anyhow!("HTTP 503"))
                })
            },
            async |ids: Vec<u32>, c: Option<Cursor>| {
                kept.extend(ids);
                if let Some(c) = c {
                    stored = Some(c.added_after);
                }
                Ok(())
            },
        ));
        assert!(result.is_err());
        assert_eq!(kept, [1, 2]);
        let resume = stored.unwrap();
        assert_eq!(resume, before(2));
        fake.requests.clear();
        let rerun = run(&mut fake, &resume, 2, None);
        assert_eq!(rerun.kept, [2, 3, 4]);
        assert_eq!(rerun.cursor.as_deref(), Some(at(3).as_str()));
    }

    #[test]
    fn a_date_in_the_future_is_never_the_cursor() {
        // The clock reads 10:10:00; two objects were added (by the server's clock) at
        // 10:16:40 and after.
        let now: DateTime<Utc> = at(600).parse().unwrap();
        let held = (now - MAX_CLOCK_SKEW).to_rfc3339_opts(SecondsFormat::Micros, true);
        for tokens in [false, true] {
            let mut fake = Fake {
                tokens,
                ..Fake::new(&[1, 2, 1000, 1001])
            };
            let r = run_at(&mut fake, START, 2, None, Some(now));
            assert_eq!(distinct(&r.kept), [1, 2, 3, 4], "tokens {tokens}");
            assert_eq!(r.cursor.as_deref(), Some(held.as_str()), "tokens {tokens}");
            // Held back from the server's date, which is named, and known to be after the
            // last cursor taken from the server's own dates.
            let last = r.clamps.last().unwrap();
            assert_eq!(last.server_date, at(1001));
            assert_eq!(last.trusted, before(2));
            assert!(
                r.walked
                    .notes
                    .iter()
                    .any(|n| n.contains(&at(1001)) && n.contains("ahead of this machine's clock")),
                "{:?}",
                r.walked.notes
            );
            // The next run reads on from the held cursor: nothing is skipped.
            fake.requests.clear();
            let again = run_at(&mut fake, &held, 2, None, Some(now));
            assert_eq!(distinct(&again.kept), [3, 4], "tokens {tokens}");
            assert_eq!(again.cursor.as_deref(), Some(held.as_str()));
            assert_eq!(again.clamps.last().unwrap().trusted, held);
        }
        // Without the clock's check, or with dates within the skew, the server's date is
        // the cursor.
        let mut fake = Fake::new(&[1, 2, 400]);
        let r = run(&mut fake, START, 1_000, None);
        assert_eq!(r.cursor.as_deref(), Some(at(400).as_str()));
        let r = run_at(
            &mut fake,
            START,
            1_000,
            None,
            Some(at(200).parse().unwrap()),
        );
        assert_eq!(
            (r.cursor.as_deref(), r.clamps.len()),
            (Some(at(400).as_str()), 0)
        );
        // A cursor already later than the held time stays where it is, held all the same.
        let mut fake = Fake::new(&[1, 2, 1000]);
        let r = run_at(&mut fake, &at(700), 1_000, None, Some(now));
        assert_eq!(r.cursor.as_deref(), Some(at(700).as_str()));
        assert_eq!(r.clamps.len(), 1);
    }

    #[test]
    fn an_inclusive_server_pages_on_when_dates_move() {
        let mut fake = Fake {
            inclusive: true,
            cap: 2,
            ..Fake::new(&[1, 2, 3, 4, 5])
        };
        let r = run(&mut fake, START, 1_000, None);
        assert_eq!(distinct(&r.kept), [1, 2, 3, 4, 5]);
        assert_eq!(r.walked.stall, None);
    }

    #[test]
    fn a_date_split_across_pages_gets_the_largest_page() {
        // Six objects share second 2; pages of 2, the server allows up to 7.
        let mut fake = Fake {
            inclusive: true,
            cap: 7,
            ..Fake::new(&[1, 2, 2, 2, 2, 2, 2, 3, 4, 5, 6])
        };
        let r = run(&mut fake, START, 2, None);
        assert_eq!(distinct(&r.kept), (1..=11).collect::<Vec<u32>>());
        assert_eq!(r.walked.stall, None);
        let limits: Vec<u32> = fake.requests.iter().map(|r| r.limit).collect();
        assert!(limits.contains(&MAX_PAGE_SIZE), "{limits:?}");
        // Back to the asked page size once past that date.
        assert_eq!(*limits.last().unwrap(), 2, "{limits:?}");
    }

    #[test]
    fn more_without_next_or_date_stalls_and_keeps_what_arrived() {
        let mut fake = Fake {
            no_dates: true,
            cap: 2,
            ..Fake::new(&[1, 2, 3])
        };
        let r = run(&mut fake, START, 2, None);
        assert_eq!(r.kept, [1, 2]);
        assert_eq!(
            r.walked.stall,
            Some(Stall::NoWayOn {
                objects: 2,
                unreadable: None
            })
        );
        assert_eq!(
            r.cursor.as_deref(),
            Some(START),
            "no date, the cursor stays"
        );
        assert!(r.walked.notes.iter().any(|n| n.contains("cannot move")));
    }

    #[test]
    fn an_unreadable_date_is_named() {
        let mut fake = Fake {
            bad_date: Some("yesterday"),
            cap: 2,
            ..Fake::new(&[1, 2, 3])
        };
        let r = run(&mut fake, START, 2, None);
        let stall = r.walked.stall.unwrap();
        assert!(stall.to_string().contains("`yesterday`"), "{stall}");
        assert_eq!(r.kept, [1, 2]);
    }

    #[test]
    fn more_for_ever_with_empty_pages_stalls_after_the_last_object() {
        // By date: the empty page after the last object has no date.
        let mut fake = Fake {
            more_forever: true,
            cap: 2,
            ..Fake::new(&[1, 2, 3])
        };
        // By date: the page from just before 3 brings 3 alone, and more again.
        let r = run(&mut fake, START, 2, None);
        assert_eq!(distinct(&r.kept), [1, 2, 3]);
        assert_eq!(
            r.walked.stall,
            Some(Stall::NotAdvancing {
                at: at(3),
                objects: 1,
                limit: 2,
                inclusive: false
            })
        );
        assert_eq!(r.cursor.as_deref(), Some(before(3).as_str()));
        // By next: a few empty pages, then it is left.
        let mut fake = Fake {
            more_forever: true,
            tokens: true,
            cap: 2,
            ..Fake::new(&[1, 2, 3])
        };
        let r = run(&mut fake, START, 2, None);
        assert_eq!(r.kept, [1, 2, 3]);
        assert_eq!(
            r.walked.stall,
            Some(Stall::EmptyPages {
                pages: MAX_EMPTY_PAGES
            })
        );
        assert_eq!(r.cursor.as_deref(), Some(before(3).as_str()));
    }

    #[test]
    fn a_server_that_ignores_next_is_left_after_the_page_repeats() {
        let mut fake = Fake {
            stuck: true,
            tokens: true,
            cap: 2,
            ..Fake::new(&[1, 2, 3])
        };
        let r = run(&mut fake, START, 2, None);
        assert_eq!(r.kept, [1, 2, 1, 2]);
        assert_eq!(r.walked.stall, Some(Stall::SamePage { page: 2 }));
        assert_eq!(r.cursor.as_deref(), Some(before(2).as_str()));
    }

    #[test]
    fn a_server_that_ignores_added_after_is_left_when_it_goes_back() {
        let mut fake = Fake {
            stuck: true,
            cap: 2,
            ..Fake::new(&[1, 2, 3, 4])
        };
        // A later run, from a cursor past the first page.
        let r = run(&mut fake, &at(3), 2, None);
        assert_eq!(r.kept, [1, 2]);
        assert_eq!(
            r.walked.stall,
            Some(Stall::WentBack {
                added_after: at(3),
                last: at(2)
            })
        );
        assert_eq!(
            r.cursor.as_deref(),
            Some(at(3).as_str()),
            "never moved back"
        );
    }

    #[test]
    fn a_server_that_never_ends_is_left_after_max_pages() {
        let mut pager = Pager::new(START, 1, None).unwrap();
        let mut last = None;
        for n in 0..MAX_PAGES {
            let step = pager.after(&PageInfo {
                more: true,
                next: Some("n".into()),
                objects: 1,
                fingerprint: n as u64,
                date_added_first: None,
                date_added_last: None,
            });
            last = Some(step.then);
        }
        assert_eq!(
            last,
            Some(Then::Stalled(Stall::TooManyPages { pages: MAX_PAGES }))
        );
    }

    #[test]
    fn dates_written_with_an_offset_are_sent_back_as_written() {
        let mut pager = Pager::new(START, 2, None).unwrap();
        let step = pager.after(&PageInfo {
            more: true,
            objects: 2,
            date_added_last: Some("2026-11-20T10:00:01.183201+00:00".into()),
            ..PageInfo::default()
        });
        assert_eq!(
            step.then,
            Then::Request(Request {
                added_after: "2026-11-20T10:00:01.183200+00:00".into(),
                next: None,
                limit: 2
            })
        );
        assert_eq!(
            step.cursor.map(|c| c.added_after).as_deref(),
            Some("2026-11-20T10:00:01.183200+00:00")
        );
        // Nanoseconds stay nanoseconds; a whole second loses one microsecond.
        for (written, again) in [
            (
                "2026-11-20T10:00:01.123456789Z",
                "2026-11-20T10:00:01.123455789Z",
            ),
            ("2026-11-20T10:00:02Z", "2026-11-20T10:00:01.999999Z"),
            (
                "2026-11-20T12:00:02.5+02:00",
                "2026-11-20T12:00:02.499999+02:00",
            ),
        ] {
            let mut pager = Pager::new(START, 2, None).unwrap();
            let step = pager.after(&PageInfo {
                more: true,
                objects: 2,
                date_added_last: Some(written.into()),
                ..PageInfo::default()
            });
            assert_eq!(
                step.then,
                Then::Request(Request {
                    added_after: again.into(),
                    next: None,
                    limit: 2
                })
            );
        }
    }

    #[test]
    fn an_error_ends_the_walk_with_the_pages_before_it_kept() {
        let pager = Pager::new(START, 1, None).unwrap();
        let mut kept = Vec::new();
        let mut n = 0;
        let result = futures::executor::block_on(walk(
            pager,
            |_: &Request| {
                n += 1;
                let page = PageInfo {
                    more: true,
                    objects: 1,
                    date_added_last: Some(at(n)),
                    ..PageInfo::default()
                };
                ready(if n < 3 {
                    anyhow::Ok((page, ready(anyhow::Ok(n))))
                } else {
                    Err(anyhow::anyhow!("HTTP 503"))
                })
            },
            async |page: u32, _| {
                kept.push(page);
                Ok(())
            },
        ));
        assert!(result.unwrap_err().to_string().contains("503"));
        assert_eq!(kept, [1, 2]);
    }
}
