//! An item's digest: SHA-256 of a canonical encoding, so that two items have one digest exactly
//! when they are equal as DynamoDB means it (`crate::ops::item_eq`): attribute names in any
//! order, set members in any order, numbers by value (`1.0` is `1`), maps and lists all the way
//! down. A session keeps this digest of what it wrote instead of the item itself.

use aws_sdk_dynamodb::types::AttributeValue;
use sha2::{Digest as _, Sha256};

use crate::aws::json::Item;
use crate::aws::key::canonical_number;

/// Bytes of the SHA-256 kept: 128 bits, far past any chance of two items colliding in a session.
pub const DIGEST_BYTES: usize = 16;

/// The digest of an item (see the module's docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Digest(pub [u8; DIGEST_BYTES]);

/// The digest of `item`.
pub fn digest(item: &Item) -> Digest {
    let hash = Sha256::digest(canonical(item));
    let mut bytes = [0; DIGEST_BYTES];
    bytes.copy_from_slice(&hash[..DIGEST_BYTES]);
    Digest(bytes)
}

/// The canonical encoding of an item (or a key): equal bytes exactly for equal items.
pub fn canonical(item: &Item) -> Vec<u8> {
    let mut out = Vec::new();
    encode_item(item, &mut out);
    out
}

/// The canonical encoding of one value (e.g. a partition key's value).
pub fn canonical_value(value: &AttributeValue) -> Vec<u8> {
    let mut out = Vec::new();
    encode_value(value, &mut out);
    out
}

fn encode_item(item: &Item, out: &mut Vec<u8>) {
    let mut names: Vec<&String> = item.keys().collect();
    names.sort();
    out.extend_from_slice(&(names.len() as u32).to_be_bytes());
    for name in names {
        bytes(name.as_bytes(), out);
        if let Some(value) = item.get(name) {
            encode_value(value, out);
        }
    }
}

/// A type tag, then the value; every variable part is length-prefixed, so the encoding is
/// injective.
fn encode_value(value: &AttributeValue, out: &mut Vec<u8>) {
    match value {
        AttributeValue::S(s) => tagged(b'S', s.as_bytes(), out),
        AttributeValue::N(n) => tagged(b'N', number(n).as_bytes(), out),
        AttributeValue::B(b) => tagged(b'B', b.as_ref(), out),
        AttributeValue::Bool(b) => out.extend_from_slice(if *b { b"T" } else { b"F" }),
        AttributeValue::Null(_) => out.push(b'0'),
        AttributeValue::Ss(v) => set(b's', v.iter().map(|s| s.as_bytes().to_vec()), out),
        AttributeValue::Ns(v) => set(b'n', v.iter().map(|n| number(n).into_bytes()), out),
        AttributeValue::Bs(v) => set(b'b', v.iter().map(|b| b.as_ref().to_vec()), out),
        AttributeValue::M(m) => {
            out.push(b'M');
            encode_item(m, out);
        }
        AttributeValue::L(l) => {
            out.push(b'L');
            out.extend_from_slice(&(l.len() as u32).to_be_bytes());
            for value in l {
                encode_value(value, out);
            }
        }
        // A type this SDK does not know: by its debug form, which only equal values share.
        other => tagged(b'?', format!("{other:?}").as_bytes(), out),
    }
}

fn tagged(tag: u8, value: &[u8], out: &mut Vec<u8>) {
    out.push(tag);
    bytes(value, out);
}

fn bytes(value: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&(value.len() as u32).to_be_bytes());
    out.extend_from_slice(value);
}

/// Set members in sorted order, each length-prefixed.
fn set(tag: u8, members: impl Iterator<Item = Vec<u8>>, out: &mut Vec<u8>) {
    let mut members: Vec<Vec<u8>> = members.collect();
    members.sort();
    out.push(tag);
    out.extend_from_slice(&(members.len() as u32).to_be_bytes());
    for member in members {
        bytes(&member, out);
    }
}

/// A number by value: `<digits>e<exponent>` with no trailing zeros (`1.0`, `1` and `10E-1` are
/// `1e0`), as the key's rule has it (`crate::aws::key`). A spelling that is no DynamoDB number
/// (not a number, more than 38 significant digits, a magnitude outside 1E-130..9.9E125, e.g.
/// `10e9223372036854775807`) stays as it is, marked apart: DynamoDB stores no such number, so an
/// item holding one never matches what a table holds, and the arithmetic never overflows.
fn number(text: &str) -> String {
    match canonical_number("", text.trim()) {
        Ok(value) => value,
        Err(_) => format!("text:{text}"),
    }
}

#[cfg(test)]
#[path = "digest_tests.rs"]
mod tests;
