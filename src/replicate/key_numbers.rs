//! The batch's distinct keys: each key a record announces gets a number, the first time it is
//! met, per primary table; the records of one key share it (one read and one write per key).

use crate::aws::key::Key;
use crate::replicate::archive::KeyMap;

/// The number of each distinct key of a batch, per primary table, in the order first met (after
/// the archive's images): a key met again is looked up by its canonical encoding, not copied.
pub struct KeyNumbers {
    numbers: Vec<foldhash::HashMap<Vec<u8>, usize>>,
    next: usize,
}

impl KeyNumbers {
    /// For `sources` primary tables, the images' keys numbered already (`numbered`).
    pub fn new(sources: usize, numbered: KeyMap<usize>) -> Self {
        let mut numbers = vec![foldhash::HashMap::default(); sources];
        let next = numbered.len();
        for ((source, canonical), n) in numbered {
            // An image of no table is never accounted for (its key fails): it keeps its number.
            if let Some(numbers) = numbers.get_mut(source) {
                numbers.insert(canonical, n);
            }
        }
        KeyNumbers { numbers, next }
    }

    /// The number of `source`'s `key`; a key not met before gets the next one and joins `new`.
    pub fn number(&mut self, source: usize, key: Key, new: &mut Vec<(usize, Key)>) -> usize {
        let numbers = &mut self.numbers[source];
        if let Some(&n) = numbers.get(key.canonical()) {
            return n;
        }
        let n = self.next;
        self.next += 1;
        numbers.insert(key.canonical().to_vec(), n);
        new.push((n, key));
        n
    }

    /// How many keys are numbered, the images' included.
    pub fn distinct(&self) -> usize {
        self.next
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::types::AttributeValue;

    use super::*;
    use crate::aws::key::{KeySchema, ScalarType};

    fn key(id: &str) -> Key {
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
}
