//! MISP warninglists (<https://github.com/MISP/misp-warninglists>, `schema.json` there):
//! a JSON object with `name`, `type`, `list` and optional `matching_attributes`. Matching
//! follows MISP's own (`app/Model/Warninglist.php`, `checkValue`):
//! - `cidr`: the IPv4 addresses and blocks of the list (IPv6 entries match nothing here:
//!   no IPv6 IOC is pushed);
//! - `hostname`: a name matches itself and every name under it, compared label by label
//!   (entries lower-cased, dots trimmed); for URLs, the URL's host. An entry `*.name`
//!   means `name` too (MISP would keep the `*` and match nothing; the list's authors mean
//!   the name and the names under it);
//! - `string`: the value exactly, in normal form. An entry `.name` or `*.name` (MISP's
//!   `google` and `microsoft` lists hold many) is read as the plain lists read it: the
//!   domain and every name under it, and for URLs their host. MISP itself compares such an
//!   entry byte for byte, so it matches nothing there; what the authors mean is clear;
//! - `substring`: the value contains an entry (ASCII letters compared without case, since
//!   host names are lower-cased in normal form);
//! - `regex`: a PCRE pattern with delimiters and modifiers (`/^abc$/i`) matches the value;
//!   patterns are run by the `regex` crate, so look-around and back-references are refused
//!   when the list loads, naming the file and the pattern.
//!
//! `matching_attributes` (MISP attribute types) choose the IOC kinds a list applies to:
//! `ip-src`, `ip-dst` (and `|port`) for ip; `domain`, `hostname` (and `hostname|port`) for
//! domain; `domain|ip` for both; `url` for url; `sha1`, `filename|sha1` for file_sha1.
//! Without it, a list applies to every kind (MISP's `ALL`). A list that applies to none of
//! the kinds pushed is loaded and ignored. `list` may also be an object of entry ->
//! comment, as MISP's import accepts.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;

use aho_corasick::{AhoCorasick, MatchKind};
use anyhow::{anyhow, bail};
use regex::RegexSetBuilder;
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::index::{Applies, Cidr, Index, Origin, Scan};
use crate::ioc::skip::{MD5, UNSUPPORTED_HASH};
use crate::ioc::{Invalid, Ioc, IocKind};

/// How a warninglist's entries match (`type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ListType {
    String,
    Substring,
    Hostname,
    Cidr,
    Regex,
}

/// A warninglist file, as far as matching goes (other fields are ignored).
#[derive(Debug, Deserialize)]
struct Warninglist<'a> {
    name: String,
    /// MISP reads a missing type as `string`, and an array as its first element.
    #[serde(rename = "type", default, deserialize_with = "list_type")]
    list_type: Option<ListType>,
    #[serde(borrow)]
    list: Entries<'a>,
    #[serde(default)]
    matching_attributes: Option<Vec<String>>,
}

/// The entries: an array of strings, or an object whose keys are the entries. Borrowed
/// from the file's text where they hold no escape (a list can have 100,000 of them).
#[derive(Debug)]
struct Entries<'a>(Vec<Cow<'a, str>>);

/// One string, borrowed when it can be.
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for TextVisitor<'a> {
            type Value = Text<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(TextVisitor(std::marker::PhantomData))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Entries<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for EntriesVisitor<'a> {
            type Value = Entries<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array of strings, or an object of entry -> comment")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Entries<'a>, A::Error> {
                let mut entries = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(Text(entry)) = seq.next_element()? {
                    entries.push(entry);
                }
                Ok(Entries(entries))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries<'a>, A::Error> {
                let mut entries = Vec::new();
                while let Some((Text(entry), IgnoredAny)) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(Entries(entries))
            }
        }
        deserializer.deserialize_any(EntriesVisitor(std::marker::PhantomData))
    }
}

fn list_type<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<ListType>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(ListType),
        Many(Vec<ListType>),
    }
    match OneOrMany::deserialize(deserializer).map_err(|_| {
        de::Error::custom(
            "`type` must be one of string, substring, hostname, cidr, regex (or an array of them)",
        )
    })? {
        OneOrMany::One(t) => Ok(Some(t)),
        OneOrMany::Many(types) => Ok(types.first().copied()),
    }
}

