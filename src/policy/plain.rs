//! Plain exclusion lists: one entry a line, `#` comments, blank lines ignored. An entry is
//! - an IPv4 address or CIDR block (`192.0.2.10`, `10.20.0.0/16`): those addresses, and
//!   URLs whose host is one of them;
//! - a domain (`corp.example`; `*.corp.example` and `.corp.example` mean the same): the
//!   domain, every name under it, and URLs on them;
//! - a URL prefix (`https://sso.corp.example/login`): URLs of that scheme, host and port
//!   whose path, query and fragment start with the prefix's;
//! - a file hash: SHA-1 or SHA-256 (an MD5 line is accepted and matches nothing, as MD5
//!   IOCs are never pushed).
//!
//! Entries are read with the plain IOC list's own reader ([`crate::text::detect`]),
//! so they are in the normal form of the IOCs they are compared with. A line that is none
//! of these stops the run, naming the file and the line.

use std::net::Ipv4Addr;
use std::path::Path;

use anyhow::bail;

use super::index::{Applies, Cidr, Index, Origin};
use crate::ioc::skip::MD5;
use crate::ioc::{Invalid, IocKind, split_url};
use crate::text::{detect, strip_comment};

/// What a list held.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Loaded {
    /// Entries that can match an IOC.
    pub entries: usize,
    /// Entries that never can (IPv6, MD5: never pushed).
    pub without_effect: usize,
}

