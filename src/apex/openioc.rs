//! Apex Central's own OpenIOC API: upload files to its filing cabinet, have it extract them
//! into the UDSO list, list the cabinet, delete files from it. Apex does the extraction, so
//! the entries it makes carry no ownership tag of ours and our sync jobs never touch them.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::client::{ApexClient, ApexError, decode, int_or_string, opt_text, shown_int, text};
use crate::model::ScanAction;

pub const FILE_PATH: &str = "/WebApp/IOCBackend/OpenIOCResource/File";
pub const EXTRACTION_PATH: &str =
    "/WebApp/SuspiciousObjectsBackend/UserDefinedSOResource/OpenIOCExtraction";
pub const FILING_CABINET_PATH: &str = "/WebApp/IOCBackend/OpenIOCResource/FilingCabinet";
/// Apex takes files of at most 10 MB (read as 10,000,000 bytes, the stricter reading) ...
pub const MAX_FILE_BYTES: usize = 10_000_000;
/// ... and at most 200 files in one upload.
pub const MAX_FILES_PER_UPLOAD: usize = 200;
/// Files asked for per page of the filing cabinet.
pub const CABINET_PAGE_SIZE: usize = 100;
/// A cabinet that keeps sending pages past this many files is not trusted.
const MAX_CABINET_PAGES: usize = 10_000;

/// One file to upload.
#[derive(Debug, Clone, Serialize)]
pub struct UploadFile {
    #[serde(rename = "FileName")]
    pub name: String,
    #[serde(rename = "FileContentBase64")]
    pub content_base64: String,
}

impl UploadFile {
    pub fn new(name: &str, content: &[u8]) -> Self {
        use base64::Engine as _;
        UploadFile {
            name: name.to_owned(),
            content_base64: base64::engine::general_purpose::STANDARD.encode(content),
        }
    }
}

/// How Apex took one uploaded file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Uploaded {
    #[serde(rename = "FileName", default, deserialize_with = "text")]
    pub name: String,
    /// Empty when Apex refused the file.
    #[serde(rename = "FileHashID", default, deserialize_with = "text")]
    pub hash_id: String,
    /// 1: uploaded. Apex documents no other values; we show the number.
    #[serde(rename = "UploadedStatus", deserialize_with = "int_or_string")]
    pub status: i64,
}

impl Uploaded {
    pub fn ok(&self) -> bool {
        self.status == 1 && !self.hash_id.is_empty()
    }
}

/// A message Apex adds to an upload's answer (why a file was refused, say).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadMessage {
    /// Only shown (in `--json`).
    #[serde(rename = "MessageType", default, deserialize_with = "shown_int")]
    pub kind: Option<i64>,
    #[serde(rename = "Message", default, deserialize_with = "text")]
    pub message: String,
}

/// An upload's answer. A missing or `null` file list reads as empty: every file sent and not
/// in it is reported as not uploaded (exit 4), so nothing is taken for done.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadResult {
    #[serde(
        rename = "UploadedResultInfoList",
        default,
        deserialize_with = "null_as_empty"
    )]
    pub files: Vec<Uploaded>,
    #[serde(
        rename = "UploadedResultMessageList",
        default,
        deserialize_with = "null_as_empty"
    )]
    pub messages: Vec<UploadMessage>,
}

/// A list that may be `null`.
fn null_as_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// How Apex extracted one file into the UDSO list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extraction {
    #[serde(rename = "FileHashID", deserialize_with = "text")]
    pub hash_id: String,
    /// 1: extracted.
    #[serde(rename = "ExtractingStatus", deserialize_with = "int_or_string")]
    pub status: i64,
    #[serde(
        rename = "ExtractionErrorMessage",
        default,
        deserialize_with = "opt_text"
    )]
    pub error: Option<String>,
}

impl Extraction {
    pub fn ok(&self) -> bool {
        self.status == 1
    }
}

