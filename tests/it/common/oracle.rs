//! An oracle for "the replica equals the primary" that shares no code with what the tests judge
//! (`dyno::ops::diff`, `dyno::aws::key`, `dyno::ops::scan`): both tables are read whole with plain, paginated
//! consistent `Scan`s of the AWS SDK, every item is normalized on its own terms — set members as
//! sorted sets, numbers as decimal values ("1.0" = "1" = "1e0"), binary as bytes, lists and maps
//! recursively — and the two are compared key by key (the key attributes named by
//! `DescribeTable`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use bigdecimal::BigDecimal;
use bigdecimal::num_bigint::BigInt;

/// A DynamoDB number as a value: the digits and the scale of its normalized decimal, so every
/// spelling of one number is one `Number`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Number {
    Decimal(BigInt, i64),
    /// Not a number at all (never written by DynamoDB): kept as spelled.
    Unparsed(String),
}

impl Number {
    pub fn parse(text: &str) -> Number {
        match BigDecimal::from_str(text.trim()) {
            Ok(n) => {
                let (digits, scale) = n.normalized().as_bigint_and_exponent();
                if digits == BigInt::from(0) {
                    Number::Decimal(digits, 0)
                } else {
                    Number::Decimal(digits, scale)
                }
            }
            Err(_) => Number::Unparsed(text.to_owned()),
        }
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Number::Decimal(digits, scale) => {
                write!(f, "{}", BigDecimal::new(digits.clone(), *scale))
            }
            Number::Unparsed(text) => write!(f, "{text}?"),
        }
    }
}

/// An attribute value, normalized.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Value {
    S(String),
    N(Number),
    B(Vec<u8>),
    Ss(BTreeSet<String>),
    Ns(BTreeSet<Number>),
    Bs(BTreeSet<Vec<u8>>),
    M(BTreeMap<String, Value>),
    L(Vec<Value>),
    Null(bool),
    Bool(bool),
    /// A type this SDK does not know.
    Other(String),
}

impl Value {
    pub fn of(value: &AttributeValue) -> Value {
        match value {
            AttributeValue::S(s) => Value::S(s.clone()),
            AttributeValue::N(n) => Value::N(Number::parse(n)),
            AttributeValue::B(b) => Value::B(b.as_ref().to_vec()),
            AttributeValue::Ss(v) => Value::Ss(v.iter().cloned().collect()),
            AttributeValue::Ns(v) => Value::Ns(v.iter().map(|n| Number::parse(n)).collect()),
            AttributeValue::Bs(v) => Value::Bs(v.iter().map(|b| b.as_ref().to_vec()).collect()),
            AttributeValue::M(m) => Value::M(item(m)),
            AttributeValue::L(l) => Value::L(l.iter().map(Value::of).collect()),
            AttributeValue::Null(n) => Value::Null(*n),
            AttributeValue::Bool(b) => Value::Bool(*b),
            other => Value::Other(format!("{other:?}")),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        match self {
            Value::S(s) => write!(f, "S:{s:?}"),
            Value::N(n) => write!(f, "N:{n}"),
            Value::B(b) => write!(f, "B:{}", bytes(b)),
            other => write!(f, "{other:?}"),
        }
    }
}

/// An item, normalized.
pub type Normal = BTreeMap<String, Value>;

/// Normalizes an item.
pub fn item(attributes: &std::collections::HashMap<String, AttributeValue>) -> Normal {
    attributes
        .iter()
        .map(|(name, value)| (name.clone(), Value::of(value)))
        .collect()
}

/// A key: its attributes' normalized values, in key-schema order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key(pub Vec<(String, Value)>);

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|(n, v)| format!("{n}={v}")).collect();
        write!(f, "{}", parts.join(","))
    }
}

impl Key {
    /// The key of an item (or of a key's attributes), given the key attributes' names.
    pub fn of(
        names: &[String],
        attributes: &std::collections::HashMap<String, AttributeValue>,
    ) -> Key {
        Key(names
            .iter()
            .map(|name| {
                let value = attributes
                    .get(name)
                    .unwrap_or_else(|| panic!("an item without its key attribute `{name}`"));
                (name.clone(), Value::of(value))
            })
            .collect())
    }
}

/// How a key differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// On the primary only.
    Missing,
    /// On the replica only.
    Extra,
    /// On both, with other contents.
    Different,
}

