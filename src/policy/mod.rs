//! What must never be pushed: the built-in guard ([`builtin`]), the user's plain exclusion
//! lists ([`plain`]) and MISP warninglists ([`misp`]), given with `--exclude PATH`
//! (repeatable; a folder means its `*.json` and `*.txt` files, recursively).
//!
//! Every list is loaded into one [`index::Index`] before the run reads its source; a list
//! that cannot be read or parsed stops the run there, before any write. The sync then holds
//! back every desired IOC a list matches ([`Exclusions::screen`]), counted by list, and
//! removes the entries it owns whose IOC a list matches (see `sync::run`).

pub mod builtin;
pub mod hold;
pub mod index;
pub mod misp;
pub mod plain;

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use crate::ioc::{Ioc, IocKind};
use crate::model::desired::Desired;
use crate::text::{file_name, utf8_text};
use index::Index;

/// The entry of a list that matched an IOC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// The list's position in [`Exclusions::lists`].
    pub list: usize,
    /// The line of a plain list.
    pub line: Option<u32>,
    /// The entry: `10.0.0.0/8`, `corp.example`, `https://sso.corp.example/login`,
    /// `co.uk (ICANN section)`, a pattern...
    pub entry: String,
}

/// A desired IOC the policy held back, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub ioc: Ioc,
    pub hit: Hit,
}

/// The loaded exclusions: the guard (unless lifted) and the lists, in the order given.
pub struct Exclusions {
    /// List names, by position: the guard's lists first (present even when lifted, so
    /// positions do not move), then one per file.
    lists: Vec<String>,
    /// `--exclude` lists as loaded: name and entries that can match, for the log.
    loaded: Vec<(String, usize)>,
    /// `--exclude` lists with entries that match nothing, and how many, in list order.
    unused: Vec<(String, usize)>,
    /// What the guard's entries stand for (see [`builtin::Notes`]).
    notes: builtin::Notes,
    index: Index,
    guard: bool,
}

impl fmt::Debug for Exclusions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Exclusions")
            .field("guard", &self.guard)
            .field("lists", &&self.lists[builtin::names().len()..])
            .field("entries", &self.index.len())
            .finish()
    }
}

/// Which files a path names: the file itself, or a folder's `*.json` and `*.txt` files
/// (recursively, sorted, hidden ones left out).
fn list_files(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let meta = std::fs::metadata(path)
        .with_context(|| format!("cannot read --exclude {}", path.display()))?;
    if !meta.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    let mut files = Vec::new();
    let mut folders = vec![path.to_owned()];
    while let Some(folder) = folders.pop() {
        let entries = std::fs::read_dir(&folder)
            .with_context(|| format!("cannot read --exclude folder {}", folder.display()))?;
        for entry in entries {
            let entry = entry
                .with_context(|| format!("cannot read --exclude folder {}", folder.display()))?;
            let child = entry.path();
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            if child.is_dir() {
                folders.push(child);
            } else if matches!(
                child.extension().and_then(|e| e.to_str()),
                Some("json" | "txt")
            ) {
                files.push(child);
            } else {
                tracing::debug!(
                    "--exclude: {} left out (not .json or .txt)",
                    child.display()
                );
            }
        }
    }
    if files.is_empty() {
        bail!(
            "--exclude {} is a folder without any .json (MISP warninglist) or .txt (plain list) file",
            path.display()
        );
    }
    files.sort();
    Ok(files)
}

impl Exclusions {
    /// Nothing excluded: the guard lifted and no list.
    pub fn none() -> Self {
        Exclusions {
            lists: builtin::names().into_iter().map(str::to_owned).collect(),
            loaded: Vec::new(),
            unused: Vec::new(),
            notes: builtin::Notes::new(),
            index: Index::default(),
            guard: false,
        }
    }

