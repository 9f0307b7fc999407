//! The wire forms of Vision One's suspicious-object API: object types, the add and delete
//! items, a listed object, and the per-item results of a 207 Multi-Status answer.
//!
//! Facts from Trend's Python SDK `pytmv1` 0.11.0 (PyPI; its source equals
//! `trendmicro/tm-v1-pytv1` commit 53deee9d, tag v0.10.1, but for the version string):
//! - `model/enum.py` `ObjectType`: `ip`, `url`, `domain`, `fileSha1`, `fileSha256`,
//!   `senderMailAddress`; `ScanAction`: `block`, `log`; `RiskLevel`: `noRisk`, `low`,
//!   `medium`, `high`.
//! - `utils.py` `build_suspicious_request`: an add item is `{<type>: value, description,
//!   riskLevel, scanAction, daysToExpiration}`, fields left out when empty (`filter_none`
//!   drops `None`, `""` and `0`); `build_object_request`: a delete item is
//!   `{<type>: value[, description]}`.
//! - `model/common.py` `SuspiciousObject`: a listed item has `type`, the value under the
//!   type's key, `description` (optional), `lastModifiedDateTime`, `scanAction`,
//!   `riskLevel`, `inExceptionList`, `expiredDateTime`.
//! - `core.py` `_validate`/`MsError`: a 207 answer is a JSON array, one entry per item in
//!   order, each `{"status": n}` or `{"status": n, "body": {"error": {"code", "message",
//!   "number"}}}`; a status outside 200..399 is a failed item.
//!
//! Trend's own mock server (`trendmicro/tm-v1-api-mockup` commit e21ef3c3,
//! `mappings/xdr/v3/object/*_suspicious_*.json`) answers an added item `201`, a deleted
//! one `204`, a delete of a missing object `404` with code `NotFound`, a bad item `400`
//! with code `BadRequest`.

use std::fmt;

use chrono::{DateTime, Datelike, Utc};
use serde::Serialize;
use serde::ser::SerializeMap;
use serde_json::Value;

use crate::ioc::{Invalid, Ioc, IocKind};
use crate::model::ScanAction;
use crate::text::snippet;

/// The list, add and delete path (`GET` lists, `POST` adds).
pub const SUSPICIOUS_OBJECTS_PATH: &str = "/v3.0/threatintel/suspiciousObjects";
/// The delete path (`POST`).
pub const DELETE_PATH: &str = "/v3.0/threatintel/suspiciousObjects/delete";
/// The header that carries a list filter (`type eq 'url'`), at most 4,000 characters.
pub const FILTER_HEADER: &str = "TMV1-Filter";
/// `daysToExpiration` of an object that never expires (see [`NewObject`]).
pub const NEVER_EXPIRES: i32 = -1;
/// The error number Vision One gives an item that does not fit: the list of its type is
/// full (`shared/reference/vision-one.md`).
pub const LIST_FULL_ERROR: i64 = 4_000_018;

/// A Vision One object type: the key an object's value sits under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ObjectType {
    Ip,
    Domain,
    Url,
    FileSha1,
    FileSha256,
    SenderMailAddress,
}

impl ObjectType {
    pub const ALL: [ObjectType; 6] = [
        ObjectType::Ip,
        ObjectType::Domain,
        ObjectType::Url,
        ObjectType::FileSha1,
        ObjectType::FileSha256,
        ObjectType::SenderMailAddress,
    ];