/// What the oracle found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub primary_items: usize,
    pub replica_items: usize,
    /// Keys on both sides with equal items.
    pub equal: usize,
    pub missing: Vec<Key>,
    pub extra: Vec<Key>,
    pub different: Vec<Key>,
}

impl Report {
    pub fn differences(&self) -> usize {
        self.missing.len() + self.extra.len() + self.different.len()
    }

    /// Every differing key with its kind, sorted.
    pub fn kinds(&self) -> BTreeMap<Key, Kind> {
        let mut all = BTreeMap::new();
        for (keys, kind) in [
            (&self.missing, Kind::Missing),
            (&self.extra, Kind::Extra),
            (&self.different, Kind::Different),
        ] {
            for key in keys {
                all.insert(key.clone(), kind);
            }
        }
        all
    }

    /// The first few differing keys of each kind, for a message.
    pub fn first_differences(&self, few: usize) -> String {
        let list = |keys: &[Key]| {
            let shown: Vec<String> = keys.iter().take(few).map(ToString::to_string).collect();
            let more = keys.len().saturating_sub(few);
            match more {
                0 => shown.join("; "),
                n => format!("{} (and {n} more)", shown.join("; ")),
            }
        };
        format!(
            "{} missing [{}], {} extra [{}], {} different [{}] ({} primary items, {} replica \
             items, {} equal)",
            self.missing.len(),
            list(&self.missing),
            self.extra.len(),
            list(&self.extra),
            self.different.len(),
            list(&self.different),
            self.primary_items,
            self.replica_items,
            self.equal
        )
    }
}

/// The names of a table's key attributes (partition key first), from `DescribeTable`.
pub async fn key_names(client: &Client, table: &str) -> Vec<String> {
    let described = client
        .describe_table()
        .table_name(table)
        .send()
        .await
        .unwrap_or_else(|e| panic!("oracle: DescribeTable {table}: {e:?}"));
    let mut schema: Vec<(bool, String)> = described
        .table()
        .map(|t| t.key_schema().to_vec())
        .unwrap_or_default()
        .into_iter()
        .map(|k| {
            let range = k.key_type() == &aws_sdk_dynamodb::types::KeyType::Range;
            (range, k.attribute_name().to_owned())
        })
        .collect();
    schema.sort();
    assert!(!schema.is_empty(), "oracle: {table} has no key schema");
    schema.into_iter().map(|(_, name)| name).collect()
}

/// The oracle waits for its answers longer than the code under test does: a busy moto takes
/// seconds for a page of a 10,000-item table, and a slow oracle is no finding.
fn patient() -> aws_sdk_dynamodb::config::Builder {
    let timeouts = aws_smithy_types::timeout::TimeoutConfig::builder()
        .operation_attempt_timeout(std::time::Duration::from_secs(60))
        .operation_timeout(std::time::Duration::from_secs(120))
        .build();
    aws_sdk_dynamodb::config::Builder::new().timeout_config(timeouts)
}

/// Every item of a table (consistent `Scan`, every page), normalized, by key.
pub async fn scan(client: &Client, table: &str, names: &[String]) -> BTreeMap<Key, Normal> {
    let mut items = BTreeMap::new();
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(table)
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .customize()
            .config_override(patient())
            .send()
            .await
            .unwrap_or_else(|e| panic!("oracle: Scan {table}: {e:?}"));
        for found in page.items() {
            let key = Key::of(names, found);
            let normal = item(found);
            if items.insert(key.clone(), normal).is_some() {
                panic!("oracle: Scan of {table} returned {key} twice");
            }
        }
        match page.last_evaluated_key {
            Some(last) if !last.is_empty() => start = Some(last),
            _ => return items,
        }
    }
}

/// Compares two tables item by item.
pub async fn compare(primary: (&Client, &str), replica: (&Client, &str)) -> Report {
    let names = key_names(primary.0, primary.1).await;
    let replica_names = key_names(replica.0, replica.1).await;
    assert_eq!(
        names, replica_names,
        "oracle: the tables have other key attributes"
    );
    let (ours, theirs) = tokio::join!(
        scan(primary.0, primary.1, &names),
        scan(replica.0, replica.1, &names)
    );
    let mut report = Report {
        primary_items: ours.len(),
        replica_items: theirs.len(),
        ..Report::default()
    };
    for (key, original) in &ours {
        match theirs.get(key) {
            None => report.missing.push(key.clone()),
            Some(copy) if copy != original => report.different.push(key.clone()),
            Some(_) => report.equal += 1,
        }
    }
    report.extra = theirs
        .keys()
        .filter(|key| !ours.contains_key(key))
        .cloned()
        .collect();
    report
}

