//! An indicator of compromise: its kind, its normal form, and the validation Apex's field
//! rules ask for. Every source normalises through here ([`Ioc::new`], [`Ioc::from_host`]),
//! and the Apex client checks every entry through here before sending it.
//!
//! The normal form (DESIGN.md, Sync semantics; docs/how-a-run-decides.md, "The normal form of an IOC"):
//! - a host, as a domain IOC or inside a URL, is its A-label: UTS #46 processing then
//!   ToASCII (`bücher.example` -> `xn--bcher-kva.example`), lower case, without a trailing
//!   dot, then checked as a DNS name: labels of ASCII letters, digits, `-` and `_` (the `_`
//!   of `_dmarc`-style names), 1 to 63 bytes, none starting or ending with `-`, 253 bytes
//!   in all;
//! - a URL is parsed by the `url` crate (WHATWG, how browsers and the agents that see their
//!   traffic split it) and written back with the host by the host rule, the scheme lower
//!   case and the normalisations of RFC 3986 §6.2.2-6.2.3; see [`normalize_url`] for each
//!   choice;
//! - an IPv4 address is a dotted quad; SHA-1 and SHA-256 are lower-case hex.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use idna::uts46::{AsciiDenyList, DnsLength, Hyphens, Uts46};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use serde::{Deserialize, Serialize};
use url::{Host, Url};

/// The longest URL Apex accepts, in characters.
pub const MAX_URL_LEN: usize = 2047;
/// The longest host name, in bytes of its A-label form (RFC 1035 §2.3.4, without the root dot).
const MAX_HOST_LEN: usize = 253;
/// The longest label, in bytes of its A-label form (RFC 1035 §2.3.4).
const MAX_LABEL_LEN: usize = 63;

/// The kinds of IOC.
///
/// Apex's UDSO list holds every kind but [`IocKind::FileSha256`] (see
/// `sink::apex::APEX_KINDS`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
pub enum IocKind {
    Ip,
    Domain,
    Url,
    /// A SHA-1 file hash (`file_sha1` in Apex).
    #[value(name = "file_sha1", verbatim_doc_comment)]
    FileSha1,
    /// A SHA-256 file hash (`file_sha256`; Vision One's `fileSha256`). Apex's UDSO list has
    /// no such type, so `udso list --type` does not offer it.
    #[value(skip)]
    FileSha256,
}

impl IocKind {
    pub const ALL: [IocKind; 5] = [
        IocKind::Ip,
        IocKind::Domain,
        IocKind::Url,
        IocKind::FileSha1,
        IocKind::FileSha256,
    ];

    /// The kind's type name: the UDSO `type` field for the kinds Apex holds (`ip`, `domain`,
    /// `url`, `file_sha1`), and `file_sha256`, which no UDSO entry carries.
    pub fn udso_type(self) -> &'static str {
        match self {
            IocKind::Ip => "ip",
            IocKind::Domain => "domain",
            IocKind::Url => "url",
            IocKind::FileSha1 => "file_sha1",
            IocKind::FileSha256 => "file_sha256",
        }
    }

    /// The kind named `s` by [`IocKind::udso_type`]; whether Apex holds it is the caller's
    /// question (`sink::apex::APEX_KINDS`).
    pub fn from_udso_type(s: &str) -> Option<IocKind> {
        IocKind::ALL.into_iter().find(|k| k.udso_type() == s)
    }
}

impl fmt::Display for IocKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.udso_type())
    }
}

/// A normalised, valid IOC.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Ioc {
    pub kind: IocKind,
    pub value: String,
}

/// Why a value is not a usable IOC. Sources count skipped values by these reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, thiserror::Error)]
pub enum Invalid {
    #[error("empty value")]
    Empty,
    #[error("IPv6 address (Apex's ip type is IPv4)")]
    Ipv6,
    #[error("not an IPv4 address")]
    BadIpv4,
    #[error("not a valid host name")]
    BadHost,
    #[error("URL scheme is not http or https")]
    UrlScheme,
    #[error("URL longer than 2047 characters")]
    UrlTooLong,
    #[error("URL without a valid host")]
    BadUrl,
    #[error(
        "URL contains a tab, a line break, another control character, a non-ASCII space, or a space in its host"
    )]
    UrlWhitespace,
    #[error("not a 40-digit hex SHA-1")]
    BadSha1,
    #[error("not a 64-digit hex SHA-256")]
    BadSha256,
}

/// Skip reasons more than one source counts, beside [`Invalid::code`]'s.
pub mod skip {
    /// A negated match (`NOT`, `!=`, `isnot`...): the IOC is what must not be seen.
    pub const NEGATION: &str = "negation";
    /// An MD5 hash: no destination's file type holds MD5.
    pub const MD5: &str = "md5";
    /// An IPv4 range wider than one address.
    pub const CIDR_RANGE: &str = "cidr-range";
    /// A hash of a kind no destination holds (SHA-512, SSDEEP...), MD5 aside.
    pub const UNSUPPORTED_HASH: &str = "unsupported-hash";
}

impl Invalid {
    /// A short name for reports and JSON.
    pub fn code(self) -> &'static str {
        match self {
            Invalid::Empty => "empty",
            Invalid::Ipv6 => "ipv6",
            Invalid::BadIpv4 => "invalid-ipv4",
            Invalid::BadHost => "invalid-host",
            Invalid::UrlScheme => "url-scheme",
            Invalid::UrlTooLong => "url-too-long",
            Invalid::BadUrl => "invalid-url",
            Invalid::UrlWhitespace => "url-whitespace",
            Invalid::BadSha1 => "invalid-sha1",
            Invalid::BadSha256 => "invalid-sha256",
        }
    }
}

