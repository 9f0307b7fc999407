//! The forms of the prefixed constants (STIX 2.1, Section 9, "STIX Patterning", its table
//! of constants): hex `h'..'`, binary (base64) `b'..'` and timestamp `t'..'`, as the
//! reference grammar reads them, but for the calendar (see [`check_timestamp`]).

/// `h'..'`: an even number of hex digits (none is allowed).
pub(super) fn is_hex(s: &str) -> bool {
    s.len().is_multiple_of(2) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `b'..'`: base64 in groups of four, at most two `=` of padding.
pub(super) fn is_base64(s: &str) -> bool {
    let b = s.as_bytes();
    let padding = b.iter().rev().take_while(|&&c| c == b'=').count();
    // The reference grammar takes at least one group of four.
    !b.is_empty()
        && b.len().is_multiple_of(4)
        && padding <= 2
        && b[..b.len() - padding]
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'+' || c == b'/')
}

/// `YYYY-MM-DDTHH:MM:SS[.s+]Z` (a leap second `:60` is allowed, as the reference grammar
/// allows it), on a date the calendar has. The reference grammar takes any day 01-31 in any
/// month (`2023-02-29`, `2024-04-31`); we refuse those on purpose: a time that never was
/// cannot bound an observation, and the STIX 2.1 timestamp type is RFC 3339's date-time,
/// which has no such days.
pub(super) fn check_timestamp(s: &str) -> Result<(), String> {
    const FORM: &str = "invalid timestamp: expected t'YYYY-MM-DDTHH:MM:SS[.s]Z'";
    let b = s.as_bytes();
    if b.len() < 20
        || [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')]
            .iter()
            .any(|&(i, sep)| b[i] != sep)
    {
        return Err(FORM.to_owned());
    }
    let num = |from: usize, to: usize| {
        b[from..to].iter().try_fold(0u32, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    };
    let fraction_ok = match &b[19..] {
        [b'Z'] => true,
        [b'.', digits @ .., b'Z'] => !digits.is_empty() && digits.iter().all(u8::is_ascii_digit),
        _ => false,
    };
    let (Some(year), Some(month), Some(day), Some(hour), Some(minute), Some(second)) = (
        num(0, 4),
        num(5, 7),
        num(8, 10),
        num(11, 13),
        num(14, 16),
        num(17, 19),
    ) else {
        return Err(FORM.to_owned());
    };
    if !(fraction_ok
        && (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && hour <= 23
        && minute <= 59
        && second <= 60)
    {
        return Err(FORM.to_owned());
    }
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    let days_in_month = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if day > days_in_month {
        return Err(format!(
            "invalid timestamp: {} has no day {day} in {year}",
            MONTHS[month as usize - 1]
        ));
    }
    Ok(())
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

#[cfg(test)]
mod tests {
    use crate::stix::pattern::Literal;
    use crate::stix::pattern::testing::only_comparison;

    #[test]
    fn literals() {
        let value = |lit: &str| {
            let pattern = format!("[a:b = {lit}]");
            only_comparison(&pattern).literals()[0].to_string()
        };
        let cases = [
            ("'x'", Literal::Str("x".into())),
            ("0", Literal::Int(0)),
            ("+7", Literal::Int(7)),
            ("-12", Literal::Int(-12)),
            ("7.0", Literal::Float(7.0)),
            ("-0.25", Literal::Float(-0.25)),
            (".5", Literal::Float(0.5)),
            ("+.5", Literal::Float(0.5)),
            ("true", Literal::Bool(true)),
            ("false", Literal::Bool(false)),
            ("h'ffD8'", Literal::Hex("ffD8")),
            ("h''", Literal::Hex("")),
            ("b'AAECAw=='", Literal::Binary("AAECAw==")),
            ("b'QUJD'", Literal::Binary("QUJD")),
            (
                "t'2016-02-29T23:59:60Z'",
                Literal::Timestamp("2016-02-29T23:59:60Z"),
            ),
            (
                "t'2014-01-13T07:03:17.123456Z'",
                Literal::Timestamp("2014-01-13T07:03:17.123456Z"),
            ),
        ];
        for (text, want) in cases {
            let pattern = format!("[a:b = {text}]");
            assert_eq!(only_comparison(&pattern).literals(), [want], "{text}");
        }
        assert_eq!(value("7.0"), "7.0");
        assert_eq!(value("9223372036854775807"), "9223372036854775807");
        assert_eq!(value("-9223372036854775808"), "-9223372036854775808");
    }
}
