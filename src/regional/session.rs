//! A session: for each key it wrote, what the replica must hold to have caught up with that
//! write (a digest of the item written, "absent" after a delete, or "unknown" when the write's
//! outcome is unknown). Bounded by a number of keys (the oldest write is forgotten first) and an
//! age (a key written longer ago than the longest lag expected is dropped). No clock is compared
//! with the tables and no version attribute is needed: only what the session itself wrote, and
//! what the primary showed it since (a newer item another writer put, which the session then
//! expects instead, so that its reads never go back).
//!
//! The replica's absence never shows that a delete caught up: "absent" is also what the replica
//! shows before it saw the key at all, and a replicator write that read the primary before the
//! delete can still land after it. A key the session deleted is read on the primary until
//! `max_age` has passed since the delete.
//!
//! A session is shared by reference: its state sits behind a mutex held only for a moment, never
//! across a call, so concurrent writes and reads of one session are fine.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::aws::identity::Identity;
use crate::aws::json::Item;
use crate::regional::digest::{Digest, canonical, digest};

#[path = "session_limits.rs"]
mod limits;
pub use limits::{Limits, LimitsError};

/// What the replica must hold for a key to have caught up with the session's last write of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// The item written (a put's item; an update's whole new item), by its digest.
    Item(Digest),
    /// Nothing: the session deleted the key.
    Absent,
    /// The write's outcome is unknown (a timeout, a 5xx, a reset): the primary decides.
    Unknown,
}

impl Expect {
    /// What a write of `item` (`None`: a delete) expects.
    pub fn of(item: Option<&Item>) -> Expect {
        match item {
            Some(item) => Expect::Item(digest(item)),
            None => Expect::Absent,
        }
    }

    /// True when `found` (an item read from the replica, or `None`) shows that the replica caught
    /// up: it holds the item this expects. Never for "absent" (see the module's docs: the
    /// replica's absence cannot tell a delete applied from a key not replicated yet) nor for an
    /// unknown outcome (the primary decides).
    pub fn caught_up_by(&self, found: Option<&Item>) -> bool {
        match (self, found) {
            (Expect::Item(expected), Some(item)) => digest(item) == *expected,
            _ => false,
        }
    }
}

/// One key a session holds, as it is saved: the key, what it expects, and when it was written
/// (milliseconds since the Unix epoch).
#[derive(Debug, Clone, PartialEq)]
pub struct Held {
    pub key: Item,
    pub expect: Expect,
    pub at_ms: u64,
}

/// What became of keys the session no longer holds, since it was made or loaded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Forgotten {
    /// The replica was seen to have caught up.
    pub caught_up: u64,
    /// Written longer ago than `max_age`.
    pub aged: u64,
    /// Forgotten, oldest first, to stay within `max_keys`.
    pub over_bound: u64,
}

/// A session of one primary table (see the module's docs).
#[derive(Debug)]
pub struct Session {
    table: String,
    /// The primary's identity as DynamoDB reported it, when known: a table deleted and made
    /// again under the same name is another table.
    identity: Option<Identity>,
    limits: Limits,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// By the key's canonical encoding.
    entries: HashMap<Vec<u8>, Entry>,
    /// The entries' canonical keys by write order (oldest first).
    order: BTreeMap<u64, Vec<u8>>,
    next: u64,
    /// The latest write time seen: times only go forward, so write order is age order.
    last_ms: u64,
    forgotten: Forgotten,
    /// Bumped by every change, so a caller can tell whether to save.
    revision: u64,
}

#[derive(Debug, Clone)]
struct Entry {
    key: Item,
    expect: Expect,
    at_ms: u64,
    seq: u64,
}