/// Loads the entries of `text` (the file at `path`) into `index` as list `list`.
pub fn load(path: &Path, text: &str, list: u32, index: &mut Index) -> anyhow::Result<Loaded> {
    let both = Applies {
        direct: true,
        url: true,
    };
    let mut loaded = Loaded::default();
    for (at, raw) in text.lines().enumerate() {
        let value = strip_comment(raw).trim();
        if value.is_empty() {
            continue;
        }
        let line = at + 1;
        let origin = Origin {
            list,
            line: u32::try_from(line).unwrap_or(u32::MAX),
        };
        let unusable = |why: &str| {
            anyhow::anyhow!(
                "{}:{line}: `{value}` is not an exclusion entry ({why}); write an IPv4 address or \
                 CIDR block, a domain, a URL prefix (http:// or https://), a SHA-1 or a SHA-256",
                path.display()
            )
        };
        // Addresses and blocks first: most entries of long lists are.
        if let Some(cidr) = Cidr::parse(value) {
            index.add_block(cidr, both, origin);
            loaded.entries += 1;
            continue;
        }
        if !value.contains("://") && value.contains('/') {
            // An IPv6 block matches nothing (no IPv6 IOC is pushed); anything else is wrong.
            if value.contains(':') {
                loaded.without_effect += 1;
                continue;
            }
            let address = value.split('/').next().unwrap_or_default();
            return Err(unusable(if address.parse::<Ipv4Addr>().is_ok() {
                "not an IPv4 CIDR block"
            } else {
                "a URL prefix starts with http:// or https://"
            }));
        }
        let name = value
            .strip_prefix("*.")
            .or_else(|| value.strip_prefix('.'))
            .unwrap_or(value);
        match detect(name) {
            Ok(ioc) => match ioc.kind {
                IocKind::Ip => {
                    let cidr = Cidr::parse(&ioc.value).expect("a normalised IPv4 address");
                    index.add_block(cidr, both, origin);
                }
                IocKind::Domain => index.add_domain(&ioc.value, both, origin),
                IocKind::Url => {
                    let parts = split_url(&ioc.value).expect("a normalised URL");
                    index.add_url_prefix(parts.origin, parts.rest, origin);
                }
                _ => index.add_exact(ioc, origin),
            },
            Err(code) if [MD5, Invalid::Ipv6.code()].contains(&code) => {
                loaded.without_effect += 1;
                continue;
            }
            Err(code) => return Err(unusable(code)),
        }
        loaded.entries += 1;
    }
    if loaded.entries + loaded.without_effect == 0 {
        bail!(
            "{}: the exclusion list holds no entry; remove it from --exclude, or add entries",
            path.display()
        );
    }
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ioc::Ioc;

    fn index_of(text: &str) -> anyhow::Result<Index> {
        let mut index = Index::default();
        load(Path::new("corp-allow.txt"), text, 7, &mut index)?;
        Ok(index)
    }

    fn hit(index: &Index, kind: IocKind, value: &str) -> Option<(u32, String)> {
        let ioc = Ioc::new(kind, value).unwrap();
        index
            .find(&ioc, |_| None)
            .map(|(o, entry)| (o.line, entry.to_string()))
    }

    #[test]
    fn every_entry_form_with_comments() {
        let index = index_of(
            "# corp allow-list\n\
             192.0.2.10\n\
             198.51.100.0/24   # DMZ\n\
             \n\
             Corp.Example.\n\
             *.partner.example\n\
             https://sso.vendor.example/login#top\n\
             DA39A3EE5E6B4B0D3255BFEF95601890AFD80709\n\
             d41d8cd98f00b204e9800998ecf8427e\n\
             2001:db8::/32\n\
             E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855\n",
        )
        .unwrap();
        assert_eq!(
            hit(&index, IocKind::Ip, "192.0.2.10"),
            Some((2, "192.0.2.10".into()))
        );
        assert_eq!(hit(&index, IocKind::Ip, "192.0.2.11"), None);
        assert_eq!(
            hit(&index, IocKind::Ip, "198.51.100.255"),
            Some((3, "198.51.100.0/24".into()))
        );
        assert_eq!(
            hit(&index, IocKind::Url, "http://198.51.100.7/x"),
            Some((3, "198.51.100.0/24".into()))
        );
        assert_eq!(
            hit(&index, IocKind::Domain, "mail.corp.example"),
            Some((5, "corp.example".into()))
        );
        assert_eq!(hit(&index, IocKind::Domain, "notcorp.example"), None);
        assert_eq!(
            hit(&index, IocKind::Domain, "partner.example"),
            Some((6, "partner.example".into()))
        );
        assert_eq!(
            hit(
                &index,
                IocKind::Url,
                "https://sso.vendor.example/login#top-2"
            ),
            Some((7, "https://sso.vendor.example/login#top".into()))
        );
        assert_eq!(
            hit(&index, IocKind::Url, "https://sso.vendor.example/"),
            None
        );
        assert_eq!(
            hit(
                &index,
                IocKind::FileSha1,
                "da39a3ee5e6b4b0d3255bfef95601890afd80709"
            )
            .map(|(line, _)| line),
            Some(8)
        );
        assert_eq!(
            hit(
                &index,
                IocKind::FileSha256,
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
            )
            .map(|(line, _)| line),
            Some(11)
        );
    }

    #[test]
    fn counts_entries_and_those_without_effect() {
        let mut index = Index::default();
        let loaded = load(
            Path::new("x.txt"),
            "a.example\n2001:db8::1\nd41d8cd98f00b204e9800998ecf8427e\n",
            0,
            &mut index,
        )
        .unwrap();
        assert_eq!(
            loaded,
            Loaded {
                entries: 1,
                without_effect: 2
            }
        );
    }

    #[test]
    fn a_bad_line_names_the_file_and_line() {
        for (text, line, why) in [
            ("a.example\nnot a domain\n", 2, "invalid-host"),
            ("10.0.0.0/33\n", 1, "not an IPv4 CIDR block"),
            ("a.example\n\nftp://x.example/\n", 3, "url-scheme"),
            ("www.example.com/path\n", 1, "http:// or https://"),
        ] {
            let err = index_of(text).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("corp-allow.txt:{line}: `")) && err.contains(why),
                "{text:?}: {err}"
            );
        }
        let err = index_of("# nothing yet\n\n").unwrap_err().to_string();
        assert!(err.contains("holds no entry"), "{err}");
    }

    #[test]
    fn comments_start_at_a_line_start_or_after_white_space() {
        assert_eq!(strip_comment("# all"), "");
        assert_eq!(strip_comment("a.example # x"), "a.example ");
        assert_eq!(strip_comment("a.example\t#x"), "a.example\t");
        assert_eq!(
            strip_comment("http://a.example/#frag"),
            "http://a.example/#frag"
        );
    }
}
