//! The simulated OpenIOC filing cabinet: upload, list, delete, and extraction into the UDSO
//! list with Apex's rule (the chosen action under `OR`, `log` under `AND`). Apex documents
//! no value for a refused upload's `UploadedStatus` nor for a failed extraction's
//! `ExtractingStatus`; the simulator answers 0 for both.

use std::collections::HashMap;

use base64::Engine as _;
use chrono::Utc;
use serde_json::{Value, json};
use sha1::{Digest, Sha1};

use super::{ApexSim, CabinetFile, Stored};
use crate::apex::openioc::{MAX_FILE_BYTES, MAX_FILES_PER_UPLOAD};
use crate::apex::udso::{MAX_NOTES_CHARS, ScanAction};
use crate::ioc::IocKind;
use crate::openioc;

/// The most files the simulated cabinet sends a page.
const MAX_CABINET_PAGE: u64 = 4;

/// How Apex shows the time a file was added.
const ADDED_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

impl ApexSim {
    pub(super) fn upload(&self, body: &[u8]) -> axum::response::Response {
        let Ok(body) = serde_json::from_slice::<Value>(body) else {
            return self.error(400, 7, "body is not JSON");
        };
        let Some(files) = body["param"].as_array() else {
            return self.error(400, 7, "param must be a list of files");
        };
        if files.is_empty() || files.len() > MAX_FILES_PER_UPLOAD {
            return self.error(400, 7, "an upload holds 1 to 200 files");
        }
        let mut infos = Vec::new();
        let mut messages = Vec::new();
        for file in files {
            let name = file["FileName"].as_str().unwrap_or_default();
            let accepted = file["FileContentBase64"]
                .as_str()
                .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                .ok_or("the content is not base64")
                .and_then(|content| Ok((check_upload(&content)?, content)));
            match accepted {
                Ok((short_description, content)) => {
                    let hash_id = format!("{:x}", Sha1::digest(&content));
                    self.cabinet
                        .lock()
                        .unwrap()
                        .entry(hash_id.clone())
                        .or_insert_with(|| CabinetFile {
                            name: name.to_owned(),
                            content,
                            added: Utc::now().naive_utc(),
                            short_description,
                            extracted: false,
                        });
                    infos.push(
                        json!({"FileName": name, "FileHashID": hash_id, "UploadedStatus": self.number(1)}),
                    );
                }
                Err(why) => {
                    infos.push(json!({"FileName": name, "FileHashID": self.optional_text(""), "UploadedStatus": self.number(0)}));
                    messages.push(
                        json!({"MessageType": self.number(2), "Message": format!("{name}: {why}")}),
                    );
                }
            }
        }
        self.ok(json!({
            "UploadedResultInfoList": infos,
            "UploadedResultMessageList": messages,
        }))
    }

    pub(super) fn extract(&self, body: &[u8]) -> axum::response::Response {
        let Ok(body) = serde_json::from_slice::<Value>(body) else {
            return self.error(400, 7, "body is not JSON");
        };
        let param = &body["param"];
        let Some(ids) = param["FileHashIDList"].as_array() else {
            return self.error(400, 7, "FileHashIDList is required");
        };
        let mut actions = HashMap::new();
        for (key, kind) in [
            ("File", IocKind::FileSha1),
            ("IP", IocKind::Ip),
            ("URL", IocKind::Url),
            ("Domain", IocKind::Domain),
        ] {
            let action = match param["ScanType"][key].as_u64() {
                Some(1) => ScanAction::Log,
                Some(2) => ScanAction::Block,
                Some(3) if kind == IocKind::FileSha1 => ScanAction::Quarantine,
                _ => {
                    return self.error(
                        400,
                        7,
                        "ScanType needs File, IP, URL and Domain: 1, 2 or 3 (File only)",
                    );
                }
            };
            actions.insert(kind, action);
        }
        let mut results = Vec::new();
        for id in ids {
            let id = id.as_str().unwrap_or_default();
            let outcome = self.extract_one(id, &actions);
            results.push(match outcome {
                Ok(()) => {
                    json!({"FileHashID": id, "ExtractingStatus": self.number(1), "ExtractionErrorMessage": self.optional_text("")})
                }
                Err(why) => {
                    json!({"FileHashID": id, "ExtractingStatus": self.number(0), "ExtractionErrorMessage": why})
                }
            });
        }
        self.ok(Value::Array(results))
    }

