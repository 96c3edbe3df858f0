//! What a write's outcome records in a session: the write's expectation when it happened (also
//! when it stands but its key was not announced), "unknown" when nobody can know whether it
//! happened, and nothing when it definitely did not (refused, or never sent). A key with any
//! write that may have happened is recorded: "unknown" when in doubt.

use std::collections::HashMap;

use crate::aws::key::Key;
use crate::publish::writer::WriteError;
use crate::regional::session::Expect;

/// What one write records, given its result: `None` records nothing.
pub fn recorded(result: Result<(), &WriteError>, expect: Expect) -> Option<Expect> {
    match result {
        Ok(()) | Err(WriteError::NotPublished { .. }) => Some(expect),
        Err(WriteError::Unknown { .. } | WriteError::UnknownNotAnnounced { .. }) => {
            Some(Expect::Unknown)
        }
        // A batch is told key by key (`recorded_batch`); anything else was not sent, or was
        // refused.
        Err(_) => None,
    }
}

/// True when a write with this result may have changed the key (so the session records it).
pub fn may_have_written(result: Result<(), &WriteError>) -> bool {
    recorded(result, Expect::Unknown).is_some()
}

/// What a batch records, one entry per key (in the order of each key's last request), given
/// the writes in request order and the batch's result. A batch is sent in chunks, so one key
/// can be written by several requests, and the batch's error tells keys, not positions: a key
/// all of whose requests were not written records nothing; one all of whose requests were
/// written records its last request's expectation; any other (some requests not written, or of
/// unknown outcome) records that expectation only when one of them was written for sure and
/// every request of the key expects the same, and "unknown" otherwise: which of its writes
/// stands, nobody knows.
pub fn recorded_batch(
    writes: Vec<(Key, Expect)>,
    result: Result<usize, &WriteError>,
) -> Vec<(Key, Expect)> {
    let batch = match result {
        Ok(_) => None,
        Err(WriteError::Batch(batch)) => Some(batch),
        Err(_) => return Vec::new(),
    };
    fn count(keys: &[Key]) -> HashMap<&Key, usize> {
        let mut counts: HashMap<&Key, usize> = HashMap::new();
        for key in keys {
            *counts.entry(key).or_default() += 1;
        }
        counts
    }
    let (not_written, unknown) = match batch {
        Some(batch) => (count(&batch.not_written), count(&batch.unknown)),
        None => (HashMap::new(), HashMap::new()),
    };
    // Per key: its requests, and whether they all expect one thing; by the last one's position.
    let mut keys: HashMap<&Key, (usize, Expect, bool, usize)> = HashMap::new();
    for (position, (key, expect)) in writes.iter().enumerate() {
        let entry = keys.entry(key).or_insert((0, *expect, true, position));
        entry.0 += 1;
        entry.2 &= entry.1 == *expect;
        entry.1 = *expect;
        entry.3 = position;
    }
    let mut out: Vec<(usize, Key, Expect)> = Vec::with_capacity(keys.len());
    for (key, (requests, last, all_same, position)) in keys {
        let refused = not_written.get(key).copied().unwrap_or(0);
        let doubtful = unknown.get(key).copied().unwrap_or(0);
        let written = requests.saturating_sub(refused + doubtful);
        let expect = match (refused, doubtful) {
            _ if refused >= requests => continue,
            (0, 0) => last,
            // At least one stands, and any other that did wrote the same.
            _ if written > 0 && all_same => last,
            _ => Expect::Unknown,
        };
        out.push((position, key.clone(), expect));
    }
    out.sort_by_key(|(position, _, _)| *position);
    out.into_iter()
        .map(|(_, key, expect)| (key, expect))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use aws_sdk_dynamodb::types::AttributeValue;

    use super::*;
    use crate::aws::error::AwsError;
    use crate::aws::key::{KeySchema, ScalarType};
    use crate::publish::publisher::NotPublished;
    use crate::publish::record::PublishFailure;
    use crate::publish::writer::BatchError;

    fn key(id: &str) -> Key {
        let schema = KeySchema::hash_only("id", ScalarType::S);
        let attrs = HashMap::from([("id".to_owned(), AttributeValue::S(id.to_owned()))]);
        schema.key(attrs).unwrap()
    }

    fn unknown_error() -> AwsError {
        AwsError::unknown("PutItem", std::io::Error::other("reset"))
    }

    fn refused_error() -> AwsError {
        AwsError::other("PutItem", std::io::Error::other("refused"))
    }

    fn not_published() -> NotPublished {
        NotPublished {
            setting: "STREAM",
            stream: "s".into(),
            keys: vec![key("a")],
            why: PublishFailure::Unanswered,
        }
    }

    #[test]
    fn a_single_write_records_what_it_may_have_done() {
        let expect = Expect::Absent;
        assert_eq!(recorded(Ok(()), expect), Some(expect));
        let stands = WriteError::NotPublished {
            table: "t".into(),
            source: not_published(),
        };
        assert_eq!(recorded(Err(&stands), expect), Some(expect));
        let unknown = WriteError::Unknown {
            table: "t".into(),
            key: key("a"),
            source: unknown_error(),
        };
        assert_eq!(recorded(Err(&unknown), expect), Some(Expect::Unknown));
        let unknown_unannounced = WriteError::UnknownNotAnnounced {
            table: "t".into(),
            write: unknown_error(),
            source: not_published(),
        };
        assert_eq!(
            recorded(Err(&unknown_unannounced), expect),
            Some(Expect::Unknown)
        );
        let refused = WriteError::Rejected {
            table: "t".into(),
            source: refused_error(),
        };
        assert_eq!(recorded(Err(&refused), expect), None);
        let other = WriteError::OtherTable {
            found: "a".into(),
            expected: "b".into(),
        };
        assert_eq!(recorded(Err(&other), expect), None);
    }

    #[test]
    fn a_batch_records_key_by_key() {
        let writes = vec![
            (key("a"), Expect::Absent),
            (key("b"), Expect::Absent),
            (key("c"), Expect::Absent),
        ];
        assert_eq!(recorded_batch(writes.clone(), Ok(3)), writes);
        let batch = WriteError::Batch(Box::new(BatchError {
            table: "t".into(),
            written: 1,
            not_written: vec![key("b")],
            unknown: vec![key("c")],
            first_error: None,
            gave_up: None,
            not_published: None,
        }));
        assert_eq!(
            recorded_batch(writes.clone(), Err(&batch)),
            [(key("a"), Expect::Absent), (key("c"), Expect::Unknown)]
        );
        let refused = WriteError::OtherTable {
            found: "a".into(),
            expected: "b".into(),
        };
        assert_eq!(recorded_batch(writes, Err(&refused)), []);
    }

    fn batch_error(not_written: Vec<Key>, unknown: Vec<Key>) -> WriteError {
        WriteError::Batch(Box::new(BatchError {
            table: "t".into(),
            written: 0,
            not_written,
            unknown,
            first_error: None,
            gave_up: None,
            not_published: None,
        }))
    }

    /// One key in two 25-request chunks: the first chunk's write stands, the second chunk is
    /// refused. The batch error names the key once, as not written: its written request must
    /// still be recorded.
    #[test]
    fn a_key_written_in_one_chunk_and_refused_in_another_is_still_recorded() {
        let put = |body: &str| {
            let mut item = key("a").to_attributes();
            item.insert("body".into(), AttributeValue::S(body.into()));
            Expect::of(Some(&item))
        };
        let (v1, v2) = (put("1"), put("2"));
        let mut writes = vec![(key("a"), v1)];
        writes.extend((0..24).map(|i| (key(&format!("x{i}")), Expect::Absent)));
        writes.push((key("a"), v2));
        writes.extend((24..48).map(|i| (key(&format!("x{i}")), Expect::Absent)));
        let second_chunk: Vec<Key> = writes[25..].iter().map(|(k, _)| k.clone()).collect();
        let recorded = recorded_batch(writes.clone(), Err(&batch_error(second_chunk, vec![])));
        // "a": the first chunk put v1, the second (v2) was refused; which stands is told by
        // key only, so the session does not know: unknown, never nothing.
        let of_a = |recorded: &[(Key, Expect)]| {
            recorded
                .iter()
                .find(|(k, _)| *k == key("a"))
                .map(|(_, e)| *e)
        };
        assert_eq!(of_a(&recorded), Some(Expect::Unknown));
        assert_eq!(recorded.len(), 25, "a and the first chunk's 24 others");
        assert_eq!(
            recorded
                .iter()
                .filter(|(_, e)| *e == Expect::Absent)
                .count(),
            24
        );

        // Both of a's requests put the same item: whichever stands, the key expects it.
        let mut same = writes.clone();
        same[25].1 = v1;
        let second_chunk: Vec<Key> = same[25..].iter().map(|(k, _)| k.clone()).collect();
        let recorded = recorded_batch(same, Err(&batch_error(second_chunk, vec![])));
        assert_eq!(of_a(&recorded), Some(v1));

        // Every request of a key refused: nothing; one of unknown outcome: unknown.
        let two = vec![(key("a"), v1), (key("b"), v1), (key("a"), v2)];
        let error = batch_error(vec![key("a"), key("a")], vec![key("b")]);
        assert_eq!(
            recorded_batch(two.clone(), Err(&error)),
            [(key("b"), Expect::Unknown)]
        );
        // All written: the last request of each key, in the order of those last requests.
        assert_eq!(recorded_batch(two, Ok(3)), [(key("b"), v1), (key("a"), v2)]);
    }
}