    /// The JSON key and `type` value.
    pub fn key(self) -> &'static str {
        match self {
            ObjectType::Ip => "ip",
            ObjectType::Domain => "domain",
            ObjectType::Url => "url",
            ObjectType::FileSha1 => "fileSha1",
            ObjectType::FileSha256 => "fileSha256",
            ObjectType::SenderMailAddress => "senderMailAddress",
        }
    }

    pub fn from_key(key: &str) -> Option<ObjectType> {
        ObjectType::ALL.into_iter().find(|t| t.key() == key)
    }

    /// The Vision One type that holds IOCs of `kind`. Every kind this tool has maps to one
    /// (the match is exhaustive: a new kind must be given its type here).
    pub fn for_kind(kind: IocKind) -> ObjectType {
        match kind {
            IocKind::Ip => ObjectType::Ip,
            IocKind::Domain => ObjectType::Domain,
            IocKind::Url => ObjectType::Url,
            IocKind::FileSha1 => ObjectType::FileSha1,
            IocKind::FileSha256 => ObjectType::FileSha256,
        }
    }

    /// The IOC kind of this type, if this tool has one (never for `senderMailAddress`).
    pub fn ioc_kind(self) -> Option<IocKind> {
        IocKind::ALL
            .into_iter()
            .find(|&k| ObjectType::for_kind(k) == self)
    }
}

impl fmt::Display for ObjectType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// How serious Vision One rates an object (`riskLevel`). Left out of an add, Vision One
/// takes `high`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, clap::ValueEnum)]
pub enum RiskLevel {
    #[default]
    High,
    Medium,
    Low,
}

impl RiskLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            RiskLevel::High => "high",
            RiskLevel::Medium => "medium",
            RiskLevel::Low => "low",
        }
    }
}

impl fmt::Display for RiskLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An object to add (or update: adding an object that is listed replaces its fields).
///
/// Serialises as pytmv1 builds it: `{"<type>": value, "description": ..., "riskLevel":
/// ..., "scanAction": ..., "daysToExpiration": n}`, `daysToExpiration` left out when
/// `None` (then the tenant's default expiry applies).
///
/// `daysToExpiration` of [`NEVER_EXPIRES`] (-1) adds an object without an expiration date:
/// "If daysToExpiration is -1, the object does not have an expiration date" (Trend's own
/// Vision One plugin for Rapid7 InsightConnect, `plugins/trendmicro_visionone/plugin.spec.yaml`,
/// type `suspicious_block_objects`; pytmv1 passes the number through, and leaves out only
/// `None`, `""` and `0`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewObject {
    pub kind: IocKind,
    /// The value as it is to be stored (this tool's normal form).
    pub value: String,
    /// The ownership tag and a reason.
    pub description: String,
    /// `block` or `log` (Vision One has no quarantine; it is refused before sending).
    pub scan_action: ScanAction,
    pub risk_level: RiskLevel,
    /// Days until Vision One drops the object; [`NEVER_EXPIRES`] never; `None` leaves it
    /// to the tenant's default.
    pub days_to_expiration: Option<i32>,
}

impl Serialize for NewObject {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry(ObjectType::for_kind(self.kind).key(), &self.value)?;
        if !self.description.is_empty() {
            map.serialize_entry("description", &self.description)?;
        }
        map.serialize_entry("riskLevel", self.risk_level.as_str())?;
        map.serialize_entry("scanAction", self.scan_action.as_str())?;
        if let Some(days) = self.days_to_expiration {
            map.serialize_entry("daysToExpiration", &days)?;
        }
        map.end()
    }
}

/// An object to delete, by type and value (send the value as Vision One listed it).
///
/// Serialises as `{"<type>": value}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    pub kind: IocKind,
    pub value: String,
}

impl Serialize for ObjectRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(1))?;
        map.serialize_entry(ObjectType::for_kind(self.kind).key(), &self.value)?;
        map.end()
    }
}

/// One object as Vision One lists it, in destination-neutral terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedObject {
    pub kind: IocKind,
    /// The value exactly as listed: delete with this.
    pub raw: String,
    /// `raw` in this tool's normal form (what the planner compares), or why that form
    /// refuses it (Vision One takes IPv6, say, which this tool never writes).
    pub ioc: Result<Ioc, Invalid>,
    /// Where the ownership tag is; empty when Vision One has none.
    pub description: String,
    /// `block` or `log` as listed.
    pub scan_action: String,
    /// `high`, `medium`, `low` (or `noRisk` for sandbox objects) as listed.
    pub risk_level: String,
    /// When Vision One drops it; `None` never.
    pub expires: Option<DateTime<Utc>>,
    pub last_modified: Option<DateTime<Utc>>,
    /// On the exception list too (so not acted upon).
    pub in_exception_list: bool,
}

