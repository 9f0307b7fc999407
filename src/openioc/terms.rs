//! The OpenIOC search terms that carry IOCs, and why an item gives none.
//!
//! An item gives an IOC when all of these hold:
//!
//! - its search term (compared case-insensitively) carries an IOC Apex can hold:
//!   - ip: `PortItem/remoteIP`, `PortItem/localIP`, `ProcessItem/PortList/PortItem/remoteIP`,
//!     `DnsEntryItem/RecordData/IPv4Address`, `RouteEntryItem/Destination` (`ip:port` is
//!     reduced to the ip); and 1.1's event terms `ipv4NetworkEvent/remoteIP`,
//!     `ipv4NetworkEvent/localIP`, `urlMonitorEvent/remoteIpAddress`,
//!     `addressNotificationEvent/address`;
//!   - domain: `DnsEntryItem/RecordName`, `DnsEntryItem/Host`, `Network/DNS`,
//!     `UrlHistoryItem/HostName`, and the event terms `dnsLookupEvent/hostname`,
//!     `urlMonitorEvent/hostname` (a port is removed; an IPv4 address gives an ip IOC);
//!   - url: `UrlHistoryItem/URL`, `FileDownloadHistoryItem/SourceURL`, `Network/URI`, and the
//!     event term `urlMonitorEvent/requestUrl`;
//!   - a hash, by its kind whatever the item: a term whose last step, without a final `sum`,
//!     ends in `sha1`, `md5` or `sha256` (`FileItem/Sha1sum`, `ServiceItem/serviceDLLmd5sum`,
//!     `TaskItem/ActionList/Action/ExecProgramSha256sum`, `QuarantineListItem/FileSHA1`, the
//!     event terms `fileWriteEvent/md5` and `processEvent/md5`, ...). SHA-1 gives a
//!     file_sha1 IOC and SHA-256 a file_sha256 IOC (a kind Apex's UDSO list cannot hold: the sync counts it as
//!     `unsupported-by-destination`); MD5 is skipped by its kind. A process's memory section
//!     is not a file, so its hashes carry no IOC;
//!
//!   1.1's event terms (what FireEye HX exports for real-time indicators) are those of
//!   `iocterms/eventitem.iocterms` in `mandiant/OpenIOC_1.1`, commit
//!   f4973b80d4fcf9ae067a09df656ce6dd2d6899ba (2020-12-14), a copy of which is in
//!   `tests/data/openioc/iocterms/`: every term there that it types `IP` or `md5`, and the
//!   host names and URL above, which it types `string`. `current.iocterms` also lists them
//!   under `eventItem/` (`eventItem/dnsLookupEvent/hostname`): that spelling is the same term.
//! - it is not negated and its condition is `is` or `contains` (Apex's own OpenIOC
//!   extraction takes the same two);
//! - its content is a whole IOC of the term's kind, valid by the rules of [`Ioc::new`].
//!   Mandiant's files write most DNS names with `contains`, so a `contains` item whose
//!   content is a whole IOC is taken like an `is` item; one whose content is only a piece of
//!   one (`.example.com`, `10.1.`, a single label such as `evil`, a part of a hash) is a
//!   fragment.
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
//! | `md5` | an MD5 hash, which no destination holds |
//! | `fragment` | a piece of an IOC, not a whole one: a URL term's content without `scheme://` (`Network/URI` often holds only a path), a `contains` content that is not valid for its kind, or a `contains` domain of a single label |
//! | `empty`, `ipv6`, `invalid-ipv4`, `invalid-host`, `url-scheme`, `url-too-long`, `invalid-url`, `url-whitespace`, `invalid-sha1`, `invalid-sha256` | an `is` content (or a `contains` one, for `empty`, `ipv6` and the three URL rules) that is not a valid IOC: [`Invalid::code`] |

use crate::ioc::{Invalid, Ioc, IocKind};

