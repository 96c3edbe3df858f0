//! Item keys: the primary table's key schema, validation of key attributes against it, and a
//! canonical, attribute-order-independent encoding used to group, match and route keys.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use aws_sdk_dynamodb::types::{AttributeValue, KeyType, ScalarAttributeType, TableDescription};
use bigdecimal::BigDecimal;
use sha2::{Digest, Sha256};

/// DynamoDB's limits on key attribute values, in bytes.
const MAX_HASH_KEY_BYTES: usize = 2048;
const MAX_RANGE_KEY_BYTES: usize = 1024;
use crate::aws::limits::PARTITION_KEY_CHARS;

/// Why a set of attributes is not a key of the table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("key attribute `{0}` is missing")]
    Missing(String),
    #[error("attribute `{name}` is not part of the table's key ({expected})")]
    Unexpected { name: String, expected: String },
    #[error("key attribute `{name}` must be of type {expected}, found {found}")]
    WrongType {
        name: String,
        expected: &'static str,
        found: &'static str,
    },
    #[error("key attribute `{0}` is empty")]
    Empty(String),
    #[error("key attribute `{name}` is {bytes} bytes; DynamoDB allows at most {limit}")]
    TooLarge {
        name: String,
        bytes: usize,
        limit: usize,
    },
    #[error("key attribute `{name}` is not a valid DynamoDB number: {reason}")]
    BadNumber { name: String, reason: String },
}

/// Why a table description does not yield a usable key schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("table `{table}` has an unusable key schema: {reason}")]
pub struct SchemaError {
    pub table: String,
    pub reason: String,
}

/// The scalar types a key attribute can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalarType {
    S,
    N,
    B,
}

impl ScalarType {
    fn tag(self) -> &'static str {
        match self {
            ScalarType::S => "S",
            ScalarType::N => "N",
            ScalarType::B => "B",
        }
    }
}

/// `ForumName (S, partition key), Subject (S, sort key)`: the schema as messages show it.
impl fmt::Display for KeySchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}, partition key)",
            self.hash.name,
            self.hash.kind.tag()
        )?;
        if let Some(range) = &self.range {
            write!(f, ", {} ({}, sort key)", range.name, range.kind.tag())?;
        }
        Ok(())
    }
}

/// One key attribute: its name and type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyAttribute {
    pub name: String,
    pub kind: ScalarType,
}

/// A table's primary key: a partition (hash) attribute and an optional sort (range) attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySchema {
    pub hash: KeyAttribute,
    pub range: Option<KeyAttribute>,
}

impl KeySchema {
    /// A schema with a partition key only.
    pub fn hash_only(name: &str, kind: ScalarType) -> Self {
        let hash = KeyAttribute {
            name: name.to_owned(),
            kind,
        };
        KeySchema { hash, range: None }
    }

    /// A schema with a partition key and a sort key.
    pub fn composite(hash: (&str, ScalarType), range: (&str, ScalarType)) -> Self {
        KeySchema {
            hash: KeyAttribute {
                name: hash.0.to_owned(),
                kind: hash.1,
            },
            range: Some(KeyAttribute {
                name: range.0.to_owned(),
                kind: range.1,
            }),
        }
    }

    /// Reads the key schema out of a `DescribeTable` answer.
    pub fn from_description(table: &TableDescription) -> Result<Self, SchemaError> {
        let name = table.table_name().unwrap_or("?").to_owned();
        let fail = |reason: String| SchemaError {
            table: name.clone(),
            reason,
        };
        let kind_of = |attr: &str| -> Result<ScalarType, SchemaError> {
            let def = table
                .attribute_definitions()
                .iter()
                .find(|d| d.attribute_name() == attr)
                .ok_or_else(|| fail(format!("no attribute definition for `{attr}`")))?;
            match def.attribute_type() {
                ScalarAttributeType::S => Ok(ScalarType::S),
                ScalarAttributeType::N => Ok(ScalarType::N),
                ScalarAttributeType::B => Ok(ScalarType::B),
                other => Err(fail(format!("`{attr}` has unknown type {other:?}"))),
            }
        };
        let mut hash = None;
        let mut range = None;
        for element in table.key_schema() {
            let attr = KeyAttribute {
                name: element.attribute_name().to_owned(),
                kind: kind_of(element.attribute_name())?,
            };
            match element.key_type() {
                KeyType::Hash => hash = Some(attr),
                KeyType::Range => range = Some(attr),
                other => return Err(fail(format!("unknown key type {other:?}"))),
            }
        }
        let hash = hash.ok_or_else(|| fail("no HASH key".into()))?;
        // DynamoDB refuses such a table; a server that describes one is not to be trusted with
        // which value of a record is which key attribute.
        if range.as_ref().is_some_and(|r| r.name == hash.name) {
            return Err(fail(format!(
                "its sort key has the partition key's name `{}`",
                hash.name
            )));
        }
        Ok(KeySchema { hash, range })
    }

