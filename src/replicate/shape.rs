//! A target's shape: what it does to one key's item, by its filter and projection. The primary
//! has no item, or the filter does not hold (or fails, which counts as not holding): delete the
//! key on the target; else put the item with only the attributes the projection keeps, and
//! always the key attributes of the target and of its indexes.

use std::collections::BTreeSet;

use crate::aws::table::Item;
use crate::replicate::filter::Filter;

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
    pub verdict: Verdict,
    /// The filter failed on the item, which counts as not matching.
    pub filter_error: bool,
    /// The primary has the item but the filter did not match it (or failed).
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
    /// delete the key when the primary has no item or the filter does not match it (a filter
    /// that fails counts as not matching), else put the item, projected.
    pub fn apply(&self, item: Option<&Item>) -> Shaped {
        let Some(item) = item else {
            return Shaped::delete(false, false);
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
            return Shaped::delete(false, false);
        };
        if let Some(left_out) = self.leaves_out(&item) {
            return left_out;
        }
        if self.projection != Projection::All {
            item.retain(|name, _| self.keeps(name));
        }
        Shaped::put(item)
    }

    /// The delete that the filter makes of `item` when it does not hold (or fails), if any.
    fn leaves_out(&self, item: &Item) -> Option<Shaped> {
        match self.filter.as_ref()?.matches(item) {
            Ok(true) => None,
            Ok(false) => Some(Shaped::delete(true, false)),
            Err(_) => Some(Shaped::delete(true, true)),
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
            filter_error: false,
            filtered_out: false,
        }
    }

    pub(crate) fn delete(filtered_out: bool, filter_error: bool) -> Shaped {
        Shaped {
            verdict: Verdict::Delete,
            filter_error,
            filtered_out,
        }
    }
}
