//! For the targets' tests: one set of servers shared by the tests of a binary that run at the
//! same time, and an oracle for "each target holds what its rule makes of its primary", which
//! shares no code with what it judges: the primary and the target are read whole with plain
//! consistent scans ([`oracle::scan`]), the rule is the test's own closure over each primary
//! item, and the two are compared key by key, normalized.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, Weak};

use aws_sdk_dynamodb::Client;

use super::oracle::{self, Key, Normal};
use super::{Item, Server};

/// A primary dynalite, a replica dynalite (the targets' tables) and kinesalite.
pub struct Servers {
    pub primary: Server,
    pub replica: Server,
    pub kinesis: Server,
}

static SHARED: Mutex<Weak<Servers>> = Mutex::new(Weak::new());

/// The servers of the tests running now, started by the first of them; they stop when the last
/// test holding them ends (a test that runs alone starts its own).
pub fn servers() -> Arc<Servers> {
    let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(servers) = shared.upgrade() {
        return servers;
    }
    let servers = Arc::new(Servers {
        primary: Server::dynalite(),
        replica: Server::dynalite(),
        kinesis: Server::kinesalite(),
    });
    *shared = Arc::downgrade(&servers);
    servers
}

/// What a target should hold for one primary item: `None`, not there; else the item, shaped.
pub type Rule<'a> = &'a dyn Fn(&Item) -> Option<Item>;

/// What the rule makes of every item of the primary (a plain consistent scan), by key.
pub async fn expected(primary: (&Client, &str), rule: Rule<'_>) -> BTreeMap<Key, Normal> {
    let names = oracle::key_names(primary.0, primary.1).await;
    let mut shaped = BTreeMap::new();
    let mut start = None;
    loop {
        let page = primary
            .0
            .scan()
            .table_name(primary.1)
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap_or_else(|e| panic!("oracle: Scan {}: {e:?}", primary.1));
        for item in page.items() {
            if let Some(kept) = rule(item) {
                shaped.insert(Key::of(&names, item), oracle::item(&kept));
            }
        }
        match page.last_evaluated_key {
            Some(last) if !last.is_empty() => start = Some(last),
            _ => return shaped,
        }
    }
}

/// The keys on which the target does not hold what the rule makes of the primary: missing,
/// extra, or different.
pub async fn disagreeing(
    primary: (&Client, &str),
    target: (&Client, &str),
    rule: Rule<'_>,
) -> BTreeSet<Key> {
    let want = expected(primary, rule).await;
    let names = oracle::key_names(target.0, target.1).await;
    let have = oracle::scan(target.0, target.1, &names).await;
    let keys: BTreeSet<&Key> = want.keys().chain(have.keys()).collect();
    keys.into_iter()
        .filter(|key| want.get(*key) != have.get(*key))
        .cloned()
        .collect()
}

/// Asserts that the target holds exactly what the rule makes of the primary, `items` items.
pub async fn assert_target(
    primary: (&Client, &str),
    target: (&Client, &str),
    rule: Rule<'_>,
    items: usize,
) {
    let differ = disagreeing(primary, target, rule).await;
    let shown: Vec<String> = differ.iter().take(5).map(ToString::to_string).collect();
    assert!(
        differ.is_empty(),
        "target table {} differs from its rule over {} on {} keys: {}",
        target.1,
        primary.1,
        differ.len(),
        shown.join("; ")
    );
    let names = oracle::key_names(target.0, target.1).await;
    let held = oracle::scan(target.0, target.1, &names).await.len();
    assert_eq!(
        held, items,
        "target table {} holds {held} items, not {items}",
        target.1
    );
}
