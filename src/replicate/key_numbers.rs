//! The batch's distinct keys: each key a record announces gets a number, the first time it is
//! met, per primary table; the records of one key share it (one read and one write per key).

use hashbrown::hash_map::{Entry, EntryRef};

use crate::aws::key::{Key, KeySchema};
use crate::replicate::archive::{KeyMap, KeySet};
use crate::replicate::batch_rule::RecordKey;
use crate::replicate::decode::{KeysAs, Problem, SourceRecord, source_of};

/// The number of each distinct key of a batch, per primary table, in the order first met (after
/// the archive's images): a key met again is looked up by its canonical encoding, not copied;
/// a `Keys` text met again, by the text, not parsed (the same text is the same key).
pub struct KeyNumbers<'a> {
    numbers: Numbers,
    texts: Map<(usize, &'a str), RecordKey>,
    reading: KeysRead,
}

/// How many records a batch reads one way before [`read_texts_next`] chooses again: records of
/// a key numbered (unusable records, and those of a key the archive leaves alone, are not
/// counted, read either way).
pub const WINDOW: usize = 256;

/// Whether the next window of a batch reads its records' `Keys` as text, when `repeats` of the
/// last window's `read` records were of a key met before: yes while at least two in five were.
/// A text met once costs more than parsing the `Keys` with the record (skipped, parsed alone,
/// remembered); a text met again saves the parse, the key and its lookup. Measured (the bench's
/// decoding of 10,000 records, this machine): every key distinct, read as text, 20–30% more
/// than parsed at once; five records a key, 25–30% less. A batch starts reading texts. Texts are
/// remembered only while they are read: keys that come round again only a window or more later
/// are met as new texts once more when the batch goes back to texts (where every key repeats
/// so, about 8% more than reading texts throughout).
pub fn read_texts_next(read: usize, repeats: usize) -> bool {
    repeats * 5 >= read * 2
}

/// How the batch reads its records' `Keys` now, and the current window's counts.
struct KeysRead {
    as_text: bool,
    read: usize,
    repeats: usize,
    window: usize,
}

impl KeysRead {
    fn new(window: usize) -> Self {
        KeysRead {
            as_text: true,
            read: 0,
            repeats: 0,
            window,
        }
    }

    fn keys_as(&self) -> KeysAs {
        match self.as_text {
            true => KeysAs::Text,
            false => KeysAs::Parsed,
        }
    }

    /// One more record of a usable key; `repeat` if its key was met before.
    fn counted(&mut self, repeat: bool) {
        self.read += 1;
        self.repeats += usize::from(repeat);
        if self.read == self.window {
            self.as_text = read_texts_next(self.read, self.repeats);
            (self.read, self.repeats) = (0, 0);
        }
    }
}

/// hashbrown's map, for its entries that hash a key once (found or inserted), with foldhash.
type Map<K, V> = hashbrown::HashMap<K, V, foldhash::fast::RandomState>;

/// Each table's keys by canonical encoding, and the next number.
struct Numbers {
    of: Vec<Map<Vec<u8>, usize>>,
    next: usize,
}

impl Numbers {
    fn number(&mut self, source: usize, key: Key, new: &mut Vec<(usize, Key)>) -> usize {
        match self.of[source].entry_ref(key.canonical()) {
            EntryRef::Occupied(known) => *known.get(),
            EntryRef::Vacant(slot) => {
                let n = self.next;
                self.next += 1;
                slot.insert(n);
                new.push((n, key));
                n
            }
        }
    }
}

impl<'a> KeyNumbers<'a> {
    /// For `sources` primary tables, the images' keys numbered already (`numbered`).
    pub fn new(sources: usize, numbered: KeyMap<usize>) -> Self {
        let mut of = vec![Map::default(); sources];
        let next = numbered.len();
        for ((source, canonical), n) in numbered {
            // An image of no table is never accounted for (its key fails): it keeps its number.
            if let Some(numbers) = of.get_mut(source) {
                numbers.insert(canonical, n);
            }
        }
        KeyNumbers {
            numbers: Numbers { of, next },
            texts: Map::default(),
            reading: KeysRead::new(WINDOW),
        }
    }

    /// [`KeyNumbers::new`], choosing how to read `Keys` every `window` records.
    #[cfg(test)]
    fn windowed(sources: usize, numbered: KeyMap<usize>, window: usize) -> Self {
        let mut numbers = KeyNumbers::new(sources, numbered);
        numbers.reading = KeysRead::new(window);
        numbers
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
        let announced = record.announced(self.reading.keys_as())?;
        let source = source_of(announced.table.as_deref(), sources)?;
        let slot = match announced
            .text()
            .map(|text| self.texts.entry((source, text)))
        {
            Some(Entry::Occupied(known)) => {
                let found = *known.get();
                if found != RecordKey::Kept {
                    self.reading.counted(true);
                }
                return Ok(found);
            }
            Some(Entry::Vacant(slot)) => Some(slot),
            None => None,
        };
        let key = announced.key(sources[source].1)?;
        let kept =
            !left_alone.is_empty() && left_alone.contains(&(source, key.canonical().to_vec()));
        let known = self.numbers.next;
        let found = match kept {
            true => RecordKey::Kept,
            false => RecordKey::Key(self.numbers.number(source, key, &mut new[source])),
        };
        if let RecordKey::Key(n) = found {
            self.reading.counted(n < known);
        }
        if let Some(slot) = slot {
            slot.insert(found);
        }
        Ok(found)
    }

    /// The number of `source`'s `key`; a key not met before gets the next one and joins `new`.
    pub fn number(&mut self, source: usize, key: Key, new: &mut Vec<(usize, Key)>) -> usize {
        self.numbers.number(source, key, new)
    }

    /// How many keys are numbered, the images' included.
    pub fn distinct(&self) -> usize {
        self.numbers.next
    }
}

#[cfg(test)]
#[path = "key_numbers_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "keys_read_tests.rs"]
mod keys_read_tests;
