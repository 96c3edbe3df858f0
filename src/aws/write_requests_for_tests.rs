//! Write requests for unit tests, of a table keyed by `id` (S) and `n` (N): items, puts,
//! deletes, and the `id` a request is for.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, PutRequest, WriteRequest};

use crate::aws::key::{KeySchema, ScalarType};

/// The table's key schema: `id` (S), `n` (N).
pub fn schema() -> KeySchema {
    KeySchema::composite(("id", ScalarType::S), ("n", ScalarType::N))
}

/// An item of key `id`, `n`, with a body.
pub fn item(id: &str, n: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("id".to_owned(), AttributeValue::S(id.into())),
        ("n".to_owned(), AttributeValue::N(n.into())),
        ("body".to_owned(), AttributeValue::S(format!("of {id}"))),
    ])
}

pub fn put(item: HashMap<String, AttributeValue>) -> WriteRequest {
    let put = PutRequest::builder().set_item(Some(item)).build().unwrap();
    WriteRequest::builder().put_request(put).build()
}

/// A delete of key `id`, `n` (its attributes in the other order than an item's).
pub fn delete(id: &str, n: &str) -> WriteRequest {
    let key = HashMap::from([
        ("n".to_owned(), AttributeValue::N(n.into())),
        ("id".to_owned(), AttributeValue::S(id.into())),
    ]);
    let delete = DeleteRequest::builder().set_key(Some(key)).build().unwrap();
    WriteRequest::builder().delete_request(delete).build()
}

/// The `id` a put or delete is for.
pub fn id_of(request: &WriteRequest) -> String {
    let attributes = match (&request.put_request, &request.delete_request) {
        (Some(put), _) => put.item(),
        (None, Some(delete)) => delete.key(),
        (None, None) => panic!("a write request with neither a put nor a delete"),
    };
    match &attributes["id"] {
        AttributeValue::S(id) => id.clone(),
        other => panic!("an id that is not a string: {other:?}"),
    }
}