    fn attributes(&self) -> impl Iterator<Item = (&KeyAttribute, usize)> {
        std::iter::once((&self.hash, MAX_HASH_KEY_BYTES))
            .chain(self.range.iter().map(|r| (r, MAX_RANGE_KEY_BYTES)))
    }

    /// Each key attribute with its role (HASH first, then RANGE), as `CreateTable` takes them.
    pub fn elements(&self) -> impl Iterator<Item = (&KeyAttribute, KeyType)> {
        std::iter::once((&self.hash, KeyType::Hash))
            .chain(self.range.iter().map(|r| (r, KeyType::Range)))
    }

    fn describe(&self) -> String {
        self.to_string()
    }

    /// Validates a set of key attributes (exactly the schema's, with the right types and sizes)
    /// and returns the key.
    pub fn key(&self, attrs: HashMap<String, AttributeValue>) -> Result<Key, KeyError> {
        self.key_of_pairs(attrs.into_iter().collect())
    }

    /// [`KeySchema::key`] of attributes as a record lists them (one or two: a list costs less
    /// than a map); of a name given twice, the last value counts, as in a JSON object.
    pub fn key_of_pairs(&self, mut attrs: Vec<(String, AttributeValue)>) -> Result<Key, KeyError> {
        if let Some((extra, _)) = attrs
            .iter()
            .find(|(name, _)| self.attributes().all(|(a, _)| a.name != *name))
        {
            return Err(KeyError::Unexpected {
                name: extra.clone(),
                expected: self.describe(),
            });
        }
        let last = |attrs: &[(String, AttributeValue)], name: &str| {
            attrs.iter().rposition(|(n, _)| n == name)
        };
        let canonical = self.encode(|name| last(&attrs, name).map(|at| &attrs[at].1))?;
        let mut values = Vec::with_capacity(2);
        for (attr, _) in self.attributes() {
            if let Some(at) = last(&attrs, &attr.name) {
                values.push(attrs.remove(at));
            }
        }
        Ok(Key { values, canonical })
    }

    /// The canonical encoding of the key of a whole item (see [`Key::canonical`]), without
    /// copying any value: how returned items are matched to the keys that asked for them.
    pub fn canonical_of_item(
        &self,
        item: &HashMap<String, AttributeValue>,
    ) -> Result<Vec<u8>, KeyError> {
        self.encode(|name| item.get(name))
    }

    /// Length-prefixed `name, type, value` of each key attribute, in schema order.
    fn encode<'a>(
        &self,
        get: impl Fn(&str) -> Option<&'a AttributeValue>,
    ) -> Result<Vec<u8>, KeyError> {
        let mut canonical = Vec::with_capacity(64);
        for (attr, limit) in self.attributes() {
            let value = get(&attr.name).ok_or_else(|| KeyError::Missing(attr.name.clone()))?;
            let part = canonical_value(attr, limit, value)?;
            canonical.extend_from_slice(&(attr.name.len() as u32).to_be_bytes());
            canonical.extend_from_slice(attr.name.as_bytes());
            canonical.push(attr.kind.tag().as_bytes()[0]);
            canonical.extend_from_slice(&(part.len() as u32).to_be_bytes());
            canonical.extend_from_slice(&part);
        }
        Ok(canonical)
    }

    /// Takes the key attributes out of a whole item and returns its key.
    pub fn key_of_item(&self, item: &HashMap<String, AttributeValue>) -> Result<Key, KeyError> {
        let attrs = self
            .attributes()
            .filter_map(|(a, _)| item.get(&a.name).map(|v| (a.name.clone(), v.clone())))
            .collect();
        self.key_of_pairs(attrs)
    }
}

