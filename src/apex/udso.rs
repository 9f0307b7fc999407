//! The User-Defined Suspicious Objects list: its entries as Apex lists them, the write
//! Apex takes, and the list / add-or-update / delete calls. What a sync makes of them (the
//! ownership tag, the scan action) is the sync model's (`model`); the Apex sink
//! (`sink::apex`) translates.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use super::client::{ApexClient, ApexError, decode, text};
use crate::ioc::{Ioc, IocKind};
/// Apex's limit on `notes` (Automation API guide, "Add UDSO") is the sync model's, which
/// every destination keeps to.
pub use crate::model::MAX_NOTES_CHARS;
/// UDSO's `scan_action` takes the sync model's scan actions (Apex also lists `quarantine`
/// for file objects).
pub use crate::model::ScanAction;

/// The path of every UDSO call.
pub const UDSO_PATH: &str = "/WebApp/api/SuspiciousObjects/UserDefinedSO/";
/// The `contentFilter` of [`ApexClient::check_access`]: no IPv4 address contains it, so the
/// answer is small.
pub const ACCESS_CHECK_FILTER: &str = "apex-ioc-sync-access-check";

/// One entry as Apex lists it. Every field is read leniently (see
/// [`Loose`](super::client::Loose)): a number where text is expected is its text, `null` is
/// empty, and an expiration this tool cannot read is taken as none (with a warning).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UdsoEntry {
    /// `ip`, `domain`, `url`, `file_sha1` (and `file` in some listings); see
    /// [`UdsoEntry::ioc_kind`].
    #[serde(rename = "type", default, deserialize_with = "text")]
    pub kind: String,
    /// As listed: not necessarily in this tool's normal form (someone may have typed
    /// `Evil.Example`). Compare by [`UdsoEntry::ioc`]; delete by this.
    #[serde(deserialize_with = "text")]
    pub content: String,
    #[serde(default, deserialize_with = "text")]
    pub notes: String,
    #[serde(default, deserialize_with = "text")]
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
        crate::model::owner_tag(&self.notes)
    }

    /// The kind of IOC this entry holds: its `type`, where `file` (as some Apex versions
    /// list SHA-1 entries) is `file_sha1`, in any case. `None` for a type this tool does
    /// not know.
    pub fn ioc_kind(&self) -> Option<IocKind> {
        let kind = self.kind.trim().to_ascii_lowercase();
        match kind.as_str() {
            "file" => Some(IocKind::FileSha1),
            other => IocKind::from_udso_type(other),
        }
    }

    /// The IOC this entry holds, in this tool's normal form (`Evil.Example.` and
    /// `evil.example` are one IOC); `None` when the type is unknown or the content does
    /// not normalise.
    pub fn ioc(&self) -> Option<Ioc> {
        Ioc::new(self.ioc_kind()?, &self.content).ok()
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
    /// Apex's rules: content valid for its type (an add carries the normal form; an update
    /// of a listed entry carries that entry's own spelling, so that it lands on that entry);
    /// a scan action Apex takes for that type; notes at most 256 characters.
    pub fn validate(&self) -> Result<(), String> {
        if let Err(reason) = Ioc::new(self.kind, &self.content) {
            return Err(reason.to_string());
        }
        if self.content.trim() != self.content {
            return Err("content has white space around it".into());
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

/// Reads an expiration as Apex lists it, as UTC: `2021-03-26T12:26:49.753` (the documented
/// form), with or without fractions, a `Z` or an offset, with `T` or a space; and ASP.NET's
/// `/Date(1616761609753)/` (milliseconds since 1970).
pub fn parse_expiration(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim();
    if let Some(ms) = s
        .strip_prefix("/Date(")
        .and_then(|rest| rest.strip_suffix(")/"))
    {
        return DateTime::from_timestamp_millis(ms.parse().ok()?).map(|t| t.naive_utc());
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.naive_utc());
    }
    let s = s.strip_suffix('Z').unwrap_or(s);
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .into_iter()
        .find_map(|format| NaiveDateTime::parse_from_str(s, format).ok())
}

/// Lenient: an expiration that cannot be read is taken as none (the entry is then renewed
/// as one without an expiration would be), with one warning a run; a field that only
/// informs must not stop a command.
fn deserialize_expiration<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<NaiveDateTime>, D::Error> {
    static WARNED: std::sync::Once = std::sync::Once::new();
    let Some(raw) = super::client::opt_text(d)? else {
        return Ok(None);
    };
    if raw.trim().is_empty() {
        return Ok(None);
    }
    let parsed = parse_expiration(&raw);
    if parsed.is_none() {
        WARNED.call_once(|| {
            tracing::warn!(
                "Apex Central listed an expiration_utc_date this tool cannot read (`{}`); \
                 such entries are taken as without expiration",
                raw.chars().take(40).collect::<String>()
            );
        });
    }
    Ok(parsed)
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
        // No `Data` is an error (in `decode`), never an empty list: planning against an
        // empty list would add what is there and take entries over.
        let mut entries: Vec<UdsoEntry> = decode(
            &format!("GET {UDSO_PATH}?type={kind}"),
            data,
            "an array of UDSO entries",
        )?;
        for entry in &mut entries {
            if entry.kind.trim().is_empty() {
                entry.kind = kind.udso_type().to_owned();
            }
        }
        Ok(entries)
    }

    /// One cheap signed call (the list of one type, filtered to nothing), so that a wrong
    /// application ID or API key, a skewed clock or a missing permission fails in a second,
    /// before a source is pulled. Apex answers with its usual envelope; its `Data` must be
    /// there.
    pub async fn check_access(&self) -> Result<(), ApexError> {
        let data = self
            .call(
                reqwest::Method::GET,
                UDSO_PATH,
                &[("type", "ip"), ("contentFilter", ACCESS_CHECK_FILTER)],
                None,
            )
            .await?;
        decode::<Vec<serde_json::Value>>(
            &format!("GET {UDSO_PATH}?type=ip (access check)"),
            data,
            "an array of UDSO entries",
        )?;
        Ok(())
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
        assert_eq!(e.ioc_kind(), Some(IocKind::FileSha1));
    }

    #[test]
    fn listed_entries_accept_what_any_version_may_send() {
        // Numbers where text is expected, nulls, a missing type, other date forms.
        let e = entry(
            r#"{"content":1234,"notes":null,"scan_action":null,"expiration_utc_date":"2021-03-26 12:26:49"}"#,
        );
        assert_eq!(
            (
                e.kind.as_str(),
                e.content.as_str(),
                e.notes.as_str(),
                e.scan_action.as_str()
            ),
            ("", "1234", "", "")
        );
        assert_eq!(
            e.expiration_utc_date.unwrap().to_string(),
            "2021-03-26 12:26:49"
        );
        for (date, expected) in [
            (
                "2021-03-26T14:26:49.5+02:00",
                Some("2021-03-26 12:26:49.500"),
            ),
            ("/Date(1616761609753)/", Some("2021-03-26 12:26:49.753")),
            ("", None),
            // Unreadable: taken as no expiration (with a warning), never a failed command.
            ("soon", None),
        ] {
            let e = entry(&format!(
                r#"{{"type":"ip","content":"1.2.3.4","scan_action":"log","expiration_utc_date":"{date}"}}"#
            ));
            assert_eq!(
                e.expiration_utc_date
                    .map(|d| d.format("%Y-%m-%d %H:%M:%S%.3f").to_string()),
                expected.map(str::to_owned),
                "{date}"
            );
        }
        let e = entry(r#"{"type":"ip","content":"1.2.3.4","expiration_utc_date":17}"#);
        assert_eq!(e.expiration_utc_date, None);
        // Content is required: an entry without it is not an entry.
        assert!(serde_json::from_str::<UdsoEntry>(r#"{"type":"ip"}"#).is_err());
    }

    #[test]
    fn listed_types_and_normal_forms() {
        let e = |kind: &str, content: &str| UdsoEntry {
            kind: kind.into(),
            content: content.into(),
            notes: String::new(),
            scan_action: "log".into(),
            expiration_utc_date: None,
        };
        assert_eq!(e("FILE", "x").ioc_kind(), Some(IocKind::FileSha1));
        assert_eq!(e("Domain", "x").ioc_kind(), Some(IocKind::Domain));
        assert_eq!(e("registry", "x").ioc_kind(), None);
        assert_eq!(
            e("domain", "Evil.Example.").ioc().unwrap().value,
            "evil.example"
        );
        assert_eq!(e("domain", "*.evil.example").ioc(), None);
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
        // A listed entry's own spelling is valid for an update.
        assert!(write(IocKind::Domain, "X.com.").validate().is_ok());
        assert!(
            write(IocKind::Domain, " x.com")
                .validate()
                .unwrap_err()
                .contains("white space")
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
