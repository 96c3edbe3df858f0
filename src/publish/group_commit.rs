//! Group commit of key records: concurrent writers share `PutRecords` calls. While one call is in
//! flight, the records of writes that commit meanwhile queue up; the caller that finds no call in
//! flight sends the next one, with everything queued that fits (500 records, 5 MiB, and at most
//! one record per partition key, so that a key's later record never overtakes its earlier one),
//! and each caller learns what became of its own records. A lone write is sent at once. Under
//! load (the call just answered carried several records, and fewer are queued now) the caller
//! about to send first waits `LINGER` for company, so that calls fill up rather than shrink.

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, oneshot};

use crate::aws::limits;
use crate::publish::record::{Entry, PublishFailure};

/// What became of one caller's records: `Err` holds the positions of those not put, and why.
pub type Outcome = Result<(), (Vec<usize>, PublishFailure)>;

/// One record of one caller, as a call carries it.
#[derive(Debug, Clone)]
pub struct Slot {
    job: u64,
    index: usize,
    entries: Arc<[Entry]>,
}

impl Slot {
    pub fn entry(&self) -> &Entry {
        &self.entries[self.index]
    }
}

/// What a call did with its slots.
#[derive(Debug, Default)]
pub struct Sent {
    /// The slots not put (their positions in the call).
    pub undone: Vec<usize>,
    pub failure: Option<PublishFailure>,
}

/// The shared queue of records and who is sending.
#[derive(Debug, Default)]
pub struct Group {
    state: Mutex<Shared>,
    turn: Notify,
}

#[derive(Debug, Default)]
struct Shared {
    jobs: VecDeque<Job>,
    /// A caller is sending a call: the others wait for their turn or their answer.
    leading: bool,
    next_id: u64,
    /// Calls sent, for whoever measures.
    calls: u64,
    last: Option<LastCall>,
}

/// The most a caller about to send waits for company, under load only (tokio's timer has
/// millisecond resolution).
const LINGER: Duration = Duration::from_millis(1);

/// The last call answered: how many records it carried, and when.
#[derive(Debug, Clone, Copy)]
struct LastCall {
    records: usize,
    settled: Instant,
}

/// Whether a caller about to send should first wait (up to `LINGER`) for more records: only
/// under load, that is when the last call carried several records and was answered less than
/// `LINGER` ago, and fewer records are queued now than it carried. A lone write never waits.
fn worth_waiting(last: Option<LastCall>, queued: usize, now: Instant) -> bool {
    last.is_some_and(|last| {
        last.records >= 2
            && queued < last.records
            && now.saturating_duration_since(last.settled) < LINGER
    })
}

#[derive(Debug)]
struct Job {
    id: u64,
    entries: Arc<[Entry]>,
    /// Entries handed to calls so far.
    taken: usize,
    in_flight: usize,
    undone: Vec<usize>,
    failure: Option<PublishFailure>,
    reply: Option<oneshot::Sender<Outcome>>,
}

impl Job {
    fn new(id: u64, entries: Vec<Entry>, reply: Option<oneshot::Sender<Outcome>>) -> Job {
        Job {
            id,
            entries: entries.into(),
            taken: 0,
            in_flight: 0,
            undone: Vec::new(),
            failure: None,
            reply,
        }
    }

    fn finished(&self) -> bool {
        self.taken == self.entries.len() && self.in_flight == 0
    }
}

impl Group {
    /// Calls sent so far.
    pub fn calls(&self) -> u64 {
        self.lock().calls
    }

    /// Queues `entries` and waits until each is put or given up; in the meantime, whenever no
    /// call is in flight, this caller sends the next one (with `send`) for everyone queued.
    pub async fn submit<S, Fut>(&self, entries: Vec<Entry>, send: S) -> Outcome
    where
        S: Fn(Vec<Slot>) -> Fut,
        Fut: Future<Output = Sent>,
    {
        if entries.is_empty() {
            return Ok(());
        }
        let (reply, mut answer) = oneshot::channel();
        {
            let mut shared = self.lock();
            let id = shared.next_id;
            shared.next_id += 1;
            shared.jobs.push_back(Job::new(id, entries, Some(reply)));
        }
        loop {
            let turn = self.turn.notified();
            let mut turn = std::pin::pin!(turn);
            turn.as_mut().enable();
            if let Ok(outcome) = answer.try_recv() {
                return outcome;
            }
            if let Some(lead) = self.lead() {
                lead.send(&send).await;
                continue;
            }
            tokio::select! {
                outcome = &mut answer => {
                    return outcome.unwrap_or(Err((Vec::new(), PublishFailure::Abandoned)));
                }
                () = turn => {}
            }
        }
    }

