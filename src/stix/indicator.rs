//! The STIX 2.1 indicator model shared by every STIX source (TAXII pages, bundle files):
//! the serde model of an object as far as indicators matter, and the records to store, one
//! per indicator version, with the IOCs its pattern yields (see `reference/taxii-stix.md`).

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::{extract::extract, pattern::parse};
use crate::ioc::Ioc;
use crate::model::ScanAction;
use crate::model::desired::Pulled;

/// Skip code of an indicator whose `confidence` is below `--min-confidence`.
pub const LOW_CONFIDENCE: &str = "low-confidence";
/// Skip code of an indicator without a usable `id`, `modified`/`created`, validity time or
/// `confidence` (an integer from 0 to 100, STIX 2.1 section 3.2), or with a property the
/// model reads (`id`, `created`, `modified`, `pattern`, `pattern_type`, `valid_from`,
/// `valid_until`, `revoked`, `confidence`) of the wrong JSON type or given twice.
pub const INVALID_INDICATOR: &str = "invalid-indicator";
/// Skip code of an entry of `objects` whose type cannot be read: not a JSON object, or an
/// object without a `type` string (STIX 2.1 section 3.1 requires one). It may have been an
/// indicator; a TAXII page asked for indicators only (`match[type]=indicator`).
pub const MALFORMED_OBJECT: &str = "malformed-object";

/// How far in the future a `modified` time may lie (clocks differ) before it is clamped.
pub const MAX_CLOCK_SKEW: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

/// One indicator version, as it is stored: its identity (`id`, `modified`), its validity
/// (`revoked`, `valid_from`, `valid_until`), its `confidence` (0-100) and the IOCs its
/// pattern yields with their scan action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndicatorRecord {
    pub id: String,
    /// The version's `modified` (else `created`); clamped to the time it was read when it
    /// lay more than [`MAX_CLOCK_SKEW`] in the future.
    pub modified: DateTime<Utc>,
    /// `modified` was clamped: any version read later replaces this one (see `state::indicators`).
    pub clamped: bool,
    pub revoked: bool,
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_until: Option<DateTime<Utc>>,
    pub confidence: Option<u8>,
    pub iocs: Vec<(Ioc, ScanAction)>,
}

/// How indicators are read into records.
#[derive(Debug, Clone, Copy)]
pub struct Reading {
    /// The scan action of an IOC that alone makes its pattern match (see `extract`).
    pub scan_action: ScanAction,
    /// `--min-confidence`: an indicator with a lower `confidence` is counted as
    /// [`LOW_CONFIDENCE`] (and stored, with its confidence, for the store to leave out).
    pub min_confidence: Option<u8>,
    /// When the indicators are read: a `modified` later than this by more than
    /// [`MAX_CLOCK_SKEW`] is clamped to it.
    pub now: DateTime<Utc>,
}

impl Reading {
    /// Reading now with `scan_action`, and no confidence threshold.
    pub fn new(scan_action: ScanAction) -> Self {
        Reading {
            scan_action,
            min_confidence: None,
            now: Utc::now(),
        }
    }
}

/// The warning for `count` indicators whose `modified` was clamped, read from `from`.
pub fn clamped_warning(count: usize, from: &str) -> String {
    format!(
        "{count} indicator(s) of {from} carry a `modified` time more than {} minutes in the future;          they are stored as modified when read, so that later versions and revocations still replace them",
        MAX_CLOCK_SKEW.num_minutes()
    )
}

/// A STIX 2.1 object, as far as indicators matter (STIX 2.1 section 4.7); its fields are
/// borrowed from the JSON text it was read from where they hold no escapes. Other properties
/// are skipped unread. Reading one never fails on its properties' JSON types: each is kept
/// as a [`Prop`], and [`indicator_records`] skips the object when one it reads is wrong.
#[derive(Debug, Default)]
pub struct StixObject<'a> {
    kind: Prop<'a>,
    id: Prop<'a>,
    created: Prop<'a>,
    modified: Prop<'a>,
    pattern: Prop<'a>,
    pattern_type: Prop<'a>,
    valid_from: Prop<'a>,
    valid_until: Prop<'a>,
    revoked: Prop<'a>,
    confidence: Prop<'a>,
}

