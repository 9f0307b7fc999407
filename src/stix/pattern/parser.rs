//! The recursive-descent parser of the grammar in [`super`]'s doc (STIX 2.1, Section 9,
//! "STIX Patterning": observation expressions, their operators `AND`, `OR`, `FOLLOWEDBY`
//! and qualifiers `WITHIN`, `REPEATS`, `START .. STOP`; comparison expressions, their
//! operators and `EXISTS`; object paths; and the operators' precedence). Chains of one
//! operator stay flat and nesting is bounded by [`MAX_DEPTH`].

use std::borrow::Cow;

use super::ast::{
    CompExpr, Comparison, Existence, Literal, ObjectPath, ObservationExpr, Op, PathStep, Pattern,
    Qualifier, Value,
};
use super::hash::HashRule;
use super::lexer::{Kind, Lexer, Token, describe, is_bare_name, is_reserved, unescape};
use super::{MAX_DEPTH, ParseError, error_at};

/// Parses a STIX 2.1 pattern.
pub fn parse(pattern: &str) -> Result<Pattern<'_>, ParseError> {
    let mut parser = Parser::new(pattern)?;
    if parser.tok.kind == Kind::End {
        return Err(error_at(pattern, 0, "empty pattern"));
    }
    let expr = parser.obs_seq()?;
    if parser.tok.kind != Kind::End {
        return Err(parser.unexpected("AND, OR, FOLLOWEDBY, a qualifier or the end of the pattern"));
    }
    // The reference validator also refuses a pattern that does not start with `[` after
    // white space and `(`s; of a pattern that parses, only a comment can be there.
    let lead = pattern.len()
        - pattern
            .trim_start_matches(|c: char| c == '(' || c.is_whitespace())
            .len();
    if !pattern[lead..].starts_with('[') {
        return Err(error_at(
            pattern,
            lead,
            "a comment before the first '[' (a pattern starts with '[', after any '(')",
        ));
    }
    Ok(expr)
}

struct Parser<'a> {
    src: &'a str,
    lexer: Lexer<'a>,
    /// The current token; the lexer runs one token ahead of the parser, no further, so the
    /// first error in the text is the one reported.
    tok: Token<'a>,
    /// Open `[` and `(`.
    depth: usize,
}

type Result<T, E = ParseError> = std::result::Result<T, E>;

impl<'a> Parser<'a> {
    fn new(src: &'a str) -> Result<Self> {
        let mut lexer = Lexer::new(src);
        let tok = lexer.next_token()?;
        Ok(Parser {
            src,
            lexer,
            tok,
            depth: 0,
        })
    }