    /// The guard (when `guard`), holding back the job's own hosts `own` too, and the lists
    /// at `paths`: files, or folders of them. A file that starts with `{` is a MISP
    /// warninglist, any other a plain list. Entries that match nothing are counted
    /// ([`Exclusions::unused`]) and logged, naming the list: a warning when the list means
    /// something this tool cannot apply, an info line when they are of IOC kinds never
    /// pushed (IPv6, MD5).
    ///
    /// Errors: a path or file that cannot be read, a file that is not UTF-8, a plain-list
    /// line that is no entry (naming file and line), a warninglist that does not parse
    /// (naming file, line and column) or holds an entry it cannot use (naming it).
    pub fn load(guard: bool, own: &[builtin::OwnHost], paths: &[PathBuf]) -> anyhow::Result<Self> {
        let mut exclusions = Exclusions::none();
        exclusions.guard = guard;
        if guard {
            exclusions.notes = builtin::load(&mut exclusions.index, own);
        }
        for path in paths {
            for file in list_files(path)? {
                exclusions.load_file(&file)?;
            }
        }
        if paths.is_empty() && guard {
            tracing::debug!("never pushed: the built-in guard");
        } else {
            let lists: Vec<String> = exclusions
                .loaded
                .iter()
                .map(|(name, n)| format!("{name} ({n} entries)"))
                .collect();
            tracing::info!(
                "never pushed: {}{}",
                if guard {
                    "the built-in guard, "
                } else {
                    "(built-in guard lifted) "
                },
                if lists.is_empty() {
                    "no lists".to_owned()
                } else {
                    lists.join(", ")
                }
            );
        }
        Ok(exclusions)
    }

    fn load_file(&mut self, path: &Path) -> anyhow::Result<()> {
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read --exclude {}", path.display()))?;
        let text = utf8_text(path, &bytes)?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let list = u32::try_from(self.lists.len()).expect("fewer than 4 billion lists");
        let (name, entries, unusable, without_effect) = if text.trim_start().starts_with('{') {
            let loaded = misp::load(path, text, list, &mut self.index)?;
            if loaded.kinds.is_empty() {
                // Its entries are for other kinds (e-mail addresses, phone numbers): the
                // list is not meant for this tool, no entry of it is lost.
                tracing::debug!(
                    "{}: warninglist `{}` applies to no IOC kind pushed here; ignored",
                    path.display(),
                    loaded.name
                );
                (loaded.name, 0, 0, 0)
            } else {
                (
                    loaded.name,
                    loaded.entries,
                    loaded.unusable,
                    loaded.without_effect,
                )
            }
        } else {
            let loaded = plain::load(path, text, list, &mut self.index)?;
            (file_name(path), loaded.entries, 0, loaded.without_effect)
        };
        // Two lists of one name (two `allow.txt`) are told apart by their path.
        let name = if self.lists.contains(&name) {
            format!("{name} ({})", path.display())
        } else {
            name
        };
        if unusable > 0 {
            tracing::warn!(
                "{}: {unusable} entries of the exclusion list `{name}` are not entries its type \
                 can match (a `hostname` list holds host names, a `string` list IOCs of its \
                 matching_attributes); they hold nothing back. Fix them in the list",
                path.display()
            );
        }
        if without_effect > 0 {
            tracing::info!(
                "{}: {without_effect} entries of the exclusion list `{name}` match nothing: they \
                 are IPv6, MD5 or other hashes, or values of IOC types the list does not apply \
                 to, and such IOCs are never pushed through it",
                path.display()
            );
        }
        if unusable + without_effect > 0 {
            self.unused.push((name.clone(), unusable + without_effect));
        }
        self.loaded.push((name.clone(), entries));
        self.lists.push(name);
        Ok(())
    }

    /// The `--exclude` lists holding entries that match nothing, with how many, in list
    /// order (a JSON object, like [`ExcludedCounts`]); see [`Exclusions::load`].
    pub fn unused(&self) -> ExcludedCounts {
        ExcludedCounts(self.unused.clone())
    }