/// Asserts that the replica holds exactly the primary's items; returns how many (on each side).
pub async fn assert_equal(primary: (&Client, &str), replica: (&Client, &str)) -> usize {
    let report = compare(primary, replica).await;
    assert!(
        report.differences() == 0,
        "the replica {} differs from the primary {}: {}",
        replica.1,
        primary.1,
        report.first_differences(5)
    );
    assert_eq!(report.primary_items, report.replica_items);
    assert_eq!(report.equal, report.primary_items);
    report.primary_items
}

/// [`assert_equal`] for two `dyno` tables (only their clients and names are used).
pub async fn assert_tables(
    primary: &dyno::aws::table::Table,
    replica: &dyno::aws::table::Table,
) -> usize {
    assert_equal(
        (&primary.client, &primary.name),
        (&replica.client, &replica.name),
    )
    .await
}

/// Asserts the tables are equal and hold exactly `items` items each.
pub async fn assert_equal_items(primary: (&Client, &str), replica: (&Client, &str), items: usize) {
    let found = assert_equal(primary, replica).await;
    assert_eq!(
        found, items,
        "the primary {} and the replica {} hold {found} items each, not {items}",
        primary.1, replica.1
    );
}

/// Every key of a table (consistent `Scan`, every page), normalized: to compare with the exact
/// set of keys a test expects (built with [`Key::of`] from the items it wrote).
pub async fn keys(client: &Client, table: &str) -> BTreeSet<Key> {
    let names = key_names(client, table).await;
    scan(client, table, &names).await.into_keys().collect()
}

/// The keys a table holds after `workloads` were applied to it, one after the other, each
/// whole before the next (as `dyno::local::workload::apply` does). Within a workload the
/// operations run concurrently, so the order of two operations on one key is not known: a key
/// whose last workload that touched it only wrote it (puts, updates) is `there`, one it only
/// deleted is not, and one it both wrote and deleted may or may not be (`maybe`).
#[derive(Debug, Default)]
pub struct WorkloadKeys {
    pub there: BTreeSet<Key>,
    pub maybe: BTreeSet<Key>,
}

impl WorkloadKeys {
    pub fn of(workloads: &[Vec<dyno::local::workload::Op>]) -> WorkloadKeys {
        use dyno::local::workload::{HASH, Op, RANGE};
        let names = [HASH.to_owned(), RANGE.to_owned()];
        // Some(true): there; Some(false): gone; None: either.
        let mut state: BTreeMap<Key, Option<bool>> = BTreeMap::new();
        for ops in workloads {
            // Per key: written, deleted.
            let mut touched: BTreeMap<Key, (bool, bool)> = BTreeMap::new();
            for op in ops {
                let (attributes, wrote) = match op {
                    Op::Put(item) => (item, true),
                    Op::Update { key, .. } => (key, true),
                    Op::Delete(key) => (key, false),
                };
                let seen = touched.entry(Key::of(&names, attributes)).or_default();
                if wrote {
                    seen.0 = true;
                } else {
                    seen.1 = true;
                }
            }
            for (key, seen) in touched {
                let now = match seen {
                    (true, false) => Some(true),
                    (false, true) => Some(false),
                    _ => None,
                };
                state.insert(key, now);
            }
        }
        let mut keys = WorkloadKeys::default();
        for (key, now) in state {
            match now {
                Some(true) => keys.there.insert(key),
                None => keys.maybe.insert(key),
                Some(false) => false,
            };
        }
        keys
    }

    /// How many items that is: from the keys surely there to those that may be.
    pub fn items(&self) -> std::ops::RangeInclusive<usize> {
        self.there.len()..=self.there.len() + self.maybe.len()
    }

    /// Asserts (a plain scan) that `table` holds every key surely there, and no key but those
    /// and the ones in doubt; returns how many items it holds.
    pub async fn assert_on(&self, client: &Client, table: &str) -> usize {
        let found = keys(client, table).await;
        let lost: Vec<&Key> = self.there.difference(&found).collect();
        let stray: Vec<&Key> = found
            .iter()
            .filter(|k| !self.there.contains(*k) && !self.maybe.contains(*k))
            .collect();
        assert!(
            lost.is_empty() && stray.is_empty(),
            "{table}: keys written and never deleted are missing: {lost:?}; keys deleted and \
             not written again are there: {stray:?}"
        );
        assert!(self.items().contains(&found.len()));
        found.len()
    }
}
