//! The OpenIOC format, 1.0 and 1.1 (see `reference/openioc.md`): what a document holds and
//! which of its items give IOCs. Three users read it: the `--source openioc` job
//! (`source::openioc`), `openioc upload`, which checks every file before Apex gets it
//! (`commands::openioc`), and the simulated Apex's extraction (`sim`); so the format lives
//! here, beside `stix`, and not inside one of them.
//!
//! - [`reader`]: the XML, read in one pass into a [`Document`] (safety limits, errors with
//!   line and column, the scan action an item gets);
//! - [`terms`]: the search terms that carry IOCs, and why an item gives none;
//! - [`files`]: `--file` paths and folders, and a file's bytes to a [`Document`].
//!
//! # What a document gives
//!
//! The logic of a document (`<definition>` in 1.0, `<criteria>` in 1.1; 1.1's `<parameters>`
//! are ignored) is a tree of `<Indicator operator="AND|OR">` holding `<IndicatorItem>`s, each
//! with a `<Context search="...">` naming a term and a `<Content>` holding a value. An item
//! gives an IOC when its term carries one and its content is a whole IOC of that kind
//! ([`terms`] lists the terms and the skip reasons).
//!
//! An item gets the chosen scan action only when every `Indicator` above it is `OR`; under
//! an `AND` (or an `Indicator` without a readable operator) it only matches together with
//! its siblings, so its IOC alone is pushed with `log`, as Apex does. When the same IOC comes
//! out of several items or files, `block` wins ([`crate::model::desired::Pulled::dedupe`]).

pub mod files;
pub mod reader;
pub mod terms;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::ioc::Ioc;
use crate::model::ScanAction;

pub use files::{expand_paths, read_bytes, read_file};
pub use reader::read;
pub use terms::{CONDITION, FRAGMENT, MD5, NEGATION, NOT_AN_IOC_TERM};

/// The largest file read: Apex's own limit for an uploaded OpenIOC file.
pub use crate::apex::openioc::MAX_FILE_BYTES;
/// The deepest element nesting accepted (Mandiant's files go about 6 deep).
pub const MAX_DEPTH: usize = 64;

/// Which OpenIOC, by the root element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// `<ioc>`, the version Apex Central uploads.
    V1_0,
    /// `<OpenIOC>`.
    V1_1,
}

/// One document, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub version: Version,
    /// The root's `id` attribute (empty when it has none).
    pub id: String,
    /// `<short_description>` (under `<metadata>` in 1.1), trimmed.
    pub short_description: Option<String>,
    /// The root's `last-modified` attribute, when readable.
    pub last_modified: Option<DateTime<Utc>>,
    /// `IndicatorItem`s read in the logic.
    pub items: usize,
    /// The IOCs taken, in document order, one per item.
    pub iocs: Vec<ItemIoc>,
    /// Items not taken, by reason (see [`terms`]).
    pub skipped: BTreeMap<&'static str, usize>,
}

/// The IOC one `IndicatorItem` gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemIoc {
    pub ioc: Ioc,
    pub scan_action: ScanAction,
    /// The item's `id` attribute (empty when it has none).
    pub item_id: String,
    /// The line of the item's start tag (1-based).
    pub line: usize,
}

/// Why a document could not be read, and where (1-based line; column in characters).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: {message}")]
pub struct ReadError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

fn too_large(bytes: u64) -> String {
    format!("{bytes} bytes, more than the {MAX_FILE_BYTES} (10 MB) an OpenIOC file may have")
}

/// Documents for the tests of this module and of the OpenIOC source.
#[cfg(test)]
pub(crate) mod test_docs {
    use super::{Document, ReadError, read};
    use crate::model::ScanAction;

    pub(crate) const SHA1: &str = "73D95A30C812D9CFF0EAF37A686FDFEF8F9CA531";
    pub(crate) const MD5_HASH: &str = "d41d8cd98f00b204e9800998ecf8427e";

    pub(crate) fn item(id: &str, condition: &str, search: &str, content: &str) -> String {
        format!(
            r#"<IndicatorItem id="{id}" condition="{condition}">
          <Context document="x" search="{search}" type="mir"/>
          <Content type="string">{content}</Content>
        </IndicatorItem>"#
        )
    }

    pub(crate) fn indicator(operator: &str, children: &[String]) -> String {
        format!(
            "<Indicator id=\"i\" operator=\"{operator}\">\n{}\n</Indicator>",
            children.concat()
        )
    }

    /// An OpenIOC 1.0 document around `logic`.
    pub(crate) fn v10(logic: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="us-ascii"?>
<ioc xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns="http://schemas.mandiant.com/2010/ioc" id="doc-1" last-modified="2014-10-17T20:54:53Z">
  <short_description>APT TEST</short_description>
  <authored_by>test</authored_by>
  <definition>
{logic}
  </definition>
</ioc>
"#
        )
    }

    /// An OpenIOC 1.1 document around `logic`, as FireEye HX exports them.
    pub(crate) fn v11(logic: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="utf-8"?>
<OpenIOC xmlns="http://openioc.org/schemas/OpenIOC_1.1" id="doc-11" last-modified="2020-12-14T00:00:00Z" published-date="0001-01-01T00:00:00">
  <metadata><short_description>EVENTS</short_description></metadata>
  <criteria>
{logic}
  </criteria>
  <parameters />
</OpenIOC>
"#
        )
    }

    pub(crate) fn ok(text: &str) -> Document {
        read(text, ScanAction::Block).unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    pub(crate) fn err(text: &str) -> ReadError {
        read(text, ScanAction::Block).expect_err(text)
    }

    /// `kind value action` for each IOC taken.
    pub(crate) fn taken(doc: &Document) -> Vec<String> {
        doc.iocs
            .iter()
            .map(|i| format!("{} {}", i.ioc, i.scan_action))
            .collect()
    }

    pub(crate) fn skipped(doc: &Document) -> Vec<(&'static str, usize)> {
        doc.skipped.iter().map(|(k, v)| (*k, *v)).collect()
    }
}
