//! Tests of how `record_key` reads `Keys` (as text, or parsed with the record, switching every
//! window): hostile spellings give the same key or the same problem either way, and a batch that
//! switches back and forth (archive images first, keys left alone, several tables) numbers and
//! queues what decoding each record whole and one map of (table, key) give.

use aws_lambda_events::event::kinesis::KinesisEventRecord;

use super::tests::{counts, key, kinesis, plain_rule, windowed_run};
use super::*;
use crate::aws::key::ScalarType;

/// Nested `L`s, `depth` deep, around a string.
fn nested(depth: usize) -> String {
    let mut value = r#"{"S":"z"}"#.to_owned();
    for _ in 0..depth {
        value = format!(r#"{{"L":[{value}]}}"#);
    }
    value
}

/// Hostile record data: duplicated fields, nulls, arrays for objects, many names, escapes, bad
/// bytes, numbers, nesting around the parser's depth limit (the record whole is two levels
/// deeper than its `Keys` alone).
fn hostile() -> Vec<Vec<u8>> {
    let keys = |k: &str| format!(r#"{{"tableName":"T0","dynamodb":{{"Keys":{k}}}}}"#);
    let mut datas: Vec<Vec<u8>> = [
        r#"{"dynamodb":{"Keys":{"id":{"S":"a"}},"Keys":{"id":{"S":"b"}}}}"#,
        r#"{"dynamodb":{"Keys":[1],"Keys":{"id":{"S":"b"}}}}"#,
        r#"{"dynamodb":{"Keys":{"id":{"S":"a"}}},"dynamodb":{"Keys":{"id":{"S":"b"}}}}"#,
        r#"{"tableName":"T0","tableName":"T1","dynamodb":{"Keys":{"id":{"S":"a"}}}}"#,
        r#"{"tableName":null,"dynamodb":{"Keys":{"id":{"S":"a"}}}}"#,
        r#"{"dynamodb":{"Keys":null}}"#,
        r#"{"dynamodb":{"Keys":{}}}"#,
        r#"{"dynamodb":{"Keys":"{\"id\":{\"S\":\"a\"}}"}}"#,
        r#"{"dynamodb":null}"#,
        r#"{"dynamodb":[{"id":{"S":"a"}}]}"#,
        r#"["T0",null,[{"id":{"S":"a"}}]]"#,
        r#"["T0",null,[{"id":{"S":"a"}}],4]"#,
        r#"{"dynamodb":{"Keys":{"a":{"S":"1"},"b":{"S":"1"},"c":{"S":"1"},"id":{"S":"a"}}}}"#,
        r#"{"dynamodb":{"Keys":{"id":{"S":"x"},"a":{"S":"1"},"b":{"S":"1"},"id":{"S":"a"}}}}"#,
        r#"{"dynamodb":{"Keys":{"i\u0064":{"S":"\u0061"}}}}"#,
        r#"{"dynamodb":{"Keys":{"id":{"S":"\ud800\udc00"}}}}"#,
        r#"{"dynamodb":{"Keys":{"id":{"S":"\udc00"}}}}"#,
        r#"{"dynamodb":{"Keys":{"id":{"S":"a\u0000"}}}}"#,
        "{\"dynamodb\":{\"Keys\":{\"id\":{\"S\":\"a\tb\"}}}}",
        r#"{"dynamodb":{"Keys":{"id":{"S":"a"}}}} x"#,
        r#"{"dynamodb":{"Keys":{"id":{"S":"a"}}}"#,
        r#"{"dynamodb":{"Keys":{"id":{"N":1}}}}"#,
        r#"{"dynamodb":{"Keys":{"id":{"S":1e400}}}}"#,
        r#"{"dynamodb":{"Keys":{"id":{"S":"a","S":"b"}}}}"#,
        r#"{"dynamodb":{"Keys":{"id":{"S":"a"},"x":{"NULL":true}}}}"#,
        r#"{"dynamodb":{"Keys":{"id":{"B":"YQ=="}}}}"#,
        r#"{"dynamodb":{"Keys":{"id":{"S":"a"}}},"dynamodb":1}"#,
        r#"{"eventSourceARN":"arn:aws:dynamodb:r:1:table/T0","tableName":"T1","dynamodb":{"Keys":{"id":{"S":"a"}}}}"#,
    ]
    .iter()
    .map(|d| d.as_bytes().to_vec())
    .collect();
    datas.push(keys(r#"{"id":{"S":"a"}}"#).into_bytes());
    let mut bad = keys(r#"{"id":{"S":"a?"}}"#).into_bytes();
    let at = bad.iter().position(|b| *b == b'?').unwrap();
    bad[at] = 0xFF;
    datas.push(bad);
    // Around serde_json's depth limit (128), the whole record two levels deeper than its Keys.
    for depth in 55..70 {
        datas.push(keys(&format!(r#"{{"id":{}}}"#, nested(depth))).into_bytes());
        datas.push(keys(&format!(r#"{{"id":{{"S":"a"}},"x":{}}}"#, nested(depth))).into_bytes());
    }
    datas
}

/// Every hostile record: the same table, key or problem with its Keys read either way.
#[test]
fn hostile_records_are_the_same_key_or_problem_read_either_way() {
    let schema = KeySchema::hash_only("id", ScalarType::S);
    let outcome = |data: &[u8], keys: KeysAs| {
        let r = kinesis(data.to_vec());
        let announced = r.announced(keys).map_err(|p| format!("{p:?}"))?;
        let table = announced.table.as_deref().map(str::to_owned);
        let key = announced.key(&schema).map_err(|p| format!("{p:?}"))?;
        Ok::<_, String>((table, key.canonical().to_vec()))
    };
    let mut keys = 0;
    for data in hostile() {
        let (text, parsed) = (outcome(&data, KeysAs::Text), outcome(&data, KeysAs::Parsed));
        assert_eq!(text, parsed, "{}", String::from_utf8_lossy(&data));
        keys += usize::from(text.is_ok());
    }
    assert!(keys >= 8, "{keys}");
}

/// Records of one key, whichever way each is read: a text remembered as text, then read parsed,
/// then as text again; a key met first parsed, then as a text; an image's key; a key left alone;
/// two tables. Window 1: every record may switch.
#[test]
fn switching_how_keys_are_read_keeps_every_number() {
    let schema = KeySchema::hash_only("id", ScalarType::S);
    let sources = [("T0", &schema), ("T1", &schema)];
    let record = |t: usize, id: &str| {
        kinesis(format!(
            r#"{{"tableName":"T{t}","dynamodb":{{"Keys":{{"id":{{"S":"{id}"}}}}}}}}"#
        ))
    };
    let left_alone: KeySet = [(1, key("alone").canonical().to_vec())]
        .into_iter()
        .collect();
    let images = KeyMap::from_iter([((0, key("img").canonical().to_vec()), 0)]);
    // Window 1: a new key reads the next record parsed, a repeat as text.
    let records = [
        record(0, "a"),     // text, new: parsed next
        record(0, "b"),     // parsed, new
        record(0, "a"),     // parsed, repeat: text next (its text remembered)
        record(0, "a"),     // text, found by text
        record(0, "c"),     // text, new
        record(0, "b"),     // parsed, met parsed first, now by key: text next
        record(0, "b"),     // text, not remembered: parsed, numbered by key
        record(0, "img"),   // text: the image's number
        record(1, "alone"), // text: Kept, remembered; not counted
        record(1, "alone"), // text: Kept by text; not counted
        record(1, "img"),   // text: another table's key, new: parsed next
        record(1, "alone"), // parsed: Kept; not counted
        record(0, "img"),   // parsed: the image's number; text next
        record(1, "alone"), // text: Kept by text
    ];
    let mut numbers = KeyNumbers::windowed(2, images, 1);
    let mut new = vec![Vec::new(), Vec::new()];
    let mut ways = Vec::new();
    let found: Vec<RecordKey> = (records.iter())
        .map(|r| {
            ways.push(numbers.reading.as_text);
            numbers
                .record_key(r, &sources, &left_alone, &mut new)
                .unwrap()
        })
        .collect();
    use RecordKey::{Kept, Key as K};
    assert_eq!(
        found,
        [
            K(1),
            K(2),
            K(1),
            K(1),
            K(3),
            K(2),
            K(2),
            K(0),
            Kept,
            Kept,
            K(4),
            Kept,
            K(0),
            Kept
        ]
    );
    assert_eq!(
        new,
        [
            vec![(1, key("a")), (2, key("b")), (3, key("c"))],
            vec![(4, key("img"))]
        ]
    );
    assert_eq!(numbers.distinct(), 5);
    let text = |i: usize| ways[i];
    assert!(text(0) && !text(1) && !text(2) && text(3) && text(6));
    assert!(text(9) && text(10) && !text(11) && !text(12) && text(13));
}

/// Random batches of hostile and plain records, several tables, archive images numbered first,
/// keys left alone, windows of 1 to 4: what decoding each record whole and numbering its key in
/// one map (seeded with the images) gives.
#[test]
fn windowed_batches_with_images_are_what_whole_decoding_gives() {
    let mut rng = fastrand::Rng::with_seed(23);
    let schema = KeySchema::hash_only("id", ScalarType::S);
    let names = ["T0", "T1", "T2"];
    let hostile = hostile();
    let (mut keys, mut kept, mut imaged) = (0, 0, 0);
    for _ in 0..800 {
        let sources: Vec<(&str, &KeySchema)> = names[..rng.usize(1..4)]
            .iter()
            .map(|n| (*n, &schema))
            .collect();
        let ids = ["a", "b", "c", "img"];
        let datas: Vec<Vec<u8>> = (0..rng.usize(0..40))
            .map(|_| match rng.usize(0..5) {
                0 => hostile[rng.usize(0..hostile.len())].clone(),
                _ => {
                    let t = rng.usize(0..sources.len() + 1);
                    let id = ids[rng.usize(0..ids.len())];
                    let spelled = match rng.bool() {
                        true => id.to_owned(),
                        false => format!("\\u00{:x}{}", id.as_bytes()[0], &id[1..]),
                    };
                    format!(r#"{{"tableName":"T{t}","dynamodb":{{"Keys":{{"id":{{"S":"{spelled}"}}}}}}}}"#)
                        .into_bytes()
                }
            })
            .collect();
        let records: Vec<KinesisEventRecord> = datas.into_iter().map(kinesis).collect();
        let mut images: Vec<(usize, Vec<u8>)> = Vec::new();
        for s in 0..sources.len() + 1 {
            if rng.bool() {
                images.push((s, key(ids[rng.usize(0..ids.len())]).canonical().to_vec()));
            }
        }
        let numbered = || -> KeyMap<usize> {
            images
                .iter()
                .enumerate()
                .map(|(n, i)| (i.clone(), n))
                .collect()
        };
        let left_alone: KeySet = (0..rng.usize(0..3))
            .map(|_| {
                (
                    rng.usize(0..sources.len()),
                    key(ids[rng.usize(0..3)]).canonical().to_vec(),
                )
            })
            .filter(|k| !images.contains(k))
            .collect();
        let plain = plain_rule(&records, &sources, &left_alone, numbered());
        let window = rng.usize(1..5);
        let found = windowed_run(
            &records,
            &sources,
            &left_alone,
            numbered(),
            window,
            &mut [0; 2],
        );
        assert_eq!(plain, found);
        let (k, c) = counts(&found.0);
        (keys, kept) = (keys + k, kept + c);
        imaged += (found.0.iter())
            .filter(|f| matches!(f, Ok(RecordKey::Key(n)) if *n < images.len()))
            .count();
    }
    assert!(
        keys > 3000 && kept > 300 && imaged > 500,
        "{keys} {kept} {imaged}"
    );
}

/// Records of a key the archive leaves alone are not counted, read either way: a run of them
/// neither ends a window nor changes how Keys are read (in the first version a kept text met
/// again counted as a repeat, and a kept key parsed as none).
#[test]
fn records_of_a_key_left_alone_are_not_counted_either_way() {
    let schema = KeySchema::hash_only("id", ScalarType::S);
    let sources = [("T0", &schema)];
    let record = |id: &str| {
        kinesis(format!(
            r#"{{"dynamodb":{{"Keys":{{"id":{{"S":"{id}"}}}}}}}}"#
        ))
    };
    let left_alone: KeySet = [(0, key("alone").canonical().to_vec())]
        .into_iter()
        .collect();
    let kept: Vec<_> = (0..12).map(|_| record("alone")).collect();
    // Read as text: twelve kept records end no window.
    let mut numbers = KeyNumbers::windowed(1, KeyMap::default(), 4);
    let mut new = vec![Vec::new()];
    for r in &kept {
        let found = numbers.record_key(r, &sources, &left_alone, &mut new);
        assert_eq!(found.unwrap(), RecordKey::Kept);
    }
    assert!(numbers.reading.as_text);
    assert_eq!((numbers.reading.read, numbers.reading.repeats), (0, 0));
    // Parsed (after a window of distinct keys): the same.
    let mut records: Vec<_> = (0..4).map(|n| record(&format!("k{n}"))).collect();
    records.extend((0..12).map(|_| record("alone")));
    let mut numbers = KeyNumbers::windowed(1, KeyMap::default(), 4);
    for r in &records {
        numbers
            .record_key(r, &sources, &left_alone, &mut new)
            .unwrap();
    }
    assert!(!numbers.reading.as_text);
    assert_eq!((numbers.reading.read, numbers.reading.repeats), (0, 0));
    assert_eq!(new[0].len(), 4);
}

#[test]
fn texts_are_read_next_while_two_in_five_records_repeat_a_key() {
    assert!(read_texts_next(WINDOW, WINDOW));
    assert!(read_texts_next(1000, 400));
    assert!(!read_texts_next(1000, 399));
    assert!(!read_texts_next(WINDOW, 0));
    assert!(read_texts_next(0, 0));
}

/// How each window reads Keys follows the last window's repeats; the numbers never change: a
/// batch of distinct keys parses them after its first window, a batch that repeats them goes
/// back to texts.
#[test]
fn each_window_reads_keys_as_the_last_ones_repeats_say() {
    let schema = KeySchema::hash_only("id", ScalarType::S);
    let sources = [("T0", &schema)];
    let records = |keys: usize| -> Vec<_> {
        (0..40)
            .map(|r| {
                kinesis(format!(
                    r#"{{"dynamodb":{{"Keys":{{"id":{{"S":"k{}"}}}}}}}}"#,
                    r % keys
                ))
            })
            .collect()
    };
    // (keys, reads texts at the end, texts remembered): 40 keys parse after the first window;
    // 5 keys repeat 3 of 8 in the first window (parsed next), all 8 in the second (texts again).
    for (keys, as_text, texts) in [(40, false, 8), (5, true, 5), (2, true, 2)] {
        let records = records(keys);
        let mut numbers = KeyNumbers::windowed(1, KeyMap::default(), 8);
        let mut new = vec![Vec::new()];
        let mut ways = Vec::new();
        let found: Vec<RecordKey> = (records.iter())
            .map(|r| {
                ways.push(numbers.reading.as_text);
                numbers
                    .record_key(r, &sources, &KeySet::default(), &mut new)
                    .unwrap()
            })
            .collect();
        let expected: Vec<RecordKey> = (0..40).map(|r| RecordKey::Key(r % keys)).collect();
        assert_eq!(found, expected);
        assert_eq!(numbers.reading.as_text, as_text, "{keys} keys");
        assert_eq!(numbers.texts.len(), texts, "{keys} keys");
        assert_eq!(new[0].len(), keys);
        if keys == 5 {
            let windows: Vec<bool> = ways.chunks(8).map(|w| w[0]).collect();
            assert_eq!(windows, [true, false, true, true, true]);
        }
    }
}
