//! Cases `diff-rss-20k`, `diff-rss-100k`: the release `dyno` binary's `diff --segments 8` of two
//! equal tables, as a child: its peak RSS (`VmHWM`, polled every 5 ms until it exits), the floor
//! being the 20k figure (`rss_ratio_to_20k`). Checked: exit status 0, and no difference found.

use std::time::Instant;

use super::SEGMENTS;
use super::shared::{Dynamo, item, peak_rss, scaled};
use crate::common::{self, Item, put_items};
use crate::shared::{Cases, Line, Report, release_binary};

pub async fn diff_rss(cases: &Cases, report: &mut Report) {
    let primary = Dynamo::start().await;
    let replica = Dynamo::start().await;
    let mut base = None;
    for (case, items) in [("diff-rss-20k", 20_000), ("diff-rss-100k", 100_000)] {
        // The 20k figure is the 100k line's reference: measured whenever the group runs.
        if !(cases.chosen(case) || items == 20_000) {
            continue;
        }
        let result = diff_once(&primary, &replica, scaled(items)).await;
        let result = result.map(|run| {
            let mb = run.peak_kb as f64 / 1024.0;
            let base_mb = *base.get_or_insert(mb);
            let line = Line::new(case)
                .int("items", run.items)
                .num("peak_rss_mb", mb)
                .num("seconds", run.seconds)
                .int("exit", run.exit)
                .num("fill_seconds", run.fill_seconds)
                .int("segments", SEGMENTS);
            match items {
                20_000 => line,
                _ => line
                    .num("rss_ratio_to_20k", mb / base_mb)
                    .num("target_rss_ratio", 1.1),
            }
        });
        if cases.chosen(case) || result.is_err() {
            report.emit(case, result);
        }
    }
}

struct DiffRun {
    items: usize,
    fill_seconds: f64,
    seconds: f64,
    peak_kb: u64,
    exit: i32,
}

/// Fills a fresh table on each server with the same `n` items, then runs `dyno diff` on them.
async fn diff_once(primary: &Dynamo, replica: &Dynamo, n: usize) -> Result<DiffRun, String> {
    let (p, r) = (primary.table("diff").await, replica.table("diff").await);
    let filling = Instant::now();
    for slice in (0..n).collect::<Vec<_>>().chunks(10_000) {
        let items: Vec<Item> = slice.iter().map(|&k| item(k)).collect();
        tokio::join!(
            put_items(&p.client, &p.name, items.clone()),
            put_items(&r.client, &r.name, items)
        );
    }
    let fill_seconds = filling.elapsed().as_secs_f64();
    let mut command = std::process::Command::new(release_binary("dyno")?);
    command
        .args(["--table", &p.name, "--replica-table", &r.name])
        .args(["--endpoint-url", &primary.endpoint])
        .args(["--replica-endpoint-url", &replica.endpoint])
        .args(["diff", "--segments", &SEGMENTS.to_string()]);
    common::local_aws_env(&mut command);
    let run = tokio::task::spawn_blocking(move || peak_rss(command))
        .await
        .map_err(|e| format!("diff child: {e}"))??;
    let exit = run.status.code().unwrap_or(-1);
    if exit != 0 || !run.stdout.contains("0 differences") {
        return Err(format!(
            "dyno diff of equal tables exited {} ({}): {} {}",
            exit,
            run.status,
            run.stdout.trim(),
            run.stderr.trim()
        ));
    }
    primary.drop_table(&p).await;
    replica.drop_table(&r).await;
    Ok(DiffRun {
        items: n,
        fill_seconds,
        seconds: run.seconds,
        peak_kb: run.peak_kb,
        exit,
    })
}
