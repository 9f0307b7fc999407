//! OpenIOC 1.0 and 1.1 files as a source (`--source openioc --file PATH`, repeatable; a
//! folder stands for every `*.ioc` and `*.ioc.xml` file in it, not recursively, read in name
//! order). See `reference/openioc.md`.
//!
//! # What is taken
//!
//! The logic of a document (`<definition>` in 1.0, `<criteria>` in 1.1; 1.1's `<parameters>`
//! are ignored) is a tree of `<Indicator operator="AND|OR">` holding `<IndicatorItem>`s, each
//! with a `<Context search="...">` naming a term and a `<Content>` holding a value. An item
//! gives an IOC when all of these hold:
//!
//! - its search term (compared case-insensitively) carries an IOC Apex can hold:
//!   - ip: `PortItem/remoteIP`, `PortItem/localIP`, `ProcessItem/PortList/PortItem/remoteIP`,
//!     `DnsEntryItem/RecordData/IPv4Address`, `RouteEntryItem/Destination` (`ip:port` is
//!     reduced to the ip);
//!   - domain: `DnsEntryItem/RecordName`, `DnsEntryItem/Host`, `Network/DNS`,
//!     `UrlHistoryItem/HostName` (a port is removed; an IPv4 address gives an ip IOC);
//!   - url: `UrlHistoryItem/URL`, `FileDownloadHistoryItem/SourceURL`, `Network/URI`;
//!   - file_sha1: any term whose last step ends in `sha1sum` (`FileItem/Sha1sum`,
//!     `DriverItem/Sha1sum`, `ServiceItem/serviceDLLsha1sum`, `TaskItem/sha1sum`, ...), except
//!     the hash of a process's memory section, which is not a file;
//! - it is not negated and its condition is `is` or `contains` (Apex's own OpenIOC
//!   extraction takes the same two);
//! - its content is a whole IOC of the term's kind, valid by the rules of [`Ioc::new`].
//!   Mandiant's files write most DNS names with `contains`, so a `contains` item whose
//!   content is a whole IOC is taken like an `is` item; one whose content is only a piece of
//!   one (`.example.com`, `10.1.`, a single label such as `evil`, a part of a hash) is a
//!   fragment.
//!
//! An item gets the chosen scan action only when every `Indicator` above it is `OR`; under
//! an `AND` (or an `Indicator` without a readable operator) it only matches together with
//! its siblings, so its IOC alone is pushed with `log`, as Apex does. When the same IOC comes
//! out of several items or files, `block` wins ([`Pulled::dedupe`]).
//!
//! # Skipped items, by reason
//!
//! Each item not taken is counted under the first of these that applies:
//!
//! | code | meaning |
//! |---|---|
//! | `not-an-ioc-term` | the search term carries no IOC Apex holds (file paths and names, process names, registry, e-mail, ...), or the item names no term |
//! | `negation` | the item is negated: `isnot`, `containsnot` or `negate="true"` |
//! | `condition` | a condition other than `is` and `contains` (`matches`, `starts-with`, `ends-with`, `greater-than`, `less-than`, or none) |
//! | `md5`, `sha256` | a hash Apex's file_sha1 type cannot hold |
//! | `fragment` | a piece of an IOC, not a whole one: a URL term's content without `scheme://` (`Network/URI` often holds only a path), a `contains` content that is not valid for its kind, or a `contains` domain of a single label |
//! | `empty`, `ipv6`, `invalid-ipv4`, `invalid-host`, `url-scheme`, `url-too-long`, `invalid-url`, `url-whitespace`, `invalid-sha1` | an `is` content (or a `contains` one, for `empty`, `ipv6` and the three URL rules) that is not a valid IOC: [`Invalid::code`] |
//!
//! # Safety
//!
//! A file is read whole (at most [`MAX_FILE_BYTES`], Apex's own upload limit) and parsed in
//! one pass, in time linear in its size. A DTD (`<!DOCTYPE`) is refused outright, so no
//! entity is ever defined or expanded: only the five XML entities and numeric character
//! references are unescaped. Elements nested deeper than [`MAX_DEPTH`] are refused. Text
//! must be UTF-8 (with or without a BOM; CRLF or LF). Anything malformed stops the run
//! before anything is written, naming the file, line and column.
//!
//! # Sightings and notes
//!
//! An IOC's `seen` time is the document's `last-modified` attribute when it has a readable
//! one (RFC 3339; without a zone it is taken as UTC; never later than now), else the file's
//! modification time. Its reason (in the notes) is `<file name> item <IndicatorItem id>`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use chrono::{DateTime, NaiveDateTime, Utc};
use quick_xml::XmlVersion;
use quick_xml::escape::resolve_xml_entity;
use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::reader::Reader;

use super::file::FileSettings;
use super::{Desired, Pulled, file_name, modified_time, utf8_text};
use crate::apex::udso::ScanAction;
use crate::ioc::{Invalid, Ioc, IocKind};

/// The largest file read: Apex's own limit for an uploaded OpenIOC file.
pub use crate::apex::openioc::MAX_FILE_BYTES;
/// The deepest element nesting accepted (Mandiant's files go about 6 deep).
pub const MAX_DEPTH: usize = 64;

/// Skip code: the search term carries no IOC Apex holds.
pub const NOT_AN_IOC_TERM: &str = "not-an-ioc-term";
/// Skip code: a condition other than `is` and `contains`.
pub const CONDITION: &str = "condition";
/// Skip code: a piece of an IOC rather than a whole one.
pub const FRAGMENT: &str = "fragment";
/// Skip codes shared with the STIX extraction: `isnot`, `containsnot` or `negate="true"`;
/// MD5 and SHA-256 hash terms.
pub use crate::ioc::skip::{MD5, NEGATION, SHA256};

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
    /// Items not taken, by reason (see the module documentation).
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

