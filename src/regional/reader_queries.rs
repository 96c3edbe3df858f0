//! Queries in the second region: the table asked for outside a session; in a session, the
//! replica unless a key the session holds may be in the query's range (see
//! `crate::regional::query`). Such held keys, when they are few (at most [`QUERY_CHECKS`]) and
//! each expects an item, are first read on the replica (one consistent `GetItem` each): those it
//! has caught up with leave the session, and when all have, the replica answers. A key the
//! session deleted or wrote with an unknown outcome, or more than [`QUERY_CHECKS`] of them, send
//! the query to the primary without a check.
//!
//! A query of the table answered by the primary (a consistent read) also tells the session what
//! the primary holds for the held keys it returns: as a session read does, each such key then
//! expects that item, so a later read never returns an older one. A query is counted, and said
//! served, only once every page was read.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use futures::stream::{self, StreamExt, TryStreamExt};

use super::{Pages, ReadError, ReadFrom, Reader};
use crate::aws::error::AwsError;
use crate::aws::json::Item;
use crate::regional::query::{Query, Target, may_be_in_range, partition_value};
use crate::regional::served::{Served, Source, Why};
use crate::regional::session::{Expect, Held, Session};

/// At most this many held keys in a query's range are checked on the replica (one `GetItem`
/// each) before the query; past it, the query goes to the primary unchecked.
pub const QUERY_CHECKS: usize = 25;

/// Checks on the replica run at most this many at once.
const CHECKS_AT_ONCE: usize = 8;

impl Reader {
    /// Where a query goes (see the module's docs); keys found caught up leave the session. The
    /// query is not counted here: [`Reader::query`] counts it once its pages were all read.
    pub async fn plan_query(
        &self,
        session: Option<&Session>,
        query: &Query,
        from: ReadFrom,
    ) -> Result<Served, ReadError> {
        let target = self.target(query)?;
        let served = |from, why| Served { from, why };
        if from == ReadFrom::Primary {
            return Ok(served(Source::Primary, Why::Asked));
        }
        let Some(session) = session else {
            return Ok(served(self.replica_source()?, Why::Asked));
        };
        self.check(session)?;
        self.replica_source()?;
        let attribute = &self.schema.hash.name;
        let (names, values) = (query.names.as_ref(), query.values.as_ref());
        let partition = partition_value(&query.key_condition, names, values, attribute);
        let held: Vec<Held> = (session.held().into_iter())
            .filter(|h| may_be_in_range(target, attribute, partition.as_ref(), &h.key))
            .collect();
        let clear = served(Source::Replica, Why::QueryClear);
        let range = served(Source::Primary, Why::QueryRange);
        if held.is_empty() {
            return Ok(clear);
        }
        if held.len() > QUERY_CHECKS || held.iter().any(|h| !matches!(h.expect, Expect::Item(_))) {
            return Ok(range);
        }
        let caught_up: Vec<bool> = stream::iter(held)
            .map(|h| async move {
                let found = self.get_item(Source::Replica, &h.key).await?;
                let caught_up = h.expect.caught_up_by(found.as_ref());
                if caught_up {
                    session.caught_up(&h.key, &h.expect);
                }
                Ok::<_, ReadError>(caught_up)
            })
            .buffer_unordered(CHECKS_AT_ONCE)
            .try_collect()
            .await?;
        Ok(match caught_up.iter().all(|c| *c) {
            true => clear,
            false => range,
        })
    }

    /// A query, planned (see [`Reader::plan_query`]): where it is served, and its pages, at most
    /// `query.limit` items in all. Counted once the last page was read.
    pub async fn query<'a>(
        &'a self,
        session: Option<&'a Session>,
        query: &'a Query,
        from: ReadFrom,
    ) -> Result<(Served, Pages<'a>), ReadError> {
        let served = self.plan_query(session, query, from).await?;
        let target = self.target(query)?;
        // A consistent query of the primary's table tells the session what the primary holds.
        let tell = match (served.from, target) {
            (Source::Primary, Target::Table) => session,
            _ => None,
        };
        Ok((served, self.pages(served, query, target, tell)))
    }

    /// [`Reader::query`], every item collected.
    pub async fn query_all(
        &self,
        session: Option<&Session>,
        query: &Query,
        from: ReadFrom,
    ) -> Result<(Served, Vec<Item>), ReadError> {
        let (served, pages) = self.query(session, query, from).await?;
        let pages: Vec<Vec<Item>> = pages.try_collect().await?;
        Ok((served, pages.into_iter().flatten().collect()))
    }

    pub(super) fn target(&self, query: &Query) -> Result<Target, ReadError> {
        self.indexes
            .target(query.index.as_deref())
            .ok_or_else(|| ReadError::NoIndex {
                table: self.read.label(),
                index: query.index.clone().unwrap_or_default(),
                known: match self.indexes.names() {
                    names if names.is_empty() => "none".to_owned(),
                    names => names.join(", "),
                },
            })
    }

    /// The pages of `query` on the table `served` names: consistent except on a global index;
    /// counted as `served` once the last was read.
    fn pages<'a>(
        &'a self,
        served: Served,
        query: &'a Query,
        target: Target,
        tell: Option<&'a Session>,
    ) -> Pages<'a> {
        let table = self.table(served.from);
        let consistent = target != Target::Global;
        type Start = Option<HashMap<String, AttributeValue>>;
        let first: Option<(Start, Option<usize>)> = Some((None, query.limit));
        stream::try_unfold(first, move |state| async move {
            let Some((start, remaining)) = state.filter(|(_, r)| *r != Some(0)) else {
                self.counters.count(served);
                return Ok(None);
            };
            let page_limit = remaining.map(|r| r.min(i32::MAX as usize) as i32);
            let answer = (table.client.query())
                .table_name(&table.name)
                .set_index_name(query.index.clone())
                .key_condition_expression(&query.key_condition)
                .set_expression_attribute_names(query.names.clone())
                .set_expression_attribute_values(query.values.clone())
                .consistent_read(consistent)
                .set_exclusive_start_key(start)
                .set_limit(page_limit)
                .send()
                .await
                .map_err(|e| table.error(AwsError::new("Query", e)))?;
            let mut items = answer.items.unwrap_or_default();
            if let Some(remaining) = remaining {
                items.truncate(remaining);
            }
            if let Some(session) = tell {
                self.tell(session, &items);
            }
            let remaining = remaining.map(|r| r - items.len());
            let next = match answer.last_evaluated_key.filter(|k| !k.is_empty()) {
                Some(key) => Some((Some(key), remaining)),
                None => Some((None, Some(0))),
            };
            Ok::<_, ReadError>(Some((items, next)))
        })
        .boxed()
    }

    /// What a consistent read of the primary returned, for the keys the session holds.
    fn tell(&self, session: &Session, items: &[Item]) {
        for item in items {
            let Ok(key) = self.schema.key_of_item(item) else {
                continue;
            };
            let key = key.to_attributes();
            if let Some(expect) = session.expected(&key) {
                session.seen_on_primary(&key, &expect, Expect::of(Some(item)));
            }
        }
    }
}
