//! Local files as a source (`--source file --file PATH`, repeatable): a STIX 2.1 bundle
//! (JSON), whose indicators go through the same extraction and validity rules as a TAXII
//! feed, or a plain text list with one IOC a line, its type detected.
//! A file that cannot be read or parsed stops the run before anything is written, naming
//! the file and the line.
//!
//! # Plain lists
//!
//! - `#` starts a comment at the start of a line or after white space; a `#` inside a
//!   value belongs to it (`https://host/#/signin` is a URL with a fragment).
//! - Defanged values are refanged first ([`refang`]) and counted as refanged.
//! - A value's type is decided by trying the real grammars in turn ([`detect`]); a value
//!   that is no usable IOC is skipped under the reason of the grammar it came closest to.

use std::borrow::Cow;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};

use super::{file_name, modified_time, utf8_text};
use crate::ioc::skip::{CIDR_RANGE, MD5, UNSUPPORTED_HASH};
use crate::ioc::{Invalid, Ioc, IocKind, looks_like_ipv4, normalize_host};
use crate::model::MAX_ENTRIES_PER_KIND;
use crate::model::ScanAction;
use crate::model::desired::{Desired, Pulled};
use crate::policy::Exclusions;
use crate::state::{FeedId, StateStore};
use crate::stix::indicator::{Reading, clamped_warning, indicator_records, parse_objects};

/// What to read.
#[derive(Debug, Clone)]
pub struct FileSettings {
    pub files: Vec<PathBuf>,
    pub scan_action: ScanAction,
    /// `--min-confidence`: STIX indicators with a lower `confidence` are not pushed.
    pub min_confidence: Option<u8>,
}

/// A line without its comment: from the first `#` that starts the line or follows white
/// space (a `#` inside a value, a URL's fragment, belongs to the value). Plain IOC lists and
/// plain exclusion lists share this rule.
pub fn strip_comment(line: &str) -> &str {
    let mut after_space = true;
    for (i, c) in line.char_indices() {
        if c == '#' && after_space {
            return &line[..i];
        }
        after_space = c.is_whitespace();
    }
    line
}

/// Defanging as threat reports write it, undone: `[.]`, `(.)`, `{.}` -> `.`; `[:]` -> `:`;
/// `[://]` -> `://`; and a leading `hxxp://` / `hxxps://` (any case) -> `http://` /
/// `https://`. Anything else is left as it is.
pub fn refang(value: &str) -> Cow<'_, str> {
    const BRACKETS: [(&str, &str); 5] = [
        ("[://]", "://"),
        ("[:]", ":"),
        ("[.]", "."),
        ("(.)", "."),
        ("{.}", "."),
    ];
    let mut out = Cow::Borrowed(value);
    for (defanged, plain) in BRACKETS {
        if out.contains(defanged) {
            out = Cow::Owned(out.replace(defanged, plain));
        }
    }
    let scheme_end = out.find("://").unwrap_or(0);
    let scheme = &out[..scheme_end];
    if scheme.eq_ignore_ascii_case("hxxp") || scheme.eq_ignore_ascii_case("hxxps") {
        let plain = if scheme.len() == 4 { "http" } else { "https" };
        out = Cow::Owned(format!("{plain}{}", &out[scheme_end..]));
    }
    out
}

/// `scheme://` at the start, with an RFC 3986 §3.1 scheme: the value is written as a URL.
fn has_scheme(value: &str) -> bool {
    value.split_once("://").is_some_and(|(scheme, _)| {
        let mut chars = scheme.chars();
        chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    })
}

