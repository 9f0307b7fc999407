//! The lookup structures every exclusion list is loaded into, so that checking an IOC costs
//! a few hash look-ups however long the lists are:
//! - IPv4 addresses and CIDR blocks: one hash map per prefix length present (at most 33),
//!   keyed by the masked network;
//! - domains: a set of names looked up label by label from the whole host up to its last
//!   label, so `example.com` matches `a.example.com` and never `notexample.com`;
//! - URL prefixes: grouped by origin (`scheme://host[:port]`), compared only with URLs of
//!   that origin;
//! - exact values (MISP `string` lists, hashes): one hash map;
//! - MISP `substring` and `regex` lists: one Aho-Corasick automaton or `RegexSet` a list.
//!
//! Every entry remembers where it came from ([`Origin`]). When several entries match, the
//! one of the earliest list wins (the built-in guard first, then `--exclude` in the order
//! given), so each excluded IOC is counted once, under the first list that names it.

use std::net::Ipv4Addr;

use aho_corasick::AhoCorasick;
use regex::RegexSet;

use crate::ioc::{Ioc, IocKind};

/// Hash maps with foldhash: several times faster than SipHash on the short keys here
/// (addresses, names), still seeded per process.
type HashMap<K, V> = foldhash::HashMap<K, V>;

/// Where an entry comes from: a list (its position among the loaded lists) and, for plain
/// lists, the line (0 when there is none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    pub list: u32,
    pub line: u32,
}

/// Which IOCs a prefix or domain entry applies to: IOCs of the entry's own kind (ip, domain),
/// URLs whose host it matches, or both. Each keeps the entry of the earliest list.
#[derive(Debug, Default, Clone, Copy)]
struct Slots {
    direct: Option<Origin>,
    url: Option<Origin>,
}

/// What an entry applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Applies {
    /// IOCs of the entry's own kind.
    pub direct: bool,
    /// URLs on it.
    pub url: bool,
}

impl Slots {
    fn set(&mut self, applies: Applies, origin: Origin) {
        let keep_first = |slot: &mut Option<Origin>| match slot {
            Some(held) if held.list <= origin.list => {}
            _ => *slot = Some(origin),
        };
        if applies.direct {
            keep_first(&mut self.direct);
        }
        if applies.url {
            keep_first(&mut self.url);
        }
    }

    fn get(&self, in_url: bool) -> Option<Origin> {
        if in_url { self.url } else { self.direct }
    }
}

/// An IPv4 CIDR block: the network (host bits cleared) and the prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub network: u32,
    pub len: u8,
}

impl Cidr {
    /// `a.b.c.d` (a /32) or `a.b.c.d/n`, n in 0..=32; host bits are cleared, as MISP and
    /// routers do (`10.1.2.3/8` is `10.0.0.0/8`). `None` for anything else.
    pub fn parse(text: &str) -> Option<Cidr> {
        let (addr, len) = match text.split_once('/') {
            Some((addr, len)) if !len.is_empty() && len.bytes().all(|b| b.is_ascii_digit()) => {
                (addr, len.parse::<u8>().ok().filter(|&n| n <= 32)?)
            }
            Some(_) => return None,
            None => (text, 32),
        };
        let addr: Ipv4Addr = addr.parse().ok()?;
        Some(Cidr {
            network: u32::from(addr) & mask(len),
            len,
        })
    }

    pub fn contains(self, addr: u32) -> bool {
        addr & mask(self.len) == self.network
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let addr = Ipv4Addr::from(self.network);
        if self.len == 32 {
            write!(f, "{addr}")
        } else {
            write!(f, "{addr}/{}", self.len)
        }
    }
}

fn mask(len: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)
}

/// IPv4 blocks: one map per prefix length, so a look-up is one hash probe per length present.
#[derive(Debug, Default)]
struct PrefixIndex {
    /// Index = prefix length.
    by_len: Vec<HashMap<u32, Slots>>,
    /// The lengths that hold entries, longest first.
    lens: Vec<u8>,
}