    /// Adds the hold list at `path` (`--hold`, see [`hold`]), named `hold:<file name>`. A
    /// file that does not exist is an error (missing is not empty: create it empty), unless
    /// `missing_ok` (rollback, which writes it).
    pub fn load_hold(&mut self, path: &Path, missing_ok: bool) -> anyhow::Result<()> {
        let bytes = match std::fs::read(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && missing_ok => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
                "the hold list {} does not exist: create it empty (rollback appends to it), or \
                 remove --hold",
                path.display()
            ),
            read => read.with_context(|| format!("cannot read --hold {}", path.display()))?,
        };
        let text = utf8_text(path, &bytes)?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let list = u32::try_from(self.lists.len()).expect("fewer than 4 billion lists");
        let held = hold::load(path, text, list, &mut self.index)?;
        let name = format!("hold:{}", file_name(path));
        tracing::info!("never pushed again: {held} IOCs held by {name}");
        self.loaded.push((name.clone(), held));
        self.lists.push(name);
        Ok(())
    }

    /// List names by position, as [`Hit::list`] refers to them.
    pub fn lists(&self) -> &[String] {
        &self.lists
    }

    /// Whether nothing can be excluded.
    pub fn is_empty(&self) -> bool {
        !self.guard && self.index.is_empty()
    }

    /// The entry of the first list that matches `ioc`.
    pub fn check(&self, ioc: &Ioc) -> Option<Hit> {
        let host_rules = |host| {
            if self.guard {
                builtin::host_rule(host)
            } else {
                None
            }
        };
        let (origin, entry) = self.index.find(ioc, host_rules)?;
        let mut entry = entry.to_string();
        if let Some(note) = self.notes.get(&(origin.list, entry.clone())) {
            entry = format!("{entry} ({note})");
        }
        Some(Hit {
            list: origin.list as usize,
            line: (origin.line > 0).then_some(origin.line),
            entry,
        })
    }

    /// Whether a list matches `ioc`.
    pub fn excludes(&self, ioc: &Ioc) -> bool {
        self.check(ioc).is_some()
    }

    /// Takes the IOCs a list matches out of `desired`, and returns them with the entries
    /// that matched, in `desired`'s order.
    pub fn screen(&self, desired: &mut Vec<Desired>) -> Vec<Held> {
        if self.is_empty() {
            return Vec::new();
        }
        let mut held = Vec::new();
        desired.retain(|d| match self.check(&d.ioc) {
            None => true,
            Some(hit) => {
                held.push(Held {
                    ioc: d.ioc.clone(),
                    hit,
                });
                false
            }
        });
        held
    }

    /// `held` counted by list, in list order.
    pub fn count(&self, held: &[Held]) -> ExcludedCounts {
        let mut counts = vec![0usize; self.lists.len()];
        for h in held {
            counts[h.hit.list] += 1;
        }
        ExcludedCounts(
            self.lists
                .iter()
                .zip(counts)
                .filter(|(_, n)| *n > 0)
                .map(|(name, n)| (name.clone(), n))
                .collect(),
        )
    }

    /// One held IOC for reports: its list by name.
    pub fn describe(&self, held: &Held) -> Excluded {
        Excluded {
            kind: held.ioc.kind,
            content: held.ioc.value.clone(),
            list: self.lists[held.hit.list].clone(),
            line: held.hit.line,
            entry: held.hit.entry.clone(),
        }
    }
}

/// Excluded IOCs by list, in the order the lists were given (the guard's first); a JSON
/// object `{"builtin:private-ipv4": 3, "corp-allow.txt": 2}`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ExcludedCounts(pub Vec<(String, usize)>);

impl ExcludedCounts {
    pub fn total(&self) -> usize {
        self.0.iter().map(|(_, n)| n).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for ExcludedCounts {
    /// `builtin:private-ipv4 3, corp-allow.txt 2`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (name, n)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{name} {n}")?;
        }
        Ok(())
    }
}

impl Serialize for ExcludedCounts {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, n) in &self.0 {
            map.serialize_entry(name, n)?;
        }
        map.end()
    }
}

