//! OpenIOC files: the files some `--file`s name, and a file's bytes read into a
//! [`Document`], with errors that name the file.

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};

use super::{Document, MAX_FILE_BYTES, read, too_large};
use crate::model::ScanAction;
use crate::text::utf8_text;

/// The files some `--file`s name: each file itself, and each folder's `*.ioc` and `*.ioc.xml`
/// files (not recursively; in name order; the extension matched in any case). A folder
/// without any is an error.
pub fn expand_paths(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        files.extend(files_named(path)?);
    }
    Ok(files)
}

fn files_named(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if !path.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    let mut files = Vec::new();
    let entries = std::fs::read_dir(path)
        .with_context(|| format!("cannot read --file {}", path.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot read --file {}", path.display()))?;
        let name = entry.file_name().to_string_lossy().to_lowercase();
        if (name.ends_with(".ioc") || name.ends_with(".ioc.xml")) && entry.path().is_file() {
            files.push(entry.path());
        }
    }
    if files.is_empty() {
        bail!(
            "--file {} is a folder with no *.ioc or *.ioc.xml files",
            path.display()
        );
    }
    files.sort();
    Ok(files)
}

/// Reads one file (its size checked before it is read): the document and the file's bytes.
pub fn read_file(path: &Path, chosen: ScanAction) -> anyhow::Result<(Document, Vec<u8>)> {
    let cannot_read = || format!("cannot read --file {}", path.display());
    let size = std::fs::metadata(path).with_context(cannot_read)?.len();
    if size > MAX_FILE_BYTES as u64 {
        bail!("{}: {}", path.display(), too_large(size));
    }
    // Capped too: a device or a pipe has no size to check first.
    let bytes = crate::files::read_capped(path, MAX_FILE_BYTES as u64).with_context(cannot_read)?;
    Ok((read_bytes(path, &bytes, chosen)?, bytes))
}

/// [`read`] for a file's bytes: they must be UTF-8; errors name `path:line[:column]`.
pub fn read_bytes(path: &Path, bytes: &[u8], chosen: ScanAction) -> anyhow::Result<Document> {
    if bytes.len() > MAX_FILE_BYTES {
        bail!("{}: {}", path.display(), too_large(bytes.len() as u64));
    }
    let text = utf8_text(path, bytes)?;
    read(text, chosen)
        .map_err(|e| anyhow!("{}:{}:{}: {}", path.display(), e.line, e.column, e.message))
}
