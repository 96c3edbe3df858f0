//! A table's identity, as DynamoDB reports it: two tables are one when `DescribeTable` says so
//! (the same `TableId`, else the same `TableArn`), whatever name, ARN, endpoint or host name
//! reached them. A pair that cannot be told apart is treated as one table: a check that cannot
//! decide refuses.

use aws_sdk_dynamodb::types::TableDescription;

/// What `DescribeTable` says a table is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `TableId`: unique to this table, for its whole life (dynalite and AWS give it; moto does
    /// not).
    pub id: Option<String>,
    /// `TableArn`: region, account and name (two local servers may give the same one for two
    /// tables of one name).
    pub arn: Option<String>,
}

/// Whether two identities are one table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sameness {
    Same,
    Different,
    /// Neither a `TableId` nor a `TableArn` on both sides: nothing to compare.
    Undecided,
}

impl Identity {
    /// The identity in a `DescribeTable` answer.
    pub fn of(description: &TableDescription) -> Identity {
        let given = |s: Option<&str>| s.filter(|s| !s.is_empty()).map(str::to_owned);
        Identity {
            id: given(description.table_id()),
            arn: given(description.table_arn()),
        }
    }

    /// Whether `self` and `other` are one table: decided by `TableId` when both have one, else by
    /// `TableArn` (an ARN names one table on AWS; the same ARN without ids to tell two tables
    /// apart counts as the same table), else undecided.
    pub fn compare(&self, other: &Identity) -> Sameness {
        if let (Some(a), Some(b)) = (&self.id, &other.id) {
            return if a == b {
                Sameness::Same
            } else {
                Sameness::Different
            };
        }
        match (&self.arn, &other.arn) {
            (Some(a), Some(b)) if a == b => Sameness::Same,
            (Some(_), Some(_)) => Sameness::Different,
            _ => Sameness::Undecided,
        }
    }

    /// How messages show it: the ARN, else the id, else a word saying DynamoDB gave neither.
    pub fn shown(&self) -> String {
        match (&self.arn, &self.id) {
            (Some(arn), Some(id)) => format!("{arn}, TableId {id}"),
            (Some(arn), None) => arn.clone(),
            (None, Some(id)) => format!("TableId {id}"),
            (None, None) => "no TableId or TableArn".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(id: Option<&str>, arn: Option<&str>) -> Identity {
        Identity {
            id: id.map(str::to_owned),
            arn: arn.map(str::to_owned),
        }
    }

    const ARN: &str = "arn:aws:dynamodb:us-east-1:123456789012:table/users";

    #[test]
    fn the_id_decides_when_both_have_one() {
        let a = identity(Some("1"), Some(ARN));
        assert_eq!(a.compare(&identity(Some("1"), None)), Sameness::Same);
        // Two local servers give one ARN to two tables of one name: the ids tell them apart.
        assert_eq!(
            a.compare(&identity(Some("2"), Some(ARN))),
            Sameness::Different
        );
    }

    #[test]
    fn without_ids_the_arn_decides_and_the_same_arn_is_one_table() {
        let other = "arn:aws:dynamodb:eu-west-1:123456789012:table/users";
        let a = identity(None, Some(ARN));
        assert_eq!(a.compare(&identity(Some("1"), Some(ARN))), Sameness::Same);
        assert_eq!(a.compare(&identity(None, Some(other))), Sameness::Different);
    }

    #[test]
    fn nothing_to_compare_is_undecided() {
        let none = identity(None, None);
        assert_eq!(
            none.compare(&identity(None, Some(ARN))),
            Sameness::Undecided
        );
        assert_eq!(
            identity(Some("1"), None).compare(&identity(None, Some(ARN))),
            Sameness::Undecided
        );
        assert_eq!(none.shown(), "no TableId or TableArn");
    }

    #[test]
    fn an_empty_answer_is_no_answer() {
        let description = TableDescription::builder()
            .table_id("")
            .table_arn(ARN)
            .build();
        assert_eq!(Identity::of(&description), identity(None, Some(ARN)));
    }
}