impl Ioc {
    /// Normalises and validates `raw` as an IOC of `kind` (white space around it is
    /// removed first).
    ///
    /// - ip: dotted-quad IPv4; `ip:port` is reduced to the ip, `/32` dropped; IPv6 is refused.
    /// - domain: the host rule ([`normalize_host`]); no port, scheme or wildcard.
    /// - url: [`normalize_url`]: `http`/`https`, at most 2047 characters.
    /// - file_sha1, file_sha256: 40 or 64 hex digits, lower-cased.
    ///
    /// Normalising is idempotent: `Ioc::new(kind, &ioc.value)` gives `ioc` back.
    pub fn new(kind: IocKind, raw: &str) -> Result<Ioc, Invalid> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(Invalid::Empty);
        }
        let value = match kind {
            IocKind::Ip => normalize_ipv4(raw)?,
            IocKind::Domain => normalize_host(raw).ok_or(Invalid::BadHost)?,
            IocKind::Url => normalize_url(raw)?,
            IocKind::FileSha1 => normalize_hex(raw, 40).ok_or(Invalid::BadSha1)?,
            IocKind::FileSha256 => normalize_hex(raw, 64).ok_or(Invalid::BadSha256)?,
        };
        Ok(Ioc { kind, value })
    }

    /// A host as sources report it (an adversary, the host of a trigger): an IPv4 address
    /// becomes an ip IOC, anything else a domain IOC. A port and a trailing dot are removed.
    pub fn from_host(raw: &str) -> Result<Ioc, Invalid> {
        let host = strip_port(raw.trim());
        if host.parse::<Ipv6Addr>().is_ok() {
            return Err(Invalid::Ipv6);
        }
        if looks_like_ipv4(host) {
            return Ioc::new(IocKind::Ip, host);
        }
        Ioc::new(IocKind::Domain, host)
    }
}

impl fmt::Display for Ioc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind, self.value)
    }
}

/// Digits and dots only: an address (or a broken one), never a name.
pub fn looks_like_ipv4(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_digit() || c == '.')
}

/// `host:port` -> `host`; `[v6]:port` -> `v6`. A bare IPv6 address is left whole.
fn strip_port(s: &str) -> &str {
    if let Some(rest) = s.strip_prefix('[') {
        return rest.split_once(']').map_or(s, |(v6, _)| v6);
    }
    match s.rsplit_once(':') {
        Some((host, port))
            if !host.contains(':')
                && !port.is_empty()
                && port.bytes().all(|b| b.is_ascii_digit()) =>
        {
            host
        }
        _ => s,
    }
}

fn normalize_ipv4(raw: &str) -> Result<String, Invalid> {
    let s = strip_port(raw);
    if s.parse::<Ipv6Addr>().is_ok() {
        return Err(Invalid::Ipv6);
    }
    let s = s.strip_suffix("/32").unwrap_or(s);
    Ipv4Addr::from_str(s)
        .map(|ip| ip.to_string())
        .map_err(|_| Invalid::BadIpv4)
}

/// A host name in its normal form, or `None` when it is not one.
///
/// UTS #46 (Unicode IDNA Compatibility Processing, revision the `idna` crate implements)
/// processing then ToASCII, with:
/// - UseSTD3ASCIIRules off (no ASCII deny list), so that `_` passes: DNS names such as
///   `_dmarc.x-y.example` are real hosts (STD3 would refuse them). Every other ASCII
///   character is then refused by the label check below, after mapping, so that a
///   full-width `＊` is refused like `*`;
/// - CheckHyphens only at the first and last position of a label, as RFC 952/1123 host
///   names (and this project before) have it: `r3---sn-abc.googlevideo.com` is a real host,
///   and full CheckHyphens would refuse it;
/// - CheckBidi and CheckJoiners on (UTS #46 §4.1, RFC 5893, RFC 5892 Appendix A): a label
///   mixing right-to-left letters with a trailing left-to-right one, or with a stray
///   zero-width joiner, is refused;
/// - Nontransitional processing (`Straße` keeps its `ß`: `xn--strae-oqa`), as browsers do;
/// - `xn--` labels are decoded and checked; an invalid one is refused;
/// - VerifyDnsLength applied to the result by the label check below (labels of 1 to 63
///   bytes, 253 in all, after ToASCII), once the one trailing root dot is removed.
///
/// An all-digit-and-dot name is an address, not a name. Mixed-script look-alikes
/// (`pаypal` with a Cyrillic `а`) are valid IDNA and become their own A-label
/// (`xn--pypal-...`), which is exactly what must be blocked.
pub fn normalize_host(raw: &str) -> Option<String> {
    match plain_ascii_host(raw) {
        Some(host) => is_dns_name(&host).then_some(host),
        None => uts46_host(raw),
    }
}

/// [`normalize_host`] by UTS #46, whatever the name.
fn uts46_host(raw: &str) -> Option<String> {
    let ascii = Uts46::new()
        .to_ascii(
            raw.as_bytes(),
            AsciiDenyList::EMPTY,
            Hyphens::CheckFirstLast,
            DnsLength::Ignore,
        )
        .ok()?;
    let host = ascii.strip_suffix('.').unwrap_or(&ascii);
    is_dns_name(host).then(|| host.to_owned())
}

/// The fast path of [`normalize_host`] (most hosts of a feed): a name of ASCII letters,
/// digits, `-`, `_` and dots without an `xn--` label, which UTS #46 with the flags above
/// only lower-cases (an `xn--` label it decodes and checks). Lower-cased, without the
/// trailing dot; `None` for any other name.
fn plain_ascii_host(raw: &str) -> Option<String> {
    let plain = raw
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && !raw.split('.').any(|label| {
            label
                .get(..4)
                .is_some_and(|p| p.eq_ignore_ascii_case("xn--"))
        });
    plain.then(|| raw.strip_suffix('.').unwrap_or(raw).to_ascii_lowercase())
}

