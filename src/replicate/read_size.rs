//! How many keys a read asks for: a rule of its own, so that a server that answers only part of
//! each read does not make the engine read the same items again and again.

use crate::aws::limits;

/// How many keys a read asks for. When the server answers only part of a read (a response size
/// limit, or throttling), every worker's next read asks for as many as it answered, so items are
/// not read again and again only to be cut; after a read answered in full the size grows by a
/// quarter, but never back to a size the server has cut in this batch.
#[derive(Debug)]
pub(crate) struct ReadSize {
    pub(crate) ask: usize,
    /// The smallest read the server cut (one more than the most it may answer whole).
    cut: usize,
}

impl Default for ReadSize {
    fn default() -> Self {
        ReadSize {
            ask: limits::READ_KEYS,
            cut: limits::READ_KEYS + 1,
        }
    }
}

impl ReadSize {
    pub(crate) fn answered(&mut self, asked: usize, done: usize, unprocessed: usize) {
        if unprocessed > 0 {
            if done > 0 {
                self.cut = self.cut.min(asked);
                self.ask = done.min(self.cut.saturating_sub(1)).max(1);
            }
        } else if asked >= self.ask {
            let grown = self.ask + (self.ask / 4).max(1);
            self.ask = grown
                .min(self.cut.saturating_sub(1))
                .clamp(1, limits::READ_KEYS);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers reads like a server that returns at most `limit` keys whole.
    fn converge(limit: usize, reads: usize) -> Vec<usize> {
        let mut size = ReadSize::default();
        (0..reads)
            .map(|_| {
                let asked = size.ask;
                let done = asked.min(limit);
                size.answered(asked, done, asked - done);
                asked
            })
            .collect()
    }

    #[test]
    fn read_size_settles_below_the_servers_cut() {
        let asks = converge(22, 16);
        assert_eq!(asks[..3], [100, 22, 27]);
        // It probes upwards a few times, then stays at what the server answers whole.
        assert!(asks[11..].iter().all(|&a| a == 22), "{asks:?}");
        assert_eq!(converge(1000, 3), [100, 100, 100]);
    }

    #[test]
    fn read_size_grows_back_after_a_partial_answer() {
        let mut size = ReadSize::default();
        size.answered(100, 10, 90);
        assert_eq!(size.ask, 10);
        for _ in 0..20 {
            let asked = size.ask;
            size.answered(asked, asked, 0);
        }
        assert_eq!(size.ask, 99, "never back to the size that was cut");
        // A stall (nothing answered) changes nothing; a short tail does not grow it.
        size.answered(99, 0, 99);
        size.answered(5, 5, 0);
        assert_eq!(size.ask, 99);
    }
}
