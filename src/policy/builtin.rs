//! The built-in guard: values no feed should ever get onto every endpoint's block list.
//! On by default; `--no-default-exclusions` lifts it.
//!
//! - IPv4 special-purpose ranges that are not public hosts (IANA IPv4 Special-Purpose
//!   Address Registry, RFC 6890): "this network" 0.0.0.0/8 (RFC 791), private-use
//!   10/8, 172.16/12, 192.168/16 (RFC 1918), shared address space (carrier-grade NAT)
//!   100.64/10 (RFC 6598), loopback 127/8 (RFC 1122), link-local 169.254/16 (RFC 3927),
//!   multicast 224/4 (RFC 5771), reserved 240/4 (RFC 1112) and the limited broadcast
//!   address 255.255.255.255 (RFC 919). The documentation ranges 192.0.2/24,
//!   198.51.100/24 and 203.0.113/24 (RFC 5737) stay allowed: nothing routes there.
//! - Names under `localhost`, `local` (mDNS, RFC 6762), `internal` (ICANN's private-use
//!   TLD) and `arpa` (RFC 3172), and those names themselves.
//! - Domains that are themselves a public suffix, in either section of the Public Suffix
//!   List (`com`, `co.uk`, `github.io`): blocking one blocks every site under it. The list
//!   is the `psl` crate's copy of <https://publicsuffix.org/list/>.
//! - Single-label names (`intranet`): on an endpoint they resolve through the search
//!   domain to the company's own hosts.
//!
//! - The job's own infrastructure ([`OwnHost`]): the hosts it talks to (Apex Central or
//!   Vision One, the Lumu or TAXII server, the proxy). A feed that names one would cut the
//!   job, and every agent that reports to the server, off from it. A name holds back itself,
//!   every name under it and URLs on them, and its parent domains down to the registrable
//!   domain as exact names (`corp.example` for `apex.corp.example`: a domain entry may match
//!   the names under it); an IPv4 address holds back itself and URLs on it. Checked first,
//!   so a job's private or loopback server is reported as its own infrastructure.
//! - The hashes of empty input, SHA-1 `da39a3ee...` and SHA-256 `e3b0c442...` (FIPS 180-4
//!   digests of the empty message, as MISP's `empty-hashes` warninglist lists them):
//!   blocking one blocks every empty file. MD5 needs no entry: no MD5 IOC is ever pushed
//!   (`ioc::skip::MD5`).
//!
//! URLs are checked by their host with the same rules. `.example`, `.test` and `.invalid`
//! (RFC 2606) stay allowed: they are not in the Public Suffix List, and tests use them.

use std::collections::HashMap;

use psl::Type;

use super::index::{Applies, Cidr, Entry, Found, Index, Origin};
use crate::ioc::{Ioc, IocKind};

/// A list of the guard: its name in reports and its entries.
struct GuardList {
    name: &'static str,
    blocks: &'static [&'static str],
    names: &'static [&'static str],
}

/// The name of the list of the job's own hosts ([`OwnHost`]): the guard's first list.
pub const OWN_INFRASTRUCTURE: &str = "builtin:own-infrastructure";

/// The guard's lists of fixed entries, in the order they are checked after
/// [`OWN_INFRASTRUCTURE`] (the first that matches is reported).
const LISTS: &[GuardList] = &[
    GuardList {
        name: "builtin:this-network-ipv4",
        blocks: &["0.0.0.0/8"],
        names: &[],
    },
    GuardList {
        name: "builtin:private-ipv4",
        blocks: &["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"],
        names: &[],
    },
    GuardList {
        name: "builtin:cgnat-ipv4",
        blocks: &["100.64.0.0/10"],
        names: &[],
    },
    GuardList {
        name: "builtin:loopback-ipv4",
        blocks: &["127.0.0.0/8"],
        names: &[],
    },
    GuardList {
        name: "builtin:link-local-ipv4",
        blocks: &["169.254.0.0/16"],
        names: &[],
    },
    GuardList {
        name: "builtin:multicast-ipv4",
        blocks: &["224.0.0.0/4"],
        names: &[],
    },
    // Before `reserved`, which holds it too.
    GuardList {
        name: "builtin:broadcast-ipv4",
        blocks: &["255.255.255.255/32"],
        names: &[],
    },
    GuardList {
        name: "builtin:reserved-ipv4",
        blocks: &["240.0.0.0/4"],
        names: &[],
    },
    GuardList {
        name: "builtin:local-name",
        blocks: &[],
        names: &["localhost", "local", "internal", "arpa"],
    },
];

