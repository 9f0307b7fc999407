//! Vision One's suspicious-object list as a [`Sink`]: puts (adds and updates alike) become
//! add items, deletes delete items, each cut into requests under 1 MB ([`super::batch`]);
//! up to `--threads` requests run at once, and each item's result in the 207 answer is
//! reported as its request completes.
//!
//! An update is an add: Vision One has no update call, and adding an object that is listed
//! replaces its description, scan action, risk level and expiry (the Vision One console's
//! "edit" does the same on one object; the simulator behaves so). The planner names an
//! update by the value as listed, so the add lands on that object.

use std::time::Instant;

use chrono::{DateTime, Utc};
use futures::StreamExt;

use super::client::VisionOneClient;
use super::model::{ItemError, ItemOutcome, ItemResult, NEVER_EXPIRES, NewObject, ObjectRef};
use super::{CAPACITY_PER_TYPE, RiskLevel, VisionOneError};
use crate::ioc::IocKind;
use crate::model::{Listed, Put, Write, WriteError, WriteResult, Written, past};
use crate::sink::Sink;

/// Every kind this tool has: Vision One's types `ip`, `domain`, `url`, `fileSha1` and
/// `fileSha256` (`model::ObjectType::for_kind`).
pub const VISION_ONE_KINDS: [IocKind; 5] = IocKind::ALL;

/// Vision One as a destination.
#[derive(Debug, Clone)]
pub struct VisionOneSink {
    client: VisionOneClient,
    risk_level: RiskLevel,
}

impl VisionOneSink {
    /// A sink writing through `client`, every object at `risk_level` (`--risk-level`).
    pub fn new(client: VisionOneClient, risk_level: RiskLevel) -> Self {
        VisionOneSink { client, risk_level }
    }

    pub fn client(&self) -> &VisionOneClient {
        &self.client
    }

    /// The add item of a put: the value, the notes as `description`, the scan action, this
    /// sink's risk level, and the expiry in whole days from `now` (rounded: the plan set it
    /// `--expiration-days` from its own `now`, moments before) or [`NEVER_EXPIRES`].
    fn new_object(&self, put: &Put, now: DateTime<Utc>) -> NewObject {
        NewObject {
            kind: put.kind,
            value: put.content.clone(),
            description: put.notes.clone(),
            scan_action: put.scan_action,
            risk_level: self.risk_level,
            days_to_expiration: Some(days_to_expiration(put.expiration, now)),
        }
    }
}

/// `daysToExpiration` for an expiration: whole days from `now`, rounded, at least 1; -1 for
/// none.
pub fn days_to_expiration(expiration: Option<DateTime<Utc>>, now: DateTime<Utc>) -> i32 {
    const DAY: i64 = 86_400;
    match expiration {
        None => NEVER_EXPIRES,
        Some(at) => {
            let days = ((at - now).num_seconds() + DAY / 2).div_euclid(DAY);
            i32::try_from(days.max(1)).unwrap_or(i32::MAX)
        }
    }
}

/// The sync model's record of a listed object; its settings differ when it is listed with
/// another risk level than `risk_level`.
fn listed(object: super::ListedObject, risk_level: RiskLevel) -> Listed {
    Listed {
        kind: object.kind,
        settings_differ: object.risk_level != risk_level.as_str(),
        raw: object.raw,
        ioc: object.ioc.ok(),
        notes: object.description,
        scan_action: object.scan_action,
        expires: object.expires,
    }
}

/// One item's result as the sync model's.
fn item_result(write: &Write, result: ItemResult) -> WriteResult {
    match result {
        Ok(ItemOutcome::Done) => Ok(Written::Done),
        Ok(ItemOutcome::AlreadyGone) => Ok(Written::AlreadyGone),
        Err(e) => Err(WriteError::failed(
            format!("{} {}: {e}", verb(write), what(write)),
            matches!(e, ItemError::ListFull { .. }),
        )),
    }
}

/// The result of every item of a request that failed as a whole (a transport error, a
/// refused token, a 413, an answer that cannot be read).
fn request_failed(write: &Write, e: &VisionOneError) -> WriteResult {
    Err(WriteError::failed(
        format!("{} {}: {e}", verb(write), what(write)),
        e.is_list_full(),
    ))
}

fn verb(write: &Write) -> &'static str {
    match write {
        Write::Put(_) => "Vision One did not add",
        Write::Delete { .. } => "Vision One did not delete",
    }
}

fn what(write: &Write) -> String {
    format!("{} `{}`", write.kind(), write.content())
}

