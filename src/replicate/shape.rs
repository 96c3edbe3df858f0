//! A target's shape: what it does to one key's item, by its filter and projection. The primary
//! has no item, or the filter does not hold: delete the key on the target; the filter holds (or
//! there is none): put the item with only the attributes the projection keeps, and always the key
//! attributes of the target and of its indexes. A filter that fails on the item decides nothing:
//! the target's item is left as it is and the key fails ([`Shaped::into_write`]).

use std::collections::BTreeSet;

use crate::aws::table::Item;
use crate::replicate::filter::{Filter, FilterRunError};

/// Which of an item's attributes a target writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Projection {
    All,
    /// These, and the key attributes.
    Include(BTreeSet<String>),
    /// All but these (never a key attribute).
    Exclude(BTreeSet<String>),
}

/// What a target does to the items of the primary: its filter and projection, and the key
/// attributes of its table and indexes, which it always keeps.
#[derive(Debug, Clone)]
pub struct Shape {
    filter: Option<Filter>,
    projection: Projection,
    key_attributes: BTreeSet<String>,
}

/// What to do to a key on the target.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Put(Item),
    Delete,
}

/// A [`Verdict`], and why it is a delete when the filter decided it.
#[derive(Debug, Clone, PartialEq)]
pub struct Shaped {
    /// What the target should hold. When the filter failed, `Delete`: the item is not known to
    /// belong (a comparison reports the target's copy), but a writer must leave it as it is:
    /// write with [`Shaped::into_write`].
    pub verdict: Verdict,
    /// The filter failed on the item: the target's item is left as it is, and the key fails.
    pub filter_error: Option<FilterRunError>,
    /// The primary has the item but the filter does not match it.
    pub filtered_out: bool,
}

impl Shape {
    /// A shape of its parts (checked by the caller: see `targets`).
    pub(crate) fn of(
        filter: Option<Filter>,
        projection: Projection,
        key_attributes: BTreeSet<String>,
    ) -> Shape {
        Shape {
            filter,
            projection,
            key_attributes,
        }
    }

    /// No filter, every attribute: a full copy.
    pub fn everything() -> Shape {
        Shape {
            filter: None,
            projection: Projection::All,
            key_attributes: BTreeSet::new(),
        }
    }

    /// What the target does with `item`, the primary's item for a key (`None`: it has none):
    /// delete the key when the primary has no item or the filter does not match it, put the
    /// item, projected, when it does; when the filter fails, the error (see [`Shaped`]).
    pub fn apply(&self, item: Option<&Item>) -> Shaped {
        let Some(item) = item else {
            return Shaped::delete(false);
        };
        if let Some(left_out) = self.leaves_out(item) {
            return left_out;
        }
        Shaped::put(self.project(item))
    }

    /// [`Shape::apply`] to an item the caller gives away: nothing is copied (a projection
    /// drops attributes in place), which matters when items are large and a batch's reads
    /// are in flight.
    pub fn apply_owned(&self, item: Option<Item>) -> Shaped {
        let Some(mut item) = item else {
            return Shaped::delete(false);
        };
        if let Some(left_out) = self.leaves_out(&item) {
            return left_out;
        }
        if self.projection != Projection::All {
            item.retain(|name, _| self.keeps(name));
        }
        Shaped::put(item)
    }

    /// The delete that the filter makes of `item` when it does not hold, or its error, if any.
    fn leaves_out(&self, item: &Item) -> Option<Shaped> {
        match self.filter.as_ref()?.matches(item) {
            Ok(true) => None,
            Ok(false) => Some(Shaped::delete(true)),
            Err(error) => Some(Shaped::failed(error)),
        }
    }

    /// The attributes of `item` the target keeps, cloned.
    fn project(&self, item: &Item) -> Item {
        match &self.projection {
            Projection::All => item.clone(),
            _ => item
                .iter()
                .filter(|(name, _)| self.keeps(name))
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect(),
        }
    }

    /// No filter and every attribute.
    pub fn is_everything(&self) -> bool {
        self.filter.is_none() && self.projection == Projection::All
    }

    /// Whether the target writes `attribute` (when the item has it).
    pub fn keeps(&self, attribute: &str) -> bool {
        match &self.projection {
            Projection::All => true,
            Projection::Include(names) => {
                names.contains(attribute) || self.key_attributes.contains(attribute)
            }
            Projection::Exclude(names) => !names.contains(attribute),
        }
    }

    pub fn filter(&self) -> Option<&Filter> {
        self.filter.as_ref()
    }

    pub fn projection(&self) -> &Projection {
        &self.projection
    }
}

impl Shaped {
    fn put(item: Item) -> Shaped {
        Shaped {
            verdict: Verdict::Put(item),
            filter_error: None,
            filtered_out: false,
        }
    }

    /// A delete: the primary has no item, or (`filtered_out`) the filter does not match it.
    pub(crate) fn delete(filtered_out: bool) -> Shaped {
        Shaped {
            verdict: Verdict::Delete,
            filter_error: None,
            filtered_out,
        }
    }

    /// The filter failed on the item: nothing to write.
    pub(crate) fn failed(error: FilterRunError) -> Shaped {
        Shaped {
            verdict: Verdict::Delete,
            filter_error: Some(error),
            filtered_out: false,
        }
    }

    /// The write to make, or the filter's error: then nothing is written (the target's item is
    /// left as it is) and the key fails.
    pub fn into_write(self) -> Result<Verdict, FilterRunError> {
        match self.filter_error {
            Some(error) => Err(error),
            None => Ok(self.verdict),
        }
    }
}
