//! `apex-ioc-sync openioc upload|list|delete`: Apex Central's own OpenIOC path. The files go
//! to Apex's filing cabinet and Apex extracts them; nothing here edits the UDSO list itself.

use std::path::{Path, PathBuf};

use anyhow::anyhow;
use serde::Serialize;

use super::table::aligned;
use crate::apex::client::ApexClient;
use crate::apex::openioc::{
    CabinetFile, DeletedFile, Extraction, MAX_FILES_PER_UPLOAD, UploadFile, UploadMessage, Uploaded,
};
use crate::exit::{ExitCode, Failure};
use crate::model::ScanAction;
use crate::openioc;
use crate::output::settle;
use crate::text::file_name;
use crate::{out, outln};

#[derive(Debug, Default, Serialize)]
struct UploadReport {
    uploaded: Vec<Uploaded>,
    messages: Vec<UploadMessage>,
    /// With `--extract`: how Apex extracted each uploaded file.
    #[serde(skip_serializing_if = "Option::is_none")]
    extracted: Option<Vec<Extraction>>,
}

/// The most file content one upload request carries (with the 200 files Apex takes): a
/// bound of this tool's own on the memory an upload holds, since each batch is read and
/// base64-encoded only when it is sent. A file larger than this (Apex takes up to 10 MB)
/// goes alone.
pub const MAX_BATCH_BYTES: u64 = 64 << 20;

/// A file checked for upload: where it is, and its size then.
#[derive(Debug, Clone)]
struct Checked {
    path: PathBuf,
    size: u64,
}

/// Reads and checks every file before anything is sent: Apex takes OpenIOC 1.0 files of at
/// most 10 MB, so a file it would refuse is named now, and nothing is uploaded. Only the
/// paths and sizes are kept; the content is read again, one batch at a time, when it is sent.
fn check_all(paths: &[PathBuf]) -> anyhow::Result<Vec<Checked>> {
    let mut files = Vec::new();
    for path in openioc::expand_paths(paths)? {
        let bytes = read_for_upload(&path)?;
        files.push(Checked {
            path,
            size: bytes.len() as u64,
        });
    }
    Ok(files)
}

/// One file's bytes, checked as Apex would: at most 10 MB, OpenIOC 1.0.
fn read_for_upload(path: &Path) -> anyhow::Result<Vec<u8>> {
    // At most 10 MB, as Apex takes them, or an error naming the file.
    let (document, bytes) = openioc::read_file(path, ScanAction::Block)?;
    if document.version != openioc::Version::V1_0 {
        anyhow::bail!(
            "{} is OpenIOC 1.1, and Apex Central takes OpenIOC 1.0 only; \
             sync it with --source openioc --file instead",
            path.display()
        );
    }
    Ok(bytes)
}