/// A file in the filing cabinet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CabinetFile {
    #[serde(rename = "FileHashID", deserialize_with = "text")]
    pub hash_id: String,
    #[serde(rename = "FileName", default, deserialize_with = "text")]
    pub name: String,
    #[serde(rename = "FileAddedDatetime", default, deserialize_with = "text")]
    pub added: String,
    /// 1: extracted into the UDSO list; anything else: not (yet). Only shown: `None` when
    /// Apex sends something that is not a number.
    #[serde(rename = "ExtractingStatus", default, deserialize_with = "shown_int")]
    pub extracting_status: Option<i64>,
    #[serde(rename = "ShortDesc", default, deserialize_with = "opt_text")]
    pub short_description: Option<String>,
    #[serde(rename = "UploadedBy", default, deserialize_with = "opt_text")]
    pub uploaded_by: Option<String>,
    #[serde(rename = "UploadedFrom", default, deserialize_with = "opt_text")]
    pub uploaded_from: Option<String>,
}

/// One page of the filing cabinet. `FilingCabinet` is required: a page without it is an
/// error, not an empty cabinet.
#[derive(Debug, Deserialize)]
struct CabinetPage {
    #[serde(rename = "FilingCabinet")]
    files: Vec<CabinetFile>,
    #[serde(rename = "TotalIOCCount", deserialize_with = "int_or_string")]
    total: i64,
}

/// What a delete did to one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeletedFile {
    #[serde(rename = "FileHashID", deserialize_with = "text")]
    pub hash_id: String,
    /// 1: deleted; -1: not in the cabinet.
    #[serde(rename = "DeletedStatus", deserialize_with = "int_or_string")]
    pub status: i64,
}

/// Apex's number for a scan action in `ScanType`.
fn scan_type_code(action: ScanAction) -> u8 {
    match action {
        ScanAction::Log => 1,
        ScanAction::Block => 2,
        ScanAction::Quarantine => 3,
    }
}

/// `{"param": ...}`, the wrapper of every request body.
#[derive(Serialize)]
struct Param<T> {
    param: T,
}

/// Fields in the order of Apex's documentation (`json!` would sort them), so that the
/// body, and the checksum over it, are the documented ones.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ExtractionParam<'a> {
    #[serde(rename = "FileHashIDList")]
    file_hash_id_list: &'a [String],
    scan_type: ScanType,
}

#[derive(Serialize)]
struct ScanType {
    #[serde(rename = "File")]
    file: u8,
    #[serde(rename = "IP")]
    ip: u8,
    #[serde(rename = "URL")]
    url: u8,
    #[serde(rename = "Domain")]
    domain: u8,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct CabinetQuery {
    #[serde(rename = "FileHashIDList")]
    file_hash_id_list: [String; 0],
    fuzzy_match_string: &'static str,
    page_size: usize,
    page_number: usize,
    sorting_column: u8,
    sorting_direction: u8,
}

/// The extraction request body: one scan action for every type.
pub fn extraction_body(hash_ids: &[String], action: ScanAction) -> String {
    let n = scan_type_code(action);
    serde_json::to_string(&Param {
        param: ExtractionParam {
            file_hash_id_list: hash_ids,
            scan_type: ScanType {
                file: n,
                ip: n,
                url: n,
                domain: n,
            },
        },
    })
    .expect("JSON serialises")
}

/// The `param` of one filing cabinet page, sorted as in Apex's documented example.
pub fn cabinet_query(page_number: usize, page_size: usize) -> String {
    serde_json::to_string(&CabinetQuery {
        file_hash_id_list: [],
        fuzzy_match_string: "",
        page_size,
        page_number,
        sorting_column: 3,
        sorting_direction: 2,
    })
    .expect("JSON serialises")
}

impl ApexClient {
    /// Uploads at most [`MAX_FILES_PER_UPLOAD`] files to the filing cabinet.
    pub async fn upload_openioc(&self, files: &[UploadFile]) -> Result<UploadResult, ApexError> {
        assert!(
            files.len() <= MAX_FILES_PER_UPLOAD,
            "the caller splits uploads"
        );
        let body = serde_json::to_vec(&Param { param: files }).expect("JSON serialises");
        let data = self
            .call(reqwest::Method::POST, FILE_PATH, &[], Some(body))
            .await?;
        decode(
            &format!("POST {FILE_PATH}"),
            data,
            "a list of uploaded files",
        )
    }

