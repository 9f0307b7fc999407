//! The User-Defined Suspicious Objects list: its entries, the ownership tag in their notes,
//! and the list / add-or-update / delete calls.

use std::fmt;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use super::client::{ApexClient, ApexError, decode};
use crate::ioc::{Ioc, IocKind};

/// The path of every UDSO call.
pub const UDSO_PATH: &str = "/WebApp/api/SuspiciousObjects/UserDefinedSO/";
/// Every note this tool writes begins with this, then the tag.
pub const TAG_PREFIX: &str = "apex-ioc-sync:";
/// Apex's limit on `notes`, in characters.
pub const MAX_NOTES_CHARS: usize = 256;
/// The longest tag, so that a reason still fits in the notes.
pub const MAX_TAG_LEN: usize = 64;

/// What an Apex One agent does with a match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ScanAction {
    Log,
    Block,
    /// Listed for file objects only; this tool never writes it.
    #[value(skip)]
    Quarantine,
}

impl ScanAction {
    pub fn as_str(self) -> &'static str {
        match self {
            ScanAction::Log => "log",
            ScanAction::Block => "block",
            ScanAction::Quarantine => "quarantine",
        }
    }
}

impl fmt::Display for ScanAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry as Apex lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UdsoEntry {
    /// `ip`, `domain`, `url`, `file_sha1` (and `file` in some listings).
    #[serde(rename = "type")]
    pub kind: String,
    pub content: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub notes: String,
    pub scan_action: String,
    /// UTC; `None` never expires.
    #[serde(
        default,
        deserialize_with = "deserialize_expiration",
        serialize_with = "serialize_expiration"
    )]
    pub expiration_utc_date: Option<NaiveDateTime>,
}

impl UdsoEntry {
    /// The ownership tag in this entry's notes, if any tool run of ours made it.
    pub fn owner_tag(&self) -> Option<&str> {
        owner_tag(&self.notes)
    }
}

/// The tag of notes written by this tool: `apex-ioc-sync:<tag>` then a space or the end.
pub fn owner_tag(notes: &str) -> Option<&str> {
    let rest = notes.strip_prefix(TAG_PREFIX)?;
    let tag = rest.split(' ').next().unwrap_or_default();
    (!tag.is_empty()).then_some(tag)
}

/// Notes for an entry this job owns: the tag, then a short reason, cut to Apex's limit.
pub fn make_notes(tag: &str, reason: &str) -> String {
    let notes = if reason.is_empty() {
        format!("{TAG_PREFIX}{tag}")
    } else {
        format!("{TAG_PREFIX}{tag} {reason}")
    };
    cut_chars(&notes, MAX_NOTES_CHARS).to_owned()
}

/// A tag is one word: letters, digits, `.`, `_`, `-`; it ends at the first space in notes.
pub fn validate_tag(tag: &str) -> Result<(), String> {
    if tag.is_empty() || tag.len() > MAX_TAG_LEN {
        return Err(format!("a tag has 1 to {MAX_TAG_LEN} characters"));
    }
    if let Some(c) = tag
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "`{c}` is not allowed in a tag (use letters, digits, `.`, `_` and `-`)"
        ));
    }
    Ok(())
}

fn cut_chars(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// An add-or-update, checked against Apex's field rules before it is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdsoWrite {
    pub kind: IocKind,
    pub content: String,
    pub notes: String,
    pub scan_action: ScanAction,
    pub expiration: Option<DateTime<Utc>>,
}

impl UdsoWrite {
    /// Apex's rules: content valid for its type and already in normal form; a scan action
    /// Apex takes for that type; notes at most 256 characters.
    pub fn validate(&self) -> Result<(), String> {
        match Ioc::new(self.kind, &self.content) {
            Ok(ioc) if ioc.value == self.content => {}
            Ok(ioc) => {
                return Err(format!(
                    "content is not in normal form (expected `{}`)",
                    ioc.value
                ));
            }
            Err(reason) => return Err(reason.to_string()),
        }
        if self.scan_action == ScanAction::Quarantine {
            return Err("scan action quarantine is for file objects only".into());
        }
        let chars = self.notes.chars().count();
        if chars > MAX_NOTES_CHARS {
            return Err(format!(
                "notes have {chars} characters, more than Apex's {MAX_NOTES_CHARS}"
            ));
        }
        Ok(())
    }