/// Skip code: the search term carries no IOC Apex holds.
pub const NOT_AN_IOC_TERM: &str = "not-an-ioc-term";
/// Skip code: a condition other than `is` and `contains`.
pub const CONDITION: &str = "condition";
/// Skip code: a piece of an IOC rather than a whole one.
pub const FRAGMENT: &str = "fragment";
/// Skip codes shared with the STIX extraction: `isnot`, `containsnot` or `negate="true"`;
/// MD5 hash terms.
pub use crate::ioc::skip::{MD5, NEGATION};

/// What a search term holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Term {
    Ioc(IocKind),
    /// A host name, or an IPv4 address written where a host name goes.
    Host,
    Md5,
}

fn term(search: &str) -> Option<Term> {
    let search = search.trim().to_ascii_lowercase();
    let search = search.strip_prefix("eventitem/").unwrap_or(&search);
    let term = match search {
        "portitem/remoteip"
        | "portitem/localip"
        | "processitem/portlist/portitem/remoteip"
        | "dnsentryitem/recorddata/ipv4address"
        | "routeentryitem/destination"
        | "ipv4networkevent/remoteip"
        | "ipv4networkevent/localip"
        | "urlmonitorevent/remoteipaddress"
        | "addressnotificationevent/address" => Term::Ioc(IocKind::Ip),
        "dnsentryitem/recordname"
        | "dnsentryitem/host"
        | "network/dns"
        | "urlhistoryitem/hostname"
        | "dnslookupevent/hostname"
        | "urlmonitorevent/hostname" => Term::Host,
        "urlhistoryitem/url"
        | "filedownloadhistoryitem/sourceurl"
        | "network/uri"
        | "urlmonitorevent/requesturl" => Term::Ioc(IocKind::Url),
        // A memory section's hash is not the hash of a file Apex could match.
        _ if search.contains("/memorysection/") => return None,
        _ => return hash_term(search.rsplit('/').next().unwrap_or_default()),
    };
    Some(term)
}

/// The hash a term's last step (lower case) names, whatever the item: `md5`, `Md5sum`,
/// `serviceDLLsha1sum`, `FileSHA1`, ...
fn hash_term(last: &str) -> Option<Term> {
    let name = last.strip_suffix("sum").unwrap_or(last);
    if name.ends_with("sha1") {
        Some(Term::Ioc(IocKind::FileSha1))
    } else if name.ends_with("md5") {
        Some(Term::Md5)
    } else if name.ends_with("sha256") {
        Some(Term::Ioc(IocKind::FileSha256))
    } else {
        None
    }
}

