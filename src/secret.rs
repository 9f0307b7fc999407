//! A string that never prints itself: secrets (API key, company key, tokens, passwords) are
//! held in this type so that no `Debug`, `Display` or log line can leak them by accident.

use std::fmt;

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value, for the one place that must use it (signing, an auth header).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `text` with every occurrence of this secret, as written or as encoded in a URL
    /// (percent-encoded, or form-encoded as in a query string), replaced by `<redacted>`:
    /// for text a server sent back, which may echo the request's URL.
    pub fn redact_in(&self, text: &str) -> String {
        if self.0.is_empty() {
            return text.to_owned();
        }
        let form: String = url::form_urlencoded::byte_serialize(self.0.as_bytes()).collect();
        let percent = crate::text::encode_component(&self.0);
        let mut out = text.to_owned();
        // Servers echo URLs lower-cased, or with their escapes in either case.
        for form in [self.0.as_str(), form.as_str(), percent.as_str()] {
            out = replace_ignoring_ascii_case(&out, form, "<redacted>");
        }
        out
    }
}

/// Every secret of a run, to take out of text a server sent back before it is printed,
/// logged or put in `--json`: the final error, each failed write's error. The one redaction
/// of the program (`Settings::redactor` makes it).
#[derive(Debug, Clone, Default)]
pub struct Redactor(Vec<Secret>);

impl Redactor {
    pub fn new(secrets: impl IntoIterator<Item = Secret>) -> Self {
        Redactor(secrets.into_iter().filter(|s| !s.0.is_empty()).collect())
    }

    /// `text` with every secret redacted, in any form a URL carries it
    /// ([`Secret::redact_in`]).
    pub fn redact(&self, text: &str) -> String {
        self.0
            .iter()
            .fold(text.to_owned(), |text, secret| secret.redact_in(&text))
    }
}

/// `text` with `from` replaced by `to`, ASCII letters compared without case.
fn replace_ignoring_ascii_case(text: &str, from: &str, to: &str) -> String {
    if from.is_empty() {
        return text.to_owned();
    }
    let lower_text = text.to_ascii_lowercase();
    let lower_from = from.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut rest = 0;
    // ASCII lower-casing keeps byte offsets, so matches in the lower-cased copy are
    // matches in `text` at the same offsets.
    for (at, _) in lower_text.match_indices(&lower_from) {
        if at < rest {
            continue;
        }
        out.push_str(&text[rest..at]);
        out.push_str(to);
        rest = at + from.len();
    }
    out.push_str(&text[rest..]);
    out
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_formats_its_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s} {s:?} {s:#?}").matches("hunter2").count(), 0);
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn redacts_itself_as_written_and_as_a_url_carries_it() {
        let s = Secret::new("k3y/with+odd=chars");
        let echoed = "bad query key=k3y%2Fwith%2Bodd%3Dchars&page=1; \
                      raw k3y/with+odd=chars; form k3y%2fwith%2bodd%3dchars; LOUD K3Y/WITH+ODD=CHARS";
        let out = s.redact_in(echoed);
        assert!(!out.to_lowercase().contains("k3y"), "{out}");
        assert_eq!(out.matches("<redacted>").count(), 4, "{out}");
        assert_eq!(Secret::new("").redact_in("x"), "x");
    }
}
