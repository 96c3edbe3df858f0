//! The distinct keys of one run, handed to the engine's workers while decoding still finds
//! them.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

use crate::aws::key::Key;

/// The distinct keys of one run, handed to the engine while they are still being found: the
/// caller pushes keys (each with a number of its choosing) and then closes the queue. Workers
/// take keys as soon as there are enough for a full read, so reading starts long before the last
/// record of a batch is decoded.
#[derive(Debug, Default)]
pub struct KeyQueue {
    state: Mutex<Queued>,
    more: Notify,
}

#[derive(Debug, Default)]
struct Queued {
    keys: VecDeque<(usize, Key)>,
    closed: bool,
}

impl KeyQueue {
    /// A closed queue of `keys`, numbered from 0 in order.
    pub fn of(keys: impl IntoIterator<Item = Key>) -> Self {
        let queue = KeyQueue::default();
        queue.push(keys.into_iter().enumerate());
        queue.close();
        queue
    }

    /// Adds keys (which must be distinct from every key already pushed).
    pub fn push(&self, keys: impl IntoIterator<Item = (usize, Key)>) {
        self.lock().keys.extend(keys);
        self.more.notify_waiters();
    }

    /// No more keys will come: workers take what is left, however few.
    pub fn close(&self) {
        self.lock().closed = true;
        self.more.notify_waiters();
    }

    /// Moves `n` keys into `into`, waiting while fewer are queued and more may come; after the
    /// queue is closed, moves what is left.
    pub(crate) async fn take(&self, n: usize, into: &mut Vec<(usize, Key)>) {
        loop {
            let more = self.more.notified();
            let mut more = std::pin::pin!(more);
            more.as_mut().enable();
            {
                let mut queued = self.lock();
                if queued.keys.len() >= n || queued.closed {
                    let n = n.min(queued.keys.len());
                    into.extend(queued.keys.drain(..n));
                    return;
                }
            }
            more.await;
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queued> {
        // Nothing panics while the lock is held; a poisoned queue is still consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::key::{KeySchema, ScalarType};
    use crate::aws::limits;
    use aws_sdk_dynamodb::types::AttributeValue;
    use std::collections::HashMap;

    fn key(n: usize) -> Key {
        let id = AttributeValue::N(n.to_string());
        KeySchema::hash_only("id", ScalarType::N)
            .key(HashMap::from([("id".to_owned(), id)]))
            .expect("a number key")
    }

    fn numbers(keys: &[(usize, Key)]) -> Vec<usize> {
        keys.iter().map(|(i, _)| *i).collect()
    }

    #[tokio::test]
    async fn workers_wait_for_a_full_read_until_the_queue_closes() {
        let queue = KeyQueue::default();
        queue.push((0..2).map(|i| (i, key(i))));
        let mut got = Vec::new();
        {
            // Two keys queued, three wanted, more to come: the worker waits.
            let mut take = std::pin::pin!(queue.take(3, &mut got));
            assert!(futures::poll!(take.as_mut()).is_pending());
            queue.push((2..4).map(|i| (i, key(i))));
            take.await;
        }
        assert_eq!(numbers(&got), [0, 1, 2]);

        let mut rest = Vec::new();
        {
            let mut take = std::pin::pin!(queue.take(3, &mut rest));
            assert!(futures::poll!(take.as_mut()).is_pending());
            // Closed: what is left, however few.
            queue.close();
            take.await;
        }
        assert_eq!(numbers(&rest), [3]);
        let mut none = Vec::new();
        queue.take(3, &mut none).await;
        assert!(none.is_empty());
        let closed = KeyQueue::of([key(7), key(8)]);
        let mut all = Vec::new();
        closed.take(limits::READ_KEYS, &mut all).await;
        assert_eq!(numbers(&all), [0, 1]);
    }
}
