//! The STIX 2.1 patterning language: a hand-written lexer and recursive-descent parser for
//! the whole grammar, producing an AST that borrows from the pattern text.
//!
//! ```text
//! pattern      := obs_seq END
//! obs_seq      := obs_or  ('FOLLOWEDBY' obs_or)*        lowest precedence
//! obs_or       := obs_and ('OR' obs_and)*
//! obs_and      := obs_qual ('AND' obs_qual)*
//! obs_qual     := obs_primary qualifier*                on '[..]', at most one of each kind
//! obs_primary  := '[' comp_or ']' | '(' obs_seq ')'
//! qualifier    := 'WITHIN' number 'SECONDS' | 'REPEATS' int 'TIMES'
//!               | 'START' t'..' 'STOP' t'..'
//! comp_or      := comp_and ('OR' comp_and)*
//! comp_and     := comp_primary ('AND' comp_primary)*
//! comp_primary := '(' comp_or ')' | 'NOT'? 'EXISTS' path | path 'NOT'? operator value
//! path         := type ':' name ('.' name | '[' int ']' | '[' '*' ']')*
//! type         := identifier ([A-Za-z_][A-Za-z0-9_-]*, not a keyword)
//! name         := [A-Za-z_][A-Za-z0-9_]* (not a keyword) | 'quoted'
//! ```
//!
//! Keywords are upper case; `true` and `false` are lower case. White space and comments
//! (`/* .. */`, `// ..` to the end of the line) separate tokens. Chains of one operator are
//! kept flat (`And(vec![a, b, c])` for `a AND b AND c`) so that a long chain never builds a
//! deep tree; nesting comes only from brackets and parentheses, which are limited to
//! [`MAX_DEPTH`] levels so that hostile input cannot overflow the stack.
//!
//! # Conformance
//!
//! [`parse`] accepts what the OASIS reference validator, stix2-patterns (its ANTLR grammar
//! `STIXPattern.g4` and its STIX 2.1 checks), accepts, and refuses what it refuses: its
//! grammar; a qualifier kind at most once directly on `[..]` (a parenthesised expression
//! may take it again); a pattern starts with `[` after any `(`, so not with a comment; and
//! a value compared with a hash (`file:hashes.'SHA-256'`) has that algorithm's form.
//! Its STIX 2.1 test suite runs as our test (`tests/data/stix/stix2-patterns-v21-cases.txt`
//! and `spec_examples.txt`): 103 of its 106 cases read the same. Where ours differs, on
//! purpose: a date the calendar lacks (`2023-02-29`: the reference's grammar takes any day
//! 01-31) is refused, as are integers, list indices and `REPEATS` counts beyond 64 bits
//! (STIX 2.1 integers are 54-bit) and numbers beyond f64; each member of an `IN` set on a
//! hash is checked (the reference checks the set's text as one value, so refuses them all);
//! and an MD6 value must have one of the MD6 lengths (the reference's expression lacks a
//! group). The tests list each case.

use std::borrow::Cow;
use std::fmt;

/// The deepest nesting of `[` and `(` accepted (every recursion in the parser, the AST and
/// its walkers is bounded by this).
pub const MAX_DEPTH: usize = 64;

/// Why a pattern did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based character (not byte) column in the pattern.
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "column {}: {}", self.column, self.message)
    }
}

impl std::error::Error for ParseError {}

/// A whole pattern.
pub type Pattern<'a> = ObservationExpr<'a>;

/// An observation expression: what must be observed, and in which combination.
#[derive(Debug, Clone, PartialEq)]
pub enum ObservationExpr<'a> {
    /// `[ ... ]`: one observation matching the comparison expression.
    Observation(CompExpr<'a>),
    /// Two or more operands joined by `AND`, in source order.
    And(Vec<ObservationExpr<'a>>),
    /// Two or more operands joined by `OR`, in source order.
    Or(Vec<ObservationExpr<'a>>),
    /// Two or more operands joined by `FOLLOWEDBY`, in source (and time) order.
    FollowedBy(Vec<ObservationExpr<'a>>),
    /// An expression with a qualifier; several qualifiers nest, the first innermost.
    Qualified(Box<ObservationExpr<'a>>, Qualifier<'a>),
}

/// A qualifier on an observation expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Qualifier<'a> {
    /// `WITHIN n SECONDS`, n >= 0 (an integer or a float, as the reference grammar takes).
    Within { seconds: f64 },
    /// `REPEATS n TIMES`, n >= 0.
    Repeats { times: u64 },
    /// `START t'..' STOP t'..'`: the validated timestamps, without `t'` and `'`.
    StartStop { start: &'a str, stop: &'a str },
}

impl Qualifier<'_> {
    /// The qualifier's (first) keyword.
    pub fn keyword(&self) -> &'static str {
        match self {
            Qualifier::Within { .. } => "WITHIN",
            Qualifier::Repeats { .. } => "REPEATS",
            Qualifier::StartStop { .. } => "START",
        }
    }
}