/// An ASCII DNS name: dot-separated labels of letters, digits, `-` and `_`, 1 to 63 bytes
/// each, 253 in all, none starting or ending with `-`, not all digits and dots.
fn is_dns_name(host: &str) -> bool {
    if host.is_empty() || host.len() > MAX_HOST_LEN || looks_like_ipv4(host) {
        return false;
    }
    host.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= MAX_LABEL_LEN
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// The characters WHATWG's query percent-encode set encodes (URL Standard §1.3, the set
/// for non-special schemes): C0 controls, space, `"`, `#`, `<`, `>`, and every non-ASCII
/// character as its UTF-8 bytes. The `'` the standard adds for http(s) is left out on
/// purpose (see [`normalize_url`]).
const QUERY_SET: &AsciiSet = &CONTROLS.add(b' ').add(b'"').add(b'#').add(b'<').add(b'>');

/// A URL in its normal form.
///
/// What is taken from the `url` crate (the WHATWG URL Standard), and why:
/// - the split into scheme, userinfo, host, port, path, query and fragment: it is how
///   browsers split a URL, so `http://evil.example\@good.example/` is a URL on
///   `evil.example` (as the request goes), not on `good.example`;
/// - the host: percent-decoded, IDNA-mapped, then checked by [`normalize_host`] (one host
///   rule for domains and URLs); IPv4 hosts in the forms browsers read (`0x7f.1` is
///   `127.0.0.1`) as a dotted quad; IPv6 in brackets, compressed (RFC 5952);
/// - the port: a default port (80, 443) and an empty port removed, leading zeros dropped
///   (RFC 3986 §6.2.3);
/// - the path: empty path -> `/` (§6.2.3); dot segments removed, also in their
///   percent-encoded forms (§6.2.2.3); `\` read as `/` (what browsers request); characters
///   RFC 3986 does not allow in a URI (non-ASCII, space, `"`, `<`, `>`, `` ` ``, `{`, `}`)
///   percent-encoded as UTF-8, which is the form on the wire (RFC 3987 §3.1);
/// - the fragment: the same encoding (non-ASCII, space, `"`, `<`, `>`, `` ` ``);
/// - the userinfo as WHATWG writes it (it never travels in the request line).
///
/// What is not taken from it:
/// - the query is kept as written, with only what is not allowed in a URI encoded (the
///   query set above, a space among them): WHATWG also encodes `'` in http(s) queries,
///   but `'` is a sub-delimiter RFC 3986 allows there, and `%27` is not equivalent to it
///   (§2.2);
/// - tabs and line breaks, which WHATWG drops without a word (another URL than the one
///   written), other control characters, non-ASCII spaces, and a space in the authority
///   are refused ([`Invalid::UrlWhitespace`]) rather than rewritten.
///
/// Then in every component, RFC 3986 §6.2.2.1-2: a percent-encoding of an unreserved
/// character is decoded (`%7E` -> `~`), every other percent-encoding gets upper-case hex
/// (`%2f` -> `%2F`), and a `%` that starts no percent-encoding is written `%25` (the only
/// form RFC 3986 allows; it keeps normalising idempotent).
///
/// Nothing is cut: a `?` or `#` with nothing after it stays. The result must fit Apex's
/// 2047 characters.
pub fn normalize_url(raw: &str) -> Result<String, Invalid> {
    match plain_url(raw) {
        Some(url) => Ok(url),
        None => parsed_url(raw),
    }
}

/// [`normalize_url`] by the `url` crate's parser, whatever the URL.
fn parsed_url(raw: &str) -> Result<String, Invalid> {
    let (scheme, rest) = raw.split_once("://").ok_or(Invalid::UrlScheme)?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(Invalid::UrlScheme);
    }
    // WHATWG parsing silently drops tabs and newlines (URL Standard §4.4, basic URL
    // parser, step 3): refuse them, every other control character and the non-ASCII spaces,
    // before it can. A space is percent-encoded as WHATWG does in the path, query and
    // fragment (it is in their percent-encode sets, §1.3): a feed that writes a URL with a
    // space means the URL with `%20`, which is what a browser sends.
    if raw
        .chars()
        .any(|c| c != ' ' && (c.is_whitespace() || c.is_control()))
    {
        return Err(Invalid::UrlWhitespace);
    }
    // `http:///path` has no host (WHATWG would read `path` as the host).
    let authority = &rest[..rest.find(['/', '\\', '?', '#']).unwrap_or(rest.len())];
    // No host or userinfo holds a space (WHATWG: a forbidden host code point).
    if authority.contains(' ') {
        return Err(Invalid::UrlWhitespace);
    }
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host_port.is_empty() || host_port.starts_with(':') {
        return Err(Invalid::BadUrl);
    }
    let url = Url::parse(raw).map_err(|_| Invalid::BadUrl)?;
    let host = match url.host() {
        Some(Host::Domain(name)) => normalize_host(name).ok_or(Invalid::BadUrl)?,
        Some(Host::Ipv4(ip)) => ip.to_string(),
        Some(Host::Ipv6(ip)) => format!("[{ip}]"),
        None => return Err(Invalid::BadUrl),
    };
    let mut out = String::with_capacity(raw.len() + 8);
    out.push_str(url.scheme());
    out.push_str("://");
    if !url.username().is_empty() || url.password().is_some() {
        push_percent_normalized(&mut out, url.username());
        if let Some(password) = url.password() {
            out.push(':');
            push_percent_normalized(&mut out, password);
        }
        out.push('@');
    }
    out.push_str(&host);
    if let Some(port) = url.port() {
        out.push(':');
        out.push_str(&port.to_string());
    }
    push_percent_normalized(&mut out, url.path());
    // The raw query: after the first `?` before the first `#` (where WHATWG puts it too:
    // neither can occur in the authority or the path).
    let before_fragment = raw.split_once('#').map_or(raw, |(before, _)| before);
    if let Some((_, query)) = before_fragment.split_once('?') {
        out.push('?');
        let encoded = utf8_percent_encode(query, QUERY_SET).to_string();
        push_percent_normalized(&mut out, &encoded);
    }
    if let Some(fragment) = url.fragment() {
        out.push('#');
        push_percent_normalized(&mut out, fragment);
    }
    if out.len() > MAX_URL_LEN {
        return Err(Invalid::UrlTooLong);
    }
    Ok(out)
}

/// A URL in normal form, split where its authority ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UrlParts<'a> {
    /// `scheme://[userinfo@]host[:port]`.
    pub origin: &'a str,
    /// The host: a lower-case name, a dotted-quad IPv4 address, or `[v6]`.
    pub host: &'a str,
    /// Path, query and fragment as written (may be empty).
    pub rest: &'a str,
}

