//! The paging rules of a collection's objects endpoint (TAXII 2.1 section 3.4; see
//! `reference/taxii-stix.md`): which request follows a page, and the cursor to store with
//! it. Pure: [`Pager`] sees only what a page's envelope and headers say.

use std::collections::HashSet;

use anyhow::bail;

/// Objects a page, unless `--taxii-page-size` says otherwise (Trend's default).
pub const DEFAULT_PAGE_SIZE: u32 = 1_000;
/// Pages of one collection in one run before the server is taken for one that never ends.
const MAX_PAGES: usize = 100_000;
/// Pages in a row that say `more` but bring nothing.
const MAX_EMPTY_PAGES: usize = 3;

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
    /// The first object's `id` and `modified`: a page that starts where an earlier one did
    /// is the same page again.
    pub first: Option<(String, String)>,
    /// The `X-TAXII-Date-Added-Last` header, as sent.
    pub date_added_last: Option<String>,
}

/// What follows a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Then {
    /// Ask for this page next.
    Request(Request),
    /// The collection is read to its end.
    Done,
}

/// The rules' answer to a page: the cursor to store with it, and what follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The cursor for the next run, stored in the same transaction as the page.
    pub cursor: Option<String>,
    pub then: Then,
}

/// The paging state of one collection in one run.
#[derive(Debug)]
pub struct Pager {
    collection: String,
    limit: u32,
    added_after: String,
    next: Option<String>,
    pages: usize,
    empty_pages: usize,
    page_starts: HashSet<(String, String)>,
}

impl Pager {
    /// Paging of `collection` (for messages) from `added_after` in pages of `limit`.
    pub fn new(collection: &str, added_after: String, limit: u32) -> Self {
        Pager {
            collection: collection.to_owned(),
            limit,
            added_after,
            next: None,
            pages: 0,
            empty_pages: 0,
            page_starts: HashSet::new(),
        }
    }

    /// The first request.
    pub fn first(&self) -> Request {
        self.request()
    }

    fn request(&self) -> Request {
        Request {
            added_after: self.added_after.clone(),
            next: self.next.clone(),
            limit: self.limit,
        }
    }

    /// The step after `page`, the answer to the last request.
    pub fn after(&mut self, page: &PageInfo) -> anyhow::Result<Step> {
        self.pages += 1;
        let (collection, n) = (&self.collection, self.pages);
        if let Some(first) = &page.first
            && !self.page_starts.insert(first.clone())
        {
            bail!(
                "the TAXII server sent the same page again for collection {collection} (page {n}): it is not making progress"
            );
        }
        let cursor = page.date_added_last.clone();
        if !page.more {
            return Ok(Step {
                cursor,
                then: Then::Done,
            });
        }
        if self.pages >= MAX_PAGES {
            bail!("collection {collection} did not end after {MAX_PAGES} pages");
        }
        self.empty_pages = if page.objects == 0 {
            self.empty_pages + 1
        } else {
            0
        };
        if self.empty_pages >= MAX_EMPTY_PAGES {
            bail!(
                "the TAXII server keeps saying there is more in collection {collection} but sends nothing"
            );
        }
        match (&page.next, &page.date_added_last) {
            // A server may keep one `next` for a whole paging session (medallion does).
            (Some(n), _) => self.next = Some(n.clone()),
            // No `next`: page on from the last date_added of this page.
            (None, Some(last)) if *last != self.added_after => {
                self.added_after = last.clone();
                self.next = None;
            }
            (None, _) => bail!(
                "the TAXII server says there is more in collection {collection} but gives neither `next` nor a newer X-TAXII-Date-Added-Last"
            ),
        }
        Ok(Step {
            cursor,
            then: Then::Request(self.request()),
        })
    }
}