/// Reads one OpenIOC document; items get `chosen` when only `OR`s are above them.
pub fn read(text: &str, chosen: ScanAction) -> Result<Document, ReadError> {
    if text.len() > MAX_FILE_BYTES {
        return Err(ReadError {
            line: 1,
            column: 1,
            message: too_large(text.len() as u64),
        });
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = Reader::from_str(text);
    let mut doc = DocumentReader::new(text, chosen);
    loop {
        // Markup events start where the previous event ended: this is where their `<` is.
        let at = offset(reader.buffer_position());
        let event = match reader.read_event() {
            Ok(event) => event,
            Err(e) => return Err(error_at(text, offset(reader.error_position()), e)),
        };
        match event {
            Event::Start(e) => doc.open(&e, at)?,
            Event::Empty(e) => {
                doc.open(&e, at)?;
                doc.close(at)?;
            }
            Event::End(_) => doc.close(at)?,
            Event::Text(t) => doc.text(&t, at)?,
            Event::CData(c) => doc.text(&c, at)?,
            Event::GeneralRef(r) => {
                let c = resolve_reference(&r).map_err(|m| error_at(text, at, m))?;
                doc.text(c.encode_utf8(&mut [0; 4]), at)?;
            }
            Event::DocType(_) => {
                return Err(error_at(
                    text,
                    at,
                    "DTDs are not allowed: an OpenIOC file has no use for <!DOCTYPE>, which \
                     can define entities",
                ));
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => return doc.finish(offset(reader.buffer_position())),
        }
    }
}

fn offset(position: u64) -> usize {
    usize::try_from(position).unwrap_or(usize::MAX)
}

fn too_large(bytes: u64) -> String {
    format!("{bytes} bytes, more than the {MAX_FILE_BYTES} (10 MB) an OpenIOC file may have")
}

/// `&lt;` and the four other XML entities, and character references; nothing else is
/// defined, since DTDs are refused.
fn resolve_reference(r: &BytesRef<'_>) -> Result<char, String> {
    if r.is_char_ref() {
        return match r.resolve_char_ref() {
            Ok(Some(c)) => Ok(c),
            _ => Err(format!("invalid character reference &{};", &**r)),
        };
    }
    resolve_xml_entity(r)
        .and_then(|s| s.chars().next())
        .ok_or_else(|| {
            format!(
                "undefined entity &{};: only the five XML entities and character references \
                 are allowed",
                &**r
            )
        })
}

fn error_at(text: &str, at: usize, message: impl fmt::Display) -> ReadError {
    let (line, column) = line_column(text, at);
    ReadError {
        line,
        column,
        message: message.to_string(),
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, at: usize) -> (usize, usize) {
    let before = &text.as_bytes()[..at.min(text.len())];
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    // Count characters, not bytes: skip UTF-8 continuation bytes.
    let column = before[line_start..]
        .iter()
        .filter(|&&b| b & 0xC0 != 0x80)
        .count()
        + 1;
    (line, column)
}

/// What an open element is to the reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Root,
    /// `<definition>` (1.0) or `<criteria>` (1.1).
    Logic,
    Indicator {
        or: bool,
    },
    Item,
    Content,
    /// 1.1's `<metadata>`, which holds the short description.
    Metadata,
    ShortDescription,
    Other,
}

struct OpenElement {
    role: Role,
    name: String,
    at: usize,
}

/// An `IndicatorItem` being read.
#[derive(Default)]
struct ItemDraft {
    id: String,
    condition: String,
    negate: bool,
    search: Option<String>,
    content: Option<String>,
    at: usize,
    has_context: bool,
}

/// The attributes the reader uses; every attribute is unescaped, so a bad reference
/// anywhere is an error.
#[derive(Default)]
struct Attributes {
    id: Option<String>,
    last_modified: Option<String>,
    operator: Option<String>,
    condition: Option<String>,
    negate: Option<String>,
    search: Option<String>,
}

/// The reader's state between events.
struct DocumentReader<'t> {
    text: &'t str,
    chosen: ScanAction,
    open: Vec<OpenElement>,
    /// Open `Indicator`s that are not `OR`: while any is open, items get `log`.
    open_non_or: usize,
    root_seen: bool,
    item: Option<ItemDraft>,
    lines: LineCounter,
    doc: Document,
    short_description: Option<String>,
}

impl<'t> DocumentReader<'t> {
    fn new(text: &'t str, chosen: ScanAction) -> Self {
        DocumentReader {
            text,
            chosen,
            open: Vec::new(),
            open_non_or: 0,
            root_seen: false,
            item: None,
            lines: LineCounter::default(),
            doc: Document {
                version: Version::V1_0,
                id: String::new(),
                short_description: None,
                last_modified: None,
                items: 0,
                iocs: Vec::new(),
                skipped: BTreeMap::new(),
            },
            short_description: None,
        }
    }

    fn error(&self, at: usize, message: impl fmt::Display) -> ReadError {
        error_at(self.text, at, message)
    }

    fn open(&mut self, e: &BytesStart<'_>, at: usize) -> Result<(), ReadError> {
        if self.open.len() >= MAX_DEPTH {
            return Err(self.error(at, format!("elements nested more than {MAX_DEPTH} deep")));
        }
        let qualified = e.name();
        if !is_xml_name(qualified.as_ref()) {
            return Err(self.error(
                at,
                format!("<{}> is not a valid element name", qualified.as_ref()),
            ));
        }
        let name = e.local_name().as_ref().to_owned();
        let attributes = self.attributes(e, at)?;
        let parent = self.open.last().map(|o| o.role);
        let role = match (parent, name.as_str()) {
            (None, _) => {
                if self.root_seen {
                    return Err(self.error(at, format!("a second root element <{name}>")));
                }
                if name != "ioc" && name != "OpenIOC" {
                    return Err(self.error(
                        at,
                        format!(
                            "not an OpenIOC document: the root element is <{name}>, not <ioc> \
                             (1.0) or <OpenIOC> (1.1)"
                        ),
                    ));
                }
                self.root_seen = true;
                self.doc.version = if name == "ioc" {
                    Version::V1_0
                } else {
                    Version::V1_1
                };
                self.doc.id = attributes.id.unwrap_or_default();
                self.doc.last_modified = attributes.last_modified.as_deref().and_then(timestamp);
                Role::Root
            }
            (Some(Role::Root), "definition" | "criteria") => Role::Logic,
            (Some(Role::Root), "metadata") => Role::Metadata,
            (Some(Role::Root | Role::Metadata), "short_description")
                if self.short_description.is_none() =>
            {
                self.short_description = Some(String::new());
                Role::ShortDescription
            }
            (Some(Role::Logic | Role::Indicator { .. }), "Indicator") => {
                let or = attributes
                    .operator
                    .is_some_and(|op| op.trim().eq_ignore_ascii_case("OR"));
                if !or {
                    self.open_non_or += 1;
                }
                Role::Indicator { or }
            }
            (Some(Role::Logic | Role::Indicator { .. }), "IndicatorItem") => {
                self.doc.items += 1;
                self.item = Some(ItemDraft {
                    id: attributes.id.unwrap_or_default(),
                    condition: attributes.condition.unwrap_or_default(),
                    negate: attributes.negate.is_some_and(|n| {
                        let n = n.trim();
                        n.eq_ignore_ascii_case("true") || n == "1"
                    }),
                    at,
                    ..ItemDraft::default()
                });
                Role::Item
            }
            (Some(Role::Item), "Indicator" | "IndicatorItem") => {
                return Err(self.error(at, format!("<{name}> inside an <IndicatorItem>")));
            }
            (Some(Role::Item), "Context") => {
                let item = self.item.get_or_insert_default();
                if item.has_context {
                    return Err(error_at(
                        self.text,
                        at,
                        "an <IndicatorItem> with two <Context>s",
                    ));
                }
                item.has_context = true;
                item.search = attributes.search;
                Role::Other
            }
            (Some(Role::Item), "Content") => {
                let item = self.item.get_or_insert_default();
                if item.content.is_some() {
                    return Err(error_at(
                        self.text,
                        at,
                        "an <IndicatorItem> with two <Content>s",
                    ));
                }
                item.content = Some(String::new());
                Role::Content
            }
            _ => Role::Other,
        };
        self.open.push(OpenElement { role, name, at });
        Ok(())
    }

    fn attributes(&self, e: &BytesStart<'_>, at: usize) -> Result<Attributes, ReadError> {
        let mut found = Attributes::default();
        let mut attributes = e.attributes();
        // quick-xml's duplicate check is quadratic in the number of attributes; the ones
        // read are checked below instead.
        attributes.with_checks(false);
        for attribute in attributes {
            let attribute = attribute.map_err(|e| self.error(at, e))?;
            if !is_xml_name(attribute.key.as_ref()) {
                return Err(self.error(
                    at,
                    format!("`{}` is not a valid attribute name", attribute.key.as_ref()),
                ));
            }
            let value = attribute
                .normalized_value_with(XmlVersion::Implicit1_0, 1, resolve_xml_entity)
                .map_err(|e| self.error(at, e))?;
            let key = attribute.key.local_name();
            let slot = match key.as_ref() {
                "id" => &mut found.id,
                "last-modified" => &mut found.last_modified,
                "operator" => &mut found.operator,
                "condition" => &mut found.condition,
                "negate" => &mut found.negate,
                "search" => &mut found.search,
                _ => continue,
            };
            if slot.is_some() {
                return Err(self.error(at, format!("duplicate attribute {}", key.as_ref())));
            }
            *slot = Some(value.into_owned());
        }
        Ok(found)
    }

    fn close(&mut self, at: usize) -> Result<(), ReadError> {
        let Some(closed) = self.open.pop() else {
            return Err(self.error(at, "an end tag with no element open"));
        };
        match closed.role {
            Role::Indicator { or: false } => self.open_non_or -= 1,
            Role::Item => {
                if let Some(item) = self.item.take() {
                    self.finish_item(item);
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn finish_item(&mut self, item: ItemDraft) {
        match classify(&item) {
            Ok(ioc) => {
                let scan_action = if self.open_non_or == 0 {
                    self.chosen
                } else {
                    ScanAction::Log
                };
                let line = self.lines.line_at(self.text, item.at);
                self.doc.iocs.push(ItemIoc {
                    ioc,
                    scan_action,
                    item_id: item.id,
                    line,
                });
            }
            Err(reason) => *self.doc.skipped.entry(reason).or_default() += 1,
        }
    }

    fn text(&mut self, text: &str, at: usize) -> Result<(), ReadError> {
        match self.open.last().map(|o| o.role) {
            Some(Role::Content) => {
                if let Some(content) = self.item.as_mut().and_then(|i| i.content.as_mut()) {
                    content.push_str(text);
                }
            }
            Some(Role::ShortDescription) => {
                if let Some(description) = self.short_description.as_mut() {
                    description.push_str(text);
                }
            }
            None if !text.trim().is_empty() => {
                // Point at the text itself, not at the white space before it.
                let skipped = text.len() - text.trim_start().len();
                return Err(self.error(at + skipped, "text outside the root element"));
            }
            _ => {}
        }
        Ok(())
    }

    fn finish(mut self, end: usize) -> Result<Document, ReadError> {
        if let Some(unclosed) = self.open.last() {
            return Err(self.error(unclosed.at, format!("<{}> is never closed", unclosed.name)));
        }
        if !self.root_seen {
            return Err(self.error(end, "not an OpenIOC document: no root element"));
        }
        self.doc.short_description = self
            .short_description
            .map(|d| d.trim().to_owned())
            .filter(|d| !d.is_empty());
        Ok(self.doc)
    }
}

/// XML's Name production, strictly for ASCII and leniently beyond it: quick-xml takes
/// anything up to `=` or `>` as a name.
fn is_xml_name(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':' || !c.is_ascii());
    first_ok
        && chars.all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | ':') || !c.is_ascii()
        })
}

/// Lines of offsets that only grow, counted in one pass over the text.
#[derive(Default)]
struct LineCounter {
    offset: usize,
    line: usize,
}

impl LineCounter {
    fn line_at(&mut self, text: &str, at: usize) -> usize {
        let at = at.min(text.len());
        if at < self.offset {
            return line_column(text, at).0;
        }
        self.line += text.as_bytes()[self.offset..at]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        self.offset = at;
        self.line + 1
    }
}

/// What a search term holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Term {
    Ioc(IocKind),
    /// A host name, or an IPv4 address written where a host name goes.
    Host,
    Md5,
    Sha256,
}

