//! The OpenIOC search terms that carry IOCs, and why an item gives none.
//!
//! An item gives an IOC when all of these hold:
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

use crate::ioc::{Invalid, Ioc, IocKind};

/// Skip code: the search term carries no IOC Apex holds.
pub const NOT_AN_IOC_TERM: &str = "not-an-ioc-term";
/// Skip code: a condition other than `is` and `contains`.
pub const CONDITION: &str = "condition";
/// Skip code: a piece of an IOC rather than a whole one.
pub const FRAGMENT: &str = "fragment";
/// Skip codes shared with the STIX extraction: `isnot`, `containsnot` or `negate="true"`;
/// MD5 and SHA-256 hash terms.
pub use crate::ioc::skip::{MD5, NEGATION, SHA256};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apex::udso::ScanAction;
    use crate::openioc::test_docs::*;

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
}