    fn advance(&mut self) -> Result<Token<'a>> {
        let next = self.lexer.next_token()?;
        Ok(std::mem::replace(&mut self.tok, next))
    }

    fn at_keyword(&self, keyword: &str) -> bool {
        matches!(self.tok.kind, Kind::Word(w) if w == keyword)
    }

    fn unexpected(&self, expected: &str) -> ParseError {
        error_at(
            self.src,
            self.tok.start,
            format!(
                "expected {expected}, found {}",
                describe(self.src, &self.tok)
            ),
        )
    }

    fn expect(&mut self, kind: Kind<'_>, expected: &str) -> Result<()> {
        if self.tok.kind != kind {
            return Err(self.unexpected(expected));
        }
        self.advance()?;
        Ok(())
    }

    fn expect_keyword(&mut self, keyword: &str) -> Result<()> {
        if !self.at_keyword(keyword) {
            return Err(self.unexpected(keyword));
        }
        self.advance()?;
        Ok(())
    }

    /// Consumes an opening `[` or `(`, counting the nesting.
    fn open(&mut self) -> Result<()> {
        if self.depth == MAX_DEPTH {
            return Err(error_at(
                self.src,
                self.tok.start,
                format!("nesting deeper than {MAX_DEPTH} levels"),
            ));
        }
        self.depth += 1;
        self.advance()?;
        Ok(())
    }

    fn close(&mut self, kind: Kind<'_>, expected: &str) -> Result<()> {
        self.expect(kind, expected)?;
        self.depth -= 1;
        Ok(())
    }

    /// `operand (keyword operand)*`, flattened into one node when there are two or more.
    fn chain<T>(
        &mut self,
        keyword: &str,
        operand: fn(&mut Self) -> Result<T>,
        join: fn(Vec<T>) -> T,
    ) -> Result<T> {
        let first = operand(self)?;
        if !self.at_keyword(keyword) {
            return Ok(first);
        }
        let mut operands = vec![first];
        while self.at_keyword(keyword) {
            self.advance()?;
            operands.push(operand(self)?);
        }
        Ok(join(operands))
    }

    fn obs_seq(&mut self) -> Result<ObservationExpr<'a>> {
        self.chain("FOLLOWEDBY", Self::obs_or, ObservationExpr::FollowedBy)
    }

    fn obs_or(&mut self) -> Result<ObservationExpr<'a>> {
        self.chain("OR", Self::obs_and, ObservationExpr::Or)
    }

    fn obs_and(&mut self) -> Result<ObservationExpr<'a>> {
        self.chain("AND", Self::obs_qualified, ObservationExpr::And)
    }

    /// A primary expression and its qualifiers. Directly on `[...]`, each kind at most once;
    /// on a parenthesised expression, any (`([a:b = 1]) WITHIN 5 SECONDS WITHIN 6 SECONDS`),
    /// as the reference validator rules.
    fn obs_qualified(&mut self) -> Result<ObservationExpr<'a>> {
        let simple = self.tok.kind == Kind::LBracket;
        let mut expr = self.obs_primary()?;
        let mut seen: Vec<&'static str> = Vec::new();
        loop {
            let keyword = match self.tok.kind {
                Kind::Word(w @ ("WITHIN" | "REPEATS" | "START")) => w,
                _ => return Ok(expr),
            };
            if simple && seen.contains(&keyword) {
                return Err(error_at(
                    self.src,
                    self.tok.start,
                    format!("duplicate {keyword} qualifier"),
                ));
            }
            let qualifier = self.qualifier()?;
            seen.push(qualifier.keyword());
            expr = ObservationExpr::Qualified(Box::new(expr), qualifier);
        }
    }

    fn qualifier(&mut self) -> Result<Qualifier<'a>> {
        let keyword = self.advance()?;
        match keyword.kind {
            Kind::Word("WITHIN") => {
                // The grammar's IntPosLiteral or FloatPosLiteral: no minus sign; 0 is one.
                let seconds = match self.tok.kind {
                    Kind::Number { text, .. } if !text.starts_with('-') => text.parse::<f64>().ok(),
                    _ => None,
                }
                .filter(|s| s.is_finite())
                .ok_or_else(|| self.unexpected("a number of seconds, 0 or more"))?;
                self.advance()?;
                self.expect_keyword("SECONDS")?;
                Ok(Qualifier::Within { seconds })
            }
            Kind::Word("REPEATS") => {
                let times = match self.tok.kind {
                    Kind::Number { text, float: false } if !text.starts_with('-') => text
                        .parse::<u64>()
                        .map_err(|_| error_at(self.src, self.tok.start, "count out of range"))?,
                    _ => return Err(self.unexpected("an integer, 0 or more")),
                };
                self.advance()?;
                self.expect_keyword("TIMES")?;
                Ok(Qualifier::Repeats { times })
            }
            _ => {
                let start = self.timestamp()?;
                self.expect_keyword("STOP")?;
                let stop = self.timestamp()?;
                Ok(Qualifier::StartStop { start, stop })
            }
        }
    }

    fn timestamp(&mut self) -> Result<&'a str> {
        let Kind::Timestamp(t) = self.tok.kind else {
            return Err(self.unexpected("a timestamp t'YYYY-MM-DDTHH:MM:SSZ'"));
        };
        self.advance()?;
        Ok(t)
    }

    fn obs_primary(&mut self) -> Result<ObservationExpr<'a>> {
        match self.tok.kind {
            Kind::LBracket => {
                self.open()?;
                let comparisons = self.comp_or()?;
                self.close(Kind::RBracket, "AND, OR or ']'")?;
                Ok(ObservationExpr::Observation(comparisons))
            }
            Kind::LParen => {
                self.open()?;
                let expr = self.obs_seq()?;
                self.close(Kind::RParen, "AND, OR, FOLLOWEDBY, a qualifier or ')'")?;
                Ok(expr)
            }
            _ => Err(self.unexpected("'[' or '('")),
        }
    }

    fn comp_or(&mut self) -> Result<CompExpr<'a>> {
        self.chain("OR", Self::comp_and, CompExpr::Or)
    }

    fn comp_and(&mut self) -> Result<CompExpr<'a>> {
        self.chain("AND", Self::comp_primary, CompExpr::And)
    }

    fn comp_primary(&mut self) -> Result<CompExpr<'a>> {
        match self.tok.kind {
            Kind::LParen => {
                self.open()?;
                let expr = self.comp_or()?;
                self.close(Kind::RParen, "AND, OR or ')'")?;
                Ok(expr)
            }
            Kind::Word(w @ ("EXISTS" | "NOT")) => {
                let negated = w == "NOT";
                self.advance()?;
                if negated {
                    // Before a path, NOT only starts `NOT EXISTS`.
                    self.expect_keyword("EXISTS")?;
                }
                let path = self.object_path()?;
                Ok(CompExpr::Exists(Existence { path, negated }))
            }
            Kind::Word(w) if !is_reserved(w) => self.comparison().map(CompExpr::Comparison),
            _ => Err(self.unexpected("an object path, '(' or EXISTS")),
        }
    }

    fn comparison(&mut self) -> Result<Comparison<'a>> {
        let path = self.object_path()?;
        let negated = self.at_keyword("NOT");
        if negated {
            self.advance()?;
        }
        let op = match self.tok.kind {
            Kind::Cmp(op) => op,
            Kind::Word("IN") => Op::In,
            Kind::Word("LIKE") => Op::Like,
            Kind::Word("MATCHES") => Op::Matches,
            Kind::Word("ISSUBSET") => Op::IsSubset,
            Kind::Word("ISSUPERSET") => Op::IsSuperset,
            _ => return Err(self.unexpected("a comparison operator")),
        };
        self.advance()?;
        let hash = HashRule::of(&path);
        let value = match op {
            Op::In => Value::Set(self.set(hash)?),
            Op::Like | Op::Matches | Op::IsSubset | Op::IsSuperset => {
                if !matches!(self.tok.kind, Kind::Str { .. }) {
                    return Err(self.unexpected("a string"));
                }
                Value::Literal(self.literal(hash)?)
            }
            Op::Lt | Op::Gt | Op::Le | Op::Ge => {
                if matches!(self.tok.kind, Kind::Word("true" | "false")) {
                    return Err(self.unexpected("an orderable literal (not a boolean)"));
                }
                Value::Literal(self.literal(hash)?)
            }
            Op::Eq | Op::Ne => Value::Literal(self.literal(hash)?),
        };
        Ok(Comparison {
            path,
            negated,
            op,
            value,
        })
    }

    fn set(&mut self, hash: Option<HashRule<'_>>) -> Result<Vec<Literal<'a>>> {
        self.expect(Kind::LParen, "'(' after IN")?;
        let mut members = Vec::new();
        if self.tok.kind == Kind::RParen {
            self.advance()?;
            return Ok(members);
        }
        loop {
            members.push(self.literal(hash)?);
            match self.tok.kind {
                Kind::Comma => self.advance()?,
                Kind::RParen => {
                    self.advance()?;
                    return Ok(members);
                }
                _ => return Err(self.unexpected("',' or ')'")),
            };
        }
    }

    /// A literal; with `hash`, one that passes its hash rule.
    fn literal(&mut self, hash: Option<HashRule<'_>>) -> Result<Literal<'a>> {
        let tok = self.tok;
        let literal = match self.tok.kind {
            Kind::Str { body, escaped } => Literal::Str(unescape(body, escaped)),
            Kind::Number { text, float: false } => {
                let n = text
                    .parse()
                    .map_err(|_| error_at(self.src, self.tok.start, "integer out of range"))?;
                Literal::Int(n)
            }
            Kind::Number { text, float: true } => match text.parse::<f64>() {
                Ok(x) if x.is_finite() => Literal::Float(x),
                _ => return Err(error_at(self.src, self.tok.start, "number out of range")),
            },
            Kind::Word("true") => Literal::Bool(true),
            Kind::Word("false") => Literal::Bool(false),
            Kind::Hex(h) => Literal::Hex(h),
            Kind::Binary(b) => Literal::Binary(b),
            Kind::Timestamp(t) => Literal::Timestamp(t),
            _ => return Err(self.unexpected("a literal")),
        };
        if let Some(rule) = hash {
            rule.check(&self.src[tok.start..tok.end])
                .map_err(|message| error_at(self.src, tok.start, message))?;
        }
        self.advance()?;
        Ok(literal)
    }

    fn object_path(&mut self) -> Result<ObjectPath<'a>> {
        let object_type = match self.tok.kind {
            Kind::Word(w) if !is_reserved(w) => w,
            _ => return Err(self.unexpected("an object path")),
        };
        self.advance()?;
        self.expect(Kind::Colon, "':' after the object type")?;
        let property = self.property_name()?;
        let mut steps = Vec::new();
        loop {
            match self.tok.kind {
                Kind::Dot => {
                    self.advance()?;
                    steps.push(PathStep::Property(self.property_name()?));
                }
                Kind::LBracket => {
                    self.advance()?;
                    let step = match self.tok.kind {
                        Kind::Star => PathStep::AnyIndex,
                        Kind::Number { text, float: false } => {
                            PathStep::Index(text.parse().map_err(|_| {
                                error_at(self.src, self.tok.start, "list index out of range")
                            })?)
                        }
                        _ => return Err(self.unexpected("a list index or '*'")),
                    };
                    self.advance()?;
                    self.expect(Kind::RBracket, "']'")?;
                    steps.push(step);
                }
                _ => {
                    return Ok(ObjectPath {
                        object_type,
                        property,
                        steps,
                    });
                }
            }
        }
    }

    /// A bare name (an identifier without hyphens that is not a keyword) or a quoted one.
    fn property_name(&mut self) -> Result<Cow<'a, str>> {
        let name = match self.tok.kind {
            Kind::Word(w) if is_bare_name(w) => Cow::Borrowed(w),
            Kind::Str { body, escaped } => unescape(body, escaped),
            Kind::Word(w) => {
                let mut e = self.unexpected("a property name");
                e.message.push_str(&format!(" (quote it: '{w}')"));
                return Err(e);
            }
            _ => return Err(self.unexpected("a property name")),
        };
        self.advance()?;
        Ok(name)
    }
}