/// Milliseconds since the Unix epoch, now (0 if the clock is before it).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Session {
    /// An empty session of the primary table `table` (its limits brought within
    /// [`Limits::new`]'s bounds).
    pub fn new(table: impl Into<String>, limits: Limits) -> Session {
        Session {
            table: table.into(),
            identity: None,
            limits: limits.clamped(),
            inner: Mutex::new(Inner::default()),
        }
    }

    /// This session, of the table DynamoDB identifies as `identity`.
    pub fn with_identity(mut self, identity: Option<Identity>) -> Session {
        self.identity = identity;
        self
    }

    /// A session holding `held` (oldest first, as [`Session::held`] gives them), within
    /// `limits` as of `now_ms`. A time after `now_ms` (another host's clock ahead, or a damaged
    /// file) is taken as `now_ms`: it neither outlives `max_age` nor ages the keys written after.
    pub fn restore(table: impl Into<String>, limits: Limits, held: Vec<Held>, now_ms: u64) -> Self {
        let session = Session::new(table, limits);
        let limits = session.limits;
        {
            let mut inner = session.lock();
            for held in held {
                inner.insert(held.key, held.expect, held.at_ms.min(now_ms), &limits);
            }
            inner.prune(now_ms, &limits);
            inner.forgotten = Forgotten::default();
            inner.revision = 0;
        }
        session
    }

    /// The primary table this session belongs to.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The primary's identity, when known.
    pub fn identity(&self) -> Option<&Identity> {
        self.identity.as_ref()
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic elsewhere while holding the lock leaves consistent data (every change is
        // made whole under it), so a poisoned lock is taken as it is.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a write of `key` (its key attributes) that expects `expect`, now.
    pub fn record(&self, key: Item, expect: Expect) {
        self.record_at(key, expect, now_ms());
    }

    /// [`Session::record`] at `now_ms`.
    pub fn record_at(&self, key: Item, expect: Expect, now_ms: u64) {
        let limits = self.limits;
        let mut inner = self.lock();
        inner.prune(now_ms, &limits);
        inner.insert(key, expect, now_ms, &limits);
        inner.revision += 1;
    }

    /// What the session expects of `key`, if it holds it (keys past `max_age` are dropped
    /// first).
    pub fn expected(&self, key: &Item) -> Option<Expect> {
        self.expected_at(key, now_ms())
    }

    /// [`Session::expected`] at `now_ms`.
    pub fn expected_at(&self, key: &Item, now_ms: u64) -> Option<Expect> {
        let limits = self.limits;
        let mut inner = self.lock();
        inner.prune(now_ms, &limits);
        inner.entries.get(&canonical(key)).map(|e| e.expect)
    }

    /// Forgets `key` because the replica caught up, unless meanwhile another write changed what
    /// the session expects of it. True when forgotten.
    pub fn caught_up(&self, key: &Item, expect: &Expect) -> bool {
        let mut inner = self.lock();
        let id = canonical(key);
        if inner.entries.get(&id).is_none_or(|e| e.expect != *expect) {
            return false;
        }
        inner.remove(&id);
        inner.forgotten.caught_up += 1;
        inner.revision += 1;
        true
    }

    /// A consistent read of the primary, made for a key the session held as `was`, found
    /// `seen`: from now on the key expects that (an unknown outcome settled, or a newer item
    /// another writer put, which the replica must then hold for the key to leave: a read never
    /// goes back to the older one), counted from now, unless another write of the session
    /// changed the key meanwhile. Nothing changes when the primary held what was expected.
    pub fn seen_on_primary(&self, key: &Item, was: &Expect, seen: Expect) {
        self.seen_on_primary_at(key, was, seen, now_ms());
    }

    /// [`Session::seen_on_primary`] at `now_ms`.
    pub fn seen_on_primary_at(&self, key: &Item, was: &Expect, seen: Expect, now_ms: u64) {
        if seen == *was {
            return;
        }
        let limits = self.limits;
        let mut inner = self.lock();
        let id = canonical(key);
        match inner.entries.get(&id) {
            Some(entry) if entry.expect == *was => {
                let key = entry.key.clone();
                inner.insert(key, seen, now_ms, &limits);
                inner.revision += 1;
            }
            _ => {}
        }
    }

    /// The keys held now (key attributes), oldest write first.
    pub fn held_keys(&self) -> Vec<Item> {
        self.held().into_iter().map(|h| h.key).collect()
    }

    /// Every key held now, oldest write first (as [`Session::restore`] takes them).
    pub fn held(&self) -> Vec<Held> {
        self.held_at(now_ms())
    }

    /// [`Session::held`] at `now_ms`.
    pub fn held_at(&self, now_ms: u64) -> Vec<Held> {
        let limits = self.limits;
        let mut inner = self.lock();
        inner.prune(now_ms, &limits);
        let inner = &*inner;
        inner
            .order
            .values()
            .filter_map(|id| inner.entries.get(id))
            .map(|e| Held {
                key: e.key.clone(),
                expect: e.expect,
                at_ms: e.at_ms,
            })
            .collect()
    }

    /// How many keys the session holds (some may be past `max_age`, dropped at the next use).
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// What became of the keys it no longer holds.
    pub fn forgotten(&self) -> Forgotten {
        self.lock().forgotten
    }

    /// A number that changes whenever the session does (to tell whether to save it).
    pub fn revision(&self) -> u64 {
        self.lock().revision
    }
}

impl Inner {
    fn insert(&mut self, key: Item, expect: Expect, at_ms: u64, limits: &Limits) {
        let id = canonical(&key);
        self.remove(&id);
        let at_ms = at_ms.max(self.last_ms);
        self.last_ms = at_ms;
        let seq = self.next;
        self.next += 1;
        self.order.insert(seq, id.clone());
        self.entries.insert(
            id,
            Entry {
                key,
                expect,
                at_ms,
                seq,
            },
        );
        while self.entries.len() > limits.max_keys {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            self.entries.remove(&oldest);
            self.forgotten.over_bound += 1;
        }
    }

    fn remove(&mut self, id: &[u8]) {
        if let Some(entry) = self.entries.remove(id) {
            self.order.remove(&entry.seq);
        }
    }

    /// Drops the keys written more than `max_age` before `now_ms` (oldest first).
    fn prune(&mut self, now_ms: u64, limits: &Limits) {
        let max_age = limits.max_age_ms();
        while let Some((&seq, id)) = self.order.first_key_value() {
            let old = self
                .entries
                .get(id)
                .is_none_or(|e| now_ms.saturating_sub(e.at_ms) > max_age);
            if !old {
                break;
            }
            if let Some(id) = self.order.remove(&seq) {
                self.entries.remove(&id);
                self.forgotten.aged += 1;
                self.revision += 1;
            }
        }
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
