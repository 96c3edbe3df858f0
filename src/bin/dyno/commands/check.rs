//! `dyno check`: compares the replica's definition with the primary's, side by side, so the
//! replica can be failed over to; `--apply` adds what is missing, never deleting. Exits 0 when
//! they match, 1 when they differ, 2 when they could not be compared.

use dyno::aws::table::{Table, not_the_primary};
use dyno::ops::definition::Definition;
use dyno::ops::drift::{self, Drift, Fix};
use dyno::ops::provision;

use super::replica_args::{ReplicaArgs, choices};
use super::targets::{self, TargetsArg};
use crate::Outcome;
use crate::connect::Connected;
use crate::failure::{Failure, exit_failure_if, usage};
use crate::progress;

/// Compare the replica's definition with the primary's (key schema, indexes, TTL, billing,
/// point-in-time recovery, deletion protection, stream, tags): exits 0 when they match, 1
/// when they differ, 2 when they could not be compared. Changes nothing without --apply.
#[derive(clap::Args)]
pub struct Args {
    /// Make the replica match where that is safe and additive: create a missing global index
    /// (waiting until it is ACTIVE), turn on TTL, point-in-time recovery and deletion
    /// protection, add missing tags. Never deletes an index, a tag or data.
    #[arg(long)]
    apply: bool,
    /// Print the differences as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    replica: ReplicaArgs,
    /// With --targets: check each target table instead of --replica-table (a projected target
    /// is checked for only the indexes whose attributes it keeps).
    #[command(flatten)]
    targets: TargetsArg,
}

/// Exit 0 when the definitions match, 1 when they differ, 2 when they could not be compared
/// (any error).
pub async fn run(at: &Connected, args: Args) -> Outcome {
    check(at, &args).await.map_err(|f| f.with_code(2))
}

async fn check(at: &Connected, args: &Args) -> Outcome {
    let choices = choices(&args.replica)?;
    let Some(specs) = targets::specs(&args.targets)? else {
        let primary = at.primary();
        let definition = Definition::read(&primary).await?;
        targets::note_archive(&definition, &choices);
        let wanted = definition.for_replica(&choices);
        let matches = check_one(&primary, &at.replica().await?, wanted, args, None).await?;
        return Ok(exit_failure_if(!matches));
    };
    let mut definitions = targets::Definitions::default();
    let mut all_match = true;
    for target in targets::tables(at, &specs).await? {
        let definition = definitions.of(&target.source).await?;
        let shape = targets::shape(&target.spec, definition)?;
        if !args.json {
            println!("target `{}`:", target.spec.name);
        }
        let choices = targets::choices_for(&target.spec, &choices);
        targets::note_archive(definition, &choices);
        let wanted = definition.for_target(&choices, |a| shape.keeps(a));
        let name = Some(target.spec.name.as_str());
        all_match &= check_one(&target.source, &target.table, wanted, args, name).await?;
    }
    Ok(exit_failure_if(!all_match))
}

/// Checks (and with `--apply` fixes) one replica or target against `wanted`; true when it
/// matches in the end.
async fn check_one(
    primary: &Table,
    replica: &Table,
    wanted: Definition,
    args: &Args,
    target: Option<&str>,
) -> Result<bool, Failure> {
    not_the_primary(primary, replica)
        .await
        .map_err(|e| usage(format!("{e}; nothing was checked or changed")))?;
    let mut found = Definition::read(replica).await?;
    let mut drifts = drift::drift(&wanted, &found);
    let unusable = drifts.iter().any(|d| d.fix == Fix::Unusable);
    let mut applied = Vec::new();
    if args.apply && !unusable && drifts.iter().any(|d| d.action.is_some()) {
        let bar = progress::counter("applying", "steps");
        let mut types = found.attribute_types();
        types.extend(wanted.attribute_types());
        let done = provision::apply(replica, found.billing, &types, &drifts, |state| {
            bar.set_message(state.to_owned())
        })
        .await;
        bar.finish_and_clear();
        applied = done?;
        found = Definition::read(replica).await?;
        drifts = drift::drift(&wanted, &found);
    }
    report(
        (primary, replica, target),
        &drifts,
        &applied,
        args,
        unusable,
    );
    Ok(drifts.is_empty())
}

fn report(
    (primary, replica, target): (&Table, &Table, Option<&str>),
    drifts: &[Drift],
    applied: &[String],
    args: &Args,
    unusable: bool,
) {
    let summary = summary(drifts, args.apply && unusable);
    if args.json {
        let mut json = serde_json::json!({
            "primary": primary.label(),
            "replica": replica.label(),
            "matches": drifts.is_empty(),
            "applied": applied,
            "differences": drifts,
            "summary": summary,
        });
        if let Some(target) = target {
            json["target"] = target.into();
        }
        println!("{json}");
        return;
    }
    for line in applied {
        println!("applied: {line}");
    }
    for d in drifts {
        println!("{}", d.line);
    }
    println!("{summary}");
}

/// The closing line: a match, or how many differences and who can fix them.
fn summary(drifts: &[Drift], refused: bool) -> String {
    if drifts.is_empty() {
        return "check: the replica matches the primary's definition".to_owned();
    }
    let count = |fix: Fix| drifts.iter().filter(|d| d.fix == fix).count();
    let mut line = format!(
        "check: {} difference{} ({} that `dyno check --apply` adds, {} for a person to decide)",
        drifts.len(),
        if drifts.len() == 1 { "" } else { "s" },
        count(Fix::Apply),
        count(Fix::Person) + count(Fix::Unusable)
    );
    if count(Fix::Unusable) > 0 {
        line.push_str(
            "; the replica's key schema differs, so it cannot serve the application: fail over \
             to it only after making a new replica",
        );
    }
    let protection = ["point-in-time recovery", "deletion protection"];
    if drifts.iter().any(|d| protection.contains(&d.what.as_str())) {
        line.push_str("; --no-pitr and --no-deletion-protection leave those off");
    }
    if refused {
        line.push_str("; nothing was applied to a replica with another key schema");
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_counts_who_can_fix_what() {
        assert_eq!(
            summary(&[], false),
            "check: the replica matches the primary's definition"
        );
        let drift = |fix| Drift {
            what: "x".into(),
            line: "x: y".into(),
            fix,
            action: None,
        };
        let line = summary(&[drift(Fix::Apply), drift(Fix::Person)], false);
        assert_eq!(
            line,
            "check: 2 differences (1 that `dyno check --apply` adds, 1 for a person to decide)"
        );
        let line = summary(&[drift(Fix::Unusable), drift(Fix::Apply)], true);
        assert!(line.contains("cannot serve the application"), "{line}");
        assert!(line.ends_with("nothing was applied to a replica with another key schema"));
    }
}