/// Splits a URL in the normal form [`Ioc::new`] gives (`IocKind::Url`); `None` for any
/// other text.
pub fn split_url(url: &str) -> Option<UrlParts<'_>> {
    let scheme_end = url.find("://")? + 3;
    let authority_len = url[scheme_end..]
        .find(['/', '?', '#'])
        .unwrap_or(url.len() - scheme_end);
    let (origin, rest) = url.split_at(scheme_end + authority_len);
    let authority = &origin[scheme_end..];
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    // In the normal form a port is digits after the host (`[v6]` keeps its colons).
    let host = match hostport.strip_prefix('[') {
        Some(v6) => &hostport[..v6.find(']')? + 2],
        None => hostport.split_once(':').map_or(hostport, |(host, _)| host),
    };
    (!host.is_empty()).then_some(UrlParts { origin, host, rest })
}

/// The fast path of [`normalize_url`], for the URLs most feeds carry, on which every rule
/// above reduces to case and the port: `http(s)://` (any case), a plain ASCII host name
/// ([`plain_ascii_host`]) that does not end in a number (WHATWG would read it as an IPv4
/// address) with an optional port of digits, and a path, query and fragment made only of
/// characters RFC 3986 allows and WHATWG leaves alone (unreserved, sub-delimiters, `:`,
/// `@`, `/`, `?`, `#`) and of percent-encodings already in normal form, with no dot segment.
/// `None` when the URL is not of that shape (the full path then decides, errors included).
/// `tests::fast_url_path_agrees_with_the_full_one` checks both give the same.
fn plain_url(raw: &str) -> Option<String> {
    let (scheme, rest) = raw.split_once("://")?;
    let default_port = if scheme.eq_ignore_ascii_case("http") {
        80
    } else if scheme.eq_ignore_ascii_case("https") {
        443
    } else {
        return None;
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let (host, port) = match authority.split_once(':') {
        Some((host, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
            (host, Some(port.parse::<u16>().ok()?))
        }
        Some(_) => return None,
        None => (authority, None),
    };
    let last_label = host.strip_suffix('.').unwrap_or(host).rsplit('.').next()?;
    if last_label.bytes().all(|b| b.is_ascii_digit())
        || last_label
            .get(..2)
            .is_some_and(|p| p.eq_ignore_ascii_case("0x"))
    {
        return None;
    }
    let host = plain_ascii_host(host).filter(|h| is_dns_name(h))?;
    let bytes = tail.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        let allowed = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b':'
                    | b'@'
                    | b'/'
                    | b'?'
                    | b'#'
            )
            || (b == b'%' && is_normal_percent_encoding(&bytes[i + 1..]));
        if !allowed {
            return None;
        }
    }
    let path_end = tail.find(['?', '#']).unwrap_or(tail.len());
    if tail[..path_end]
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return None;
    }
    let mut out = String::with_capacity(raw.len() + 1);
    out.push_str(if default_port == 80 {
        "http://"
    } else {
        "https://"
    });
    out.push_str(&host);
    if let Some(port) = port.filter(|&p| p != default_port) {
        out.push(':');
        out.push_str(&port.to_string());
    }
    if path_end == 0 {
        out.push('/');
    }
    out.push_str(tail);
    (out.len() <= MAX_URL_LEN).then_some(out)
}

/// `after` (what follows a `%`) starts with two upper-case hex digits that do not encode an
/// unreserved character: a percent-encoding RFC 3986 §6.2.2.1-2 leaves as it is.
fn is_normal_percent_encoding(after: &[u8]) -> bool {
    let digit = |b: u8| b.is_ascii_digit() || (b'A'..=b'F').contains(&b);
    match after {
        [h, l, ..] if digit(*h) && digit(*l) => {
            let decoded = u8::from_str_radix(
                std::str::from_utf8(&after[..2]).expect("ASCII hex digits"),
                16,
            )
            .expect("two hex digits");
            !(decoded.is_ascii_alphanumeric() || matches!(decoded, b'-' | b'.' | b'_' | b'~'))
        }
        _ => false,
    }
}

/// Appends `s` (ASCII) with RFC 3986 §6.2.2.1-2 applied to its percent-encodings; see
/// [`normalize_url`].
fn push_percent_normalized(out: &mut String, s: &str) {
    let hex = |b: u8| char::from(b).to_digit(16);
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b != b'%' {
            // `s` is ASCII (encoded), but a char boundary is kept whatever it is.
            let next = s[i..].chars().next().expect("i is a char boundary");
            out.push(next);
            i += next.len_utf8();
            continue;
        }
        match (
            bytes.get(i + 1).and_then(|&h| hex(h)),
            bytes.get(i + 2).and_then(|&l| hex(l)),
        ) {
            (Some(h), Some(l)) => {
                let decoded = (h * 16 + l) as u8;
                if decoded.is_ascii_alphanumeric() || matches!(decoded, b'-' | b'.' | b'_' | b'~') {
                    out.push(char::from(decoded));
                } else {
                    out.push('%');
                    out.push(char::from(bytes[i + 1].to_ascii_uppercase()));
                    out.push(char::from(bytes[i + 2].to_ascii_uppercase()));
                }
                i += 3;
            }
            _ => {
                out.push_str("%25");
                i += 1;
            }
        }
    }
}

/// `digits` hex digits, lower-cased.
fn normalize_hex(raw: &str, digits: usize) -> Option<String> {
    (raw.len() == digits && raw.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| raw.to_ascii_lowercase())
}

/// Generators of IOC spellings, for property tests here and in the sources.
#[cfg(test)]
pub(crate) mod spellings {
    use proptest::prelude::*;
    use url::Url;

    /// A host label: ASCII, Unicode letters (Latin, Greek, Cyrillic, CJK), `_` and inner `-`.
    pub fn label() -> impl Strategy<Value = String> {
        "[a-z0-9_ßüéжλ中][a-z0-9_ßüéжλ中-]{0,8}[a-z0-9üжλ]"
    }

    pub fn host() -> impl Strategy<Value = String> {
        (prop::collection::vec(label(), 1..3), "[a-z]{2,4}")
            .prop_map(|(labels, tld)| format!("{}.{tld}", labels.join(".")))
    }