/// An `expiredDateTime` at or after this year is read as "never": a far-future date is how
/// a never-expiring object may be listed (pytmv1 requires the field to be a string, so
/// the API cannot send `null` for it without breaking Trend's own SDK).
const NEVER_EXPIRES_FROM_YEAR: i32 = 9999;

/// Reads one listed item (a JSON object). `Ok(None)`: an object of another type than
/// `kind` (the type filter was not applied), left out.
pub fn parse_listed(item: &Value, kind: IocKind) -> Result<Option<ListedObject>, String> {
    let Some(obj) = item.as_object() else {
        return Err(format!(
            "a listed item is not a JSON object: {}",
            snippet(item.to_string().as_bytes())
        ));
    };
    let Some(type_key) = obj.get("type").and_then(Value::as_str) else {
        return Err(format!(
            "a listed item has no `type`: {}",
            snippet(item.to_string().as_bytes())
        ));
    };
    if type_key != ObjectType::for_kind(kind).key() {
        return Ok(None);
    }
    let Some(raw) = obj.get(type_key).and_then(Value::as_str) else {
        return Err(format!(
            "a listed {type_key} item has no `{type_key}` value: {}",
            snippet(item.to_string().as_bytes())
        ));
    };
    let text = |field: &str| -> Result<String, String> {
        match obj.get(field) {
            None | Some(Value::Null) => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(other) => Err(format!(
                "`{field}` of listed {type_key} `{raw}` is not text: {other}"
            )),
        }
    };
    let date = |field: &str| -> Result<Option<DateTime<Utc>>, String> {
        let s = text(field)?;
        if s.is_empty() {
            return Ok(None);
        }
        let d = DateTime::parse_from_rfc3339(&s)
            .map_err(|e| {
                format!("`{field}` of listed {type_key} `{raw}` is not a date: `{s}` ({e})")
            })?
            .with_timezone(&Utc);
        Ok(Some(d))
    };
    let in_exception_list = match obj.get("inExceptionList") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(format!(
                "`inExceptionList` of listed {type_key} `{raw}` is not true or false: {other}"
            ));
        }
    };
    Ok(Some(ListedObject {
        kind,
        raw: raw.to_owned(),
        ioc: Ioc::new(kind, raw),
        description: text("description")?,
        scan_action: text("scanAction")?,
        risk_level: text("riskLevel")?,
        expires: date("expiredDateTime")?.filter(|d| d.year() < NEVER_EXPIRES_FROM_YEAR),
        last_modified: date("lastModifiedDateTime")?,
        in_exception_list,
    }))
}

/// Which write a batch is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Add,
    Delete,
}

impl Op {
    pub fn path(self) -> &'static str {
        match self {
            Op::Add => SUSPICIOUS_OBJECTS_PATH,
            Op::Delete => DELETE_PATH,
        }
    }

    /// The status of a done item: 201 for an add, 204 for a delete.
    pub fn done_status(self) -> u16 {
        match self {
            Op::Add => 201,
            Op::Delete => 204,
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Add => "add",
            Op::Delete => "delete",
        })
    }
}

/// A done item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemOutcome {
    /// Added (or updated), or deleted.
    Done,
    /// A delete of an object that is not there (404): already gone, which is what was
    /// wanted.
    AlreadyGone,
}

/// A failed item.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ItemError {
    /// Error 4000018: the list of this type is full. Vision One's documented behaviour past
    /// 10,000 objects is to drop the objects closest to expiry instead, so a plan must never
    /// get here; when it does, this item was not added.
    #[error("Vision One's suspicious-object list of this type is full (error 4000018){}", detail(.message))]
    ListFull { message: String },
    /// Any other refusal: the item's HTTP status, Vision One's error code and message.
    #[error("Vision One refused it: HTTP {status}{}{}", code_part(.code), detail(.message))]
    Rejected {
        status: u16,
        code: String,
        message: String,
    },
}

