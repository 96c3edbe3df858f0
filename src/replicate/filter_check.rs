//! What `Filter::compile` refuses besides a parse error, so that a filter's work is bounded and
//! its result can be a bool: before parsing, a text longer than [`MAX_SOURCE_BYTES`] or nested
//! deeper than [`MAX_NESTING`] (the CEL parser recurses, with large frames, on each level);
//! after parsing, a variable other than `item`, an expression deeper than [`MAX_DEPTH`] (its
//! evaluation recurses on each level), a macro inside another's per-element expression (its
//! cost would be the product of two lengths), and a result that is certainly not a bool.
//!
//! The limits hold in a debug build on a thread with a 2 MB stack (tests run on such threads;
//! tokio's workers have as much): at the limits, parsing takes about 1.4 MB and evaluating
//! about 1 MB, and 13 nested parentheses or an expression 56 levels deep overflow it.

use std::collections::BTreeSet;

use cel::Program;
use cel::common::ast::{EntryExpr, Expr, IdedExpr, LiteralValue, operators};

use super::{FilterError, VARIABLE, env};

/// The longest filter, in bytes.
pub const MAX_SOURCE_BYTES: usize = 1024;
/// How deep parentheses, brackets, braces and conditionals (`?`) may nest in a filter's text.
pub const MAX_NESTING: usize = 8;
/// How deep a filter's parsed expression may be (`a + b` is 2 deep; `a + b + c`, 3).
pub const MAX_DEPTH: usize = 24;

/// Refuses a text too long or nested too deep to be parsed safely.
pub(super) fn check_text(expression: &str) -> Result<(), FilterError> {
    if expression.len() > MAX_SOURCE_BYTES {
        return Err(FilterError::TooLong {
            bytes: expression.len(),
            limit: MAX_SOURCE_BYTES,
        });
    }
    let nesting = nesting(expression);
    if nesting > MAX_NESTING {
        return Err(FilterError::TooNested {
            nesting,
            limit: MAX_NESTING,
        });
    }
    Ok(())
}

/// Refuses a parsed filter too deep to evaluate safely, one with a macro inside another's
/// per-element expression, and one whose result is certainly not a bool.
pub(super) fn check_tree(root: &IdedExpr) -> Result<(), FilterError> {
    let depth = depth(root);
    if depth > MAX_DEPTH {
        return Err(FilterError::TooDeep {
            depth,
            limit: MAX_DEPTH,
        });
    }
    if macro_in_macro(root) {
        return Err(FilterError::MacroInMacro);
    }
    match never_bool(root) {
        Some(gives) => Err(FilterError::NotBool { gives }),
        None => Ok(()),
    }
}

/// How deep `text` nests: each `(`, `[` or `{` opens a level until its closing one, and each `?`
/// (a conditional, whose other branch the grammar nests) adds one until the bracket around it
/// closes (counted even when a `,` ends it: never less than the parser's depth). What is inside
/// string and bytes literals does not count.
fn nesting(text: &str) -> usize {
    let bytes = text.as_bytes();
    let (mut frames, mut depth, mut deepest, mut at) = (vec![0usize], 0usize, 0usize, 0usize);
    while let Some(&byte) = bytes.get(at) {
        match byte {
            b'"' | b'\'' => {
                at = after_string(bytes, at);
                continue;
            }
            b'(' | b'[' | b'{' => {
                depth += 1;
                frames.push(1);
            }
            b')' | b']' | b'}' if frames.len() > 1 => {
                depth = depth.saturating_sub(frames.pop().unwrap_or(0));
            }
            b'?' => {
                depth += 1;
                if let Some(frame) = frames.last_mut() {
                    *frame += 1;
                }
            }
            _ => {}
        }
        deepest = deepest.max(depth);
        at += 1;
    }
    deepest
}

/// Where the string literal whose quote is at `at` ends (one past its closing quote, or the end
/// of the text): `"…"`, `'…'`, `"""…"""` or `'''…'''`, raw (`r` before it: no escapes) or not.
fn after_string(bytes: &[u8], at: usize) -> usize {
    let quote = bytes[at];
    let raw = at > 0 && matches!(bytes[at - 1], b'r' | b'R');
    let triple = bytes.get(at + 1) == Some(&quote) && bytes.get(at + 2) == Some(&quote);
    let (mut i, closing) = match triple {
        true => (at + 3, 3),
        false => (at + 1, 1),
    };
    while let Some(&byte) = bytes.get(i) {
        if byte == b'\\' && !raw {
            i += 2;
        } else if byte == quote && bytes[i..].iter().take(closing).all(|b| *b == quote) {
            return i + closing;
        } else {
            i += 1;
        }
    }
    bytes.len()
}

