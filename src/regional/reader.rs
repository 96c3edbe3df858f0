//! Reads in the second region: from the read table (the local replica) unless asked for the
//! primary, and in a session, from the primary whenever the replica may not hold what the
//! session wrote. Every read is a consistent read of the table it goes to (a global secondary
//! index cannot be read consistently, on either table), so a key that left a session never
//! reads older afterwards; each is counted once it succeeded (see [`Counters`]). Queries are in
//! [`queries`].

use std::sync::Arc;

use futures::stream::BoxStream;

use crate::aws::error::AwsError;
use crate::aws::identity::{Identity, Sameness};
use crate::aws::json::Item;
use crate::aws::key::{KeyError, KeySchema};
use crate::aws::table::{PairError, Table, TableError, two_tables};
use crate::regional::query::Indexes;
use crate::regional::served::{Counters, Counts, Served, Source, Why};
use crate::regional::session::{Expect, Limits, Session};

#[path = "reader_queries.rs"]
pub mod queries;

/// Where a read goes when no session decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadFrom {
    Replica,
    Primary,
}

/// A read that could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The two tables cannot be a primary and its replica (one table, other key schemas).
    #[error(transparent)]
    Pair(#[from] PairError),
    /// A call failed (the table is named by its setting).
    #[error(transparent)]
    Table(#[from] TableError),
    #[error("the key does not fit table `{table}`: {source}")]
    Key {
        table: String,
        #[source]
        source: KeyError,
    },
    #[error("{table} has no index `{index}` (its indexes: {known})")]
    NoIndex {
        table: String,
        index: String,
        known: String,
    },
    #[error(
        "the session belongs to table {session}, not {table}: keep one session per primary table"
    )]
    OtherSession { session: String, table: String },
    #[error("{table}: this reader reads the primary only; connect it with a replica to read one")]
    NoReplica { table: String },
}

/// One item read (or none), and where it was served.
#[derive(Debug, Clone, PartialEq)]
pub struct Read {
    pub item: Option<Item>,
    pub served: Served,
}

/// Pages of a query's items.
pub type Pages<'a> = BoxStream<'a, Result<Vec<Item>, ReadError>>;

/// Reads the read table (the replica) and the primary.
#[derive(Debug, Clone)]
pub struct Reader {
    primary: Table,
    /// The primary's identity, as `DescribeTable` gave it when connecting.
    identity: Identity,
    read: Table,
    schema: KeySchema,
    indexes: Indexes,
    counters: Arc<Counters>,
    /// False for a reader of the primary only.
    replica: bool,
}

impl Reader {
    /// Describes both tables: refuses a read table that DynamoDB says is the primary (or cannot
    /// tell), or whose key schema differs; learns the read table's indexes.
    pub async fn connect(primary: Table, read: Table) -> Result<Reader, ReadError> {
        let (ours, theirs) = futures::try_join!(primary.describe(), read.describe())?;
        two_tables(
            (&primary.label(), &Identity::of(&ours)),
            (&read.label(), &Identity::of(&theirs)),
        )?;
        let schema = primary.schema_of(&ours)?;
        let found = read.schema_of(&theirs)?;
        if schema != found {
            return Err(PairError::Mismatch {
                replica: read.label(),
                expected: Box::new(schema),
                found: Box::new(found),
            }
            .into());
        }
        Ok(Reader {
            identity: Identity::of(&ours),
            primary,
            read,
            schema,
            indexes: Indexes::of(&theirs),
            counters: Arc::default(),
            replica: true,
        })
    }

    /// A reader of the primary alone (no replica to reach): every read must ask for the
    /// primary, and no session can be read.
    pub async fn primary_only(primary: Table) -> Result<Reader, ReadError> {
        let description = primary.describe().await?;
        Ok(Reader {
            identity: Identity::of(&description),
            schema: primary.schema_of(&description)?,
            indexes: Indexes::of(&description),
            read: primary.clone(),
            primary,
            counters: Arc::default(),
            replica: false,
        })
    }

    /// The primary table.
    pub fn primary(&self) -> &Table {
        &self.primary
    }

    /// The primary's identity, as DynamoDB reported it.
    pub fn primary_identity(&self) -> &Identity {
        &self.identity
    }

    /// A new, empty session of the primary (its name and identity).
    pub fn session(&self, limits: Limits) -> Session {
        Session::new(self.primary.name.clone(), limits).with_identity(Some(self.identity.clone()))
    }

    /// The read table (the replica).
    pub fn read_table(&self) -> &Table {
        &self.read
    }