#[cfg(test)]
mod tests {
    use crate::stix::pattern::testing::{
        assert_round_trip, err, only_comparison, shape, shape_of, spec_examples,
    };
    use crate::stix::pattern::*;

    #[test]
    fn spec_examples_have_the_expected_shapes() {
        let lines = spec_examples();
        assert_eq!(
            shape(&parse(&lines[3]).unwrap()),
            "(AND [(or file file)] [file])"
        );
        assert_eq!(
            shape(&parse(&lines[4]).unwrap()),
            "(WITHIN (FB [file] [win-registry-key]))"
        );
        assert_eq!(
            shape(&parse(&lines[11]).unwrap()),
            "(WITHIN (REPEATS [(and network-traffic network-traffic)]))"
        );
        assert_eq!(
            shape(&parse(&lines[16]).unwrap()),
            "[(and (or file file) file)]"
        );
        assert_eq!(
            shape(&parse(&lines[21]).unwrap()),
            "(OR (AND [file] [win-registry-key]) [(or process process)])"
        );
    }

    #[test]
    fn observation_precedence_is_followedby_or_and() {
        assert_eq!(
            shape_of("[a:x = 1] OR [b:x = 1] AND [c:x = 1]"),
            "(OR [a] (AND [b] [c]))"
        );
        assert_eq!(
            shape_of("[a:x = 1] AND [b:x = 1] OR [c:x = 1]"),
            "(OR (AND [a] [b]) [c])"
        );
        assert_eq!(
            shape_of("[a:x = 1] FOLLOWEDBY [b:x = 1] OR [c:x = 1] AND [d:x = 1]"),
            "(FB [a] (OR [b] (AND [c] [d])))"
        );
        assert_eq!(
            shape_of("[a:x = 1] OR [b:x = 1] FOLLOWEDBY [c:x = 1]"),
            "(FB (OR [a] [b]) [c])"
        );
        assert_eq!(
            shape_of("([a:x = 1] OR [b:x = 1]) AND [c:x = 1]"),
            "(AND (OR [a] [b]) [c])"
        );
        // Left-associative chains are flat, in source order.
        assert_eq!(
            shape_of("[a:x = 1] AND [b:x = 1] AND [c:x = 1]"),
            "(AND [a] [b] [c])"
        );
        // Qualifiers bind tighter than any operator.
        assert_eq!(
            shape_of("[a:x = 1] AND [b:x = 1] WITHIN 5 SECONDS"),
            "(AND [a] (WITHIN [b]))"
        );
    }

