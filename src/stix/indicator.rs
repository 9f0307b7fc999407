//! The STIX 2.1 indicator model shared by every STIX source (TAXII pages, bundle files):
//! the serde model of an object as far as indicators matter, and the records to store, one
//! per indicator version, with the IOCs its pattern yields (see `reference/taxii-stix.md`).

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::{extract::extract, pattern::parse};
use crate::ioc::Ioc;
use crate::source::Pulled;
use crate::sync::model::ScanAction;

/// Skip code of an indicator whose `confidence` is below `--min-confidence`.
pub const LOW_CONFIDENCE: &str = "low-confidence";
/// Skip code of an indicator without a usable `id`, `modified`/`created`, validity time or
/// `confidence` (an integer from 0 to 100, STIX 2.1 section 3.2).
pub const INVALID_INDICATOR: &str = "invalid-indicator";

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
    /// `modified` was clamped: any version read later replaces this one (see `state.rs`).
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
/// borrowed from the JSON text it was read from. Other object types keep only their `type`.
#[derive(Debug, Deserialize)]
pub struct StixObject<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    created: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    modified: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pattern: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pattern_type: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    valid_from: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    valid_until: Option<Cow<'a, str>>,
    #[serde(default)]
    revoked: bool,
    /// Any JSON value: one that is not an integer from 0 to 100 makes the indicator
    /// invalid, not the page.
    #[serde(default)]
    confidence: Option<serde_json::Value>,
}

impl StixObject<'_> {
    /// The object's `id`, if it has one.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// The object's `modified` as written, if it has one.
    pub fn modified_text(&self) -> Option<&str> {
        self.modified.as_deref()
    }
}

/// The IOCs of the indicator objects among `objects`, as records to store, counting
/// indicators read and values skipped in `pulled`: an indicator below `--min-confidence`
/// counts once as [`LOW_CONFIDENCE`], the others count their pattern's skipped values.
/// Shared by TAXII pages and STIX bundles.
pub fn indicator_records<'a>(
    objects: impl IntoIterator<Item = StixObject<'a>>,
    reading: &Reading,
    pulled: &mut Pulled,
) -> Vec<IndicatorRecord> {
    let mut records = Vec::new();
    for o in objects {
        if o.kind != "indicator" {
            continue;
        }
        pulled.items += 1;
        let Some((record, skipped)) = record(&o, reading) else {
            pulled.skip(INVALID_INDICATOR);
            continue;
        };
        let low = reading
            .min_confidence
            .zip(record.confidence)
            .is_some_and(|(min, confidence)| confidence < min);
        if low {
            pulled.skip(LOW_CONFIDENCE);
        } else {
            for reason in skipped {
                pulled.skip(reason);
            }
        }
        records.push(record);
    }
    records
}

/// Reads the STIX objects of a bundle's (or any JSON object's) `objects` field, borrowing
/// from `json`; a missing `objects` is none.
pub fn parse_objects(json: &str) -> Result<Vec<StixObject<'_>>, serde_json::Error> {
    #[derive(Deserialize)]
    struct Bundle<'a> {
        #[serde(borrow, default)]
        objects: Vec<StixObject<'a>>,
    }
    let bundle: Bundle = serde_json::from_str(json)?;
    Ok(bundle.objects)
}

fn time(s: &Option<Cow<'_, str>>) -> Result<Option<DateTime<Utc>>, ()> {
    match s {
        None => Ok(None),
        Some(s) => match utc_timestamp(s) {
            Some(t) => Ok(Some(t)),
            None => DateTime::parse_from_rfc3339(s)
                .map(|t| Some(t.with_timezone(&Utc)))
                .map_err(|_| ()),
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

/// A `confidence` value: an integer from 0 to 100 (`Err` otherwise).
fn confidence(value: &Option<serde_json::Value>) -> Result<Option<u8>, ()> {
    match value {
        None => Ok(None),
        Some(v) => match v.as_u64() {
            Some(n) if n <= 100 => Ok(Some(n as u8)),
            _ => Err(()),
        },
    }
}

/// One indicator version to store and the reasons its pattern's values were skipped;
/// `None` when its identity, dates or confidence are unusable.
fn record(o: &StixObject<'_>, reading: &Reading) -> Option<(IndicatorRecord, Vec<&'static str>)> {
    let id = o.id.as_deref()?.to_owned();
    let mut modified = time(&o.modified).ok()?.or(time(&o.created).ok()?)?;
    let valid_from = time(&o.valid_from).ok()?;
    let valid_until = time(&o.valid_until).ok()?;
    let confidence = confidence(&o.confidence).ok()?;
    // A time in the future would keep every later version out (the newest wins).
    let clamped = modified > reading.now + MAX_CLOCK_SKEW;
    if clamped {
        tracing::debug!("{id}: modified {modified} lies in the future; stored as modified now");
        modified = reading.now;
    }
    let mut iocs = Vec::new();
    let mut skipped = Vec::new();
    if o.pattern_type.as_deref().unwrap_or("stix") != "stix" {
        skipped.push("non-stix-pattern");
    } else if let Some(pattern) = &o.pattern {
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
        revoked: o.revoked,
        valid_from,
        valid_until,
        confidence,
        iocs,
    };
    Some((record, skipped))
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
        let offset = Some(Cow::Borrowed("2026-11-23T09:00:00+01:00"));
        assert_eq!(
            time(&offset),
            Ok(Some("2026-11-23T08:00:00Z".parse().unwrap()))
        );
        assert_eq!(time(&Some(Cow::Borrowed("yesterday"))), Err(()));
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
        assert_eq!(pulled.skipped.get("non-stix-pattern"), Some(&1));
        assert_eq!(pulled.skipped.get("invalid-pattern"), Some(&1));
        assert_eq!(pulled.skipped.get("invalid-indicator"), Some(&1));
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
        let records = indicator_records(parse_objects(json).unwrap(), &reading, &mut pulled);
        let confidences: Vec<Option<u8>> = records.iter().map(|r| r.confidence).collect();
        assert_eq!(confidences, [Some(80), Some(20), None, None]);
        // The low one is counted once, not by the values of its pattern (its MD5).
        assert_eq!(pulled.skipped.get(LOW_CONFIDENCE), Some(&1));
        assert_eq!(pulled.skipped.get("md5"), None);
        assert_eq!(pulled.skipped.get(INVALID_INDICATOR), Some(&2));
        assert_eq!(pulled.items, 6);
        // Stored with its IOCs: the store leaves it out while the threshold stands.
        assert_eq!(records[1].iocs.len(), 1);
    }
}
