//! A target's filter: a CEL expression over the primary's item.
//!
//! The expression sees one variable, `item`: the primary's item as a CEL map from attribute name
//! to value (S: string; N: a number, below; BOOL: bool; NULL: null; L: list; M: map; SS and NS:
//! lists of strings and numbers; B: bytes; BS: a list of bytes). cel 0.15 compares numbers across
//! types (`item.n < 9.5` with `n` an int, `3 == 3.0`, `3u == 3` all hold), and reading an
//! attribute the item lacks (`item.missing`) is a run-time error, not null: test for one with
//! `has(item.missing)`.
//!
//! Numbers compare exactly: a DynamoDB number (up to 38 digits) becomes an int when it is an
//! integer that fits an i64, else a uint when it fits a u64, else a double only when the double
//! is the same decimal (`0.1`, `1.50`, `1e30`); any other (`9007199254740992.5`, most numbers of
//! more than 17 significant digits), in an attribute or inside a list, set or map, makes the
//! filter fail on the item rather than compare a rounded value. See `filter_value`.
//!
//! A filter that fails on an item (a missing attribute, a wrong type, such a number, a result
//! that is not a bool) says so ([`FilterRunError`]): the target leaves its item as it is and the
//! key fails (see `shape` and `target`); it never counts as "does not match".
//!
//! Compiling refuses what could not run safely or could never be a condition (see
//! `filter_check`): more than [`MAX_SOURCE_BYTES`] bytes, parentheses, brackets, braces and
//! conditionals nested more than [`MAX_NESTING`] deep, an expression more than [`MAX_DEPTH`]
//! levels deep, a macro (`all`, `exists`, `exists_one`, `map`, `filter`) inside another's
//! per-element expression (so an item costs at most its size times the expression's), and a
//! result that is certainly not a bool (`1`, `"x"`, `1 + 2`, `size(item.l)`, a list or map).
//! Error messages name attributes, types and the expression's own words, never an item's values.

use std::fmt;
use std::sync::{Arc, OnceLock};

use cel::common::types::CelMapKey;
use cel::{Context, Env, ExecutionError, ParseErrors, Program, Value};

use crate::aws::table::Item;

#[path = "filter_check.rs"]
mod check;
#[path = "filter_value.rs"]
mod value;

pub use check::{MAX_DEPTH, MAX_NESTING, MAX_SOURCE_BYTES};
use value::Unconvertible;

/// The one variable a filter may refer to.
const VARIABLE: &str = "item";

/// A compiled filter: the expression as written and its program.
#[derive(Clone)]
pub struct Filter {
    source: String,
    program: Arc<Program>,
}

/// Why an expression is refused as a filter.
#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    #[error(
        "the filter is empty: write a CEL expression over `item`, e.g. `item.status == \"active\"`"
    )]
    Empty,
    #[error("the filter is {bytes} bytes long: at most {limit} are allowed")]
    TooLong { bytes: usize, limit: usize },
    #[error(
        "the filter nests parentheses, brackets, braces and conditionals (`?`) {nesting} deep: at \
         most {limit} levels are allowed (parsing costs stack on each)"
    )]
    TooNested { nesting: usize, limit: usize },
    #[error("the filter `{}` does not compile: {message}", one_line(.expression))]
    Compile { expression: String, message: String },
    #[error("the filter may only refer to `item`, not `{name}`")]
    UnknownVariable { name: String },
    #[error(
        "the filter's expression is {depth} levels deep: at most {limit} are allowed (evaluating \
         costs stack on each; a chain such as `a + b + c` is one level per term)"
    )]
    TooDeep { depth: usize, limit: usize },
    #[error(
        "the filter uses a macro (`all`, `exists`, `exists_one`, `map`, `filter`) inside another's \
         per-element expression: that would cost the product of two lists' lengths on each item; \
         use at most one level"
    )]
    MacroInMacro,
    #[error(
        "the filter is never true or false: it gives {gives}; write a condition, e.g. \
         `item.status == \"active\"`"
    )]
    NotBool { gives: String },
}

/// Why a filter could not say whether an item matches. The messages name attributes and types,
/// never the item's values.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FilterRunError {
    #[error("the filter failed: {0}")]
    Eval(String),
    #[error("the filter gave {} {kind}, not true or false", article(.kind))]
    NotBool { kind: String },
    #[error(
        "attribute `{attribute}` holds a number with more digits than a CEL number holds exactly \
         (an int, a uint, or a double that is the same decimal): the filter cannot compare it"
    )]
    Number { attribute: String },
    #[error("attribute `{attribute}` holds a number that does not parse")]
    NumberSyntax { attribute: String },
    #[error("attribute `{attribute}` holds a value of a type this filter does not know")]
    UnknownType { attribute: String },
}

impl Filter {
    /// Compiles `expression`, refusing an empty one, one too long or nested too deep
    /// ([`MAX_SOURCE_BYTES`], [`MAX_NESTING`]), one that does not parse (the message gives the
    /// line and column), one that refers to any variable but `item` (names bound inside the
    /// expression, as `t` in `item.tags.exists(t, t == "x")`, and type names such as `int` are
    /// allowed), one too deep ([`MAX_DEPTH`]), one with a macro inside another's per-element
    /// expression, and one whose result is certainly not a bool.
    pub fn compile(expression: &str) -> Result<Filter, FilterError> {
        if expression.trim().is_empty() {
            return Err(FilterError::Empty);
        }
        check::check_text(expression)?;
        let program = env()
            .compile(expression)
            .map_err(|errors| FilterError::Compile {
                expression: expression.to_owned(),
                message: describe(&errors),
            })?;
        check::check_variables(&program)?;
        check::check_tree(program.expression())?;
        Ok(Filter {
            source: expression.to_owned(),
            program: Arc::new(program),
        })
    }

