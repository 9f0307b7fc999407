//! Local files as a source (`--source file --file PATH`, repeatable): a STIX 2.1 bundle
//! (JSON), whose indicators go through the same extraction and validity rules as a TAXII
//! feed, or a plain text list with one IOC a line (`#` starts a comment), its type detected.
//! A file that cannot be read or parsed stops the run before anything is written, naming
//! the file and the line.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};

use super::taxii::{indicator_records, parse_objects};
use super::{Pulled, file_name, modified_time, utf8_text};
use crate::apex::udso::ScanAction;
use crate::ioc::skip::{CIDR_RANGE, MD5, SHA256};
use crate::ioc::{Invalid, Ioc, IocKind};
use crate::state::StateStore;
use crate::sync::plan::UDSO_CAPACITY;

/// What to read.
#[derive(Debug, Clone)]
pub struct FileSettings {
    pub files: Vec<PathBuf>,
    pub scan_action: ScanAction,
}

/// The IOC a line of a plain list holds, its type told by its form.
pub fn detect(line: &str) -> Result<Ioc, &'static str> {
    let value = line.trim();
    let is_hex = |n: usize| value.len() == n && value.bytes().all(|b| b.is_ascii_hexdigit());
    let invalid = |e: Invalid| e.code();
    if is_hex(40) {
        return Ioc::new(IocKind::FileSha1, value).map_err(invalid);
    }
    if is_hex(32) {
        return Err(MD5);
    }
    if is_hex(64) {
        return Err(SHA256);
    }
    if value.contains("://") {
        return Ioc::new(IocKind::Url, value).map_err(invalid);
    }
    if value.contains('/') {
        // `1.2.3.4/32` is one address; any other CIDR is a range, not a UDSO entry.
        return match value.strip_suffix("/32") {
            Some(ip) => Ioc::new(IocKind::Ip, ip).map_err(invalid),
            None => Err(CIDR_RANGE),
        };
    }
    Ioc::from_host(value).map_err(invalid)
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
        let line = raw.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        pulled.items += 1;
        match detect(line) {
            Ok(ioc) => pulled.iocs.push(super::Desired {
                ioc,
                scan_action,
                reason: format!("{name} line {}", index + 1),
                seen,
            }),
            Err(reason) => {
                tracing::debug!(
                    "{}:{}: `{line}` skipped ({reason})",
                    path.display(),
                    index + 1
                );
                pulled.skip(reason);
            }
        }
    }
}

/// Stores a bundle's indicators in `bundles`, the store every bundle of the run shares.
fn read_bundle(
    path: &Path,
    text: &str,
    scan_action: ScanAction,
    pulled: &mut Pulled,
    bundles: &mut StateStore,
) -> anyhow::Result<()> {
    let objects = parse_objects(text).map_err(|e| {
        anyhow::anyhow!(
            "{}:{}: not a STIX 2.1 bundle: {e}",
            path.display(),
            e.line()
        )
    })?;
    let records = indicator_records(objects, scan_action, pulled);
    bundles.store_page("file", &records, None)?;
    Ok(())
}

/// Reads every file; the IOCs of all of them, deduplicated.
pub fn pull(settings: &FileSettings) -> anyhow::Result<Pulled> {
    let mut pulled = Pulled::default();
    // The validity rules of a feed across all bundles: the newest version of each
    // indicator, valid now, the newest IOCs of each type when there are more than fit.
    let mut bundles = StateStore::in_memory()?;
    for path in &settings.files {
        if path.is_dir() {
            bail!("--file {} is a folder; name the files", path.display());
        }
        let bytes = crate::files::read_capped(path, crate::files::MAX_INPUT_FILE_BYTES)
            .with_context(|| format!("cannot read --file {}", path.display()))?;
        let text = utf8_text(path, &bytes)?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        if text.trim_start().starts_with('{') {
            read_bundle(path, text, settings.scan_action, &mut pulled, &mut bundles)?;
        } else {
            let seen = modified_time(path);
            read_list(path, text, settings.scan_action, seen, &mut pulled);
        }
    }
    let (desired, _) = bundles.desired(Utc::now(), UDSO_CAPACITY)?;
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
        assert_eq!(ok("Evil.Example."), "domain evil.example");
        assert_eq!(
            ok("HTTPS://Evil.Example/x?a=B"),
            "url https://evil.example/x?a=B"
        );
        assert_eq!(
            ok("73D95A30C812D9CFF0EAF37A686FDFEF8F9CA531"),
            "file_sha1 73d95a30c812d9cff0eaf37a686fdfef8f9ca531"
        );
        assert_eq!(detect("d41d8cd98f00b204e9800998ecf8427e"), Err("md5"));
        assert_eq!(detect(&"a".repeat(64)), Err("sha256"));
        assert_eq!(detect("10.0.0.0/8"), Err("cidr-range"));
        assert_eq!(detect("2001:db8::1"), Err("ipv6"));
        assert_eq!(detect("ftp://x.example/"), Err("url-scheme"));
        assert_eq!(detect("not a host"), Err("invalid-host"));
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
        let pulled = pull(&FileSettings {
            files: vec![list, bundle],
            scan_action: ScanAction::Block,
        })
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
    }

    #[test]
    fn bad_files_name_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, "{\"objects\": [\n  {\"type\": \"indicator\",,}\n]}").unwrap();
        let err = pull(&FileSettings {
            files: vec![bad],
            scan_action: ScanAction::Block,
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("bad.json:2: not a STIX 2.1 bundle"), "{err}");
        let missing = dir.path().join("missing.txt");
        let err = format!(
            "{:#}",
            pull(&FileSettings {
                files: vec![missing],
                scan_action: ScanAction::Block
            })
            .unwrap_err()
        );
        assert!(err.contains("missing.txt"), "{err}");
        let latin1 = dir.path().join("latin1.txt");
        std::fs::write(&latin1, b"a.example\nb\xe9.example\n").unwrap();
        let err = pull(&FileSettings {
            files: vec![latin1],
            scan_action: ScanAction::Block,
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("latin1.txt:2: not UTF-8"), "{err}");
    }
}