/// The IOC a value of a plain list holds, its type decided by trying the real grammars in
/// this order, or the skip reason of the grammar it came closest to:
///
/// 1. hex digits only, 32, 40 or 64 of them: MD5 (`md5`, skipped), SHA-1, SHA-256; 56, 96
///    or 128 of them: another SHA-2 (`unsupported-hash`);
/// 2. `scheme://...`: a URL ([`Ioc::new`]'s reasons: `url-scheme`, `invalid-url`, ...);
/// 3. digits and dots, then optionally `/prefix` or `:port`: IPv4 (`a.b.c.d`, `/32` and
///    `:port` give the address; a shorter prefix is a `cidr-range`; anything else
///    `invalid-ipv4`);
/// 4. an IPv6 address (bare, `[v6]`, `[v6]:port`, `v6/prefix`): `ipv6`;
/// 5. `name/path`, a URL written without its scheme: `url-scheme` (which scheme it was is
///    not ours to guess);
/// 6. a host name, with an optional `:port`: domain (`invalid-host` otherwise).
pub fn detect(value: &str) -> Result<Ioc, &'static str> {
    let value = value.trim();
    let code = Invalid::code;
    if value.is_empty() {
        return Err(code(Invalid::Empty));
    }
    if value.bytes().all(|b| b.is_ascii_hexdigit()) {
        match value.len() {
            32 => return Err(MD5),
            40 => return Ioc::new(IocKind::FileSha1, value).map_err(code),
            64 => return Ioc::new(IocKind::FileSha256, value).map_err(code),
            // SHA-224, SHA-384, SHA-512.
            56 | 96 | 128 => return Err(UNSUPPORTED_HASH),
            // Other lengths: hex letters and digits also spell names (`cafe`, `deadbeef`).
            _ => {}
        }
    }
    if has_scheme(value) {
        return Ioc::new(IocKind::Url, value).map_err(code);
    }
    if let Some(ipv4) = detect_ipv4(value) {
        return ipv4;
    }
    if is_ipv6(value) {
        return Err(code(Invalid::Ipv6));
    }
    if let Some((host_port, _path)) = value.split_once('/') {
        let host = host_port
            .rsplit_once(':')
            .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
            .map_or(host_port, |(host, _)| host);
        return Err(if normalize_host(host).is_some() {
            code(Invalid::UrlScheme)
        } else {
            code(Invalid::BadHost)
        });
    }
    Ioc::from_host(value).map_err(code)
}

/// The IPv4 grammar, `a.b.c.d[:port][/prefix or path]`: `None` when the value does not
/// start like an address (digits and dots, with a dot).
fn detect_ipv4(value: &str) -> Option<Result<Ioc, &'static str>> {
    let (head, path) = match value.split_once('/') {
        Some((head, path)) => (head, Some(path)),
        None => (value, None),
    };
    let (addr, port) = match head.split_once(':') {
        Some((addr, port)) => (addr, Some(port)),
        None => (head, None),
    };
    if !looks_like_ipv4(addr) || !addr.contains('.') {
        return None;
    }
    let bad = Err(Invalid::BadIpv4.code());
    if addr.parse::<Ipv4Addr>().is_err() || port.is_some_and(|p| p.parse::<u16>().is_err()) {
        return Some(bad);
    }
    let single = Ioc::new(IocKind::Ip, addr).map_err(Invalid::code);
    Some(match (port, path) {
        (_, None) => single,
        (None, Some(prefix))
            if !prefix.is_empty() && prefix.bytes().all(|b| b.is_ascii_digit()) =>
        {
            match prefix.parse::<u8>() {
                Ok(32) => single,
                Ok(0..32) => Err(CIDR_RANGE),
                _ => bad,
            }
        }
        // `1.2.3.4/login.php`: an address, then a path, without the scheme.
        (_, Some(_)) => Err(Invalid::UrlScheme.code()),
    })
}

/// An IPv6 address, bare, in brackets (with a port), or with a prefix.
fn is_ipv6(value: &str) -> bool {
    let addr = match value.strip_prefix('[') {
        Some(rest) => rest.split_once(']').map_or(rest, |(addr, _)| addr),
        None => value.split_once('/').map_or(value, |(addr, _)| addr),
    };
    addr.parse::<Ipv6Addr>().is_ok()
}