/// The files in upload requests: at most [`MAX_FILES_PER_UPLOAD`] files and
/// [`MAX_BATCH_BYTES`] of content each (a larger file alone), in order.
fn batches<T>(files: &[T], size: impl Fn(&T) -> u64) -> Vec<&[T]> {
    let mut batches = Vec::new();
    let (mut start, mut bytes) = (0, 0u64);
    for (i, file) in files.iter().enumerate() {
        let n = i - start;
        if n > 0 && (n == MAX_FILES_PER_UPLOAD || bytes + size(file) > MAX_BATCH_BYTES) {
            batches.push(&files[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += size(file);
    }
    if start < files.len() {
        batches.push(&files[start..]);
    }
    batches
}

/// Uploads the files (a batch to a request, read and encoded only when it is sent), and with
/// `extract` has Apex extract them into the UDSO list with `action` for every type.
pub async fn upload(
    client: &ApexClient,
    paths: &[PathBuf],
    extract: bool,
    action: ScanAction,
    json: bool,
) -> Result<ExitCode, Failure> {
    let files = check_all(paths)
        .map_err(|e| Failure::new(ExitCode::Failed, e.context("nothing was uploaded")))?;
    let mut report = UploadReport::default();
    // A failed call stops the work, but what was done before it is still reported.
    let mut stopped: Option<anyhow::Error> = None;
    for batch in batches(&files, |f| f.size) {
        // A file that changed since it was checked (and is now refused) stops the upload.
        let encoded: anyhow::Result<Vec<UploadFile>> = batch
            .iter()
            .map(|f| {
                let bytes = read_for_upload(&f.path)
                    .map_err(|e| e.context("the file changed since it was checked"))?;
                Ok(UploadFile::new(&file_name(&f.path), &bytes))
            })
            .collect();
        let result = match encoded {
            Ok(encoded) => client.upload_openioc(&encoded).await.map_err(Into::into),
            Err(e) => Err(e),
        };
        match result {
            Ok(result) => {
                report.uploaded.extend(result.files);
                report.messages.extend(result.messages);
            }
            Err(e) => {
                stopped = Some(e);
                break;
            }
        }
    }
    let ids: Vec<String> = report
        .uploaded
        .iter()
        .filter(|u| u.ok())
        .map(|u| u.hash_id.clone())
        .collect();
    if extract && stopped.is_none() {
        let mut extracted = Vec::new();
        for batch in ids.chunks(MAX_FILES_PER_UPLOAD) {
            match client.extract_openioc(batch, action).await {
                Ok(result) => extracted.extend(result),
                Err(e) => {
                    stopped = Some(e.into());
                    break;
                }
            }
        }
        report.extracted = Some(extracted);
    }
    if let (Some(e), true) = (&stopped, report.uploaded.is_empty()) {
        return Err(Failure::new(
            ExitCode::Failed,
            anyhow!("{e:#}").context("nothing was uploaded"),
        ));
    }
    let printed = if json {
        outln!("{}", serde_json::to_string_pretty(&report)?)
    } else {
        out!("{}", upload_table(&report, action))
    };
    let outcome = if let Some(e) = stopped {
        Err(Failure::new(
            ExitCode::PartialWrites,
            anyhow!("{e:#}").context(format!(
                "stopped after {} of {} files were uploaded (listed above)",
                ids.len(),
                files.len()
            )),
        ))
    } else {
        // Every file uploaded (Apex may answer for fewer than were sent), and extracted if
        // asked.
        let extracted_all = report.extracted.as_ref().is_none_or(|extracted| {
            ids.iter()
                .all(|id| extracted.iter().any(|e| &e.hash_id == id && e.ok()))
        });
        Ok(if ids.len() == files.len() && extracted_all {
            ExitCode::Ok
        } else {
            ExitCode::PartialWrites
        })
    };
    settle(printed, outcome)
}

fn upload_table(report: &UploadReport, action: ScanAction) -> String {
    let extraction = |id: &str| -> String {
        let Some(extracted) = &report.extracted else {
            return "-".to_owned();
        };
        match extracted.iter().find(|e| e.hash_id == id) {
            Some(e) if e.ok() => format!("extracted ({action} under OR, log under AND)"),
            Some(e) => format!(
                "failed (status {}): {}",
                e.status,
                e.error.as_deref().unwrap_or("no message")
            ),
            None if id.is_empty() => "-".to_owned(),
            None => "not reported by Apex Central".to_owned(),
        }
    };
    let rows: Vec<[String; 4]> = report
        .uploaded
        .iter()
        .map(|u| {
            [
                u.name.clone(),
                if u.hash_id.is_empty() {
                    "-".to_owned()
                } else {
                    u.hash_id.clone()
                },
                if u.ok() {
                    "uploaded".to_owned()
                } else {
                    format!("refused (status {})", u.status)
                },
                extraction(&u.hash_id),
            ]
        })
        .collect();
    let mut out = aligned(["FILE", "FILE HASH ID", "UPLOAD", "EXTRACTION"], &rows, &[]);
    for m in &report.messages {
        out.push_str(&format!("Apex Central: {}\n", m.message));
    }
    let ok = report.uploaded.iter().filter(|u| u.ok()).count();
    out.push_str(&format!("{ok} of {} files uploaded", report.uploaded.len()));
    if let Some(extracted) = &report.extracted {
        let done = extracted.iter().filter(|e| e.ok()).count();
        out.push_str(&format!(", {done} extracted into the UDSO list"));
    }
    out.push('\n');
    out
}

/// The filing cabinet, as a table or as JSON.
pub async fn list(client: &ApexClient, json: bool) -> Result<ExitCode, Failure> {
    let files = client.list_openioc().await?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&files)?)?;
    } else {
        out!("{}", cabinet_table(&files))?;
    }
    Ok(ExitCode::Ok)
}