    #[test]
    fn comparison_precedence_is_or_and() {
        assert_eq!(
            shape_of("[a:x = 1 OR b:x = 1 AND c:x = 1]"),
            "[(or a (and b c))]"
        );
        assert_eq!(
            shape_of("[(a:x = 1 OR b:x = 1) AND c:x = 1]"),
            "[(and (or a b) c)]"
        );
        assert_eq!(
            shape_of("[a:x = 1 AND b:x = 1 OR EXISTS c:x]"),
            "[(or (and a b) exists-c)]"
        );
    }

    #[test]
    fn qualifiers() {
        let p = parse("[a:b = 1] REPEATS 5 TIMES WITHIN 1800 SECONDS").unwrap();
        let ObservationExpr::Qualified(inner, Qualifier::Within { seconds }) = &p else {
            panic!("{p:?}")
        };
        assert_eq!(*seconds, 1800.0);
        assert!(matches!(
            **inner,
            ObservationExpr::Qualified(_, Qualifier::Repeats { times: 5 })
        ));
        let p = parse("[a:b = 1] WITHIN 2.5 SECONDS").unwrap();
        assert!(matches!(
            p,
            ObservationExpr::Qualified(_, Qualifier::Within { seconds }) if seconds == 2.5
        ));
        let p = parse("[a:b = 1] START t'2016-06-01T00:00:00Z' STOP t'2016-07-01T00:00:00.5Z'")
            .unwrap();
        assert!(matches!(
            p,
            ObservationExpr::Qualified(
                _,
                Qualifier::StartStop {
                    start: "2016-06-01T00:00:00Z",
                    stop: "2016-07-01T00:00:00.5Z"
                }
            )
        ));
        // One of each kind per expression; the same kind again needs parentheses.
        assert_round_trip(
            "[a:b = 1] WITHIN 1 SECONDS REPEATS 2 TIMES START t'2016-01-01T00:00:00Z' STOP t'2017-01-01T00:00:00Z'",
        );
        assert_round_trip("([a:b = 1] WITHIN 1 SECONDS) WITHIN 2 SECONDS");
        assert_round_trip("([a:b = 1] REPEATS 2 TIMES WITHIN 1 SECONDS) REPEATS 3 TIMES");
    }

