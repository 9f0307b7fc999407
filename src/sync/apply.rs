//! Applying writes to the UDSO list: adds and updates first, removals last (so protection
//! never has a gap), each phase with bounded concurrency. Every request is retried by the
//! client; a write that still fails is reported and the others go on.

use futures::StreamExt;
use serde::Serialize;

use crate::apex::client::{ApexClient, ApexError};
use crate::apex::udso::{Deleted, UdsoWrite};
use crate::ioc::IocKind;

/// One change to the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    Put(UdsoWrite),
    Delete { kind: IocKind, content: String },
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
}

/// A write that failed after its retries.
#[derive(Debug, Clone, Serialize)]
pub struct FailedWrite {
    #[serde(rename = "type")]
    pub kind: IocKind,
    pub content: String,
    pub action: &'static str,
    pub error: String,
}

/// What applying a set of writes did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Applied {
    pub put: usize,
    pub deleted: usize,
    /// Deletes of entries that were already gone (500/8): done all the same.
    pub already_gone: usize,
    pub failed: Vec<FailedWrite>,
}

/// Applies `writes` with at most `threads` requests at once: every put, then every delete.
pub async fn apply(client: &ApexClient, writes: Vec<Write>, threads: usize) -> Applied {
    let (puts, deletes): (Vec<Write>, Vec<Write>) =
        writes.into_iter().partition(|w| matches!(w, Write::Put(_)));
    let mut applied = Applied::default();
    for phase in [puts, deletes] {
        let mut results = futures::stream::iter(phase)
            .map(|write| async move {
                let result = match &write {
                    Write::Put(w) => client.put_udso(w).await.map(|()| None),
                    Write::Delete { kind, content } => {
                        client.delete_udso(*kind, content).await.map(Some)
                    }
                };
                (write, result)
            })
            .buffer_unordered(threads.max(1));
        while let Some((write, result)) = results.next().await {
            record(&mut applied, write, result);
        }
    }
    applied
}

fn record(applied: &mut Applied, write: Write, result: Result<Option<Deleted>, ApexError>) {
    match result {
        Ok(None) => applied.put += 1,
        Ok(Some(Deleted::Removed)) => applied.deleted += 1,
        Ok(Some(Deleted::AlreadyGone)) => applied.already_gone += 1,
        Err(e) => {
            tracing::error!("{e}");
            applied.failed.push(FailedWrite {
                kind: write.kind(),
                content: write.content().to_owned(),
                action: match write {
                    Write::Put(_) => "put",
                    Write::Delete { .. } => "delete",
                },
                error: e.to_string(),
            });
        }
    }
}
