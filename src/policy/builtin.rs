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
//! URLs are checked by their host with the same rules. `.example`, `.test` and `.invalid`
//! (RFC 2606) stay allowed: they are not in the Public Suffix List, and tests use them.

use psl::Type;

use super::index::{Applies, Cidr, Entry, Found, Index, Origin};

/// A list of the guard: its name in reports and its entries.
struct GuardList {
    name: &'static str,
    blocks: &'static [&'static str],
    names: &'static [&'static str],
}

/// The guard's lists, in the order they are checked (the first that matches is reported).
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

/// The guard's list names, in order: its lists take the first list numbers.
pub fn names() -> Vec<&'static str> {
    LISTS
        .iter()
        .map(|l| l.name)
        .chain([PUBLIC_SUFFIX, SINGLE_LABEL])
        .collect()
}

/// Loads the guard's ranges and names into `index`, as lists 0, 1, ... in the order of
/// [`names`].
pub fn load(index: &mut Index) {
    let both = Applies {
        direct: true,
        url: true,
    };
    for (list, guard) in (0u32..).zip(LISTS) {
        let origin = Origin { list, line: 0 };
        for block in guard.blocks {
            index.add_block(Cidr::parse(block).expect("a valid block"), both, origin);
        }
        for name in guard.names {
            index.add_domain(name, both, origin);
        }
    }
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
            return Some((at(LISTS.len()), Entry::Rule(host, section)));
        }
    }
    if !host.contains('.') {
        return Some((at(LISTS.len() + 1), Entry::Rule(host, "one label")));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ioc::{Ioc, IocKind};

    fn guard() -> Index {
        let mut index = Index::default();
        load(&mut index);
        index
    }

    /// The guard list and entry that exclude `value` (a plain-list line), if any.
    fn check(index: &Index, value: &str) -> Option<(&'static str, String)> {
        let ioc = crate::source::file::detect(value).unwrap();
        index
            .find(&ioc, host_rule)
            .map(|(o, entry)| (names()[o.list as usize], entry.to_string()))
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
