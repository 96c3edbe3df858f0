//! Which table served a read, and why; and the counts of both, which a caller can read at any
//! time (`--explain` prints each read's).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// The table a read went to, and the one whose answer it returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// The read table (the replica in this region).
    Replica,
    /// The primary (a consistent read, except on a global secondary index).
    Primary,
}

/// Why a read was served where it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Why {
    /// The caller chose the table; no session was asked.
    Asked,
    /// In a session that holds no record of the key (never written, caught up, aged out, or
    /// forgotten over the bound): a plain local read.
    NotHeld,
    /// The replica holds what the session wrote: it has caught up, and the key left the session.
    CaughtUp,
    /// The replica does not hold the session's write of the key yet.
    NotCaughtUp,
    /// The session's write of the key has an unknown outcome: the primary decides.
    UnknownWrite,
    /// The session deleted the key (or last saw it absent on the primary): the replica's absence
    /// cannot show that it caught up, so the primary answers until the key ages out.
    Deleted,
    /// A query whose range may hold a key the session wrote and the replica may not have yet.
    QueryRange,
    /// A query whose range holds no key the session holds (any it held there were checked on the
    /// replica and found caught up).
    QueryClear,
}

impl Why {
    const ALL: [Why; 8] = [
        Why::Asked,
        Why::NotHeld,
        Why::CaughtUp,
        Why::NotCaughtUp,
        Why::UnknownWrite,
        Why::Deleted,
        Why::QueryRange,
        Why::QueryClear,
    ];

    fn index(self) -> usize {
        Why::ALL.iter().position(|w| *w == self).unwrap_or(0)
    }

    /// A short name, for counters and logs.
    pub fn name(self) -> &'static str {
        match self {
            Why::Asked => "asked",
            Why::NotHeld => "not_held",
            Why::CaughtUp => "caught_up",
            Why::NotCaughtUp => "not_caught_up",
            Why::UnknownWrite => "unknown_write",
            Why::Deleted => "deleted",
            Why::QueryRange => "query_range",
            Why::QueryClear => "query_clear",
        }
    }
}

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Why::Asked => "the table asked for",
            Why::NotHeld => {
                "the session holds no record of this key (never written, caught up, aged out, or \
                 forgotten over the bound)"
            }
            Why::CaughtUp => {
                "the replica holds this session's write: it has caught up, and the key left the \
                 session"
            }
            Why::NotCaughtUp => {
                "the replica has not caught up with this session's write (or a newer one the \
                 session saw on the primary)"
            }
            Why::UnknownWrite => "this session's write has an unknown outcome",
            Why::Deleted => {
                "this session deleted the key: the replica's absence cannot show the delete \
                 caught up, so the primary answers until the session's max age has passed"
            }
            Why::QueryRange => "the query's range may hold a key this session wrote",
            Why::QueryClear => "the query's range holds no key this session still holds",
        })
    }
}

/// Where one read was served, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Served {
    pub from: Source,
    pub why: Why,
}

impl fmt::Display for Served {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let table = match self.from {
            Source::Replica => "the replica",
            Source::Primary => "the primary",
        };
        write!(f, "served by {table}: {}", self.why)
    }
}

/// Reads served, by table and by reason (shared by clones of a client; lock-free).
#[derive(Debug, Default)]
pub struct Counters {
    replica: AtomicU64,
    primary: AtomicU64,
    why: [AtomicU64; 8],
}

/// The counts at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Reads whose answer came from the replica.
    pub replica: u64,
    /// Reads whose answer came from the primary.
    pub primary: u64,
    pub asked: u64,
    pub not_held: u64,
    pub caught_up: u64,
    pub not_caught_up: u64,
    pub unknown_write: u64,
    pub deleted: u64,
    pub query_range: u64,
    pub query_clear: u64,
}

impl Counts {
    /// Reads in all.
    pub fn reads(&self) -> u64 {
        self.replica + self.primary
    }

    /// The share of reads served by the replica (0 when there were none).
    pub fn local_fraction(&self) -> f64 {
        match self.reads() {
            0 => 0.0,
            reads => self.replica as f64 / reads as f64,
        }
    }

    /// What happened between `earlier` and these counts.
    pub fn since(&self, earlier: &Counts) -> Counts {
        Counts {
            replica: self.replica - earlier.replica,
            primary: self.primary - earlier.primary,
            asked: self.asked - earlier.asked,
            not_held: self.not_held - earlier.not_held,
            caught_up: self.caught_up - earlier.caught_up,
            not_caught_up: self.not_caught_up - earlier.not_caught_up,
            unknown_write: self.unknown_write - earlier.unknown_write,
            deleted: self.deleted - earlier.deleted,
            query_range: self.query_range - earlier.query_range,
            query_clear: self.query_clear - earlier.query_clear,
        }
    }
}

impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} reads served by the replica, {} by the primary (asked {}, not held {}, caught up \
             {}, not caught up {}, unknown write {}, deleted {}, query range {}, query clear {})",
            self.replica,
            self.primary,
            self.asked,
            self.not_held,
            self.caught_up,
            self.not_caught_up,
            self.unknown_write,
            self.deleted,
            self.query_range,
            self.query_clear
        )
    }
}

impl Counters {
    /// Counts one read.
    pub fn count(&self, served: Served) {
        let table = match served.from {
            Source::Replica => &self.replica,
            Source::Primary => &self.primary,
        };
        table.fetch_add(1, Ordering::Relaxed);
        self.why[served.why.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// The counts now.
    pub fn counts(&self) -> Counts {
        let why = |w: Why| self.why[w.index()].load(Ordering::Relaxed);
        Counts {
            replica: self.replica.load(Ordering::Relaxed),
            primary: self.primary.load(Ordering::Relaxed),
            asked: why(Why::Asked),
            not_held: why(Why::NotHeld),
            caught_up: why(Why::CaughtUp),
            not_caught_up: why(Why::NotCaughtUp),
            unknown_write: why(Why::UnknownWrite),
            deleted: why(Why::Deleted),
            query_range: why(Why::QueryRange),
            query_clear: why(Why::QueryClear),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_read_is_counted_by_table_and_reason() {
        let counters = Counters::default();
        for why in Why::ALL {
            counters.count(Served {
                from: Source::Replica,
                why,
            });
        }
        counters.count(Served {
            from: Source::Primary,
            why: Why::NotCaughtUp,
        });
        let counts = counters.counts();
        assert_eq!((counts.replica, counts.primary), (8, 1));
        assert_eq!(counts.not_caught_up, 2);
        let reasons = [
            counts.asked,
            counts.not_held,
            counts.caught_up,
            counts.unknown_write,
            counts.deleted,
            counts.query_range,
            counts.query_clear,
        ];
        assert_eq!(reasons, [1; 7]);
        assert!((counts.local_fraction() - 8.0 / 9.0).abs() < 1e-9);
        assert_eq!(counts.since(&counts), Counts::default());
        let names: std::collections::HashSet<&str> = Why::ALL.iter().map(|w| w.name()).collect();
        assert_eq!(names.len(), Why::ALL.len());
    }
}
