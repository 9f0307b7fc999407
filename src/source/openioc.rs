//! OpenIOC 1.0 and 1.1 files as a source (`--source openioc --file PATH`, repeatable; a
//! folder stands for every `*.ioc` and `*.ioc.xml` file in it, not recursively, read in name
//! order). What a document gives, and why an item gives nothing, is the format's business:
//! [`crate::openioc`]. See `reference/openioc.md`.
//!
//! # Sightings and notes
//!
//! An IOC's `seen` time is the document's `last-modified` attribute when it has a readable
//! one (RFC 3339; without a zone it is taken as UTC; never later than now), else the file's
//! modification time. Its reason (in the notes) is `<file name> item <IndicatorItem id>`
//! (`<file name> line <n>` for an item without an id).

use super::file::FileSettings;
use super::modified_time;
use crate::model::desired::{Desired, Pulled};
use crate::openioc::{expand_paths, read_file};
use crate::text::file_name;

/// Reads every file (and every OpenIOC file in every folder); the IOCs of all, deduplicated.
pub fn pull(settings: &FileSettings) -> anyhow::Result<Pulled> {
    let mut pulled = Pulled::default();
    for path in expand_paths(&settings.files)? {
        let (doc, _) = read_file(&path, settings.scan_action)?;
        let seen = doc.last_modified.unwrap_or_else(|| modified_time(&path));
        let name = file_name(&path);
        pulled.items += doc.items;
        for (reason, count) in doc.skipped {
            *pulled.invalid.entry(reason).or_default() += count;
        }
        for item in doc.iocs {
            let reason = if item.item_id.is_empty() {
                format!("{name} line {}", item.line)
            } else {
                format!("{name} item {}", item.item_id)
            };
            pulled.iocs.push(Desired {
                ioc: item.ioc,
                scan_action: item.scan_action,
                reason,
                seen,
            });
        }
    }
    pulled.dedupe();
    Ok(pulled)
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use chrono::Utc;

    use super::*;
    use crate::model::ScanAction;
    use crate::openioc::test_docs::*;
    use crate::openioc::{MAX_FILE_BYTES, MD5};

    fn write(dir: &Path, name: &str, text: impl AsRef<[u8]>) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn settings(files: Vec<PathBuf>) -> FileSettings {
        FileSettings {
            files,
            scan_action: ScanAction::Block,
            min_confidence: None,
        }
    }

    #[test]
    fn pull_reads_a_folders_openioc_files_and_block_wins() {
        let dir = tempfile::tempdir().unwrap();
        let ip = |id: &str| item(id, "is", "PortItem/remoteIP", "192.0.2.1");
        // The same ip under AND here (log) ...
        write(
            dir.path(),
            "a.ioc",
            v10(&indicator(
                "AND",
                &[
                    ip("a1"),
                    item("a2", "is", "FileItem/Md5sum", MD5_HASH),
                    item("a3", "is", "PortItem/remoteIP", "192.0.2.3"),
                ],
            )),
        );
        // ... and under OR there (block): block wins.
        let b = v10(&indicator(
            "OR",
            &[
                ip("b1"),
                item("b2", "contains", "DnsEntryItem/Host", "evil.example"),
            ],
        ))
        .replace(" last-modified=\"2014-10-17T20:54:53Z\"", "");
        write(dir.path(), "b.IOC.xml", b);
        write(dir.path(), "ignored.txt", "not xml at all");
        let pulled = pull(&settings(vec![dir.path().to_owned()])).unwrap();
        let got: Vec<String> = pulled
            .iocs
            .iter()
            .map(|d| format!("{} {} ({})", d.ioc, d.scan_action, d.reason))
            .collect();
        assert_eq!(
            got,
            [
                // The newest sighting's reason stays: b.IOC.xml's (its file time).
                "ip 192.0.2.1 block (b.IOC.xml item b1)",
                "ip 192.0.2.3 log (a.ioc item a3)",
                "domain evil.example block (b.IOC.xml item b2)"
            ]
        );
        assert_eq!(pulled.items, 5);
        assert_eq!(pulled.invalid.get(MD5), Some(&1));
        // a.ioc's last-modified; b.IOC.xml has none, so its file time (now, about).
        let seen = |n: usize| pulled.iocs[n].seen;
        assert_eq!(seen(1).to_rfc3339(), "2014-10-17T20:54:53+00:00");
        assert!(Utc::now() - seen(2) < chrono::Duration::hours(1));
        // The same through expand_paths, and a folder without OpenIOC files.
        let files = expand_paths(&[dir.path().to_owned()]).unwrap();
        let names: Vec<_> = files.iter().map(|f| f.file_name().unwrap()).collect();
        assert_eq!(names, ["a.ioc", "b.IOC.xml"]);
        let empty = tempfile::tempdir().unwrap();
        write(empty.path(), "x.xml", "<ioc/>");
        let e = pull(&settings(vec![empty.path().to_owned()]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("no *.ioc or *.ioc.xml files"), "{e}");
    }

    #[test]
    fn pull_names_the_file_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let bad = write(dir.path(), "bad.ioc", "<ioc>\n  <definition>\n</ioc>\n");
        let e = pull(&settings(vec![bad])).unwrap_err().to_string();
        assert!(e.contains("bad.ioc:3:1: "), "{e}");
        let latin1 = write(dir.path(), "latin1.ioc", b"<ioc>\n<x>caf\xe9</x></ioc>");
        let e = pull(&settings(vec![latin1])).unwrap_err().to_string();
        assert!(e.contains("latin1.ioc:2: not UTF-8"), "{e}");
        let big = write(dir.path(), "big.ioc", vec![b' '; MAX_FILE_BYTES + 1]);
        let e = pull(&settings(vec![big])).unwrap_err().to_string();
        assert!(e.contains(&format!("{} bytes", MAX_FILE_BYTES + 1)), "{e}");
        let e = format!(
            "{:#}",
            pull(&settings(vec![dir.path().join("missing.ioc")])).unwrap_err()
        );
        assert!(e.contains("missing.ioc"), "{e}");
    }
}