impl StixObject<'_> {
    /// The object's `id`, if it is a string.
    pub fn id(&self) -> Option<&str> {
        self.id.text("id").ok().flatten()
    }

    /// The object's `modified` as written, if it is a string.
    pub fn modified_text(&self) -> Option<&str> {
        self.modified.text("modified").ok().flatten()
    }
}

/// One entry of the `objects` array of a bundle (STIX 2.1 section 8) or of a TAXII envelope
/// (TAXII 2.1 section 3.7): a JSON object, or any other JSON value, which a malformed feed
/// may hold. Reading an entry fails only on JSON syntax, so that one bad entry does not
/// cost the page or bundle around it.
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "nearly every entry is an object: boxing it would cost an allocation per object on the ingest path"
)]
pub enum Entry<'a> {
    Object(StixObject<'a>),
    /// A string, number, boolean, `null` or array (its content skipped unread).
    NotAnObject,
}

impl Entry<'_> {
    /// The entry's `id`, if it is an object with a string `id`.
    pub fn id(&self) -> Option<&str> {
        match self {
            Entry::Object(o) => o.id(),
            Entry::NotAnObject => None,
        }
    }

    /// The entry's `modified` as written, if it is an object with a string `modified`.
    pub fn modified_text(&self) -> Option<&str> {
        match self {
            Entry::Object(o) => o.modified_text(),
            Entry::NotAnObject => None,
        }
    }
}

/// A property of a [`StixObject`] as read, whatever its JSON type: reading it never fails
/// (beyond JSON syntax), so a wrong type makes its object invalid, not the page.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
enum Prop<'a> {
    /// Absent, or `null` (taken as absent, as it always was).
    #[default]
    Absent,
    Text(Cow<'a, str>),
    Bool(bool),
    /// A non-negative integer.
    Integer(u64),
    /// Any other JSON value (a negative or fractional number, an array, an object), its
    /// content skipped unread.
    Other,
    /// The key appeared more than once in its object: which value is meant is unknown.
    Repeated,
}

impl Prop<'_> {
    /// A string property: `None` when absent, [`Flaw::WrongType`] when not a string.
    fn text(&self, field: &'static str) -> Result<Option<&str>, Flaw> {
        match self {
            Prop::Absent => Ok(None),
            Prop::Text(s) => Ok(Some(s)),
            Prop::Repeated => Err(Flaw::Repeated(field)),
            _ => Err(Flaw::WrongType(field, "a string")),
        }
    }

    /// A boolean property: `None` when absent, [`Flaw::WrongType`] when not a boolean.
    fn flag(&self, field: &'static str) -> Result<Option<bool>, Flaw> {
        match self {
            Prop::Absent => Ok(None),
            Prop::Bool(b) => Ok(Some(*b)),
            Prop::Repeated => Err(Flaw::Repeated(field)),
            _ => Err(Flaw::WrongType(field, "true or false")),
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Prop<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PropVisitor<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for PropVisitor<'a> {
            type Value = Prop<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Prop<'a>, E> {
                Ok(Prop::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Prop<'a>, E> {
                Ok(Prop::Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Prop<'a>, E> {
                Ok(Prop::Text(Cow::Owned(v)))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Prop<'a>, E> {
                Ok(Prop::Bool(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Prop<'a>, E> {
                Ok(Prop::Integer(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Prop<'a>, E> {
                Ok(u64::try_from(v).map_or(Prop::Other, Prop::Integer))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Prop<'a>, E> {
                Ok(Prop::Other)
            }
            fn visit_unit<E>(self) -> Result<Prop<'a>, E> {
                Ok(Prop::Absent)
            }
            fn visit_none<E>(self) -> Result<Prop<'a>, E> {
                Ok(Prop::Absent)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Prop<'a>, D::Error> {
                Prop::deserialize(d)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Prop<'a>, A::Error> {
                IgnoredAny.visit_seq(seq)?;
                Ok(Prop::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Prop<'a>, A::Error> {
                IgnoredAny.visit_map(map)?;
                Ok(Prop::Other)
            }
        }
        deserializer.deserialize_any(PropVisitor(PhantomData))
    }
}

/// The keys of a STIX object that [`StixObject`] keeps; `Other` for the rest.
#[derive(Clone, Copy)]
enum Key {
    Type,
    Id,
    Created,
    Modified,
    Pattern,
    PatternType,
    ValidFrom,
    ValidUntil,
    Revoked,
    Confidence,
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a property name")
            }
            fn visit_str<E>(self, v: &str) -> Result<Key, E> {
                Ok(match v {
                    "type" => Key::Type,
                    "id" => Key::Id,
                    "created" => Key::Created,
                    "modified" => Key::Modified,
                    "pattern" => Key::Pattern,
                    "pattern_type" => Key::PatternType,
                    "valid_from" => Key::ValidFrom,
                    "valid_until" => Key::ValidUntil,
                    "revoked" => Key::Revoked,
                    "confidence" => Key::Confidence,
                    _ => Key::Other,
                })
            }
        }
        deserializer.deserialize_identifier(KeyVisitor)
    }
}

