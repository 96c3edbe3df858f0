//! Tests of `key_numbers.rs`: numbers as one map of table and key gives them, and a record's
//! key found by its `Keys` text as decoding it whole finds it.

use aws_sdk_dynamodb::types::AttributeValue;

use super::*;
use crate::aws::key::ScalarType;

pub(super) fn key(id: &str) -> Key {
    let schema = KeySchema::hash_only("id", ScalarType::S);
    let item = [("id".to_owned(), AttributeValue::S(id.into()))].into();
    schema.key_of_item(&item).unwrap()
}

#[test]
fn a_key_met_again_keeps_its_number_and_is_queued_once() {
    let image = (0, key("img").canonical().to_vec());
    let mut numbers = KeyNumbers::new(2, KeyMap::from_iter([(image, 0)]));
    let (mut new_a, mut new_b) = (Vec::new(), Vec::new());
    assert_eq!(numbers.number(0, key("x"), &mut new_a), 1);
    assert_eq!(numbers.number(0, key("img"), &mut new_a), 0);
    assert_eq!(numbers.number(0, key("x"), &mut new_a), 1);
    // The same key of another primary table is another key.
    assert_eq!(numbers.number(1, key("x"), &mut new_b), 2);
    assert_eq!(numbers.distinct(), 3);
    assert_eq!(new_a, [(1, key("x"))]);
    assert_eq!(new_b, [(2, key("x"))]);
}

#[test]
fn an_image_of_no_table_keeps_its_number() {
    let stray = (5, key("gone").canonical().to_vec());
    let mut numbers = KeyNumbers::new(1, KeyMap::from_iter([(stray, 0)]));
    let mut new = Vec::new();
    assert_eq!(numbers.number(0, key("gone"), &mut new), 1);
    assert_eq!(numbers.distinct(), 2);
}

/// The numbers, queues and count of one map of (table, key) to number (`entry().or_insert`,
/// the plain rule), over random batches of several tables, images first, keys shared
/// between tables.
#[test]
fn numbers_are_those_of_one_map_of_table_and_key() {
    let mut rng = fastrand::Rng::with_seed(7);
    for _ in 0..2000 {
        let sources = rng.usize(1..4);
        let ids: Vec<String> = (0..rng.usize(1..8)).map(|n| format!("k{n}")).collect();
        // Images: distinct (source, key) pairs, as Archive::of gives them.
        let mut images: Vec<(usize, String)> = Vec::new();
        for _ in 0..rng.usize(0..4) {
            let image = (rng.usize(0..sources), ids[rng.usize(0..ids.len())].clone());
            if !images.contains(&image) {
                images.push(image);
            }
        }
        let numbered = || -> KeyMap<usize> {
            images
                .iter()
                .enumerate()
                .map(|(n, (s, id))| ((*s, key(id).canonical().to_vec()), n))
                .collect()
        };
        let records: Vec<(usize, String)> = (0..rng.usize(0..30))
            .map(|_| (rng.usize(0..sources), ids[rng.usize(0..ids.len())].clone()))
            .collect();
        // The plain rule.
        let mut old_map = numbered();
        let mut old_new: Vec<Vec<(usize, Key)>> = vec![Vec::new(); sources];
        let mut old_numbers = Vec::new();
        for (s, id) in &records {
            let next = old_map.len();
            let n = *old_map
                .entry((*s, key(id).canonical().to_vec()))
                .or_insert_with(|| {
                    old_new[*s].push((next, key(id)));
                    next
                });
            old_numbers.push(n);
        }
        // KeyNumbers.
        let mut numbers = KeyNumbers::new(sources, numbered());
        let mut new_new: Vec<Vec<(usize, Key)>> = vec![Vec::new(); sources];
        let new_numbers: Vec<usize> = records
            .iter()
            .map(|(s, id)| numbers.number(*s, key(id), &mut new_new[*s]))
            .collect();
        assert_eq!(old_numbers, new_numbers, "{images:?} {records:?}");
        assert_eq!(old_new, new_new);
        assert_eq!(old_map.len(), numbers.distinct());
    }
}