fn term(search: &str) -> Option<Term> {
    let search = search.trim().to_ascii_lowercase();
    let term = match search.as_str() {
        "portitem/remoteip"
        | "portitem/localip"
        | "processitem/portlist/portitem/remoteip"
        | "dnsentryitem/recorddata/ipv4address"
        | "routeentryitem/destination" => Term::Ioc(IocKind::Ip),
        "dnsentryitem/recordname"
        | "dnsentryitem/host"
        | "network/dns"
        | "urlhistoryitem/hostname" => Term::Host,
        "urlhistoryitem/url" | "filedownloadhistoryitem/sourceurl" | "network/uri" => {
            Term::Ioc(IocKind::Url)
        }
        // A memory section's hash is not the hash of a file Apex could match.
        _ if search.contains("/memorysection/") => return None,
        _ => {
            let last = search.rsplit('/').next().unwrap_or_default();
            if last.ends_with("sha1sum") {
                Term::Ioc(IocKind::FileSha1)
            } else if last.ends_with("md5sum") {
                Term::Md5
            } else if last.ends_with("sha256sum") {
                Term::Sha256
            } else {
                return None;
            }
        }
    };
    Some(term)
}

/// The IOC an item gives, or why it gives none.
fn classify(item: &ItemDraft) -> Result<Ioc, &'static str> {
    let term = item
        .search
        .as_deref()
        .and_then(term)
        .ok_or(NOT_AN_IOC_TERM)?;
    let condition = item.condition.trim().to_ascii_lowercase();
    if item.negate || condition == "isnot" || condition == "containsnot" {
        return Err(NEGATION);
    }
    let contains = match condition.as_str() {
        "is" => false,
        "contains" => true,
        _ => return Err(CONDITION),
    };
    let content = item.content.as_deref().unwrap_or_default().trim();
    let parsed = match term {
        Term::Md5 => return Err(MD5),
        Term::Sha256 => return Err(SHA256),
        Term::Ioc(IocKind::Url) if !content.is_empty() && !content.contains("://") => {
            return Err(FRAGMENT);
        }
        Term::Ioc(kind) => Ioc::new(kind, content),
        Term::Host => {
            // `contains evil` matches any name with `evil` in it: a single label is a
            // piece of a name. (Under `is` it is a whole, if unusual, name.)
            let name = content.strip_suffix('.').unwrap_or(content);
            if contains && !name.is_empty() && !name.contains('.') {
                return Err(FRAGMENT);
            }
            Ioc::from_host(content)
        }
    };
    parsed.map_err(|why| match why {
        // What `contains` does not match as a whole value is a piece of one.
        Invalid::BadIpv4 | Invalid::BadHost | Invalid::BadSha1 | Invalid::BadUrl if contains => {
            FRAGMENT
        }
        _ => why.code(),
    })
}