    /// Path, query and fragment text: unreserved and reserved characters, percent-encodings
    /// in either case, non-ASCII, and what WHATWG encodes.
    pub fn tail_text() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop_oneof![
                "[A-Za-z0-9._~-]",
                "[!$&'()*+,;=:@/?]",
                "%[0-9a-fA-F]{2}",
                "[\"<>`{}|^\\[\\]\\\\%# ]",
                "[üжλ中]",
                Just("/../".to_owned()),
                Just("/./".to_owned()),
            ],
            0..12,
        )
        .prop_map(|parts| parts.concat())
    }

    pub fn url() -> impl Strategy<Value = String> {
        (
            prop_oneof![Just("http"), Just("https"), Just("HTTP"), Just("hTTps")],
            host(),
            prop::option::of(prop_oneof![Just(80u16), Just(443), Just(8080), 1u16..]),
            tail_text(),
        )
            .prop_map(|(scheme, host, port, tail)| {
                let port = port.map(|p| format!(":{p}")).unwrap_or_default();
                format!("{scheme}://{host}{port}/{tail}")
            })
    }

    /// The spellings RFC 3986 §6.2.2-6.2.3 and IDNA call equal: case of the scheme and
    /// host, U-label or A-label, a trailing root dot, the default port, an empty path,
    /// case of percent-encodings, unreserved characters encoded.
    pub fn respell(url: &str, upper_host: bool, root_dot: bool, encode_every: usize) -> String {
        let parsed = Url::parse(url).unwrap();
        let host = parsed.host_str().unwrap();
        let unicode = idna::domain_to_unicode(host).0;
        // Upper case where it maps back (`ß` would become `SS`, another name).
        let mut host: String = if upper_host {
            unicode
                .chars()
                .map(|c| {
                    let mut upper = c.to_uppercase();
                    match (upper.next(), upper.next()) {
                        (Some(u), None) if c != 'ß' => u,
                        _ => c,
                    }
                })
                .collect()
        } else {
            unicode
        };
        if root_dot {
            host.push('.');
        }
        let default_port = if parsed.scheme() == "http" { 80 } else { 443 };
        let port = parsed.port().unwrap_or(default_port);
        let scheme = parsed.scheme().to_uppercase();
        let after_authority = &url[url.find("://").unwrap() + 3..];
        let tail = &after_authority[after_authority.find('/').unwrap()..];
        let mut respelled_tail = String::new();
        let bytes = tail.as_bytes();
        let mut i = 0;
        let mut n = 0;
        while i < bytes.len() {
            let b = bytes[i];
            // The normal form has only whole percent-encodings.
            if b == b'%' {
                respelled_tail.push('%');
                respelled_tail.push_str(&tail[i + 1..i + 3].to_lowercase());
                i += 3;
                continue;
            }
            n += 1;
            if b.is_ascii_alphanumeric() && encode_every > 0 && n % encode_every == 0 {
                respelled_tail.push_str(&format!("%{b:02x}"));
            } else {
                respelled_tail.push(char::from(b));
            }
            i += 1;
        }
        let tail = if respelled_tail == "/" {
            String::new()
        } else {
            respelled_tail
        };
        format!("{scheme}://{host}:{port}{tail}")
    }
}

#[cfg(test)]
mod tests {
    use super::spellings::{host, respell, url};
    use super::*;
    use proptest::prelude::*;

    fn ok(kind: IocKind, raw: &str) -> String {
        Ioc::new(kind, raw).unwrap().value
    }

    #[test]
    fn ipv4() {
        assert_eq!(ok(IocKind::Ip, " 1.2.3.4 "), "1.2.3.4");
        assert_eq!(ok(IocKind::Ip, "1.2.3.4:443"), "1.2.3.4");
        assert_eq!(ok(IocKind::Ip, "10.0.0.1/32"), "10.0.0.1");
        assert_eq!(Ioc::new(IocKind::Ip, "::1"), Err(Invalid::Ipv6));
        assert_eq!(
            Ioc::new(IocKind::Ip, "[2001:db8::1]:443"),
            Err(Invalid::Ipv6)
        );
        for bad in [
            "1.2.3",
            "1.2.3.256",
            "01.2.3.4",
            "1.2.3.4/24",
            "a.b.c.d",
            "1.2.3.4:x",
        ] {
            assert_eq!(Ioc::new(IocKind::Ip, bad), Err(Invalid::BadIpv4), "{bad}");
        }
        assert_eq!(Ioc::new(IocKind::Ip, "  "), Err(Invalid::Empty));
    }

    #[test]
    fn domains() {
        assert_eq!(ok(IocKind::Domain, "Evil.Example.COM."), "evil.example.com");
        assert_eq!(
            ok(IocKind::Domain, "_dmarc.x-y.example"),
            "_dmarc.x-y.example"
        );
        let long_label = format!("{}.com", "a".repeat(64));
        let long_name = format!("{}com", "abcdefghi.".repeat(26));
        for bad in [
            "*.example.com",
            "http://example.com",
            "exa mple.com",
            "example..com",
            "-bad.com",
            "1.2.3.4",
            "example.com:80",
            long_label.as_str(),
            long_name.as_str(),
        ] {
            assert_eq!(
                Ioc::new(IocKind::Domain, bad),
                Err(Invalid::BadHost),
                "{bad}"
            );
        }
    }

