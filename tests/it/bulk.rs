//! The suite's longest test, a full export of 133,199 items loaded (AWS's own export sample,
//! `tests/fixtures/aws-export-sample`, from moto's S3 into dynalite): exactly its items, a
//! damaged file named and skipped, a killed load resumed from its checkpoint without writing a
//! finished file again. Its own module, named to sort early: libtest starts tests in the order
//! of their names, and started late this test ran alone at the end of the suite for a minute.
//! The rig and the sample are `seed`'s.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::checkpoint_positions;
use crate::common::faults::FaultProxy;
use crate::seed::{BUCKET, FULL, Rig, run, sample_files, sample_root};

/// The test's own reading of a data file: each item as plain JSON, by its `name`.
fn items_of_file(bytes: &[u8]) -> BTreeMap<String, serde_json::Value> {
    let reader = BufReader::new(flate2::read::GzDecoder::new(bytes));
    let mut items = BTreeMap::new();
    for line in reader.lines() {
        let line: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
        let item = line["Item"].clone();
        let name = item["name"]["S"].as_str().unwrap().to_owned();
        assert!(items.insert(name, item).is_none(), "one line a key");
    }
    items
}

/// The full export's data files: key → items.
fn full_files() -> BTreeMap<String, BTreeMap<String, serde_json::Value>> {
    (sample_files().into_iter())
        .filter(|(key, _)| key.starts_with(&format!("{FULL}/data/")))
        .map(|(key, bytes)| (key, items_of_file(&bytes)))
        .collect()
}

/// The `BatchWriteItem` calls a file of `items` items takes: batches of 1,000, calls of 25.
fn calls_for(items: usize) -> u64 {
    ((items / 1000) * 40 + (items % 1000).div_ceil(25)) as u64
}

/// The `BatchWriteItem` calls `proxy` has forwarded since its last reset.
fn batch_writes(proxy: &FaultProxy) -> u64 {
    let stats = proxy.stats();
    stats.requests.get("BatchWriteItem").copied().unwrap_or(0)
}

/// Starts a load and kills it once its checkpoint holds a finished file; returns those files.
fn kill_after_a_file(
    rig: &Rig,
    args: &[String],
    checkpoint: &Path,
    replica: &str,
) -> BTreeSet<String> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut command = rig.local.command(&args);
    command.env("DYNO_REPLICA_ENDPOINT_URL", replica);
    let mut child = command.stderr(Stdio::null()).spawn().unwrap();
    let started = Instant::now();
    loop {
        let ended: BTreeSet<String> = (checkpoint_positions(checkpoint).into_iter())
            .filter(|(_, at)| at == "END")
            .map(|(file, _)| file)
            .collect();
        if !ended.is_empty() {
            child.kill().unwrap();
            child.wait().unwrap();
            // Read again: another file may have ended before the kill landed.
            return (checkpoint_positions(checkpoint).into_iter())
                .filter(|(_, at)| at == "END")
                .map(|(file, _)| file)
                .collect();
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the load ended before it was killed"
        );
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no file finished"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_full_export_loads_exactly_its_items_skips_a_damaged_file_and_resumes_after_a_kill() {
    let rig = Rig::start("seed-load");
    rig.upload_sample();
    // The test's own reading of the files, meanwhile.
    let files = std::thread::spawn(full_files);
    // One byte of one file changed: its MD5 no longer matches the manifest's.
    let damaged = format!("{FULL}/data/3ol56grj3u2pxfcyepktpypzju.json.gz");
    let original = std::fs::read(sample_root().join(&damaged)).unwrap();
    let mut changed = original.clone();
    changed[100] ^= 0x01;
    rig.put(&damaged, changed);

    let checkpoint = rig.local.path("load.json");
    let export = format!("s3://{BUCKET}/{FULL}/");
    let args = rig.load_args(&export, &["--checkpoint", checkpoint.to_str().unwrap()]);
    // Every run reaches the replica through one proxy, which counts the writes.
    let proxy = rig
        .local
        .rt()
        .block_on(FaultProxy::start(rig.local.replica.port));
    let ended = kill_after_a_file(&rig, &args, &checkpoint, &proxy.endpoint);
    assert!(!ended.contains(&damaged));
    let files = files.join().unwrap();
    assert_eq!(files.values().map(BTreeMap::len).sum::<usize>(), 133_199);

    // The rerun loads every file not finished but the damaged one, which it names.
    proxy.reset_stats();
    let (code, err) = run(&rig, &args, Some(&proxy.endpoint));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!("not loaded: {damaged}: its MD5 is")),
        "{err}"
    );
    let left: Vec<&String> = (files.keys())
        .filter(|f| !ended.contains(*f) && **f != damaged)
        .collect();
    let calls: u64 = left.iter().map(|f| calls_for(files[*f].len())).sum();
    let counted = batch_writes(&proxy);
    assert_eq!(counted, calls, "no finished file was written again");
    let good: BTreeSet<&String> = (files.iter())
        .filter(|(f, _)| **f != damaged)
        .flat_map(|(_, items)| items.keys())
        .collect();
    assert_eq!(
        rig.replica_names().iter().collect::<BTreeSet<_>>(),
        good,
        "exactly the good files' keys"
    );

    // The file restored, a last run loads it alone; the replica then equals the export.
    rig.put(&damaged, original);
    proxy.reset_stats();
    let (code, err) = run(&rig, &args, Some(&proxy.endpoint));
    assert_eq!(code, 0, "{err}");
    let expected = files[&damaged].len();
    assert!(
        err.contains(&format!(
            "load: {expected} items written from 1 data files (3 done before, 0 not loaded)"
        )),
        "{err}"
    );
    assert!(
        err.contains("catch-up: replicate from a position before 2024-05-27T06:11:47.109Z"),
        "{err}"
    );
    assert!(
        err.contains("the load must finish before the catch-up starts"),
        "{err}"
    );
    let counted = batch_writes(&proxy);
    assert_eq!(counted, calls_for(expected));
    let all: BTreeMap<String, serde_json::Value> = files.into_values().flatten().collect();
    let loaded = rig.replica_items();
    assert_eq!(loaded.len(), 133_199);
    assert!(loaded == all, "every item equals the export's");
}
