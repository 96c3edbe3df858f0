//! The batch's distinct keys: each key a record announces gets a number, the first time it is
//! met, per primary table; the records of one key share it (one read and one write per key).

use crate::aws::key::{Key, KeySchema};
use crate::replicate::archive::{KeyMap, KeySet};
use crate::replicate::batch_rule::RecordKey;
use crate::replicate::decode::{Problem, SourceRecord, source_of};

/// The number of each distinct key of a batch, per primary table, in the order first met (after
/// the archive's images): a key met again is looked up by its canonical encoding, not copied;
/// a `Keys` text met again, by the text, not parsed (the same text is the same key).
pub struct KeyNumbers<'a> {
    numbers: Vec<foldhash::HashMap<Vec<u8>, usize>>,
    texts: foldhash::HashMap<(usize, &'a str), RecordKey>,
    next: usize,
}

impl<'a> KeyNumbers<'a> {
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
        KeyNumbers {
            numbers,
            texts: foldhash::HashMap::default(),
            next,
        }
    }

    /// What `record`, of a deployment that follows `sources` (each primary table's name and key
    /// schema), comes to: its key's number (a key not met before joins its table's `new`), or
    /// [`RecordKey::Kept`] for a key the archive leaves alone (`left_alone`); or why it is
    /// unusable.
    pub fn record_key<R: SourceRecord + ?Sized>(
        &mut self,
        record: &'a R,
        sources: &[(&str, &KeySchema)],
        left_alone: &KeySet,
        new: &mut [Vec<(usize, Key)>],
    ) -> Result<RecordKey, Problem> {
        let announced = record.announced()?;
        let source = source_of(announced.table.as_deref(), sources)?;
        let text = announced.text();
        if let Some(known) = text.and_then(|text| self.texts.get(&(source, text))) {
            return Ok(*known);
        }
        let key = announced.key(sources[source].1)?;
        let kept =
            !left_alone.is_empty() && left_alone.contains(&(source, key.canonical().to_vec()));
        let found = match kept {
            true => RecordKey::Kept,
            false => RecordKey::Key(self.number(source, key, &mut new[source])),
        };
        if let Some(text) = text {
            self.texts.insert((source, text), found);
        }
        Ok(found)
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
#[path = "key_numbers_tests.rs"]
mod tests;
