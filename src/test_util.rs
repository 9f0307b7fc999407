//! Helpers shared by the unit tests of several modules.

/// Inserts, deletes or replaces the character at `at` (wrapped to the text's length): the
/// mutations the parsers' property tests throw at valid inputs.
pub fn mutate(text: &str, at: usize, what: u8, c: char) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    let at = at % (chars.len() + 1);
    match what % 3 {
        0 => chars.insert(at, c),
        1 if at < chars.len() => {
            chars.remove(at);
        }
        _ if at < chars.len() => chars[at] = c,
        _ => chars.push(c),
    }
    chars.into_iter().collect()
}
