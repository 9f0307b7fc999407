//! What the pattern tests share: the spec's examples, and short ways to parse a pattern
//! and look at the result.

use super::{CompExpr, Comparison, ObservationExpr, ParseError, parse};

const SPEC_EXAMPLES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/stix/spec_examples.txt"
);

pub(super) fn spec_examples() -> Vec<String> {
    let text = std::fs::read_to_string(SPEC_EXAMPLES)
        .unwrap_or_else(|e| panic!("cannot read {SPEC_EXAMPLES}: {e}"));
    let lines: Vec<String> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect();
    assert_eq!(lines.len(), 23, "{SPEC_EXAMPLES} should hold 23 patterns");
    lines
}

pub(super) fn err(pattern: &str) -> ParseError {
    parse(pattern).expect_err(pattern)
}

/// The tree's shape: operators with their operands, leaves by object type.
pub(super) fn shape(e: &ObservationExpr<'_>) -> String {
    fn list<T>(op: &str, v: &[T], f: fn(&T) -> String) -> String {
        let inner: Vec<String> = v.iter().map(f).collect();
        format!("({op} {})", inner.join(" "))
    }
    fn comp(c: &CompExpr<'_>) -> String {
        match c {
            CompExpr::Comparison(c) => c.path.object_type.to_owned(),
            CompExpr::Exists(e) => {
                let not = if e.negated { "not-" } else { "" };
                format!("{not}exists-{}", e.path.object_type)
            }
            CompExpr::And(v) => list("and", v, comp),
            CompExpr::Or(v) => list("or", v, comp),
        }
    }
    match e {
        ObservationExpr::Observation(c) => format!("[{}]", comp(c)),
        ObservationExpr::And(v) => list("AND", v, shape),
        ObservationExpr::Or(v) => list("OR", v, shape),
        ObservationExpr::FollowedBy(v) => list("FB", v, shape),
        ObservationExpr::Qualified(inner, q) => format!("({} {})", q.keyword(), shape(inner)),
    }
}

pub(super) fn shape_of(pattern: &str) -> String {
    shape(&parse(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}")))
}

pub(super) fn only_comparison(pattern: &str) -> Comparison<'_> {
    match parse(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}")) {
        ObservationExpr::Observation(CompExpr::Comparison(c)) => c,
        other => panic!("{pattern}: not one comparison: {other:?}"),
    }
}

pub(super) fn assert_round_trip(pattern: &str) {
    let parsed = parse(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"));
    let printed = parsed.to_string();
    let reparsed = parse(&printed).unwrap_or_else(|e| panic!("{printed}: {e}"));
    assert_eq!(reparsed, parsed, "{pattern} printed as {printed}");
}
