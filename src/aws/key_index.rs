//! Which key of a batch call an answer names: a `BatchGetItem`'s items and unprocessed keys, a
//! `BatchWriteItem`'s unprocessed writes, matched to the keys sent by their canonical encoding.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, WriteRequest};

use crate::aws::key::{Key, KeySchema};

/// The keys of one batch call, by canonical encoding: finds which of them an item, a key map or
/// a write request in the call's answer names.
pub struct KeyIndex<'a> {
    schema: &'a KeySchema,
    /// foldhash, not std's SipHash: one lookup per key of every call.
    positions: foldhash::HashMap<Vec<u8>, usize>,
    len: usize,
}

impl<'a> KeyIndex<'a> {
    /// Indexes `keys` by their position in the call.
    pub fn new<'k>(schema: &'a KeySchema, keys: impl IntoIterator<Item = &'k Key>) -> Self {
        Self::of_canonical(schema, keys.into_iter().map(|key| key.canonical().to_vec()))
    }

    /// Indexes key maps (or items) by their position in the call; None if one has no valid key.
    pub fn of_items<'i>(
        schema: &'a KeySchema,
        items: impl IntoIterator<Item = &'i HashMap<String, AttributeValue>>,
    ) -> Option<Self> {
        let canonical: Option<Vec<Vec<u8>>> = items
            .into_iter()
            .map(|item| schema.canonical_of_item(item).ok())
            .collect();
        Some(Self::of_canonical(schema, canonical?.into_iter()))
    }

    /// Indexes the keys of write requests by their position in the call; None if a request has
    /// no valid key.
    pub fn of_writes(schema: &'a KeySchema, requests: &[WriteRequest]) -> Option<Self> {
        let canonical: Option<Vec<Vec<u8>>> = requests
            .iter()
            .map(|request| schema.canonical_of_item(write_key(request)?).ok())
            .collect();
        Some(Self::of_canonical(schema, canonical?.into_iter()))
    }

    fn of_canonical(schema: &'a KeySchema, keys: impl Iterator<Item = Vec<u8>>) -> Self {
        let keys: Vec<Vec<u8>> = keys.collect();
        let len = keys.len();
        let positions = keys.into_iter().enumerate().map(|(p, c)| (c, p)).collect();
        KeyIndex {
            schema,
            positions,
            len,
        }
    }

    /// The position of the key an item (or key map) names; None if it names none of them.
    pub fn position(&self, attributes: &HashMap<String, AttributeValue>) -> Option<usize> {
        let canonical = self.schema.canonical_of_item(attributes).ok()?;
        self.positions.get(&canonical).copied()
    }

    /// The position of the key a put or delete request is for; None if it is for none of them.
    pub fn position_of_write(&self, request: &WriteRequest) -> Option<usize> {
        self.position(write_key(request)?)
    }

    /// For each key, the request among `requests` that is for it, if any. None if a request is
    /// for none of the keys, or for one twice: an answer that names a write that was not sent
    /// is not to be trusted.
    pub fn match_writes(&self, requests: Vec<WriteRequest>) -> Option<Vec<Option<WriteRequest>>> {
        let mut matched: Vec<Option<WriteRequest>> = vec![None; self.len];
        for request in requests {
            let p = self.position_of_write(&request)?;
            if matched[p].replace(request).is_some() {
                return None;
            }
        }
        Some(matched)
    }
}

/// The attributes that carry a write request's key: a put's item, a delete's key.
fn write_key(request: &WriteRequest) -> Option<&HashMap<String, AttributeValue>> {
    match (&request.put_request, &request.delete_request) {
        (Some(put), _) => Some(put.item()),
        (None, Some(delete)) => Some(delete.key()),
        (None, None) => None,
    }
}