    #[test]
    fn operators_and_negation() {
        for (text, op) in [
            ("=", Op::Eq),
            ("==", Op::Eq),
            ("!=", Op::Ne),
            ("<>", Op::Ne),
            ("<", Op::Lt),
            (">", Op::Gt),
            ("<=", Op::Le),
            (">=", Op::Ge),
        ] {
            for negated in [false, true] {
                let not = if negated { "NOT " } else { "" };
                let pattern = format!("[a:b {not}{text} 'x']");
                let c = only_comparison(&pattern);
                assert_eq!((c.op, c.negated), (op, negated), "{pattern}");
            }
        }
        for (text, op) in [
            ("LIKE", Op::Like),
            ("MATCHES", Op::Matches),
            ("ISSUBSET", Op::IsSubset),
            ("ISSUPERSET", Op::IsSuperset),
        ] {
            let pattern = format!("[a:b NOT {text} 'x']");
            let c = only_comparison(&pattern);
            assert_eq!((c.op, c.negated), (op, true));
        }
        let c = only_comparison("[a:b NOT IN ('x', 2, true)]");
        assert_eq!((c.op, c.negated), (Op::In, true));
        assert_eq!(
            c.literals(),
            [
                Literal::Str("x".into()),
                Literal::Int(2),
                Literal::Bool(true)
            ]
        );
        assert_eq!(only_comparison("[a:b IN ()]").literals(), []);
        // No space needed between tokens.
        let c = only_comparison("[a:b MATCHES'^x$']");
        assert_eq!(c.op, Op::Matches);
        let c = only_comparison("[a:b>=-1]");
        assert_eq!((c.op, c.literals()), (Op::Ge, &[Literal::Int(-1)][..]));
        assert!(matches!(
            parse("[EXISTS file:name]").unwrap(),
            ObservationExpr::Observation(CompExpr::Exists(Existence {
                path: ObjectPath {
                    object_type: "file",
                    ..
                },
                negated: false,
            }))
        ));
        assert_eq!(
            shape_of("[NOT EXISTS file:name AND EXISTS x:y]"),
            "[(and not-exists-file exists-x)]"
        );
        assert_round_trip("[NOT EXISTS file:name AND EXISTS x:y]");
    }

