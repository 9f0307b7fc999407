//! Aligned text tables for the listing subcommands.

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
