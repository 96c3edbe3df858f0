//! What a replica gets of the primary's definition: the flags `create` and `check` share, turned
//! into the library's `ReplicaChoices`.

use clap::ValueEnum;
use dyno::ops::definition::{Billing, Capacity, ReplicaChoices};

use crate::failure::{Failure, usage};

/// What a replica gets of the primary's definition (`create`), or should have (`check`).
#[derive(clap::Args)]
pub struct ReplicaArgs {
    /// Without point-in-time recovery (on by default for a replica).
    #[arg(long)]
    pub no_pitr: bool,
    /// Without deletion protection (on by default for a replica).
    #[arg(long)]
    pub no_deletion_protection: bool,
    /// Without the primary's tags.
    #[arg(long)]
    pub no_tags: bool,
    /// Without TTL: an archive, which keeps what the primary's TTL deletes (with
    /// KEEP_TTL_DELETES and a stream that carries old images; `check` then wants TTL off).
    #[arg(long)]
    pub no_ttl: bool,
    /// Without the primary's secondary indexes.
    #[arg(long)]
    pub no_indexes: bool,
    /// The replica's billing [default: the primary's].
    #[arg(long, value_enum)]
    pub billing_mode: Option<BillingModeArg>,
    /// Read capacity units, with --billing-mode PROVISIONED.
    #[arg(long, value_parser = clap::value_parser!(i64).range(1..))]
    pub read_capacity: Option<i64>,
    /// Write capacity units, with --billing-mode PROVISIONED.
    #[arg(long, value_parser = clap::value_parser!(i64).range(1..))]
    pub write_capacity: Option<i64>,
    /// The replica's KMS key (a key is per region and account) [default: an AWS owned key].
    #[arg(long, env = "DYNO_REPLICA_KMS_KEY")]
    pub replica_kms_key: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum BillingModeArg {
    #[value(name = "PAY_PER_REQUEST")]
    PayPerRequest,
    #[value(name = "PROVISIONED")]
    Provisioned,
}

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
        ttl: !args.no_ttl,
        billing,
        kms_key: args.replica_kms_key.clone(),
    })
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
            no_ttl: false,
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
}
