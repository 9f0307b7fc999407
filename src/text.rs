//! Text helpers that sources, the policy, the formats and the clients share: a plain list's
//! line (its comment, its defanging, the IOC its value holds), a file's bytes as UTF-8 text
//! and its name for notes, and a URL component, percent-encoded.

use std::borrow::Cow;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::ioc::skip::{CIDR_RANGE, MD5, UNSUPPORTED_HASH};
use crate::ioc::{Invalid, Ioc, IocKind, looks_like_ipv4, normalize_host};

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

/// A file's name for notes and tables (its path when it has no name).
pub fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// A file's bytes as text, or an error naming the file and the line that is not UTF-8.
pub fn utf8_text<'a>(path: &Path, bytes: &'a [u8]) -> anyhow::Result<&'a str> {
    std::str::from_utf8(bytes).map_err(|e| {
        let line = crate::files::first_non_utf8_line(bytes, e);
        anyhow::anyhow!("{}:{line}: not UTF-8 text", path.display())
    })
}

/// The most characters of a server's answer [`snippet`] shows.
pub const SNIPPET_CHARS: usize = 200;

/// The start of a body a server sent, for an error message: trimmed, cut to
/// [`SNIPPET_CHARS`] characters (then `…`), bytes that are not UTF-8 replaced. The one
/// snippet of the project.
pub fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(SNIPPET_CHARS) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}

/// Everything but RFC 3986's unreserved characters (letters, digits, `-._~`).
const NOT_UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes a query value or a path segment. Unreserved characters stay literal:
/// servers are not obliged to decode `%2D` back to `-`.
pub fn encode_component(value: &str) -> String {
    utf8_percent_encode(value, NOT_UNRESERVED).to_string()
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

    #[test]
    fn snippets_are_trimmed_and_cut_to_200_characters() {
        assert_eq!(snippet(b"  short\n"), "short");
        assert_eq!(snippet(&"ü".repeat(200).into_bytes()), "ü".repeat(200));
        assert_eq!(
            snippet(&"ü".repeat(201).into_bytes()),
            format!("{}…", "ü".repeat(200))
        );
        assert_eq!(snippet(b"a\xffb"), "a\u{fffd}b");
    }
}
