//! IOCs out of a parsed STIX pattern, as `reference/taxii-stix.md` says.
//!
//! Only equality (`=`, `==`, and each member of an `IN` set) on these paths yields IOCs:
//!
//! | path | IOC |
//! |---|---|
//! | `ipv4-addr:value` | ip (a single address or `/32`; other CIDR ranges: `cidr-range`) |
//! | `domain-name:value` | domain |
//! | `url:value` | url |
//! | `file:hashes.X`, X any spelling of SHA-1 (`'SHA-1'`, `SHA1`, `sha1`) | file_sha1 |
//! | `file:hashes.X`, X any spelling of SHA-256 (`'SHA-256'`, `SHA256`) | file_sha256 |
//! | `network-traffic:dst_ref.value`, `network-traffic:src_ref.value`, `domain-name:resolves_to_refs[n or *].value` | ip or domain |
//!
//! The last row's references point at `ipv4-addr`, `ipv6-addr`, `domain-name` (or
//! `mac-addr`) objects, so the literal itself says which: an IPv4 address (or `/32`) becomes
//! an ip IOC, a host name a domain IOC, and anything else is skipped by its reason.
//!
//! Every other comparison is skipped with one reason; an equality or `IN` counts one
//! outcome per literal. The operator decides first: a negated comparison, `!=` or `<>` is
//! `negation`, `LIKE`/`MATCHES` is `like-matches`, any other non-equality operator and
//! `EXISTS` is `unsupported-type`; then the path: `ipv6-addr:value` is `ipv6`, MD5 `md5`,
//! other hashes `unsupported-hash`, other paths (email, process,
//! `file:name`, x509, ...) and non-string literals `unsupported-type`; then the value, which
//! must pass [`Ioc::new`] (its [`Invalid::code`] otherwise).
//!
//! Scan action: an IOC gets the chosen action only when one sighting of it alone makes the
//! whole pattern match, that is when it is reached from the top only through `OR` (between
//! observations and between comparisons) and under no `REPEATS`; under `AND`, `FOLLOWEDBY`
//! or `REPEATS` it gets `log`. `WITHIN` and `START`/`STOP` change nothing. An IOC found more
//! than once in a pattern is listed once, with the chosen action if any sighting earns it.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::pattern::{
    CompExpr, Comparison, ObjectPath, ObservationExpr, Op, PathStep, Pattern, Qualifier,
};
use crate::ioc::{Invalid, Ioc, IocKind};
use crate::model::ScanAction;

/// Skip reasons this module adds to [`Invalid::code`]'s.
pub use crate::ioc::skip::{CIDR_RANGE, MD5, NEGATION, UNSUPPORTED_HASH};
pub const LIKE_MATCHES: &str = "like-matches";
pub const UNSUPPORTED_TYPE: &str = "unsupported-type";

/// What one pattern yields.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Extracted {
    /// Each IOC once, sorted, with its scan action.
    pub iocs: Vec<(Ioc, ScanAction)>,
    /// One reason per value or comparison that yielded no IOC, in pattern order.
    pub skipped: Vec<&'static str>,
}

/// The IOCs in `pattern`: those whose one sighting matches the whole pattern get `action`,
/// the rest [`ScanAction::Log`].
pub fn extract(pattern: &Pattern<'_>, action: ScanAction) -> Extracted {
    let mut walk = Walk::default();
    walk.observation(pattern, true);
    // Sort with the sightings that earn `action` first, then keep the first of each IOC.
    walk.found
        .sort_unstable_by(|(a, a_alone), (b, b_alone)| a.cmp(b).then(b_alone.cmp(a_alone)));
    walk.found.dedup_by(|later, first| later.0 == first.0);
    let iocs = walk
        .found
        .into_iter()
        .map(|(ioc, alone)| (ioc, if alone { action } else { ScanAction::Log }))
        .collect();
    Extracted {
        iocs,
        skipped: walk.skipped,
    }
}

#[derive(Default)]
struct Walk {
    /// Each IOC with whether that sighting alone matches the pattern.
    found: Vec<(Ioc, bool)>,
    skipped: Vec<&'static str>,
}

