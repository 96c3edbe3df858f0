//! A query (key condition, optional index, a limit), and the rule that sends a session's query
//! to the primary:
//!
//! - on the table or a **local** secondary index (whose partition key is the table's): when the
//!   session holds a key whose partition key value is the one the key condition fixes
//!   (`pk = :v`); a key in another partition cannot be in the query's range, whatever the sort
//!   key condition;
//! - on a **global** secondary index: when the session holds any key of the table. An index key
//!   is an ordinary attribute, and the session cannot know it for a key it deleted, or one whose
//!   write has an unknown outcome, nor the value the replica's stale item still has;
//! - when the key condition's partition value cannot be read (an expression this reading does
//!   not follow): when the session holds any key.
//!
//! Otherwise the replica answers. The rule is about keys the session holds: a key that left the
//! session has been seen on the replica as the session wrote it. Before going to the primary, a
//! reader checks the few held keys in range on the replica (`reader::queries`),
//! so that keys caught up leave the session and a query stops going to the primary for them.

use std::collections::{HashMap, HashSet};

use aws_sdk_dynamodb::types::{AttributeValue, TableDescription};

use crate::aws::json::Item;
use crate::regional::digest::canonical_value;

/// A query of the table or of one of its indexes.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// The index to query (`None`: the table).
    pub index: Option<String>,
    /// The key condition expression, e.g. `ForumName = :f AND begins_with(Subject, :s)`.
    pub key_condition: String,
    /// Expression attribute names (`#n` → name).
    pub names: Option<HashMap<String, String>>,
    /// Expression attribute values (`:v` → value).
    pub values: Option<Item>,
    /// At most this many items in all (`None`: every item in the range).
    pub limit: Option<usize>,
}

/// What a query reads: the table, or a kind of index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Table,
    /// A local secondary index: the table's partition key, another sort key.
    Local,
    /// A global secondary index: a partition key of its own.
    Global,
}

/// A table's secondary indexes, by name, from `DescribeTable`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Indexes {
    pub local: HashSet<String>,
    pub global: HashSet<String>,
}

impl Indexes {
    /// The indexes `description` lists.
    pub fn of(description: &TableDescription) -> Indexes {
        Indexes {
            local: (description.local_secondary_indexes().iter())
                .filter_map(|i| i.index_name().map(str::to_owned))
                .collect(),
            global: (description.global_secondary_indexes().iter())
                .filter_map(|i| i.index_name().map(str::to_owned))
                .collect(),
        }
    }

    /// What `index` is (`None`: the table); `None` when the table has no such index.
    pub fn target(&self, index: Option<&str>) -> Option<Target> {
        match index {
            None => Some(Target::Table),
            Some(name) if self.local.contains(name) => Some(Target::Local),
            Some(name) if self.global.contains(name) => Some(Target::Global),
            Some(_) => None,
        }
    }

    /// Every index name, sorted (for messages).
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.local.union(&self.global).cloned().collect();
        names.sort();
        names
    }
}

/// True when a session holding `held` (key attributes) must send a query of `target`, whose
/// key condition fixes the partition key `partition` (`None`: unknown), to the primary; the
/// table's partition key attribute is `partition_attribute` (see the module's docs).
pub fn needs_primary(
    target: Target,
    partition_attribute: &str,
    partition: Option<&AttributeValue>,
    held: &[Item],
) -> bool {
    held.iter()
        .any(|key| may_be_in_range(target, partition_attribute, partition, key))
}

/// True when the held key `key` may be in the range of a query of `target` whose key condition
/// fixes the partition key `partition` (`None`: unknown): see the module's docs.
pub fn may_be_in_range(
    target: Target,
    partition_attribute: &str,
    partition: Option<&AttributeValue>,
    key: &Item,
) -> bool {
    match (target, partition) {
        (Target::Global, _) | (_, None) => true,
        (Target::Table | Target::Local, Some(value)) => key
            .get(partition_attribute)
            .is_none_or(|v| canonical_value(v) == canonical_value(value)),
    }
}

/// The value the key condition `condition` gives the attribute `attribute` with `=`, resolving
/// `#names` and `:values`; `None` when it gives none, several, or cannot be read.
pub fn partition_value(
    condition: &str,
    names: Option<&HashMap<String, String>>,
    values: Option<&Item>,
    attribute: &str,
) -> Option<AttributeValue> {
    let tokens = tokens(condition)?;
    let name_of = |token: &Token| -> Option<String> {
        match token {
            Token::Word(word) => Some(word.clone()),
            Token::Name(alias) => names.and_then(|n| n.get(alias)).cloned(),
            _ => None,
        }
    };
    let value_of = |token: &Token| -> Option<AttributeValue> {
        match token {
            Token::Value(placeholder) => values.and_then(|v| v.get(placeholder)).cloned(),
            _ => None,
        }
    };
    let mut found: Vec<AttributeValue> = Vec::new();
    for window in tokens.windows(3) {
        if window[1] != Token::Equals {
            continue;
        }
        for (name, value) in [(&window[0], &window[2]), (&window[2], &window[0])] {
            if name_of(name).as_deref() == Some(attribute) {
                // `pk = :v` whose value is missing: unreadable, so no answer.
                found.push(value_of(value)?);
            }
        }
    }
    let first = found.first()?;
    let one = canonical_value(first);
    found
        .iter()
        .all(|v| canonical_value(v) == one)
        .then(|| first.clone())
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// An attribute name or a keyword (`AND`, `BETWEEN`, `begins_with`).
    Word(String),
    /// `#name`.
    Name(String),
    /// `:value`.
    Value(String),
    Equals,
    /// `<`, `<=`, `>`, `>=`, `<>`, `(`, `)`, `,`.
    Other,
}

/// The tokens of a key condition; `None` for a character no key condition has.
fn tokens(text: &str) -> Option<Vec<Token>> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    let word = |c: char| c.is_alphanumeric() || c == '_' || c == '.' || c == '-';
    while let Some((start, c)) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '=' => tokens.push(Token::Equals),
            '<' | '>' => {
                // `<=`, `>=`, `<>`: one operator, never `=`.
                let _ = chars.next_if(|(_, next)| *next == '=' || (c, *next) == ('<', '>'));
                tokens.push(Token::Other);
            }
            '(' | ')' | ',' => tokens.push(Token::Other),
            '#' | ':' => {
                let mut end = start + 1;
                while let Some((at, c)) = chars.next_if(|(_, c)| word(*c)) {
                    end = at + c.len_utf8();
                }
                let placeholder = text[start..end].to_owned();
                tokens.push(match c {
                    '#' => Token::Name(placeholder),
                    _ => Token::Value(placeholder),
                });
            }
            c if word(c) => {
                let mut end = start + c.len_utf8();
                while let Some((at, c)) = chars.next_if(|(_, c)| word(*c)) {
                    end = at + c.len_utf8();
                }
                tokens.push(Token::Word(text[start..end].to_owned()));
            }
            _ => return None,
        }
    }
    Some(tokens)
}

#[cfg(test)]
#[path = "query_tests.rs"]
mod tests;