/// One excluded IOC, for dry runs: what, which list, which entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Excluded {
    #[serde(rename = "type")]
    pub kind: IocKind,
    pub content: String,
    pub list: String,
    /// The line of a plain list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    pub entry: String,
}

impl fmt::Display for Excluded {
    /// `corp-allow.txt line 3: corp.example`, `builtin:private-ipv4: 10.0.0.0/8`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{} line {line}: {}", self.list, self.entry),
            None => write!(f, "{}: {}", self.list, self.entry),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ScanAction;

    const MISP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/misp-warninglists");

    fn desired(value: &str) -> Desired {
        Desired {
            ioc: crate::text::detect(value).unwrap(),
            scan_action: ScanAction::Block,
            reason: String::new(),
            seen: chrono::Utc::now(),
        }
    }

    #[test]
    fn screen_counts_each_ioc_under_the_first_list_that_matches() {
        let dir = tempfile::tempdir().unwrap();
        let allow = dir.path().join("corp-allow.txt");
        std::fs::write(&allow, "corp.example\n10.0.0.0/8\n").unwrap();
        let exclusions = Exclusions::load(
            true,
            &[],
            &[allow, Path::new(MISP).join("public-dns-v4/list.json")],
        )
        .unwrap();
        let mut iocs: Vec<Desired> = [
            "10.1.1.1",
            "8.8.8.8",
            "www.corp.example",
            "co.uk",
            "evil.example",
            "http://8.8.8.8/x",
        ]
        .into_iter()
        .map(desired)
        .collect();
        let held = exclusions.screen(&mut iocs);
        let kept: Vec<String> = iocs.iter().map(|d| d.ioc.to_string()).collect();
        // The resolver list has no `url` attribute: the URL on 8.8.8.8 stays.
        assert_eq!(kept, ["domain evil.example", "url http://8.8.8.8/x"]);
        let described: Vec<String> = held
            .iter()
            .map(|h| format!("{} <- {}", h.ioc, exclusions.describe(h)))
            .collect();
        assert_eq!(
            described,
            [
                "ip 10.1.1.1 <- builtin:private-ipv4: 10.0.0.0/8",
                "ip 8.8.8.8 <- List of known IPv4 public DNS resolvers: 8.8.8.8",
                "domain www.corp.example <- corp-allow.txt line 1: corp.example",
                "domain co.uk <- builtin:public-suffix: co.uk (ICANN section)",
            ]
        );
        let counts = exclusions.count(&held);
        assert_eq!(
            counts.to_string(),
            "builtin:private-ipv4 1, builtin:public-suffix 1, corp-allow.txt 1, \
             List of known IPv4 public DNS resolvers 1"
        );
        assert_eq!(
            serde_json::to_string(&counts).unwrap(),
            r#"{"builtin:private-ipv4":1,"builtin:public-suffix":1,"corp-allow.txt":1,"List of known IPv4 public DNS resolvers":1}"#
        );
    }

    #[test]
    fn own_hosts_are_reported_with_the_option_that_named_them() {
        let own = [builtin::OwnHost {
            host: "apex.corp.example".into(),
            option: "--host".into(),
        }];
        let exclusions = Exclusions::load(true, &own, &[]).unwrap();
        let mut iocs: Vec<Desired> = [
            "https://apex.corp.example/x",
            "corp.example",
            "evil.example",
        ]
        .into_iter()
        .map(desired)
        .collect();
        let held = exclusions.screen(&mut iocs);
        let described: Vec<String> = held
            .iter()
            .map(|h| exclusions.describe(h).to_string())
            .collect();
        assert_eq!(
            described,
            [
                "builtin:own-infrastructure: apex.corp.example (--host)",
                "builtin:own-infrastructure: corp.example (parent domain of apex.corp.example (--host))",
            ]
        );
        assert_eq!(iocs.len(), 1);
        // `--no-default-exclusions` lifts it with the rest of the guard.
        let lifted = Exclusions::load(false, &own, &[]).unwrap();
        assert!(!lifted.excludes(&desired("apex.corp.example").ioc));
    }