    #[test]
    fn hosts_are_a_labels() {
        for (raw, want) in [
            ("bücher.example", "xn--bcher-kva.example"),
            ("BÜCHER.Example.", "xn--bcher-kva.example"),
            ("XN--BCHER-KVA.example", "xn--bcher-kva.example"),
            // A mixed-script look-alike is valid IDNA: its own A-label is what gets blocked.
            ("p\u{430}ypal-login.example", "xn--pypal-login-yij.example"),
            // Nontransitional: `ß` stays (`strasse` would be another name).
            ("Straße.example", "xn--strae-oqa.example"),
            // UTS #46 mapping: full-width letters and the ideographic full stop.
            ("ｅｘａｍｐｌｅ。com", "example.com"),
            // What DNS has beyond IDNA's rules, and this project accepted before.
            ("_dmarc.x-y.example", "_dmarc.x-y.example"),
            ("_sip._tcp.example", "_sip._tcp.example"),
            ("r3---sn-abc.googlevideo.com", "r3---sn-abc.googlevideo.com"),
            ("localhost", "localhost"),
        ] {
            assert_eq!(ok(IocKind::Domain, raw), want, "{raw}");
        }
        let label_63 = "a".repeat(63);
        assert_eq!(
            ok(IocKind::Domain, &format!("{label_63}.example")),
            format!("{label_63}.example")
        );
        for bad in [
            // Not valid punycode.
            "xn--a.example",
            // A Unicode label that ends in `-`.
            "ü-.example",
            // Bidi rule (RFC 5893): right-to-left label ending in a left-to-right letter.
            "ab\u{5d0}.example",
            // A zero-width joiner outside the contexts RFC 5892 allows.
            "a\u{200d}b.example",
            // Disallowed code points: private use, a line separator, U+FFFD.
            "a\u{e000}.example",
            "a\u{2028}.example",
            "a\u{fffd}.example",
            // A label must not start with a combining mark (UTS #46 §4.1).
            "\u{301}a.example",
            // The ideographic space maps to a space.
            "a\u{3000}b.example",
            // Full-width `＊` maps to `*`: refused like `*`.
            "\u{ff0a}.example.com",
            // An address spelled in full-width digits is still no name.
            "１.２.３.４",
            // Percent-encoding has no place in a bare host name.
            "ex%61mple.com",
        ] {
            assert_eq!(
                Ioc::new(IocKind::Domain, bad),
                Err(Invalid::BadHost),
                "{bad}"
            );
        }
        // Label and name lengths count after ToASCII: 21 `ü`s are 21 bytes of Unicode
        // letters, and more than 63 once encoded.
        let wide = format!("{}.example", "ü".repeat(60));
        assert_eq!(Ioc::new(IocKind::Domain, &wide), Err(Invalid::BadHost));
        let ascii_ok = format!("{}.example", "u".repeat(60));
        assert!(Ioc::new(IocKind::Domain, &ascii_ok).is_ok());
    }

    #[test]
    fn urls_keep_everything_but_scheme_and_host() {
        assert_eq!(
            ok(
                IocKind::Url,
                "HTTPS://Evil.Example.com:8443/Path/A.php?Q=1#Frag"
            ),
            "https://evil.example.com:8443/Path/A.php?Q=1#Frag"
        );
        // RFC 3986 §6.2.3: an empty path is `/`.
        assert_eq!(
            ok(IocKind::Url, "http://User@EX.com"),
            "http://User@ex.com/"
        );
        assert_eq!(
            ok(IocKind::Url, "http://[2001:DB8::1]/x"),
            "http://[2001:db8::1]/x"
        );
        assert_eq!(ok(IocKind::Url, "http://1.2.3.4/x"), "http://1.2.3.4/x");
        assert_eq!(
            Ioc::new(IocKind::Url, "ftp://x.com/a"),
            Err(Invalid::UrlScheme)
        );
        assert_eq!(Ioc::new(IocKind::Url, "x.com/a"), Err(Invalid::UrlScheme));
        for bad in [
            "http:///path",
            "http://x.com:port/",
            "http://*.x.com/",
            "http://-bad.com/",
            "http://x.com:65536/",
            "http://999.1.1.1/",
            "http://xn--a.example/",
            "http://@/x",
            "http://:80/x",
        ] {
            assert_eq!(Ioc::new(IocKind::Url, bad), Err(Invalid::BadUrl), "{bad}");
        }
        for bad in [
            "http://exa mple.com/",
            "http://x.com/\u{7}",
            "http://x.com/a\tb",
            "http://x.com/a\u{a0}b",
        ] {
            assert_eq!(
                Ioc::new(IocKind::Url, bad),
                Err(Invalid::UrlWhitespace),
                "{bad}"
            );
        }
        let at_limit = format!("http://x.com/{}", "a".repeat(MAX_URL_LEN - 13));
        assert_eq!(ok(IocKind::Url, &at_limit).len(), MAX_URL_LEN);
        let over = format!("{at_limit}a");
        assert_eq!(Ioc::new(IocKind::Url, &over), Err(Invalid::UrlTooLong));
        // The limit is on the form that is pushed: `ü` is six characters once encoded.
        let grows = format!("http://x.com/{}ü", "a".repeat(MAX_URL_LEN - 18));
        assert_eq!(grows.chars().count(), MAX_URL_LEN - 4);
        assert_eq!(Ioc::new(IocKind::Url, &grows), Err(Invalid::UrlTooLong));
    }

    #[test]
    fn url_hosts_follow_the_host_rule() {
        for (raw, want) in [
            (
                "http://bücher.example/login.php",
                "http://xn--bcher-kva.example/login.php",
            ),
            (
                "http://XN--BCHER-KVA.example/login.php",
                "http://xn--bcher-kva.example/login.php",
            ),
            ("http://x.example./a", "http://x.example/a"),
            ("http://_dmarc.x-y.example/", "http://_dmarc.x-y.example/"),
            // WHATWG percent-decodes a host before IDNA.
            ("http://ex%61mple.com/", "http://example.com/"),
        ] {
            assert_eq!(ok(IocKind::Url, raw), want, "{raw}");
        }
    }