impl ItemError {
    /// A 429 or 5xx item: sending it again may work.
    pub fn is_retryable(&self) -> bool {
        matches!(self, ItemError::Rejected { status, .. } if *status == 429 || *status >= 500)
    }
}

fn detail(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

fn code_part(code: &str) -> String {
    if code.is_empty() {
        String::new()
    } else {
        format!(" {code}")
    }
}

/// One item's result, in the order the items were sent.
pub type ItemResult = Result<ItemOutcome, ItemError>;

/// Reads a 207 Multi-Status body: one result per item sent, in order. An array of another
/// length than `sent`, or an entry without a status, is an error for the whole batch (the
/// results cannot be told apart).
pub fn parse_multi_status(op: Op, body: &[u8], sent: usize) -> Result<Vec<ItemResult>, String> {
    let entries: Vec<Value> = serde_json::from_slice(body)
        .map_err(|e| format!("the 207 answer is not a JSON array: {e}"))?;
    if entries.len() != sent {
        return Err(format!(
            "the 207 answer has {} results for {sent} items",
            entries.len()
        ));
    }
    entries
        .iter()
        .enumerate()
        .map(|(i, entry)| item_result(op, entry).map_err(|e| format!("result {}: {e}", i + 1)))
        .collect()
}

fn item_result(op: Op, entry: &Value) -> Result<ItemResult, String> {
    let status = entry
        .get("status")
        .and_then(int_or_string)
        .and_then(|s| u16::try_from(s).ok())
        .ok_or_else(|| {
            format!(
                "no HTTP status in {}",
                snippet(entry.to_string().as_bytes())
            )
        })?;
    if (200..400).contains(&status) {
        return Ok(Ok(ItemOutcome::Done));
    }
    if op == Op::Delete && status == 404 {
        return Ok(Ok(ItemOutcome::AlreadyGone));
    }
    let error = error_fields(entry);
    if error.is_list_full() {
        return Ok(Err(ItemError::ListFull {
            message: error.message,
        }));
    }
    Ok(Err(ItemError::Rejected {
        status,
        code: error.code,
        message: error.message,
    }))
}

/// The `error` object of an answer or of a 207 entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorFields {
    pub code: String,
    pub message: String,
    pub number: Option<i64>,
}

impl ErrorFields {
    /// Error 4000018, wherever Vision One put it: the `number`, the `code`, or the message
    /// ("... (Error code: 4000018)", the form of Trend's other numbered errors).
    pub fn is_list_full(&self) -> bool {
        self.number == Some(LIST_FULL_ERROR)
            || self.code.contains("4000018")
            || self.message.contains("4000018")
    }
}

/// Finds `code`, `message` and `number` under `body.error` (a 207 entry), `error` (an
/// error answer) or at the top (pytmv1 accepts all three: `MsError.map_data`).
pub fn error_fields(value: &Value) -> ErrorFields {
    let candidates = [
        value.pointer("/body/error"),
        value.get("error"),
        value.get("body"),
        Some(value),
    ];
    let Some(error) = candidates
        .into_iter()
        .flatten()
        .find(|v| v.get("code").is_some() || v.get("message").is_some())
    else {
        return ErrorFields::default();
    };
    let text = |key: &str| match error.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    ErrorFields {
        code: text("code"),
        message: text("message"),
        number: error.get("number").and_then(int_or_string),
    }
}

