//! Canonical pattern text (STIX 2.1, Section 9, "STIX Patterning"): every node prints as
//! text that parses back to the same tree, with one spelling of each operator (`=` for
//! `==`, `!=` for `<>`), single spaces, and parentheses only where the operators'
//! precedence needs them or the source had them around an operand of the same operator.

use std::fmt;

use super::ast::{
    CompExpr, Comparison, Existence, Literal, ObjectPath, ObservationExpr, PathStep, Qualifier,
    Value,
};
use super::lexer::is_bare_name;

impl ObservationExpr<'_> {
    fn precedence(&self) -> u8 {
        match self {
            ObservationExpr::FollowedBy(_) => 1,
            ObservationExpr::Or(_) => 2,
            ObservationExpr::And(_) => 3,
            ObservationExpr::Qualified(..) | ObservationExpr::Observation(_) => 4,
        }
    }

    /// Whether this expression (or a qualified expression it directly wraps) carries a
    /// qualifier of `keyword`'s kind.
    fn has_qualifier(&self, keyword: &str) -> bool {
        let mut expr = self;
        while let ObservationExpr::Qualified(inner, q) = expr {
            if q.keyword() == keyword {
                return true;
            }
            expr = inner;
        }
        false
    }
}

fn write_joined<T: fmt::Display>(
    f: &mut fmt::Formatter<'_>,
    operands: &[T],
    separator: &str,
    needs_parens: impl Fn(&T) -> bool,
) -> fmt::Result {
    for (i, operand) in operands.iter().enumerate() {
        if i > 0 {
            f.write_str(separator)?;
        }
        if needs_parens(operand) {
            write!(f, "({operand})")?;
        } else {
            write!(f, "{operand}")?;
        }
    }
    Ok(())
}

impl fmt::Display for ObservationExpr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A nested operand of the same operator came from parentheses: keep them.
        let lower_or_equal = |p: u8| move |e: &ObservationExpr<'_>| e.precedence() <= p;
        match self {
            ObservationExpr::Observation(c) => write!(f, "[{c}]"),
            ObservationExpr::And(v) => write_joined(f, v, " AND ", lower_or_equal(3)),
            ObservationExpr::Or(v) => write_joined(f, v, " OR ", lower_or_equal(2)),
            ObservationExpr::FollowedBy(v) => write_joined(f, v, " FOLLOWEDBY ", lower_or_equal(1)),
            ObservationExpr::Qualified(inner, q) => {
                if inner.precedence() <= 3 || inner.has_qualifier(q.keyword()) {
                    write!(f, "({inner}) {q}")
                } else {
                    write!(f, "{inner} {q}")
                }
            }
        }
    }
}

impl fmt::Display for Qualifier<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Qualifier::Within { seconds } => {
                f.write_str("WITHIN ")?;
                write_number(f, *seconds)?;
                f.write_str(" SECONDS")
            }
            Qualifier::Repeats { times } => write!(f, "REPEATS {times} TIMES"),
            Qualifier::StartStop { start, stop } => write!(f, "START t'{start}' STOP t'{stop}'"),
        }
    }
}

/// Whole numbers of a size an integer literal holds print as integers, the rest with a
/// decimal point (f64's Display never uses an exponent).
fn write_number(f: &mut fmt::Formatter<'_>, x: f64) -> fmt::Result {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        write!(f, "{}", x as i64)
    } else {
        write_float(f, x)
    }
}

fn write_float(f: &mut fmt::Formatter<'_>, x: f64) -> fmt::Result {
    let text = x.to_string();
    if text.contains('.') {
        f.write_str(&text)
    } else {
        write!(f, "{text}.0")
    }
}

impl fmt::Display for CompExpr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompExpr::Comparison(c) => write!(f, "{c}"),
            CompExpr::Exists(Existence { path, negated }) => {
                let not = if *negated { "NOT " } else { "" };
                write!(f, "{not}EXISTS {path}")
            }
            CompExpr::And(v) => write_joined(f, v, " AND ", |c| {
                matches!(c, CompExpr::And(_) | CompExpr::Or(_))
            }),
            CompExpr::Or(v) => write_joined(f, v, " OR ", |c| matches!(c, CompExpr::Or(_))),
        }
    }
}

impl fmt::Display for Comparison<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let not = if self.negated { "NOT " } else { "" };
        write!(f, "{} {not}{} {}", self.path, self.op.as_str(), self.value)
    }
}

impl fmt::Display for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Literal(literal) => write!(f, "{literal}"),
            Value::Set(members) => {
                f.write_str("(")?;
                write_joined(f, members, ", ", |_| false)?;
                f.write_str(")")
            }
        }
    }
}

impl fmt::Display for Literal<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Str(s) => write_quoted(f, s),
            Literal::Int(n) => write!(f, "{n}"),
            Literal::Float(x) => write_float(f, *x),
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::Hex(h) => write!(f, "h'{h}'"),
            Literal::Binary(b) => write!(f, "b'{b}'"),
            Literal::Timestamp(t) => write!(f, "t'{t}'"),
        }
    }
}

fn write_quoted(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_str("'")?;
    for c in s.chars() {
        if c == '\'' || c == '\\' {
            f.write_str("\\")?;
        }
        write!(f, "{c}")?;
    }
    f.write_str("'")
}

fn write_name(f: &mut fmt::Formatter<'_>, name: &str) -> fmt::Result {
    if is_bare_name(name) {
        f.write_str(name)
    } else {
        write_quoted(f, name)
    }
}

impl fmt::Display for ObjectPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.object_type)?;
        write_name(f, &self.property)?;
        for step in &self.steps {
            match step {
                PathStep::Property(name) => {
                    f.write_str(".")?;
                    write_name(f, name)?;
                }
                PathStep::Index(i) => write!(f, "[{i}]")?,
                PathStep::AnyIndex => f.write_str("[*]")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::stix::pattern::parse;
    use crate::stix::pattern::testing::assert_round_trip;

    #[test]
    fn display_prints_canonical_text_that_parses_back() {
        for (pattern, canonical) in [
            (
                "[a:b == 'x' AND (c:d <> 1 OR EXISTS e:f)] OR ([g:h = 1]AND[i:j = 2]) WITHIN 5 SECONDS",
                "[a:b = 'x' AND (c:d != 1 OR EXISTS e:f)] OR ([g:h = 1] AND [i:j = 2]) WITHIN 5 SECONDS",
            ),
            (
                "[a:'b c'.d[*] NOT IN (1, 2.5, h'00', b'AA==', t'2016-01-01T00:00:00Z')]",
                "[a:'b c'.d[*] NOT IN (1, 2.5, h'00', b'AA==', t'2016-01-01T00:00:00Z')]",
            ),
            (
                "([a:b = 1] AND [c:d = 2]) AND [e:f = 3]",
                "([a:b = 1] AND [c:d = 2]) AND [e:f = 3]",
            ),
            (
                "[a:b = 1] REPEATS 2 TIMES WITHIN 0.5 SECONDS",
                "[a:b = 1] REPEATS 2 TIMES WITHIN 0.5 SECONDS",
            ),
        ] {
            assert_eq!(parse(pattern).unwrap().to_string(), canonical);
            assert_round_trip(pattern);
        }
    }
}