    /// The request body: `{"param":{type, content, notes, scan_action[, expiration_utc_date]}}`.
    pub fn body(&self) -> serde_json::Value {
        let mut param = serde_json::json!({
            "type": self.kind.udso_type(),
            "content": self.content,
            "notes": self.notes,
            "scan_action": self.scan_action.as_str(),
        });
        if let Some(expiration) = self.expiration {
            param["expiration_utc_date"] = expiration.format(WRITE_DATE_FORMAT).to_string().into();
        }
        serde_json::json!({ "param": param })
    }
}

/// How the expiration is sent.
pub const WRITE_DATE_FORMAT: &str = "%Y-%m-%dT%H:%M:%SZ";
/// How Apex lists it (UTC, no zone, milliseconds).
pub const LIST_DATE_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.3f";

/// Reads `2021-03-26T12:26:49.753`, `2021-03-26T12:26:49`, either with `Z`, as UTC.
pub fn parse_expiration(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim();
    let s = s.strip_suffix('Z').unwrap_or(s);
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").ok()
}

fn null_as_empty<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

fn deserialize_expiration<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<NaiveDateTime>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(s) if s.is_empty() => Ok(None),
        Some(s) => parse_expiration(&s)
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom(format!("bad expiration_utc_date `{s}`"))),
    }
}

fn serialize_expiration<S: serde::Serializer>(
    v: &Option<NaiveDateTime>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match v {
        Some(t) => s.serialize_str(&t.format(LIST_DATE_FORMAT).to_string()),
        None => s.serialize_none(),
    }
}

/// The outcome of a delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    Removed,
    /// Apex answered 500/8 (data not found): the entry was already gone.
    AlreadyGone,
}

impl ApexClient {
    /// Every entry of one type (the list has no paging).
    pub async fn list_udso(&self, kind: IocKind) -> Result<Vec<UdsoEntry>, ApexError> {
        let data = self
            .call(
                reqwest::Method::GET,
                UDSO_PATH,
                &[("type", kind.udso_type())],
                None,
            )
            .await?;
        if data.is_null() {
            return Ok(Vec::new());
        }
        decode(
            &format!("GET {UDSO_PATH}?type={kind}"),
            data,
            "an array of UDSO entries",
        )
    }

    /// Adds an entry, or updates the entry with the same content.
    pub async fn put_udso(&self, write: &UdsoWrite) -> Result<(), ApexError> {
        write.validate().map_err(|reason| ApexError::Invalid {
            kind: write.kind,
            content: write.content.clone(),
            reason,
        })?;
        let body = serde_json::to_vec(&write.body()).expect("a JSON value serialises");
        self.call(reqwest::Method::PUT, UDSO_PATH, &[], Some(body))
            .await?;
        Ok(())
    }

