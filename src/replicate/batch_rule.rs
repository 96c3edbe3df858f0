//! The batch rule: which records of a batch are reported in `batchItemFailures`, and which
//! unusable records go to the dead-letter queue. Lambda restarts a shard at the lowest failed
//! record and delivers everything after it again, so a record counts as done only when its key
//! was made to agree (or, if unusable, when the dead-letter queue kept it), and only records that
//! will not come back are dead-lettered: that way each is dead-lettered once.

/// What decoding made of one record of the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKey {
    /// A usable record: the number of its distinct key (0.. in the order first met).
    Key(usize),
    /// An unusable record: its number among the batch's unusable records.
    Unusable(usize),
    /// A record whose work is to leave the replica alone: a record of a key whose last record
    /// is a TTL delete without an old image, which an archive replica keeps as it is
    /// (`KEEP_TTL_DELETES`). It is done as soon as it is decoded.
    Kept,
}

/// The unusable records to dead-letter now (their numbers among the unusable ones): those before
/// the first record whose key failed. Those after it come back with it, and are decided then.
pub fn to_dead_letter(records: &[RecordKey], key_failed: &[bool]) -> Vec<usize> {
    records
        .iter()
        .take_while(|record| !matches!(record, RecordKey::Key(k) if failed(key_failed, *k)))
        .filter_map(|record| match record {
            RecordKey::Unusable(u) => Some(*u),
            RecordKey::Key(_) | RecordKey::Kept => None,
        })
        .collect()
}

/// The positions of the records to report as failed: every record whose key failed, and every
/// unusable record the dead-letter queue did not confirm (`kept[u]` for unusable record `u`).
pub fn failed_records(records: &[RecordKey], key_failed: &[bool], kept: &[bool]) -> Vec<usize> {
    records
        .iter()
        .enumerate()
        .filter(|(_, record)| match record {
            RecordKey::Key(k) => failed(key_failed, *k),
            RecordKey::Unusable(u) => !kept.get(*u).copied().unwrap_or(false),
            RecordKey::Kept => false,
        })
        .map(|(position, _)| position)
        .collect()
}

/// A key number the engine never accounted for counts as failed.
fn failed(key_failed: &[bool], key: usize) -> bool {
    key_failed.get(key).copied().unwrap_or(true)
}

#[cfg(test)]
mod tests {
    use super::RecordKey::{Kept, Key, Unusable};
    use super::*;

    #[test]
    fn kept_records_never_fail_and_are_never_dead_lettered() {
        let records = [Kept, Key(0), Unusable(0), Kept];
        assert_eq!(failed_records(&records, &[true], &[true]), [1]);
        assert_eq!(to_dead_letter(&records, &[false]), [0]);
        assert!(failed_records(&records, &[false], &[true]).is_empty());
    }

    #[test]
    fn records_fail_with_their_key() {
        // Keys 0 and 1; key 1 failed: both of its records fail, key 0's do not.
        let records = [Key(0), Key(1), Key(0), Key(1)];
        assert_eq!(failed_records(&records, &[false, true], &[]), [1, 3]);
        assert!(failed_records(&records, &[false, false], &[]).is_empty());
    }

    #[test]
    fn unusable_records_fail_unless_kept() {
        let records = [Unusable(0), Key(0), Unusable(1)];
        assert_eq!(failed_records(&records, &[false], &[true, false]), [2]);
        assert_eq!(failed_records(&records, &[false], &[]), [0, 2]);
    }

    #[test]
    fn keys_the_engine_did_not_account_for_fail() {
        assert_eq!(failed_records(&[Key(0), Key(5)], &[false], &[]), [1]);
    }

    #[test]
    fn only_unusable_records_before_the_first_failure_are_dead_lettered() {
        let records = [
            Unusable(0),
            Key(0),
            Unusable(1),
            Key(1),
            Unusable(2),
            Key(0),
        ];
        assert_eq!(to_dead_letter(&records, &[false, false]), [0, 1, 2]);
        // Key 1 failed at position 3: unusable record 2 comes back with it.
        assert_eq!(to_dead_letter(&records, &[false, true]), [0, 1]);
        assert_eq!(to_dead_letter(&records, &[true, true]), [0]);
    }
}
