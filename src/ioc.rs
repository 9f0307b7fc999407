//! An indicator of compromise: its kind, its normal form, and the validation Apex's field
//! rules ask for. Every source normalises through here, and the Apex client checks every
//! entry through here before sending it.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The longest URL Apex accepts.
pub const MAX_URL_LEN: usize = 2047;
/// The longest host name (RFC 1035).
const MAX_HOST_LEN: usize = 253;

/// The kinds of IOC a UDSO entry can hold.
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
    #[value(name = "file_sha1")]
    FileSha1,
}

impl IocKind {
    pub const ALL: [IocKind; 4] = [
        IocKind::Ip,
        IocKind::Domain,
        IocKind::Url,
        IocKind::FileSha1,
    ];

    /// The UDSO `type` field.
    pub fn udso_type(self) -> &'static str {
        match self {
            IocKind::Ip => "ip",
            IocKind::Domain => "domain",
            IocKind::Url => "url",
            IocKind::FileSha1 => "file_sha1",
        }
    }

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
    #[error("URL contains white space or control characters")]
    UrlWhitespace,
    #[error("not a 40-digit hex SHA-1")]
    BadSha1,
}

/// Skip reasons more than one source counts, beside [`Invalid::code`]'s.
pub mod skip {
    /// A negated match (`NOT`, `!=`, `isnot`...): the IOC is what must not be seen.
    pub const NEGATION: &str = "negation";
    /// An MD5 hash: Apex's file type holds SHA-1 only.
    pub const MD5: &str = "md5";
    /// A SHA-256 hash: Apex's file type holds SHA-1 only.
    pub const SHA256: &str = "sha256";
    /// An IPv4 range wider than one address.
    pub const CIDR_RANGE: &str = "cidr-range";
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
        }
    }
}

impl Ioc {
    /// Normalises and validates `raw` as an IOC of `kind`.
    ///
    /// - ip: dotted-quad IPv4; `ip:port` is reduced to the ip; IPv6 is refused.
    /// - domain: lower-case, no trailing dot, no port, no scheme, no wildcard.
    /// - url: `http`/`https`, scheme and host lower-cased, the rest kept, at most 2047 characters.
    /// - file_sha1: 40 hex digits, lower-cased.
    pub fn new(kind: IocKind, raw: &str) -> Result<Ioc, Invalid> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(Invalid::Empty);
        }
        let value = match kind {
            IocKind::Ip => normalize_ipv4(raw)?,
            IocKind::Domain => normalize_host(raw)?,
            IocKind::Url => normalize_url(raw)?,
            IocKind::FileSha1 => normalize_sha1(raw)?,
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

fn looks_like_ipv4(s: &str) -> bool {
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

fn normalize_host(raw: &str) -> Result<String, Invalid> {
    let host = raw.strip_suffix('.').unwrap_or(raw).to_lowercase();
    if is_valid_host(&host) {
        Ok(host)
    } else {
        Err(Invalid::BadHost)
    }
}

/// A plain host name: dot-separated labels of letters (any script), digits, `-` and `_`,
/// none empty or longer than 63 bytes, not starting or ending with `-`; not all digits and
/// dots (that is an address, not a name).
pub fn is_valid_host(host: &str) -> bool {
    if host.is_empty() || host.len() > MAX_HOST_LEN || looks_like_ipv4(host) {
        return false;
    }
    host.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
    })
}

fn normalize_url(raw: &str) -> Result<String, Invalid> {
    let (scheme, rest) = raw.split_once("://").ok_or(Invalid::UrlScheme)?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(Invalid::UrlScheme);
    }
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Invalid::UrlWhitespace);
    }
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((user, hostport)) => (Some(user), hostport),
        None => (None, authority),
    };
    let (host, port) = split_host_port(hostport).ok_or(Invalid::BadUrl)?;
    let host = host.to_lowercase();
    let host_ok = if let Some(v6) = host.strip_prefix('[') {
        v6.strip_suffix(']')
            .is_some_and(|a| a.parse::<Ipv6Addr>().is_ok())
    } else {
        host.parse::<Ipv4Addr>().is_ok() || is_valid_host(host.strip_suffix('.').unwrap_or(&host))
    };
    if !host_ok {
        return Err(Invalid::BadUrl);
    }
    let mut url = format!("{scheme}://");
    if let Some(user) = userinfo {
        url.push_str(user);
        url.push('@');
    }
    url.push_str(&host);
    if let Some(port) = port {
        url.push(':');
        url.push_str(port);
    }
    url.push_str(tail);
    if url.chars().count() > MAX_URL_LEN {
        return Err(Invalid::UrlTooLong);
    }
    Ok(url)
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
    let (host, _) = split_host_port(hostport)?;
    Some(UrlParts { origin, host, rest })
}

/// `host[:port]` or `[v6][:port]`; the port must be digits.
fn split_host_port(s: &str) -> Option<(&str, Option<&str>)> {
    let (host, port) = if s.starts_with('[') {
        let end = s.find(']')? + 1;
        let (host, rest) = s.split_at(end);
        match rest.strip_prefix(':') {
            Some(port) => (host, Some(port)),
            None if rest.is_empty() => (host, None),
            None => return None,
        }
    } else {
        match s.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (s, None),
        }
    };
    if host.is_empty() {
        return None;
    }
    match port {
        Some(p) if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) => None,
        _ => Some((host, port)),
    }
}

fn normalize_sha1(raw: &str) -> Result<String, Invalid> {
    if raw.len() == 40 && raw.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(raw.to_ascii_lowercase())
    } else {
        Err(Invalid::BadSha1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(ok(IocKind::Domain, "bücher.example"), "bücher.example");
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
    fn urls_keep_everything_but_scheme_and_host() {
        assert_eq!(
            ok(
                IocKind::Url,
                "HTTPS://Evil.Example.com:8443/Path/A.php?Q=1#Frag"
            ),
            "https://evil.example.com:8443/Path/A.php?Q=1#Frag"
        );
        assert_eq!(ok(IocKind::Url, "http://User@EX.com"), "http://User@ex.com");
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
        for bad in ["http:///path", "http://x.com:port/", "http://*.x.com/"] {
            assert_eq!(Ioc::new(IocKind::Url, bad), Err(Invalid::BadUrl), "{bad}");
        }
        for bad in [
            "http://exa mple.com/",
            "http://x.com/a b",
            "http://x.com/\u{7}",
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
    fn sha1() {
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
    }
}
