//! Splitting writes into requests Vision One takes: a JSON array body under 1 MB, and no
//! more than a set number of items.

use std::ops::Range;

use serde::Serialize;

/// The largest request body Vision One takes is "1 MB" (automation guide
/// "API-Request-Limits": larger requests get 413). Read as 1,000,000 bytes, the stricter
/// of the two readings.
pub const MAX_BODY_BYTES: usize = 1_000_000;

/// Items per add or delete request. Vision One publishes no maximum; public integrations
/// send up to 1,000 (`shared/reference/vision-one.md`). With 1,000, a cold push of 10,000
/// objects is 10 requests (the target is 200 or fewer), each well inside the API's
/// 60-second time-out, and one refused request holds back at most 1,000 items.
pub const MAX_ITEMS_PER_REQUEST: usize = 1_000;

/// How requests are cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    /// A request body is at most this many bytes.
    pub max_body_bytes: usize,
    /// A request carries at most this many items.
    pub max_items: usize,
}

impl Default for BatchLimits {
    fn default() -> Self {
        BatchLimits {
            max_body_bytes: MAX_BODY_BYTES,
            max_items: MAX_ITEMS_PER_REQUEST,
        }
    }
}

/// Cuts `items` into consecutive ranges whose JSON array bodies (`[a,b,...]`, as
/// `serde_json::to_vec` writes them) fit `limits`, in order, every item in exactly one
/// range. An item too large to fit even alone gets a range of its own: sending it is then
/// refused before any request (see [`body`]).
pub fn batches<T: Serialize>(items: &[T], limits: BatchLimits) -> Vec<Range<usize>> {
    let max_items = limits.max_items.max(1);
    let mut out = Vec::new();
    let mut start = 0;
    // `[` and `]`, then each item and a comma before every item but the first.
    let mut size = 2;
    for (i, item) in items.iter().enumerate() {
        let len = serialized_len(item);
        let count = i - start;
        let added = len + usize::from(count > 0);
        if count > 0 && (count >= max_items || size + added > limits.max_body_bytes) {
            out.push(start..i);
            start = i;
            size = 2 + len;
        } else {
            size += added;
        }
    }
    if start < items.len() {
        out.push(start..items.len());
    }
    out
}

/// The request body for `items`: a JSON array. Err with its size when it is larger than
/// `max_body_bytes`.
pub fn body<T: Serialize>(items: &[T], max_body_bytes: usize) -> Result<Vec<u8>, usize> {
    let body = serde_json::to_vec(items).expect("write items serialise");
    if body.len() > max_body_bytes {
        return Err(body.len());
    }
    Ok(body)
}

fn serialized_len<T: Serialize>(item: &T) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    serde_json::to_writer(&mut counter, item).expect("write items serialise");
    counter.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ioc::{IocKind, MAX_URL_LEN};
    use crate::model::ScanAction;
    use crate::sink::vision_one::model::{NewObject, RiskLevel};

    fn url_object(i: usize, len: usize) -> NewObject {
        let prefix = format!("https://evil.example/{i}/");
        NewObject {
            kind: IocKind::Url,
            value: format!("{prefix}{}", "a".repeat(len - prefix.len())),
            description: format!("apex-ioc-sync:feed indicator--{i:036}"),
            scan_action: ScanAction::Block,
            risk_level: RiskLevel::High,
            days_to_expiration: Some(30),
        }
    }

    /// Every item once, in order; every body within the limits.
    fn check(items: &[NewObject], limits: BatchLimits) -> Vec<Range<usize>> {
        let ranges = batches(items, limits);
        let mut next = 0;
        for r in &ranges {
            assert_eq!(r.start, next);
            assert!(!r.is_empty() && r.len() <= limits.max_items);
            let b = body(&items[r.clone()], limits.max_body_bytes).unwrap();
            assert_eq!(
                serde_json::from_slice::<Vec<serde_json::Value>>(&b)
                    .unwrap()
                    .len(),
                r.len()
            );
            next = r.end;
        }
        assert_eq!(next, items.len());
        ranges
    }

    #[test]
    fn longest_urls_stay_under_one_megabyte() {
        let items: Vec<NewObject> = (0..2_500).map(|i| url_object(i, MAX_URL_LEN)).collect();
        let limits = BatchLimits::default();
        let ranges = check(&items, limits);
        // About 2,160 bytes per item: 462 fit under 1,000,000 bytes.
        let per = serde_json::to_vec(&items[0]).unwrap().len() + 1;
        assert!(ranges.len() >= 2_500 * per / MAX_BODY_BYTES);
        assert_eq!(ranges.len(), 6);
        for r in &ranges[..ranges.len() - 1] {
            let size = body(&items[r.clone()], usize::MAX).unwrap().len();
            // Full: one more item would not have fitted.
            assert!(
                size <= MAX_BODY_BYTES && size + per > MAX_BODY_BYTES,
                "{size}"
            );
        }
    }

    #[test]
    fn short_items_are_cut_by_count() {
        let items: Vec<NewObject> = (0..2_345).map(|i| url_object(i, 40)).collect();
        let ranges = check(&items, BatchLimits::default());
        assert_eq!(ranges, [0..1_000, 1_000..2_000, 2_000..2_345]);
    }

    #[test]
    fn exact_fit_and_edges() {
        let items: Vec<NewObject> = (0..10).map(|i| url_object(i, 100)).collect();
        let one = serde_json::to_vec(&items[0]).unwrap().len();
        // Room for exactly three items: 2 + 3 * one + 2 commas.
        let limits = BatchLimits {
            max_body_bytes: 2 + 3 * one + 2,
            max_items: 100,
        };
        let ranges = check(&items, limits);
        assert_eq!(ranges[0], 0..3);
        assert_eq!(
            body(&items[0..3], limits.max_body_bytes).unwrap().len(),
            limits.max_body_bytes
        );
        assert!(batches::<NewObject>(&[], limits).is_empty());
        // An item that cannot fit alone is on its own, and its body is refused.
        let limits = BatchLimits {
            max_body_bytes: one,
            max_items: 100,
        };
        let ranges = batches(&items[..3], limits);
        assert_eq!(ranges, [0..1, 1..2, 2..3]);
        assert_eq!(body(&items[0..1], one), Err(one + 2));
    }
}
