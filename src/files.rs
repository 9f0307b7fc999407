//! Local files. Reading with a cap: every file this tool reads whole (the config file, a CA
//! bundle, `--file` inputs, the simulator's TLS files) goes through [`read_capped`], so that
//! `--file /dev/zero`, a FIFO that never ends or a file far larger than any real input is an
//! error naming it, never memory exhaustion.
//!
//! Writing files only their owner reads: the files this tool creates for itself (the state
//! file, the log, the lock, the metrics file's temporary) are created `0600` on Unix and
//! opened without following a symbolic link at their path ([`open_private`]; `O_NOFOLLOW`),
//! so that a link planted there by someone who can write to the folder cannot make the job
//! write over another file; temporary files are created anew under an unpredictable name
//! ([`temporary_beside`]), and a folder is flushed after a rename into it ([`sync_dir`]).
//! Windows has no `O_NOFOLLOW`: there a link is refused by looking before opening, and the
//! files get the folder's access list.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::path::Path;

/// The most read from a `.config` file (a real one is a few KiB).
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;
/// The most read from a PEM file: a CA bundle (the system's whole bundle is about 200 KiB),
/// a certificate chain or a private key.
pub const MAX_PEM_BYTES: u64 = 4 << 20;
/// The most read from one `--file` of `--source file` (a STIX bundle or a plain list): far
/// more than the 10,000 entries a type Apex holds, in any format.
pub const MAX_INPUT_FILE_BYTES: u64 = 64 << 20;

/// A size for a message: `64 MiB`, or the exact number of bytes when it is not whole MiB.
pub fn describe_size(bytes: u64) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

/// The whole of `path`, at most `cap` bytes. A regular file whose size is over the cap is
/// refused before a byte is read; anything else (a device, a pipe, a file that grows) is read
/// to at most `cap + 1` bytes. The error of a file over the cap has the kind
/// [`io::ErrorKind::FileTooLarge`] and says the cap; callers add which file and option.
pub fn read_capped(path: &Path, cap: u64) -> io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    let metadata = file.metadata()?;
    let too_large = || {
        io::Error::new(
            io::ErrorKind::FileTooLarge,
            format!(
                "larger than {}, the most this tool reads from such a file",
                describe_size(cap)
            ),
        )
    };
    if metadata.is_file() && metadata.len() > cap {
        return Err(too_large());
    }
    let expected = if metadata.is_file() {
        metadata.len().min(cap)
    } else {
        0
    };
    let mut bytes = Vec::with_capacity(usize::try_from(expected).unwrap_or(0));
    file.take(cap.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        return Err(too_large());
    }
    Ok(bytes)
}

/// [`read_capped`] as UTF-8 text (a byte-order mark is kept for the caller to strip); an
/// error names the first line that is not UTF-8.
pub fn read_text_capped(path: &Path, cap: u64) -> io::Result<String> {
    String::from_utf8(read_capped(path, cap)?).map_err(|e| {
        let line = first_non_utf8_line(e.as_bytes(), e.utf8_error());
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("not UTF-8 text at line {line}"),
        )
    })
}

/// The line (from 1) of `bytes` where `error`, their UTF-8 error, is.
pub fn first_non_utf8_line(bytes: &[u8], error: std::str::Utf8Error) -> usize {
    bytes[..error.valid_up_to()]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The error for a symbolic link where this tool creates or writes a file of its own; the
/// caller names the path.
fn symlink_refused() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "it is a symbolic link, which this tool does not follow for a file it writes \
         (a link planted there could make it write over another file); remove the link, or name a plain file",
    )
}

/// Refuses a symbolic link at `path` (the error says so; the caller names the path). No
/// file there, or a plain one, is fine.
pub fn refuse_symlink(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => Err(symlink_refused()),
        _ => Ok(()),
    }
}

/// `options` for a file only its owner reads: created `0600` and opened without following a
/// symbolic link (`O_NOFOLLOW`) on Unix.
pub fn private(options: &mut OpenOptions) -> &mut OpenOptions {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    options
}

/// Opens `path` with `options` made [`private`]. A symbolic link at `path` is refused (on
/// Unix by `O_NOFOLLOW` itself, which fails with `ELOOP`; elsewhere by looking first), with
/// an error that says so.
pub fn open_private(path: &Path, options: &mut OpenOptions) -> io::Result<File> {
    if cfg!(not(unix)) {
        refuse_symlink(path)?;
    }
    private(options).open(path).map_err(|e| {
        // O_NOFOLLOW's ELOOP (EMLINK on some BSDs): say what it means.
        if refuse_symlink(path).is_err() {
            symlink_refused()
        } else {
            e
        }
    })
}

