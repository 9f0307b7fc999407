//! Hold lists (`--hold PATH`): IOCs a job must not push again until their line is removed,
//! one IOC a line, `#` comments, blank lines ignored. Unlike an exclusion list's entries,
//! which cover what lies under them (a domain its subdomains and URLs, a CIDR block its
//! addresses), a held IOC matches exactly that IOC, in its normal form: holding
//! `evil.example` holds neither `www.evil.example` nor `http://evil.example/`.
//!
//! `rollback` appends what it removes, under a comment naming the runs, so that a bad
//! feed stays rolled back ([`append`]); lines are read with the plain IOC list's reader
//! (defanged values refanged, the type detected), so a person can add lines by hand too.

use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;

use super::index::{Index, Origin};
use crate::ioc::Ioc;
use crate::text::{detect, refang, strip_comment};

/// Loads the IOCs of `text` (the hold list at `path`) into `index` as list `list`; returns
/// how many. A line that is no IOC is an error naming the file and the line.
pub fn load(path: &Path, text: &str, list: u32, index: &mut Index) -> anyhow::Result<usize> {
    let mut held = 0;
    for (at, raw) in text.lines().enumerate() {
        let value = strip_comment(raw).trim();
        if value.is_empty() {
            continue;
        }
        let line = at + 1;
        let ioc = detect(&refang(value)).map_err(|why| {
            anyhow::anyhow!(
                "{}:{line}: `{value}` is not an IOC ({why}); a hold list holds one IOC a line \
                 (an IPv4 address, a domain, a URL, a SHA-1 or SHA-256), as rollback writes them",
                path.display()
            )
        })?;
        let origin = Origin {
            list,
            line: u32::try_from(line).unwrap_or(u32::MAX),
        };
        index.add_exact(ioc, origin);
        held += 1;
    }
    Ok(held)
}

/// Appends `iocs` to the hold list at `path` (made if missing) under a `# ` comment line
/// saying why, in one write, flushed to disk.
pub fn append(path: &Path, why: &str, iocs: &[Ioc]) -> anyhow::Result<()> {
    let mut text = format!("# {why}\n");
    for ioc in iocs {
        text.push_str(&ioc.value);
        text.push('\n');
    }
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()
    };
    write().with_context(|| {
        format!(
            "cannot append to the hold list {} (check that this account may write it)",
            path.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ioc::IocKind;
    use crate::policy::Exclusions;

    #[test]
    fn held_iocs_match_exactly_and_appends_are_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hold.txt");
        let ioc = |kind, value| Ioc::new(kind, value).unwrap();
        append(
            &path,
            "rollback of run x",
            &[
                ioc(IocKind::Domain, "evil.example"),
                ioc(IocKind::Url, "http://bad.example/a?b=1"),
            ],
        )
        .unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"10[.]0[.]0[.]9  # by hand, defanged\n")
            .unwrap();
        let mut e = Exclusions::none();
        e.load_hold(&path, false).unwrap();
        let hit = e.check(&ioc(IocKind::Domain, "evil.example")).unwrap();
        assert_eq!((hit.line, hit.entry.as_str()), (Some(2), "evil.example"));
        assert!(e.excludes(&ioc(IocKind::Url, "http://bad.example/a?b=1")));
        assert!(e.excludes(&ioc(IocKind::Ip, "10.0.0.9")));
        // Exactly: nothing under the held domain, no other URL.
        assert!(!e.excludes(&ioc(IocKind::Domain, "www.evil.example")));
        assert!(!e.excludes(&ioc(IocKind::Url, "http://evil.example/")));
        assert!(!e.excludes(&ioc(IocKind::Url, "http://bad.example/a")));
        assert_eq!(e.lists().last().unwrap(), "hold:hold.txt");
    }

    #[test]
    fn a_missing_hold_list_is_an_error_unless_rollback_will_write_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hold.txt");
        let err = format!(
            "{:#}",
            Exclusions::none().load_hold(&path, false).unwrap_err()
        );
        assert!(
            err.contains("hold.txt") && err.contains("create it empty"),
            "{err}"
        );
        Exclusions::none().load_hold(&path, true).unwrap();
        // An empty one holds nothing, and is no error.
        std::fs::write(&path, "# nothing held\n").unwrap();
        let mut e = Exclusions::none();
        e.load_hold(&path, false).unwrap();
        assert!(e.is_empty());
        std::fs::write(&path, "evil.example\nnot an ioc\n").unwrap();
        let err = format!(
            "{:#}",
            Exclusions::none().load_hold(&path, false).unwrap_err()
        );
        assert!(
            err.contains("hold.txt:2") && err.contains("`not an ioc`"),
            "{err}"
        );
    }
}