/// Reads the rest of a JSON object as a [`StixObject`], in one pass.
fn read_object<'de: 'a, 'a, A: MapAccess<'de>>(mut map: A) -> Result<StixObject<'a>, A::Error> {
    let mut o = StixObject::default();
    // The keys seen so far, one bit per [`Key`].
    let mut seen = 0u16;
    while let Some(key) = map.next_key::<Key>()? {
        let bit = 1 << key as u16;
        let slot = match key {
            Key::Type => &mut o.kind,
            Key::Id => &mut o.id,
            Key::Created => &mut o.created,
            Key::Modified => &mut o.modified,
            Key::Pattern => &mut o.pattern,
            Key::PatternType => &mut o.pattern_type,
            Key::ValidFrom => &mut o.valid_from,
            Key::ValidUntil => &mut o.valid_until,
            Key::Revoked => &mut o.revoked,
            Key::Confidence => &mut o.confidence,
            Key::Other => {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
        };
        let value = map.next_value::<Prop>()?;
        *slot = if seen & bit == 0 {
            value
        } else {
            Prop::Repeated
        };
        seen |= bit;
    }
    Ok(o)
}

impl<'de: 'a, 'a> Deserialize<'de> for Entry<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntryVisitor<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for EntryVisitor<'a> {
            type Value = Entry<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Entry<'a>, A::Error> {
                read_object(map).map(Entry::Object)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Entry<'a>, A::Error> {
                IgnoredAny.visit_seq(seq)?;
                Ok(Entry::NotAnObject)
            }
            fn visit_str<E>(self, _: &str) -> Result<Entry<'a>, E> {
                Ok(Entry::NotAnObject)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Entry<'a>, E> {
                Ok(Entry::NotAnObject)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Entry<'a>, E> {
                Ok(Entry::NotAnObject)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Entry<'a>, E> {
                Ok(Entry::NotAnObject)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Entry<'a>, E> {
                Ok(Entry::NotAnObject)
            }
            fn visit_unit<E>(self) -> Result<Entry<'a>, E> {
                Ok(Entry::NotAnObject)
            }
            fn visit_none<E>(self) -> Result<Entry<'a>, E> {
                Ok(Entry::NotAnObject)
            }
        }
        deserializer.deserialize_any(EntryVisitor(PhantomData))
    }
}

/// Why an entry of `objects` was skipped as [`MALFORMED_OBJECT`] or [`INVALID_INDICATOR`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flaw {
    NotAnObject,
    /// No `type`, or one that is not a string.
    NoType,
    /// The property is not of the JSON type it must be (the second field says which).
    WrongType(&'static str, &'static str),
    Repeated(&'static str),
    NoId,
    /// Neither `modified` nor `created`.
    NoVersion,
    BadTimestamp(&'static str),
    BadConfidence,
}

impl Flaw {
    /// The skip reason it is counted under.
    fn reason(self) -> &'static str {
        match self {
            Flaw::NotAnObject | Flaw::NoType => MALFORMED_OBJECT,
            _ => INVALID_INDICATOR,
        }
    }
}

impl fmt::Display for Flaw {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Flaw::NotAnObject => f.write_str("not a JSON object"),
            Flaw::NoType => f.write_str("no `type` string"),
            Flaw::WrongType(field, expected) => write!(f, "`{field}` is not {expected}"),
            Flaw::Repeated(field) => write!(f, "`{field}` appears more than once"),
            Flaw::NoId => f.write_str("no `id`"),
            Flaw::NoVersion => f.write_str("neither `modified` nor `created`"),
            Flaw::BadTimestamp(field) => write!(f, "`{field}` is not an RFC 3339 timestamp"),
            Flaw::BadConfidence => f.write_str("`confidence` is not an integer from 0 to 100"),
        }
    }
}