/// The name of the list of public suffixes.
pub const PUBLIC_SUFFIX: &str = "builtin:public-suffix";
/// The name of the list of single-label names.
pub const SINGLE_LABEL: &str = "builtin:single-label";
/// The name of the list of the hashes of empty input.
pub const EMPTY_FILE_HASH: &str = "builtin:empty-file-hash";

/// The hashes of empty input (FIPS 180-4 digests of the empty message), and what each is.
const EMPTY_FILE_HASHES: [(IocKind, &str, &str); 2] = [
    (
        IocKind::FileSha1,
        "da39a3ee5e6b4b0d3255bfef95601890afd80709",
        "SHA-1 of empty input",
    ),
    (
        IocKind::FileSha256,
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "SHA-256 of empty input",
    ),
];

/// Where the lists after [`LISTS`] are: public suffixes, single labels, empty-file hashes.
const PUBLIC_SUFFIX_AT: usize = 1 + LISTS.len();
const SINGLE_LABEL_AT: usize = PUBLIC_SUFFIX_AT + 1;
const EMPTY_FILE_HASH_AT: usize = SINGLE_LABEL_AT + 1;

/// The guard's list names, in order: its lists take the first list numbers.
pub fn names() -> Vec<&'static str> {
    std::iter::once(OWN_INFRASTRUCTURE)
        .chain(LISTS.iter().map(|l| l.name))
        .chain([PUBLIC_SUFFIX, SINGLE_LABEL, EMPTY_FILE_HASH])
        .collect()
}

/// A host this job talks to, and where it was named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnHost {
    /// A host name or an IPv4 address (an IPv6 one holds nothing back: no IPv6 IOC is
    /// pushed), in any spelling [`Ioc::from_host`] reads.
    pub host: String,
    /// Where it was named, for reports: `--host`, `--v1-region`, `HTTPS_PROXY`...
    pub option: String,
}

/// What the guard's entries stand for where the entry alone does not say it, by list
/// number and entry: `--host`, `parent domain of apex.corp.example (--host)`, `SHA-1 of
/// empty input`.
pub type Notes = HashMap<(u32, String), String>;

/// Loads the guard's ranges, names and hashes, and the job's own hosts `own`, into
/// `index`, as lists 0, 1, ... in the order of [`names`]; returns the notes of its entries.
pub fn load(index: &mut Index, own: &[OwnHost]) -> Notes {
    let both = Applies {
        direct: true,
        url: true,
    };
    let mut notes = Notes::new();
    let mut note = |list: usize, entry: &str, text: String| {
        notes.entry((list as u32, entry.to_owned())).or_insert(text);
    };
    let own_list = Origin { list: 0, line: 0 };
    for own_host in own {
        match Ioc::from_host(&own_host.host) {
            Ok(ioc) if ioc.kind == IocKind::Ip => {
                let cidr = Cidr::parse(&ioc.value).expect("a normalised IPv4 address");
                index.add_block(cidr, both, own_list);
                note(0, &ioc.value, own_host.option.clone());
            }
            Ok(ioc) => {
                index.add_domain(&ioc.value, both, own_list);
                note(0, &ioc.value, own_host.option.clone());
                for parent in parents(&ioc.value) {
                    let exact = Ioc {
                        kind: IocKind::Domain,
                        value: parent.to_owned(),
                    };
                    index.add_exact(exact, own_list);
                    note(
                        0,
                        parent,
                        format!("parent domain of {} ({})", ioc.value, own_host.option),
                    );
                }
            }
            Err(why) => tracing::debug!(
                "{}: {} holds nothing back ({why})",
                own_host.option,
                own_host.host
            ),
        }
    }
    if !own.is_empty() {
        let hosts: Vec<String> = own
            .iter()
            .map(|h| format!("{} ({})", h.host, h.option))
            .collect();
        tracing::debug!("never pushed: this job's own hosts {}", hosts.join(", "));
    }
    for (list, guard) in (1u32..).zip(LISTS) {
        let origin = Origin { list, line: 0 };
        for block in guard.blocks {
            index.add_block(Cidr::parse(block).expect("a valid block"), both, origin);
        }
        for name in guard.names {
            index.add_domain(name, both, origin);
        }
    }
    let empty = Origin {
        list: EMPTY_FILE_HASH_AT as u32,
        line: 0,
    };
    for (kind, hash, what) in EMPTY_FILE_HASHES {
        let ioc = Ioc::new(kind, hash).expect("a valid hash");
        index.add_exact(ioc, empty);
        note(EMPTY_FILE_HASH_AT, hash, what.to_owned());
    }
    notes
}