/// A comparison expression: the inside of `[ ... ]`.
#[derive(Debug, Clone, PartialEq)]
pub enum CompExpr<'a> {
    Comparison(Comparison<'a>),
    /// `[NOT] EXISTS path`.
    Exists(Existence<'a>),
    /// Two or more operands joined by `AND`, in source order.
    And(Vec<CompExpr<'a>>),
    /// Two or more operands joined by `OR`, in source order.
    Or(Vec<CompExpr<'a>>),
}

/// `[NOT] EXISTS path`: whether the path has a value (or, negated, has none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Existence<'a> {
    pub path: ObjectPath<'a>,
    pub negated: bool,
}

/// `path [NOT] op value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison<'a> {
    pub path: ObjectPath<'a>,
    pub negated: bool,
    pub op: Op,
    /// A set for [`Op::In`], a single literal for every other operator.
    pub value: Value<'a>,
}

impl<'a> Comparison<'a> {
    /// The literal, or the members of an `IN` set.
    pub fn literals(&self) -> &[Literal<'a>] {
        match &self.value {
            Value::Literal(literal) => std::slice::from_ref(literal),
            Value::Set(members) => members,
        }
    }
}

/// A comparison operator. `==` parses as [`Op::Eq`] and `<>` as [`Op::Ne`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
    In,
    Like,
    Matches,
    IsSubset,
    IsSuperset,
}

impl Op {
    /// The canonical spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Gt => ">",
            Op::Le => "<=",
            Op::Ge => ">=",
            Op::In => "IN",
            Op::Like => "LIKE",
            Op::Matches => "MATCHES",
            Op::IsSubset => "ISSUBSET",
            Op::IsSuperset => "ISSUPERSET",
        }
    }
}

/// The right-hand side of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    Literal(Literal<'a>),
    /// `(lit, lit, ...)`, possibly empty; only after `IN`.
    Set(Vec<Literal<'a>>),
}

