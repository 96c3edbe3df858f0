//! An item as a filter sees it: each attribute value as a CEL value, and each DynamoDB number as
//! a CEL number that holds it exactly.
//!
//! A DynamoDB number has up to 38 significant digits; a CEL number is an int (i64), a uint (u64)
//! or a double (f64). A number becomes an int when it is an integer that fits an i64, else a uint
//! when it fits a u64, else a double only when the double is the same decimal: the shortest
//! decimal that reads back as that double (`{:e}`) has the same sign, significant digits and
//! exponent as the DynamoDB number (`0.1`, `1.50`, `1e30` are doubles; `9007199254740992.5` and
//! most numbers of more than 17 digits are none). Any other number is an error, never a rounded
//! value: a rounded value would compare wrongly (`10000000000000000000000000000000000001 >
//! 1e37` would be false).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use cel::common::types::{CelBool, CelBytes, CelDouble, CelInt, CelList, CelMap, CelMapKey};
use cel::common::types::{CelNull, CelString, CelUInt};
use cel::common::value::Val;

/// Why one attribute value could not be converted, before its attribute's name is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Unconvertible {
    /// A number that does not parse.
    NumberSyntax,
    /// A number no CEL number holds exactly.
    Inexact,
    UnknownType,
}

/// A DynamoDB number as CEL holds it exactly.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Number {
    Int(i64),
    UInt(u64),
    Double(f64),
}

/// A decimal number as sign, significant digits (no leading or trailing zero) and the exponent
/// of the last digit: `-1.50` is `(true, "15", -1)`; zero is `(false, "", 0)`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Decimal {
    negative: bool,
    digits: Vec<u8>,
    exponent: i64,
}

/// One attribute value as a CEL value, borrowing its strings and bytes.
pub(super) fn attribute_value(value: &AttributeValue) -> Result<Box<dyn Val + '_>, Unconvertible> {
    Ok(match value {
        AttributeValue::S(s) => string(s),
        AttributeValue::N(n) => number_value(n)?,
        AttributeValue::Bool(b) => Box::new(CelBool::from(*b)),
        AttributeValue::Null(_) => Box::new(CelNull),
        AttributeValue::B(b) => bytes(b.as_ref()),
        AttributeValue::L(list) => list_of(list.iter().map(attribute_value))?,
        AttributeValue::M(map) => map_value(map)?,
        AttributeValue::Ss(set) => list_of(set.iter().map(|s| Ok(string(s))))?,
        AttributeValue::Ns(set) => list_of(set.iter().map(|n| number_value(n)))?,
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

fn number_value(n: &str) -> Result<Box<dyn Val + 'static>, Unconvertible> {
    Ok(match exact_number(n)? {
        Number::Int(i) => Box::new(CelInt::from(i)),
        Number::UInt(u) => Box::new(CelUInt::from(u)),
        Number::Double(d) => Box::new(CelDouble::from(d)),
    })
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

/// The DynamoDB number `text` as the CEL number that holds it exactly: an int when it is an
/// integer that fits an i64, else a uint when it fits a u64, else a double when the double's
/// shortest decimal is the same number. Otherwise [`Unconvertible::Inexact`] (or
/// [`Unconvertible::NumberSyntax`] when it does not parse).
pub(super) fn exact_number(text: &str) -> Result<Number, Unconvertible> {
    let decimal = Decimal::parse(text).ok_or(Unconvertible::NumberSyntax)?;
    if let Some(integer) = decimal.integer() {
        return Ok(integer);
    }
    match text.parse::<f64>() {
        Ok(d) if d.is_finite() && Decimal::parse(&format!("{d:e}")) == Some(decimal) => {
            Ok(Number::Double(d))
        }
        Ok(_) => Err(Unconvertible::Inexact),
        Err(_) => Err(Unconvertible::NumberSyntax),
    }
}

impl Decimal {
    /// `[+-]digits[.digits][(e|E)[+-]digits]`, at least one digit before the exponent.
    fn parse(text: &str) -> Option<Decimal> {
        let (negative, unsigned) = match text.as_bytes().first() {
            Some(b'-') => (true, &text[1..]),
            Some(b'+') => (false, &text[1..]),
            _ => (false, text),
        };
        let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
            Some((mantissa, exponent)) => (mantissa, exponent.parse::<i64>().ok()?),
            None => (unsigned, 0),
        };
        let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let all = whole.bytes().chain(fraction.bytes());
        if whole.len() + fraction.len() == 0 || !all.clone().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let mut digits: Vec<u8> = all.skip_while(|b| *b == b'0').collect();
        let trailing = digits.iter().rev().take_while(|b| **b == b'0').count();
        digits.truncate(digits.len() - trailing);
        if digits.is_empty() {
            return Some(Decimal {
                negative: false,
                digits,
                exponent: 0,
            });
        }
        let exponent = exponent
            .checked_sub(i64::try_from(fraction.len()).ok()?)?
            .checked_add(i64::try_from(trailing).ok()?)?;
        Some(Decimal {
            negative,
            digits,
            exponent,
        })
    }

    /// The number as an int or a uint, when it is an integer that fits one.
    fn integer(&self) -> Option<Number> {
        let exponent = u32::try_from(self.exponent).ok()?;
        if self.digits.len() + exponent as usize > 20 {
            return None;
        }
        let mut magnitude: u128 = 0;
        for digit in &self.digits {
            magnitude = magnitude * 10 + u128::from(digit - b'0');
        }
        let magnitude = magnitude.checked_mul(10u128.checked_pow(exponent)?)?;
        let signed = i128::try_from(magnitude).ok()?;
        let value = if self.negative { -signed } else { signed };
        match i64::try_from(value) {
            Ok(i) => Some(Number::Int(i)),
            Err(_) => u64::try_from(value).ok().map(Number::UInt),
        }
    }
}

#[cfg(test)]
#[path = "filter_value_tests.rs"]
mod tests;