/// A Kinesis record whose data is `data`.
pub(super) fn kinesis(
    data: impl Into<Vec<u8>>,
) -> aws_lambda_events::event::kinesis::KinesisEventRecord {
    let mut record = aws_lambda_events::event::kinesis::KinesisEventRecord::default();
    *record.kinesis.data = data.into();
    record
}

/// Each record's number, `Kept`, or problem (its `Debug`), the keys queued per table, and how
/// many keys are numbered.
pub(super) type Outcomes = (
    Vec<Result<RecordKey, String>>,
    Vec<Vec<(usize, Key)>>,
    usize,
);

/// The plain rule, the oracle of `record_key`: decode each record whole, and number its key in
/// one map of (table, key) seeded with the images' keys (`numbered`); a key in `left_alone` is
/// `Kept`.
pub(super) fn plain_rule<R: SourceRecord>(
    records: &[R],
    sources: &[(&str, &KeySchema)],
    left_alone: &KeySet,
    numbered: KeyMap<usize>,
) -> Outcomes {
    let mut map = numbered;
    let mut new = vec![Vec::new(); sources.len()];
    let found = (records.iter())
        .map(
            |r| match crate::replicate::decode::decode_from(r, sources) {
                Ok((s, key)) if left_alone.contains(&(s, key.canonical().to_vec())) => {
                    Ok(RecordKey::Kept)
                }
                Ok((s, key)) => {
                    let next = map.len();
                    let n = *map.entry((s, key.canonical().to_vec())).or_insert_with(|| {
                        new[s].push((next, key));
                        next
                    });
                    Ok(RecordKey::Key(n))
                }
                Err(e) => Err(format!("{:?}", e.problem)),
            },
        )
        .collect();
    (found, new, map.len())
}

/// `record_key` over `records`, a batch that chooses how to read `Keys` every `window` records;
/// `read_as` counts the records read with their `Keys` parsed (0) and as text (1).
pub(super) fn windowed_run<R: SourceRecord>(
    records: &[R],
    sources: &[(&str, &KeySchema)],
    left_alone: &KeySet,
    numbered: KeyMap<usize>,
    window: usize,
    read_as: &mut [usize; 2],
) -> Outcomes {
    let mut numbers = KeyNumbers::windowed(sources.len(), numbered, window);
    let mut new = vec![Vec::new(); sources.len()];
    let found = (records.iter())
        .map(|r| {
            read_as[usize::from(numbers.reading.as_text)] += 1;
            let found = numbers.record_key(r, sources, left_alone, &mut new);
            found.map_err(|p| format!("{p:?}"))
        })
        .collect();
    (found, new, numbers.distinct())
}

/// How many of `found` are numbered keys and how many are `Kept`.
pub(super) fn counts(found: &[Result<RecordKey, String>]) -> (usize, usize) {
    let keys = found.iter().filter(|f| matches!(f, Ok(RecordKey::Key(_))));
    let kept = found.iter().filter(|f| matches!(f, Ok(RecordKey::Kept)));
    (keys.count(), kept.count())
}