    /// Whether `item` passes the filter. An error (an attribute the item lacks, a value of the
    /// wrong type, no such function or overload, a number no CEL number holds exactly, a result
    /// that is not a bool) is `Err`: the caller leaves the target's item as it is, fails the key
    /// and counts the error; it is never taken as `false`.
    pub fn matches(&self, item: &Item) -> Result<bool, FilterRunError> {
        let mut context = Context::with_env(Arc::clone(env()));
        context.add_variable_as_val(VARIABLE, item_value(item)?);
        match self.program.execute(&context) {
            Ok(Value::Bool(result)) => Ok(result),
            Ok(other) => Err(FilterRunError::NotBool {
                kind: other.type_of().to_string(),
            }),
            Err(error) => Err(FilterRunError::Eval(without_values(&error, &self.source))),
        }
    }

    /// The expression as written.
    pub fn source(&self) -> &str {
        &self.source
    }
}

impl fmt::Debug for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Filter")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// The standard CEL environment, built once.
fn env() -> &'static Arc<Env> {
    static ENV: OnceLock<Arc<Env>> = OnceLock::new();
    ENV.get_or_init(|| Arc::new(Env::stdlib()))
}

/// The parse errors on one line, each with its line and column.
fn describe(errors: &ParseErrors) -> String {
    let described: Vec<String> = errors
        .errors
        .iter()
        .map(|e| format!("line {}, column {}: {}", e.pos.0, e.pos.1, one_line(&e.msg)))
        .collect();
    described.join("; ")
}

/// `text` with its line breaks and tabs turned into spaces, for a one-line message.
fn one_line(text: &str) -> String {
    text.replace(['\n', '\r', '\t'], " ")
}

/// "a" or "an", and `kind`.
fn article(kind: &str) -> &'static str {
    match kind.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u') => "an",
        _ => "a",
    }
}

/// CEL's message for `error` without the values it quotes (they may be the item's): types,
/// names, operators, and a missing key's name only when the expression spells it.
fn without_values(error: &ExecutionError, source: &str) -> String {
    use ExecutionError as E;
    let kind = |value: &Value| {
        format!(
            "{} {}",
            article(&value.type_of().to_string()),
            value.type_of()
        )
    };
    match error {
        E::InvalidArgumentCount { .. }
        | E::UnexpectedType { .. }
        | E::NoSuchOverload(_)
        | E::UndeclaredReference(_)
        | E::MissingArgumentOrTarget => error.to_string(),
        E::NoSuchKey(key) if source.contains(key.as_str()) => error.to_string(),
        E::NoSuchKey(_) => "No such key (one the item gives)".to_owned(),
        E::UnsupportedTargetType { target } => format!("Invalid argument type: {}", kind(target)),
        E::NotSupportedAsMethod { method, target } => {
            format!("Method '{method}' not supported on {}", kind(target))
        }
        E::UnsupportedKeyType(key) => format!("Unable to use {} as a key", kind(key)),
        E::ValuesNotComparable(a, b) => format!("{} can not be compared to {}", kind(a), kind(b)),
        E::UnsupportedBinaryOperator(operator, a, b) => {
            format!(
                "Unsupported binary operator '{operator}': {}, {}",
                kind(a),
                kind(b)
            )
        }
        E::UnsupportedIndex(index, of) => {
            format!("Cannot use {} to index {}", kind(index), kind(of))
        }
        E::FunctionError { function, .. } => format!("Error executing function '{function}'"),
        E::DivisionByZero(_) => "Division by zero".to_owned(),
        E::RemainderByZero(_) => "Remainder by zero".to_owned(),
        E::Overflow(operator, a, b) => {
            format!(
                "Overflow from binary operator '{operator}': {}, {}",
                kind(a),
                kind(b)
            )
        }
        E::IndexOutOfBounds(_) => "Index out of bounds".to_owned(),
        E::DuplicateKey(_) => "Failed with repeated key".to_owned(),
        _ => "an evaluation error".to_owned(),
    }
}

/// `item` as a CEL map, borrowing its strings and bytes.
fn item_value(item: &Item) -> Result<Box<dyn cel::common::value::Val + '_>, FilterRunError> {
    let mut map = std::collections::HashMap::with_capacity(item.len());
    for (name, value) in item {
        let value = value::attribute_value(value).map_err(|problem| {
            let attribute = name.clone();
            match problem {
                Unconvertible::Inexact => FilterRunError::Number { attribute },
                Unconvertible::NumberSyntax => FilterRunError::NumberSyntax { attribute },
                Unconvertible::UnknownType => FilterRunError::UnknownType { attribute },
            }
        })?;
        map.insert(CelMapKey::from(name.as_str()), value);
    }
    Ok(Box::new(cel::common::types::CelMap::from(map)))
}

#[cfg(test)]
#[path = "filter_tests.rs"]
mod tests;