/// The IOC kinds a MISP attribute type stands for.
fn kinds_of(attribute: &str) -> &'static [IocKind] {
    match attribute {
        "ip-src" | "ip-dst" | "ip-src|port" | "ip-dst|port" => &[IocKind::Ip],
        "domain" | "hostname" | "hostname|port" => &[IocKind::Domain],
        "domain|ip" => &[IocKind::Domain, IocKind::Ip],
        "url" => &[IocKind::Url],
        "sha1" | "filename|sha1" => &[IocKind::FileSha1],
        "sha256" | "filename|sha256" => &[IocKind::FileSha256],
        _ => &[],
    }
}

/// What a warninglist held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    /// The list's `name`: how reports call it.
    pub name: String,
    /// The kinds it applies to (empty: it is ignored).
    pub kinds: BTreeSet<IocKind>,
    /// Entries that can match an IOC of those kinds.
    pub entries: usize,
    /// Entries that never can, and lose nothing by it: values of a kind never pushed (IPv6,
    /// MD5, SHA-512...) or of a kind the list does not apply to.
    pub without_effect: usize,
    /// Entries that never can because they are no entry of the list's type (`corona
    /// helden` in a `hostname` list, `*.*.example` in a `string` list): what they meant is
    /// not held back.
    pub unusable: usize,
}

/// Whether `entry`, which is no entry a list of `kinds` can match, is a value of a kind
/// never pushed or outside `kinds` (nothing lost), rather than something unreadable.
fn without_effect(entry: &str, kinds: &BTreeSet<IocKind>) -> bool {
    let kind = match subtree(entry) {
        Some(_) => Ok(IocKind::Domain),
        None => crate::text::detect(entry).map(|ioc| ioc.kind),
    };
    match kind {
        Ok(kind) => !kinds.contains(&kind),
        Err(code) => [MD5, UNSUPPORTED_HASH, Invalid::Ipv6.code()].contains(&code),
    }
}

/// `.name` or `*.name`: a domain and every name under it, as plain lists write it; the
/// name in normal form.
fn subtree(entry: &str) -> Option<String> {
    let name = entry
        .strip_prefix("*.")
        .or_else(|| entry.strip_prefix('.'))?;
    Ioc::new(IocKind::Domain, name).ok().map(|ioc| ioc.value)
}

/// A serde_json error as `path:line:column: message`.
fn json_error(path: &Path, e: &serde_json::Error) -> anyhow::Error {
    let message = e.to_string();
    let position = format!(" at line {} column {}", e.line(), e.column());
    let message = message.strip_suffix(&position).unwrap_or(&message);
    anyhow!(
        "{}:{}:{}: not a MISP warninglist: {message}",
        path.display(),
        e.line(),
        e.column()
    )
}

