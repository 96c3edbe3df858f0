//! A target's filter: a CEL expression over the primary's item.
//!
//! The expression sees one variable, `item`: the primary's item as a CEL map from attribute name
//! to value (S: string; N: int when it fits an i64, else uint when it fits a u64, else double;
//! BOOL: bool; NULL: null; L: list; M: map; SS and NS: lists of strings and numbers; B: bytes;
//! BS: a list of bytes). cel 0.15 compares numbers across types (`item.n < 9.5` with `n` an int,
//! `3 == 3.0`, `3u == 3` all hold), and reading an attribute the item lacks (`item.missing`) is a
//! run-time error, not null: test for one with `has(item.missing)`.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::{Arc, OnceLock};

use aws_sdk_dynamodb::types::AttributeValue;
use cel::common::ast::{EntryExpr, Expr, IdedExpr};
use cel::common::types::{CelBool, CelBytes, CelDouble, CelInt, CelList, CelMap, CelMapKey};
use cel::common::types::{CelNull, CelString, CelUInt};
use cel::common::value::Val;
use cel::{Context, Env, ExecutionError, ParseErrors, Program, Value};

use crate::aws::table::Item;

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
    #[error("the filter `{}` does not compile: {message}", one_line(.expression))]
    Compile { expression: String, message: String },
    #[error("the filter may only refer to `item`, not `{name}`")]
    UnknownVariable { name: String },
}

/// Why a filter could not say whether an item matches.
#[derive(Debug, thiserror::Error)]
pub enum FilterRunError {
    #[error("the filter failed: {0}")]
    Eval(#[source] ExecutionError),
    #[error("the filter gave {} {kind}, not true or false", article(.kind))]
    NotBool { kind: String },
    #[error("attribute `{attribute}` holds the number `{value}`, which does not parse")]
    Number { attribute: String, value: String },
    #[error("attribute `{attribute}` holds a value of a type this filter does not know")]
    UnknownType { attribute: String },
}

/// Why one attribute value could not be converted, before its attribute's name is known.
enum Unconvertible {
    Number(String),
    UnknownType,
}

impl Filter {
    /// Compiles `expression`, refusing an empty one, one that does not parse (the message gives
    /// the line and column) and one that refers to any variable but `item` (names bound inside
    /// the expression, as `t` in `item.tags.exists(t, t == "x")`, and type names such as `int`
    /// are allowed).
    pub fn compile(expression: &str) -> Result<Filter, FilterError> {
        if expression.trim().is_empty() {
            return Err(FilterError::Empty);
        }
        let program = env()
            .compile(expression)
            .map_err(|errors| FilterError::Compile {
                expression: expression.to_owned(),
                message: describe(&errors),
            })?;
        check_variables(&program)?;
        Ok(Filter {
            source: expression.to_owned(),
            program: Arc::new(program),
        })
    }