    /// Asks Apex to extract files of its cabinet into the UDSO list with `action` for
    /// every type (Apex itself only logs what sits under an `AND`).
    pub async fn extract_openioc(
        &self,
        hash_ids: &[String],
        action: ScanAction,
    ) -> Result<Vec<Extraction>, ApexError> {
        let body = extraction_body(hash_ids, action).into_bytes();
        let data = self
            .call(reqwest::Method::PUT, EXTRACTION_PATH, &[], Some(body))
            .await?;
        decode(
            &format!("PUT {EXTRACTION_PATH}"),
            data,
            "a list of extraction results",
        )
    }

    /// Every file in the filing cabinet, page by page to the end.
    pub async fn list_openioc(&self) -> Result<Vec<CabinetFile>, ApexError> {
        let mut files = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for page_number in 1..=MAX_CABINET_PAGES {
            let param = cabinet_query(page_number, CABINET_PAGE_SIZE);
            let data = self
                .call(
                    reqwest::Method::GET,
                    FILING_CABINET_PATH,
                    &[("param", &param)],
                    None,
                )
                .await?;
            let request = format!("GET {FILING_CABINET_PATH} (page {page_number})");
            let page: CabinetPage = decode(&request, data, "a filing cabinet page")?;
            // A server may send fewer than asked: only an empty page or the total ends it.
            // A file added while paging shifts the pages (newest first): skip repeats.
            let empty = page.files.is_empty();
            for file in page.files {
                if seen.insert(file.hash_id.clone()) {
                    files.push(file);
                }
            }
            if empty || files.len() as i64 >= page.total {
                return Ok(files);
            }
        }
        Err(ApexError::bad_response(
            format!("GET {FILING_CABINET_PATH}"),
            format!("the filing cabinet did not end after {MAX_CABINET_PAGES} pages"),
        ))
    }

    /// Deletes files from the filing cabinet.
    pub async fn delete_openioc(&self, hash_ids: &[String]) -> Result<Vec<DeletedFile>, ApexError> {
        let param = json!({ "FileHashIDList": hash_ids }).to_string();
        let data = self
            .call(
                reqwest::Method::DELETE,
                FILE_PATH,
                &[("param", &param)],
                None,
            )
            .await?;
        decode(
            &format!("DELETE {FILE_PATH}"),
            data,
            "a list of deleted files",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apex::auth::checksum;

    #[test]
    fn extraction_body_matches_the_documented_request() {
        // The known answer of apex-central.md: this body, sent as `put`, has this checksum.
        let body = extraction_body(
            &["73d95a30c812d9cff0eaf37a686fdfef8f9ca531".to_owned()],
            ScanAction::Block,
        );
        assert_eq!(
            body,
            r#"{"param":{"FileHashIDList":["73d95a30c812d9cff0eaf37a686fdfef8f9ca531"],"ScanType":{"File":2,"IP":2,"URL":2,"Domain":2}}}"#
        );
        assert_eq!(
            checksum("put", EXTRACTION_PATH, "", body.as_bytes()),
            "s2+uc1g7mYDQoCsKlT4W90SoM+g3xHmZVwdkGiUrS3U="
        );
        let log = extraction_body(&[], ScanAction::Log);
        assert!(log.contains(r#""ScanType":{"File":1,"IP":1,"URL":1,"Domain":1}"#));
    }

    #[test]
    fn answers_parse_with_codes_as_numbers_or_strings() {
        let uploaded: UploadResult = serde_json::from_str(
            r#"{"UploadedResultInfoList":[{"FileName":"a.ioc","FileHashID":"ab","UploadedStatus":"1"},
                {"FileName":"b.ioc","FileHashID":"","UploadedStatus":0}],
                "UploadedResultMessageList":[{"MessageType":2,"Message":"b.ioc is not OpenIOC 1.0"}]}"#,
        )
        .unwrap();
        assert!(uploaded.files[0].ok() && !uploaded.files[1].ok());
        assert_eq!(uploaded.messages[0].message, "b.ioc is not OpenIOC 1.0");
        let page: CabinetPage = serde_json::from_str(
            r#"{"FilingCabinet":[{"FileHashID":"ab","FileName":"a.ioc","FileAddedDatetime":"2026-11-23 10:00:00",
                "ExtractingStatus":"1","ShortDesc":null,"UploadedBy":"api","UploadedFrom":"Automation API"}],"TotalIOCCount":"1"}"#,
        )
        .unwrap();
        assert_eq!((page.files[0].extracting_status, page.total), (Some(1), 1));
        let deleted: Vec<DeletedFile> =
            serde_json::from_str(r#"[{"FileHashID":"ab","DeletedStatus":-1}]"#).unwrap();
        assert_eq!(deleted[0].status, -1);
    }