    /// Entries that can match nothing are counted by list, never dropped in silence.
    #[test]
    fn entries_that_match_nothing_are_counted_by_list() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("a.txt");
        std::fs::write(&plain, "corp.example\n2001:db8::/32\n").unwrap();
        let made_up = dir.path().join("m.json");
        std::fs::write(
            &made_up,
            r#"{"name": "Made up", "type": "hostname", "matching_attributes": ["domain"],
                "list": ["*.x.example", "corona helden", "*.*.y.example"]}"#,
        )
        .unwrap();
        let clean = Path::new(MISP).join("rfc1918/list.json");
        let exclusions = Exclusions::load(true, &[], &[plain, made_up, clean]).unwrap();
        assert_eq!(
            serde_json::to_string(&exclusions.unused()).unwrap(),
            r#"{"a.txt":1,"Made up":2}"#
        );
        assert!(exclusions.excludes(&desired("a.x.example").ioc));
    }

    #[test]
    fn without_the_guard_only_the_lists_count() {
        let exclusions = Exclusions::load(false, &[], &[]).unwrap();
        assert!(exclusions.is_empty());
        for value in ["10.0.0.1", "co.uk", "localhost"] {
            assert!(!exclusions.excludes(&desired(value).ioc), "{value}");
        }
        let dir = tempfile::tempdir().unwrap();
        let allow = dir.path().join("a.txt");
        std::fs::write(&allow, "10.0.0.0/8\n").unwrap();
        let exclusions = Exclusions::load(false, &[], &[allow]).unwrap();
        let hit = exclusions.check(&desired("10.0.0.1").ioc).unwrap();
        assert_eq!(exclusions.lists()[hit.list], "a.txt");
        assert!(!exclusions.excludes(&desired("co.uk").ioc));
    }

    #[test]
    fn a_folder_means_its_json_and_txt_files() {
        let exclusions = Exclusions::load(false, &[], &[PathBuf::from(MISP)]);
        // schema.json at the top is no warninglist: the run stops, naming it.
        let err = format!("{:#}", exclusions.unwrap_err());
        assert!(err.contains("schema.json"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        for name in ["rfc1918", "public-dns-v4", "tranco10k"] {
            let to = dir.path().join("lists").join(name);
            std::fs::create_dir_all(&to).unwrap();
            std::fs::copy(
                Path::new(MISP).join(name).join("list.json"),
                to.join("list.json"),
            )
            .unwrap();
        }
        std::fs::write(dir.path().join("lists/README.md"), "# not a list").unwrap();
        std::fs::write(dir.path().join("lists/.hidden.txt"), "not a list").unwrap();
        std::fs::write(dir.path().join("lists/mine.txt"), "corp.example\n").unwrap();
        let exclusions = Exclusions::load(false, &[], &[dir.path().join("lists")]).unwrap();
        let names = &exclusions.lists()[builtin::names().len()..];
        assert_eq!(
            names,
            [
                "mine.txt",
                "List of known IPv4 public DNS resolvers",
                "List of RFC 1918 CIDR blocks",
                "Top 10K most-used sites from Tranco"
            ]
        );
        let empty = tempfile::tempdir().unwrap();
        std::fs::write(empty.path().join("notes.md"), "x").unwrap();
        let err = Exclusions::load(false, &[], &[empty.path().to_owned()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("without any .json"), "{err}");
        let err = format!(
            "{:#}",
            Exclusions::load(false, &[], &[dir.path().join("missing.txt")]).unwrap_err()
        );
        assert!(
            err.contains("cannot read --exclude") && err.contains("missing.txt"),
            "{err}"
        );
    }

    #[test]
    fn every_bundled_warninglist_loads() {
        for entry in std::fs::read_dir(MISP).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                let exclusions = Exclusions::load(false, &[], std::slice::from_ref(&path));
                assert!(
                    exclusions.is_ok(),
                    "{}: {:?}",
                    path.display(),
                    exclusions.err()
                );
            }
        }
    }
}