/// Loads the warninglist `text` (the file at `path`) into `index` as list `list`.
pub fn load(path: &Path, text: &str, list: u32, index: &mut Index) -> anyhow::Result<Loaded> {
    let parsed: Warninglist = serde_json::from_str(text).map_err(|e| json_error(path, &e))?;
    let kinds: BTreeSet<IocKind> = match &parsed.matching_attributes {
        Some(attributes) if !attributes.is_empty() => attributes
            .iter()
            .flat_map(|a| kinds_of(a).iter().copied())
            .collect(),
        _ => IocKind::ALL.into_iter().collect(),
    };
    let mut loaded = Loaded {
        name: parsed.name.trim().to_owned(),
        kinds,
        entries: 0,
        without_effect: 0,
        unusable: 0,
    };
    if loaded.name.is_empty() {
        bail!("{}: the warninglist's `name` is empty", path.display());
    }
    // As for plain lists: an empty list is more likely a broken download than a wish.
    if parsed.list.0.iter().all(|e| e.trim().is_empty()) {
        bail!(
            "{}: the warninglist `{}` holds no entry; remove it from --exclude, or add entries",
            path.display(),
            loaded.name
        );
    }
    if loaded.kinds.is_empty() {
        loaded.without_effect = parsed.list.0.len();
        return Ok(loaded);
    }
    let origin = Origin { list, line: 0 };
    let kinds = &loaded.kinds;
    let applies = |direct: IocKind| Applies {
        direct: kinds.contains(&direct),
        url: kinds.contains(&IocKind::Url),
    };
    let (to_ip, to_domain) = (applies(IocKind::Ip), applies(IocKind::Domain));
    let entries = parsed
        .list
        .0
        .iter()
        .map(|e| e.trim())
        .filter(|e| !e.is_empty());
    let mut used = 0;
    // Entries that match nothing, sorted out once loading is done.
    let mut unused: Vec<&str> = Vec::new();
    match parsed.list_type.unwrap_or(ListType::String) {
        ListType::Cidr => {
            let mut blocks = Vec::with_capacity(parsed.list.0.len());
            for entry in entries {
                if let Some(cidr) = Cidr::parse(entry) {
                    blocks.push(cidr);
                } else if entry.contains(':') {
                    unused.push(entry);
                } else {
                    bail!(
                        "{}: entry `{entry}` of the cidr list `{}` is not an IP address or CIDR block",
                        path.display(),
                        loaded.name
                    );
                }
            }
            used = blocks.len();
            index.add_blocks(&blocks, to_ip, origin);
        }
        ListType::Hostname => {
            for entry in entries {
                let name = entry.trim_matches('.');
                let name = name.strip_prefix("*.").unwrap_or(name);
                if let Ok(ip) = Ioc::new(IocKind::Ip, name) {
                    let cidr = Cidr::parse(&ip.value).expect("a normalised IPv4 address");
                    index.add_block(cidr, to_ip, origin);
                    used += 1;
                } else if let Ok(domain) = Ioc::new(IocKind::Domain, name) {
                    index.add_domain(&domain.value, to_domain, origin);
                    used += 1;
                } else {
                    unused.push(entry);
                }
            }
        }
        ListType::String => {
            for entry in entries {
                let mut matched = false;
                for &kind in kinds {
                    let Ok(ioc) = Ioc::new(kind, entry) else {
                        continue;
                    };
                    matched = true;
                    index.add_exact(ioc, origin);
                }
                if !matched
                    && (to_domain.direct || to_domain.url)
                    && let Some(name) = subtree(entry)
                {
                    index.add_domain(&name, to_domain, origin);
                    matched = true;
                }
                if matched {
                    used += 1;
                } else {
                    unused.push(entry);
                }
            }
        }
        ListType::Substring => {
            let patterns: Vec<String> = entries.map(str::to_owned).collect();
            used = patterns.len();
            let automaton = AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::LeftmostFirst)
                .build(&patterns)
                .map_err(|e| anyhow!("{}: {e}", path.display()))?;
            index.add_scan(
                list,
                kinds.iter().copied().collect(),
                Scan::Substrings(automaton),
                patterns,
            );
        }
        ListType::Regex => {
            let patterns: Vec<String> = entries.map(str::to_owned).collect();
            let mut translated = Vec::with_capacity(patterns.len());
            for pattern in &patterns {
                let regex = pcre_to_regex(pattern).map_err(|why| {
                    anyhow!(
                        "{}: pattern `{pattern}` of the regex list `{}`: {why}",
                        path.display(),
                        loaded.name
                    )
                })?;
                // Compiled alone first, so an error names its pattern.
                regex::Regex::new(&regex).map_err(|e| {
                    anyhow!(
                        "{}: pattern `{pattern}` of the regex list `{}` is not supported: {e}",
                        path.display(),
                        loaded.name
                    )
                })?;
                translated.push(regex);
            }
            let set = RegexSetBuilder::new(&translated)
                .build()
                .map_err(|e| anyhow!("{}: {e}", path.display()))?;
            used = patterns.len();
            index.add_scan(
                list,
                kinds.iter().copied().collect(),
                Scan::Patterns(set),
                patterns,
            );
        }
    }
    loaded.entries = used;
    for entry in unused {
        if without_effect(entry, &loaded.kinds) {
            loaded.without_effect += 1;
        } else {
            loaded.unusable += 1;
        }
    }
    Ok(loaded)
}

