//! The sync model: the records the layers share, in no one source's or destination's terms.
//! Sources hand over the desired set ([`desired`]), which the policy screens and the planner
//! plans from. Every destination (`sink`) lists its entries as [`Listed`] records and takes
//! [`Write`]s; the planner, apply, `--clean`, the journal and the report know a destination
//! only so, and what became of each write as an [`Outcome`]. None of these types is any one
//! destination's wire form. [`lumu`] holds Lumu's records that the state file keeps and a
//! pull carries.
//!
//! Ownership: every entry this tool writes carries notes (Apex Central's `notes`, Vision
//! One's `description`) that begin with `apex-ioc-sync:<tag>`, then a space and a short
//! reason. Only entries whose notes carry a job's tag are ever updated or removed by it.

pub mod desired;
pub mod lumu;

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ioc::{Ioc, IocKind};

/// Every note this tool writes begins with this, then the tag.
pub const TAG_PREFIX: &str = "apex-ioc-sync:";
/// The longest notes this tool writes, in characters: Apex Central's limit on `notes`
/// (Automation API guide, "Add UDSO"). Vision One publishes no limit on `description`
/// (neither pytmv1's `ObjectRequest` nor Trend's Go client or mock server gives one), so
/// the same limit holds there.
pub const MAX_NOTES_CHARS: usize = 256;
/// The most entries any destination holds per type (Apex Central's UDSO list and Vision
/// One's suspicious-object list both hold 10,000): a source that keeps state (TAXII, STIX
/// bundles) hands over at most this many of the newest IOCs per type, since more could
/// never be pushed.
pub const MAX_ENTRIES_PER_KIND: usize = 10_000;
/// The longest tag, so that a reason still fits in the notes.
pub const MAX_TAG_LEN: usize = 64;

/// What an endpoint does with a match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ScanAction {
    Log,
    Block,
    /// Listed by Apex for file objects only; this tool never writes it.
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

/// The tag of notes written by this tool: `apex-ioc-sync:<tag>` then a space or the end.
pub fn owner_tag(notes: &str) -> Option<&str> {
    let rest = notes.strip_prefix(TAG_PREFIX)?;
    let tag = rest.split(' ').next().unwrap_or_default();
    (!tag.is_empty()).then_some(tag)
}

/// Notes for an entry this job owns: the tag, then a short reason, cut to
/// [`MAX_NOTES_CHARS`] characters.
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

/// One entry as a destination lists it, in destination-neutral terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The kind of IOC the entry holds (a destination lists one kind at a time; an entry of
    /// a type this tool does not know is never listed).
    pub kind: IocKind,
    /// The content exactly as listed: a write to this entry (update, delete) names it so,
    /// whether the destination matches content byte for byte or ignoring case.
    pub raw: String,
    /// `raw` in this tool's normal form; `None` when it does not normalise (an IPv6
    /// address, a wildcard domain, someone's typo).
    pub ioc: Option<Ioc>,
    /// Apex's `notes`, Vision One's `description`: where the ownership tag is.
    pub notes: String,
    /// As listed (`block`, `log`, `quarantine`...).
    pub scan_action: String,
    /// When the destination drops the entry; `None` never.
    pub expires: Option<DateTime<Utc>>,
    /// A setting of the destination's own differs from what this job writes (Vision One:
    /// the risk level): an owned entry is rewritten.
    pub settings_differ: bool,
}

impl Listed {
    /// The ownership tag in the notes, if a job of this tool made the entry.
    pub fn owner_tag(&self) -> Option<&str> {
        owner_tag(&self.notes)
    }
}

/// An add, or an update of a listed entry (then `content` is that entry's [`Listed::raw`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Put {
    pub kind: IocKind,
    /// The normal form for an add; the entry's own spelling for an update.
    pub content: String,
    /// The tag and a reason ([`make_notes`]).
    pub notes: String,
    pub scan_action: ScanAction,
    /// When the entry is to expire (whole seconds); `None` never.
    pub expiration: Option<DateTime<Utc>>,
}

/// One change to a destination's list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    Put(Put),
    /// Removes the entry listed with this content (as listed).
    Delete {
        kind: IocKind,
        content: String,
    },
}

impl Write {
    pub fn kind(&self) -> IocKind {
        match self {
            Write::Put(w) => w.kind,
            Write::Delete { kind, .. } => *kind,
        }
    }

    pub fn content(&self) -> &str {
        match self {
            Write::Put(w) => &w.content,
            Write::Delete { content, .. } => content,
        }
    }

    /// `put` or `delete`, as the report names the action.
    pub fn action(&self) -> &'static str {
        match self {
            Write::Put(_) => "put",
            Write::Delete { .. } => "delete",
        }
    }
}

/// A write that was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// Added, updated or deleted.
    Done,
    /// A delete of an entry that was already gone: what was wanted.
    AlreadyGone,
}

/// A write that failed after the destination's retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteError {
    /// What went wrong, naming the request or the entry.
    pub message: String,
    /// The destination refused it because the list of its type is full (Apex 413/12,
    /// Vision One error 4000018): worth one more try after the removals.
    pub list_full: bool,
    /// Not sent: the run's deadline (`--max-run-minutes`) had passed when its turn came.
    /// Left for the next run; not a failure.
    pub not_started: bool,
}

impl WriteError {
    /// An error the destination answered (or a request that failed), `list_full` as told.
    pub fn failed(message: String, list_full: bool) -> Self {
        WriteError {
            message,
            list_full,
            not_started: false,
        }
    }

    /// A write not sent because the run's deadline had passed when its turn came.
    pub fn not_started(write: &Write) -> Self {
        WriteError {
            message: format!(
                "{} {} `{}` not sent: the run's deadline (--max-run-minutes) has passed",
                write.action(),
                write.kind(),
                write.content()
            ),
            list_full: false,
            not_started: true,
        }
    }
}

/// Whether `deadline` (the run's, if it has one) has passed.
pub fn past(deadline: Option<std::time::Instant>) -> bool {
    deadline.is_some_and(|d| std::time::Instant::now() >= d)
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The result of one write.
pub type WriteResult = Result<Written, WriteError>;

/// What became of one write, as the sync engine's `apply` reports it to its `observe`
/// callback (the journal) the moment it is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome<'a> {
    /// Added, updated or removed.
    Done,
    /// A removal of an entry that was gone already.
    AlreadyGone,
    /// A removal not sent: listed again right before it, the entry no longer carried the tag.
    NoLongerOurs,
    /// An add or update not sent: listed again right before it, an entry without the tag
    /// held the IOC.
    TakenMeanwhile,
    /// An add not sent: listed again right before it, an entry with the tag held the IOC
    /// in another spelling.
    AlreadyThere,
    /// Not started: the run's deadline passed first (the next run makes it).
    Left,
    /// Failed after its retries (or its type could not be listed again): why.
    Failed(&'a str),
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
