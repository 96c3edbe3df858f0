//! The archive (`KEEP_TTL_DELETES`): which keys of a batch a TTL delete leaves to the archive, and
//! with which image. A key whose last usable record in the batch is a TTL delete is kept: reading
//! the primary would find it gone and delete it. When that delete carries the item's old image
//! (a stream of view type `OLD_IMAGE` or `NEW_AND_OLD_IMAGES`), the image is the item's last
//! version, and every target is written with it as if the primary had been read (so a write
//! earlier in the batch, or in an earlier batch under lag, is not lost); without one, the targets
//! are left as they are. A key written again after its TTL delete is replicated as usual. A TTL
//! delete whose image cannot be read, or is of another key, is an unusable record.

use std::collections::HashMap;

use crate::aws::key::{Key, KeySchema};
use crate::aws::table::Item;
use crate::replicate::decode::{self, Problem, SourceRecord};

/// A key of one of the deployment's primary tables: the table's number and the canonical key.
pub type KeyId = (usize, Vec<u8>);

/// Maps and sets of a batch's keys, hashed with foldhash (seeded per process) rather than std's
/// SipHash: one lookup per record, and SipHash was a tenth of the replicator's own CPU.
pub type KeyMap<V> = foldhash::HashMap<KeyId, V>;
pub type KeySet = foldhash::HashSet<KeyId>;

/// A kept key whose TTL delete carried the item's old image.
#[derive(Debug, Clone)]
pub struct Image {
    /// The primary table (its number among the deployment's).
    pub source: usize,
    pub key: Key,
    /// The item as it was before the TTL deleted it.
    pub item: Item,
}

/// What `KEEP_TTL_DELETES` makes of a batch.
#[derive(Debug, Default)]
pub struct Archive {
    /// The kept keys with an image, to be written to every target, in the order first met.
    pub images: Vec<Image>,
    /// The kept keys without an image: their targets are left as they are.
    pub left_alone: KeySet,
    /// The records whose old image cannot be used, by position in the batch, and why.
    pub unusable: HashMap<usize, Problem>,
}

/// A key's last usable record so far: a TTL delete (with its image, if any) or not.
enum Last {
    Written,
    Expired(Key, Option<Item>),
}

impl Archive {
    /// What the batch `records` of a deployment that follows `sources` (each primary table's
    /// name and key schema) leaves to the archive. Only TTL deletes' images are read.
    pub fn of<R: SourceRecord>(records: &[R], sources: &[(&str, &KeySchema)]) -> Archive {
        let mut archive = Archive::default();
        let ttl: Vec<bool> = records.iter().map(SourceRecord::is_ttl_delete).collect();
        if !ttl.contains(&true) {
            return archive;
        }
        let mut order: Vec<KeyId> = Vec::new();
        let mut last: KeyMap<Last> = KeyMap::default();
        for (position, (record, ttl)) in records.iter().zip(ttl).enumerate() {
            let Ok((source, key)) = decode::decode_from(record, sources) else {
                continue;
            };
            let Some((_, schema)) = sources.get(source) else {
                continue;
            };
            let id = (source, key.canonical().to_vec());
            let now = match ttl {
                false => Last::Written,
                true => match image_of(record, schema, &key) {
                    Ok(image) => Last::Expired(key, image),
                    Err(problem) => {
                        archive.unusable.insert(position, problem);
                        continue;
                    }
                },
            };
            if last.insert(id.clone(), now).is_none() {
                order.push(id);
            }
        }
        for id in order {
            match last.remove(&id) {
                Some(Last::Expired(key, Some(item))) => archive.images.push(Image {
                    source: id.0,
                    key,
                    item,
                }),
                Some(Last::Expired(_, None)) => {
                    archive.left_alone.insert(id);
                }
                Some(Last::Written) | None => {}
            }
        }
        archive
    }

    /// Keys kept, with an image or without.
    pub fn kept(&self) -> usize {
        self.images.len() + self.left_alone.len()
    }
}

/// The old image of `record`, a TTL delete of `key`, if it carries one; an error if it cannot be
/// read or does not hold `key` (writing it would write another item).
fn image_of<R: SourceRecord>(
    record: &R,
    schema: &KeySchema,
    key: &Key,
) -> Result<Option<Item>, Problem> {
    let Some(image) = record.old_image()? else {
        return Ok(None);
    };
    let held = schema
        .canonical_of_item(&image)
        .map_err(Problem::ImageKey)?;
    match held == key.canonical() {
        true => Ok(Some(image)),
        false => Err(Problem::ImageOfAnotherKey),
    }
}

#[cfg(test)]
#[path = "archive_tests.rs"]
mod tests;
