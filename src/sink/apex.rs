//! Apex Central's User-Defined Suspicious Objects list as a [`Sink`]: one signed request per
//! write (`PUT` adds or updates, `DELETE` removes), `buffer_unordered` for the bounded
//! concurrency. The API client and its wire types are `crate::apex`; this module only
//! translates between them and the sync model.

use std::time::Instant;

use futures::StreamExt;

use super::Sink;
use crate::apex::client::ApexClient;
use crate::apex::udso::{Deleted, UdsoEntry, UdsoWrite};
use crate::ioc::IocKind;
use crate::model::{Listed, Put, Write, WriteError, WriteResult, Written, past};

/// Entries per type the UDSO list holds (Apex Central's documented maximum; past it a put
/// is refused with HTTP 413, error 12).
pub const UDSO_CAPACITY: usize = 10_000;

/// The kinds the UDSO list holds: its `type` values `ip`, `domain`, `url`, `file_sha1`
/// (`reference/apex-central.md`, UDSO list). It has no SHA-256 type.
pub const APEX_KINDS: [IocKind; 4] = [
    IocKind::Ip,
    IocKind::Domain,
    IocKind::Url,
    IocKind::FileSha1,
];

/// Apex Central as a destination.
#[derive(Debug, Clone)]
pub struct ApexSink {
    client: ApexClient,
}

impl ApexSink {
    pub fn new(client: ApexClient) -> Self {
        ApexSink { client }
    }

    pub fn client(&self) -> &ApexClient {
        &self.client
    }
}

/// Entries as Apex lists them, as the sync model's records: the kind from `type` (`file`,
/// as some Apex versions list SHA-1 entries, is `file_sha1`), entries of a type this tool
/// does not know left out, the expiration (listed as UTC without a zone) as UTC.
pub fn listed_entries(entries: Vec<UdsoEntry>) -> Vec<Listed> {
    entries
        .into_iter()
        .filter_map(|e| {
            let kind = e.ioc_kind()?;
            Some(Listed {
                kind,
                ioc: e.ioc(),
                expires: e.expiration_utc_date.map(|d| d.and_utc()),
                raw: e.content,
                notes: e.notes,
                scan_action: e.scan_action,
                // Apex has no setting beside scan action and expiration.
                settings_differ: false,
            })
        })
        .collect()
}

fn udso_write(put: Put) -> UdsoWrite {
    UdsoWrite {
        kind: put.kind,
        content: put.content,
        notes: put.notes,
        scan_action: put.scan_action,
        expiration: put.expiration,
    }
}

impl Sink for ApexSink {
    fn name(&self) -> &'static str {
        "Apex Central"
    }

    fn id(&self) -> &'static str {
        "apex"
    }

    fn location(&self) -> String {
        self.client.base_url().to_owned()
    }

    fn kinds(&self) -> &'static [IocKind] {
        &APEX_KINDS
    }

    fn capacity_per_kind(&self) -> usize {
        UDSO_CAPACITY
    }

    /// [`ApexClient::check_access`]: the ip list filtered to nothing, signed.
    async fn healthcheck(&self) -> anyhow::Result<()> {
        Ok(self.client.check_access().await?)
    }

    /// `GET .../UserDefinedSO/?type=<kind>`; entries of other types (a server that ignores
    /// the filter) are left out.
    async fn list(&self, kind: IocKind) -> anyhow::Result<Vec<Listed>> {
        let entries = self.client.list_udso(kind).await?;
        Ok(listed_entries(entries)
            .into_iter()
            .filter(|e| e.kind == kind)
            .collect())
    }

    /// One request per write; a delete of an entry already gone (500/8) is done; a put
    /// refused as full (413/12) is flagged [`WriteError::list_full`].
    async fn apply(
        &self,
        writes: Vec<Write>,
        concurrency: usize,
        deadline: Option<Instant>,
        done: &mut (dyn FnMut(Write, WriteResult) + Send),
    ) {
        let client = &self.client;
        let mut results = futures::stream::iter(writes)
            // A write's future is made and first polled when a slot frees: its turn.
            .map(|write| async move {
                if past(deadline) {
                    let not_started = WriteError::not_started(&write);
                    return (write, Err(not_started));
                }
                let result = match &write {
                    Write::Put(put) => client
                        .put_udso(&udso_write(put.clone()))
                        .await
                        .map(|()| Written::Done),
                    Write::Delete { kind, content } => client
                        .delete_udso(*kind, content)
                        .await
                        .map(|deleted| match deleted {
                            Deleted::Removed => Written::Done,
                            Deleted::AlreadyGone => Written::AlreadyGone,
                        }),
                };
                let result = result.map_err(|e| WriteError::failed(e.to_string(), e.is_capacity()));
                (write, result)
            })
            .buffer_unordered(concurrency.max(1));
        while let Some((write, result)) = results.next().await {
            done(write, result);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_entries_take_their_kind_from_the_type() {
        let entry = |kind: &str, content: &str| UdsoEntry {
            kind: kind.into(),
            content: content.into(),
            notes: "apex-ioc-sync:t x".into(),
            scan_action: "block".into(),
            expiration_utc_date: Some("2026-12-01T10:00:00".parse().unwrap()),
        };
        let listed = listed_entries(vec![
            entry("file", "A94A8FE5CCB19BA61C4C0873D391E987982FBBD3"),
            entry("registry", "HKLM"),
            entry("domain", "*.evil.example"),
        ]);
        assert_eq!(listed.len(), 2, "the unknown type is left out");
        assert_eq!(listed[0].kind, IocKind::FileSha1);
        assert_eq!(listed[0].raw, "A94A8FE5CCB19BA61C4C0873D391E987982FBBD3");
        assert_eq!(
            listed[0].ioc.as_ref().unwrap().value,
            "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3"
        );
        assert_eq!(listed[0].owner_tag(), Some("t"));
        assert_eq!(
            listed[0].expires.unwrap().to_rfc3339(),
            "2026-12-01T10:00:00+00:00"
        );
        assert_eq!((listed[1].kind, &listed[1].ioc), (IocKind::Domain, &None));
    }
}
