//! `apex-ioc-sync udso list`: what is on the list, and which entries carry our tag.

use serde::Serialize;

use super::table::entry_table;
use crate::apex::client::ApexClient;
use crate::apex::udso::UdsoEntry;
use crate::exit::Failure;
use crate::ioc::IocKind;
use crate::sink::apex::APEX_KINDS;
use crate::{out, outln};

#[derive(Debug, Serialize)]
struct Listed<'a> {
    #[serde(flatten)]
    entry: &'a UdsoEntry,
    /// The `apex-ioc-sync:` tag in the notes, when one of our jobs made the entry.
    owner_tag: Option<&'a str>,
}

/// Lists one type or every type, as a table or as JSON.
pub async fn list(client: &ApexClient, kind: Option<IocKind>, json: bool) -> Result<(), Failure> {
    let kinds = kind.map_or_else(|| APEX_KINDS.to_vec(), |k| vec![k]);
    let mut entries = Vec::new();
    for kind in kinds {
        entries.extend(client.list_udso(kind).await?);
    }
    if json {
        let listed: Vec<Listed> = entries
            .iter()
            .map(|entry| Listed {
                entry,
                owner_tag: entry.owner_tag(),
            })
            .collect();
        outln!("{}", serde_json::to_string_pretty(&listed)?)?;
    } else {
        out!("{}", table(&entries))?;
    }
    Ok(())
}

/// The list as an aligned table with a count line.
pub fn table(entries: &[UdsoEntry]) -> String {
    let rows: Vec<[String; 6]> = entries
        .iter()
        .map(|e| {
            [
                e.kind.clone(),
                e.scan_action.clone(),
                e.expiration_utc_date.map_or_else(
                    || "never".to_owned(),
                    |d| d.format("%Y-%m-%d %H:%M").to_string(),
                ),
                e.owner_tag()
                    .map_or_else(|| "-".to_owned(), |t| format!("ours:{t}")),
                e.content.clone(),
                e.notes.clone(),
            ]
        })
        .collect();
    entry_table(
        &rows,
        entries.iter().map(|e| (e.kind.clone(), e.owner_tag())),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_marks_our_entries_and_counts() {
        let entries = vec![
            UdsoEntry {
                kind: "ip".into(),
                content: "1.2.3.4".into(),
                notes: "apex-ioc-sync:lumu C2C".into(),
                scan_action: "block".into(),
                expiration_utc_date: Some("2026-12-01T10:00:00".parse().unwrap()),
            },
            UdsoEntry {
                kind: "domain".into(),
                content: "manual.example".into(),
                notes: "added by the SOC".into(),
                scan_action: "log".into(),
                expiration_utc_date: None,
            },
        ];
        let t = table(&entries);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].starts_with("TYPE"));
        assert!(lines[1].contains("ours:lumu") && lines[1].contains("2026-12-01 10:00"));
        assert!(lines[2].contains(" - ") && lines[2].contains("never"));
        assert_eq!(
            lines[3],
            "2 entries (domain 1, ip 1); 1 carries an apex-ioc-sync tag (lumu 1)"
        );
        assert_eq!(
            table(&[]),
            "TYPE  ACTION  EXPIRES (UTC)  OWNER  CONTENT  NOTES\n0 entries (none); 0 carry an apex-ioc-sync tag\n"
        );
    }
}