/// The IOCs of the indicator objects among `objects` (the entries of a page or bundle read
/// from `from`, e.g. `collection <id>` or a file's path), as records to store, counting
/// indicators read and values skipped in `pulled`: an indicator below `--min-confidence`
/// counts once as [`LOW_CONFIDENCE`], the others count their pattern's skipped values.
/// An entry that is not an object or has no `type` string counts as [`MALFORMED_OBJECT`],
/// an indicator with a property of the wrong JSON type or an unusable value as
/// [`INVALID_INDICATOR`] (both are counted among the items read); either way the rest is
/// read, and one warning names `from`, how many were skipped and the first of them.
/// Objects of other types are not read, whatever their properties hold.
/// Shared by TAXII pages and STIX bundles.
pub fn indicator_records<'a>(
    objects: impl IntoIterator<Item = Entry<'a>>,
    reading: &Reading,
    from: &str,
    pulled: &mut Pulled,
) -> Vec<IndicatorRecord> {
    indicator_records_from(0, objects, reading, from, pulled)
}

/// [`indicator_records`] of the entries of `objects` from index `first` on; those before
/// are not read (a TAXII page's objects that the page before it held already). Indexes in
/// warnings are the entries' own.
pub fn indicator_records_from<'a>(
    first: usize,
    objects: impl IntoIterator<Item = Entry<'a>>,
    reading: &Reading,
    from: &str,
    pulled: &mut Pulled,
) -> Vec<IndicatorRecord> {
    let mut records = Vec::new();
    let mut flawed = 0;
    let mut first_flawed: Option<(usize, Option<String>, Flaw)> = None;
    for (index, entry) in objects.into_iter().enumerate().skip(first) {
        let read = match &entry {
            Entry::NotAnObject => Err(Flaw::NotAnObject),
            Entry::Object(o) => match o.kind.text("type") {
                Ok(Some("indicator")) => record(o, reading),
                Ok(Some(_)) => continue,
                Ok(None) | Err(_) => Err(Flaw::NoType),
            },
        };
        pulled.items += 1;
        let (record, skipped) = match read {
            Ok(read) => read,
            Err(flaw) => {
                pulled.count_invalid(flaw.reason());
                flawed += 1;
                first_flawed.get_or_insert_with(|| (index, entry.id().map(str::to_owned), flaw));
                continue;
            }
        };
        let low = reading
            .min_confidence
            .zip(record.confidence)
            .is_some_and(|(min, confidence)| confidence < min);
        if low {
            pulled.count_invalid(LOW_CONFIDENCE);
        } else {
            for reason in skipped {
                pulled.count_invalid(reason);
            }
        }
        records.push(record);
    }
    if let Some((index, id, flaw)) = first_flawed {
        let id = id.map_or_else(String::new, |id| format!(" ({id})"));
        pulled.warn(format!(
            "{from}: {flawed} STIX object(s) skipped as `{MALFORMED_OBJECT}` or \
             `{INVALID_INDICATOR}`, the first objects[{index}]{id}: {flaw}; the other \
             objects were read. The feed's publisher can fix them (STIX 2.1 sections 3 and 4.7)"
        ));
    }
    records
}

/// Reads the entries of a bundle's (or any JSON object's) `objects` array, borrowing from
/// `json`; a missing `objects` is none. Errs only when `json` is not JSON, not an object,
/// or its `objects` is not an array: a malformed entry is read as such (see [`Entry`]).
pub fn parse_objects(json: &str) -> Result<Vec<Entry<'_>>, serde_json::Error> {
    #[derive(Deserialize)]
    struct Bundle<'a> {
        #[serde(borrow, default)]
        objects: Vec<Entry<'a>>,
    }
    let bundle: Bundle = serde_json::from_str(json)?;
    Ok(bundle.objects)
}

/// A timestamp property: `None` when absent.
fn time(prop: &Prop<'_>, field: &'static str) -> Result<Option<DateTime<Utc>>, Flaw> {
    match prop.text(field)? {
        None => Ok(None),
        Some(s) => match utc_timestamp(s) {
            Some(t) => Ok(Some(t)),
            None => DateTime::parse_from_rfc3339(s)
                .map(|t| Some(t.with_timezone(&Utc)))
                .map_err(|_| Flaw::BadTimestamp(field)),
        },
    }
}

