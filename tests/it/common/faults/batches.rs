//! The fault proxy's partial batches: part of a batch call's request withheld and answered as
//! unprocessed (DynamoDB), failed entries (SQS) or failed records (Kinesis); and a stranger, a
//! key nobody asked for, added to an answer.

use serde_json::{Value, json};

/// Withholds a random non-empty part of a batch call's request: returns the request body to
/// forward (`None`: nothing left to forward) and what was withheld, by table.
pub(super) fn withhold(
    operation: &str,
    body: &[u8],
    rng: &mut fastrand::Rng,
) -> Option<(Option<Vec<u8>>, Value)> {
    let mut request: Value = serde_json::from_slice(body).ok()?;
    if operation == "PutRecords" {
        // Kinesis answers per record, in order: remember which positions were withheld.
        let records = request.get_mut("Records")?.as_array_mut()?;
        let total = records.len();
        let mut held: Vec<usize> = (0..total).filter(|_| rng.bool()).collect();
        if held.is_empty() && total > 0 {
            held.push(rng.usize(..total));
        }
        let all = std::mem::take(records);
        *records = all
            .into_iter()
            .enumerate()
            .filter(|(i, _)| !held.contains(i))
            .map(|(_, r)| r)
            .collect();
        let forward = (held.len() < total).then(|| request.to_string().into_bytes());
        return Some((forward, json!({"positions": held, "total": total})));
    }
    if operation == "SendMessageBatch" {
        let entries = request.get_mut("Entries")?.as_array_mut()?;
        let all = std::mem::take(entries);
        let (mut kept, mut held): (Vec<Value>, Vec<Value>) =
            all.into_iter().partition(|_| rng.bool());
        if held.is_empty() && !kept.is_empty() {
            held.push(kept.remove(rng.usize(..kept.len())));
        }
        let left = kept.len();
        *entries = kept;
        let forward = (left > 0).then(|| request.to_string().into_bytes());
        return Some((forward, Value::Array(held)));
    }
    let items = request.get_mut("RequestItems")?.as_object_mut()?;
    let mut withheld = serde_json::Map::new();
    let mut left = 0;
    for (table, spec) in items.iter_mut() {
        let list = match operation {
            "BatchGetItem" => spec.get_mut("Keys")?.as_array_mut()?,
            _ => spec.as_array_mut()?,
        };
        let all = std::mem::take(list);
        let (mut kept, mut held): (Vec<Value>, Vec<Value>) =
            all.into_iter().partition(|_| rng.bool());
        if held.is_empty() && !kept.is_empty() {
            held.push(kept.remove(rng.usize(..kept.len())));
        }
        left += kept.len();
        *list = kept;
        let held = match operation {
            "BatchGetItem" => {
                let mut unprocessed = spec.clone();
                unprocessed["Keys"] = Value::Array(held);
                unprocessed
            }
            _ => Value::Array(held),
        };
        withheld.insert(table.clone(), held);
    }
    items.retain(|_, spec| match spec {
        Value::Array(a) => !a.is_empty(),
        other => other
            .get("Keys")
            .and_then(Value::as_array)
            .is_some_and(|k| !k.is_empty()),
    });
    let forward = (left > 0).then(|| request.to_string().into_bytes());
    Some((forward, Value::Object(withheld)))
}