impl Walk {
    /// `alone`: a match of `expr` alone is a match of the whole pattern.
    fn observation(&mut self, expr: &ObservationExpr<'_>, alone: bool) {
        match expr {
            ObservationExpr::Observation(comparisons) => self.comparisons(comparisons, alone),
            ObservationExpr::Or(operands) => {
                for operand in operands {
                    self.observation(operand, alone);
                }
            }
            ObservationExpr::And(operands) | ObservationExpr::FollowedBy(operands) => {
                for operand in operands {
                    self.observation(operand, false);
                }
            }
            ObservationExpr::Qualified(inner, Qualifier::Repeats { .. }) => {
                self.observation(inner, false);
            }
            ObservationExpr::Qualified(
                inner,
                Qualifier::Within { .. } | Qualifier::StartStop { .. },
            ) => {
                self.observation(inner, alone);
            }
        }
    }

    fn comparisons(&mut self, expr: &CompExpr<'_>, alone: bool) {
        match expr {
            CompExpr::Comparison(c) => self.comparison(c, alone),
            CompExpr::Exists(_) => self.skipped.push(UNSUPPORTED_TYPE),
            CompExpr::Or(operands) => {
                for operand in operands {
                    self.comparisons(operand, alone);
                }
            }
            CompExpr::And(operands) => {
                for operand in operands {
                    self.comparisons(operand, false);
                }
            }
        }
    }

    fn comparison(&mut self, c: &Comparison<'_>, alone: bool) {
        let reason = match c.op {
            _ if c.negated => NEGATION,
            Op::Ne => NEGATION,
            Op::Like | Op::Matches => LIKE_MATCHES,
            Op::Eq | Op::In => {
                let target = Target::of(&c.path);
                for literal in c.literals() {
                    let outcome = match literal.as_str() {
                        Some(text) => target.ioc(text),
                        None => Err(UNSUPPORTED_TYPE),
                    };
                    match outcome {
                        Ok(ioc) => self.found.push((ioc, alone)),
                        Err(reason) => self.skipped.push(reason),
                    }
                }
                return;
            }
            Op::Lt | Op::Gt | Op::Le | Op::Ge | Op::IsSubset | Op::IsSuperset => UNSUPPORTED_TYPE,
        };
        self.skipped.push(reason);
    }
}

/// What an object path's equality literal is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Ipv4,
    Ipv6,
    Domain,
    Url,
    /// An address or a host name: ip or domain by the literal.
    Host,
    Sha1,
    Md5,
    Sha256,
    OtherHash,
    Other,
}

impl Target {
    fn of(path: &ObjectPath<'_>) -> Target {
        use PathStep::{AnyIndex, Index, Property};
        match (
            path.object_type,
            path.property.as_ref(),
            path.steps.as_slice(),
        ) {
            ("ipv4-addr", "value", []) => Target::Ipv4,
            ("ipv6-addr", "value", []) => Target::Ipv6,
            ("domain-name", "value", []) => Target::Domain,
            ("url", "value", []) => Target::Url,
            ("file", "hashes", [Property(name)]) => hash_target(name),
            ("network-traffic", "dst_ref" | "src_ref", [Property(value)])
            | ("domain-name", "resolves_to_refs", [Index(_) | AnyIndex, Property(value)])
                if value == "value" =>
            {
                Target::Host
            }
            _ => Target::Other,
        }
    }

    fn ioc(self, text: &str) -> Result<Ioc, &'static str> {
        let checked = |kind| Ioc::new(kind, text).map_err(Invalid::code);
        match self {
            Target::Ipv4 => ipv4(text),
            Target::Ipv6 => Err(Invalid::Ipv6.code()),
            Target::Domain => checked(IocKind::Domain),
            Target::Url => checked(IocKind::Url),
            Target::Host => host(text),
            Target::Sha1 => checked(IocKind::FileSha1),
            Target::Md5 => Err(MD5),
            Target::Sha256 => checked(IocKind::FileSha256),
            Target::OtherHash => Err(UNSUPPORTED_HASH),
            Target::Other => Err(UNSUPPORTED_TYPE),
        }
    }
}