    /// Takes the lead if nobody has it and records are queued.
    fn lead(&self) -> Option<Lead<'_>> {
        let mut shared = self.lock();
        if shared.leading || queued(&shared.jobs) == 0 {
            return None;
        }
        shared.leading = true;
        Some(Lead {
            group: self,
            slots: Vec::new(),
            done: false,
        })
    }

    /// Under load, too few records are queued yet for the next call.
    fn worth_waiting(&self) -> bool {
        let shared = self.lock();
        worth_waiting(shared.last, queued(&shared.jobs), Instant::now())
    }

    /// The next call's slots, taken by its leader.
    fn take(&self) -> Vec<Slot> {
        let mut shared = self.lock();
        shared.calls += 1;
        take(&mut shared.jobs)
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        // Nothing panics while the lock is held; a poisoned state is still consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records what a call did with `slots`, answers every caller whose records are all
    /// settled, and gives up the lead.
    fn settle(&self, slots: &[Slot], sent: Sent) {
        let mut shared = self.lock();
        let failed: HashSet<usize> = sent.undone.iter().copied().collect();
        for (position, slot) in slots.iter().enumerate() {
            if let Some(job) = shared.jobs.iter_mut().find(|j| j.id == slot.job) {
                job.in_flight -= 1;
                if failed.contains(&position) {
                    job.undone.push(slot.index);
                    job.failure = job.failure.take().or_else(|| sent.failure.clone());
                }
            }
        }
        let mut kept = VecDeque::with_capacity(shared.jobs.len());
        for mut job in std::mem::take(&mut shared.jobs) {
            if !job.finished() {
                kept.push_back(job);
                continue;
            }
            let outcome = match job.failure.take() {
                None => Ok(()),
                Some(failure) => Err((std::mem::take(&mut job.undone), failure)),
            };
            if let Some(reply) = job.reply.take() {
                let _ = reply.send(outcome);
            }
        }
        shared.jobs = kept;
        shared.leading = false;
        if !slots.is_empty() {
            shared.last = Some(LastCall {
                records: slots.len(),
                settled: Instant::now(),
            });
        }
        drop(shared);
        self.turn.notify_waiters();
    }
}

/// The lead of one call: its leader waits for company if that is worth it, then takes the
/// queued records and sends them. Dropped before its answer came (its caller went away), it settles the
/// call's records as abandoned, so that nobody waits for ever.
struct Lead<'a> {
    group: &'a Group,
    slots: Vec<Slot>,
    done: bool,
}

impl Lead<'_> {
    async fn send<S, Fut>(mut self, send: &S)
    where
        S: Fn(Vec<Slot>) -> Fut,
        Fut: Future<Output = Sent>,
    {
        if self.group.worth_waiting() {
            tokio::time::sleep(LINGER).await;
        }
        self.slots = self.group.take();
        if self.slots.is_empty() {
            return; // nothing to send: the drop gives up the lead
        }
        let sent = send(self.slots.clone()).await;
        self.done = true;
        self.group.settle(&self.slots, sent);
    }
}

impl Drop for Lead<'_> {
    fn drop(&mut self) {
        if !self.done {
            let sent = Sent {
                undone: (0..self.slots.len()).collect(),
                failure: Some(PublishFailure::Abandoned),
            };
            self.group.settle(&self.slots, sent);
        }
    }
}

/// Records queued and not yet in a call.
fn queued(jobs: &VecDeque<Job>) -> usize {
    jobs.iter().map(|j| j.entries.len() - j.taken).sum()
}

