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
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};

use super::modified_time;
use crate::ioc::Ioc;
use crate::model::MAX_ENTRIES_PER_KIND;
use crate::model::ScanAction;
use crate::model::desired::{Desired, Pulled};
use crate::state::{FeedId, StateStore};
use crate::stix::indicator::{Reading, clamped_warning, indicator_records, parse_objects};
use crate::text::{detect, file_name, refang, strip_comment, utf8_text};

/// What to read.
#[derive(Debug, Clone)]
pub struct FileSettings {
    pub files: Vec<PathBuf>,
    pub scan_action: ScanAction,
    /// `--min-confidence`: STIX indicators with a lower `confidence` are not pushed.
    pub min_confidence: Option<u8>,
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
                pulled.count_invalid(reason);
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

/// Reads every file; the IOCs of all of them, deduplicated. IOCs `excluded` holds take
/// no room among a bundle's newest (the policy holds them back later).
pub fn pull(
    settings: &FileSettings,
    excluded: &(dyn Fn(&Ioc) -> bool + Sync),
) -> anyhow::Result<Pulled> {
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
        excluded,
    )?;
    pulled.iocs.extend(desired);
    pulled.dedupe();
    Ok(pulled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ioc::IocKind;

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
            &|_| false,
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
        assert_eq!((pulled.items, pulled.invalid.len()), (5, 0));
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
        assert!(pulled.invalid.is_empty(), "{:?}", pulled.invalid);
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
            &|_| false,
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
        assert_eq!(pulled.invalid.get("cidr-range"), Some(&1));
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
            &|_| false,
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
                &|_| false,
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
            &|_| false,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("latin1.txt:2: not UTF-8"), "{err}");
    }
}
