//! The replica as a failover target: `create` gives a new replica the primary's definition, and
//! `check` compares the two definitions side by side (`--apply` adds what is missing, never
//! deleting). Thin functions over `dyno::ops::definition`, `dyno::ops::drift` and `dyno::ops::provision`.

use std::process::ExitCode;

use dyno::aws::table::Table;
use dyno::ops::admin::AdminError;
use dyno::ops::definition::{Billing, Capacity, Definition, ReplicaChoices};
use dyno::ops::drift::{self, Drift, Fix};
use dyno::ops::provision;

use crate::connect::Connected;
use crate::failure::{Failure, Usage};
use crate::progress;
use crate::{BillingModeArg, CheckArgs, Outcome, ReplicaArgs};

/// The operator's choices, from the flags; capacities only with PROVISIONED, and both.
pub fn choices(args: &ReplicaArgs) -> Result<ReplicaChoices, Failure> {
    let billing = match (args.billing_mode, args.read_capacity, args.write_capacity) {
        (None, None, None) => None,
        (Some(BillingModeArg::PayPerRequest), None, None) => Some(Billing::OnDemand),
        (Some(BillingModeArg::Provisioned), Some(read), Some(write)) => {
            Some(Billing::Provisioned(Capacity { read, write }))
        }
        (Some(BillingModeArg::Provisioned), _, _) => {
            return Err(usage(
                "--billing-mode PROVISIONED needs --read-capacity and --write-capacity",
            ));
        }
        _ => {
            return Err(usage(
                "--read-capacity and --write-capacity go with --billing-mode PROVISIONED",
            ));
        }
    };
    Ok(ReplicaChoices {
        indexes: !args.no_indexes,
        point_in_time_recovery: !args.no_pitr,
        deletion_protection: !args.no_deletion_protection,
        tags: !args.no_tags,
        billing,
        kms_key: args.replica_kms_key.clone(),
    })
}

fn usage(message: &str) -> Failure {
    Usage(message.to_owned()).into()
}

/// Creates a missing replica from the primary's definition, or says how an existing one
/// differs (changing nothing).
pub async fn replica_of(
    primary: &Definition,
    replica: &Table,
    choices: &ReplicaChoices,
) -> Result<(), Failure> {
    let wanted = primary.for_replica(choices);
    let name = &replica.name;
    match Definition::read(replica).await {
        Err(e) if e.is_missing() => {
            let said = provision::create(replica, &wanted).await?;
            for (n, line) in said.iter().enumerate() {
                match n {
                    0 => eprintln!("table `{name}` ({}): {line}", wanted.schema),
                    _ => eprintln!("  {line}"),
                }
            }
            if primary.kms_key.is_some() && choices.kms_key.is_none() {
                eprintln!(
                    "  encrypted with an AWS owned key; the primary uses a customer managed key \
                     (a key is per region and account: give --replica-kms-key ARN)"
                );
            }
        }
        Err(e) => return Err(e.into()),
        Ok(found) if found.schema != wanted.schema => {
            return Err(AdminError::SchemaMismatch {
                table: replica.label(),
                found: Box::new(found.schema),
                wanted: Box::new(wanted.schema),
            }
            .into());
        }
        Ok(found) => {
            let drifts = drift::drift(&wanted, &found);
            eprintln!("table `{name}` ({}): exists, left as it is", wanted.schema);
            for d in &drifts {
                eprintln!("  {}", d.line);
            }
            if !drifts.is_empty() {
                eprintln!("  see `dyno check`; `dyno check --apply` adds what is missing");
            }
        }
    }
    Ok(())
}

/// `dyno check`: exit 0 when the definitions match, 1 when they differ, 2 when they could not
/// be compared (the dispatcher maps errors to 2).
pub async fn check(at: &Connected, args: &CheckArgs) -> Outcome {
    let choices = choices(&args.replica)?;
    let (primary, replica) = (at.primary(), at.replica().await?);
    let wanted = Definition::read(&primary).await?.for_replica(&choices);
    let mut found = Definition::read(&replica).await?;
    let mut drifts = drift::drift(&wanted, &found);
    let unusable = drifts.iter().any(|d| d.fix == Fix::Unusable);
    let mut applied = Vec::new();
    if args.apply && !unusable && drifts.iter().any(|d| d.action.is_some()) {
        let bar = progress::counter("applying", "steps");
        let mut types = found.attribute_types();
        types.extend(wanted.attribute_types());
        let done = provision::apply(&replica, found.billing, &types, &drifts, |state| {
            bar.set_message(state.to_owned())
        })
        .await;
        bar.finish_and_clear();
        applied = done?;
        found = Definition::read(&replica).await?;
        drifts = drift::drift(&wanted, &found);
    }
    report(&primary, &replica, &drifts, &applied, args, unusable);
    Ok(match drifts.is_empty() {
        true => ExitCode::SUCCESS,
        false => ExitCode::FAILURE,
    })
}

fn report(
    primary: &Table,
    replica: &Table,
    drifts: &[Drift],
    applied: &[String],
    args: &CheckArgs,
    unusable: bool,
) {
    let summary = summary(drifts, args.apply && unusable);
    if args.json {
        let json = serde_json::json!({
            "primary": primary.label(),
            "replica": replica.label(),
            "matches": drifts.is_empty(),
            "applied": applied,
            "differences": drifts,
            "summary": summary,
        });
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
        "check: {} differences ({} that `dyno check --apply` adds, {} for a person to decide)",
        drifts.len(),
        count(Fix::Apply),
        count(Fix::Person) + count(Fix::Unusable)
    );
    if count(Fix::Unusable) > 0 {
        line.push_str(
            "; the replica's key schema differs, so it cannot serve the application: fail over \
             to it only after making a new replica",
        );
    }
    if refused {
        line.push_str("; nothing was applied to a replica with another key schema");
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(
        billing_mode: Option<BillingModeArg>,
        read: Option<i64>,
        write: Option<i64>,
    ) -> ReplicaArgs {
        ReplicaArgs {
            no_pitr: false,
            no_deletion_protection: true,
            no_tags: false,
            no_indexes: false,
            billing_mode,
            read_capacity: read,
            write_capacity: write,
            replica_kms_key: None,
        }
    }

    #[test]
    fn billing_flags_go_together() {
        let ok = choices(&args(Some(BillingModeArg::Provisioned), Some(5), Some(7))).unwrap();
        assert_eq!(
            ok.billing,
            Some(Billing::Provisioned(Capacity { read: 5, write: 7 }))
        );
        assert!(!ok.deletion_protection && ok.point_in_time_recovery);
        for bad in [
            args(Some(BillingModeArg::Provisioned), Some(5), None),
            args(Some(BillingModeArg::PayPerRequest), Some(5), Some(5)),
            args(None, Some(5), Some(5)),
        ] {
            let err = choices(&bad).unwrap_err();
            assert!(
                err.one_line().contains("--read-capacity"),
                "{}",
                err.one_line()
            );
        }
    }

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