/// One request's worth of items.
enum Batch {
    Add(std::ops::Range<usize>),
    Delete(std::ops::Range<usize>),
}

impl Sink for VisionOneSink {
    fn name(&self) -> &'static str {
        "Vision One"
    }

    fn id(&self) -> &'static str {
        "vision-one"
    }

    fn location(&self) -> String {
        self.client.base_url().origin().ascii_serialization()
    }

    fn kinds(&self) -> &'static [IocKind] {
        &VISION_ONE_KINDS
    }

    fn capacity_per_kind(&self) -> usize {
        CAPACITY_PER_TYPE
    }

    /// The batch's item limit ([`super::batch::BatchLimits::max_items`]).
    fn writes_per_request(&self) -> usize {
        self.client.limits().max_items
    }

    /// [`VisionOneClient::check_access`]: one list page of 50 `ip` objects.
    async fn healthcheck(&self) -> anyhow::Result<()> {
        Ok(self.client.check_access().await?)
    }

    /// Every object of the kind's type, following `nextLink` ([`VisionOneClient::list`]).
    async fn list(&self, kind: IocKind) -> anyhow::Result<Vec<Listed>> {
        Ok(self
            .client
            .list(kind)
            .await?
            .into_iter()
            .map(|o| listed(o, self.risk_level))
            .collect())
    }

    async fn apply(
        &self,
        writes: Vec<Write>,
        concurrency: usize,
        deadline: Option<Instant>,
        done: &mut (dyn FnMut(Write, WriteResult) + Send),
    ) {
        let now = Utc::now();
        let (puts, deletes): (Vec<Write>, Vec<Write>) =
            writes.into_iter().partition(|w| matches!(w, Write::Put(_)));
        let adds: Vec<NewObject> = puts
            .iter()
            .filter_map(|w| match w {
                Write::Put(put) => Some(self.new_object(put, now)),
                Write::Delete { .. } => None,
            })
            .collect();
        let refs: Vec<ObjectRef> = deletes
            .iter()
            .map(|w| ObjectRef {
                kind: w.kind(),
                value: w.content().to_owned(),
            })
            .collect();
        let batches = self
            .client
            .batches(&adds)
            .into_iter()
            .map(Batch::Add)
            .chain(self.client.batches(&refs).into_iter().map(Batch::Delete));
        let (adds, refs, client) = (&adds, &refs, &self.client);
        let mut answers = futures::stream::iter(batches)
            // A batch's future is made and first polled when a slot frees: its turn.
            .map(|batch| async move {
                if past(deadline) {
                    return (batch, None);
                }
                let result = match &batch {
                    Batch::Add(range) => client.add(&adds[range.clone()]).await,
                    Batch::Delete(range) => client.delete(&refs[range.clone()]).await,
                };
                (batch, Some(result))
            })
            .buffer_unordered(concurrency.max(1));
        let mut puts: Vec<Option<Write>> = puts.into_iter().map(Some).collect();
        let mut deletes: Vec<Option<Write>> = deletes.into_iter().map(Some).collect();
        while let Some((batch, result)) = answers.next().await {
            let (writes, range) = match batch {
                Batch::Add(range) => (&mut puts, range),
                Batch::Delete(range) => (&mut deletes, range),
            };
            let writes = writes[range]
                .iter_mut()
                .map(|w| w.take().expect("each item is answered once"));
            match result {
                Some(Ok(results)) => {
                    for (write, result) in writes.zip(results) {
                        let result = item_result(&write, result);
                        done(write, result);
                    }
                }
                Some(Err(e)) => {
                    for write in writes {
                        let result = request_failed(&write, &e);
                        done(write, result);
                    }
                }
                None => {
                    for write in writes {
                        let not_started = WriteError::not_started(&write);
                        done(write, Err(not_started));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn expirations_become_whole_days_or_never() {
        let now: DateTime<Utc> = "2026-11-23T12:00:00Z".parse().unwrap();
        let at = |secs: i64| Some(now + Duration::seconds(secs));
        assert_eq!(days_to_expiration(at(30 * 86_400), now), 30);
        // The plan's `now` was a moment earlier: still 30.
        assert_eq!(days_to_expiration(at(30 * 86_400 - 3), now), 30);
        assert_eq!(days_to_expiration(at(60), now), 1);
        assert_eq!(days_to_expiration(at(-60), now), 1);
        assert_eq!(days_to_expiration(None, now), -1);
    }
}