/// The bytes that identify one key attribute value the way DynamoDB does: strings and binaries
/// by their bytes, numbers by their value (so `1`, `1.0` and `10E-1` are one key).
fn canonical_value<'v>(
    attr: &KeyAttribute,
    limit: usize,
    value: &'v AttributeValue,
) -> Result<Cow<'v, [u8]>, KeyError> {
    let wrong = |found| KeyError::WrongType {
        name: attr.name.clone(),
        expected: attr.kind.tag(),
        found,
    };
    let bytes: Cow<'v, [u8]> = match (attr.kind, value) {
        (ScalarType::S, AttributeValue::S(s)) => Cow::Borrowed(s.as_bytes()),
        (ScalarType::B, AttributeValue::B(b)) => Cow::Borrowed(b.as_ref()),
        (ScalarType::N, AttributeValue::N(n)) => {
            Cow::Owned(canonical_number(&attr.name, n)?.into_bytes())
        }
        (_, other) => return Err(wrong(type_name(other))),
    };
    if bytes.is_empty() {
        return Err(KeyError::Empty(attr.name.clone()));
    }
    let size = match value {
        AttributeValue::N(n) => n.len(),
        _ => bytes.len(),
    };
    if size > limit {
        return Err(KeyError::TooLarge {
            name: attr.name.clone(),
            bytes: size,
            limit,
        });
    }
    Ok(bytes)
}

/// A DynamoDB number in one spelling: `<digits>e<exponent>` with no trailing zeros. Rejects what
/// DynamoDB would reject (more than 38 significant digits, magnitude outside 1E-130..1E126), so a
/// bad key fails alone here instead of failing a whole batch call at the server. The arithmetic
/// is checked: an exponent far out of range (`10e9223372036854775807`) is refused, never wrapped.
pub(crate) fn canonical_number(name: &str, text: &str) -> Result<String, KeyError> {
    let bad = |reason: &str| KeyError::BadNumber {
        name: name.to_owned(),
        reason: reason.to_owned(),
    };
    // DynamoDB refuses a number with spaces around it (ValidationException), so it is refused
    // here too, rather than validated trimmed and sent as given.
    if text.trim() != text {
        return Err(bad("spaces around the number"));
    }
    let trimmed = text;
    if trimmed.is_empty() || trimmed.len() > 200 {
        return Err(bad("empty or far too long"));
    }
    if !trimmed
        .bytes()
        .all(|c| c.is_ascii_digit() || matches!(c, b'+' | b'-' | b'.' | b'e' | b'E'))
    {
        return Err(bad("only digits, sign, point and exponent are allowed"));
    }
    if !exponent_in_reach(trimmed) {
        return Err(bad(OUT_OF_RANGE));
    }
    let value = BigDecimal::from_str(trimmed).map_err(|e| bad(&e.to_string()))?;
    let value = value.normalized();
    let (digits, scale) = value.as_bigint_and_exponent();
    let digits = digits.to_string();
    let significant = digits.trim_start_matches('-').len();
    if significant > 38 {
        return Err(bad("more than 38 significant digits"));
    }
    if digits == "0" {
        return Ok("0e0".to_owned());
    }
    // value = digits × 10^-scale; its magnitude is 10^(significant - 1 - scale).
    let magnitude = i64::try_from(significant)
        .ok()
        .and_then(|s| s.checked_sub(1))
        .and_then(|m| m.checked_sub(scale));
    if !magnitude.is_some_and(|m| (-130..=125).contains(&m)) {
        return Err(bad(OUT_OF_RANGE));
    }
    let exponent = scale.checked_neg().ok_or_else(|| bad(OUT_OF_RANGE))?;
    Ok(format!("{digits}e{exponent}"))
}