    fn extract_one(&self, id: &str, actions: &HashMap<IocKind, ScanAction>) -> Result<(), String> {
        let Some(file) = self.cabinet.lock().unwrap().get(id).cloned() else {
            return Err("file not found".to_owned());
        };
        let text = std::str::from_utf8(&file.content).map_err(|_| "not UTF-8".to_owned())?;
        let document = openioc::read(text, ScanAction::Block).map_err(|e| e.to_string())?;
        let notes: String = format!("OpenIOC {}", file.name)
            .chars()
            .take(MAX_NOTES_CHARS)
            .collect();
        for item in &document.iocs {
            let action = match item.scan_action {
                ScanAction::Block => actions[&item.ioc.kind],
                other => other,
            };
            let stored = Stored {
                notes: notes.clone(),
                scan_action: action.as_str().to_owned(),
                expiration: None,
                listed_type: None,
            };
            self.store(item.ioc.kind, &item.ioc.value, stored)
                .map_err(|()| "Maximum exceeded".to_owned())?;
        }
        if let Some(f) = self.cabinet.lock().unwrap().get_mut(id) {
            f.extracted = true;
        }
        Ok(())
    }

    pub(super) fn filing_cabinet(
        &self,
        query: &HashMap<String, String>,
    ) -> axum::response::Response {
        let Some(param) = query
            .get("param")
            .and_then(|p| serde_json::from_str::<Value>(p).ok())
        else {
            return self.error(400, 7, "param must be JSON");
        };
        let (Some(size), Some(number)) = (param["PageSize"].as_u64(), param["PageNumber"].as_u64())
        else {
            return self.error(400, 7, "PageSize and PageNumber are required");
        };
        if size == 0 || number == 0 {
            return self.error(400, 7, "PageSize and PageNumber start at 1");
        }
        // Pages are cut at MAX_CABINET_PAGE whatever PageSize asks, so that clients must
        // page by TotalIOCCount, not by a page's length.
        let size = size.min(MAX_CABINET_PAGE);
        let skip = number.saturating_sub(1).saturating_mul(size);
        let cabinet = self.cabinet.lock().unwrap();
        // Newest first, as Apex's console shows it.
        let mut files: Vec<(&String, &CabinetFile)> = cabinet.iter().collect();
        files.sort_by(|a, b| b.1.added.cmp(&a.1.added).then(a.0.cmp(b.0)));
        let page: Vec<Value> = files
            .iter()
            .skip(usize::try_from(skip).unwrap_or(usize::MAX))
            .take(size as usize)
            .map(|(id, f)| {
                json!({
                    "FileHashID": id,
                    "FileName": f.name,
                    "FileAddedDatetime": f.added.format(ADDED_FORMAT).to_string(),
                    "ExtractingStatus": self.number(i64::from(f.extracted)),
                    "ShortDesc": self.optional_text(&f.short_description),
                    "UploadedBy": self.config.app_id,
                    "UploadedFrom": "Automation API",
                })
            })
            .collect();
        self.ok(json!({"FilingCabinet": page, "TotalIOCCount": self.number(files.len() as i64)}))
    }

    pub(super) fn delete_files(&self, query: &HashMap<String, String>) -> axum::response::Response {
        let Some(ids) = query
            .get("param")
            .and_then(|p| serde_json::from_str::<Value>(p).ok())
            .and_then(|p| p["FileHashIDList"].as_array().cloned())
        else {
            return self.error(400, 7, "param must hold a FileHashIDList");
        };
        let mut cabinet = self.cabinet.lock().unwrap();
        let results: Vec<Value> = ids
            .iter()
            .map(|id| {
                let id = id.as_str().unwrap_or_default();
                let status = if cabinet.remove(id).is_some() { 1 } else { -1 };
                json!({"FileHashID": id, "DeletedStatus": self.number(status)})
            })
            .collect();
        self.ok(Value::Array(results))
    }
}

/// Apex takes OpenIOC 1.0 files of at most 10 MB; it shows their short description.
fn check_upload(content: &[u8]) -> Result<String, &'static str> {
    if content.len() > MAX_FILE_BYTES {
        return Err("larger than 10 MB");
    }
    let text = std::str::from_utf8(content).map_err(|_| "not UTF-8")?;
    match openioc::read(text, ScanAction::Block) {
        Ok(document) if document.version == openioc::Version::V1_0 => {
            Ok(document.short_description.unwrap_or_default())
        }
        Ok(_) => Err("not an OpenIOC 1.0 file (Apex takes 1.0 only)"),
        Err(_) => Err("not a valid OpenIOC file"),
    }
}