/// A JSON integer, or a string of one (pytmv1's own tests send `"status": "400"`).
fn int_or_string(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn object_types_map_every_ioc_kind_both_ways() {
        for kind in IocKind::ALL {
            let t = ObjectType::for_kind(kind);
            assert_eq!(t.ioc_kind(), Some(kind));
            assert_eq!(ObjectType::from_key(t.key()), Some(t));
        }
        assert_eq!(ObjectType::for_kind(IocKind::FileSha1).key(), "fileSha1");
        assert_eq!(ObjectType::SenderMailAddress.ioc_kind(), None);
    }

    #[test]
    fn add_and_delete_items_serialise_as_pytmv1_builds_them() {
        let mut o = NewObject {
            kind: IocKind::Domain,
            value: "evil.example".into(),
            description: "apex-ioc-sync:t C2C".into(),
            scan_action: ScanAction::Block,
            risk_level: RiskLevel::High,
            days_to_expiration: Some(30),
        };
        assert_eq!(
            serde_json::to_string(&o).unwrap(),
            r#"{"domain":"evil.example","description":"apex-ioc-sync:t C2C","riskLevel":"high","scanAction":"block","daysToExpiration":30}"#
        );
        o.kind = IocKind::FileSha1;
        o.value = "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3".into();
        o.days_to_expiration = None;
        o.scan_action = ScanAction::Log;
        o.risk_level = RiskLevel::Low;
        assert_eq!(
            serde_json::to_value(&o).unwrap(),
            json!({"fileSha1": o.value, "description": o.description, "riskLevel": "low", "scanAction": "log"})
        );
        let r = ObjectRef {
            kind: IocKind::Url,
            value: "https://x.example/a".into(),
        };
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"url":"https://x.example/a"}"#
        );
    }

    #[test]
    fn listed_items_in_every_form() {
        // Trend's mock server's item, with a SHA-1 in upper case.
        let item = json!({
            "fileSha1": "A94A8FE5CCB19BA61C4C0873D391E987982FBBD3",
            "type": "fileSha1",
            "description": "apex-ioc-sync:t x",
            "scanAction": "log",
            "riskLevel": "high",
            "inExceptionList": false,
            "lastModifiedDateTime": "2024-01-17T10:45:05Z",
            "expiredDateTime": "2024-02-16T10:45:05Z"
        });
        let o = parse_listed(&item, IocKind::FileSha1).unwrap().unwrap();
        assert_eq!(o.raw, "A94A8FE5CCB19BA61C4C0873D391E987982FBBD3");
        assert_eq!(
            o.ioc.unwrap().value,
            "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3"
        );
        assert_eq!(o.description, "apex-ioc-sync:t x");
        assert_eq!(
            (o.scan_action.as_str(), o.risk_level.as_str()),
            ("log", "high")
        );
        assert_eq!(o.expires.unwrap().to_rfc3339(), "2024-02-16T10:45:05+00:00");
        assert!(o.last_modified.is_some() && !o.in_exception_list);

        // Never expires: null, absent, empty or a far-future date.
        for expiry in [json!(null), json!(""), json!("9999-12-31T23:59:59Z")] {
            let item = json!({"type": "ip", "ip": "10.0.0.1", "expiredDateTime": expiry});
            let o = parse_listed(&item, IocKind::Ip).unwrap().unwrap();
            assert_eq!(o.expires, None, "{expiry}");
            assert_eq!(o.description, "");
        }
        // Vision One takes IPv6; this tool's normal form does not: kept, marked.
        let o = parse_listed(&json!({"type": "ip", "ip": "2001:db8::1"}), IocKind::Ip)
            .unwrap()
            .unwrap();
        assert_eq!(o.ioc, Err(Invalid::Ipv6));
        // Another type than asked for is left out.
        assert_eq!(
            parse_listed(
                &json!({"type": "domain", "domain": "x.example"}),
                IocKind::Ip
            ),
            Ok(None)
        );
        // Broken items name what is wrong.
        let e = parse_listed(&json!({"type": "url"}), IocKind::Url).unwrap_err();
        assert!(e.contains("no `url` value"), "{e}");
        let e = parse_listed(
            &json!({"type": "url", "url": "http://x", "expiredDateTime": "soon"}),
            IocKind::Url,
        )
        .unwrap_err();
        assert!(e.contains("`soon`") && e.contains("http://x"), "{e}");
        assert!(parse_listed(&json!("x"), IocKind::Url).is_err());
        assert!(
            parse_listed(&json!({"ip": "1.2.3.4"}), IocKind::Ip)
                .unwrap_err()
                .contains("no `type`")
        );
    }

    #[test]
    fn multi_status_mixed_results_in_order() {
        let body = json!([
            {"status": 201},
            {"status": 400, "body": {"error": {"code": "BadRequest", "message": "Bad request"}}},
            {"status": "500", "body": {"error": {"code": "InternalServerError", "message": "Internal server error."}}},
            {"status": 400, "code": "BadRequest", "message": "flat form"},
            {"status": 201}
        ]);
        let results = parse_multi_status(Op::Add, body.to_string().as_bytes(), 5).unwrap();
        assert_eq!(results[0], Ok(ItemOutcome::Done));
        assert_eq!(
            results[1],
            Err(ItemError::Rejected {
                status: 400,
                code: "BadRequest".into(),
                message: "Bad request".into()
            })
        );
        let e = results[2].clone().unwrap_err();
        assert!(e.is_retryable() && e.to_string().contains("HTTP 500 InternalServerError"));
        assert!(
            matches!(&results[3], Err(ItemError::Rejected { message, .. }) if message == "flat form")
        );
        assert_eq!(results[4], Ok(ItemOutcome::Done));
        assert!(!results[1].clone().unwrap_err().is_retryable());
    }

    #[test]
    fn multi_status_list_full_in_any_of_its_forms() {
        let body = json!([
            {"status": 400, "body": {"error": {"code": "BadRequest", "message": "Exceeded", "number": 4000018}}},
            {"status": 400, "body": {"error": {"code": "BadRequest", "message": "The list is full. (Error code: 4000018)"}}},
            {"status": 400, "body": {"error": {"code": "4000018"}}},
            {"status": 400, "body": {"error": {"code": "BadRequest", "number": "4000019"}}}
        ]);
        let r = parse_multi_status(Op::Add, body.to_string().as_bytes(), 4).unwrap();
        assert!(matches!(&r[0], Err(ItemError::ListFull { message }) if message == "Exceeded"));
        assert!(matches!(&r[1], Err(ItemError::ListFull { .. })));
        assert!(matches!(&r[2], Err(ItemError::ListFull { .. })));
        assert!(matches!(&r[3], Err(ItemError::Rejected { .. })));
        assert!(
            r[0].clone()
                .unwrap_err()
                .to_string()
                .contains("full (error 4000018)")
        );
    }

    #[test]
    fn multi_status_delete_of_a_missing_object_is_already_gone() {
        let body = json!([
            {"status": 204},
            {"status": 404, "body": {"error": {"code": "NotFound", "message": "Not found"}}}
        ]);
        let r = parse_multi_status(Op::Delete, body.to_string().as_bytes(), 2).unwrap();
        assert_eq!(r, [Ok(ItemOutcome::Done), Ok(ItemOutcome::AlreadyGone)]);
        // For an add, a 404 is a failure.
        let r = parse_multi_status(Op::Add, body.to_string().as_bytes(), 2).unwrap();
        assert!(r[1].is_err());
    }

    #[test]
    fn multi_status_that_cannot_be_matched_to_the_items() {
        let e = parse_multi_status(Op::Add, b"[{\"status\":201}]", 2).unwrap_err();
        assert!(e.contains("1 results for 2 items"), "{e}");
        let e = parse_multi_status(Op::Add, b"{\"status\":201}", 1).unwrap_err();
        assert!(e.contains("not a JSON array"), "{e}");
        let e = parse_multi_status(Op::Add, b"[{\"ok\":1}]", 1).unwrap_err();
        assert!(e.contains("result 1: no HTTP status"), "{e}");
    }
}