/// The form STIX requires, `YYYY-MM-DDTHH:MM:SS[.s+]Z`, read without chrono's general
/// parser: a feed carries three of them per indicator. Anything else is left to chrono.
fn utc_timestamp(s: &str) -> Option<DateTime<Utc>> {
    let b = s.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        b.get(range)?.iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let punctuation = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if b.len() < 20 || b[b.len() - 1] != b'Z' || punctuation.iter().any(|&(i, c)| b[i] != c) {
        return None;
    }
    let fraction = &b[19..b.len() - 1];
    let nanos = match fraction {
        [] => 0,
        [b'.', rest @ ..] if (1..=9).contains(&rest.len()) => {
            digits(20..20 + rest.len())? * 10u32.pow(9 - rest.len() as u32)
        }
        _ => return None,
    };
    let date =
        chrono::NaiveDate::from_ymd_opt(digits(0..4)? as i32, digits(5..7)?, digits(8..10)?)?;
    let time = date.and_hms_nano_opt(digits(11..13)?, digits(14..16)?, digits(17..19)?, nanos)?;
    Some(time.and_utc())
}

/// A `confidence` value: an integer from 0 to 100 (STIX 2.1 section 3.2).
fn confidence(prop: &Prop<'_>) -> Result<Option<u8>, Flaw> {
    match prop {
        Prop::Absent => Ok(None),
        Prop::Integer(n) if *n <= 100 => Ok(Some(*n as u8)),
        Prop::Repeated => Err(Flaw::Repeated("confidence")),
        _ => Err(Flaw::BadConfidence),
    }
}