/// The answer to a batch call with one more key in it, a twin of the first key asked for
/// (string values get a suffix, numbers a digit); None for other operations.
pub(super) fn add_stranger(operation: &str, request: &[u8], answer: &[u8]) -> Option<Vec<u8>> {
    let request: Value = serde_json::from_slice(request).ok()?;
    let mut answer: Value = serde_json::from_slice(answer).ok()?;
    let (table, spec) = request.get("RequestItems")?.as_object()?.iter().next()?;
    let twin = |attributes: &Value| -> Value {
        let mut twin = attributes.clone();
        for value in twin
            .as_object_mut()
            .into_iter()
            .flat_map(|m| m.values_mut())
        {
            if let Some(s) = value.get("S").and_then(Value::as_str) {
                value["S"] = json!(format!("{s}~stranger"));
            } else if let Some(n) = value.get("N").and_then(Value::as_str) {
                value["N"] = json!(format!("{n}1"));
            } else if let Some(b) = value.get("B").and_then(Value::as_str) {
                use base64::Engine as _;
                let engine = base64::engine::general_purpose::STANDARD;
                let mut bytes = engine.decode(b).unwrap_or_default();
                bytes.push(0x7f);
                value["B"] = json!(engine.encode(bytes));
            }
        }
        twin
    };
    let (field, stranger) = match operation {
        "BatchGetItem" => ("Responses", twin(spec.get("Keys")?.get(0)?)),
        "BatchWriteItem" => {
            let first = spec.get(0)?;
            let stranger = match (first.get("PutRequest"), first.get("DeleteRequest")) {
                (Some(put), _) => json!({"PutRequest": {"Item": twin(put.get("Item")?)}}),
                (None, Some(delete)) => json!({"DeleteRequest": {"Key": twin(delete.get("Key")?)}}),
                (None, None) => return None,
            };
            ("UnprocessedItems", stranger)
        }
        _ => return None,
    };
    let tables = answer
        .as_object_mut()?
        .entry(field)
        .or_insert_with(|| json!({}));
    let list = tables
        .as_object_mut()?
        .entry(table.clone())
        .or_insert_with(|| json!([]));
    list.as_array_mut()?.push(stranger);
    Some(answer.to_string().into_bytes())
}

/// Adds withheld requests to a batch call's answer as `UnprocessedKeys` / `UnprocessedItems`
/// (DynamoDB), failed entries (SQS), or failed records in their places (Kinesis).
pub(super) fn add_unprocessed(operation: &str, answer: &mut Value, withheld: Value) {
    if operation == "PutRecords" {
        let held: Vec<u64> = withheld["positions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_u64)
            .collect();
        let total = withheld["total"].as_u64().unwrap_or(0);
        let mut forwarded = answer["Records"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter();
        let failed = json!({"ErrorCode": "ProvisionedThroughputExceededException",
                            "ErrorMessage": "injected by the fault proxy"});
        let records: Vec<Value> = (0..total)
            .map(|i| match held.contains(&i) {
                true => failed.clone(),
                false => forwarded.next().unwrap_or_else(|| failed.clone()),
            })
            .collect();
        let upstream_failed = answer["FailedRecordCount"].as_u64().unwrap_or(0);
        answer["FailedRecordCount"] = json!(upstream_failed + held.len() as u64);
        answer["Records"] = Value::Array(records);
        return;
    }
    if operation == "SendMessageBatch" {
        if !answer["Failed"].is_array() {
            answer["Failed"] = json!([]);
        }
        if !answer["Successful"].is_array() {
            answer["Successful"] = json!([]);
        }
        let failed: Vec<Value> = withheld
            .as_array()
            .into_iter()
            .flatten()
            .map(|entry| {
                json!({"Id": entry["Id"], "SenderFault": false, "Code": "InternalError",
                       "Message": "injected by the fault proxy"})
            })
            .collect();
        if let Some(list) = answer["Failed"].as_array_mut() {
            list.extend(failed);
        }
        return;
    }
    let field = match operation {
        "BatchGetItem" => "UnprocessedKeys",
        _ => "UnprocessedItems",
    };
    if !answer[field].is_object() {
        answer[field] = json!({});
    }
    if let (Some(target), Value::Object(withheld)) = (answer[field].as_object_mut(), withheld) {
        for (table, held) in withheld {
            match (target.get_mut(&table), held) {
                (Some(Value::Array(existing)), Value::Array(more)) => existing.extend(more),
                (Some(existing), Value::Object(more)) if existing.get("Keys").is_some() => {
                    if let (Some(keys), Some(Value::Array(more_keys))) =
                        (existing["Keys"].as_array_mut(), more.get("Keys").cloned())
                    {
                        keys.extend(more_keys);
                    }
                }
                (_, held) => {
                    target.insert(table, held);
                }
            }
        }
    }
    if operation == "BatchGetItem" && !answer["Responses"].is_object() {
        answer["Responses"] = json!({});
    }
}

/// [`withhold`], as DynamoDB answers a partial batch: never every request of the call (`None`
/// for a call of one request, which is then forwarded whole).
pub(super) fn withhold_some(
    operation: &str,
    body: &[u8],
    rng: &mut fastrand::Rng,
) -> Option<(Option<Vec<u8>>, Value)> {
    for _ in 0..64 {
        if let (Some(forward), held) = withhold(operation, body, rng)? {
            return Some((Some(forward), held));
        }
    }
    None
}
