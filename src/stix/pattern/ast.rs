//! The syntax tree of a pattern (STIX 2.1, Section 9, "STIX Patterning": its definitions
//! of the pattern expression, observation expressions and their operators and qualifiers,
//! comparison expressions and their operators, object paths and constants). Every node
//! borrows from the pattern text where it can.

use std::borrow::Cow;

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