fn read_list(
    path: &Path,
    text: &str,
    scan_action: ScanAction,
    seen: DateTime<Utc>,
    pulled: &mut Pulled,
) {
    let name = file_name(path);
    for (index, raw) in text.lines().enumerate() {
        let value = strip_comment(raw).trim();
        if value.is_empty() {
            continue;
        }
        pulled.items += 1;
        let refanged = refang(value);
        // `refang` allocates only when it changed something.
        if let Cow::Owned(_) = refanged {
            pulled.refanged += 1;
        }
        match detect(&refanged) {
            Ok(ioc) => pulled.iocs.push(Desired {
                ioc,
                scan_action,
                reason: format!("{name} line {}", index + 1),
                seen,
            }),
            Err(reason) => {
                tracing::debug!(
                    "{}:{}: `{value}` skipped ({reason})",
                    path.display(),
                    index + 1
                );
                pulled.skip(reason);
            }
        }
    }
}

/// Stores a bundle's indicators in `bundles` (feed `feed`), the store every bundle of the
/// run shares.
fn read_bundle(
    path: &Path,
    text: &str,
    reading: &Reading,
    pulled: &mut Pulled,
    bundles: (&mut StateStore, FeedId),
) -> anyhow::Result<()> {
    let objects = parse_objects(text).map_err(|e| {
        anyhow::anyhow!(
            "{}:{}: not a STIX 2.1 bundle: {e}",
            path.display(),
            e.line()
        )
    })?;
    let from = path.display().to_string();
    let records = indicator_records(objects, reading, &from, pulled);
    let clamped = records.iter().filter(|r| r.clamped).count();
    if clamped > 0 {
        pulled.warn(clamped_warning(clamped, &from));
    }
    let (store, feed) = bundles;
    store.store_page(feed, &records, None)?;
    Ok(())
}

