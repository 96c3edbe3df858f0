//! Writes in a session: each goes through the writer unchanged, and its outcome is recorded
//! in the session (`crate::regional::outcome`): a put as its item, an update as its whole new
//! item (`ReturnValues=ALL_NEW`), a delete as absent, a write of unknown outcome as unknown.
//! A write whose future is dropped before it ends (a caller's timeout, Ctrl-C) may have reached
//! DynamoDB: its keys are recorded as unknown. Only the writer is needed: no read table.

use aws_sdk_dynamodb::operation::delete_item::DeleteItemOutput;
use aws_sdk_dynamodb::operation::delete_item::builders::DeleteItemFluentBuilder;
use aws_sdk_dynamodb::operation::put_item::PutItemOutput;
use aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder;
use aws_sdk_dynamodb::operation::update_item::UpdateItemOutput;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{ReturnValue, WriteRequest};

use crate::aws::json::Item;
use crate::aws::key::Key;
use crate::publish::writer::{WriteError, Writer};
use crate::regional::outcome::{recorded, recorded_batch};
use crate::regional::session::{Expect, Session};

/// [`Writer::put_item`], recorded in `session` as the item put.
pub async fn put_item(
    writer: &Writer,
    session: &Session,
    request: PutItemFluentBuilder,
) -> Result<PutItemOutput, WriteError> {
    check(writer, session)?;
    let key = key_of(writer, request.get_item());
    let expect = request
        .get_item()
        .as_ref()
        .map(|item| Expect::of(Some(item)));
    let pending = Pending::of(session, key.iter().cloned());
    let result = writer.put_item(request).await;
    pending.done();
    if let (Some(key), Some(expect)) = (key, expect) {
        record(session, key, recorded(result.as_ref().map(drop), expect));
    }
    result
}

/// [`Writer::update_item`], asking for the whole new item (`ReturnValues=ALL_NEW`, unless
/// the request asks for other return values), and recorded in `session` as that item. An
/// update that asks for other return values does not learn the new item, and is recorded as
/// of unknown outcome: the session reads the key on the primary until the replica matches it.
pub async fn update_item(
    writer: &Writer,
    session: &Session,
    request: UpdateItemFluentBuilder,
) -> Result<UpdateItemOutput, WriteError> {
    check(writer, session)?;
    let key = key_of(writer, request.get_key());
    let request = match request.get_return_values() {
        None => request.return_values(ReturnValue::AllNew),
        Some(_) => request,
    };
    let whole = request.get_return_values() == &Some(ReturnValue::AllNew);
    let pending = Pending::of(session, key.iter().cloned());
    let result = writer.update_item(request).await;
    pending.done();
    let expect = match &result {
        Ok(output) if whole => output
            .attributes()
            .map_or(Expect::Unknown, |item| Expect::of(Some(item))),
        _ => Expect::Unknown,
    };
    if let Some(key) = key {
        record(session, key, recorded(result.as_ref().map(drop), expect));
    }
    result
}

/// [`Writer::delete_item`], recorded in `session` as absent.
pub async fn delete_item(
    writer: &Writer,
    session: &Session,
    request: DeleteItemFluentBuilder,
) -> Result<DeleteItemOutput, WriteError> {
    check(writer, session)?;
    let key = key_of(writer, request.get_key());
    let pending = Pending::of(session, key.iter().cloned());
    let result = writer.delete_item(request).await;
    pending.done();
    if let Some(key) = key {
        let expect = recorded(result.as_ref().map(drop), Expect::Absent);
        record(session, key, expect);
    }
    result
}

/// [`Writer::write_batch`], each write recorded in `session` as its outcome says (puts as
/// their items, deletes as absent).
pub async fn write_batch(
    writer: &Writer,
    session: &Session,
    requests: Vec<WriteRequest>,
) -> Result<usize, WriteError> {
    check(writer, session)?;
    let schema = writer.schema();
    let writes: Vec<(Key, Expect)> = requests
        .iter()
        .filter_map(
            |request| match (&request.put_request, &request.delete_request) {
                (Some(put), _) => (schema.key_of_item(put.item()).ok())
                    .map(|key| (key, Expect::of(Some(put.item())))),
                (None, Some(delete)) => {
                    (schema.key_of_item(delete.key()).ok()).map(|key| (key, Expect::Absent))
                }
                (None, None) => None,
            },
        )
        .collect();
    let pending = Pending::of(session, writes.iter().map(|(key, _)| key.to_attributes()));
    let result = writer.write_batch(requests).await;
    pending.done();
    for (key, expect) in recorded_batch(writes, result.as_ref().copied()) {
        session.record(key.to_attributes(), expect);
    }
    result
}

/// The key attributes of a request's item or key, when they fit the table (when they do not,
/// the writer refuses the request, and nothing is recorded).
fn key_of(writer: &Writer, item: &Option<Item>) -> Option<Item> {
    let item = item.as_ref()?;
    let key = writer.schema().key_of_item(item).ok()?;
    Some(key.to_attributes())
}

/// Refuses a session of another table (before anything is sent).
fn check(writer: &Writer, session: &Session) -> Result<(), WriteError> {
    let table = &writer.table().name;
    match session.table() == table {
        true => Ok(()),
        false => Err(WriteError::OtherTable {
            found: session.table().to_owned(),
            expected: table.clone(),
        }),
    }
}

fn record(session: &Session, key: Item, expect: Option<Expect>) {
    if let Some(expect) = expect {
        session.record(key, expect);
    }
}

/// Keys being written: recorded as unknown if dropped before [`Pending::done`] (the write's
/// future was dropped part-way, and its request may have reached DynamoDB).
struct Pending<'a> {
    session: &'a Session,
    keys: Vec<Item>,
}

impl<'a> Pending<'a> {
    fn of(session: &'a Session, keys: impl Iterator<Item = Item>) -> Pending<'a> {
        Pending {
            session,
            keys: keys.collect(),
        }
    }

    /// The write ended: its result says what to record.
    fn done(mut self) {
        self.keys.clear();
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        for key in self.keys.drain(..) {
            self.session.record(key, Expect::Unknown);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use aws_sdk_dynamodb::types::AttributeValue;

    use super::*;
    use crate::regional::session::Limits;

    #[test]
    fn a_write_dropped_part_way_is_recorded_as_unknown() {
        let session = Session::new("t", Limits::default());
        let key = |id: &str| HashMap::from([("id".to_owned(), AttributeValue::S(id.into()))]);
        drop(Pending::of(&session, [key("a"), key("b")].into_iter()));
        assert_eq!(session.expected(&key("a")), Some(Expect::Unknown));
        assert_eq!(session.expected(&key("b")), Some(Expect::Unknown));
        Pending::of(&session, [key("c")].into_iter()).done();
        assert_eq!(session.expected(&key("c")), None);
    }
}