impl PrefixIndex {
    fn reserve(&mut self, blocks: &[Cidr]) {
        let mut counts = [0usize; 33];
        for cidr in blocks {
            counts[usize::from(cidr.len)] += 1;
        }
        self.ensure_lens();
        for (map, additional) in self.by_len.iter_mut().zip(counts) {
            map.reserve(additional);
        }
    }

    fn ensure_lens(&mut self) {
        if self.by_len.is_empty() {
            self.by_len.resize_with(33, HashMap::default);
        }
    }

    fn insert(&mut self, cidr: Cidr, applies: Applies, origin: Origin) {
        self.ensure_lens();
        let len = usize::from(cidr.len);
        if self.by_len[len].is_empty() {
            self.lens.push(cidr.len);
            self.lens.sort_unstable_by(|a, b| b.cmp(a));
        }
        self.by_len[len]
            .entry(cidr.network)
            .or_default()
            .set(applies, origin);
    }

    /// The block of the earliest list that holds `addr` (the longest of that list's).
    fn lookup(&self, addr: u32, in_url: bool) -> Option<(Origin, Cidr)> {
        let mut best: Option<(Origin, Cidr)> = None;
        for &len in &self.lens {
            let network = addr & mask(len);
            let found = self.by_len[usize::from(len)]
                .get(&network)
                .and_then(|slots| slots.get(in_url));
            if let Some(origin) = found
                && best.is_none_or(|(held, _)| origin.list < held.list)
            {
                best = Some((origin, Cidr { network, len }));
            }
        }
        best
    }

    fn len(&self) -> usize {
        self.by_len.iter().map(HashMap::len).sum()
    }
}

/// Domains, each matching itself and every name under it.
#[derive(Debug, Default)]
struct SuffixIndex {
    names: HashMap<Box<str>, Slots>,
}

impl SuffixIndex {
    fn insert(&mut self, name: &str, applies: Applies, origin: Origin) {
        self.names
            .entry(name.into())
            .or_default()
            .set(applies, origin);
    }

    /// The entry of the earliest list that is `host` or a parent domain of it: `host`, then
    /// `host` without its first label, and so on (label-wise, never a bare string suffix).
    fn lookup<'h>(&self, host: &'h str, in_url: bool) -> Option<(Origin, &'h str)> {
        if self.names.is_empty() {
            return None;
        }
        let mut best: Option<(Origin, &str)> = None;
        let mut rest = host;
        loop {
            if let Some(origin) = self.names.get(rest).and_then(|s| s.get(in_url))
                && best.is_none_or(|(held, _)| origin.list < held.list)
            {
                best = Some((origin, rest));
            }
            match rest.split_once('.') {
                Some((_, parent)) => rest = parent,
                None => return best,
            }
        }
    }
}

/// A list matched by scanning each value: MISP `substring` and `regex` lists.
#[derive(Debug)]
pub enum Scan {
    /// Any entry occurring in the value (ASCII letters compared without case).
    Substrings(AhoCorasick),
    /// Any pattern matching the value.
    Patterns(RegexSet),
}

#[derive(Debug)]
struct Scanner {
    list: u32,
    kinds: Vec<IocKind>,
    scan: Scan,
    entries: Vec<String>,
}

/// How an entry matched, for reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry<'a> {
    Block(Cidr),
    Domain(&'a str),
    UrlPrefix(&'a str, &'a str),
    Exact(&'a str),
    Pattern(&'a str),
    /// A rule that is not an entry (the guard's public suffixes and single labels): the
    /// value it matched and why.
    Rule(&'a str, &'static str),
}

impl std::fmt::Display for Entry<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Entry::Block(cidr) => write!(f, "{cidr}"),
            Entry::Domain(name) => f.write_str(name),
            Entry::UrlPrefix(origin, rest) => write!(f, "{origin}{rest}"),
            Entry::Exact(value) | Entry::Pattern(value) => f.write_str(value),
            Entry::Rule(value, why) => write!(f, "{value} ({why})"),
        }
    }
}

/// A match: the entry's origin and the entry.
pub type Found<'a> = (Origin, Entry<'a>);

/// Every entry of every loaded list.
#[derive(Debug, Default)]
pub struct Index {
    prefixes: PrefixIndex,
    domains: SuffixIndex,
    /// Origin -> (the rest of the prefix, where it came from).
    url_prefixes: HashMap<Box<str>, Vec<(Box<str>, Origin)>>,
    exact: HashMap<Ioc, Origin>,
    scanners: Vec<Scanner>,
}