    #[test]
    fn object_paths() {
        let c =
            only_comparison("[file:extensions.'windows-pebinary-ext'.sections[*].entropy > 7.0]");
        assert_eq!(c.path.object_type, "file");
        assert_eq!(c.path.property, "extensions");
        assert_eq!(
            c.path.steps,
            [
                PathStep::Property("windows-pebinary-ext".into()),
                PathStep::Property("sections".into()),
                PathStep::AnyIndex,
                PathStep::Property("entropy".into()),
            ]
        );
        let c = only_comparison("[x-usb-device:'quoted key'.list[0][-1].MD5 = 1]");
        assert_eq!(c.path.object_type, "x-usb-device");
        assert_eq!(c.path.property, "quoted key");
        assert_eq!(
            c.path.steps,
            [
                PathStep::Property("list".into()),
                PathStep::Index(0),
                PathStep::Index(-1),
                PathStep::Property("MD5".into()),
            ]
        );
        assert_eq!(
            c.path.to_string(),
            "x-usb-device:'quoted key'.list[0][-1].MD5"
        );
        assert!(
            only_comparison("[ipv4-addr:value = '1.2.3.4']")
                .path
                .steps
                .is_empty()
        );
    }

    #[test]
    fn nesting_is_bounded_instead_of_overflowing_the_stack() {
        // `depth` levels: depth - 1 parentheses around one observation.
        let nested = |depth: usize| {
            let parens = depth - 1;
            format!("{}[a:b = 1]{}", "(".repeat(parens), ")".repeat(parens))
        };
        assert!(parse(&nested(MAX_DEPTH)).is_ok());
        let e = err(&nested(MAX_DEPTH + 1));
        assert_eq!(e.column, MAX_DEPTH + 1);
        assert_eq!(e.message, "nesting deeper than 64 levels");

        let e = err(&"(".repeat(100_000));
        assert_eq!(
            (e.column, e.message.as_str()),
            (65, "nesting deeper than 64 levels")
        );
        let e = err(&"[".repeat(100_000));
        assert_eq!(e.column, 2);
        let e = err(&format!("[{}", "(".repeat(100_000)));
        assert_eq!(e.column, 65);
        let e = err(&"[a:b = 1] AND (".repeat(100_000));
        assert_eq!(e.message, "nesting deeper than 64 levels");
    }

    #[test]
    fn long_chains_stay_flat() {
        let chain = vec!["[a:b = 1]"; 100_000].join(" AND ");
        let ObservationExpr::And(operands) = parse(&chain).unwrap() else {
            panic!("not an AND")
        };
        assert_eq!(operands.len(), 100_000);
        let inner = format!("[{}]", vec!["a:b = 1"; 100_000].join(" OR "));
        assert!(parse(&inner).is_ok());
    }
}
