//! Seeding a replica of an existing table, priced both ways: `backfill` (a keys-only scan of the
//! primary, then, per item, a key record, a consistent read and a write) against DynamoDB's own
//! engines (an export to S3, then `ImportTable` into a new table, or `dyno load` into an existing
//! one: writes, but no read of the primary). Arithmetic only.

use crate::ops::plan::Prices;

/// List prices of the engines, in USD, us-east-1 (check AWS's pricing page before deciding):
/// a full export to S3 and an import from S3, per GB.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EnginePrices {
    pub export_per_gb: f64,
    pub import_per_gb: f64,
}

impl Default for EnginePrices {
    fn default() -> Self {
        EnginePrices {
            export_per_gb: 0.10,
            import_per_gb: 0.15,
        }
    }
}

/// The table to seed, and the rates a load runs at (items a second, as `make bench` measures
/// them on the machine that runs it).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Seed {
    pub table_gb: f64,
    pub item_kb: f64,
    pub backfill_rate: f64,
    pub load_rate: f64,
}

/// One way to seed: its cost and, where this machine sets the pace, its hours.
#[derive(Debug, Clone, PartialEq)]
pub struct Way {
    pub name: &'static str,
    pub dollars: f64,
    /// `None`: AWS's engines run on AWS's side, at a pace dyno does not measure.
    pub hours: Option<f64>,
}

/// The three ways, priced.
pub fn ways(seed: &Seed, prices: &Prices, engines: &EnginePrices) -> Vec<Way> {
    let bytes = seed.table_gb * 1_073_741_824.0;
    let items = bytes / (seed.item_kb * 1024.0);
    let per_million = |units: f64, price: f64| units / 1_000_000.0 * price;
    // A scan reads eventually consistent: half a unit per 4 KB, the projection changes nothing.
    let scan = per_million(bytes / 4096.0 * 0.5, prices.read_units_per_million);
    let reads = per_million(
        items * (seed.item_kb / 4.0).ceil(),
        prices.read_units_per_million,
    );
    let writes = per_million(items * seed.item_kb.ceil(), prices.write_units_per_million);
    let records = per_million(items, prices.put_units_per_million);
    let export = seed.table_gb * engines.export_per_gb;
    vec![
        Way {
            name: "backfill (scan + announce + consistent reads + writes)",
            dollars: scan + records + reads + writes,
            hours: Some(items / seed.backfill_rate / 3600.0),
        },
        Way {
            name: "export + import (a new replica: ImportTable)",
            dollars: export + seed.table_gb * engines.import_per_gb,
            hours: None,
        },
        Way {
            name: "export + load (an existing replica: dyno load)",
            dollars: export + writes,
            hours: Some(items / seed.load_rate / 3600.0),
        },
    ]
}

/// The ways side by side, a line each.
pub fn describe(seed: &Seed, prices: &Prices, engines: &EnginePrices) -> Vec<String> {
    let items = seed.table_gb * 1_073_741_824.0 / (seed.item_kb * 1024.0);
    let mut lines = vec![format!(
        "seeding {} GB of {} KB items ({items:.3e} items), on-demand list prices:",
        seed.table_gb, seed.item_kb
    )];
    for way in ways(seed, prices, engines) {
        let hours = way
            .hours
            .map_or("on AWS's side (not measured here)".to_owned(), |h| {
                format!("{h:.1} hours on one machine")
            });
        lines.push(format!(
            "  {:<56} ${:>12.2}  {hours}",
            way.name, way.dollars
        ));
    }
    lines.push(format!(
        "  (hours at {:.0} items/s for backfill and {:.0} items/s for load: set them from `make \
         bench` on the machine that runs it)",
        seed.backfill_rate, seed.load_rate
    ));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_terabyte_of_kilobyte_items_costs_what_the_issue_says() {
        let seed = Seed {
            table_gb: 1024.0,
            item_kb: 1.0,
            backfill_rate: 17_000.0,
            load_rate: 17_000.0,
        };
        // The prices of before November 2024, as the issue's figures are.
        let old = Prices {
            read_units_per_million: 0.25,
            write_units_per_million: 1.25,
            ..Prices::default()
        };
        let ways = ways(&seed, &old, &EnginePrices::default());
        let items = 1024.0 * 1024.0 * 1024.0;
        let backfill = items / 4.0 * 0.5 / 1e6 * 0.25 + items / 1e6 * (0.25 + 1.25 + 0.014);
        assert!((ways[0].dollars - backfill).abs() < 0.01, "{ways:?}");
        assert!((ways[0].hours.unwrap() - items / 17_000.0 / 3600.0).abs() < 1e-9);
        assert!((ways[1].dollars - 1024.0 * 0.25).abs() < 1e-9);
        assert_eq!(ways[1].hours, None);
        assert!((ways[2].dollars - (102.4 + items / 1e6 * 1.25)).abs() < 0.01);
        // About $30 of scan, $250 of reads and $1,250 of writes for 10⁹ items, as the issue
        // counts them; a binary terabyte holds 2³⁰ (7% more), and the key records add $15.
        assert!(
            (1_650.0..1_670.0).contains(&ways[0].dollars),
            "{}",
            ways[0].dollars
        );
    }

    #[test]
    fn a_large_item_takes_more_units_each() {
        let seed = Seed {
            table_gb: 1.0,
            item_kb: 5.0,
            backfill_rate: 1000.0,
            load_rate: 2000.0,
        };
        let ways = ways(&seed, &Prices::default(), &EnginePrices::default());
        let items = 1_073_741_824.0 / 5120.0;
        let writes = items * 5.0 / 1e6 * 0.625;
        assert!((ways[2].dollars - (0.10 + writes)).abs() < 1e-9);
        assert!((ways[2].hours.unwrap() * 2.0 - ways[0].hours.unwrap()).abs() < 1e-9);
    }
}