    /// Deletes one entry; an entry that is already gone counts as done.
    pub async fn delete_udso(&self, kind: IocKind, content: &str) -> Result<Deleted, ApexError> {
        let query = [("type", kind.udso_type()), ("content", content)];
        match self
            .call(reqwest::Method::DELETE, UDSO_PATH, &query, None)
            .await
        {
            Ok(_) => Ok(Deleted::Removed),
            Err(e) if e.is_data_not_found() => Ok(Deleted::AlreadyGone),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(json: &str) -> UdsoEntry {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn listed_entries_parse_with_null_notes_and_dates_in_both_forms() {
        let e = entry(
            r#"{"type":"ip","content":"1.2.3.4","notes":null,"scan_action":"log","expiration_utc_date":"2021-03-26T12:26:49.753"}"#,
        );
        assert_eq!(e.notes, "");
        assert_eq!(
            e.expiration_utc_date.unwrap().to_string(),
            "2021-03-26 12:26:49.753"
        );
        let e = entry(
            r#"{"type":"url","content":"http://x","notes":"n","scan_action":"block","expiration_utc_date":"2021-03-26T12:26:49Z"}"#,
        );
        assert_eq!(
            e.expiration_utc_date.unwrap().to_string(),
            "2021-03-26 12:26:49"
        );
        let e = entry(
            r#"{"type":"file","content":"x","scan_action":"quarantine","expiration_utc_date":null}"#,
        );
        assert_eq!(e.expiration_utc_date, None);
        assert!(
            serde_json::from_str::<UdsoEntry>(
                r#"{"type":"ip","content":"1.2.3.4","scan_action":"log","expiration_utc_date":"soon"}"#
            )
            .unwrap_err()
            .to_string()
            .contains("soon")
        );
    }

    #[test]
    fn ownership_tags() {
        assert_eq!(owner_tag("apex-ioc-sync:lumu C2C incident 1"), Some("lumu"));
        assert_eq!(owner_tag("apex-ioc-sync:lumu"), Some("lumu"));
        assert_eq!(owner_tag("apex-ioc-sync: x"), None);
        assert_eq!(owner_tag("added by hand; apex-ioc-sync:lumu"), None);
        assert_eq!(owner_tag(""), None);
        assert_eq!(make_notes("lumu", ""), "apex-ioc-sync:lumu");
        assert_eq!(
            make_notes("soc", "Malware 1f2e"),
            "apex-ioc-sync:soc Malware 1f2e"
        );
    }

    #[test]
    fn notes_are_cut_to_256_characters_not_bytes() {
        let notes = make_notes("t", &"ü".repeat(400));
        assert_eq!(notes.chars().count(), MAX_NOTES_CHARS);
        assert!(notes.starts_with("apex-ioc-sync:t ü"));
    }

    #[test]
    fn tags_are_one_word() {
        assert!(validate_tag("lumu").is_ok());
        assert!(validate_tag("soc-feed_2.a").is_ok());
        assert!(validate_tag("").is_err());
        assert!(validate_tag("two words").unwrap_err().contains("` `"));
        assert!(validate_tag(&"a".repeat(65)).is_err());
    }

    fn write(kind: IocKind, content: &str) -> UdsoWrite {
        UdsoWrite {
            kind,
            content: content.into(),
            notes: "apex-ioc-sync:t".into(),
            scan_action: ScanAction::Block,
            expiration: None,
        }
    }

    #[test]
    fn writes_are_validated_before_sending() {
        assert!(write(IocKind::Ip, "1.2.3.4").validate().is_ok());
        assert!(
            write(IocKind::Ip, "1.2.3.999")
                .validate()
                .unwrap_err()
                .contains("IPv4")
        );
        assert!(
            write(IocKind::Ip, "::1")
                .validate()
                .unwrap_err()
                .contains("IPv6")
        );
        assert!(
            write(IocKind::Url, "ftp://x.com")
                .validate()
                .unwrap_err()
                .contains("scheme")
        );
        let long = format!("http://x.com/{}", "a".repeat(2040));
        assert!(
            write(IocKind::Url, &long)
                .validate()
                .unwrap_err()
                .contains("2047")
        );
        assert!(
            write(IocKind::FileSha1, "abc")
                .validate()
                .unwrap_err()
                .contains("SHA-1")
        );
        assert!(
            write(IocKind::Domain, "*.x.com")
                .validate()
                .unwrap_err()
                .contains("host")
        );
        assert!(
            write(IocKind::Domain, "X.com")
                .validate()
                .unwrap_err()
                .contains("`x.com`")
        );
        let mut w = write(IocKind::Ip, "1.2.3.4");
        w.notes = "n".repeat(257);
        assert!(w.validate().unwrap_err().contains("257"));
        w.notes.clear();
        w.scan_action = ScanAction::Quarantine;
        assert!(w.validate().is_err());
    }

    #[test]
    fn write_body_leaves_out_a_missing_expiration() {
        let mut w = write(IocKind::Domain, "evil.example");
        assert_eq!(
            serde_json::to_string(&w.body()).unwrap(),
            r#"{"param":{"content":"evil.example","notes":"apex-ioc-sync:t","scan_action":"block","type":"domain"}}"#
        );
        w.expiration = Some("2026-12-23T10:00:00Z".parse().unwrap());
        assert_eq!(
            w.body()["param"]["expiration_utc_date"],
            "2026-12-23T10:00:00Z"
        );
    }
}