/// The depth of the expression (a leaf is 1 deep), walked without recursion.
fn depth(root: &IdedExpr) -> usize {
    let mut deepest = 0;
    let mut pending = vec![(root, 1)];
    while let Some((expr, depth)) = pending.pop() {
        deepest = deepest.max(depth);
        pending.extend(children(&expr.expr).into_iter().map(|c| (c, depth + 1)));
    }
    deepest
}

/// Whether a comprehension (`all`, `exists`, `exists_one`, `map`, `filter`) is inside another's
/// per-element expression (its loop condition or step). One that makes the list another walks
/// (`item.l.filter(x, x > 0).exists(x, x > 5)`) runs once, and is allowed.
fn macro_in_macro(root: &IdedExpr) -> bool {
    let mut pending = vec![(root, false)];
    while let Some((expr, per_element)) = pending.pop() {
        match &expr.expr {
            Expr::Comprehension(_) if per_element => return true,
            Expr::Comprehension(c) => {
                pending.extend([&c.iter_range, &c.accu_init, &c.result].map(|e| (e, false)));
                pending.extend([&c.loop_cond, &c.loop_step].map(|e| (e, true)));
            }
            other => pending.extend(children(other).into_iter().map(|c| (c, per_element))),
        }
    }
    false
}

/// What the expression gives, when it certainly gives something other than a bool: a literal
/// other than `true` or `false`, a list, map or message, `item` itself, arithmetic, a function
/// that never gives a bool, `map` or `filter` (a list), or a conditional both of whose branches
/// are such. `None` when it could be a bool.
fn never_bool(root: &IdedExpr) -> Option<String> {
    let mut first = None;
    let mut pending = vec![root];
    while let Some(expr) = pending.pop() {
        match &expr.expr {
            Expr::Call(call) if call.func_name == operators::CONDITIONAL => {
                pending.extend(call.args.iter().skip(1).rev());
            }
            other => {
                first.get_or_insert(never_bool_leaf(other)?);
            }
        }
    }
    first
}

/// Functions that never give a bool, and what they give.
const NOT_BOOL_FUNCTIONS: [(&str, &str); 9] = [
    ("size", "an int"),
    ("int", "an int"),
    ("uint", "a uint"),
    ("double", "a double"),
    ("string", "a string"),
    ("bytes", "bytes"),
    ("type", "a type"),
    ("timestamp", "a timestamp"),
    ("duration", "a duration"),
];

/// Operators that give a number, a string, bytes or a list, never a bool.
const ARITHMETIC: [&str; 6] = [
    operators::ADD,
    operators::SUBSTRACT,
    operators::MULTIPLY,
    operators::DIVIDE,
    operators::MODULO,
    operators::NEGATE,
];

fn never_bool_leaf(expr: &Expr) -> Option<String> {
    let gives = match expr {
        Expr::Literal(literal) => match literal {
            LiteralValue::Boolean(_) => return None,
            LiteralValue::Int(_) => "an int",
            LiteralValue::UInt(_) => "a uint",
            LiteralValue::Double(_) => "a double",
            LiteralValue::String(_) => "a string",
            LiteralValue::Bytes(_) => "bytes",
            LiteralValue::Null => "null",
        },
        Expr::List(_) => "a list",
        Expr::Map(_) => "a map",
        Expr::Struct(_) => "a message",
        Expr::Ident(name) if name == VARIABLE => "`item` itself, a map",
        Expr::Call(call) if ARITHMETIC.contains(&call.func_name.as_str()) => {
            let operator = call.func_name.trim_matches('_');
            return Some(format!(
                "the result of `{operator}`, a number, string, bytes or list"
            ));
        }
        Expr::Call(call) => {
            let (name, gives) = NOT_BOOL_FUNCTIONS
                .iter()
                .find(|(f, _)| *f == call.func_name)?;
            return Some(format!("{gives} (`{name}`)"));
        }
        Expr::Comprehension(c) if gives_its_list(c) => "a list (`map` or `filter`)",
        _ => return None,
    };
    Some(gives.to_owned())
}

/// Whether a comprehension gives the list it builds (`map`, `filter`).
fn gives_its_list(c: &cel::common::ast::ComprehensionExpr) -> bool {
    matches!(c.accu_init.expr, Expr::List(_))
        && matches!(&c.result.expr, Expr::Ident(name) if *name == c.accu_var)
}

/// Refuses a program that refers to a variable other than `item`, a name it binds itself or a
/// type's name. The first such name, in order, is the one reported.
pub(super) fn check_variables(program: &Program) -> Result<(), FilterError> {
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

#[cfg(test)]
#[path = "filter_check_tests.rs"]
mod tests;