/// The IOC an item gives, or why it gives none (a skip code): `search` is its `Context`'s
/// term, `condition` and `negate` its attributes, `content` its `Content`'s text.
pub fn classify(
    search: Option<&str>,
    condition: &str,
    negate: bool,
    content: Option<&str>,
) -> Result<Ioc, &'static str> {
    let term = search.and_then(term).ok_or(NOT_AN_IOC_TERM)?;
    let condition = condition.trim().to_ascii_lowercase();
    if negate || condition == "isnot" || condition == "containsnot" {
        return Err(NEGATION);
    }
    let contains = match condition.as_str() {
        "is" => false,
        "contains" => true,
        _ => return Err(CONDITION),
    };
    let content = content.unwrap_or_default().trim();
    let parsed = match term {
        Term::Md5 => return Err(MD5),
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
        Invalid::BadIpv4
        | Invalid::BadHost
        | Invalid::BadSha1
        | Invalid::BadSha256
        | Invalid::BadUrl
            if contains =>
        {
            FRAGMENT
        }
        _ => why.code(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ScanAction;
    use crate::openioc::test_docs::*;

    const CASES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/cases/openioc");
    const IOCTERMS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/openioc/iocterms");

    /// `(text, display-type)` of every `<iocterm>` in an OpenIOC 1.1 term list.
    fn iocterms(file: &str) -> Vec<(String, String)> {
        use quick_xml::events::Event;
        let text = std::fs::read_to_string(format!("{IOCTERMS}/{file}")).unwrap();
        let mut reader = quick_xml::Reader::from_str(&text);
        let mut terms = Vec::new();
        loop {
            match reader.read_event().unwrap() {
                Event::Empty(e) if e.local_name().as_ref() == "iocterm" => {
                    let attribute = |name: &str| {
                        let a = e.try_get_attribute(name).unwrap().unwrap();
                        // The term lists hold no entity or character reference.
                        a.value.into_owned()
                    };
                    terms.push((attribute("text"), attribute("display-type")));
                }
                Event::Eof => return terms,
                _ => {}
            }
        }
    }

    #[test]
    fn every_1_1_event_term_with_a_network_ioc_or_a_hash_is_mapped() {
        let events = iocterms("eventitem.iocterms");
        assert_eq!(events.len(), 85);
        let mut mapped = Vec::new();
        for (text, display) in &events {
            let expected = match (display.as_str(), text.as_str()) {
                ("IP", _) => Some(Term::Ioc(IocKind::Ip)),
                ("md5", _) => Some(Term::Md5),
                (_, "dnsLookupEvent/hostname" | "urlMonitorEvent/hostname") => Some(Term::Host),
                (_, "urlMonitorEvent/requestUrl") => Some(Term::Ioc(IocKind::Url)),
                _ => None,
            };
            assert_eq!(term(text), expected, "{text} ({display})");
            // current.iocterms spells the same terms under `eventItem/`.
            assert_eq!(term(&format!("eventItem/{text}")), expected, "{text}");
            if expected.is_some() {
                mapped.push(text.as_str());
            }
        }
        assert_eq!(
            mapped,
            [
                "dnsLookupEvent/hostname",
                "processEvent/md5",
                "ipv4NetworkEvent/remoteIP",
                "ipv4NetworkEvent/localIP",
                "fileWriteEvent/md5",
                "urlMonitorEvent/hostname",
                "urlMonitorEvent/requestUrl",
                "urlMonitorEvent/remoteIpAddress",
                "addressNotificationEvent/address",
            ]
        );
    }

    #[test]
    fn a_hash_term_is_classified_by_its_kind_whatever_the_item() {
        let mut by_kind = std::collections::BTreeMap::new();
        for (text, display) in iocterms("current.iocterms") {
            let hash = match term(&text) {
                Some(Term::Ioc(IocKind::FileSha1)) => Some("sha1"),
                Some(Term::Md5) => Some("md5"),
                Some(Term::Ioc(IocKind::FileSha256)) => Some("sha256"),
                _ => None,
            };
            let typed = matches!(display.as_str(), "md5" | "sha1" | "sha256");
            if text.contains("/MemorySection/") || text == "AgentInfo/intelHash" {
                // Not the hash of a file (the agent's own intel hash is typed md5 too).
                assert_eq!(hash, None, "{text}");
            } else if typed {
                assert_eq!(hash, Some(display.as_str()), "{text}");
            } else if let Some(hash) = hash {
                // Typed `string`, yet a file's hash by name.
                assert!(
                    ["QuarantineListItem/FileMD5", "QuarantineListItem/FileSHA1"]
                        .contains(&text.as_str()),
                    "{text} ({display}) taken as {hash}"
                );
            }
            if let Some(hash) = hash {
                *by_kind.entry(hash).or_insert(0) += 1;
            }
        }
        assert_eq!(
            by_kind.into_iter().collect::<Vec<_>>(),
            [("md5", 21), ("sha1", 19), ("sha256", 18)]
        );
    }

    #[test]
    fn openioc_1_1_event_terms() {
        let doc = ok(&v11(&indicator(
            "OR",
            &[
                item(
                    "d",
                    "contains",
                    "dnsLookupEvent/hostname",
                    "update-check.example",
                ),
                item(
                    "h",
                    "contains",
                    "urlMonitorEvent/hostname",
                    "CDN-Sync.example:443",
                ),
                item("r", "is", "ipv4NetworkEvent/remoteIP", "203.0.113.50"),
                item("l", "is", "ipv4NetworkEvent/localIP", "192.0.2.10"),
                item(
                    "a",
                    "is",
                    "urlMonitorEvent/remoteIpAddress",
                    "198.51.100.60",
                ),
                item("n", "is", "addressNotificationEvent/address", "192.0.2.11"),
                item(
                    "u",
                    "is",
                    "urlMonitorEvent/requestUrl",
                    "http://cdn-sync.example/u?id=1",
                ),
                item("e", "is", "eventItem/dnsLookupEvent/hostname", "c2.example"),
                item("w", "is", "fileWriteEvent/md5", MD5_HASH),
                item("p", "is", "processEvent/md5", MD5_HASH),
                item("q", "is", "QuarantineListItem/FileSHA1", SHA1),
                // A request's path alone: a piece of a URL.
                item("f", "contains", "urlMonitorEvent/requestUrl", "/u?id=1"),
                item("x", "is", "urlMonitorEvent/userAgent", "Mozilla/4.0"),
                indicator(
                    "AND",
                    &[item("g", "is", "ipv4NetworkEvent/remoteIP", "203.0.113.51")],
                ),
            ],
        )));
        assert_eq!(doc.items, 14);
        assert_eq!(
            taken(&doc),
            [
                "domain update-check.example block",
                "domain cdn-sync.example block",
                "ip 203.0.113.50 block",
                "ip 192.0.2.10 block",
                "ip 198.51.100.60 block",
                "ip 192.0.2.11 block",
                "url http://cdn-sync.example/u?id=1 block",
                "domain c2.example block",
                "file_sha1 73d95a30c812d9cff0eaf37a686fdfef8f9ca531 block",
                "ip 203.0.113.51 log",
            ]
        );
        assert_eq!(
            skipped(&doc),
            [(FRAGMENT, 1), (MD5, 2), (NOT_AN_IOC_TERM, 1)]
        );
    }

    /// `cases/openioc/hx-events.ioc`: the shape HX exports, with a BOM.
    #[test]
    fn the_hx_events_case_gives_five_iocs() {
        let text = std::fs::read_to_string(format!("{CASES}/hx-events.ioc")).unwrap();
        let doc = ok(&text);
        assert_eq!(doc.items, 6);
        assert_eq!(
            taken(&doc),
            [
                "domain update-check.example block",
                "domain cdn-sync.example block",
                "ip 203.0.113.50 block",
                "ip 198.51.100.60 block",
                "domain control-term.example block",
            ]
        );
        assert_eq!(skipped(&doc), [(MD5, 1)]);
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
        assert_eq!(doc.iocs.len(), 6);
        assert!(doc.iocs.iter().all(|i| i.scan_action == ScanAction::Block));
        assert_eq!(skipped(&doc), [(MD5, 1)]);
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
                item("s", "is", "FileItem/Sha256sum", &"b".repeat(63)),
                item("t1", "is", "FileItem/FullPath", "C:\\evil.exe"),
                item("t2", "contains", "ProcessItem/name", "evil.exe"),
                item("t3", "is", "ProcessItem/SectionList/MemorySection/Sha1Sum", SHA1),
                "<IndicatorItem id=\"t4\" condition=\"is\"><Content>192.0.2.1</Content></IndicatorItem>".to_owned(),
                item("v1", "is", "PortItem/remoteIP", "10.1."),
                item("v2", "is", "PortItem/remoteIP", "2001:db8::1"),
                item("v3", "is", "DnsEntryItem/Host", "bad name.example"),
                item("v4", "is", "FileItem/Sha1sum", "73d95a30"),
                item("v5", "is", "Network/URI", "ftp://x.example/a"),
                item("v6", "is", "Network/URI", "http://x .example/a"),
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
                ("invalid-sha256", 1),
                ("invalid-url", 1),
                ("ipv6", 1),
                (MD5, 1),
                (NEGATION, 3),
                (NOT_AN_IOC_TERM, 4),
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
}