fn cabinet_table(files: &[CabinetFile]) -> String {
    const MAX_NAME_WIDTH: usize = 50;
    let rows: Vec<[String; 5]> = files
        .iter()
        .map(|f| {
            [
                f.hash_id.clone(),
                f.added.clone(),
                match f.extracting_status {
                    Some(1) => "yes",
                    Some(_) => "no",
                    None => "unknown",
                }
                .to_owned(),
                f.name.clone(),
                f.short_description.clone().unwrap_or_default(),
            ]
        })
        .collect();
    let mut out = aligned(
        ["FILE HASH ID", "ADDED", "EXTRACTED", "NAME", "DESCRIPTION"],
        &rows,
        &[(3, MAX_NAME_WIDTH)],
    );
    out.push_str(&format!("{} files in the filing cabinet\n", files.len()));
    out
}

/// Deletes files from the filing cabinet; an id that is not there is reported (exit 4).
pub async fn delete(
    client: &ApexClient,
    hash_ids: &[String],
    json: bool,
) -> Result<ExitCode, Failure> {
    if let Some(blank) = hash_ids.iter().find(|id| id.trim().is_empty()) {
        return Err(Failure::usage(anyhow!(
            "`{blank}` is not a FileHashID; `openioc list` shows them"
        )));
    }
    let deleted: Vec<DeletedFile> = client.delete_openioc(hash_ids).await?;
    let printed = if json {
        outln!("{}", serde_json::to_string_pretty(&deleted)?)
    } else {
        let rows: Vec<[String; 2]> = hash_ids
            .iter()
            .map(|id| {
                let result = match deleted.iter().find(|d| &d.hash_id == id).map(|d| d.status) {
                    Some(1) => "deleted".to_owned(),
                    Some(-1) => "not in the filing cabinet".to_owned(),
                    Some(other) => format!("not deleted (status {other})"),
                    None => "not reported by Apex Central".to_owned(),
                };
                [id.clone(), result]
            })
            .collect();
        out!("{}", aligned(["FILE HASH ID", "RESULT"], &rows, &[]))
    };
    let all_deleted = hash_ids
        .iter()
        .all(|id| deleted.iter().any(|d| &d.hash_id == id && d.status == 1));
    settle(
        printed,
        Ok(if all_deleted {
            ExitCode::Ok
        } else {
            ExitCode::PartialWrites
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_hold_at_most_200_files_and_64_mib() {
        let small = vec![1u64; 401];
        let sizes: Vec<usize> = batches(&small, |s| *s).iter().map(|b| b.len()).collect();
        assert_eq!(sizes, [200, 200, 1]);
        // Ten files of 10 MB: six fit in 64 MiB.
        let large = vec![10_000_000u64; 10];
        let sizes: Vec<usize> = batches(&large, |s| *s).iter().map(|b| b.len()).collect();
        assert_eq!(sizes, [6, 4]);
        // A file over the batch size goes alone.
        let huge = [1, MAX_BATCH_BYTES + 1, 1];
        let sizes: Vec<usize> = batches(&huge, |s| *s).iter().map(|b| b.len()).collect();
        assert_eq!(sizes, [1, 1, 1]);
        assert!(batches(&[] as &[u64], |s| *s).is_empty());
    }
}