/// The next call's slots: queued records in order, up to 500 records and 5 MiB, stopping before
/// a second record of one partition key (it goes in a later call, after the first is settled).
fn take(jobs: &mut VecDeque<Job>) -> Vec<Slot> {
    let mut slots = Vec::new();
    let mut bytes = 0;
    let mut keys: HashSet<String> = HashSet::new();
    for job in jobs.iter_mut() {
        while job.taken < job.entries.len() {
            let entry = &job.entries[job.taken];
            let size = entry.size();
            let full = slots.len() == limits::PUT_RECORDS
                || (!slots.is_empty() && bytes + size > limits::PUT_RECORDS_BYTES);
            if full || keys.contains(&entry.partition_key) {
                return slots;
            }
            keys.insert(entry.partition_key.clone());
            bytes += size;
            slots.push(Slot {
                job: job.id,
                index: job.taken,
                entries: job.entries.clone(),
            });
            job.taken += 1;
            job.in_flight += 1;
        }
    }
    slots
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn entry(key: &str, bytes: usize) -> Entry {
        Entry {
            partition_key: key.to_owned(),
            data: vec![b'x'; bytes],
        }
    }

    fn job(id: u64, entries: Vec<Entry>) -> Job {
        Job::new(id, entries, None)
    }

    fn taken(slots: &[Slot]) -> Vec<(u64, usize)> {
        slots.iter().map(|s| (s.job, s.index)).collect()
    }

    #[test]
    fn a_call_takes_queued_records_in_order_up_to_the_limits() {
        let mut jobs = VecDeque::from([
            job(0, vec![entry("a", 10), entry("b", 10)]),
            job(1, vec![entry("c", 10)]),
        ]);
        assert_eq!(taken(&take(&mut jobs)), [(0, 0), (0, 1), (1, 0)]);
        assert!(take(&mut jobs).is_empty());

        let many: Vec<Entry> = (0..600).map(|i| entry(&i.to_string(), 10)).collect();
        let mut jobs = VecDeque::from([job(0, many)]);
        assert_eq!(take(&mut jobs).len(), 500);
        assert_eq!(take(&mut jobs).len(), 100);

        let big = || entry(&fastrand::u64(..).to_string(), 2 * 1024 * 1024);
        let mut jobs = VecDeque::from([job(0, vec![big(), big(), big()])]);
        assert_eq!(take(&mut jobs).len(), 2, "5 MiB a call");
    }

    #[test]
    fn a_keys_second_record_waits_for_the_next_call() {
        let mut jobs = VecDeque::from([
            job(0, vec![entry("hot", 10), entry("a", 10)]),
            job(1, vec![entry("hot", 10), entry("b", 10)]),
        ]);
        assert_eq!(taken(&take(&mut jobs)), [(0, 0), (0, 1)]);
        assert_eq!(taken(&take(&mut jobs)), [(1, 0), (1, 1)]);
    }

    #[test]
    fn only_a_caller_under_load_waits_for_company() {
        let now = Instant::now();
        let just = |records| {
            Some(LastCall {
                records,
                settled: now,
            })
        };
        assert!(!worth_waiting(None, 1, now), "the first write goes at once");
        assert!(!worth_waiting(just(1), 1, now), "after a lone write, too");
        assert!(
            worth_waiting(just(20), 5, now),
            "under load: fewer than the last call"
        );
        assert!(
            !worth_waiting(just(20), 20, now),
            "as many as the last call: go"
        );
        let later = now + LINGER;
        assert!(
            !worth_waiting(just(20), 1, later),
            "the load has passed: go"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_callers_share_calls_and_each_learns_its_own_outcome() {
        let group = Arc::new(Group::default());
        let calls = Arc::new(AtomicUsize::new(0));
        // Every call takes a while; the record of key "bad" always fails.
        let send = |slots: Vec<Slot>| {
            let calls = calls.clone();
            async move {
                calls.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                let undone: Vec<usize> = (0..slots.len())
                    .filter(|&p| slots[p].entry().partition_key == "bad")
                    .collect();
                let failure = (!undone.is_empty()).then_some(PublishFailure::Unanswered);
                Sent { undone, failure }
            }
        };
        let callers = (0..64).map(|i| {
            let group = group.clone();
            let key = if i == 7 {
                "bad".to_owned()
            } else {
                format!("k{i}")
            };
            async move { (i, group.submit(vec![entry(&key, 100)], send).await) }
        });
        let outcomes = futures::future::join_all(callers).await;
        for (i, outcome) in outcomes {
            match i {
                7 => assert!(matches!(outcome, Err((ref undone, _)) if undone == &[0])),
                _ => assert!(outcome.is_ok(), "{i}: {outcome:?}"),
            }
        }
        let made = calls.load(Ordering::SeqCst);
        assert!(made < 16, "64 writes made {made} calls");
        assert_eq!(group.calls() as usize, made);
        // A lone write goes at once, in a call of its own.
        let started = std::time::Instant::now();
        assert!(group.submit(vec![entry("alone", 1)], send).await.is_ok());
        assert!(started.elapsed() < std::time::Duration::from_millis(500));
    }

    #[tokio::test]
    async fn a_caller_that_goes_away_mid_call_does_not_stall_the_others() {
        let group = Group::default();
        let never = |_slots: Vec<Slot>| std::future::pending::<Sent>();
        // The leader is cancelled while its call is in flight.
        let lead = group.submit(vec![entry("a", 1)], never);
        let _ = tokio::time::timeout(std::time::Duration::from_millis(20), lead).await;
        assert!(!group.lock().leading, "the lead was given up");
        let quick = |slots: Vec<Slot>| async move {
            let _ = slots;
            Sent::default()
        };
        assert!(group.submit(vec![entry("b", 1)], quick).await.is_ok());
    }
}