impl Index {
    pub fn add_block(&mut self, cidr: Cidr, applies: Applies, origin: Origin) {
        self.prefixes.insert(cidr, applies, origin);
    }

    /// Many blocks of one list at once: room is made first, not grown entry by entry.
    pub fn add_blocks(&mut self, blocks: &[Cidr], applies: Applies, origin: Origin) {
        self.prefixes.reserve(blocks);
        for &cidr in blocks {
            self.prefixes.insert(cidr, applies, origin);
        }
    }

    /// `name` (a domain in normal form) and every name under it.
    pub fn add_domain(&mut self, name: &str, applies: Applies, origin: Origin) {
        self.domains.insert(name, applies, origin);
    }

    /// Every URL of the prefix's origin whose path, query and fragment start with the
    /// prefix's; an empty path counts as `/` on both sides (RFC 3986, 6.2.3).
    pub fn add_url_prefix(&mut self, origin_part: &str, rest: &str, origin: Origin) {
        let rest = if rest.is_empty() { "/" } else { rest };
        self.url_prefixes
            .entry(origin_part.into())
            .or_default()
            .push((rest.into(), origin));
    }

    /// Exactly this IOC.
    pub fn add_exact(&mut self, ioc: Ioc, origin: Origin) {
        self.exact.entry(ioc).or_insert(origin);
    }

    /// A list scanned value by value, for IOCs of `kinds`.
    pub fn add_scan(&mut self, list: u32, kinds: Vec<IocKind>, scan: Scan, entries: Vec<String>) {
        self.scanners.push(Scanner {
            list,
            kinds,
            scan,
            entries,
        });
    }

    /// How many entries the index holds.
    pub fn len(&self) -> usize {
        self.prefixes.len()
            + self.domains.names.len()
            + self.url_prefixes.values().map(Vec::len).sum::<usize>()
            + self.exact.len()
            + self.scanners.iter().map(|s| s.entries.len()).sum::<usize>()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The entry of the earliest list that matches `ioc`, if any. `host_rules` adds the
    /// matches of rules that are not entries (the built-in guard's), given a host name.
    pub fn find<'a>(
        &'a self,
        ioc: &'a Ioc,
        host_rules: impl Fn(&'a str) -> Option<Found<'a>>,
    ) -> Option<Found<'a>> {
        let mut best: Option<Found<'a>> = None;
        let offer = |best: &mut Option<Found<'a>>, found: Option<Found<'a>>| {
            if let Some(found) = found
                && best
                    .as_ref()
                    .is_none_or(|(held, _)| found.0.list < held.list)
            {
                *best = Some(found);
            }
        };
        match ioc.kind {
            IocKind::Ip => {
                if let Ok(addr) = ioc.value.parse::<Ipv4Addr>() {
                    offer(&mut best, self.block(u32::from(addr), false));
                }
            }
            IocKind::Domain => {
                offer(&mut best, host_rules(&ioc.value));
                offer(
                    &mut best,
                    self.domains
                        .lookup(&ioc.value, false)
                        .map(|(o, name)| (o, Entry::Domain(name))),
                );
            }
            IocKind::Url => {
                if let Some(parts) = crate::ioc::split_url(&ioc.value) {
                    if let Ok(addr) = parts.host.parse::<Ipv4Addr>() {
                        offer(&mut best, self.block(u32::from(addr), true));
                    } else if !parts.host.starts_with('[') {
                        offer(&mut best, host_rules(parts.host));
                        offer(
                            &mut best,
                            self.domains
                                .lookup(parts.host, true)
                                .map(|(o, name)| (o, Entry::Domain(name))),
                        );
                    }
                    offer(&mut best, self.url_prefix(parts.origin, parts.rest));
                }
            }
            _ => {}
        }
        offer(
            &mut best,
            self.exact
                .get(ioc)
                .map(|&o| (o, Entry::Exact(ioc.value.as_str()))),
        );
        for scanner in &self.scanners {
            if best
                .as_ref()
                .is_some_and(|(held, _)| held.list <= scanner.list)
                || !scanner.kinds.contains(&ioc.kind)
            {
                continue;
            }
            let hit = match &scanner.scan {
                Scan::Substrings(ac) => ac.find(&ioc.value).map(|m| m.pattern().as_usize()),
                Scan::Patterns(set) => set.matches(&ioc.value).iter().next(),
            };
            if let Some(at) = hit {
                let origin = Origin {
                    list: scanner.list,
                    line: 0,
                };
                offer(
                    &mut best,
                    Some((origin, Entry::Pattern(&scanner.entries[at]))),
                );
            }
        }
        best
    }

