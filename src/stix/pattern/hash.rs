//! Values compared with a hash (STIX 2.1, Section 9, "STIX Patterning": a comparison whose
//! object path goes through a `hashes` dictionary, `file:hashes.'SHA-256'`): the form each
//! algorithm's value must have, as the reference validator checks it.

use std::borrow::Cow;

use super::ast::{ObjectPath, PathStep};

/// The form a hash value must have when a comparison's path goes through `hashes` and ends
/// in a hash algorithm the reference validator knows (`file:hashes.'SHA-256'`,
/// `file:extensions.'x'.hashes.MD5`): its `object_validator.py` (stix2-patterns, STIX 2.1)
/// matches every such value. The algorithm is found as it does: the last step, upper case,
/// without `-` (`'sha-256'` is SHA256).
#[derive(Debug, Clone, Copy)]
pub(super) struct HashRule<'p> {
    /// The algorithm as the path writes it, for the error.
    name: &'p str,
    form: HashForm,
}

#[derive(Debug, Clone, Copy)]
enum HashForm {
    /// Hex digits, one of these counts.
    Hex(&'static [usize]),
    /// SSDEEP: 1 to 128 of `A-Z a-z 0-9 / + : .`.
    Ssdeep,
}

const HASH_FORMS: [(&str, HashForm); 14] = [
    ("MD5", HashForm::Hex(&[32])),
    // The reference's MD6 expression lacks a group, so it takes any value that starts with
    // 32 hex digits; we take its evident meaning, one of the MD6 lengths.
    ("MD6", HashForm::Hex(&[32, 40, 56, 64, 96, 128])),
    ("RIPEMD160", HashForm::Hex(&[40])),
    ("SHA1", HashForm::Hex(&[40])),
    ("SHA224", HashForm::Hex(&[56])),
    ("SHA256", HashForm::Hex(&[64])),
    ("SHA384", HashForm::Hex(&[96])),
    ("SHA512", HashForm::Hex(&[128])),
    ("SHA3224", HashForm::Hex(&[56])),
    ("SHA3256", HashForm::Hex(&[64])),
    ("SHA3384", HashForm::Hex(&[96])),
    ("SHA3512", HashForm::Hex(&[128])),
    ("SSDEEP", HashForm::Ssdeep),
    ("WHIRLPOOL", HashForm::Hex(&[128])),
];

impl<'p> HashRule<'p> {
    /// The rule for a value compared with `path`, if it names a hash algorithm.
    pub(super) fn of(path: &'p ObjectPath<'_>) -> Option<Self> {
        let through_hashes = path.property == "hashes"
            || path
                .steps
                .iter()
                .any(|s| matches!(s, PathStep::Property(n) if n == "hashes"));
        let last = match path.steps.last() {
            None => &path.property,
            Some(PathStep::Property(name)) => name,
            Some(_) => return None,
        };
        // A quoted name with escapes keeps its backslash in the reference's key, which then
        // names no algorithm.
        if !through_hashes || matches!(last, Cow::Owned(_)) {
            return None;
        }
        let key = last.to_uppercase().replace(['-', '\''], "");
        let (_, form) = HASH_FORMS.iter().find(|(k, _)| *k == key)?;
        Some(HashRule {
            name: last,
            form: *form,
        })
    }

    /// Checks a literal as written: its text without quotes must have the form (so `h'..'`
    /// and numbers are read as their text, as the reference reads them).
    pub(super) fn check(&self, literal: &str) -> Result<(), String> {
        let value: String = literal.chars().filter(|&c| c != '\'').collect();
        let (ok, expected) = match self.form {
            HashForm::Hex(counts) => (
                value.bytes().all(|b| b.is_ascii_hexdigit()) && counts.contains(&value.len()),
                match counts {
                    [n] => format!("{n} hex digits"),
                    _ => "32, 40, 56, 64, 96 or 128 hex digits".to_owned(),
                },
            ),
            HashForm::Ssdeep => (
                (1..=128).contains(&value.len())
                    && value
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"/+:.".contains(&b)),
                "1 to 128 of A-Z, a-z, 0-9, '/', '+', ':' and '.'".to_owned(),
            ),
        };
        if ok {
            Ok(())
        } else {
            Err(format!(
                "'{value}' is not a valid {} hash: expected {expected}",
                self.name
            ))
        }
    }
}
