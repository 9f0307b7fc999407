//! `apex-ioc-sync list`: what is on the destination's list (`--sink apex` or `vision-one`),
//! and which entries carry our tag. Destination-neutral: it reads the sink's records, as a
//! sync does. (`udso list` stays Apex Central's own listing, with its raw `type` values.)

use anyhow::anyhow;
use serde::Serialize;

use super::table::entry_table;
use crate::cli::SinkKind;
use crate::exit::Failure;
use crate::ioc::IocKind;
use crate::model::Listed;
use crate::settings::Settings;
use crate::sink::Sink;
use crate::{out, outln};

/// One entry as `list --json` prints it.
#[derive(Debug, Serialize)]
struct Entry<'a> {
    #[serde(rename = "type")]
    kind: IocKind,
    /// As listed.
    content: &'a str,
    notes: &'a str,
    scan_action: &'a str,
    /// RFC 3339, UTC; `null` never.
    expires: Option<String>,
    /// The `apex-ioc-sync:` tag in the notes, when one of our jobs made the entry.
    owner_tag: Option<&'a str>,
}

/// Lists `kind` (or every kind the destination holds) on the destination `--sink` names.
pub async fn run(settings: &Settings, kind: Option<IocKind>) -> Result<(), Failure> {
    let json = settings.opts.output.json;
    match settings.sink() {
        SinkKind::Apex => list(&settings.apex_sink()?, kind, json).await,
        SinkKind::VisionOne => list(&settings.vision_one_sink()?, kind, json).await,
    }
}

/// Lists one kind or every kind the sink holds, as a table or as JSON.
pub async fn list<S: Sink>(sink: &S, kind: Option<IocKind>, json: bool) -> Result<(), Failure> {
    let kinds = match kind {
        None => sink.kinds().to_vec(),
        Some(k) if sink.kinds().contains(&k) => vec![k],
        Some(k) => {
            return Err(Failure::usage(anyhow!(
                "{}'s list holds no {k} entries (it holds {})",
                sink.name(),
                kind_names(sink.kinds())
            )));
        }
    };
    let mut entries = Vec::new();
    for kind in kinds {
        entries.extend(sink.list(kind).await?);
    }
    if json {
        let listed: Vec<Entry> = entries
            .iter()
            .map(|e| Entry {
                kind: e.kind,
                content: &e.raw,
                notes: &e.notes,
                scan_action: &e.scan_action,
                expires: e.expires.map(|d| d.to_rfc3339()),
                owner_tag: e.owner_tag(),
            })
            .collect();
        outln!("{}", serde_json::to_string_pretty(&listed)?)?;
    } else {
        out!("{}", table(&entries))?;
    }
    Ok(())
}

fn kind_names(kinds: &[IocKind]) -> String {
    kinds
        .iter()
        .map(|k| k.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The entries as an aligned table (type, scan action, expiry, owner, content, notes) with a
/// count line.
pub fn table(entries: &[Listed]) -> String {
    let rows: Vec<[String; 6]> = entries
        .iter()
        .map(|e| {
            [
                e.kind.to_string(),
                e.scan_action.clone(),
                e.expires.map_or_else(
                    || "never".to_owned(),
                    |d| d.format("%Y-%m-%d %H:%M").to_string(),
                ),
                e.owner_tag()
                    .map_or_else(|| "-".to_owned(), |t| format!("ours:{t}")),
                e.raw.clone(),
                e.notes.clone(),
            ]
        })
        .collect();
    entry_table(
        &rows,
        entries.iter().map(|e| (e.kind.to_string(), e.owner_tag())),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ioc::Ioc;

    #[test]
    fn table_marks_our_entries_and_counts() {
        let entry = |kind, raw: &str, notes: &str, expires: Option<&str>| Listed {
            kind,
            raw: raw.into(),
            ioc: Ioc::new(kind, raw).ok(),
            notes: notes.into(),
            scan_action: "block".into(),
            expires: expires.map(|d| d.parse().unwrap()),
            settings_differ: false,
        };
        let t = table(&[
            entry(
                IocKind::FileSha256,
                &"a".repeat(64),
                "apex-ioc-sync:feed indicator--1",
                Some("2026-12-01T10:00:00Z"),
            ),
            entry(IocKind::Domain, "phish.example", "added by the SOC", None),
        ]);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].starts_with("TYPE"));
        assert!(lines[1].starts_with("file_sha256") && lines[1].contains("ours:feed"));
        assert!(lines[1].contains("2026-12-01 10:00"));
        assert!(lines[2].contains(" - ") && lines[2].contains("never"));
        assert_eq!(
            lines[3],
            "2 entries (domain 1, file_sha256 1); 1 carries an apex-ioc-sync tag (feed 1)"
        );
    }
}