/// A new temporary file in the folder of `path`, named `.<name>.<random>.tmp` (hidden, and
/// not ending as `path` does: no reader of the folder takes it for the real file): created
/// anew (`O_EXCL`, so never an existing file or a link), under a name nobody can predict,
/// `0600` on Unix (the `tempfile` crate). Removed when dropped, unless kept.
pub fn temporary_beside(path: &Path) -> io::Result<tempfile::NamedTempFile> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path names no file"))?;
    tempfile::Builder::new()
        .prefix(&format!(".{}.", name.to_string_lossy()))
        .suffix(".tmp")
        .tempfile_in(folder_of(path))
}

/// The folder `path` is in (`.` for a bare file name).
pub fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// Removes the temporaries [`temporary_beside`] made for `path` (and the `.<name>.<pid>.tmp`
/// of earlier versions) that are older than `age`: what a run that was killed while writing
/// left behind. Younger ones may be another run's, being written. Returns how many were
/// removed; a file that cannot be removed is left for the next run.
pub fn sweep_temporaries(path: &Path, age: std::time::Duration) -> usize {
    let Some(name) = path.file_name() else {
        return 0;
    };
    let prefix = format!(".{}.", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(folder_of(path)) else {
        return 0;
    };
    let now = std::time::SystemTime::now();
    let mut removed = 0;
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let file_name = file_name.to_string_lossy();
        let Some(middle) = file_name
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix(".tmp"))
        else {
            continue;
        };
        // `tempfile`'s random part, or a pid: letters and digits only.
        if middle.is_empty() || !middle.chars().all(|c| c.is_ascii_alphanumeric()) {
            continue;
        }
        let Ok(metadata) = entry.metadata() else {
            continue;
        };
        let old = metadata
            .modified()
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .is_some_and(|elapsed| elapsed > age);
        if metadata.is_file() && old && std::fs::remove_file(entry.path()).is_ok() {
            tracing::debug!(
                "removed {}, left by a run that stopped while writing it",
                entry.path().display()
            );
            removed += 1;
        }
    }
    removed
}

/// Flushes `dir` itself to disk, so that a rename into it survives a power loss (on Unix;
/// elsewhere a no-op: Windows flushes the folder's metadata with the file).
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn private_files_are_0600_and_links_are_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("own.lock");
        open_private(&path, OpenOptions::new().create(true).append(true)).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        let link = dir.path().join("planted.log");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        let e = open_private(&link, OpenOptions::new().create(true).append(true)).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert!(refuse_symlink(&link).is_err() && refuse_symlink(&path).is_ok());
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
    }

    #[test]
    fn temporaries_are_new_unpredictable_and_swept_when_stale() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("job.prom");
        let a = temporary_beside(&path).unwrap();
        let b = temporary_beside(&path).unwrap();
        assert_ne!(a.path(), b.path());
        let name = a.path().file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.starts_with(".job.prom.") && name.ends_with(".tmp"),
            "{name}"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = a.as_file().metadata().unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let (_, stale) = a.keep().unwrap();
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(120);
        File::options()
            .write(true)
            .open(&stale)
            .unwrap()
            .set_modified(old)
            .unwrap();
        // Not this job's: another file's temporary, and a file that only looks alike.
        let other = dir.path().join(".other.prom.abc123.tmp");
        std::fs::write(&other, "x").unwrap();
        File::options()
            .write(true)
            .open(&other)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let lookalike = dir.path().join(".job.prom.a-b.tmp");
        std::fs::write(&lookalike, "x").unwrap();
        File::options()
            .write(true)
            .open(&lookalike)
            .unwrap()
            .set_modified(old)
            .unwrap();
        assert_eq!(
            sweep_temporaries(&path, std::time::Duration::from_secs(60)),
            1
        );
        assert!(!stale.exists() && b.path().exists() && other.exists() && lookalike.exists());
    }

    #[test]
    fn a_file_at_the_cap_is_read_and_one_byte_more_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, vec![b'a'; 1000]).unwrap();
        assert_eq!(read_capped(&path, 1000).unwrap().len(), 1000);
        let e = read_capped(&path, 999).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::FileTooLarge);
        assert!(e.to_string().contains("larger than 999 bytes"), "{e}");
    }

    #[test]
    fn a_sparse_file_over_the_cap_is_refused_without_reading_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sparse");
        let file = std::fs::File::create(&path).unwrap();
        file.set_len(MAX_INPUT_FILE_BYTES + 1).unwrap();
        let e = read_capped(&path, MAX_INPUT_FILE_BYTES).unwrap_err();
        assert!(e.to_string().contains("larger than 64 MiB"), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn a_device_without_end_is_cut_at_the_cap() {
        let e = read_capped(Path::new("/dev/zero"), 1 << 20).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::FileTooLarge);
        assert!(e.to_string().contains("1 MiB"), "{e}");
    }

    #[test]
    fn text_must_be_utf8() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t");
        std::fs::write(&path, b"ok\n\xff").unwrap();
        let e = read_text_capped(&path, 100).unwrap_err();
        assert!(e.to_string().contains("not UTF-8 text at line 2"), "{e}");
        std::fs::write(&path, "ünï").unwrap();
        assert_eq!(read_text_capped(&path, 100).unwrap(), "ünï");
    }
}
