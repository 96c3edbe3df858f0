//! Which key of a batch call an answer names: a `BatchGetItem`'s items and unprocessed keys, a
//! `BatchWriteItem`'s unprocessed writes, matched to the keys sent by their canonical encoding.

use std::borrow::Cow;
use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, WriteRequest};

use crate::aws::key::{Key, KeySchema};

/// The keys of one batch call, by canonical encoding: finds which of them an item, a key map or
/// a write request in the call's answer names.
pub struct KeyIndex<'a> {
    schema: &'a KeySchema,
    /// foldhash, not std's SipHash: one lookup per key of every call. A [`Key`]'s encoding is
    /// borrowed, not copied.
    positions: foldhash::HashMap<Cow<'a, [u8]>, usize>,
    len: usize,
}

impl<'a> KeyIndex<'a> {
    /// Indexes `keys` by their position in the call.
    pub fn new(schema: &'a KeySchema, keys: impl IntoIterator<Item = &'a Key>) -> Self {
        Self::of_canonical(schema, keys.into_iter().map(|key| key.canonical().into()))
    }

    /// For the writes of one call, sent by their `places` in a chunk (in order; `key_at` says
    /// the key of a place): each place, with the write among `left` (what the answer handed
    /// back unprocessed) that is for its key, if any. None if one of `left` is for none of them,
    /// or for one twice. An answer that leaves nothing (the usual one) is matched without
    /// indexing the keys.
    pub fn match_left(
        schema: &'a KeySchema,
        places: Vec<usize>,
        key_at: impl Fn(usize) -> &'a Key,
        left: Vec<WriteRequest>,
    ) -> Option<Vec<Option<(usize, WriteRequest)>>> {
        let matched = match left.is_empty() {
            true => vec![None; places.len()],
            false => Self::new(schema, places.iter().map(|&at| key_at(at))).match_writes(left)?,
        };
        let again = places.into_iter().zip(matched);
        Some(again.map(|(at, left)| Some((at, left?))).collect())
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
        Some(Self::of_canonical(
            schema,
            canonical?.into_iter().map(Cow::Owned),
        ))
    }

    fn of_canonical(schema: &'a KeySchema, keys: impl Iterator<Item = Cow<'a, [u8]>>) -> Self {
        let mut positions =
            foldhash::HashMap::with_capacity_and_hasher(keys.size_hint().0, Default::default());
        let mut len = 0;
        for (p, canonical) in keys.enumerate() {
            positions.insert(canonical, p);
            len = p + 1;
        }
        KeyIndex {
            schema,
            positions,
            len,
        }
    }

    /// The position of the key an item (or key map) names; None if it names none of them.
    pub fn position(&self, attributes: &HashMap<String, AttributeValue>) -> Option<usize> {
        let canonical = self.schema.canonical_of_item(attributes).ok()?;
        self.positions.get(canonical.as_slice()).copied()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::write_requests_for_tests::{delete, item, put, schema};

    /// The keys of items `ids` (each with `n` = 1).
    fn keys(schema: &KeySchema, ids: &[&str]) -> Vec<Key> {
        let item = |id: &&str| schema.key_of_item(&item(id, "1")).unwrap();
        ids.iter().map(item).collect()
    }

    #[test]
    fn unprocessed_writes_go_back_to_the_places_of_the_keys_they_were_sent_for() {
        let schema = schema();
        let keys = keys(&schema, &["a", "b", "c", "d"]);
        let key_at = |at: usize| &keys[at];
        // The second round of a chunk: places 0, 2 and 3 sent again.
        let nothing_left = KeyIndex::match_left(&schema, vec![0, 2, 3], key_at, Vec::new());
        assert_eq!(nothing_left.unwrap(), [None, None, None]);
        // Another order, the number spelled otherwise: the same keys.
        let left = vec![delete("d", "1.0"), put(item("a", "1"))];
        let matched = KeyIndex::match_left(&schema, vec![0, 2, 3], key_at, left).unwrap();
        let expected = [
            Some((0, put(item("a", "1")))),
            None,
            Some((3, delete("d", "1.0"))),
        ];
        assert_eq!(matched, expected);
    }

    #[test]
    fn an_answer_naming_a_write_not_sent_or_one_twice_is_refused() {
        let schema = schema();
        let keys = keys(&schema, &["a", "b", "c"]);
        let match_left = |left| KeyIndex::match_left(&schema, vec![0, 1], |at| &keys[at], left);
        assert!(match_left(vec![put(item("z", "1"))]).is_none());
        // c is in the chunk, but not among the writes of this call.
        assert!(match_left(vec![put(item("c", "1"))]).is_none());
        assert!(match_left(vec![put(item("a", "1")), delete("a", "1")]).is_none());
        assert!(match_left(vec![WriteRequest::builder().build()]).is_none());
    }

    #[test]
    fn items_are_found_by_their_key_whatever_else_they_hold() {
        let schema = schema();
        let keys = keys(&schema, &["a", "b"]);
        let index = KeyIndex::new(&schema, &keys);
        assert_eq!(index.position(&item("b", "1")), Some(1));
        assert_eq!(index.position(&item("b", "2")), None);
        assert_eq!(index.position(&item("z", "1")), None);
        let bad = HashMap::from([("id".to_owned(), AttributeValue::N("1".into()))]);
        assert_eq!(index.position(&bad), None);
    }
}
