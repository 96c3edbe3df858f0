//! The AWS service limits that shape the code (see ../shared/DESIGN.md): how much one call of
//! each batch API takes, and how long a partition key may be.

/// `BatchGetItem`: keys per call.
pub const READ_KEYS: usize = 100;
/// `BatchWriteItem`: put and delete requests per call.
pub const WRITE_REQUESTS: usize = 25;
/// `PutRecords`: records per call …
pub const PUT_RECORDS: usize = 500;
/// … and bytes per call (data plus partition keys).
pub const PUT_RECORDS_BYTES: usize = 5 * 1024 * 1024;
/// A Kinesis partition key, in Unicode characters.
pub const PARTITION_KEY_CHARS: usize = 256;
/// `SendMessageBatch` / `DeleteMessageBatch`: entries per call …
pub const SQS_ENTRIES: usize = 10;
/// … and bytes per call; one message is bounded by the same figure.
pub const SQS_BYTES: usize = 256 * 1024;
/// Kinesis `GetRecords`: records per call.
pub const KINESIS_GET_RECORDS: usize = 10_000;
/// DynamoDB Streams `GetRecords`: records per call.
pub const STREAMS_GET_RECORDS: usize = 1_000;