    pub fn schema(&self) -> &KeySchema {
        &self.schema
    }

    /// The read table's secondary indexes.
    pub fn indexes(&self) -> &Indexes {
        &self.indexes
    }

    /// Reads served so far, by table and reason (shared by the reader's clones).
    pub fn counts(&self) -> Counts {
        self.counters.counts()
    }

    /// The table a source names.
    pub fn table(&self, source: Source) -> &Table {
        match source {
            Source::Replica => &self.read,
            Source::Primary => &self.primary,
        }
    }

    /// Reads `key` from the table asked for, outside any session.
    pub async fn get(&self, key: Item, from: ReadFrom) -> Result<Read, ReadError> {
        let key = self.key(key)?;
        let from = match from {
            ReadFrom::Replica => self.replica_source()?,
            ReadFrom::Primary => Source::Primary,
        };
        let item = self.get_item(from, &key).await?;
        Ok(self.served(item, from, Why::Asked))
    }

    /// Reads `key` in `session`: a key the session holds no record of is a plain read of the
    /// replica. For a key it holds:
    ///
    /// - expecting an item: the replica is read, and its item returned when it is that item (the
    ///   key then leaves the session); otherwise the primary's (a consistent read);
    /// - deleted: the primary alone (the replica's absence cannot show the delete caught up);
    /// - a write of unknown outcome: the primary alone.
    ///
    /// What the primary returns is what the key expects from then on (an unknown outcome
    /// settled, or a newer item another writer put), so a later read never returns older.
    pub async fn get_in(&self, session: &Session, key: Item) -> Result<Read, ReadError> {
        self.check(session)?;
        self.replica_source()?;
        let key = self.key(key)?;
        let (expect, why) = match session.expected(&key) {
            None => {
                let item = self.get_item(Source::Replica, &key).await?;
                return Ok(self.served(item, Source::Replica, Why::NotHeld));
            }
            Some(expect @ Expect::Item(_)) => {
                let local = self.get_item(Source::Replica, &key).await?;
                if expect.caught_up_by(local.as_ref()) {
                    session.caught_up(&key, &expect);
                    return Ok(self.served(local, Source::Replica, Why::CaughtUp));
                }
                (expect, Why::NotCaughtUp)
            }
            Some(expect @ Expect::Absent) => (expect, Why::Deleted),
            Some(expect @ Expect::Unknown) => (expect, Why::UnknownWrite),
        };
        let item = self.get_item(Source::Primary, &key).await?;
        session.seen_on_primary(&key, &expect, Expect::of(item.as_ref()));
        Ok(self.served(item, Source::Primary, why))
    }

    /// The key attributes of a valid key of the table.
    fn key(&self, key: Item) -> Result<Item, ReadError> {
        self.schema
            .key(key)
            .map(|k| k.to_attributes())
            .map_err(|source| ReadError::Key {
                table: self.primary.name.clone(),
                source,
            })
    }

    /// The replica, when this reader has one.
    fn replica_source(&self) -> Result<Source, ReadError> {
        match self.replica {
            true => Ok(Source::Replica),
            false => Err(ReadError::NoReplica {
                table: self.primary.label(),
            }),
        }
    }

    /// Refuses a session of another table: another name, or another identity (the table was
    /// deleted and made again under its name).
    pub fn check(&self, session: &Session) -> Result<(), ReadError> {
        let other_identity = session
            .identity()
            .is_some_and(|i| i.compare(&self.identity) == Sameness::Different);
        if session.table() == self.primary.name && !other_identity {
            return Ok(());
        }
        let shown = |name: &str, identity: Option<&Identity>| match identity {
            Some(identity) => format!("`{name}` ({})", identity.shown()),
            None => format!("`{name}`"),
        };
        Err(ReadError::OtherSession {
            session: shown(session.table(), session.identity()),
            table: shown(&self.primary.name, Some(&self.identity)),
        })
    }

    /// A consistent `GetItem` of `key` on `source`'s table.
    async fn get_item(&self, source: Source, key: &Item) -> Result<Option<Item>, ReadError> {
        let table = self.table(source);
        let answer = (table.client.get_item())
            .table_name(&table.name)
            .set_key(Some(key.clone()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| table.error(AwsError::new("GetItem", e)))?;
        Ok(answer.item)
    }

    fn served(&self, item: Option<Item>, from: Source, why: Why) -> Read {
        let served = Served { from, why };
        self.counters.count(served);
        Read { item, served }
    }
}
