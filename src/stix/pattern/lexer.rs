//! The lexer: the pattern text as tokens (STIX 2.1, Section 9, "STIX Patterning", with the
//! lexer rules of its ANTLR grammar `STIXPattern.g4`): punctuation and comparison
//! operators, upper-case keywords, names, quoted strings and their two escapes, numbers and
//! the prefixed constants (`h'..'`, `b'..'`, `t'..'`, checked by [`super::constant`]).
//! White space and comments separate tokens. Also how a token is shown in an error, and
//! which words are reserved.

use std::borrow::Cow;

use super::ast::Op;
use super::constant::{check_timestamp, is_base64, is_hex};
use super::{ParseError, error_at};

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Kind<'a> {
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

/// A token and where it is.
#[derive(Debug, Clone, Copy)]
pub(super) struct Token<'a> {
    pub(super) kind: Kind<'a>,
    /// Byte offsets into the pattern.
    pub(super) start: usize,
    pub(super) end: usize,
}

/// The tokens of a pattern, one at a time.
pub(super) struct Lexer<'a> {
    src: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    pub(super) fn new(src: &'a str) -> Self {
        Lexer { src, pos: 0 }
    }

    /// The next token, or [`Kind::End`] at the end of the text.
    pub(super) fn next_token(&mut self) -> Result<Token<'a>, ParseError> {
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
pub(super) fn describe(src: &str, tok: &Token<'_>) -> String {
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

/// A keyword or a boolean: never an object type or a bare property name.
pub(super) fn is_reserved(word: &str) -> bool {
    KEYWORDS.contains(&word) || word == "true" || word == "false"
}

/// A property name that needs no quotes: the grammar's IdentifierWithoutHyphen,
/// `[A-Za-z_][A-Za-z0-9_]*`, that is not reserved.
pub(super) fn is_bare_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !is_reserved(name)
}

/// A string body as written -> its value. The lexer has checked that every backslash
/// starts `\'` or `\\`.
pub(super) fn unescape(body: &str, escaped: bool) -> Cow<'_, str> {
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

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use crate::stix::pattern::testing::{err, only_comparison};
    use crate::stix::pattern::{Literal, parse};

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
    fn white_space_is_free() {
        let tight = parse("[a:b='x'AND c:d=1]OR([e:f!=2])WITHIN 5 SECONDS").unwrap();
        let loose = parse(
            " \t[ a : b = 'x' AND c : d = 1 ]\n OR ( [ e : f != 2 ] ) WITHIN 5 SECONDS\u{a0}",
        )
        .unwrap();
        assert_eq!(tight, loose);
    }
}
