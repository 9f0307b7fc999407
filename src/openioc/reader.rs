//! The OpenIOC XML reader: one document, in one pass, into a [`Document`].
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
//! # Scan action
//!
//! An item's IOC gets the chosen action when only `OR`s are above it, else `log` (see the
//! [module above](super)).
//!
//! # Time
//!
//! [`Document::last_modified`] is the root's `last-modified` attribute when it is readable:
//! RFC 3339, or the same without a zone (taken as UTC); never later than now.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, NaiveDateTime, Utc};
use quick_xml::XmlVersion;
use quick_xml::escape::resolve_xml_entity;
use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::reader::Reader;

use super::{Document, ItemIoc, MAX_DEPTH, MAX_FILE_BYTES, ReadError, Version, terms, too_large};
use crate::model::ScanAction;

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
        match terms::classify(
            item.search.as_deref(),
            &item.condition,
            item.negate,
            item.content.as_deref(),
        ) {
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

/// RFC 3339, or the same without a zone (taken as UTC); never later than now.
fn timestamp(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    let parsed = DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").map(|t| t.and_utc()))
        .ok()?;
    Some(parsed.min(Utc::now()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openioc::files::read_bytes;
    use crate::openioc::terms::{CONDITION, NEGATION};
    use crate::openioc::test_docs::*;
    use crate::test_util::mutate;
    use proptest::prelude::*;
    use std::path::Path;

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
                "url http://x.example/?a=1&b=%3C2%3E block",
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