    /// RFC 3986 §6.2.2-6.2.3, each rule.
    #[test]
    fn urls_get_rfc_3986_normalisation() {
        for (raw, want, why) in [
            ("HtTp://x.com/", "http://x.com/", "scheme case"),
            ("http://x.com:80/a", "http://x.com/a", "default port"),
            ("https://x.com:443/a", "https://x.com/a", "default port"),
            (
                "http://x.com:443/a",
                "http://x.com:443/a",
                "not the default",
            ),
            ("http://x.com:/a", "http://x.com/a", "empty port"),
            ("http://x.com:0080/a", "http://x.com/a", "port digits"),
            ("http://x.com", "http://x.com/", "empty path"),
            ("http://x.com?q", "http://x.com/?q", "empty path"),
            (
                "http://x.com/%7e%41%2d",
                "http://x.com/~A-",
                "unreserved decoded",
            ),
            (
                "http://x.com/a%2fb%3A",
                "http://x.com/a%2Fb%3A",
                "case of %XX",
            ),
            (
                "http://x.com/?a=%2f&b=%7E",
                "http://x.com/?a=%2F&b=~",
                "query too",
            ),
            ("http://x.com/#%2f%61", "http://x.com/#%2Fa", "fragment too"),
            (
                "http://x.com/a/./b/../c",
                "http://x.com/a/c",
                "dot segments",
            ),
            (
                "http://x.com/a/%2E%2e/c",
                "http://x.com/c",
                "encoded dot segments",
            ),
            ("http://x.com/?", "http://x.com/?", "empty query kept"),
            ("http://x.com/#", "http://x.com/#", "empty fragment kept"),
        ] {
            assert_eq!(ok(IocKind::Url, raw), want, "{why}: {raw}");
        }
    }

    /// What the `url` crate (WHATWG) does beyond RFC 3986, and what is kept of it: one
    /// case per choice documented on [`normalize_url`].
    #[test]
    fn whatwg_rewrites_kept_and_refused() {
        for (raw, want, why) in [
            // Kept: the split browsers make.
            (
                "http://evil.example\\@good.example/",
                "http://evil.example/@good.example/",
                "`\\` ends the authority",
            ),
            (
                "http://x.com\\a\\b",
                "http://x.com/a/b",
                "`\\` in the path is `/`",
            ),
            // Kept: the IPv4 forms browsers read, as a dotted quad.
            ("http://0x7f.1/", "http://127.0.0.1/", "hex and short IPv4"),
            ("http://2130706433/", "http://127.0.0.1/", "one-number IPv4"),
            // Kept: what is not allowed in a URI is percent-encoded as UTF-8.
            (
                "http://x.com/ü?ü#ü",
                "http://x.com/%C3%BC?%C3%BC#%C3%BC",
                "non-ASCII",
            ),
            (
                "http://x.com/\"<>`{}",
                "http://x.com/%22%3C%3E%60%7B%7D",
                "path set",
            ),
            (
                "http://x.com/#\"<>`",
                "http://x.com/#%22%3C%3E%60",
                "fragment set",
            ),
            ("http://x.com/?\"<>", "http://x.com/?%22%3C%3E", "query set"),
            // Kept as written: what WHATWG leaves alone.
            ("http://x.com/^|[]", "http://x.com/^|[]", "path as written"),
            (
                "http://x.com/?a^|[]{}`\\",
                "http://x.com/?a^|[]{}`\\",
                "query as written",
            ),
            (
                "http://x.com/#a#b?c",
                "http://x.com/#a#b?c",
                "fragment as written",
            ),
            // Refused: WHATWG's `'` -> `%27` in http(s) queries.
            ("http://x.com/?q='1'", "http://x.com/?q='1'", "`'` stays"),
            ("http://x.com/?q=%27", "http://x.com/?q=%27", "`%27` stays"),
            // A `%` that starts no percent-encoding.
            ("http://x.com/a%zz%", "http://x.com/a%25zz%25", "bare `%`"),
            (
                "http://x.com/?%%41B",
                "http://x.com/?%25AB",
                "bare `%` then `%41`",
            ),
            // Userinfo as WHATWG writes it.
            (
                "http://a@b@x.com/",
                "http://a%40b@x.com/",
                "`@` in userinfo",
            ),
            (
                "http://u:p%2f@x.com/",
                "http://u:p%2F@x.com/",
                "userinfo %XX case",
            ),
        ] {
            assert_eq!(ok(IocKind::Url, raw), want, "{why}: {raw}");
        }
    }