    /// Whether `item` passes the filter. An error (an attribute the item lacks, a value of the
    /// wrong type, no such function or overload, a number that does not parse, a result that is
    /// not a bool) is `Err`: the caller counts it as `false`, i.e. the item is filtered out, and
    /// counts the error in a metric.
    pub fn matches(&self, item: &Item) -> Result<bool, FilterRunError> {
        let mut context = Context::with_env(Arc::clone(env()));
        context.add_variable_as_val(VARIABLE, item_value(item)?);
        match self.program.execute(&context) {
            Ok(Value::Bool(result)) => Ok(result),
            Ok(other) => Err(FilterRunError::NotBool {
                kind: other.type_of().to_string(),
            }),
            Err(error) => Err(FilterRunError::Eval(error)),
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

/// Refuses a program that refers to a variable other than `item`, a name it binds itself or a
/// type's name. The first such name, in order, is the one reported.
fn check_variables(program: &Program) -> Result<(), FilterError> {
    let bound = bound_names(program.expression());
    let references = program.references();
    let unknown = references
        .variables()
        .into_iter()
        .filter(|name| *name != VARIABLE && !bound.contains(*name))
        .filter(|name| env().types().find_type(name).is_none())
        .min();
    match unknown {
        Some(name) => Err(FilterError::UnknownVariable {
            name: name.to_owned(),
        }),
        None => Ok(()),
    }
}

/// The names the expression's comprehensions (`all`, `exists`, `map`, …) bind.
fn bound_names(root: &IdedExpr) -> BTreeSet<&str> {
    let mut bound = BTreeSet::new();
    let mut pending = vec![root];
    while let Some(expr) = pending.pop() {
        if let Expr::Comprehension(c) = &expr.expr {
            bound.insert(c.iter_var.as_str());
            bound.insert(c.accu_var.as_str());
            bound.extend(c.iter_var2.as_deref());
        }
        pending.extend(children(&expr.expr));
    }
    bound
}

/// The expressions directly inside `expr`.
fn children(expr: &Expr) -> Vec<&IdedExpr> {
    match expr {
        Expr::Call(call) => call
            .target
            .as_deref()
            .into_iter()
            .chain(&call.args)
            .collect(),
        Expr::Comprehension(c) => vec![
            &c.iter_range,
            &c.accu_init,
            &c.loop_cond,
            &c.loop_step,
            &c.result,
        ],
        Expr::List(list) => list.elements.iter().collect(),
        Expr::Map(map) => map.entries.iter().flat_map(|e| entry(&e.expr)).collect(),
        Expr::Struct(s) => s.entries.iter().flat_map(|e| entry(&e.expr)).collect(),
        Expr::Select(select) => vec![&select.operand],
        Expr::Unspecified | Expr::Ident(_) | Expr::Literal(_) => Vec::new(),
    }
}

/// The expressions of a map or struct literal's entry.
fn entry(entry: &EntryExpr) -> Vec<&IdedExpr> {
    match entry {
        EntryExpr::StructField(field) => vec![&field.value],
        EntryExpr::MapEntry(e) => vec![&e.key, &e.value],
    }
}

/// `item` as a CEL map, borrowing its strings and bytes.
fn item_value(item: &Item) -> Result<Box<dyn Val + '_>, FilterRunError> {
    let mut map = HashMap::with_capacity(item.len());
    for (name, value) in item {
        let value = attribute_value(value).map_err(|problem| match problem {
            Unconvertible::Number(value) => FilterRunError::Number {
                attribute: name.clone(),
                value,
            },
            Unconvertible::UnknownType => FilterRunError::UnknownType {
                attribute: name.clone(),
            },
        })?;
        map.insert(CelMapKey::from(name.as_str()), value);
    }
    Ok(Box::new(CelMap::from(map)))
}

/// One attribute value as a CEL value.
fn attribute_value(value: &AttributeValue) -> Result<Box<dyn Val + '_>, Unconvertible> {
    Ok(match value {
        AttributeValue::S(s) => string(s),
        AttributeValue::N(n) => number(n)?,
        AttributeValue::Bool(b) => Box::new(CelBool::from(*b)),
        AttributeValue::Null(_) => Box::new(CelNull),
        AttributeValue::B(b) => Box::new(CelBytes::from(b.as_ref())),
        AttributeValue::L(list) => list_of(list.iter().map(attribute_value))?,
        AttributeValue::M(map) => map_value(map)?,
        AttributeValue::Ss(set) => list_of(set.iter().map(|s| Ok(string(s))))?,
        AttributeValue::Ns(set) => list_of(set.iter().map(|n| number(n)))?,
        AttributeValue::Bs(set) => list_of(set.iter().map(|b| Ok(bytes(b.as_ref()))))?,
        _ => return Err(Unconvertible::UnknownType),
    })
}

fn string(s: &str) -> Box<dyn Val + '_> {
    Box::new(CelString::from(s))
}

fn bytes(b: &[u8]) -> Box<dyn Val + '_> {
    Box::new(CelBytes::from(b))
}

/// A DynamoDB number: an int when it fits an i64, else a uint when it fits a u64, else a
/// (finite) double.
fn number(n: &str) -> Result<Box<dyn Val + 'static>, Unconvertible> {
    if let Ok(i) = n.parse::<i64>() {
        return Ok(Box::new(CelInt::from(i)));
    }
    if let Ok(u) = n.parse::<u64>() {
        return Ok(Box::new(CelUInt::from(u)));
    }
    match n.parse::<f64>() {
        Ok(d) if d.is_finite() => Ok(Box::new(CelDouble::from(d))),
        _ => Err(Unconvertible::Number(n.to_owned())),
    }
}

fn list_of<'v>(
    values: impl Iterator<Item = Result<Box<dyn Val + 'v>, Unconvertible>>,
) -> Result<Box<dyn Val + 'v>, Unconvertible> {
    let values: Vec<Box<dyn Val + 'v>> = values.collect::<Result<_, _>>()?;
    Ok(Box::new(CelList::from(values)))
}

fn map_value(map: &HashMap<String, AttributeValue>) -> Result<Box<dyn Val + '_>, Unconvertible> {
    let mut converted = HashMap::with_capacity(map.len());
    for (name, value) in map {
        converted.insert(CelMapKey::from(name.as_str()), attribute_value(value)?);
    }
    Ok(Box::new(CelMap::from(converted)))
}

#[cfg(test)]
#[path = "filter_tests.rs"]
mod tests;
