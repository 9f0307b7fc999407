//! The OpenIOC reader over the public corpus in `tests/data/openioc`: every IOC it
//! takes and every item it skips, rendered as text and compared with
//! `tests/it/snapshots/openioc_corpus.txt`. `UPDATE_SNAPSHOTS=1` rewrites the snapshot.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use apex_ioc_sync::apex::udso::ScanAction;
use apex_ioc_sync::openioc;
use apex_ioc_sync::source::file::FileSettings;
use apex_ioc_sync::source::openioc::pull;

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/openioc");
const SNAPSHOT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/it/snapshots/openioc_corpus.txt"
);

/// Every `*.ioc` and `*.ioc.xml` file under `dir`, recursively, sorted.
fn corpus_files(dir: &Path, found: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("the OpenIOC corpus must be at {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_lowercase();
        if path.is_dir() {
            corpus_files(&path, found);
        } else if name.ends_with(".ioc") || name.ends_with(".ioc.xml") {
            found.push(path);
        }
    }
}

fn counts<K: std::fmt::Display>(counts: &BTreeMap<K, usize>) -> String {
    let parts: Vec<String> = counts.iter().map(|(k, n)| format!("{k}={n}")).collect();
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(" ")
    }
}

fn render(files: &[PathBuf]) -> String {
    let mut out = String::new();
    writeln!(
        out,
        "# OpenIOC corpus (tests/data/openioc), read with the chosen scan action block.\n\
         # Per file: one line per IOC taken (file, type, value, scan action, IndicatorItem id),\n\
         # sorted, then the items skipped by reason. Totals at the end."
    )
    .unwrap();
    let mut items = 0;
    let mut by_kind = BTreeMap::new();
    let mut by_action = BTreeMap::new();
    let mut skipped = BTreeMap::new();
    for path in files {
        // `/` on every platform, as the snapshot has it.
        let relative = path
            .strip_prefix(CORPUS)
            .unwrap()
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(path).unwrap();
        let doc =
            openioc::read(&text, ScanAction::Block).unwrap_or_else(|e| panic!("{relative}:{e}"));
        writeln!(
            out,
            "\n== {relative}  (OpenIOC {:?}, {} items, {} taken)",
            doc.version,
            doc.items,
            doc.iocs.len()
        )
        .unwrap();
        let mut lines: Vec<String> = doc
            .iocs
            .iter()
            .map(|i| {
                format!(
                    "{name}  {}  {}  {}  item {}",
                    i.ioc.kind, i.ioc.value, i.scan_action, i.item_id
                )
            })
            .collect();
        lines.sort();
        for line in lines {
            writeln!(out, "{line}").unwrap();
        }
        writeln!(out, "skipped  {}", counts(&doc.skipped)).unwrap();
        items += doc.items;
        for i in &doc.iocs {
            *by_kind.entry(i.ioc.kind).or_insert(0) += 1;
            *by_action.entry(i.scan_action.as_str()).or_insert(0) += 1;
        }
        for (reason, n) in &doc.skipped {
            *skipped.entry(*reason).or_insert(0) += n;
        }
    }
    // The whole corpus as one `--source openioc` job would pull it: one entry per IOC.
    let pulled = pull(&FileSettings {
        files: files.to_vec(),
        scan_action: ScanAction::Block,
        min_confidence: None,
    })
    .expect("the corpus pulls");
    assert_eq!(pulled.items, items);
    assert_eq!(pulled.invalid, skipped);
    let mut distinct_by_action = BTreeMap::new();
    for d in &pulled.iocs {
        *distinct_by_action
            .entry(d.scan_action.as_str())
            .or_insert(0) += 1;
    }
    writeln!(out, "\n== totals").unwrap();
    writeln!(out, "files  {}", files.len()).unwrap();
    writeln!(out, "items  {items}").unwrap();
    writeln!(
        out,
        "taken  {}  by type  {}",
        by_kind.values().sum::<usize>(),
        counts(&by_kind)
    )
    .unwrap();
    writeln!(out, "taken by action  {}", counts(&by_action)).unwrap();
    writeln!(
        out,
        "distinct  {}  by type  {}",
        pulled.iocs.len(),
        counts(&pulled.by_kind())
    )
    .unwrap();
    writeln!(out, "distinct by action  {}", counts(&distinct_by_action)).unwrap();
    writeln!(
        out,
        "skipped  {}  by reason  {}",
        skipped.values().sum::<usize>(),
        counts(&skipped)
    )
    .unwrap();
    out
}

#[test]
fn corpus_matches_the_snapshot() {
    let mut files = Vec::new();
    corpus_files(Path::new(CORPUS), &mut files);
    files.sort();
    assert!(
        files.len() >= 11,
        "expected the 11 Mandiant files under {CORPUS}, found {}",
        files.len()
    );
    let rendered = render(&files);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(Path::new(SNAPSHOT).parent().unwrap()).unwrap();
        std::fs::write(SNAPSHOT, &rendered).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(SNAPSHOT).unwrap_or_else(|e| {
        panic!("cannot read {SNAPSHOT} ({e}); run with UPDATE_SNAPSHOTS=1 to write it")
    });
    if rendered != expected {
        let mut got = rendered.lines();
        let mut want = expected.lines();
        let mut line = 1;
        loop {
            match (got.next(), want.next()) {
                (Some(g), Some(w)) if g == w => line += 1,
                (g, w) => panic!(
                    "the corpus no longer reads as {SNAPSHOT} says; first difference at line \
                     {line}:\n  snapshot: {}\n  now:      {}\n(UPDATE_SNAPSHOTS=1 rewrites \
                     the snapshot, after review)",
                    w.unwrap_or("<end>"),
                    g.unwrap_or("<end>")
                ),
            }
        }
    }
}