/// A literal value.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal<'a> {
    /// `'...'`, unescaped (borrowed unless it had escapes).
    Str(Cow<'a, str>),
    Int(i64),
    /// Always finite.
    Float(f64),
    Bool(bool),
    /// `h'..'`: an even number of hex digits, as written.
    Hex(&'a str),
    /// `b'..'`: valid, non-empty base64, as written.
    Binary(&'a str),
    /// `t'..'`: a valid `YYYY-MM-DDTHH:MM:SS[.s+]Z`, as written.
    Timestamp(&'a str),
}

impl Literal<'_> {
    /// The text of a string literal.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Literal::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// `type:property` followed by more steps, e.g. `file:hashes.'SHA-256'`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectPath<'a> {
    /// An identifier, hyphens allowed: `ipv4-addr`, `x-usb-device` (STIX types are lower
    /// case, but the grammar takes any identifier that is not a keyword).
    pub object_type: &'a str,
    /// The first property (quoted or not; quotes and escapes removed).
    pub property: Cow<'a, str>,
    /// The steps after the first property (empty, so unallocated, for `type:prop`).
    pub steps: Vec<PathStep<'a>>,
}

/// One step of an object path after its first property.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathStep<'a> {
    /// `.name` or `.'quoted name'`.
    Property(Cow<'a, str>),
    /// `[n]`.
    Index(i64),
    /// `[*]`.
    AnyIndex,
}

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

// ---------------------------------------------------------------------------------------
// Lexer

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind<'a> {
    LBracket,
    RBracket,
    LParen,
    RParen,
    Colon,
    Dot,
    Comma,
    Star,
    /// `=`, `==`, `!=`, `<>`, `<`, `>`, `<=`, `>=`.
    Cmp(Op),
    /// `[A-Za-z_][A-Za-z0-9_-]*`: keywords, names, `true`, `false`.
    Word(&'a str),
    /// The text between the quotes; `escaped` when it holds `\'` or `\\`.
    Str {
        body: &'a str,
        escaped: bool,
    },
    /// `[+-]?digits` or `[+-]?digits?.digits`.
    Number {
        text: &'a str,
        float: bool,
    },
    Hex(&'a str),
    Binary(&'a str),
    Timestamp(&'a str),
    End,
}

#[derive(Debug, Clone, Copy)]
struct Token<'a> {
    kind: Kind<'a>,
    /// Byte offsets into the pattern.
    start: usize,
    end: usize,
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    fn next_token(&mut self) -> Result<Token<'a>, ParseError> {
        self.skip_trivia();
        let bytes = self.src.as_bytes();
        let start = self.pos;
        let Some(&first) = bytes.get(start) else {
            return Ok(Token {
                kind: Kind::End,
                start,
                end: start,
            });
        };
        let second = bytes.get(start + 1).copied();
        let (kind, len) = match first {
            b'[' => (Kind::LBracket, 1),
            b']' => (Kind::RBracket, 1),
            b'(' => (Kind::LParen, 1),
            b')' => (Kind::RParen, 1),
            b':' => (Kind::Colon, 1),
            b',' => (Kind::Comma, 1),
            b'*' => (Kind::Star, 1),
            b'=' if second == Some(b'=') => (Kind::Cmp(Op::Eq), 2),
            b'=' => (Kind::Cmp(Op::Eq), 1),
            b'!' if second == Some(b'=') => (Kind::Cmp(Op::Ne), 2),
            b'<' => match second {
                Some(b'=') => (Kind::Cmp(Op::Le), 2),
                Some(b'>') => (Kind::Cmp(Op::Ne), 2),
                _ => (Kind::Cmp(Op::Lt), 1),
            },
            b'>' if second == Some(b'=') => (Kind::Cmp(Op::Ge), 2),
            b'>' => (Kind::Cmp(Op::Gt), 1),
            b'\'' => {
                let (body, escaped) = self.string(start)?;
                return Ok(self.token(Kind::Str { body, escaped }, start));
            }
            b'.' if second.is_some_and(|b| b.is_ascii_digit()) => return self.number(start),
            b'.' => (Kind::Dot, 1),
            b'0'..=b'9' | b'+' | b'-' => return self.number(start),
            b'a'..=b'z' | b'A'..=b'Z' | b'_' => return self.word(start),
            _ => {
                let c = self.src[start..].chars().next().unwrap_or_default();
                return Err(error_at(
                    self.src,
                    start,
                    format!("unexpected character '{c}'"),
                ));
            }
        };
        self.pos += len;
        Ok(self.token(kind, start))
    }

    fn token(&self, kind: Kind<'a>, start: usize) -> Token<'a> {
        Token {
            kind,
            start,
            end: self.pos,
        }
    }

    /// Skips white space (the grammar's `WS`: Unicode's White_Space, which is
    /// [`char::is_whitespace`]) and comments, `/* ... */` and `// ...` to the end of the line,
    /// as the reference grammar does. An unclosed `/*` is left for the parser to refuse.
    fn skip_trivia(&mut self) {
        let bytes = self.src.as_bytes();
        while let Some(&b) = bytes.get(self.pos) {
            if b.is_ascii_whitespace() || b == 0x0b {
                self.pos += 1;
            } else if b >= 0x80 {
                // Unicode white space (NBSP, ...) is rare: decode only when not ASCII.
                match self.src[self.pos..].chars().next() {
                    Some(c) if c.is_whitespace() => self.pos += c.len_utf8(),
                    _ => break,
                }
            } else if self.src[self.pos..].starts_with("/*") {
                match self.src[self.pos + 2..].find("*/") {
                    Some(len) => self.pos += 2 + len + 2,
                    None => break,
                }
            } else if self.src[self.pos..].starts_with("//") {
                self.pos += self.src[self.pos..]
                    .find(['\r', '\n'])
                    .unwrap_or(self.src.len() - self.pos);
            } else {
                break;
            }
        }
    }

    /// A quoted string starting at `quote`: its body and whether it holds escapes.
    fn string(&mut self, quote: usize) -> Result<(&'a str, bool), ParseError> {
        let bytes = self.src.as_bytes();
        let mut i = quote + 1;
        let mut escaped = false;
        // Only ASCII bytes stop the scan, so every slice below is on a char boundary.
        while let Some(&b) = bytes.get(i) {
            match b {
                b'\'' => {
                    self.pos = i + 1;
                    return Ok((&self.src[quote + 1..i], escaped));
                }
                b'\\' => match bytes.get(i + 1) {
                    Some(b'\'' | b'\\') => {
                        escaped = true;
                        i += 2;
                    }
                    Some(_) => {
                        let c = self.src[i + 1..].chars().next().unwrap_or_default();
                        return Err(error_at(
                            self.src,
                            i,
                            format!(
                                "unknown escape '\\{c}' in string (only \\' and \\\\ are allowed)"
                            ),
                        ));
                    }
                    None => break,
                },
                _ => i += 1,
            }
        }
        Err(error_at(self.src, quote, "unterminated string"))
    }

    fn number(&mut self, start: usize) -> Result<Token<'a>, ParseError> {
        let bytes = self.src.as_bytes();
        let digits_from = |mut i: usize| {
            while bytes.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            i
        };
        let int_start = start + usize::from(matches!(bytes[start], b'+' | b'-'));
        let mut end = digits_from(int_start);
        let int_digits = end - int_start;
        let float =
            bytes.get(end) == Some(&b'.') && bytes.get(end + 1).is_some_and(u8::is_ascii_digit);
        if float {
            end = digits_from(end + 1);
        } else if int_digits == 0 {
            let sign = char::from(bytes[start]);
            return Err(error_at(
                self.src,
                start,
                format!("expected a digit after '{sign}'"),
            ));
        } else if int_digits > 1 && bytes[int_start] == b'0' {
            return Err(error_at(
                self.src,
                start,
                "integers may not have leading zeros",
            ));
        }
        self.pos = end;
        let text = &self.src[start..end];
        Ok(self.token(Kind::Number { text, float }, start))
    }

    fn word(&mut self, start: usize) -> Result<Token<'a>, ParseError> {
        let bytes = self.src.as_bytes();
        let mut end = start + 1;
        while bytes
            .get(end)
            .is_some_and(|&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            end += 1;
        }
        let word = &self.src[start..end];
        if bytes.get(end) == Some(&b'\'') && matches!(word, "h" | "b" | "t") {
            return self.prefixed(start, word);
        }
        self.pos = end;
        Ok(self.token(Kind::Word(word), start))
    }

    /// `h'..'`, `b'..'` or `t'..'`; their bodies never hold quotes or backslashes.
    fn prefixed(&mut self, start: usize, prefix: &str) -> Result<Token<'a>, ParseError> {
        let body_start = start + 2;
        let Some(len) = self.src[body_start..].find('\'') else {
            return Err(error_at(
                self.src,
                start,
                format!("unterminated {prefix}'...' literal"),
            ));
        };
        let body = &self.src[body_start..body_start + len];
        let (kind, checked) = match prefix {
            "h" => (
                Kind::Hex(body),
                is_hex(body).then_some(()).ok_or_else(|| {
                    "invalid hex literal: expected an even number of hex digits".to_owned()
                }),
            ),
            "b" => (
                Kind::Binary(body),
                is_base64(body)
                    .then_some(())
                    .ok_or_else(|| "invalid base64 literal".to_owned()),
            ),
            _ => (Kind::Timestamp(body), check_timestamp(body)),
        };
        if let Err(message) = checked {
            return Err(error_at(self.src, start, message));
        }
        self.pos = body_start + len + 1;
        Ok(self.token(kind, start))
    }
}

fn is_hex(s: &str) -> bool {
    s.len().is_multiple_of(2) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_base64(s: &str) -> bool {
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
fn check_timestamp(s: &str) -> Result<(), String> {
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

fn error_at(src: &str, byte: usize, message: impl Into<String>) -> ParseError {
    ParseError {
        column: src[..byte].chars().count() + 1,
        message: message.into(),
    }
}

/// The grammar's keywords (`LAST` is reserved, though no rule uses it).
const KEYWORDS: [&str; 17] = [
    "AND",
    "OR",
    "NOT",
    "FOLLOWEDBY",
    "IN",
    "LIKE",
    "MATCHES",
    "ISSUBSET",
    "ISSUPERSET",
    "EXISTS",
    "WITHIN",
    "SECONDS",
    "REPEATS",
    "TIMES",
    "START",
    "STOP",
    "LAST",
];

/// A token as an error message shows it.
fn describe(src: &str, tok: &Token<'_>) -> String {
    const MAX_CHARS: usize = 40;
    let text = &src[tok.start..tok.end];
    let shown = match text.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_owned(),
    };
    match tok.kind {
        Kind::End => "end of input".to_owned(),
        Kind::Str { .. } => format!("string {shown}"),
        Kind::Hex(_) | Kind::Binary(_) | Kind::Timestamp(_) => shown,
        Kind::Word(w)
            if !KEYWORDS.contains(&w) && KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(w)) =>
        {
            format!("'{shown}' (keywords are upper case)")
        }
        _ => format!("'{shown}'"),
    }
}

// ---------------------------------------------------------------------------------------
// Hash values

/// The form a hash value must have when a comparison's path goes through `hashes` and ends
/// in a hash algorithm the reference validator knows (`file:hashes.'SHA-256'`,
/// `file:extensions.'x'.hashes.MD5`): its `object_validator.py` (stix2-patterns, STIX 2.1)
/// matches every such value. The algorithm is found as it does: the last step, upper case,
/// without `-` (`'sha-256'` is SHA256).
#[derive(Debug, Clone, Copy)]
struct HashRule<'p> {
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
    fn of(path: &'p ObjectPath<'_>) -> Option<Self> {
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
    fn check(&self, literal: &str) -> Result<(), String> {
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

// ---------------------------------------------------------------------------------------
// Parser

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
        let mut lexer = Lexer { src, pos: 0 };
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

/// A keyword or a boolean: never an object type or a bare property name.
fn is_reserved(word: &str) -> bool {
    KEYWORDS.contains(&word) || word == "true" || word == "false"
}

/// A property name that needs no quotes: the grammar's IdentifierWithoutHyphen,
/// `[A-Za-z_][A-Za-z0-9_]*`, that is not reserved.
fn is_bare_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !is_reserved(name)
}

/// A string body as written -> its value. The lexer has checked that every backslash
/// starts `\'` or `\\`.
fn unescape(body: &str, escaped: bool) -> Cow<'_, str> {
    if !escaped {
        return Cow::Borrowed(body);
    }
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        out.push(if c == '\\' {
            chars.next().unwrap_or('\\')
        } else {
            c
        });
    }
    Cow::Owned(out)
}

// ---------------------------------------------------------------------------------------
// Display: canonical pattern text that parses back to the same AST.

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
    use super::*;
    use crate::test_util::mutate;
    use proptest::prelude::*;

    const SPEC_EXAMPLES: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/stix/spec_examples.txt"
    );

    fn spec_examples() -> Vec<String> {
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

    fn err(pattern: &str) -> ParseError {
        parse(pattern).expect_err(pattern)
    }

    /// The tree's shape: operators with their operands, leaves by object type.
    fn shape(e: &ObservationExpr<'_>) -> String {
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

    fn shape_of(pattern: &str) -> String {
        shape(&parse(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}")))
    }

    fn only_comparison(pattern: &str) -> Comparison<'_> {
        match parse(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}")) {
            ObservationExpr::Observation(CompExpr::Comparison(c)) => c,
            other => panic!("{pattern}: not one comparison: {other:?}"),
        }
    }

    fn assert_round_trip(pattern: &str) {
        let parsed = parse(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"));
        let printed = parsed.to_string();
        let reparsed = parse(&printed).unwrap_or_else(|e| panic!("{printed}: {e}"));
        assert_eq!(reparsed, parsed, "{pattern} printed as {printed}");
    }

    #[test]
    fn every_spec_example_parses_and_prints_back() {
        for line in spec_examples() {
            assert_round_trip(&line);
        }
    }

    const REFERENCE_CASES: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/stix/stix2-patterns-v21-cases.txt"
    );

    /// Why a date the calendar lacks is refused: the reference's grammar takes any day 01-31
    /// in any month (its suite says it does no calendar check), but STIX 2.1 timestamps are
    /// RFC 3339 date-times, which have no such day, and a time that never was bounds nothing.
    const CALENDAR: &str = "a date the calendar lacks";

    /// The reference suite's cases where ours differs on purpose: all are stricter.
    const REFUSED_ON_PURPOSE: [(&str, &str); 3] = [
        ("[x:created = t'2024-02-30T12:00:00Z']", CALENDAR),
        ("[x:created = t'2024-04-31T12:00:00Z']", CALENDAR),
        ("[x:created = t'2023-02-29T12:00:00Z']", CALENDAR),
    ];

    /// The STIX 2.1 cases of the test suite of stix2-patterns, the OASIS reference
    /// validator (`tests/data/stix/stix2-patterns-v21-cases.txt` and the spec examples):
    /// every valid one parses (and prints back), every invalid one is refused, but for the
    /// few in [`REFUSED_ON_PURPOSE`].
    #[test]
    fn the_reference_validators_test_suite() {
        let text = std::fs::read_to_string(REFERENCE_CASES)
            .unwrap_or_else(|e| panic!("cannot read {REFERENCE_CASES}: {e}"));
        let mut cases: Vec<(bool, String, String)> = spec_examples()
            .into_iter()
            .map(|p| (true, "spec_examples.txt".to_owned(), p))
            .collect();
        for line in text
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let mut fields = line.splitn(3, '\t');
            let (Some(verdict), Some(from), Some(pattern)) =
                (fields.next(), fields.next(), fields.next())
            else {
                panic!("{REFERENCE_CASES}: not `verdict<TAB>from<TAB>pattern`: {line}");
            };
            assert!(verdict == "valid" || verdict == "invalid", "{line}");
            cases.push((verdict == "valid", from.to_owned(), pattern.to_owned()));
        }
        assert_eq!(cases.len(), 106);
        assert_eq!(cases.iter().filter(|c| c.0).count(), 79);
        let mut agree = 0;
        let mut wrong = Vec::new();
        for (valid, from, pattern) in &cases {
            let ours = parse(pattern);
            if let Some((_, why)) = REFUSED_ON_PURPOSE.iter().find(|(p, _)| p == pattern) {
                assert!(
                    *valid && ours.is_err(),
                    "{pattern}: refused on purpose ({why})"
                );
                continue;
            }
            match (valid, &ours) {
                (true, Ok(_)) => assert_round_trip(pattern),
                (false, Err(_)) => {}
                _ => {
                    wrong.push(format!("{from}: {pattern:?}: {ours:?}"));
                    continue;
                }
            }
            agree += 1;
        }
        assert!(
            wrong.is_empty(),
            "read otherwise than the reference:\n{}",
            wrong.join("\n")
        );
        assert_eq!(agree, 103);
    }

    /// Patterns beyond the suite, each run through the reference (stix2-patterns at the
    /// commit the cases file names; `None`: it raised an exception) while this parser was
    /// checked against it over 82,000 generated patterns: its verdict, ours, and why ours
    /// differs where it does.
    const BEYOND_THE_SUITE: &[(&str, Option<bool>, bool, &str)] = &[
        // Comments, as the grammar has them; but the reference also wants `[` first.
        ("[x:y = 1] /* c */", Some(true), true, ""),
        ("[x:y = 1] // c", Some(true), true, ""),
        ("/* c */ [x:y = 1]", Some(false), false, ""),
        ("( /* c */ [x:y = 1])", Some(false), false, ""),
        ("[NOT EXISTS file:hashes.MD5]", Some(true), true, ""),
        // Any identifier is an object type; bare property names have no hyphen.
        ("[File:size = 1]", Some(true), true, ""),
        ("[_x:size = 1]", Some(true), true, ""),
        ("[x-:y = 1]", Some(true), true, ""),
        ("[x:my-prop = 1]", Some(false), false, ""),
        ("[x:'a-b' = 1]", Some(true), true, ""),
        ("[x:true = 1]", Some(false), false, ""),
        ("[x:LAST = 1]", Some(false), false, ""),
        ("[LAST:y = 1]", Some(false), false, ""),
        ("[x:y.AND = 1]", Some(false), false, ""),
        ("[x:y = b'']", Some(false), false, ""),
        ("[x:y = 00.5]", Some(true), true, ""),
        ("[x:y = 1e5]", Some(false), false, ""),
        ("[x:y[+1] = 1]", Some(true), true, ""),
        ("[x:y = 1] WITHIN 0 SECONDS", Some(true), true, ""),
        ("[x:y = 1] REPEATS 0 TIMES", Some(true), true, ""),
        ("[x:y = 1] REPEATS +3 TIMES", Some(true), true, ""),
        (
            "([x:y = 'a']) WITHIN 5 SECONDS WITHIN 6 SECONDS",
            Some(true),
            true,
            "",
        ),
        (
            "[x:y = 'a'] AND [x:y = 'b'] WITHIN 5 SECONDS WITHIN 6 SECONDS",
            Some(false),
            false,
            "",
        ),
        // Hash values, checked as the reference checks them.
        (
            "[file:hashes.MD5 LIKE 'cead3f77f6cda6ec00f57d76c9a6879f']",
            Some(true),
            true,
            "",
        ),
        ("[file:hashes.md5 = 'x']", Some(false), false, ""),
        ("[file:x.hashes.MD5 = 'x']", Some(false), false, ""),
        ("[file:hashes.MD5.x = 'x']", Some(true), true, ""),
        ("[file:hashes.UNKNOWN = 'x']", Some(true), true, ""),
        ("[file:hashes.SHA1 = h'abcd']", Some(false), false, ""),
        ("[file:hashes.SSDEEP = h'abcd']", Some(true), true, ""),
        // Where ours differs.
        (
            "[file:hashes.MD5 IN ('cead3f77f6cda6ec00f57d76c9a6879f', '79054025255fb1a26e4bc422aef54eb4')]",
            Some(false),
            true,
            "the reference matches the text of the whole set, parentheses and all, \
             against the hash form, so it refuses every IN on a hash; we check each member",
        ),
        (
            "[file:hashes.MD5 IN ()]",
            Some(false),
            true,
            "the same: an empty set has no member to check",
        ),
        (
            "[file:hashes.MD6 = 'cead3f77f6cda6ec00f57d76c9a6879fzzz']",
            Some(true),
            false,
            "the reference's MD6 expression lacks a group and takes anything that starts \
             with 32 hex digits; we take its evident meaning, one of the MD6 lengths",
        ),
        (
            "[file:hashes.MD5 = 'cead3f77f6cda6ec00f57d76c9a6879f\n']",
            Some(true),
            false,
            "Python's `$` matches before a final newline; a hash has none",
        ),
        (
            "[x:y = 99999999999999999999]",
            Some(true),
            false,
            "integers beyond 64 bits: STIX 2.1 integers are signed 54-bit values",
        ),
        (
            "[x:y[99999999999999999999] = 1]",
            Some(true),
            false,
            "the same, for a list index",
        ),
        (
            "[x:y = 1] REPEATS 99999999999999999999 TIMES",
            Some(true),
            false,
            "the same, for a count",
        ),
        (
            "[x:y[-1] = 1]",
            None,
            true,
            "the reference's grammar takes it; its inspector then fails on a negative \
             index. We follow the grammar",
        ),
        (
            "[file:hashes[0] = 'x']",
            None,
            true,
            "the reference's hash check fails on an index as a hash path's last step; \
             the grammar takes it, and no algorithm is named",
        ),
    ];

    #[test]
    fn patterns_beyond_the_suite_read_as_the_reference_reads_them_or_say_why_not() {
        for &(pattern, reference, ours, why) in BEYOND_THE_SUITE {
            assert_eq!(
                parse(pattern).is_ok(),
                ours,
                "{pattern}: {:?}",
                parse(pattern)
            );
            assert_eq!(
                reference == Some(ours),
                why.is_empty(),
                "{pattern}: a difference needs a reason, and only a difference"
            );
            if ours {
                assert_round_trip(pattern);
            }
        }
        // A number beyond f64 is no number either.
        let huge = format!("[x:y = 1{}.0]", "0".repeat(400));
        assert_eq!(err(&huge).message, "number out of range");
    }

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

    #[test]
    fn string_escapes() {
        let c = only_comparison(r"[a:b = 'it\'s']");
        assert_eq!(c.literals(), [Literal::Str("it's".into())]);
        let c = only_comparison(r"[a:b = 'a\\b']");
        assert_eq!(c.literals(), [Literal::Str(r"a\b".into())]);
        // Strings without escapes borrow from the pattern.
        let c = only_comparison("[a:b = 'plain é']");
        assert!(matches!(
            &c.literals()[0],
            Literal::Str(Cow::Borrowed("plain é"))
        ));
        assert_eq!(c.to_string(), "a:b = 'plain é'");
        assert_eq!(
            only_comparison(r"[a:b = 'x\\\'y']").to_string(),
            r"a:b = 'x\\\'y'"
        );
        let e = err(r"[a:b = 'a\nb']");
        assert_eq!(e.column, 10);
        assert_eq!(
            e.message,
            r"unknown escape '\n' in string (only \' and \\ are allowed)"
        );
        assert_eq!(err(r"[a:b = 'a\']").message, "unterminated string");
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
    fn white_space_is_free() {
        let tight = parse("[a:b='x'AND c:d=1]OR([e:f!=2])WITHIN 5 SECONDS").unwrap();
        let loose = parse(
            " \t[ a : b = 'x' AND c : d = 1 ]\n OR ( [ e : f != 2 ] ) WITHIN 5 SECONDS\u{a0}",
        )
        .unwrap();
        assert_eq!(tight, loose);
    }

    #[test]
    fn errors_name_the_column_the_expectation_and_what_was_found() {
        let cases: &[(&str, usize, &str)] = &[
            ("", 1, "empty pattern"),
            ("  \t ", 1, "empty pattern"),
            (
                "[ipv4-addr:value foo '1.2.3.4']",
                18,
                "expected a comparison operator, found 'foo'",
            ),
            ("[a:b = 'abc", 8, "unterminated string"),
            ("[a:b = 1", 9, "expected AND, OR or ']', found end of input"),
            (
                "([a:b = 1]",
                11,
                "expected AND, OR, FOLLOWEDBY, a qualifier or ')', found end of input",
            ),
            (
                "[a:b = 1]]",
                10,
                "expected AND, OR, FOLLOWEDBY, a qualifier or the end of the pattern, found ']'",
            ),
            ("[a:b = 1])", 10, "found ')'"),
            ("[(a:b = 1]", 10, "expected AND, OR or ')', found ']'"),
            (
                "[a:b = 1] and [c:d = 2]",
                11,
                "found 'and' (keywords are upper case)",
            ),
            (
                "[a:b = 1 and c:d = 2]",
                10,
                "expected AND, OR or ']', found 'and' (keywords are upper case)",
            ),
            (
                "[a:b = 1] AND",
                14,
                "expected '[' or '(', found end of input",
            ),
            ("[]", 2, "expected an object path, '(' or EXISTS, found ']'"),
            (
                "[true:name = 'x']",
                2,
                "expected an object path, '(' or EXISTS, found 'true'",
            ),
            ("[NOT a:b = 1]", 6, "expected EXISTS, found 'a'"),
            ("[LAST:b = 1]", 2, "found 'LAST'"),
            (
                "[a:my-prop = 1]",
                4,
                "expected a property name, found 'my-prop' (quote it: 'my-prop')",
            ),
            ("[a:b.AND = 1]", 6, "found 'AND' (quote it: 'AND')"),
            ("[a:false = 1]", 4, "found 'false' (quote it: 'false')"),
            (
                "[a b = 1]",
                4,
                "expected ':' after the object type, found 'b'",
            ),
            ("[a: = 1]", 5, "expected a property name, found '='"),
            ("[a:b[x] = 1]", 6, "expected a list index or '*', found 'x'"),
            ("[a:b = ]", 8, "expected a literal, found ']'"),
            ("[a:b = 'x' # ]", 12, "unexpected character '#'"),
            ("[a:b ! 'x']", 6, "unexpected character '!'"),
            ("[a:b = 007]", 8, "integers may not have leading zeros"),
            ("[a:b = 99999999999999999999]", 8, "integer out of range"),
            ("[a:b = -x]", 8, "expected a digit after '-'"),
            ("[a:b LIKE 5]", 11, "expected a string, found '5'"),
            (
                "[a:b > true]",
                8,
                "expected an orderable literal (not a boolean)",
            ),
            ("[a:b IN 'x']", 9, "expected '(' after IN, found string 'x'"),
            (
                "[a:b IN ('x' 'y')]",
                14,
                "expected ',' or ')', found string 'y'",
            ),
            ("[a:b = h'abc']", 8, "invalid hex literal"),
            ("[a:b = h'zz']", 8, "invalid hex literal"),
            ("[a:b = b'abc']", 8, "invalid base64 literal"),
            ("[a:b = b'']", 8, "invalid base64 literal"),
            ("[a:b = b'ab=c']", 8, "invalid base64 literal"),
            (
                "[a:b = t'2016-02-30T00:00:00Z']",
                8,
                "invalid timestamp: February has no day 30 in 2016",
            ),
            (
                "[a:b = t'2015-02-29T00:00:00Z']",
                8,
                "invalid timestamp: February has no day 29 in 2015",
            ),
            (
                "[a:b = t'2016-04-31T00:00:00Z']",
                8,
                "invalid timestamp: April has no day 31 in 2016",
            ),
            (
                "[a:b = t'2016-04-32T00:00:00Z']",
                8,
                "expected t'YYYY-MM-DD",
            ),
            ("[a:b = t'2016-01-01T24:00:00Z']", 8, "invalid timestamp"),
            ("[a:b = t'2016-01-01 00:00:00Z']", 8, "invalid timestamp"),
            ("[a:b = t'2016-01-01T00:00:00']", 8, "invalid timestamp"),
            ("[a:b = t'2016-01-01T00:00:00.Z']", 8, "invalid timestamp"),
            ("[a:b = t'2016", 8, "unterminated t'...' literal"),
            (
                "[a:b = 1] WITHIN -5 SECONDS",
                18,
                "expected a number of seconds, 0 or more, found '-5'",
            ),
            (
                "[a:b = 1] WITHIN 5 MINUTES",
                20,
                "expected SECONDS, found 'MINUTES'",
            ),
            (
                "[a:b = 1] REPEATS 1.5 TIMES",
                19,
                "expected an integer, 0 or more, found '1.5'",
            ),
            (
                "[a:b = 1] REPEATS -1 TIMES",
                19,
                "expected an integer, 0 or more",
            ),
            (
                "[a:b = 1] REPEATS 99999999999999999999 TIMES",
                19,
                "count out of range",
            ),
            (
                "[a:b = 1] REPEATS 2",
                20,
                "expected TIMES, found end of input",
            ),
            (
                "[a:b = 1] REPEATS 2 TIMES REPEATS 3 TIMES",
                27,
                "duplicate REPEATS qualifier",
            ),
            (
                "[a:b = 1] WITHIN 1 SECONDS REPEATS 2 TIMES WITHIN 3 SECONDS",
                44,
                "duplicate WITHIN qualifier",
            ),
            (
                "[a:b = 1] START t'2016-01-01T00:00:00Z'",
                40,
                "expected STOP, found end of input",
            ),
            ("[a:b = 1] START 5", 17, "expected a timestamp"),
            (
                "[file:hashes.'SHA-256' = 'f00']",
                26,
                "'f00' is not a valid SHA-256 hash: expected 64 hex digits",
            ),
            (
                "[file:hashes.MD5 IN ('d41d8cd98f00b204e9800998ecf8427e', h'00')]",
                58,
                "'h00' is not a valid MD5 hash",
            ),
            (
                "[file:hashes.SSDEEP LIKE 'a b']",
                26,
                "'a b' is not a valid SSDEEP hash: expected 1 to 128 of",
            ),
            ("/* c */ [a:b = 1]", 1, "a comment before the first '['"),
            ("( //c\n[a:b = 1])", 3, "a comment before the first '['"),
            ("[a:b = 1] /* not closed", 11, "unexpected character '/'"),
            // Columns count characters, not bytes.
            ("[a:b = 'é' AND é]", 16, "unexpected character 'é'"),
        ];
        for &(pattern, column, message) in cases {
            let e = err(pattern);
            assert!(
                e.column == column && e.message.contains(message),
                "{pattern:?}: got `{e}`, want column {column}: ...{message}..."
            );
        }
        assert_eq!(
            err("[ipv4-addr:value foo '1.2.3.4']").to_string(),
            "column 18: expected a comparison operator, found 'foo'"
        );
        let boxed: Box<dyn std::error::Error> = Box::new(err(""));
        assert_eq!(boxed.to_string(), "column 1: empty pattern");
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

    /// Whatever parses prints as text that parses to the same AST.
    fn prints_back(pattern: &str) -> Result<(), TestCaseError> {
        if let Ok(parsed) = parse(pattern) {
            let printed = parsed.to_string();
            prop_assert_eq!(
                parse(&printed),
                Ok(parsed),
                "{:?} printed as {:?}",
                pattern,
                printed
            );
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn random_text_never_panics(s in any::<String>()) {
            let _ = parse(&s);
        }

        #[test]
        fn pattern_like_text_never_panics(s in "[\\[\\]()a-z:.' =<>!0-9,*\\\\+hbt-]{0,60}|(AND|OR|NOT|IN|WITHIN|[ \\[\\]()'])*") {
            prints_back(&s)?;
        }

        #[test]
        fn mutated_spec_examples_never_panic_and_print_back(
            line in 0..23usize,
            edits in prop::collection::vec((any::<usize>(), any::<u8>(), prop::char::any()), 1..4),
        ) {
            let mut pattern = spec_examples()[line].clone();
            for (at, what, c) in edits {
                pattern = mutate(&pattern, at, what, c);
            }
            prints_back(&pattern)?;
        }

        #[test]
        fn mutations_with_pattern_characters(
            line in 0..23usize,
            edits in prop::collection::vec((any::<usize>(), any::<u8>(), prop::sample::select(
                vec!['[', ']', '(', ')', '\'', '\\', ' ', ':', '.', '=', '!', '<', '>', '-', '*', 'h', 't', 'b', '0', 'A'])), 1..4),
        ) {
            let mut pattern = spec_examples()[line].clone();
            for (at, what, c) in edits {
                pattern = mutate(&pattern, at, what, c);
            }
            prints_back(&pattern)?;
        }
    }
}