/// One of several spellings of the record data of table `t` (`None`: names none) and key `id`,
/// or of a record that is no use (`bad`).
fn data(rng: &mut fastrand::Rng, t: Option<usize>, id: &str) -> String {
    let table = match (t, rng.usize(0..4)) {
        (None, _) => String::new(),
        (Some(t), 0) => format!(r#""tableName":"T{t}","#),
        (Some(t), 1) => format!(r#""tableName":"\u0054{t}","#),
        (Some(t), 2) => format!(r#""eventSourceARN":"arn:aws:dynamodb:r:1:table/T{t}/stream/x","#),
        (Some(t), _) => format!(r#""eventSourceARN":"arn:aws:dynamodb:r:1:table\/T{t}","#),
    };
    let keys = match rng.usize(0..8) {
        0 => format!(r#"{{ "id" : {{"S":"{id}"}} }}"#),
        1 => format!(r#"{{"id":{{"S":"{id}"}},"id":{{"S":"{id}"}}}}"#),
        2 => r#"{"id":{"N":"1"}}"#.to_owned(),
        3 => r#"[{"id":{"S":"x"}}]"#.to_owned(),
        4 => r#"{"id":{"S":"\ud800"}}"#.to_owned(),
        5 => r#"{"other":{"S":"x"}}"#.to_owned(),
        _ => format!(r#"{{"id":{{"S":"{id}"}}}}"#),
    };
    match rng.usize(0..12) {
        0 => format!(r#"{{{table}"dynamodb":{{}}}}"#),
        1 => format!(r#"{{{table}"dynamodb":{{"Keys":{keys}}}"#),
        _ => format!(
            r#"{{{table}"eventID":"{}","dynamodb":{{"Keys":{keys}}}}}"#,
            rng.u32(..)
        ),
    }
}

/// Over random batches of many spellings (of tables, of keys, escapes, repeats, bad records),
/// `record_key` finds what decoding each record whole and numbering its key in one map finds:
/// the same numbers, the same keys queued, the same problems, the same keys left alone.
#[test]
fn a_key_found_by_its_text_is_the_key_decoding_finds() {
    let mut rng = fastrand::Rng::with_seed(11);
    let schema = KeySchema::hash_only("id", ScalarType::S);
    let names = ["T0", "T1", "T2"];
    let (mut keys, mut kept, mut problems) = (0, 0, 0);
    let mut read_as = [0, 0]; // records read with their Keys parsed, as text
    for _ in 0..1500 {
        let sources: Vec<(&str, &KeySchema)> = names[..rng.usize(1..4)]
            .iter()
            .map(|n| (*n, &schema))
            .collect();
        let ids: Vec<String> = (0..rng.usize(1..6)).map(|n| format!("k{n}")).collect();
        let records: Vec<_> = (0..rng.usize(0..25))
            .map(|_| {
                // Sometimes no table, sometimes one the deployment does not follow.
                let t = match rng.usize(0..10) {
                    0 => None,
                    _ => Some(rng.usize(0..sources.len() + 1)),
                };
                let id = &ids[rng.usize(0..ids.len())];
                kinesis(data(&mut rng, t, id))
            })
            .collect();
        let left_alone: KeySet = (0..rng.usize(0..3))
            .map(|_| {
                let id = &ids[rng.usize(0..ids.len())];
                (rng.usize(0..sources.len()), key(id).canonical().to_vec())
            })
            .collect();
        let plain = plain_rule(&records, &sources, &left_alone, KeyMap::default());
        // Batches that change how they read Keys every few records.
        let window = rng.usize(1..8);
        let found = windowed_run(
            &records,
            &sources,
            &left_alone,
            KeyMap::default(),
            window,
            &mut read_as,
        );
        assert_eq!(plain, found);
        let (k, c) = counts(&found.0);
        (keys, kept) = (keys + k, kept + c);
        problems += found.0.iter().filter(|f| f.is_err()).count();
    }
    // Every outcome was met, many times, and records were read both ways.
    assert!(
        keys > 3000 && kept > 300 && problems > 3000,
        "{keys} {kept} {problems}"
    );
    assert!(read_as[0] > 2000 && read_as[1] > 2000, "{read_as:?}");
}

/// A batch's records of one key, each `Keys` text parsed once: the repeats are found by text.
#[test]
fn a_keys_text_met_again_is_not_parsed_again() {
    let schema = KeySchema::hash_only("id", ScalarType::S);
    let sources = [("T0", &schema), ("T1", &schema)];
    let same = |t: usize, seq: usize| {
        kinesis(format!(
            r#"{{"tableName":"T{t}","eventID":"{seq}","dynamodb":{{"Keys":{{"id":{{"S":"a"}}}}}}}}"#
        ))
    };
    let records = [same(0, 1), same(0, 2), same(1, 3), same(0, 4), same(1, 5)];
    let mut numbers = KeyNumbers::new(2, KeyMap::default());
    let mut new = vec![Vec::new(), Vec::new()];
    let found: Vec<RecordKey> = (records.iter())
        .map(|r| {
            numbers
                .record_key(r, &sources, &KeySet::default(), &mut new)
                .unwrap()
        })
        .collect();
    use RecordKey::Key as K;
    assert_eq!(found, [K(0), K(0), K(1), K(0), K(1)]);
    // One text per table, each parsed once.
    assert_eq!(numbers.texts.len(), 2);
    assert_eq!(new, [vec![(0, key("a"))], vec![(1, key("a"))]]);
}

/// Texts that differ but spell one key (spacing, escapes, a repeated name, a number's spelling)
/// are each parsed, and all get the key's one number; the key is queued once.
#[test]
fn texts_that_differ_but_spell_one_key_share_its_number() {
    let s = KeySchema::hash_only("id", ScalarType::S);
    let n = KeySchema::hash_only("id", ScalarType::N);
    let sources = [("S", &s), ("N", &n)];
    let record = |table: &str, keys: &str| {
        kinesis(format!(
            r#"{{"tableName":"{table}","dynamodb":{{"Keys":{keys}}}}}"#
        ))
    };
    let records = [
        record("S", r#"{"id":{"S":"a"}}"#),
        record("S", r#"{ "id" : { "S" : "a" } }"#),
        record("S", r#"{"\u0069d":{"S":"\u0061"}}"#),
        record("S", r#"{"id":{"S":"b"},"id":{"S":"a"}}"#),
        record("N", r#"{"id":{"N":"1"}}"#),
        record("N", r#"{"id":{"N":"1.0"}}"#),
        record("N", r#"{"id":{"N":"10E-1"}}"#),
        record("N", r#"{"id":{"N":"0001"}}"#),
        record("S", r#"{"id":{"S":"a"}}"#),
        record("N", r#"{"id":{"N":"1.0"}}"#),
    ];
    let mut numbers = KeyNumbers::new(2, KeyMap::default());
    let mut new = vec![Vec::new(), Vec::new()];
    let found: Vec<RecordKey> = (records.iter())
        .map(|r| (numbers.record_key(r, &sources, &KeySet::default(), &mut new)).unwrap())
        .collect();
    use RecordKey::Key as K;
    assert_eq!(
        found,
        [K(0), K(0), K(0), K(0), K(1), K(1), K(1), K(1), K(0), K(1)]
    );
    assert_eq!(numbers.distinct(), 2);
    assert_eq!((new[0].len(), new[1].len()), (1, 1));
    assert_eq!(numbers.texts.len(), 8);
}

/// One text is a key of one table and no key of another (their schemas differ): the text is
/// looked up per table, and a text that is no key is never remembered, so it says why each time.
#[test]
fn one_text_is_a_key_of_one_table_and_unusable_for_another_every_time() {
    let s = KeySchema::hash_only("id", ScalarType::S);
    let n = KeySchema::hash_only("id", ScalarType::N);
    let sources = [("S", &s), ("N", &n)];
    let record = |table: &str| {
        kinesis(format!(
            r#"{{"tableName":"{table}","dynamodb":{{"Keys":{{"id":{{"S":"a"}}}}}}}}"#
        ))
    };
    let records = [
        record("S"),
        record("N"),
        record("S"),
        record("N"),
        record("N"),
    ];
    let mut numbers = KeyNumbers::new(2, KeyMap::default());
    let mut new = vec![Vec::new(), Vec::new()];
    let found: Vec<Result<RecordKey, String>> = (records.iter())
        .map(|r| {
            let found = numbers.record_key(r, &sources, &KeySet::default(), &mut new);
            found.map_err(|p| p.to_string())
        })
        .collect();
    let wrong_type = Err(
        "record's key does not match the primary table's key schema: key \
         attribute `id` must be of type N, found S"
            .to_owned(),
    );
    use RecordKey::Key as K;
    assert_eq!(
        found,
        [
            Ok(K(0)),
            wrong_type.clone(),
            Ok(K(0)),
            wrong_type.clone(),
            wrong_type
        ]
    );
    assert_eq!(numbers.texts.len(), 1);
    assert_eq!(new, [vec![(0, key("a"))], vec![]]);
}

/// KEEP_TTL_DELETES: a text of a key the archive leaves alone is Kept each time it is met; a
/// text of an image's key has the image's number (images are numbered first); neither is
/// queued; and a text of the same key on another table is another key.
#[test]
fn a_text_met_again_keeps_what_the_archive_made_of_its_key() {
    let schema = KeySchema::hash_only("id", ScalarType::S);
    let sources = [("T0", &schema), ("T1", &schema)];
    let record = |t: usize, keys: &str| {
        kinesis(format!(
            r#"{{"tableName":"T{t}","dynamodb":{{"Keys":{keys}}}}}"#
        ))
    };
    let (alone, image, other) = (
        r#"{"id":{"S":"alone"}}"#,
        r#"{"id":{"S":"img"}}"#,
        r#"{"id":{"S":"x"}}"#,
    );
    let left_alone: KeySet = [(0, key("alone").canonical().to_vec())]
        .into_iter()
        .collect();
    let images = KeyMap::from_iter([((0, key("img").canonical().to_vec()), 0)]);
    let records = [
        record(0, alone),
        record(0, image),
        record(0, other),
        record(0, alone),
        record(1, alone),
        record(0, image),
        record(1, image),
        record(0, r#"{"id":{"S":"\u0061lone"}}"#),
    ];
    let mut numbers = KeyNumbers::new(2, images);
    let mut new = vec![Vec::new(), Vec::new()];
    let found: Vec<RecordKey> = (records.iter())
        .map(|r| (numbers.record_key(r, &sources, &left_alone, &mut new)).unwrap())
        .collect();
    use RecordKey::{Kept, Key as K};
    assert_eq!(found, [Kept, K(0), K(1), Kept, K(2), K(0), K(3), Kept]);
    assert_eq!(
        new,
        [
            vec![(1, key("x"))],
            vec![(2, key("alone")), (3, key("img"))]
        ]
    );
    assert_eq!(numbers.distinct(), 4);
}

/// A table stream's records carry their Keys parsed: no text to remember, the same numbers.
#[test]
fn a_table_stream_records_keys_are_numbered_without_a_text() {
    let schema = KeySchema::hash_only("id", ScalarType::S);
    let sources = [("T", &schema)];
    let record = |id: &str, arn: &str| -> aws_lambda_events::event::dynamodb::EventRecord {
        serde_json::from_value(serde_json::json!({
            "eventID": "1", "eventName": "MODIFY", "eventVersion": "1.1",
            "eventSource": "aws:dynamodb", "awsRegion": "us-east-1", "eventSourceARN": arn,
            "dynamodb": {"Keys": {"id": {"S": id}}, "SequenceNumber": "1", "SizeBytes": 9,
                "StreamViewType": "KEYS_ONLY", "ApproximateCreationDateTime": 1.0}
        }))
        .unwrap()
    };
    let arn = "arn:aws:dynamodb:r:1:table/T/stream/x";
    let records = [
        record("a", arn),
        record("b", arn),
        record("a", arn),
        record("a", "arn:aws:dynamodb:r:1:table/U/stream/x"),
    ];
    let mut numbers = KeyNumbers::new(1, KeyMap::default());
    let mut new = vec![Vec::new()];
    let found: Vec<Result<RecordKey, String>> = (records.iter())
        .map(|r| {
            let found = numbers.record_key(r, &sources, &KeySet::default(), &mut new);
            found.map_err(|p| p.to_string())
        })
        .collect();
    use RecordKey::Key as K;
    assert_eq!(found[..3], [Ok(K(0)), Ok(K(1)), Ok(K(0))]);
    assert_eq!(
        found[3],
        Err("record is for table `U`, not the primary table `T`".to_owned())
    );
    assert!(numbers.texts.is_empty());
    assert_eq!(new, [vec![(0, key("a")), (1, key("b"))]]);
}