/// A PCRE pattern as PHP's `preg_match` takes it (`/body/flags`, any non-alphanumeric
/// delimiter, or a bracket pair) as a `regex` crate pattern. Modifiers: `i`, `m`, `s`, `x`,
/// `U` carry over; `u`, `D`, `S` change nothing for one-line values; `A` anchors at the
/// start. Others are refused.
fn pcre_to_regex(pattern: &str) -> Result<String, String> {
    let pattern = pattern.trim_start();
    let open = pattern.chars().next().ok_or("empty pattern")?;
    if open.is_alphanumeric() || open == '\\' {
        return Err(format!(
            "a PCRE pattern starts with a delimiter such as `/`, not `{open}`"
        ));
    }
    let close = match open {
        '(' => ')',
        '[' => ']',
        '{' => '}',
        '<' => '>',
        other => other,
    };
    let after_open = &pattern[open.len_utf8()..];
    let end = after_open
        .rfind(close)
        .ok_or_else(|| format!("no closing delimiter `{close}`"))?;
    let (body, modifiers) = (&after_open[..end], &after_open[end + close.len_utf8()..]);
    let mut flags = String::new();
    let mut anchored = false;
    for m in modifiers.chars() {
        match m {
            'i' | 'm' | 's' | 'x' | 'U' => flags.push(m),
            'u' | 'D' | 'S' => {}
            'A' => anchored = true,
            other => return Err(format!("modifier `{other}` is not supported")),
        }
    }
    let mut regex = String::new();
    if !flags.is_empty() {
        regex.push_str(&format!("(?{flags})"));
    }
    if anchored {
        // Under `x`, a newline ends a trailing `#` comment before the group closes.
        let close = if flags.contains('x') { "\n)" } else { ")" };
        regex.push_str(&format!("\\A(?:{body}{close}"));
    } else {
        regex.push_str(body);
    }
    Ok(regex)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str) -> anyhow::Result<(Index, Loaded)> {
        let mut index = Index::default();
        let loaded = load(Path::new("list.json"), text, 3, &mut index)?;
        Ok((index, loaded))
    }

    fn list(kind: &str, attributes: &str, entries: &str) -> String {
        format!(
            r#"{{"name": "Test list", "version": 1, "description": "d", "type": "{kind}",
                "matching_attributes": [{attributes}], "list": [{entries}]}}"#
        )
    }

    fn hit(index: &Index, kind: IocKind, value: &str) -> Option<String> {
        let ioc = Ioc::new(kind, value).unwrap();
        index.find(&ioc, |_| None).map(|(o, entry)| {
            assert_eq!(o.list, 3);
            entry.to_string()
        })
    }

    #[test]
    fn cidr_lists_match_addresses_and_their_urls_when_url_is_listed() {
        let (index, loaded) = load_text(&list(
            "cidr",
            r#""ip-src", "ip-dst""#,
            r#""8.8.8.8", "1.1.1.0/24", "2001:4860:4860::8888""#,
        ))
        .unwrap();
        assert_eq!(
            (loaded.entries, loaded.without_effect, loaded.unusable),
            (2, 1, 0)
        );
        assert_eq!(
            hit(&index, IocKind::Ip, "8.8.8.8").as_deref(),
            Some("8.8.8.8")
        );
        assert_eq!(
            hit(&index, IocKind::Ip, "1.1.1.255").as_deref(),
            Some("1.1.1.0/24")
        );
        assert_eq!(hit(&index, IocKind::Ip, "8.8.4.4"), None);
        // No `url` among the attributes: URLs are not checked against this list.
        assert_eq!(hit(&index, IocKind::Url, "http://8.8.8.8/"), None);
        let (index, _) = load_text(&list("cidr", r#""ip-dst", "url""#, r#""8.8.8.8""#)).unwrap();
        assert!(hit(&index, IocKind::Url, "http://8.8.8.8/").is_some());
        let err = load_text(&list("cidr", r#""ip-dst""#, r#""8.8.8.300""#))
            .unwrap_err()
            .to_string();
        assert!(err.contains("list.json: entry `8.8.8.300`"), "{err}");
    }

    #[test]
    fn hostname_lists_match_subdomains_label_wise() {
        let (index, loaded) = load_text(&list(
            "hostname",
            r#""hostname", "domain", "url""#,
            r#""Google.com", ".vakifbank.com.", "corona helden""#,
        ))
        .unwrap();
        assert_eq!(
            (loaded.entries, loaded.without_effect, loaded.unusable),
            (2, 0, 1)
        );
        assert_eq!(
            hit(&index, IocKind::Domain, "mail.google.com").as_deref(),
            Some("google.com")
        );
        assert_eq!(hit(&index, IocKind::Domain, "notgoogle.com"), None);
        assert_eq!(
            hit(&index, IocKind::Url, "https://www.vakifbank.com/login").as_deref(),
            Some("vakifbank.com")
        );
        // Without `url`, URLs are not checked.
        let (index, _) = load_text(&list("hostname", r#""domain""#, r#""google.com""#)).unwrap();
        assert_eq!(hit(&index, IocKind::Url, "https://google.com/"), None);
    }

    #[test]
    fn string_lists_match_exactly_in_normal_form() {
        let (index, _) = load_text(&list(
            "string",
            r#""hostname", "domain", "domain|ip", "sha1""#,
            r#""Example.COM", "192.0.2.1", "DA39A3EE5E6B4B0D3255BFEF95601890AFD80709""#,
        ))
        .unwrap();
        assert_eq!(
            hit(&index, IocKind::Domain, "example.com").as_deref(),
            Some("example.com")
        );
        assert_eq!(hit(&index, IocKind::Domain, "www.example.com"), None);
        assert!(hit(&index, IocKind::Ip, "192.0.2.1").is_some());
        assert!(
            hit(
                &index,
                IocKind::FileSha1,
                &"da39a3ee5e6b4b0d3255bfef95601890afd80709".to_uppercase()
            )
            .is_some()
        );
        assert_eq!(hit(&index, IocKind::Url, "http://example.com/"), None);
    }

    /// MISP's own `google` list (a `string` list, `.google.ad` beside `google.ad`): the
    /// leading-dot entries mean the domain and every name under it, URLs on them included.
    #[test]
    fn dotted_entries_of_string_lists_are_domains_with_their_subdomains() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/misp-warninglists/google/list.json"
        );
        let (index, loaded) = load_text(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert_eq!(
            (loaded.entries, loaded.without_effect, loaded.unusable),
            (669, 0, 0)
        );
        for (kind, value, entry) in [
            (IocKind::Domain, "mail.google.ad", "google.ad"),
            (IocKind::Domain, "google.ad", "google.ad"),
            (
                IocKind::Url,
                "https://accounts.google.co.uk/x",
                "google.co.uk",
            ),
            (IocKind::Domain, "translate.goog", "translate.goog"),
            // An entry without the dot stays exact, as in MISP.
            (IocKind::Domain, "youtube.com", "youtube.com"),
        ] {
            assert_eq!(hit(&index, kind, value).as_deref(), Some(entry), "{value}");
        }
        assert_eq!(hit(&index, IocKind::Domain, "www.youtube.com"), None);
        assert_eq!(hit(&index, IocKind::Domain, "notgoogle.ad"), None);
        // The same written `*.`, and without `url` among the attributes URLs stay unchecked.
        let (index, loaded) = load_text(&list(
            "string",
            r#""domain""#,
            r#""*.corp.example", ".*.bad.example", "exa mple.com", "2001:db8::1""#,
        ))
        .unwrap();
        assert_eq!(
            (loaded.entries, loaded.without_effect, loaded.unusable),
            (1, 1, 2)
        );
        assert!(hit(&index, IocKind::Domain, "a.corp.example").is_some());
        assert_eq!(hit(&index, IocKind::Url, "http://a.corp.example/"), None);
        // A list for hashes only has no use for them: they count as without effect.
        let (_, loaded) = load_text(&list("string", r#""sha1""#, r#"".corp.example""#)).unwrap();
        assert_eq!(
            (loaded.entries, loaded.without_effect, loaded.unusable),
            (0, 1, 0)
        );
    }

    #[test]
    fn starred_entries_of_hostname_lists_mean_the_name() {
        let (index, loaded) = load_text(&list(
            "hostname",
            r#""hostname", "url""#,
            r#""*.corp.example", "*.*.x.example", "2001:db8::1""#,
        ))
        .unwrap();
        assert_eq!(
            (loaded.entries, loaded.without_effect, loaded.unusable),
            (1, 1, 1)
        );
        assert_eq!(
            hit(&index, IocKind::Domain, "corp.example").as_deref(),
            Some("corp.example")
        );
        assert_eq!(
            hit(&index, IocKind::Url, "https://sso.corp.example/").as_deref(),
            Some("corp.example")
        );
    }

    #[test]
    fn substring_and_regex_lists_scan_the_value() {
        let (index, _) = load_text(&list(
            "substring",
            r#""domain", "url""#,
            r#""app.any.run", "Sandbox""#,
        ))
        .unwrap();
        assert_eq!(
            hit(&index, IocKind::Url, "https://app.any.run/tasks/1").as_deref(),
            Some("app.any.run")
        );
        assert_eq!(
            hit(&index, IocKind::Domain, "x.sandbox.example").as_deref(),
            Some("Sandbox")
        );
        assert_eq!(hit(&index, IocKind::Ip, "192.0.2.1"), None);
        let (index, _) = load_text(&list(
            "regex",
            r#""domain""#,
            r##""/^c2-[0-9]+\\.EXAMPLE$/i", "#^test\\.#""##,
        ))
        .unwrap();
        assert_eq!(
            hit(&index, IocKind::Domain, "c2-17.example").as_deref(),
            Some(r"/^c2-[0-9]+\.EXAMPLE$/i")
        );
        assert!(hit(&index, IocKind::Domain, "test.example").is_some());
        assert_eq!(hit(&index, IocKind::Domain, "c2-x.example"), None);
    }

    #[test]
    fn attributes_choose_kinds_and_default_to_all() {
        let (_, loaded) = load_text(
            r#"{"name": "n", "type": "string", "list": ["a.example"], "description": "d", "version": 1}"#,
        )
        .unwrap();
        assert_eq!(loaded.kinds.len(), IocKind::ALL.len());
        let (index, loaded) = load_text(&list(
            "regex",
            r#""email-src", "phone-number""#,
            r#""/(+/g""#,
        ))
        .unwrap();
        // A list for kinds never pushed is not even compiled.
        assert!(loaded.kinds.is_empty() && index.is_empty());
        // `list` as an object of entry -> comment, and `type` as an array.
        let (index, loaded) = load_text(
            r#"{"name": "n", "type": ["hostname"], "matching_attributes": ["domain"],
                "list": {"corp.example": "our own", "partner.example": ""}}"#,
        )
        .unwrap();
        assert_eq!(loaded.entries, 2);
        assert!(hit(&index, IocKind::Domain, "a.partner.example").is_some());
    }

    #[test]
    fn bad_files_name_the_file_and_position() {
        let err = load_text("{\"name\": \"n\",\n \"list\": [1]}")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("list.json:2:"), "{err}");
        assert!(err.contains("not a MISP warninglist"), "{err}");
        let err = load_text(r#"{"name": "n", "list": []}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`n` holds no entry"), "{err}");
        let err = load_text(r#"{"name": "n"}"#).unwrap_err().to_string();
        assert!(err.contains("missing field `list`"), "{err}");
        let err = load_text(r#"{"name": "n", "type": "glob", "list": []}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`type` must be one of"), "{err}");
        for (pattern, why) in [
            (r#""abc""#, "starts with a delimiter"),
            (r#""/abc""#, "no closing delimiter"),
            (r#""/abc/e""#, "modifier `e`"),
            (r#""/(?<=a)b/""#, "not supported"),
        ] {
            let err = load_text(&list("regex", r#""domain""#, pattern))
                .unwrap_err()
                .to_string();
            assert!(err.contains(why), "{pattern}: {err}");
        }
    }

    #[test]
    fn pcre_patterns_translate() {
        let ok = |p: &str| pcre_to_regex(p).unwrap();
        assert_eq!(ok(r"/a\/b/i"), r"(?i)a\/b");
        assert_eq!(ok("{a.b}x"), "(?x)a.b");
        assert_eq!(ok("#^x#A"), r"\A(?:^x)");
        assert_eq!(ok("/x # c/xA"), "(?x)\\A(?:x # c\n)");
        assert_eq!(ok("  /a/uDS"), "a");
        assert!(pcre_to_regex("").is_err());
    }
}