const OUT_OF_RANGE: &str = "magnitude outside 1E-130 .. 9.9E125";

/// False when the exponent written (`e…`) is so far out of DynamoDB's range that no mantissa of
/// at most 200 characters brings it back (or does not fit an `i64`): refused before any
/// arithmetic on it, which could overflow.
fn exponent_in_reach(text: &str) -> bool {
    let Some(at) = text.find(['e', 'E']) else {
        return true;
    };
    let exponent = &text[at + 1..];
    let digits = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        // Not an exponent: BigDecimal says why.
        return true;
    }
    exponent
        .parse::<i64>()
        .is_ok_and(|e| (-1_000..=1_000).contains(&e))
}

fn type_name(value: &AttributeValue) -> &'static str {
    match value {
        AttributeValue::S(_) => "S",
        AttributeValue::N(_) => "N",
        AttributeValue::B(_) => "B",
        AttributeValue::Bool(_) => "BOOL",
        AttributeValue::Null(_) => "NULL",
        AttributeValue::M(_) => "M",
        AttributeValue::L(_) => "L",
        AttributeValue::Ss(_) => "SS",
        AttributeValue::Ns(_) => "NS",
        AttributeValue::Bs(_) => "BS",
        _ => "an unknown type",
    }
}

/// A validated item key. Equality and hashing go by the canonical encoding, so two keys are equal
/// exactly when DynamoDB would address the same item.
#[derive(Debug, Clone)]
pub struct Key {
    /// The key attributes as the record gave them, in schema order (hash first).
    values: Vec<(String, AttributeValue)>,
    /// Length-prefixed `name, type, value` of each attribute in schema order: injective, and
    /// independent of the order the attributes arrived in.
    canonical: Vec<u8>,
}

impl Key {
    /// The canonical encoding (see the type's docs).
    pub fn canonical(&self) -> &[u8] {
        &self.canonical
    }

    /// The key as a DynamoDB attribute map, ready for a request.
    pub fn to_attributes(&self) -> HashMap<String, AttributeValue> {
        self.values.iter().cloned().collect()
    }

    /// The key in DynamoDB JSON, as `dyno announce --key` takes it.
    pub fn to_json(&self) -> String {
        crate::aws::json::to_json(&self.to_attributes())
    }

    /// A Kinesis partition key for this item key: the readable form when it fits in 256
    /// characters, else a SHA-256 of the canonical encoding. Deterministic, so every change of
    /// one item lands on one shard.
    pub fn partition_key(&self) -> String {
        let readable = self.to_string();
        if readable.chars().count() <= PARTITION_KEY_CHARS {
            readable
        } else {
            let digest = Sha256::digest(&self.canonical);
            let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
            format!("sha256:{hex}")
        }
    }
}

/// Keys as a message shows them: each in DynamoDB JSON, the first ten, then how many more.
pub struct KeyList<'a>(pub &'a [Key]);

impl fmt::Display for KeyList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 10;
        for (i, key) in self.0.iter().take(SHOWN).enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(&key.to_json())?;
        }
        if self.0.len() > SHOWN {
            write!(f, " … and {} more", self.0.len() - SHOWN)?;
        }
        Ok(())
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.canonical == other.canonical
    }
}

impl Eq for Key {}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.canonical.hash(state);
    }
}

/// `name=S:"value",name=N:1e3,name=B:<hex>`: the key for logs and messages (never the item).
impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (name, value)) in self.values.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            match value {
                AttributeValue::S(s) => write!(f, "{name}=S:{s:?}")?,
                // By value, so that every spelling of a number gives one partition key.
                AttributeValue::N(n) => match canonical_number(name, n) {
                    Ok(value) => write!(f, "{name}=N:{value}")?,
                    Err(_) => write!(f, "{name}=N:{n}")?,
                },
                AttributeValue::B(b) => {
                    write!(f, "{name}=B:")?;
                    for byte in b.as_ref() {
                        write!(f, "{byte:02x}")?;
                    }
                }
                _ => write!(f, "{name}=?")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "key_tests.rs"]
mod tests;