    fn block(&self, addr: u32, in_url: bool) -> Option<Found<'_>> {
        self.prefixes
            .lookup(addr, in_url)
            .map(|(o, cidr)| (o, Entry::Block(cidr)))
    }

    fn url_prefix<'a>(&'a self, origin_part: &'a str, rest: &str) -> Option<Found<'a>> {
        let rest = if rest.is_empty() { "/" } else { rest };
        self.url_prefixes
            .get(origin_part)?
            .iter()
            .filter(|(prefix, _)| rest.starts_with(&**prefix))
            .min_by_key(|(_, o)| o.list)
            .map(|(prefix, o)| (*o, Entry::UrlPrefix(origin_part, prefix)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOTH: Applies = Applies {
        direct: true,
        url: true,
    };

    fn at(list: u32) -> Origin {
        Origin { list, line: 0 }
    }

    fn find(index: &Index, kind: IocKind, value: &str) -> Option<(u32, String)> {
        let ioc = Ioc::new(kind, value).unwrap();
        index
            .find(&ioc, |_| None)
            .map(|(o, entry)| (o.list, entry.to_string()))
    }

    #[test]
    fn cidr_parse_and_edges() {
        let c = Cidr::parse("10.1.2.3/8").unwrap();
        assert_eq!(c.to_string(), "10.0.0.0/8");
        assert_eq!(Cidr::parse("1.2.3.4").unwrap().to_string(), "1.2.3.4");
        assert_eq!(Cidr::parse("0.0.0.0/0").unwrap().len, 0);
        for bad in [
            "1.2.3.4/33",
            "1.2.3.4/",
            "1.2.3/8",
            "::1/128",
            "1.2.3.4/x",
            "01.2.3.4",
        ] {
            assert_eq!(Cidr::parse(bad), None, "{bad}");
        }
        let block = Cidr::parse("172.16.0.0/12").unwrap();
        let ip = |s: &str| u32::from(s.parse::<Ipv4Addr>().unwrap());
        assert!(block.contains(ip("172.16.0.0")));
        assert!(block.contains(ip("172.31.255.255")));
        assert!(!block.contains(ip("172.15.255.255")));
        assert!(!block.contains(ip("172.32.0.0")));
    }

    #[test]
    fn blocks_match_their_first_and_last_address_and_nothing_beside() {
        let mut index = Index::default();
        index.add_block(Cidr::parse("100.64.0.0/10").unwrap(), BOTH, at(0));
        index.add_block(Cidr::parse("0.0.0.0/0").unwrap(), BOTH, at(5));
        index.add_block(Cidr::parse("8.8.8.8").unwrap(), BOTH, at(1));
        let list = |v: &str| find(&index, IocKind::Ip, v).map(|(l, _)| l);
        assert_eq!(list("100.64.0.0"), Some(0));
        assert_eq!(list("100.127.255.255"), Some(0));
        assert_eq!(list("100.63.255.255"), Some(5));
        assert_eq!(list("100.128.0.0"), Some(5));
        assert_eq!(list("8.8.8.8"), Some(1));
        assert_eq!(
            find(&index, IocKind::Url, "http://100.64.1.1:8080/x"),
            Some((0, "100.64.0.0/10".into()))
        );
    }

    #[test]
    fn the_earliest_list_wins_whatever_the_prefix_length() {
        let mut index = Index::default();
        index.add_block(Cidr::parse("10.0.0.1").unwrap(), BOTH, at(3));
        index.add_block(Cidr::parse("10.0.0.0/8").unwrap(), BOTH, at(1));
        index.add_block(Cidr::parse("10.0.0.0/8").unwrap(), BOTH, at(2));
        assert_eq!(
            find(&index, IocKind::Ip, "10.0.0.1"),
            Some((1, "10.0.0.0/8".into()))
        );
    }

    #[test]
    fn entries_for_urls_only_or_direct_only() {
        let mut index = Index::default();
        let url_only = Applies {
            direct: false,
            url: true,
        };
        let direct_only = Applies {
            direct: true,
            url: false,
        };
        index.add_domain("cdn.example", url_only, at(0));
        index.add_block(Cidr::parse("192.0.2.0/24").unwrap(), direct_only, at(0));
        assert_eq!(find(&index, IocKind::Domain, "cdn.example"), None);
        assert!(find(&index, IocKind::Url, "https://a.cdn.example/").is_some());
        assert!(find(&index, IocKind::Ip, "192.0.2.7").is_some());
        assert_eq!(find(&index, IocKind::Url, "http://192.0.2.7/"), None);
    }

    #[test]
    fn domains_match_themselves_and_subdomains_never_look_alikes() {
        let mut index = Index::default();
        index.add_domain("example.com", BOTH, at(0));
        let hit = |kind, v: &str| find(&index, kind, v).map(|(_, e)| e);
        assert_eq!(
            hit(IocKind::Domain, "example.com").as_deref(),
            Some("example.com")
        );
        assert_eq!(
            hit(IocKind::Domain, "a.b.example.com").as_deref(),
            Some("example.com")
        );
        assert_eq!(hit(IocKind::Domain, "notexample.com"), None);
        assert_eq!(hit(IocKind::Domain, "example.com.evil.net"), None);
        assert_eq!(hit(IocKind::Domain, "com"), None);
        assert!(hit(IocKind::Url, "https://user@www.example.com:8443/x").is_some());
        assert_eq!(hit(IocKind::Url, "https://notexample.com/"), None);
        assert_eq!(hit(IocKind::Url, "https://evil.net/example.com"), None);
    }

    #[test]
    fn url_prefixes_compare_within_their_origin() {
        let mut index = Index::default();
        index.add_url_prefix("https://corp.example", "/login", at(0));
        index.add_url_prefix("https://intranet.example", "", at(1));
        let hit = |v: &str| find(&index, IocKind::Url, v).map(|(l, _)| l);
        assert_eq!(hit("https://corp.example/login"), Some(0));
        assert_eq!(hit("https://corp.example/login/sso?x=1"), Some(0));
        assert_eq!(hit("https://corp.example/logout"), None);
        assert_eq!(hit("http://corp.example/login"), None);
        assert_eq!(hit("https://corp.example:8443/login"), None);
        assert_eq!(hit("https://corp.example.evil.net/login"), None);
        assert_eq!(hit("https://intranet.example"), Some(1));
        assert_eq!(hit("https://intranet.example/any?thing"), Some(1));
        assert_eq!(hit("https://a.intranet.example/"), None);
    }

    #[test]
    fn exact_values_and_scans() {
        let mut index = Index::default();
        let sha1 = Ioc::new(IocKind::FileSha1, &"A".repeat(40)).unwrap();
        index.add_exact(sha1, at(2));
        let ac = AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(["ANY.RUN"])
            .unwrap();
        index.add_scan(
            1,
            vec![IocKind::Domain],
            Scan::Substrings(ac),
            vec!["ANY.RUN".into()],
        );
        let set = RegexSet::new([r"^evil-\d+\."]).unwrap();
        index.add_scan(
            0,
            vec![IocKind::Url],
            Scan::Patterns(set),
            vec![r"/^evil-\d+\./".into()],
        );
        assert_eq!(
            find(&index, IocKind::FileSha1, &"a".repeat(40)).map(|(l, _)| l),
            Some(2)
        );
        assert_eq!(
            find(&index, IocKind::Domain, "app.any.run"),
            Some((1, "ANY.RUN".into()))
        );
        // The substring list is for domains only; the pattern for URLs only.
        assert_eq!(find(&index, IocKind::Url, "http://app.any.run/"), None);
        assert_eq!(find(&index, IocKind::Domain, "evil-1.example"), None);
    }
}