/// Hash names vary in case and punctuation (`'SHA-1'`, `SHA1`, `sha_1`): compare only
/// their letters and digits, case-insensitively.
fn hash_target(name: &str) -> Target {
    let is = |wanted: &str| {
        name.bytes()
            .filter(u8::is_ascii_alphanumeric)
            .map(|b| b.to_ascii_lowercase())
            .eq(wanted.bytes())
    };
    if is("sha1") {
        Target::Sha1
    } else if is("md5") {
        Target::Md5
    } else if is("sha256") {
        Target::Sha256
    } else {
        Target::OtherHash
    }
}

/// An IPv4 address, or a `/32`; a wider range is no UDSO entry.
fn ipv4(text: &str) -> Result<Ioc, &'static str> {
    if let Some((addr, bits)) = text.trim().split_once('/') {
        if addr.parse::<Ipv6Addr>().is_ok() {
            return Err(Invalid::Ipv6.code());
        }
        if bits != "32"
            && addr.parse::<Ipv4Addr>().is_ok()
            && bits.parse::<u8>().is_ok_and(|b| b < 32)
        {
            return Err(CIDR_RANGE);
        }
    }
    // Ioc::new drops a `/32` itself.
    Ioc::new(IocKind::Ip, text).map_err(Invalid::code)
}

