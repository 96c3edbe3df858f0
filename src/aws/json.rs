//! DynamoDB JSON in and out (`{"Name":{"S":"v"}}`): items and keys as users type them, in files
//! and on the command line, and as dyno prints them. Parsing refuses a name given twice, at any
//! depth, instead of keeping the last one.

use std::collections::HashMap;
use std::fmt;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// An item, or a key, as the SDK takes it.
pub type Item = HashMap<String, AttributeValue>;

/// Text that is not a DynamoDB JSON object (the message quotes no value from it).
#[derive(Debug, thiserror::Error)]
pub enum JsonError {
    #[error("not JSON ({kind} error at line {line} column {column})")]
    Syntax {
        kind: &'static str,
        line: usize,
        column: usize,
    },
    #[error("the name {0:?} is given twice")]
    Duplicate(String),
    #[error("not a DynamoDB JSON object of attributes: {0}")]
    Shape(String),
}

/// Parses a DynamoDB JSON object of attributes (an item, a key, expression values).
pub fn parse_item(text: &str) -> Result<Item, JsonError> {
    let value = parse_strict(text)?;
    item_from_value(value)
}

/// Parses any JSON text, refusing a name given twice in one object.
pub fn parse_strict(text: &str) -> Result<Value, JsonError> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let value = Strict::deserialize(&mut deserializer)
        .and_then(|v| deserializer.end().map(|()| v))
        .map_err(|e| match duplicate_name(&e) {
            Some(name) => JsonError::Duplicate(name),
            None => syntax(&e),
        })?;
    Ok(value.0)
}

/// An item from an already parsed JSON object.
pub fn item_from_value(value: Value) -> Result<Item, JsonError> {
    if !value.is_object() {
        return Err(JsonError::Shape("expected a JSON object".into()));
    }
    let item: serde_dynamo::Item = serde_json::from_value(value).map_err(|e| {
        // serde's message names the expected shape; it can quote a value, so keep only the kind.
        JsonError::Shape(match e.classify() {
            serde_json::error::Category::Data => {
                "each attribute must be {\"TYPE\": value}, e.g. {\"Id\":{\"S\":\"a\"}}".into()
            }
            _ => "unreadable".into(),
        })
    })?;
    Ok(item
        .into_inner()
        .into_iter()
        .map(|(k, v)| (k, v.into()))
        .collect())
}

/// An item as DynamoDB JSON, attribute names in sorted order at every depth, so equal items
/// print equally.
pub fn to_json(item: &Item) -> String {
    let item = serde_dynamo::Item::from(item.clone());
    // Serializing attribute values cannot fail; the fallback keeps this total anyway.
    serde_json::to_value(item)
        .map(sorted)
        .and_then(|v| serde_json::to_string(&v))
        .unwrap_or_else(|_| "{}".to_owned())
}

/// The value with every object's names in sorted order (serde_json keeps insertion order when
/// a dependency enables its `preserve_order` feature).
fn sorted(value: Value) -> Value {
    match value {
        Value::Object(object) => {
            let mut entries: Vec<(String, Value)> = object.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

fn syntax(error: &serde_json::Error) -> JsonError {
    let kind = match error.classify() {
        serde_json::error::Category::Io => "I/O",
        serde_json::error::Category::Syntax => "syntax",
        serde_json::error::Category::Data => "data",
        serde_json::error::Category::Eof => "unexpected end",
    };
    JsonError::Syntax {
        kind,
        line: error.line(),
        column: error.column(),
    }
}

const DUPLICATE: &str = "dyno: duplicate name ";

fn duplicate_name(error: &serde_json::Error) -> Option<String> {
    let text = error.to_string();
    let rest = text.strip_prefix(DUPLICATE)?;
    let end = rest.rfind(" at line").unwrap_or(rest.len());
    Some(rest[..end].to_owned())
}

/// A JSON value whose objects had no name twice.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(v.into())
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(v.into())
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(name) = map.next_key::<String>()? {
            let Strict(value) = map.next_value()?;
            if object.contains_key(&name) {
                return Err(de::Error::custom(format!("{DUPLICATE}{name:?}")));
            }
            object.insert(name, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_round_trip_in_sorted_order() {
        let item = parse_item(
            r#"{"b":{"N":"1"},"a":{"SS":["x"]},"m":{"M":{"z":{"S":"1"},"y":{"S":"2"}}}}"#,
        )
        .unwrap();
        assert_eq!(
            to_json(&item),
            r#"{"a":{"SS":["x"]},"b":{"N":"1"},"m":{"M":{"y":{"S":"2"},"z":{"S":"1"}}}}"#
        );
    }

    #[test]
    fn a_name_given_twice_is_refused_at_any_depth() {
        let top = parse_item(r#"{"Id":{"S":"a"},"Id":{"S":"b"}}"#).unwrap_err();
        assert!(
            matches!(&top, JsonError::Duplicate(n) if n == "\"Id\""),
            "{top}"
        );
        let deep = parse_item(r#"{"M":{"M":{"x":{"N":"1"},"x":{"N":"2"}}}}"#).unwrap_err();
        assert!(matches!(deep, JsonError::Duplicate(_)), "{deep}");
    }

    #[test]
    fn errors_quote_no_value() {
        let syntax = parse_item(r#"{"Id":{"S":"s3cr3t"}"#).unwrap_err();
        assert!(matches!(syntax, JsonError::Syntax { .. }));
        let shape = parse_item(r#"{"Id":"s3cr3t"}"#).unwrap_err();
        assert!(!shape.to_string().contains("s3cr3t"), "{shape}");
        assert!(matches!(parse_item("[1]"), Err(JsonError::Shape(_))));
    }
}
