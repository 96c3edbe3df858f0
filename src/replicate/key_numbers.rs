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
}