/// RFC 3339, or the same without a zone (taken as UTC); never later than now.
fn timestamp(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    let parsed = DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").map(|t| t.and_utc()))
        .ok()?;
    Some(parsed.min(Utc::now()))
}

/// The files some `--file`s name: each file itself, and each folder's `*.ioc` and `*.ioc.xml`
/// files (not recursively; in name order; the extension matched in any case). A folder
/// without any is an error.
pub fn expand_paths(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        files.extend(files_named(path)?);
    }
    Ok(files)
}

fn files_named(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if !path.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    let mut files = Vec::new();
    let entries = std::fs::read_dir(path)
        .with_context(|| format!("cannot read --file {}", path.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot read --file {}", path.display()))?;
        let name = entry.file_name().to_string_lossy().to_lowercase();
        if (name.ends_with(".ioc") || name.ends_with(".ioc.xml")) && entry.path().is_file() {
            files.push(entry.path());
        }
    }
    if files.is_empty() {
        bail!(
            "--file {} is a folder with no *.ioc or *.ioc.xml files",
            path.display()
        );
    }
    files.sort();
    Ok(files)
}

/// Reads one file (its size checked before it is read): the document and the file's bytes.
pub fn read_file(path: &Path, chosen: ScanAction) -> anyhow::Result<(Document, Vec<u8>)> {
    let cannot_read = || format!("cannot read --file {}", path.display());
    let size = std::fs::metadata(path).with_context(cannot_read)?.len();
    if size > MAX_FILE_BYTES as u64 {
        bail!("{}: {}", path.display(), too_large(size));
    }
    // Capped too: a device or a pipe has no size to check first.
    let bytes = crate::files::read_capped(path, MAX_FILE_BYTES as u64).with_context(cannot_read)?;
    Ok((read_bytes(path, &bytes, chosen)?, bytes))
}

/// [`read`] for a file's bytes: they must be UTF-8; errors name `path:line[:column]`.
pub fn read_bytes(path: &Path, bytes: &[u8], chosen: ScanAction) -> anyhow::Result<Document> {
    if bytes.len() > MAX_FILE_BYTES {
        bail!("{}: {}", path.display(), too_large(bytes.len() as u64));
    }
    let text = utf8_text(path, bytes)?;
    read(text, chosen)
        .map_err(|e| anyhow!("{}:{}:{}: {}", path.display(), e.line, e.column, e.message))
}

/// Reads every file (and every OpenIOC file in every folder); the IOCs of all, deduplicated.
pub fn pull(settings: &FileSettings) -> anyhow::Result<Pulled> {
    let mut pulled = Pulled::default();
    for path in expand_paths(&settings.files)? {
        let (doc, _) = read_file(&path, settings.scan_action)?;
        let seen = doc.last_modified.unwrap_or_else(|| modified_time(&path));
        let name = file_name(&path);
        pulled.items += doc.items;
        for (reason, count) in doc.skipped {
            *pulled.skipped.entry(reason).or_default() += count;
        }
        for item in doc.iocs {
            let reason = if item.item_id.is_empty() {
                format!("{name} line {}", item.line)
            } else {
                format!("{name} item {}", item.item_id)
            };
            pulled.iocs.push(Desired {
                ioc: item.ioc,
                scan_action: item.scan_action,
                reason,
                seen,
            });
        }
    }
    pulled.dedupe();
    Ok(pulled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::mutate;
    use proptest::prelude::*;

    const SHA1: &str = "73D95A30C812D9CFF0EAF37A686FDFEF8F9CA531";
    const MD5_HASH: &str = "d41d8cd98f00b204e9800998ecf8427e";

    fn item(id: &str, condition: &str, search: &str, content: &str) -> String {
        format!(
            r#"<IndicatorItem id="{id}" condition="{condition}">
          <Context document="x" search="{search}" type="mir"/>
          <Content type="string">{content}</Content>
        </IndicatorItem>"#
        )
    }

    fn indicator(operator: &str, children: &[String]) -> String {
        format!(
            "<Indicator id=\"i\" operator=\"{operator}\">\n{}\n</Indicator>",
            children.concat()
        )
    }

    /// An OpenIOC 1.0 document around `logic`.
    fn v10(logic: &str) -> String {
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

    fn ok(text: &str) -> Document {
        read(text, ScanAction::Block).unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    fn err(text: &str) -> ReadError {
        read(text, ScanAction::Block).expect_err(text)
    }

    /// `kind value action` for each IOC taken.
    fn taken(doc: &Document) -> Vec<String> {
        doc.iocs
            .iter()
            .map(|i| format!("{} {}", i.ioc, i.scan_action))
            .collect()
    }

    fn skipped(doc: &Document) -> Vec<(&'static str, usize)> {
        doc.skipped.iter().map(|(k, v)| (*k, *v)).collect()
    }

    #[test]
    fn openioc_1_0() {
        let doc = ok(&v10(&indicator(
            "OR",
            &[
                item("a", "contains", "DnsEntryItem/Host", "Evil.Example."),
                item("b", "is", "PortItem/remoteIP", "203.0.113.9"),
                item("c", "is", "RouteEntryItem/Destination", "198.51.100.7:443"),
                item("d", "is", "UrlHistoryItem/URL", "HTTP://Evil.Example/a?b=C"),
                item("e", "is", "FileItem/Sha1sum", SHA1),
                item("f", "is", "DnsEntryItem/RecordName", "192.0.2.1"),
            ],
        )));
        assert_eq!(doc.version, Version::V1_0);
        assert_eq!(doc.id, "doc-1");
        assert_eq!(doc.short_description.as_deref(), Some("APT TEST"));
        assert_eq!(
            doc.last_modified.map(|t| t.to_rfc3339()).as_deref(),
            Some("2014-10-17T20:54:53+00:00")
        );
        assert_eq!(doc.items, 6);
        assert_eq!(
            taken(&doc),
            [
                "domain evil.example block",
                "ip 203.0.113.9 block",
                "ip 198.51.100.7 block",
                "url http://evil.example/a?b=C block",
                "file_sha1 73d95a30c812d9cff0eaf37a686fdfef8f9ca531 block",
                // A host term holding an address gives an ip IOC.
                "ip 192.0.2.1 block",
            ]
        );
        let ids: Vec<&str> = doc.iocs.iter().map(|i| i.item_id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c", "d", "e", "f"]);
        assert_eq!(doc.iocs[0].line, 7);
        assert!(doc.skipped.is_empty());
    }

    #[test]
    fn openioc_1_1() {
        let text = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<OpenIOC xmlns="http://openioc.org/schemas/OpenIOC_1.1" id="doc-11" last-modified="2020-01-02T03:04:05" published-date="0001-01-01T00:00:00">
  <metadata>
    <short_description> One point one </short_description>
    <authored_by>test</authored_by>
  </metadata>
  <criteria>
    <Indicator id="top" operator="OR">
      {}
      <IndicatorItem id="neg" condition="is" negate="true" preserve-case="false">
        <Context document="PortItem" search="PortItem/remoteIP" type="mir"/>
        <Content type="IP">198.51.100.1</Content>
      </IndicatorItem>
      {}
      {}
    </Indicator>
  </criteria>
  <parameters>
    <param id="p1" ref-id="i1" name="comment"><value>not an item</value></param>
  </parameters>
</OpenIOC>"#,
            item("i1", "is", "Network/DNS", "c2.example.net"),
            item("i2", "starts-with", "Network/DNS", "c2.example.org"),
            item(
                "i3",
                "contains",
                "FileDownloadHistoryItem/SourceURL",
                "https://dl.example/x.exe"
            ),
        );
        let doc = ok(&text);
        assert_eq!(doc.version, Version::V1_1);
        assert_eq!(doc.id, "doc-11");
        assert_eq!(doc.short_description.as_deref(), Some("One point one"));
        // No zone: taken as UTC.
        assert_eq!(
            doc.last_modified.map(|t| t.to_rfc3339()).as_deref(),
            Some("2020-01-02T03:04:05+00:00")
        );
        assert_eq!(doc.items, 4);
        assert_eq!(
            taken(&doc),
            [
                "domain c2.example.net block",
                "url https://dl.example/x.exe block"
            ]
        );
        assert_eq!(skipped(&doc), [(CONDITION, 1), (NEGATION, 1)]);
    }

    #[test]
    fn bom_and_crlf_read_the_same_and_lines_still_count() {
        let text = v10(&indicator(
            "OR",
            &[item("a", "is", "PortItem/remoteIP", "203.0.113.9")],
        ));
        let plain = ok(&text);
        let crlf = text.replace('\n', "\r\n");
        for variant in [
            format!("\u{feff}{text}"),
            crlf.clone(),
            format!("\u{feff}{crlf}"),
        ] {
            assert_eq!(ok(&variant), plain);
        }
        let broken = crlf.replace("</Content>", "</Contnt>");
        let e = err(&broken);
        assert_eq!(e.line, 9, "{e}");
        let e = err(&format!("\u{feff}{broken}"));
        assert_eq!(e.line, 9, "{e}");
    }

    #[test]
    fn search_terms_and_conditions_are_case_insensitive() {
        let doc = ok(&v10(&indicator(
            "or",
            &[
                item("a", "is", "FileItem/Sha1sum", SHA1),
                item("b", "IS", "fileitem/sha1SUM", &SHA1.to_lowercase()),
                item("c", "Contains", "DNSENTRYITEM/RECORDNAME", "evil.example"),
                item("d", "is", "ServiceItem/serviceDLLsha1sum", SHA1),
                item("e", "is", "TaskItem/sha1sum", SHA1),
                item("f", "is", "ServiceItem/serviceDLLmd5sum", MD5_HASH),
                item("g", "is", "DriverItem/Sha256sum", &"a".repeat(64)),
            ],
        )));
        assert_eq!(doc.iocs.len(), 5);
        assert!(doc.iocs.iter().all(|i| i.scan_action == ScanAction::Block));
        assert_eq!(skipped(&doc), [(MD5, 1), (SHA256, 1)]);
    }

    #[test]
    fn only_items_under_nothing_but_ors_get_the_chosen_action() {
        let ip = |id: &str, n: u8| item(id, "is", "PortItem/remoteIP", &format!("192.0.2.{n}"));
        let logic = [
            // OR inside OR: the chosen action.
            indicator(
                "OR",
                &[ip("or-or", 1), indicator("OR", &[ip("or-or-2", 2)])],
            ),
            // OR inside AND: log.
            indicator(
                "AND",
                &[
                    item("and", "is", "FileItem/FileName", "x.exe"),
                    indicator("OR", &[ip("and-or", 3)]),
                ],
            ),
            // AND inside OR: log; the OR's other child keeps the chosen action.
            indicator(
                "OR",
                &[indicator("and", &[ip("or-and", 4)]), ip("or-after-and", 5)],
            ),
            // No operator: as if AND.
            "<Indicator id=\"none\">".to_owned() + &ip("no-op", 6) + "</Indicator>",
        ]
        .concat();
        let actions = |chosen| {
            read(&v10(&logic), chosen)
                .unwrap()
                .iocs
                .iter()
                .map(|i| format!("{} {}", i.item_id, i.scan_action))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            actions(ScanAction::Block),
            [
                "or-or block",
                "or-or-2 block",
                "and-or log",
                "or-and log",
                "or-after-and block",
                "no-op log"
            ]
        );
        assert!(actions(ScanAction::Log).iter().all(|a| a.ends_with(" log")));
        // AND at the top.
        let doc = ok(&v10(&indicator("AND", &[ip("top", 7)])));
        assert_eq!(taken(&doc), ["ip 192.0.2.7 log"]);
    }

    #[test]
    fn every_skip_reason() {
        let long_url = format!("http://x.example/{}", "a".repeat(2100));
        let doc = ok(&v10(&indicator(
            "OR",
            &[
                item("n1", "isnot", "PortItem/remoteIP", "192.0.2.1"),
                item("n2", "containsnot", "DnsEntryItem/Host", "evil.example"),
                "<IndicatorItem id=\"n3\" condition=\"is\" negate=\"true\"><Context search=\"PortItem/remoteIP\"/><Content>192.0.2.1</Content></IndicatorItem>".to_owned(),
                item("c1", "matches", "DnsEntryItem/Host", "evil\\.example"),
                item("c2", "ends-with", "DnsEntryItem/Host", "evil.example"),
                "<IndicatorItem id=\"c3\"><Context search=\"PortItem/remoteIP\"/><Content>192.0.2.1</Content></IndicatorItem>".to_owned(),
                item("f1", "contains", "Network/URI", "/index.php?id="),
                item("f2", "is", "UrlHistoryItem/URL", "evil.example/a"),
                item("f3", "contains", "DnsEntryItem/Host", ".evil.example"),
                item("f4", "contains", "DnsEntryItem/RecordName", "evil"),
                item("f5", "contains", "PortItem/remoteIP", "10.1."),
                item("f6", "contains", "FileItem/Sha1sum", "73d95a30"),
                item("m", "is", "FileItem/Md5sum", MD5_HASH),
                item("s", "is", "FileItem/Sha256sum", &"b".repeat(64)),
                item("t1", "is", "FileItem/FullPath", "C:\\evil.exe"),
                item("t2", "contains", "ProcessItem/name", "evil.exe"),
                item("t3", "is", "ProcessItem/SectionList/MemorySection/Sha1Sum", SHA1),
                "<IndicatorItem id=\"t4\" condition=\"is\"><Content>192.0.2.1</Content></IndicatorItem>".to_owned(),
                item("v1", "is", "PortItem/remoteIP", "10.1."),
                item("v2", "is", "PortItem/remoteIP", "2001:db8::1"),
                item("v3", "is", "DnsEntryItem/Host", "bad name.example"),
                item("v4", "is", "FileItem/Sha1sum", "73d95a30"),
                item("v5", "is", "Network/URI", "ftp://x.example/a"),
                item("v6", "is", "Network/URI", "http://x.example/a b"),
                item("v7", "is", "Network/URI", "http://bad_host!/"),
                item("v8", "is", "Network/URI", &long_url),
                item("v9", "contains", "DnsEntryItem/Host", "  "),
            ],
        )));
        assert_eq!(doc.items, 27);
        assert!(doc.iocs.is_empty(), "{:?}", taken(&doc));
        assert_eq!(
            skipped(&doc),
            [
                (CONDITION, 3),
                ("empty", 1),
                (FRAGMENT, 6),
                ("invalid-host", 1),
                ("invalid-ipv4", 1),
                ("invalid-sha1", 1),
                ("invalid-url", 1),
                ("ipv6", 1),
                (MD5, 1),
                (NEGATION, 3),
                (NOT_AN_IOC_TERM, 4),
                (SHA256, 1),
                ("url-scheme", 1),
                ("url-too-long", 1),
                ("url-whitespace", 1),
            ]
        );
    }

    #[test]
    fn single_labels_are_names_under_is() {
        let doc = ok(&v10(&indicator(
            "OR",
            &[item("a", "is", "DnsEntryItem/Host", "intranet")],
        )));
        assert_eq!(taken(&doc), ["domain intranet block"]);
    }

    #[test]
    fn entities_and_character_references_are_unescaped() {
        let doc = ok(&v10(&indicator(
            "OR",
            &[
                item(
                    "a&amp;b",
                    "is",
                    "DnsEntryItem&#x2F;Host",
                    "evil&#46;example",
                ),
                item(
                    "c",
                    "is",
                    "Network/URI",
                    "http://x.example/?a=1&amp;b=&lt;2&gt;",
                ),
                item(
                    "d",
                    "is",
                    "Network/URI",
                    "<![CDATA[http://y.example/?a=1&b=2]]>",
                ),
            ],
        )));
        assert_eq!(
            taken(&doc),
            [
                "domain evil.example block",
                "url http://x.example/?a=1&b=<2> block",
                "url http://y.example/?a=1&b=2 block"
            ]
        );
        assert_eq!(doc.iocs[0].item_id, "a&b");
    }

    #[test]
    fn a_dtd_is_refused_so_no_entity_is_expanded() {
        let laughs = r#"<?xml version="1.0"?>
<!DOCTYPE ioc [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<ioc><definition><Indicator operator="OR">
<IndicatorItem condition="is"><Context search="DnsEntryItem/Host"/><Content>&lol3;</Content></IndicatorItem>
</Indicator></definition></ioc>"#;
        let e = err(laughs);
        assert_eq!((e.line, e.column), (2, 1), "{e}");
        assert!(e.message.contains("DTDs are not allowed"), "{e}");
        let external = "<!DOCTYPE ioc SYSTEM \"file:///etc/passwd\"><ioc/>";
        assert!(err(external).message.contains("DTDs are not allowed"));
        // Without a DTD, an entity is simply undefined, in text or in an attribute.
        let e = err(&v10(&indicator(
            "OR",
            &[item("a", "is", "DnsEntryItem/Host", "&xxe;")],
        )));
        assert_eq!(e.line, 9, "{e}");
        assert!(e.message.contains("undefined entity &xxe;"), "{e}");
        let e = err(&v10(&indicator(
            "OR",
            &[item("a", "is", "DnsEntryItem/&xxe;", "x.example")],
        )));
        assert_eq!(e.line, 8, "{e}");
        let e = err(&v10(&indicator(
            "OR",
            &[item("a", "is", "DnsEntryItem/Host", "&#0;")],
        )));
        assert!(e.message.contains("invalid character reference"), "{e}");
    }

    #[test]
    fn depth_is_bounded() {
        let deep = |n: usize| {
            v10(&format!(
                "{}{}{}",
                "<Indicator operator=\"OR\">".repeat(n),
                item("a", "is", "PortItem/remoteIP", "192.0.2.1"),
                "</Indicator>".repeat(n)
            ))
        };
        // ioc, definition, n Indicators, IndicatorItem, Content: n + 4 deep.
        assert_eq!(ok(&deep(MAX_DEPTH - 4)).iocs.len(), 1);
        let e = err(&deep(MAX_DEPTH - 3));
        assert!(e.message.contains("nested more than 64 deep"), "{e}");
        assert_eq!(e.line, 7, "{e}");
    }

    #[test]
    fn size_is_bounded() {
        let big = v10(&" ".repeat(MAX_FILE_BYTES));
        let e = err(&big);
        assert!(e.message.contains(&format!("{} bytes", big.len())), "{e}");
        assert!(e.message.contains("10 MB"), "{e}");
    }

    #[test]
    fn malformed_documents_name_the_line() {
        let good = v10(&indicator(
            "OR",
            &[item("a", "is", "PortItem/remoteIP", "192.0.2.1")],
        ));
        let cases: Vec<(String, usize, &str)> = vec![
            (good.replace("</Content>", "</Contnt>"), 9, "Contnt"),
            (good.replace("</ioc>", ""), 2, "<ioc> is never closed"),
            (
                good.replace("</definition>", ""),
                13,
                "expected `</definition>`",
            ),
            (
                good.replace("<Context ", "<Context <"),
                8,
                "`<document` is not a valid attribute name",
            ),
            (
                good.replace("<Content ", "<Con&tent "),
                9,
                "<Con&tent> is not a valid element name",
            ),
            // Cut inside an attribute value: the error points at the tag.
            (
                good[..good.find("remoteIP").unwrap()].to_owned(),
                8,
                "attribute value not closed",
            ),
            (
                good[..good.find("192.0").unwrap()].to_owned(),
                9,
                "never closed",
            ),
            (
                good.replace("id=\"a\"", "id=\"a\" id=\"b\""),
                7,
                "duplicate attribute id",
            ),
            (format!("{good}<ioc/>"), 14, "a second root element"),
            (
                format!("{good}garbage"),
                14,
                "text outside the root element",
            ),
            (format!("garbage{good}"), 1, "text outside the root element"),
            (
                good.replace("<ioc ", "<stix ").replace("</ioc>", "</stix>"),
                2,
                "not an OpenIOC document: the root element is <stix>",
            ),
            (String::new(), 1, "no root element"),
            (
                "<?xml version=\"1.0\"?>\n<!-- nothing -->\n".into(),
                3,
                "no root element",
            ),
            (
                good.replace("</Content>", "</Content><Content>192.0.2.2</Content>"),
                9,
                "two <Content>s",
            ),
            (
                good.replace("</Content>", "</Content><IndicatorItem/>"),
                9,
                "<IndicatorItem> inside an <IndicatorItem>",
            ),
        ];
        for (text, line, message) in cases {
            let e = err(&text);
            assert_eq!(e.line, line, "{e}\n{text}");
            assert!(
                e.message.to_lowercase().contains(&message.to_lowercase()),
                "{e}"
            );
        }
    }

    fn write(dir: &Path, name: &str, text: impl AsRef<[u8]>) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn settings(files: Vec<PathBuf>) -> FileSettings {
        FileSettings {
            files,
            scan_action: ScanAction::Block,
        }
    }

    #[test]
    fn pull_reads_a_folders_openioc_files_and_block_wins() {
        let dir = tempfile::tempdir().unwrap();
        let ip = |id: &str| item(id, "is", "PortItem/remoteIP", "192.0.2.1");
        // The same ip under AND here (log) ...
        // The same ip under AND here (log) ...
        write(
            dir.path(),
            "a.ioc",
            v10(&indicator(
                "AND",
                &[
                    ip("a1"),
                    item("a2", "is", "FileItem/Md5sum", MD5_HASH),
                    item("a3", "is", "PortItem/remoteIP", "192.0.2.3"),
                ],
            )),
        );
        // ... and under OR there (block): block wins.
        let b = v10(&indicator(
            "OR",
            &[
                ip("b1"),
                item("b2", "contains", "DnsEntryItem/Host", "evil.example"),
            ],
        ))
        .replace(" last-modified=\"2014-10-17T20:54:53Z\"", "");
        write(dir.path(), "b.IOC.xml", b);
        write(dir.path(), "ignored.txt", "not xml at all");
        let pulled = pull(&settings(vec![dir.path().to_owned()])).unwrap();
        let got: Vec<String> = pulled
            .iocs
            .iter()
            .map(|d| format!("{} {} ({})", d.ioc, d.scan_action, d.reason))
            .collect();
        assert_eq!(
            got,
            [
                // The newest sighting's reason stays: b.IOC.xml's (its file time).
                "ip 192.0.2.1 block (b.IOC.xml item b1)",
                "ip 192.0.2.3 log (a.ioc item a3)",
                "domain evil.example block (b.IOC.xml item b2)"
            ]
        );
        assert_eq!(pulled.items, 5);
        assert_eq!(pulled.skipped.get(MD5), Some(&1));
        // a.ioc's last-modified; b.IOC.xml has none, so its file time (now, about).
        let seen = |n: usize| pulled.iocs[n].seen;
        assert_eq!(seen(1).to_rfc3339(), "2014-10-17T20:54:53+00:00");
        assert!(Utc::now() - seen(2) < chrono::Duration::hours(1));
        // The same through expand_paths, and a folder without OpenIOC files.
        let files = expand_paths(&[dir.path().to_owned()]).unwrap();
        let names: Vec<_> = files.iter().map(|f| f.file_name().unwrap()).collect();
        assert_eq!(names, ["a.ioc", "b.IOC.xml"]);
        let empty = tempfile::tempdir().unwrap();
        write(empty.path(), "x.xml", "<ioc/>");
        let e = pull(&settings(vec![empty.path().to_owned()]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("no *.ioc or *.ioc.xml files"), "{e}");
    }

    #[test]
    fn pull_names_the_file_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let bad = write(dir.path(), "bad.ioc", "<ioc>\n  <definition>\n</ioc>\n");
        let e = pull(&settings(vec![bad])).unwrap_err().to_string();
        assert!(e.contains("bad.ioc:3:1: "), "{e}");
        let latin1 = write(dir.path(), "latin1.ioc", b"<ioc>\n<x>caf\xe9</x></ioc>");
        let e = pull(&settings(vec![latin1])).unwrap_err().to_string();
        assert!(e.contains("latin1.ioc:2: not UTF-8"), "{e}");
        let big = write(dir.path(), "big.ioc", vec![b' '; MAX_FILE_BYTES + 1]);
        let e = pull(&settings(vec![big])).unwrap_err().to_string();
        assert!(e.contains(&format!("{} bytes", MAX_FILE_BYTES + 1)), "{e}");
        let e = format!(
            "{:#}",
            pull(&settings(vec![dir.path().join("missing.ioc")])).unwrap_err()
        );
        assert!(e.contains("missing.ioc"), "{e}");
    }

    fn small_document() -> String {
        v10(&indicator(
            "OR",
            &[
                item("a", "contains", "DnsEntryItem/Host", "evil&amp;.example"),
                indicator("AND", &[item("b", "is", "FileItem/Sha1sum", SHA1)]),
                "<!-- c --><![CDATA[x]]>".to_owned(),
            ],
        ))
    }

    #[test]
    fn deep_nesting_fails_fast() {
        let deep = format!(
            "<ioc><definition>{}",
            "<Indicator operator=\"OR\">".repeat(100_000)
        );
        let started = std::time::Instant::now();
        let e = err(&deep);
        assert!(e.message.contains("nested more than"), "{e}");
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        // Deep before any root, too.
        let e = err(&"<a>".repeat(100_000));
        assert!(e.message.contains("not an OpenIOC document"), "{e}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn random_text_never_panics(s in any::<String>()) {
            let _ = read(&s, ScanAction::Block);
        }

        #[test]
        fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            let _ = read_bytes(Path::new("x.ioc"), &bytes, ScanAction::Block);
        }

        #[test]
        fn xml_like_text_never_panics(s in "(<|>|&|;|\"|'|/|=|!|\\?|-|\\[|\\]|#|x|ioc|Indicator|IndicatorItem|Content| |\n|amp|lt|CDATA|DOCTYPE)*") {
            let _ = read(&s, ScanAction::Block);
        }

        #[test]
        fn mutated_documents_never_panic(
            edits in prop::collection::vec((any::<usize>(), any::<u8>(), prop::char::any()), 1..6),
        ) {
            let mut text = small_document();
            for (at, what, c) in edits {
                text = mutate(&text, at, what, c);
            }
            let _ = read(&text, ScanAction::Block);
        }

        #[test]
        fn mutations_with_xml_characters_never_panic(
            edits in prop::collection::vec((any::<usize>(), any::<u8>(), prop::sample::select(
                vec!['<', '>', '&', ';', '"', '\'', '/', '=', '!', '?', '#', '[', ']', '-', ' ', '\n', 'x', '0', '\u{feff}', 'é'])), 1..6),
        ) {
            let mut text = small_document();
            for (at, what, c) in edits {
                text = mutate(&text, at, what, c);
            }
            if let Err(e) = read(&text, ScanAction::Block) {
                // An error names a place in the text.
                prop_assert!(e.line >= 1 && e.line <= text.lines().count() + 1, "{}", e);
                prop_assert!(e.column >= 1);
            }
        }
    }
}
