//! The crate's modules form layers: each top-level module of `src/` imports only from modules
//! of a lower layer, so there are no import circles and data flows one way (source -> desired
//! set -> policy -> plan -> apply -> report). This test reads every file under `src/`, leaves
//! out `#[cfg(test)]` modules (inline, or in files of their own), comments and literals, and
//! finds every path into the crate:
//! `crate::x`, each item of a `use crate::{x, y}` group, a `super::` that climbs to the crate
//! root, and the `crate::x` paths of doc comments (rustdoc resolves their intra-doc links as it
//! resolves code, so a link upward is an import upward). A module's own submodules are free
//! among themselves; `test_util` is test-only and free.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// The layers, lowest first. A module may import from modules of a lower layer only; modules
/// of one layer are peers and import nothing of each other.
const LAYERS: &[&[&str]] = &[
    // Foundation, one module a layer. The process's exit codes and the errors that carry them.
    &["exit"],
    // Files this tool creates (private, never through a symbolic link) and reads (capped).
    &["files"],
    // Who else may read a file (the `.config` check).
    &["permissions"],
    // The one normal form of every IOC kind.
    &["ioc"],
    // Shared text helpers: a plain list's line (comment, defanging, the IOC it holds), a
    // file's text and name, a URL component, a server's body cut short. Above `files` and
    // `ioc`, whose helpers it uses.
    &["text"],
    // Secrets and their redaction (in every form a URL carries them: above `text`).
    &["secret"],
    // The log: where it goes, its rotation.
    &["logging"],
    // The single-instance lock.
    &["lock"],
    // What the commands print, and a closed pipe.
    &["output"],
    // The records sources, policy, sinks, state and the sync engine share: the desired set,
    // a destination's entries and writes, Lumu's cached records.
    &["model"],
    // The one retry policy of every client.
    &["retry"],
    // What every HTTP client shares: TLS, proxies, the send loop under the retry policy.
    &["http"],
    // The Apex Central API client. Below the formats: an OpenIOC file is read up to Apex's
    // own upload limit.
    &["apex"],
    // The formats, which know no source or destination: STIX 2.1, OpenIOC.
    &["stix", "openioc"],
    // The embedded SQLite store.
    &["state"],
    // What must never be pushed; where indicators come from; where they go. Peers.
    &["policy", "source", "sink"],
    // The sync engine: plan, apply, run, clean.
    &["sync"],
    // The metrics file and its gauges.
    &["metrics"],
    // The simulated servers.
    &["sim"],
    // The command line's definitions, defaults and help.
    &["cli"],
    // The `.config` file, read under the command line.
    &["config"],
    // The settings of a run: command line and `.config` merged, clients built.
    &["settings"],
    // The commands.
    &["commands"],
    // The program, as the library runs it.
    &["app"],
    // The binary (`src/main.rs`).
    &["main"],
];

/// Modules outside the layers: they may import anything and nothing imports them in a build
/// that is not a test.
const FREE: &[&str] = &["test_util", "lib"];