/// One indicator version to store and the reasons its pattern's values were skipped;
/// the flaw when a property the model reads has the wrong JSON type, or its identity, dates
/// or confidence are unusable.
fn record(
    o: &StixObject<'_>,
    reading: &Reading,
) -> Result<(IndicatorRecord, Vec<&'static str>), Flaw> {
    let id = o.id.text("id")?.ok_or(Flaw::NoId)?.to_owned();
    let modified = time(&o.modified, "modified")?;
    let created = time(&o.created, "created")?;
    let mut modified = modified.or(created).ok_or(Flaw::NoVersion)?;
    let valid_from = time(&o.valid_from, "valid_from")?;
    let valid_until = time(&o.valid_until, "valid_until")?;
    let confidence = confidence(&o.confidence)?;
    let revoked = o.revoked.flag("revoked")?.unwrap_or(false);
    let pattern_type = o.pattern_type.text("pattern_type")?;
    let pattern = o.pattern.text("pattern")?;
    // A time in the future would keep every later version out (the newest wins).
    let clamped = modified > reading.now + MAX_CLOCK_SKEW;
    if clamped {
        tracing::debug!("{id}: modified {modified} lies in the future; stored as modified now");
        modified = reading.now;
    }
    let mut iocs = Vec::new();
    let mut skipped = Vec::new();
    if pattern_type.unwrap_or("stix") != "stix" {
        skipped.push("non-stix-pattern");
    } else if let Some(pattern) = pattern {
        match parse(pattern) {
            Ok(parsed) => {
                let extracted = extract(&parsed, reading.scan_action);
                skipped = extracted.skipped;
                iocs = extracted.iocs;
            }
            Err(e) => {
                tracing::debug!("{id}: pattern does not parse: {e}");
                skipped.push("invalid-pattern");
            }
        }
    } else {
        skipped.push("invalid-pattern");
    }
    // Kept even without IOCs: a newer version must still replace an older one.
    let record = IndicatorRecord {
        id,
        modified,
        clamped,
        revoked,
        valid_from,
        valid_until,
        confidence,
        iocs,
    };
    Ok((record, skipped))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stix_timestamps_read_fast_agree_with_chrono() {
        for text in [
            "2026-11-23T08:00:00Z",
            "2026-11-23T08:00:00.1Z",
            "2026-11-23T08:00:00.123456Z",
            "2026-11-23T08:00:00.123456789Z",
            "1999-12-31T23:59:59.5Z",
            "2024-02-29T00:00:00Z",
        ] {
            let chrono = DateTime::parse_from_rfc3339(text)
                .unwrap()
                .with_timezone(&Utc);
            assert_eq!(utc_timestamp(text), Some(chrono), "{text}");
        }
        // Other forms go to chrono (an offset), or are refused (impossible dates, junk).
        for text in [
            "2026-11-23T08:00:00+01:00",
            "2026-11-23T08:00:00.Z",
            "2026-11-23T08:00:00.1234567890Z",
            "2025-02-29T00:00:00Z",
            "2026-11-23T24:00:00Z",
            "2026-11-23 08:00:00Z",
            "2026-1a-23T08:00:00Z",
            "",
        ] {
            assert_eq!(utc_timestamp(text), None, "{text}");
        }
        let offset = Prop::Text(Cow::Borrowed("2026-11-23T09:00:00+01:00"));
        assert_eq!(
            time(&offset, "modified"),
            Ok(Some("2026-11-23T08:00:00Z".parse().unwrap()))
        );
        assert_eq!(
            time(&Prop::Text(Cow::Borrowed("yesterday")), "modified"),
            Err(Flaw::BadTimestamp("modified"))
        );
    }

    #[test]
    fn indicators_become_records_and_the_rest_is_counted() {
        let json = r#"{"type":"bundle","objects":[
            {"type":"indicator","id":"indicator--1","created":"2026-11-01T00:00:00Z","modified":"2026-11-02T00:00:00.123Z",
             "pattern":"[domain-name:value = 'evil.example']","pattern_type":"stix","valid_from":"2026-11-01T00:00:00Z"},
            {"type":"indicator","id":"indicator--2","created":"2026-11-01T00:00:00Z",
             "pattern":"rule x { condition: true }","pattern_type":"yara","valid_from":"2026-11-01T00:00:00Z"},
            {"type":"indicator","id":"indicator--3","created":"2026-11-01T00:00:00Z",
             "pattern":"[domain-name:value = ","pattern_type":"stix","valid_from":"2026-11-01T00:00:00Z"},
            {"type":"indicator","id":"indicator--4","modified":"yesterday","pattern":"[url:value = 'http://x.example/']"},
            {"type":"malware","id":"malware--1","name":"x"}
        ]}"#;
        let mut pulled = Pulled::default();
        let records = indicator_records(
            parse_objects(json).unwrap(),
            &Reading::new(ScanAction::Block),
            "test.json",
            &mut pulled,
        );
        assert_eq!(pulled.items, 4);
        assert_eq!(records.len(), 3);
        assert_eq!(records[0].iocs.len(), 1);
        assert_eq!(
            records[0].modified.to_rfc3339(),
            "2026-11-02T00:00:00.123+00:00"
        );
        assert!(records[1].iocs.is_empty() && records[2].iocs.is_empty());
        assert_eq!(pulled.invalid.get("non-stix-pattern"), Some(&1));
        assert_eq!(pulled.invalid.get("invalid-pattern"), Some(&1));
        assert_eq!(pulled.invalid.get("invalid-indicator"), Some(&1));
    }

    #[test]
    fn a_modified_time_in_the_future_is_clamped_beyond_the_clock_skew() {
        let now: DateTime<Utc> = "2026-11-23T08:00:00Z".parse().unwrap();
        let json = r#"{"objects":[
            {"type":"indicator","id":"indicator--far","modified":"2099-01-01T00:00:00Z","pattern":"[domain-name:value = 'far.example']"},
            {"type":"indicator","id":"indicator--skew","modified":"2026-11-23T08:04:00Z","pattern":"[domain-name:value = 'skew.example']"}
        ]}"#;
        let reading = Reading {
            now,
            ..Reading::new(ScanAction::Block)
        };
        let records = indicator_records(
            parse_objects(json).unwrap(),
            &reading,
            "test.json",
            &mut Pulled::default(),
        );
        assert!(records[0].clamped);
        assert_eq!(records[0].modified, now);
        assert!(!records[1].clamped, "within the clock skew");
        assert_eq!(records[1].modified, now + chrono::Duration::minutes(4));
        assert!(clamped_warning(1, "collection x").contains("5 minutes in the future"));
    }

    #[test]
    fn confidence_below_the_threshold_is_counted_once_and_a_bad_one_is_invalid() {
        let json = r#"{"objects":[
            {"type":"indicator","id":"indicator--1","created":"2026-11-01T00:00:00Z","confidence":80,"pattern":"[domain-name:value = 'high.example']"},
            {"type":"indicator","id":"indicator--2","created":"2026-11-01T00:00:00Z","confidence":20,"pattern":"[domain-name:value = 'low.example' OR file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e']"},
            {"type":"indicator","id":"indicator--3","created":"2026-11-01T00:00:00Z","pattern":"[domain-name:value = 'none.example']"},
            {"type":"indicator","id":"indicator--4","created":"2026-11-01T00:00:00Z","confidence":"high","pattern":"[domain-name:value = 'word.example']"},
            {"type":"indicator","id":"indicator--5","created":"2026-11-01T00:00:00Z","confidence":150,"pattern":"[domain-name:value = 'over.example']"},
            {"type":"indicator","id":"indicator--6","created":"2026-11-01T00:00:00Z","confidence":null,"pattern":"[domain-name:value = 'null.example']"}
        ]}"#;
        let reading = Reading {
            min_confidence: Some(50),
            ..Reading::new(ScanAction::Block)
        };
        let mut pulled = Pulled::default();
        let records = indicator_records(
            parse_objects(json).unwrap(),
            &reading,
            "test.json",
            &mut pulled,
        );
        let confidences: Vec<Option<u8>> = records.iter().map(|r| r.confidence).collect();
        assert_eq!(confidences, [Some(80), Some(20), None, None]);
        // The low one is counted once, not by the values of its pattern (its MD5).
        assert_eq!(pulled.invalid.get(LOW_CONFIDENCE), Some(&1));
        assert_eq!(pulled.invalid.get("md5"), None);
        assert_eq!(pulled.invalid.get(INVALID_INDICATOR), Some(&2));
        assert_eq!(pulled.items, 6);
        // Stored with its IOCs: the store leaves it out while the threshold stands.
        assert_eq!(records[1].iocs.len(), 1);
    }

    #[test]
    fn an_entry_of_any_json_type_is_read_and_only_objects_are_objects() {
        let json = r#"{"objects":["str",5,-1,1.5,true,null,[1,{"a":[]}],{"x":{"y":[1,2]}},
            {"type":"indicator","id":"indicator--\u0031","pattern":"[domain-name:value = 'a.example']"}]}"#;
        let entries = parse_objects(json).unwrap();
        assert_eq!(entries.len(), 9);
        assert!(entries[..7].iter().all(|e| matches!(e, Entry::NotAnObject)));
        let Entry::Object(o) = &entries[7] else {
            panic!("an object")
        };
        assert_eq!(o.kind, Prop::Absent);
        let Entry::Object(o) = &entries[8] else {
            panic!("an object")
        };
        assert_eq!(o.kind, Prop::Text(Cow::Borrowed("indicator")));
        assert!(matches!(o.kind, Prop::Text(Cow::Borrowed(_))), "borrowed");
        assert!(matches!(o.id, Prop::Text(Cow::Owned(_))), "escaped: owned");
        assert_eq!(entries[8].id(), Some("indicator--1"));
        // The envelope itself stays strict: not JSON, or `objects` not an array.
        for bad in [
            r#"{"objects":{}}"#,
            r#"{"objects":"x"}"#,
            r#"{"objects":[{]}"#,
        ] {
            assert!(parse_objects(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn properties_of_any_json_type_are_read_and_judged_by_their_use() {
        fn props(json: &str) -> StixObject<'_> {
            let Entry::Object(o) = serde_json::from_str::<Entry>(json).unwrap() else {
                panic!("{json}")
            };
            o
        }
        let o = props(
            r#"{"type":5,"id":["a"],"created":{"t":1},"modified":null,"revoked":"yes","confidence":-3,"pattern":1.5}"#,
        );
        assert_eq!(o.kind, Prop::Integer(5));
        assert_eq!(o.id, Prop::Other);
        assert_eq!(o.created, Prop::Other);
        assert_eq!(o.modified, Prop::Absent);
        assert_eq!(o.revoked, Prop::Text(Cow::Borrowed("yes")));
        assert_eq!(o.confidence, Prop::Other);
        assert_eq!(o.pattern, Prop::Other);
        assert_eq!(o.id.text("id"), Err(Flaw::WrongType("id", "a string")));
        assert_eq!(
            o.revoked.flag("revoked"),
            Err(Flaw::WrongType("revoked", "true or false"))
        );
        assert_eq!(o.modified.text("modified"), Ok(None));
        let o = props(r#"{"id":"a","id":"b","revoked":null,"revoked":true,"type":"x"}"#);
        assert_eq!(o.id, Prop::Repeated);
        assert_eq!(o.revoked, Prop::Repeated);
        assert_eq!(o.id.text("id"), Err(Flaw::Repeated("id")));
        assert_eq!(o.id(), None);
        assert_eq!(
            props(r#"{"revoked":true}"#).revoked.flag("revoked"),
            Ok(Some(true))
        );
    }

    #[test]
    fn malformed_entries_are_skipped_counted_and_named_once_and_the_rest_is_read() {
        let good = |n: u32| {
            format!(
                r#"{{"type":"indicator","id":"indicator--{n}","created":"2026-11-01T00:00:00Z","pattern":"[domain-name:value = 'n{n}.example']"}}"#
            )
        };
        let indicator = |extra: &str| {
            format!(
                r#"{{"type":"indicator","id":"indicator--bad","created":"2026-11-01T00:00:00Z","pattern":"[domain-name:value = 'bad.example']",{extra}}}"#
            )
        };
        let objects = [
            good(1),
            "\"str\"".into(),
            "5".into(),
            "null".into(),
            r#"{"id":"indicator--untyped","pattern":"[domain-name:value = 'x.example']"}"#.into(),
            r#"{"type":["indicator"]}"#.into(),
            indicator(r#""pattern":5"#),
            indicator(r#""modified":[]"#),
            indicator(r#""pattern_type":{}"#),
            indicator(r#""valid_from":1"#),
            indicator(r#""valid_until":true"#),
            indicator(r#""revoked":"false""#),
            indicator(r#""created":7"#),
            r#"{"type":"indicator","id":3,"created":"2026-11-01T00:00:00Z","pattern":"[domain-name:value = 'id.example']"}"#.into(),
            // Well-formed objects of other types, odd properties and all, are not read.
            r#"{"type":"malware","id":5,"modified":[],"pattern":{}}"#.into(),
            good(2),
        ];
        let json = format!(r#"{{"objects":[{}]}}"#, objects.join(","));
        let mut pulled = Pulled::default();
        let records = indicator_records(
            parse_objects(&json).unwrap(),
            &Reading::new(ScanAction::Block),
            "bundle.json",
            &mut pulled,
        );
        let ids: Vec<&str> = records.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["indicator--1", "indicator--2"]);
        assert_eq!(pulled.invalid.get(MALFORMED_OBJECT), Some(&5));
        assert_eq!(pulled.invalid.get(INVALID_INDICATOR), Some(&8));
        assert_eq!(pulled.items, 15, "every entry but the malware");
        assert_eq!(
            pulled.warnings,
            [
                "bundle.json: 13 STIX object(s) skipped as `malformed-object` or \
                 `invalid-indicator`, the first objects[1]: not a JSON object; the other \
                 objects were read. The feed's publisher can fix them (STIX 2.1 sections 3 and 4.7)"
            ]
        );
    }

    #[test]
    fn the_first_flawed_entry_is_named_by_index_id_and_flaw() {
        let json = r#"{"objects":[
            {"type":"malware","id":"malware--1"},
            {"type":"indicator","id":"indicator--p","created":"2026-11-01T00:00:00Z","pattern":42},
            {"type":"indicator","id":"indicator--q","created":"2026-11-01T00:00:00Z","pattern":[]}
        ]}"#;
        let mut pulled = Pulled::default();
        let records = indicator_records(
            parse_objects(json).unwrap(),
            &Reading::new(ScanAction::Block),
            "collection c1",
            &mut pulled,
        );
        assert!(records.is_empty());
        assert_eq!(pulled.warnings.len(), 1);
        assert!(
            pulled.warnings[0].starts_with(
                "collection c1: 2 STIX object(s) skipped as `malformed-object` or `invalid-indicator`, \
                 the first objects[1] (indicator--p): `pattern` is not a string;"
            ),
            "{}",
            pulled.warnings[0]
        );
        // Nothing flawed, no warning.
        let mut pulled = Pulled::default();
        indicator_records(
            parse_objects(r#"{"objects":[{"type":"malware","id":7}]}"#).unwrap(),
            &Reading::new(ScanAction::Block),
            "x",
            &mut pulled,
        );
        assert!(pulled.warnings.is_empty());
        assert_eq!(pulled.items, 0);
    }
}
