//! Operations, an operator's tools over the layers below: scanning, checkpoints, backfill,
//! comparison and repair, import and export, table setup and definitions (failover), TTL, cost
//! plans and failed batches. It imports `aws`, `replicate` and `publish`, never `local`.

pub mod admin;
pub mod atomic_file;
pub mod backfill;
pub mod checkpoint;
pub mod definition;
pub mod diff;
pub mod diff_report;
pub mod drift;
pub mod export_file;
pub mod export_keys;
pub mod export_manifest;
pub mod export_source;
pub mod export_table;
pub mod failed_batches;
pub mod import_table;
pub mod item_eq;
pub mod jsonl;
pub mod load;
pub mod load_event;
pub mod plan;
pub mod plan_memory;
pub mod plan_seed;
pub mod provision;
pub mod scan;
pub mod sink;
pub mod ttl;