/// The parent domains of `host` (a domain in normal form) down to its registrable domain,
/// nearest first: `corp.example` for `apex.corp.example`; none for a registrable domain
/// itself or a name without one.
fn parents(host: &str) -> Vec<&str> {
    let Some(registrable) = psl::domain_str(host) else {
        return Vec::new();
    };
    let mut parents = Vec::new();
    let mut rest = host;
    while rest.len() > registrable.len() {
        match rest.split_once('.') {
            Some((_, parent)) => {
                parents.push(parent);
                rest = parent;
            }
            None => break,
        }
    }
    parents
}

/// The rules that are not entries: whether `host` (a domain in normal form) is itself a
/// public suffix, or a single label.
pub fn host_rule(host: &str) -> Option<Found<'_>> {
    let at = |list: usize| Origin {
        list: list as u32,
        line: 0,
    };
    if let Some(suffix) = psl::suffix(host.as_bytes())
        && suffix.as_bytes() == host.as_bytes()
    {
        let section = match suffix.typ() {
            Some(Type::Icann) => Some("ICANN section"),
            Some(Type::Private) => Some("private section"),
            // Unknown: only the default `*` rule matched (`example`, `test`).
            None => None,
        };
        if let Some(section) = section {
            return Some((at(PUBLIC_SUFFIX_AT), Entry::Rule(host, section)));
        }
    }
    if !host.contains('.') {
        return Some((at(SINGLE_LABEL_AT), Entry::Rule(host, "one label")));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard() -> Index {
        let mut index = Index::default();
        load(&mut index, &[]);
        index
    }

    /// The guard list and entry that exclude `value` (a plain-list line), if any.
    fn check(index: &Index, value: &str) -> Option<(&'static str, String)> {
        let ioc = crate::text::detect(value).unwrap();
        index
            .find(&ioc, host_rule)
            .map(|(o, entry)| (names()[o.list as usize], entry.to_string()))
    }

    #[test]
    fn own_hosts_hold_back_themselves_names_under_them_urls_and_parents() {
        let own = |host: &str, option: &str| OwnHost {
            host: host.into(),
            option: option.into(),
        };
        let mut index = Index::default();
        let notes = load(
            &mut index,
            &[
                own("Apex.Corp.Example", "--host"),
                own("10.1.2.3", "--proxy-host"),
                own("api.xdr.trendmicro.com", "--v1-region us"),
                // IPv6 (no IPv6 IOC is pushed) and a value that is no host: nothing.
                own("::1", "HTTPS_PROXY"),
                own("not a host", "http_proxy"),
            ],
        );
        const OWN: &str = OWN_INFRASTRUCTURE;
        for (value, entry) in [
            ("apex.corp.example", "apex.corp.example"),
            ("eu.apex.corp.example", "apex.corp.example"),
            (
                "https://apex.corp.example:8443/WebApp/",
                "apex.corp.example",
            ),
            // Parents down to the registrable domain, as exact names.
            ("corp.example", "corp.example"),
            // Own infrastructure is checked first: a private server is reported as such.
            ("10.1.2.3", "10.1.2.3"),
            ("http://10.1.2.3:3128/x", "10.1.2.3"),
            ("api.xdr.trendmicro.com", "api.xdr.trendmicro.com"),
            ("xdr.trendmicro.com", "xdr.trendmicro.com"),
            ("trendmicro.com", "trendmicro.com"),
        ] {
            assert_eq!(
                check(&index, value),
                Some((OWN, entry.to_owned())),
                "{value}"
            );
        }
        for allowed in [
            "www.corp.example",
            "notapex.corp.example",
            "http://corp.example/x",
            "www.trendmicro.com",
            "10.1.2.4x.example",
        ] {
            assert_eq!(check(&index, allowed), None, "{allowed}");
        }
        assert_eq!(
            check(&index, "10.1.2.4").map(|(list, _)| list),
            Some("builtin:private-ipv4")
        );
        let note = |entry: &str| notes.get(&(0, entry.to_owned())).map(String::as_str);
        assert_eq!(note("apex.corp.example"), Some("--host"));
        assert_eq!(note("10.1.2.3"), Some("--proxy-host"));
        assert_eq!(
            note("corp.example"),
            Some("parent domain of apex.corp.example (--host)")
        );
        assert_eq!(
            note("trendmicro.com"),
            Some("parent domain of api.xdr.trendmicro.com (--v1-region us)")
        );
        // The two that hold nothing back left no entry.
        assert_eq!(
            notes.keys().filter(|(list, _)| *list == 0).count(),
            6,
            "{notes:?}"
        );
    }

    #[test]
    fn the_hashes_of_empty_input_are_held_back() {
        let index = guard();
        for hash in [
            "DA39A3EE5E6B4B0D3255BFEF95601890AFD80709",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ] {
            assert_eq!(
                check(&index, hash),
                Some((EMPTY_FILE_HASH, hash.to_ascii_lowercase())),
                "{hash}"
            );
        }
        assert_eq!(
            check(&index, "3395856ce81f2b7382dee72602f798b642f14140"),
            None
        );
    }

    #[test]
    fn special_purpose_ipv4_ranges_and_their_edges() {
        let index = guard();
        let list = |v: &str| check(&index, v).map(|(l, _)| l);
        for (value, name) in [
            ("0.0.0.0", "builtin:this-network-ipv4"),
            ("0.255.255.255", "builtin:this-network-ipv4"),
            ("10.0.0.0", "builtin:private-ipv4"),
            ("10.255.255.255", "builtin:private-ipv4"),
            ("172.16.0.0", "builtin:private-ipv4"),
            ("172.31.255.255", "builtin:private-ipv4"),
            ("192.168.1.1", "builtin:private-ipv4"),
            ("100.64.0.0", "builtin:cgnat-ipv4"),
            ("100.127.255.255", "builtin:cgnat-ipv4"),
            ("127.0.0.1", "builtin:loopback-ipv4"),
            ("169.254.169.254", "builtin:link-local-ipv4"),
            ("224.0.0.251", "builtin:multicast-ipv4"),
            ("239.255.255.250", "builtin:multicast-ipv4"),
            ("240.0.0.1", "builtin:reserved-ipv4"),
            ("255.255.255.254", "builtin:reserved-ipv4"),
            ("255.255.255.255", "builtin:broadcast-ipv4"),
        ] {
            assert_eq!(list(value), Some(name), "{value}");
        }
        for allowed in [
            "1.0.0.0",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.167.255.255",
            "192.169.0.0",
            "223.255.255.255",
            "192.0.2.1",
            "198.51.100.1",
            "203.0.113.254",
        ] {
            assert_eq!(list(allowed), None, "{allowed}");
        }
        assert_eq!(
            check(&index, "http://10.1.2.3:8080/x"),
            Some(("builtin:private-ipv4", "10.0.0.0/8".into()))
        );
        assert_eq!(check(&index, "http://203.0.113.9/x"), None);
    }

    #[test]
    fn public_suffixes_of_both_sections_local_and_single_label_names() {
        let index = guard();
        for (value, name, entry) in [
            ("com", "builtin:public-suffix", "com (ICANN section)"),
            ("co.uk", "builtin:public-suffix", "co.uk (ICANN section)"),
            (
                "github.io",
                "builtin:public-suffix",
                "github.io (private section)",
            ),
            (
                "blogspot.com",
                "builtin:public-suffix",
                "blogspot.com (private section)",
            ),
            // A wildcard rule (`*.ck`) and IDN suffixes in either form.
            (
                "anything.ck",
                "builtin:public-suffix",
                "anything.ck (ICANN section)",
            ),
            (
                "xn--55qx5d.cn",
                "builtin:public-suffix",
                "xn--55qx5d.cn (ICANN section)",
            ),
            ("localhost", "builtin:local-name", "localhost"),
            ("printer.local", "builtin:local-name", "local"),
            ("db.corp.internal", "builtin:local-name", "internal"),
            ("1.0.0.127.in-addr.arpa", "builtin:local-name", "arpa"),
            ("intranet", "builtin:single-label", "intranet (one label)"),
            ("example", "builtin:single-label", "example (one label)"),
            (
                "http://co.uk/a",
                "builtin:public-suffix",
                "co.uk (ICANN section)",
            ),
            ("https://nas.local/", "builtin:local-name", "local"),
            (
                "http://intranet:8080/",
                "builtin:single-label",
                "intranet (one label)",
            ),
        ] {
            assert_eq!(check(&index, value), Some((name, entry.into())), "{value}");
        }
        for allowed in [
            "evil.com",
            "evil.co.uk",
            "someone.github.io",
            // An exception rule (`!www.ck`) makes this registrable.
            "www.ck",
            "c2.example",
            "c2.test",
            "c2.invalid",
            "localhost.evil.com",
            "local.example",
            "https://someone.github.io/x",
            "http://[2001:db8::1]/",
        ] {
            assert_eq!(check(&index, allowed), None, "{allowed}");
        }
        // Look-alikes of the local names are not under them.
        let ioc = Ioc::new(IocKind::Domain, "notlocal").unwrap();
        let found = index.find(&ioc, host_rule).unwrap();
        assert_eq!(names()[found.0.list as usize], SINGLE_LABEL);
    }
}