    /// A literal space is percent-encoded as WHATWG encodes it (path, query and fragment
    /// percent-encode sets), not refused; where no URL can hold one, it still is.
    #[test]
    fn a_space_is_percent_encoded_as_whatwg_does() {
        for (raw, want) in [
            ("http://a.example/a b", "http://a.example/a%20b"),
            (
                "http://a.example/a b?q=x y#f g",
                "http://a.example/a%20b?q=x%20y#f%20g",
            ),
            ("HTTP://A.example/a  b/", "http://a.example/a%20%20b/"),
            (" http://a.example/a b ", "http://a.example/a%20b"),
            ("http://a.example/a b/../c d", "http://a.example/c%20d"),
            ("http://a.example/ü b", "http://a.example/%C3%BC%20b"),
            ("http://a.example/%20", "http://a.example/%20"),
        ] {
            let value = ok(IocKind::Url, raw);
            assert_eq!(value, want, "{raw}");
            // Idempotent: the normal form is its own normal form.
            assert_eq!(ok(IocKind::Url, &value), value, "{raw}");
        }
        for bad in [
            "http://a b.example/",
            "http://u ser@a.example/",
            "http://a.example:8 0/",
            "http://a.example/a\tb",
            "http://a.example/a\nb",
            "http://a.example/a\u{a0}b",
            "http://a.example/a\u{3000}b",
        ] {
            assert_eq!(
                Ioc::new(IocKind::Url, bad),
                Err(Invalid::UrlWhitespace),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn urls_split_at_the_authority() {
        let url = ok(IocKind::Url, "https://u:p@Evil.Example:8443/a?b#c");
        assert_eq!(
            split_url(&url),
            Some(UrlParts {
                origin: "https://u:p@evil.example:8443",
                host: "evil.example",
                rest: "/a?b#c"
            })
        );
        let parts = |u: &str| {
            let p = split_url(u).unwrap();
            (p.host.to_owned(), p.rest.to_owned())
        };
        assert_eq!(parts("http://1.2.3.4?x"), ("1.2.3.4".into(), "?x".into()));
        assert_eq!(parts("http://[2001:db8::1]:80/").0, "[2001:db8::1]");
        assert_eq!(parts("http://x.example").1, "");
        assert_eq!(split_url("x.example"), None);
    }

    #[test]
    fn hashes() {
        let h = "73D95A30C812D9CFF0EAF37A686FDFEF8F9CA531";
        assert_eq!(ok(IocKind::FileSha1, h), h.to_ascii_lowercase());
        for bad in [
            &h[1..],
            "g3d95a30c812d9cff0eaf37a686fdfef8f9ca531",
            "d41d8cd98f00b204e9800998ecf8427e",
        ] {
            assert_eq!(
                Ioc::new(IocKind::FileSha1, bad),
                Err(Invalid::BadSha1),
                "{bad}"
            );
        }
        let h256 = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855";
        assert_eq!(ok(IocKind::FileSha256, h256), h256.to_ascii_lowercase());
        for bad in [&h256[1..], h, &h256.replace('E', "G")] {
            assert_eq!(
                Ioc::new(IocKind::FileSha256, bad),
                Err(Invalid::BadSha256),
                "{bad}"
            );
        }
    }

    #[test]
    fn hosts_split_into_ip_and_domain() {
        assert_eq!(
            Ioc::from_host("1.2.3.4:443").unwrap(),
            Ioc {
                kind: IocKind::Ip,
                value: "1.2.3.4".into()
            }
        );
        assert_eq!(
            Ioc::from_host("C2.Example.net.").unwrap(),
            Ioc {
                kind: IocKind::Domain,
                value: "c2.example.net".into()
            }
        );
        assert_eq!(
            Ioc::from_host("bücher.example:8080").unwrap().value,
            "xn--bcher-kva.example"
        );
        assert_eq!(Ioc::from_host("2001:db8::1"), Err(Invalid::Ipv6));
        assert_eq!(Ioc::from_host("[2001:db8::1]:53"), Err(Invalid::Ipv6));
        assert_eq!(Ioc::from_host("999.1.1.1"), Err(Invalid::BadIpv4));
    }

    #[test]
    fn udso_type_names_round_trip() {
        for kind in IocKind::ALL {
            assert_eq!(IocKind::from_udso_type(kind.udso_type()), Some(kind));
        }
        assert_eq!(IocKind::from_udso_type("file"), None);
        assert_eq!(
            serde_json::to_string(&IocKind::FileSha256).unwrap(),
            "\"file_sha256\""
        );
    }

    /// URLs of the shape [`plain_url`] takes, and near misses.
    fn plain_looking_url() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            4 => "[A-Za-z0-9._~!$&'()*+,;=:@-]{1,6}",
            2 => "[/?#]",
            2 => prop_oneof![Just("/./"), Just("/../"), Just("/."), Just("/.."), Just("/")]
                .prop_map(str::to_owned),
            1 => prop_oneof![
                Just("/./"),
                Just("/../"),
                Just("/."),
                Just("/.."),
                Just("%2F"),
                Just("%2f"),
                Just("%41"),
                Just("%zz"),
                Just("%"),
                Just("\\"),
                Just("ü"),
                Just("|"),
                Just(" "),
            ]
            .prop_map(str::to_owned),
        ];
        (
            // ASCII classes, not `(?i)`: that also draws `ſ` and the Kelvin sign.
            prop_oneof![8 => "[hH][tT][tT][pP][sS]?", 1 => Just("ftp".to_owned())],
            "([a-zA-Z0-9_-]{1,6}\\.){0,3}([a-zA-Z0-9-]{1,6}|[xX][nN]--[a-z0-9]{1,6}|0[xX][0-9a-f]{1,2}|[0-9]{1,3})\\.?",
            prop::option::of(prop_oneof![4 => "[0-9]{1,6}", 1 => "[0-9+]{0,3}"]),
            prop::option::of(("[/?#]", prop::collection::vec(piece, 0..8))),
        )
            .prop_map(|(scheme, host, port, tail)| {
                let port = port.map(|p| format!(":{p}")).unwrap_or_default();
                let tail = tail
                    .map(|(start, pieces)| format!("{start}{}", pieces.concat()))
                    .unwrap_or_default();
                format!("{scheme}://{host}{port}{tail}")
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// The fast paths give what the full paths give, wherever they apply.
        #[test]
        fn fast_url_path_agrees_with_the_full_one(raw in plain_looking_url()) {
            if let Some(fast) = plain_url(&raw) {
                prop_assert_eq!(Ok(fast), parsed_url(&raw), "{}", raw);
            }
        }

        #[test]
        fn fast_host_path_agrees_with_the_full_one(raw in "[a-zA-Z0-9_.-]{1,20}([xX][nN]--[a-z0-9-]{1,10})?") {
            if let Some(fast) = plain_ascii_host(&raw) {
                prop_assert_eq!(is_dns_name(&fast).then_some(fast), uts46_host(&raw), "{}", raw);
            }
        }

        #[test]
        fn url_normalising_is_idempotent(raw in url()) {
            if let Ok(ioc) = Ioc::new(IocKind::Url, &raw) {
                prop_assert_eq!(Ioc::new(IocKind::Url, &ioc.value), Ok(ioc.clone()));
                prop_assert!(ioc.value.is_ascii());
            }
        }

        #[test]
        fn host_normalising_is_idempotent(raw in host()) {
            if let Ok(ioc) = Ioc::new(IocKind::Domain, &raw) {
                prop_assert_eq!(Ioc::new(IocKind::Domain, &ioc.value), Ok(ioc.clone()));
                // The host inside a URL is the same host.
                let url = Ioc::new(IocKind::Url, &format!("http://{raw}/")).unwrap();
                prop_assert_eq!(url.value, format!("http://{}/", ioc.value));
            } else {
                let url = format!("http://{raw}/");
                prop_assert!(Ioc::new(IocKind::Url, &url).is_err());
            }
        }

        #[test]
        fn equal_url_spellings_give_one_form(
            raw in url(),
            upper_host: bool,
            root_dot: bool,
            encode_every in 0usize..4,
        ) {
            let Ok(ioc) = Ioc::new(IocKind::Url, &raw) else { return Ok(()) };
            let other = respell(&ioc.value, upper_host, root_dot, encode_every);
            prop_assert_eq!(Ioc::new(IocKind::Url, &other).map(|i| i.value), Ok(ioc.value), "{}", other);
        }
    }
}