/// An address (IPv4 as in [`ipv4`]) or a host name.
fn host(text: &str) -> Result<Ioc, &'static str> {
    if let Some((addr, _)) = text.trim().split_once('/')
        && (addr.parse::<Ipv6Addr>().is_ok() || addr.parse::<Ipv4Addr>().is_ok())
    {
        return ipv4(text);
    }
    Ioc::from_host(text).map_err(Invalid::code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stix::pattern::parse;
    use ScanAction::{Block, Log};
    use proptest::prelude::*;

    fn run(pattern: &str) -> Extracted {
        let parsed = parse(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"));
        extract(&parsed, Block)
    }

    fn ioc(kind: IocKind, value: &str) -> Ioc {
        Ioc {
            kind,
            value: value.to_owned(),
        }
    }

    fn ip(v: &str) -> Ioc {
        ioc(IocKind::Ip, v)
    }

    fn domain(v: &str) -> Ioc {
        ioc(IocKind::Domain, v)
    }

    fn url(v: &str) -> Ioc {
        ioc(IocKind::Url, v)
    }

    const SHA1: &str = "73d95a30c812d9cff0eaf37a686fdfef8f9ca531";

    /// The IOCs of a pattern and its skip reasons.
    fn assert_extracts(pattern: &str, iocs: &[(Ioc, ScanAction)], skipped: &[&str]) {
        let got = run(pattern);
        assert_eq!(got.iocs, iocs, "{pattern}");
        assert_eq!(got.skipped, skipped, "{pattern}");
    }

    /// A pattern that yields nothing but one skip reason.
    fn assert_skips(pattern: &str, reason: &str) {
        assert_extracts(pattern, &[], &[reason]);
    }

    #[test]
    fn ioc_paths() {
        assert_extracts(
            "[ipv4-addr:value = '198.51.100.1']",
            &[(ip("198.51.100.1"), Block)],
            &[],
        );
        assert_extracts(
            "[ipv4-addr:value == '198.51.100.1/32']",
            &[(ip("198.51.100.1"), Block)],
            &[],
        );
        assert_extracts(
            "[domain-name:value = 'Evil.Example.']",
            &[(domain("evil.example"), Block)],
            &[],
        );
        assert_extracts(
            "[url:value = 'HTTP://Evil.Example/A?b=1']",
            &[(url("http://evil.example/A?b=1"), Block)],
            &[],
        );
        assert_extracts(
            "[file:hashes.'SHA-1' = '73D95A30C812D9CFF0EAF37A686FDFEF8F9CA531']",
            &[(ioc(IocKind::FileSha1, SHA1), Block)],
            &[],
        );
    }

    #[test]
    fn hash_names_in_any_spelling() {
        for name in ["'SHA-1'", "SHA1", "sha1", "'sha-1'", "'Sha_1'", "'SHA 1'"] {
            assert_extracts(
                &format!("[file:hashes.{name} = '{SHA1}']"),
                &[(ioc(IocKind::FileSha1, SHA1), Block)],
                &[],
            );
        }
        // Values of each algorithm's form: the parser refuses others, as the reference does.
        for (name, value, reason) in [
            ("MD5", "a".repeat(32), MD5),
            ("'md5'", "a".repeat(32), MD5),
            ("'SHA-512'", "a".repeat(128), UNSUPPORTED_HASH),
            ("'SHA3-256'", "a".repeat(64), UNSUPPORTED_HASH),
            ("SSDEEP", "abc".to_owned(), UNSUPPORTED_HASH),
        ] {
            assert_skips(&format!("[file:hashes.{name} = '{value}']"), reason);
        }
        let sha256 = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855";
        for name in ["'SHA-256'", "SHA256", "'sha_256'"] {
            assert_extracts(
                &format!("[file:hashes.{name} = '{sha256}']"),
                &[(ioc(IocKind::FileSha256, &sha256.to_lowercase()), Block)],
                &[],
            );
        }
        // A hash path must be exactly `file:hashes.NAME`.
        assert_skips(&format!("[file:hashes = '{SHA1}']"), UNSUPPORTED_TYPE);
        assert_skips(
            &format!("[artifact:hashes.'SHA-1' = '{SHA1}']"),
            UNSUPPORTED_TYPE,
        );
    }

    #[test]
    fn ip_ranges_and_ipv6() {
        assert_skips("[ipv4-addr:value = '10.0.0.0/8']", CIDR_RANGE);
        assert_skips("[ipv4-addr:value = '198.51.100.0/24']", CIDR_RANGE);
        assert_skips("[ipv4-addr:value = '198.51.100.1/33']", "invalid-ipv4");
        assert_skips("[ipv4-addr:value = '2001:db8::1']", "ipv6");
        assert_skips("[ipv4-addr:value = '2001:db8::/32']", "ipv6");
        assert_skips("[ipv6-addr:value = '2001:db8::1']", "ipv6");
        assert_extracts(
            "[ipv6-addr:value IN ('2001:db8::1', '2001:db8::2')]",
            &[],
            &["ipv6", "ipv6"],
        );
    }

    #[test]
    fn invalid_values_are_skipped_by_their_code() {
        assert_skips("[ipv4-addr:value = '198.51.100.256']", "invalid-ipv4");
        assert_skips("[ipv4-addr:value = '  ']", "empty");
        assert_skips("[domain-name:value = '*.example.com']", "invalid-host");
        assert_skips("[url:value = 'ftp://x.example/a']", "url-scheme");
        assert_skips("[url:value = 'http://x .example/a']", "url-whitespace");
        // A space in the path is percent-encoded, not skipped.
        assert_extracts(
            "[url:value = 'http://x.example/a b']",
            &[(url("http://x.example/a%20b"), Block)],
            &[],
        );
        assert_skips("[url:value = 'http:///a']", "invalid-url");
        // `'SHA 1'`: a spelling the parser's hash rule does not know, so the value reaches
        // extraction (`SHA1 = 'abc'` does not parse).
        assert_skips("[file:hashes.'SHA 1' = 'abc']", "invalid-sha1");
        // Only string literals are IOCs.
        assert_skips("[ipv4-addr:value = 3325256705]", UNSUPPORTED_TYPE);
        assert_skips("[file:hashes.'SHA 1' = h'73d95a30']", UNSUPPORTED_TYPE);
    }

    #[test]
    fn operators_that_yield_no_iocs() {
        let v = "ipv4-addr:value";
        assert_skips(&format!("[{v} NOT = '198.51.100.1']"), NEGATION);
        assert_skips(&format!("[{v} NOT IN ('198.51.100.1')]"), NEGATION);
        assert_skips(&format!("[{v} NOT LIKE '198.51.%']"), NEGATION);
        assert_skips(&format!("[{v} != '198.51.100.1']"), NEGATION);
        assert_skips(&format!("[{v} <> '198.51.100.1']"), NEGATION);
        assert_skips(&format!("[{v} LIKE '198.51.%']"), LIKE_MATCHES);
        assert_skips("[url:value MATCHES '^http://x']", LIKE_MATCHES);
        assert_skips(
            &format!("[{v} ISSUBSET '198.51.100.0/24']"),
            UNSUPPORTED_TYPE,
        );
        assert_skips(
            &format!("[{v} ISSUPERSET '198.51.100.1']"),
            UNSUPPORTED_TYPE,
        );
        assert_skips(&format!("[{v} > '198.51.100.1']"), UNSUPPORTED_TYPE);
        assert_skips(&format!("[{v} <= '198.51.100.1']"), UNSUPPORTED_TYPE);
        assert_skips(&format!("[EXISTS {v}]"), UNSUPPORTED_TYPE);
    }

    #[test]
    fn object_types_that_are_not_iocs() {
        for pattern in [
            "[file:name = 'foo.dll']",
            "[email-message:sender_ref.value = 'jdoe@example.com']",
            "[email-addr:value = 'jdoe@example.com']",
            "[process:name = 'fooproc']",
            "[x509-certificate:issuer = 'CN=WEBMAIL']",
            "[mac-addr:value = '00:11:22:33:44:55']",
            "[url:path = 'http://x.example/']",
            "[network-traffic:dst_ref.type = 'ipv4-addr']",
            "[network-traffic:dst_port = 443]",
        ] {
            assert_skips(pattern, UNSUPPORTED_TYPE);
        }
    }

    #[test]
    fn references_to_addresses_and_names_are_host_iocs() {
        assert_extracts(
            "[network-traffic:dst_ref.value = '203.0.113.33/32']",
            &[(ip("203.0.113.33"), Block)],
            &[],
        );
        assert_extracts(
            "[network-traffic:src_ref.value = '203.0.113.34']",
            &[(ip("203.0.113.34"), Block)],
            &[],
        );
        assert_extracts(
            "[network-traffic:dst_ref.value = 'C2.Example.net']",
            &[(domain("c2.example.net"), Block)],
            &[],
        );
        assert_extracts(
            "[domain-name:resolves_to_refs[*].value = '198.51.100.1'] OR [domain-name:resolves_to_refs[0].'value' = 'alias.example']",
            &[
                (ip("198.51.100.1"), Block),
                (domain("alias.example"), Block),
            ],
            &[],
        );
        assert_skips(
            "[network-traffic:dst_ref.value = '203.0.113.0/24']",
            CIDR_RANGE,
        );
        assert_skips("[network-traffic:dst_ref.value = '2001:db8::1']", "ipv6");
        assert_skips("[network-traffic:dst_ref.value = '2001:db8::/48']", "ipv6");
        assert_skips(
            "[network-traffic:dst_ref.value = '00:11:22:33:44:55']",
            "invalid-host",
        );
        assert_skips(
            "[network-traffic:dst_ref.value.x = '203.0.113.33']",
            UNSUPPORTED_TYPE,
        );
    }

    #[test]
    fn in_sets_count_each_member() {
        assert_extracts(
            "[ipv4-addr:value IN ('198.51.100.2', '198.51.100.1/32', '10.0.0.0/8', 'x', 7)]",
            &[(ip("198.51.100.1"), Block), (ip("198.51.100.2"), Block)],
            &[CIDR_RANGE, "invalid-ipv4", UNSUPPORTED_TYPE],
        );
        assert_extracts(
            "[file:name IN ('a', 'b')]",
            &[],
            &[UNSUPPORTED_TYPE, UNSUPPORTED_TYPE],
        );
        assert_extracts("[ipv4-addr:value IN ()]", &[], &[]);
    }

    #[test]
    fn scan_action_follows_whether_one_sighting_matches() {
        let a = "[domain-name:value = 'a.example']";
        let b = "[domain-name:value = 'b.example']";
        let c = "[domain-name:value = 'c.example']";
        let (da, db, dc) = (
            domain("a.example"),
            domain("b.example"),
            domain("c.example"),
        );
        // OR at both levels: block.
        assert_extracts(
            &format!("{a} OR {b}"),
            &[(da.clone(), Block), (db.clone(), Block)],
            &[],
        );
        assert_extracts(
            "[domain-name:value = 'a.example' OR domain-name:value = 'b.example']",
            &[(da.clone(), Block), (db.clone(), Block)],
            &[],
        );
        // AND at either level: log.
        assert_extracts(
            &format!("{a} AND {b}"),
            &[(da.clone(), Log), (db.clone(), Log)],
            &[],
        );
        assert_extracts(
            "[domain-name:value = 'a.example' AND file:name = 'x.exe']",
            &[(da.clone(), Log)],
            &[UNSUPPORTED_TYPE],
        );
        // AND binds tighter than OR.
        assert_extracts(
            &format!("{a} OR {b} AND {c}"),
            &[(da.clone(), Block), (db.clone(), Log), (dc.clone(), Log)],
            &[],
        );
        assert_extracts(
            "[domain-name:value = 'a.example' OR domain-name:value = 'b.example' AND domain-name:value = 'c.example']",
            &[(da.clone(), Block), (db.clone(), Log), (dc.clone(), Log)],
            &[],
        );
        assert_extracts(
            &format!("({a} OR {b}) AND {c}"),
            &[(da.clone(), Log), (db.clone(), Log), (dc.clone(), Log)],
            &[],
        );
        // FOLLOWEDBY and REPEATS: log.
        assert_extracts(
            &format!("{a} FOLLOWEDBY {b}"),
            &[(da.clone(), Log), (db.clone(), Log)],
            &[],
        );
        assert_extracts(
            &format!("{a} REPEATS 3 TIMES OR {b}"),
            &[(da.clone(), Log), (db.clone(), Block)],
            &[],
        );
        assert_extracts(
            &format!("({a} OR {b}) REPEATS 2 TIMES WITHIN 60 SECONDS"),
            &[(da.clone(), Log), (db.clone(), Log)],
            &[],
        );
        // WITHIN and START/STOP change nothing.
        assert_extracts(
            &format!("{a} WITHIN 300 SECONDS"),
            &[(da.clone(), Block)],
            &[],
        );
        assert_extracts(
            &format!("{a} START t'2016-01-01T00:00:00Z' STOP t'2017-01-01T00:00:00Z' OR {b}"),
            &[(da.clone(), Block), (db.clone(), Block)],
            &[],
        );
        // The chosen action is the caller's.
        let pattern = format!("{a} OR {b} AND {c}");
        let parsed = parse(&pattern).unwrap();
        let logged = extract(&parsed, Log);
        assert!(logged.iocs.iter().all(|(_, action)| *action == Log));
    }

    #[test]
    fn one_entry_per_ioc_and_block_wins() {
        let pattern = "[domain-name:value = 'a.example' AND file:name = 'x'] OR [domain-name:value = 'A.example.']";
        assert_extracts(
            pattern,
            &[(domain("a.example"), Block)],
            &[UNSUPPORTED_TYPE],
        );
        let pattern = "[domain-name:value = 'A.example'] OR [domain-name:value = 'a.example' AND file:name = 'x']";
        assert_extracts(
            pattern,
            &[(domain("a.example"), Block)],
            &[UNSUPPORTED_TYPE],
        );
        let pattern = "[ipv4-addr:value IN ('198.51.100.1', '198.51.100.1/32')] AND [ipv4-addr:value = '198.51.100.1']";
        assert_extracts(pattern, &[(ip("198.51.100.1"), Log)], &[]);
    }

    #[test]
    fn spec_examples() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/stix/spec_examples.txt"
        );
        let text =
            std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
        let lines: Vec<&str> = text.lines().collect();
        let at = |n: usize| run(lines[n - 1]);
        let sha256 = |h: &str| ioc(IocKind::FileSha256, h);
        assert_eq!(
            at(1).iocs,
            [(
                sha256("aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f"),
                Block
            )]
        );
        assert_eq!(
            at(4).iocs,
            [
                (
                    sha256("aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f"),
                    Log
                ),
                (
                    sha256("bf07a7fbb825fc0aae7bf4a1177b2b31fcf8a3feeaf7092761e18c859ee52a9c"),
                    Log
                )
            ]
        );
        assert_eq!(at(4).skipped, [MD5]);
        assert_eq!(at(11).iocs, [(ip("203.0.113.33"), Log)]);
        assert_eq!(at(12).iocs, [(domain("example.com"), Log)]);
        assert_eq!(
            at(13).iocs,
            [(ip("198.51.100.1"), Log), (domain("www.5z8.info"), Log)]
        );
        assert_eq!(
            at(14).iocs,
            [
                (url("http://example.com/bar"), Block),
                (url("http://example.com/foo"), Block)
            ]
        );
        assert_eq!(at(2).skipped, [LIKE_MATCHES, LIKE_MATCHES]);
        assert_eq!(at(21).skipped, [UNSUPPORTED_TYPE]);
        for line in &lines {
            let found = run(line);
            let comparisons = line.matches(" = ").count()
                + line.matches("MATCHES").count()
                + line.matches(" ISSUBSET ").count()
                + line.matches(" > ").count();
            assert_eq!(
                found.iocs.len() + found.skipped.len(),
                comparisons,
                "{line}"
            );
        }
    }

    #[test]
    fn long_chains_do_not_overflow_the_stack() {
        let chain = vec!["[ipv4-addr:value = '198.51.100.1']"; 100_000].join(" AND ");
        assert_extracts(&chain, &[(ip("198.51.100.1"), Log)], &[]);
    }

    /// Patterns built from the pieces extraction looks at.
    const GENERATED: &str = concat!(
        // `'SHA 1'`, `'MD 5'`: spellings outside the parser's hash rule, so any value parses.
        r"\[((ipv4-addr|domain-name|url):value|file:hashes\.('MD 5'|'SHA 1'|'SHA 256')",
        r"|network-traffic:dst_ref\.value|file:name) (NOT )?(=|!=|LIKE|>) '(",
        r"198\.51\.100\.[0-9]{1,3}(/[0-9]{1,2})?|[a-z]{1,8}\.example|http://[a-z]\.example/[a-z]?",
        r"|[0-9a-f]{40}|2001:db8::1)?'( (AND|OR) [a-z]:x = 1)?\]( REPEATS 2 TIMES| WITHIN 9 SECONDS)?",
    );

    proptest! {
        #[test]
        fn extracted_iocs_are_valid_unique_and_accounted_for(
            parts in prop::collection::vec(GENERATED, 1..5),
            joins in prop::collection::vec(prop::sample::select(vec![" AND ", " OR ", " FOLLOWEDBY "]), 4),
            action in prop::sample::select(vec![Block, Log]),
        ) {
            let mut pattern = parts[0].clone();
            for (part, join) in parts[1..].iter().zip(&joins) {
                pattern.push_str(join);
                pattern.push_str(part);
            }
            let parsed = parse(&pattern).map_err(|e| TestCaseError::fail(format!("{pattern}: {e}")))?;
            let found = extract(&parsed, action);
            let mut seen = std::collections::HashSet::new();
            for (ioc, scan_action) in &found.iocs {
                prop_assert_eq!(Ioc::new(ioc.kind, &ioc.value), Ok(ioc.clone()));
                prop_assert!(seen.insert(ioc.clone()), "{} twice", ioc);
                prop_assert!(*scan_action == action || *scan_action == Log);
            }
            // Each generated comparison yields one IOC sighting or one reason.
            let comparisons = [" = ", " != ", " LIKE ", " > "]
                .iter()
                .map(|op| pattern.matches(op).count())
                .sum::<usize>();
            let outcomes = found.iocs.len() + found.skipped.len();
            prop_assert!(0 < outcomes && outcomes <= comparisons);
            // Only OR, WITHIN: every sighting alone matches the pattern.
            if !["AND", "FOLLOWEDBY", "REPEATS"].iter().any(|k| pattern.contains(k)) {
                prop_assert!(found.iocs.iter().all(|(_, a)| *a == action));
            }
        }
    }
}