    /// Every answer type in the forms versions send: numbers as numbers, as strings, and
    /// nulls where a field is optional.
    #[test]
    fn every_answer_type_reads_in_either_form() {
        for (n, minus_one, null) in [("1", "-1", "null"), (r#""1""#, r#""-1""#, r#""""#)] {
            let uploaded: UploadResult = serde_json::from_str(&format!(
                r#"{{"UploadedResultInfoList":[{{"FileName":"a.ioc","FileHashID":"ab","UploadedStatus":{n}}}],
                    "UploadedResultMessageList":[{{"MessageType":{n},"Message":{null}}}]}}"#
            ))
            .unwrap();
            assert!(uploaded.files[0].ok());
            assert_eq!(uploaded.messages[0].kind, Some(1));
            let extracted: Vec<Extraction> = serde_json::from_str(&format!(
                r#"[{{"FileHashID":"ab","ExtractingStatus":{n},"ExtractionErrorMessage":{null}}}]"#
            ))
            .unwrap();
            assert!(extracted[0].ok());
            let page: CabinetPage = serde_json::from_str(&format!(
                r#"{{"FilingCabinet":[{{"FileHashID":"ab","FileName":"a.ioc","FileAddedDatetime":{null},
                    "ExtractingStatus":{n},"ShortDesc":{null},"UploadedBy":{null},"UploadedFrom":{null}}}],
                    "TotalIOCCount":{n}}}"#
            ))
            .unwrap();
            assert_eq!((page.files[0].extracting_status, page.total), (Some(1), 1));
            let deleted: Vec<DeletedFile> = serde_json::from_str(&format!(
                r#"[{{"FileHashID":"ab","DeletedStatus":{minus_one}}}]"#
            ))
            .unwrap();
            assert_eq!(deleted[0].status, -1);
        }
        // Lists that may be null read as empty; an unknown message type is only shown.
        let uploaded: UploadResult = serde_json::from_str(
            r#"{"UploadedResultInfoList":null,"UploadedResultMessageList":[{"MessageType":"Error","Message":"x"}]}"#,
        )
        .unwrap();
        assert!(uploaded.files.is_empty());
        assert_eq!(uploaded.messages[0].kind, None);
        // A status only shown never fails the listing; the cabinet itself is required.
        let page: CabinetPage = serde_json::from_str(
            r#"{"FilingCabinet":[{"FileHashID":"ab","ExtractingStatus":"pending"}],"TotalIOCCount":1}"#,
        )
        .unwrap();
        assert_eq!(page.files[0].extracting_status, None);
        let e = serde_json::from_str::<CabinetPage>(r#"{"TotalIOCCount":0}"#).unwrap_err();
        assert!(e.to_string().contains("FilingCabinet"), "{e}");
        let e = serde_json::from_str::<CabinetPage>(r#"{"FilingCabinet":null,"TotalIOCCount":0}"#)
            .unwrap_err();
        assert!(e.to_string().contains("invalid type: null"), "{e}");
    }

    #[test]
    fn cabinet_query_pages_with_the_documented_sorting() {
        assert_eq!(
            cabinet_query(1, 10),
            r#"{"FileHashIDList":[],"FuzzyMatchString":"","PageSize":10,"PageNumber":1,"SortingColumn":3,"SortingDirection":2}"#
        );
        let q: serde_json::Value = serde_json::from_str(&cabinet_query(3, 100)).unwrap();
        assert_eq!(q["PageNumber"], 3);
        assert_eq!(q["PageSize"], 100);
        assert_eq!(
            (q["SortingColumn"].clone(), q["SortingDirection"].clone()),
            (json!(3), json!(2))
        );
    }
}
