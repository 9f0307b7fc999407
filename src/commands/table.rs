//! Aligned text tables for the listing subcommands.

use std::collections::BTreeMap;

/// Rows under a header, each column padded to its widest cell; a column in `capped` pads
/// to at most that width, so one long cell does not push the others off the screen. The
/// last column is never padded.
pub fn aligned<const N: usize>(
    header: [&str; N],
    rows: &[[String; N]],
    capped: &[(usize, usize)],
) -> String {
    let mut widths = header.map(|h| h.chars().count());
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for &(column, max) in capped {
        widths[column] = widths[column].min(max);
    }
    let header = header.map(String::from);
    let mut out = String::new();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == N {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A destination's entries as `list` and `udso list` print them: `rows` (type, scan action,
/// expiry, owner, content, notes) under their header, content capped at 60 columns, then a
/// count line by type and by ownership tag, from `counted` (each entry's type name and tag).
pub fn entry_table<'a>(
    rows: &[[String; 6]],
    counted: impl IntoIterator<Item = (String, Option<&'a str>)>,
) -> String {
    const MAX_CONTENT_WIDTH: usize = 60;
    let mut out = aligned(
        [
            "TYPE",
            "ACTION",
            "EXPIRES (UTC)",
            "OWNER",
            "CONTENT",
            "NOTES",
        ],
        rows,
        &[(4, MAX_CONTENT_WIDTH)],
    );
    let mut by_type: BTreeMap<String, usize> = BTreeMap::new();
    let mut by_tag: BTreeMap<&str, usize> = BTreeMap::new();
    for (kind, tag) in counted {
        *by_type.entry(kind).or_default() += 1;
        if let Some(tag) = tag {
            *by_tag.entry(tag).or_default() += 1;
        }
    }
    fn join<K: std::fmt::Display>(m: &BTreeMap<K, usize>) -> String {
        m.iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
    let total: usize = by_type.values().sum();
    let ours: usize = by_tag.values().sum();
    out.push_str(&format!(
        "{total} {} ({}); {ours} {} an apex-ioc-sync tag{}\n",
        if total == 1 { "entry" } else { "entries" },
        if by_type.is_empty() {
            "none".to_owned()
        } else {
            join(&by_type)
        },
        if ours == 1 { "carries" } else { "carry" },
        if by_tag.is_empty() {
            String::new()
        } else {
            format!(" ({})", join(&by_tag))
        }
    ));
    out
}