/// The layer of each module, by name.
fn ranks() -> BTreeMap<&'static str, usize> {
    let mut ranks = BTreeMap::new();
    for (rank, layer) in LAYERS.iter().enumerate() {
        for module in *layer {
            assert!(
                ranks.insert(*module, rank).is_none(),
                "{module} twice in LAYERS"
            );
        }
    }
    ranks
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .expect("src/ is readable")
        .map(|e| e.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module of a file (`src/sync/plan.rs` -> `sync`) and how deep the file's own
/// module is under the crate root (`src/cli.rs` and `src/cli/mod.rs` 1, `src/sync/plan.rs` 2).
fn module_of(relative: &Path) -> (String, usize) {
    let parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let top = parts[0].trim_end_matches(".rs").to_owned();
    let last = parts.last().expect("a file name");
    let depth = parts.len() - usize::from(last == "mod.rs");
    (top, depth)
}

/// A file's text split in two copies of its length (line breaks kept, so offsets give line
/// numbers): `code`, with comments and the insides of string and character literals blanked,
/// and `docs`, with only the text of doc comments kept.
struct Split {
    code: Vec<char>,
    docs: Vec<char>,
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn blank(c: char) -> char {
    if c == '\n' { '\n' } else { ' ' }
}

/// Whether the `r` at `i` opens a raw string or raw identifier (`r"`, `r#`, `br"`, `cr"`),
/// and is not the end of a longer word.
fn raw_string_start(src: &[char], i: usize) -> bool {
    let next = src.get(i + 1).copied();
    if next != Some('"') && next != Some('#') {
        return false;
    }
    let mut p = i;
    if p > 0 && (src[p - 1] == 'b' || src[p - 1] == 'c') {
        p -= 1;
    }
    p == 0 || !is_ident(src[p - 1])
}

fn split(text: &str) -> Split {
    let src: Vec<char> = text.chars().collect();
    let n = src.len();
    let mut code = src.clone();
    let mut docs: Vec<char> = src.iter().map(|&c| blank(c)).collect();
    let at = |i: usize| src.get(i).copied().unwrap_or('\0');
    let mut i = 0;
    while i < n {
        let c = src[i];
        if c == '/' && at(i + 1) == '/' {
            let doc = (at(i + 2) == '/' && at(i + 3) != '/') || at(i + 2) == '!';
            while i < n && src[i] != '\n' {
                if doc {
                    docs[i] = src[i];
                }
                code[i] = blank(src[i]);
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            let doc =
                (at(i + 2) == '*' && at(i + 3) != '*' && at(i + 3) != '/') || at(i + 2) == '!';
            let mut depth = 0;
            while i < n {
                if src[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    code[i] = ' ';
                    code[i + 1] = ' ';
                    i += 2;
                } else if src[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    code[i] = ' ';
                    code[i + 1] = ' ';
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if doc {
                        docs[i] = src[i];
                    }
                    code[i] = blank(src[i]);
                    i += 1;
                }
            }
        } else if c == '"' {
            i += 1;
            while i < n && src[i] != '"' {
                if src[i] == '\\' {
                    code[i] = ' ';
                    i += 1;
                }
                if i < n {
                    code[i] = blank(src[i]);
                }
                i += 1;
            }
            i += 1;
        } else if c == 'r' && raw_string_start(&src, i) {
            // A raw string: r"...", r#"..."#, br"...", cr"..."; or r#ident, which stays.
            let mut j = i + 1;
            let mut hashes = 0;
            while at(j) == '#' {
                hashes += 1;
                j += 1;
            }
            if at(j) != '"' {
                i = j;
                continue;
            }
            j += 1;
            while j < n {
                if src[j] == '"' && (1..=hashes).all(|h| at(j + h) == '#') {
                    j += 1 + hashes;
                    break;
                }
                code[j] = blank(src[j]);
                j += 1;
            }
            i = j;
        } else if c == '\'' {
            // A character literal ('x', '\n', '\'', '\u{..}'), or a lifetime ('a), which stays.
            if at(i + 1) == '\\' {
                let mut j = i + 3;
                while j < n && src[j] != '\'' {
                    j += 1;
                }
                for c in &mut code[i + 1..j.min(n)] {
                    *c = ' ';
                }
                i = j + 1;
            } else if at(i + 2) == '\'' {
                code[i + 1] = blank(src[i + 1]);
                i += 3;
            } else {
                i += 1;
            }
        } else {
            i += 1;
        }
    }
    Split { code, docs }
}

/// The position just past the brace that closes the one at `open`.
fn closing(code: &[char], open: usize) -> usize {
    let mut depth = 0;
    for (i, &c) in code.iter().enumerate().skip(open) {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
    }
    code.len()
}

fn skip_space(code: &[char], mut i: usize) -> usize {
    while i < code.len() && code[i].is_whitespace() {
        i += 1;
    }
    i
}

fn word_at(code: &[char], i: usize) -> String {
    code[i..].iter().take_while(|c| is_ident(**c)).collect()
}

fn starts_with(code: &[char], i: usize, s: &str) -> bool {
    s.chars()
        .enumerate()
        .all(|(k, c)| code.get(i + k) == Some(&c))
}

/// Blanks every `#[cfg(test)]` inline module (from the attribute to its closing brace) in
/// both copies. Returns the names of the `#[cfg(test)] mod name;` declared here: modules in
/// files of their own, test-only too.
fn strip_test_modules(split: &mut Split) -> Vec<String> {
    let code = split.code.clone();
    let mut file_modules = Vec::new();
    let mut i = 0;
    while i < code.len() {
        if starts_with(&code, i, "#[cfg(test)]") {
            // Further attributes, then `pub(...)`, then `mod name {`.
            let mut j = skip_space(&code, i + "#[cfg(test)]".len());
            while code.get(j) == Some(&'#') {
                while j < code.len() && code[j] != ']' {
                    j += 1;
                }
                j = skip_space(&code, j + 1);
            }
            if starts_with(&code, j, "pub") {
                j += 3;
                if code.get(j) == Some(&'(') {
                    while code[j] != ')' {
                        j += 1;
                    }
                    j += 1;
                }
                j = skip_space(&code, j);
            }
            if starts_with(&code, j, "mod ") {
                j = skip_space(&code, j + 4);
                let name = word_at(&code, j);
                j = skip_space(&code, j + name.len());
                if code.get(j) == Some(&';') {
                    file_modules.push(name);
                } else if code.get(j) == Some(&'{') {
                    let end = closing(&code, j);
                    for k in i..end {
                        split.code[k] = blank(split.code[k]);
                        split.docs[k] = blank(split.docs[k]);
                    }
                    i = end;
                    continue;
                }
            }
        }
        i += 1;
    }
    file_modules
}

/// The folder the child modules of the file at `relative` (under `src/`) live in:
/// `a/mod.rs` and `lib.rs` hold theirs beside them, `a/b.rs` in `a/b/`.
fn children_folder(relative: &Path) -> PathBuf {
    let parent = relative.parent().unwrap_or(Path::new("")).to_path_buf();
    match relative.file_stem().and_then(|s| s.to_str()) {
        Some("mod" | "lib" | "main") => parent,
        Some(stem) => parent.join(stem),
        None => parent,
    }
}

/// One path into the crate: where it is, and the top-level module it names.
struct Import {
    offset: usize,
    target: String,
}

/// The first segment of each item of a `{...}` group opening at `open`.
fn group_items(code: &[char], open: usize, offset: usize, out: &mut Vec<Import>) {
    let end = closing(code, open) - 1;
    let mut depth = 0;
    let mut item_start = true;
    for i in open + 1..end {
        match code[i] {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => item_start = true,
            c if item_start && depth == 0 && is_ident(c) => {
                let word = word_at(code, i);
                if word != "self" {
                    out.push(Import {
                        offset,
                        target: word,
                    });
                }
                item_start = false;
            }
            c if item_start && depth == 0 && !c.is_whitespace() => item_start = false,
            _ => {}
        }
    }
}

/// The paths into the crate in `text` (either copy): `crate::x`, `use crate::{x, y}`, and in
/// code a `super::` chain that climbs `depth` modules (to the crate root) from where it is.
fn imports(text: &[char], file_depth: usize, is_code: bool, crate_name: &str) -> Vec<Import> {
    let mut out = Vec::new();
    // Inline modules (`mod x { ... }`) open at the moment: the brace depths they close at.
    let mut inline: Vec<usize> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < text.len() {
        let c = text[i];
        if c == '{' {
            depth += 1;
        } else if c == '}' {
            depth = depth.saturating_sub(1);
            if inline.last() == Some(&depth) {
                inline.pop();
            }
        }
        let boundary = i == 0 || !(is_ident(text[i - 1]) || text[i - 1] == '$');
        if !boundary || !is_ident(c) {
            i += 1;
            continue;
        }
        let word = word_at(text, i);
        let after = i + word.len();
        if is_code && word == "mod" {
            let j = skip_space(text, after);
            let name = word_at(text, j);
            let k = skip_space(text, j + name.len());
            if !name.is_empty() && text.get(k) == Some(&'{') {
                inline.push(depth);
            }
        }
        let mut root = None;
        if word == "crate" || word == crate_name {
            root = Some(after);
        } else if is_code && word == "super" {
            // super::super::... : the crate root once it climbs the file's depth plus the
            // inline modules it is in.
            let mut supers = 1;
            let mut j = after;
            loop {
                let k = skip_space(text, j);
                if starts_with(text, k, "::") {
                    let m = skip_space(text, k + 2);
                    if word_at(text, m) == "super" {
                        supers += 1;
                        j = m + 5;
                        continue;
                    }
                }
                break;
            }
            if supers == file_depth + inline.len() {
                root = Some(j);
            }
        }
        if let Some(j) = root {
            let k = skip_space(text, j);
            if starts_with(text, k, "::") {
                let m = skip_space(text, k + 2);
                if text.get(m) == Some(&'{') {
                    group_items(text, m, i, &mut out);
                } else if text.get(m) == Some(&'*') {
                    out.push(Import {
                        offset: i,
                        target: "*".into(),
                    });
                } else {
                    let target = word_at(text, m);
                    if !target.is_empty() {
                        out.push(Import { offset: i, target });
                    }
                }
            }
        }
        i = after;
    }
    out
}

/// The names of the `#[macro_export]` macros in `code`, which live at the crate root.
fn exported_macros(code: &[char]) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < code.len() {
        if starts_with(code, i, "#[macro_export]") {
            let mut j = i;
            while !starts_with(code, j, "macro_rules!") {
                j += 1;
            }
            j = skip_space(code, j + "macro_rules!".len());
            out.push(word_at(code, j));
            i = j;
        }
        i += 1;
    }
    out
}

fn line_of(text: &[char], offset: usize) -> usize {
    1 + text[..offset].iter().filter(|&&c| c == '\n').count()
}

#[test]
fn modules_import_only_from_lower_layers() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let src = root.join("src");
    let ranks = ranks();
    let mut files = Vec::new();
    rust_files(&src, &mut files);

    let mut split_files = Vec::new();
    // Where each crate-root name lives: the top-level modules, and the exported macros.
    let mut home: BTreeMap<String, String> = BTreeMap::new();
    let mut unplaced = Vec::new();
    // Files of `#[cfg(test)] mod name;` modules (and their children): test-only, free.
    let mut test_only: Vec<PathBuf> = Vec::new();
    for path in &files {
        let relative = path.strip_prefix(&src).expect("under src/").to_path_buf();
        let (module, depth) = module_of(&relative);
        let text = fs::read_to_string(path).expect("a source file is UTF-8");
        let mut split = split(&text);
        for name in strip_test_modules(&mut split) {
            let folder = children_folder(&relative);
            test_only.push(folder.join(format!("{name}.rs")));
            test_only.push(folder.join(name));
        }
        for name in exported_macros(&split.code) {
            home.insert(name, module.clone());
        }
        home.insert(module.clone(), module.clone());
        if !ranks.contains_key(module.as_str()) && !FREE.contains(&module.as_str()) {
            unplaced.push(relative.display().to_string());
        }
        split_files.push((relative, module, depth, split));
    }
    assert!(
        unplaced.is_empty(),
        "modules in no layer (add them to LAYERS): {unplaced:?}"
    );

    let mut wrong = Vec::new();
    for (relative, module, depth, split) in &split_files {
        if FREE.contains(&module.as_str()) || test_only.iter().any(|t| relative.starts_with(t)) {
            continue;
        }
        let from = ranks[module.as_str()];
        let found = imports(&split.code, *depth, true, "apex_ioc_sync")
            .into_iter()
            .map(|i| (i, &split.code, "code"))
            .chain(
                imports(&split.docs, *depth, false, "apex_ioc_sync")
                    .into_iter()
                    .map(|i| (i, &split.docs, "doc link")),
            );
        for (import, text, kind) in found {
            let line = line_of(text, import.offset);
            let Some(target) = home.get(&import.target) else {
                wrong.push(format!(
                    "src/{}:{line}: {module} names `{}` at the crate root, which is no module ({kind})",
                    relative.display(),
                    import.target
                ));
                continue;
            };
            if target == module {
                continue;
            }
            let to = match ranks.get(target.as_str()) {
                Some(&rank) => rank,
                None if FREE.contains(&target.as_str()) => usize::MAX,
                None => unreachable!("every module is placed"),
            };
            if to >= from {
                let how = if to == from {
                    "a peer"
                } else {
                    "a higher layer"
                };
                wrong.push(format!(
                    "src/{}:{line}: {module} imports {target}, {how} ({kind})",
                    relative.display()
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} imports break the layers (tests/it/layers.rs, LAYERS):\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// The scanner on a sample: what counts as a path into the crate and what does not.
#[test]
fn the_scanner_finds_paths_in_code_and_doc_comments_only() {
    let sample = r####"
//! Module doc naming [`crate::doc_link`].
use crate::plain::Thing;
use crate::{group_a, group_b::{X, Y}, self};
// crate::line_comment
/* crate::block_comment /* nested crate::nested */ */
const S: &str = "crate::in_string \" crate::after_escape";
const R: &str = r#"crate::in_raw " crate::still_raw"#;
const C: char = '{';
const Q: char = '\'';
fn f<'a>(x: &'a str) -> &'a str { let _ = crate::in_body::call(); x }
mod inline {
    use super::super::climbed;
    use super::not_climbed;
}
pub(crate) fn g() {}
#[cfg(test)]
mod tests {
    use crate::test_only;
}
/// After the tests: [`crate::after_tests`].
fn h() { $crate::macro_path(); }
"####;
    let mut split = split(sample);
    strip_test_modules(&mut split);
    let names =
        |found: Vec<Import>| -> Vec<String> { found.into_iter().map(|i| i.target).collect() };
    assert_eq!(
        names(imports(&split.code, 1, true, "apex_ioc_sync")),
        ["plain", "group_a", "group_b", "in_body", "climbed"]
    );
    assert_eq!(
        names(imports(&split.docs, 1, false, "apex_ioc_sync")),
        ["doc_link", "after_tests"]
    );
}