/// Reads every file; the IOCs of all of them, deduplicated. IOCs `exclusions` match take
/// no room among a bundle's newest (the policy holds them back later).
pub fn pull(settings: &FileSettings, exclusions: &Exclusions) -> anyhow::Result<Pulled> {
    let mut pulled = Pulled::default();
    // The validity rules of a feed across all bundles: the newest version of each
    // indicator, valid now, the newest IOCs of each type when there are more than fit.
    let mut bundles = StateStore::in_memory()?;
    let feed = bundles.feed("file", "STIX bundles")?;
    let reading = Reading {
        min_confidence: settings.min_confidence,
        ..Reading::new(settings.scan_action)
    };
    for path in &settings.files {
        if path.is_dir() {
            bail!("--file {} is a folder; name the files", path.display());
        }
        let bytes = crate::files::read_capped(path, crate::files::MAX_INPUT_FILE_BYTES)
            .with_context(|| format!("cannot read --file {}", path.display()))?;
        let text = utf8_text(path, &bytes)?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        if text.trim_start().starts_with('{') {
            read_bundle(path, text, &reading, &mut pulled, (&mut bundles, feed))?;
        } else {
            let seen = modified_time(path);
            read_list(path, text, settings.scan_action, seen, &mut pulled);
        }
    }
    let (desired, _) = bundles.desired(
        &[feed],
        Utc::now(),
        MAX_ENTRIES_PER_KIND,
        settings.min_confidence,
        |ioc| exclusions.excludes(ioc),
    )?;
    pulled.iocs.extend(desired);
    pulled.dedupe();
    Ok(pulled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_types_are_detected() {
        let ok = |s: &str| detect(s).unwrap().to_string();
        assert_eq!(ok("203.0.113.9"), "ip 203.0.113.9");
        assert_eq!(ok("203.0.113.9/32"), "ip 203.0.113.9");
        assert_eq!(ok("203.0.113.9:8443"), "ip 203.0.113.9");
        assert_eq!(ok("Evil.Example."), "domain evil.example");
        assert_eq!(ok("evil.example:8080"), "domain evil.example");
        assert_eq!(ok("_dmarc.x-y.example"), "domain _dmarc.x-y.example");
        assert_eq!(ok("deadbeef"), "domain deadbeef");
        assert_eq!(
            ok("HTTPS://Evil.Example/x?a=B"),
            "url https://evil.example/x?a=B"
        );
        // A line is one value: a space inside a URL is part of it, percent-encoded.
        assert_eq!(
            ok("http://a.example/a b?q=x y"),
            "url http://a.example/a%20b?q=x%20y"
        );
        assert_eq!(
            ok("73D95A30C812D9CFF0EAF37A686FDFEF8F9CA531"),
            "file_sha1 73d95a30c812d9cff0eaf37a686fdfef8f9ca531"
        );
        assert_eq!(
            ok(&"A".repeat(64)),
            format!("file_sha256 {}", "a".repeat(64))
        );
    }

    /// Each skipped value names the grammar it came closest to.
    #[test]
    fn skipped_values_carry_the_nearest_grammars_reason() {
        for (value, reason) in [
            ("d41d8cd98f00b204e9800998ecf8427e", "md5"),
            (&"ab".repeat(64), "unsupported-hash"),
            ("10.0.0.0/8", "cidr-range"),
            ("203.0.113.9/24", "cidr-range"),
            ("203.0.113.9/33", "invalid-ipv4"),
            ("203.0.113.9:99999", "invalid-ipv4"),
            ("203.0.113.999", "invalid-ipv4"),
            ("1.2.3", "invalid-ipv4"),
            ("2001:db8::1", "ipv6"),
            ("[2001:db8::1]:443", "ipv6"),
            ("2001:db8::/32", "ipv6"),
            ("ftp://x.example/", "url-scheme"),
            ("evil.example/login.php", "url-scheme"),
            ("203.0.113.9/login.php", "url-scheme"),
            ("203.0.113.9:8080/a", "url-scheme"),
            ("http://exa mple.example/", "url-whitespace"),
            ("http://*.example/", "invalid-url"),
            ("not a host", "invalid-host"),
            ("*.example.com", "invalid-host"),
            ("bad!host/x", "invalid-host"),
        ] {
            assert_eq!(detect(value), Err(reason), "{value}");
        }
    }

    #[test]
    fn comments_start_at_line_start_or_after_white_space() {
        for (line, value) in [
            ("# a comment", ""),
            ("   # indented", "   "),
            ("evil.example  # C2", "evil.example  "),
            ("evil.example\t#C2", "evil.example\t"),
            ("https://h.example/#/signin", "https://h.example/#/signin"),
            (
                "https://h.example/a#b # seen today",
                "https://h.example/a#b ",
            ),
            ("no#comment", "no#comment"),
            // ` #` ends a URL with a space all the same: the rest is a comment.
            ("http://a.example/a b #c", "http://a.example/a b "),
        ] {
            assert_eq!(strip_comment(line), value, "{line}");
        }
    }

    #[test]
    fn defanging_is_undone() {
        for (defanged, plain) in [
            ("hxxp://a[.]example/x", "http://a.example/x"),
            ("HXXPS://a(.)example", "https://a.example"),
            ("hXXp[://]a{.}example", "http://a.example"),
            ("http[:]//a[.]example", "http://a.example"),
            ("hxxps[:]//a[.]example", "https://a.example"),
            ("198.51.100[.]23", "198.51.100.23"),
            ("203.0.113.45[:]443", "203.0.113.45:443"),
        ] {
            assert_eq!(refang(defanged), plain, "{defanged}");
        }
        // Nothing to undo: no allocation, so not counted as refanged.
        for plain in ["http://a.example/hxxp", "hxxp.example", "a.example"] {
            assert!(matches!(refang(plain), Cow::Borrowed(_)), "{plain}");
        }
    }

    /// `tests/data/cases/lists/NAME`, read as a plain list.
    fn case(name: &str) -> Pulled {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/cases/lists")
            .join(name);
        pull(
            &FileSettings {
                files: vec![path],
                scan_action: ScanAction::Block,
                min_confidence: None,
            },
            &Exclusions::none(),
        )
        .unwrap()
    }

    fn iocs(pulled: &Pulled) -> Vec<String> {
        pulled.iocs.iter().map(|d| d.ioc.to_string()).collect()
    }

    /// cases/lists/idn.txt: a U-label and its A-label are one IOC, in a URL too; the
    /// look-alike is its own A-label.
    #[test]
    fn case_idn() {
        let pulled = case("idn.txt");
        assert_eq!(
            iocs(&pulled),
            [
                "domain xn--bcher-kva.example",
                "domain xn--pypal-login-yij.example",
                "url http://xn--bcher-kva.example/login.php",
            ]
        );
        assert_eq!((pulled.items, pulled.skipped.len()), (5, 0));
    }

    /// cases/lists/defanged.txt: nine values, all refanged, 8 IOCs.
    #[test]
    fn case_defanged() {
        let pulled = case("defanged.txt");
        assert_eq!(
            iocs(&pulled),
            [
                "ip 198.51.100.23",
                "ip 203.0.113.45",
                "domain bad-site.example",
                "domain evil-c2.example",
                "domain www.bad-site.example",
                "url http://cdn-update.example/a.js",
                "url http://malware-drop.example/stage2.exe",
                "url https://phish-portal.example/login",
            ]
        );
        assert_eq!((pulled.items, pulled.refanged), (9, 9));
        assert!(pulled.skipped.is_empty(), "{:?}", pulled.skipped);
    }

    /// cases/lists/url-fragments.txt: a `#` in a URL belongs to it; after white space it
    /// starts a comment.
    #[test]
    fn case_url_fragments() {
        let pulled = case("url-fragments.txt");
        assert_eq!(
            iocs(&pulled),
            [
                "domain evil-c2.example",
                "url http://files.example/download.php?id=7#page=2",
                "url https://shared-host.example/#/office365/signin",
                "url https://shared-host.example/kit/index.html#victim@example.org",
            ]
        );
        assert_eq!((pulled.items, pulled.refanged), (4, 0));
    }

    /// The URL of `spelling` as each source reads it: a plain list, a STIX pattern, an
    /// OpenIOC `Network/URI` item and a Lumu threat trigger.
    fn url_from_every_source(spelling: &str) -> [Option<Ioc>; 4] {
        let list = detect(spelling).ok();
        let literal = spelling.replace('\\', "\\\\").replace('\'', "\\'");
        let pattern = format!("[url:value = '{literal}']");
        let stix = crate::stix::pattern::parse(&pattern)
            .ok()
            .and_then(|p| {
                crate::stix::extract::extract(&p, ScanAction::Block)
                    .iocs
                    .pop()
            })
            .map(|(ioc, _)| ioc);
        let content = spelling
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        let xml = format!(
            r#"<?xml version="1.0"?>
<ioc xmlns="http://schemas.mandiant.com/2010/ioc" id="d"><definition>
<Indicator id="i" operator="OR"><IndicatorItem id="a" condition="is">
<Context document="Network" search="Network/URI" type="mir"/><Content type="string">{content}</Content>
</IndicatorItem></Indicator></definition></ioc>"#
        );
        let openioc = crate::openioc::read(&xml, ScanAction::Block)
            .ok()
            .and_then(|mut doc| doc.iocs.pop())
            .map(|item| item.ioc);
        let incident: crate::model::lumu::Incident =
            serde_json::from_value(serde_json::json!({"id": "1"})).unwrap();
        let context: crate::model::lumu::IncidentContext =
            serde_json::from_value(serde_json::json!({"threat_triggers": [spelling]})).unwrap();
        let mut lumu = Pulled::default();
        super::super::lumu::extract(
            &incident,
            &context,
            ScanAction::Block,
            Utc::now(),
            &mut lumu,
        );
        [list, stix, openioc, lumu.iocs.pop().map(|d| d.ioc)]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// The same URL, spelled four equal ways, from four sources: one IOC.
        #[test]
        fn one_url_from_every_source(
            raw in crate::ioc::spellings::url(),
            flags in proptest::array::uniform4((proptest::bool::ANY, proptest::bool::ANY, 0usize..4)),
        ) {
            let Ok(want) = Ioc::new(IocKind::Url, &raw) else { return Ok(()) };
            for (i, (upper_host, root_dot, encode_every)) in flags.into_iter().enumerate() {
                let spelling = crate::ioc::spellings::respell(&want.value, upper_host, root_dot, encode_every);
                let got = url_from_every_source(&spelling)[i].clone();
                proptest::prop_assert_eq!(got.as_ref(), Some(&want), "source {} read {}", i, spelling);
            }
        }
    }

    #[test]
    fn one_url_from_every_source_by_example() {
        let want = Ioc::new(IocKind::Url, "http://xn--bcher-kva.example/a?q='1'#x").unwrap();
        for spelling in [
            "HTTP://BÜCHER.example:80/%61?q='1'#x",
            "http://xn--bcher-kva.example./a?q='1'#x",
        ] {
            for (source, got) in url_from_every_source(spelling).into_iter().enumerate() {
                assert_eq!(got.as_ref(), Some(&want), "source {source}: {spelling}");
            }
        }
    }

    #[test]
    fn a_list_with_comments_and_a_bundle() {
        let dir = tempfile::tempdir().unwrap();
        let list = dir.path().join("iocs.txt");
        std::fs::write(
            &list,
            "# feed\n203.0.113.9\n\nevil.example  # C2\n10.0.0.0/8\n",
        )
        .unwrap();
        let bundle = dir.path().join("b.json");
        std::fs::write(
            &bundle,
            r#"{"type":"bundle","id":"bundle--1","objects":[{"type":"indicator","id":"indicator--1",
               "created":"2026-01-01T00:00:00Z","modified":"2026-01-01T00:00:00Z","valid_from":"2026-01-01T00:00:00Z",
               "pattern":"[domain-name:value = 'evil.example'] AND [url:value = 'http://evil.example/a']","pattern_type":"stix"}]}"#,
        )
        .unwrap();
        let pulled = pull(
            &FileSettings {
                files: vec![list, bundle],
                scan_action: ScanAction::Block,
                min_confidence: None,
            },
            &Exclusions::none(),
        )
        .unwrap();
        let got: Vec<String> = pulled
            .iocs
            .iter()
            .map(|d| format!("{} {}", d.ioc, d.scan_action))
            .collect();
        // The domain is in both: block (from the list) wins over log (under AND).
        assert_eq!(
            got,
            [
                "ip 203.0.113.9 block",
                "domain evil.example block",
                "url http://evil.example/a log"
            ]
        );
        assert_eq!(pulled.items, 4);
        assert_eq!(pulled.skipped.get("cidr-range"), Some(&1));
        assert_eq!(pulled.refanged, 0);
    }

    #[test]
    fn bad_files_name_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, "{\"objects\": [\n  {\"type\": \"indicator\",,}\n]}").unwrap();
        let err = pull(
            &FileSettings {
                files: vec![bad],
                scan_action: ScanAction::Block,
                min_confidence: None,
            },
            &Exclusions::none(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("bad.json:2: not a STIX 2.1 bundle"), "{err}");
        let missing = dir.path().join("missing.txt");
        let err = format!(
            "{:#}",
            pull(
                &FileSettings {
                    files: vec![missing],
                    scan_action: ScanAction::Block,
                    min_confidence: None,
                },
                &Exclusions::none(),
            )
            .unwrap_err()
        );
        assert!(err.contains("missing.txt"), "{err}");
        let latin1 = dir.path().join("latin1.txt");
        std::fs::write(&latin1, b"a.example\nb\xe9.example\n").unwrap();
        let err = pull(
            &FileSettings {
                files: vec![latin1],
                scan_action: ScanAction::Block,
                min_confidence: None,
            },
            &Exclusions::none(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("latin1.txt:2: not UTF-8"), "{err}");
    }
}
