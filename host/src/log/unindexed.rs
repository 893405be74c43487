//! The events a crash left out of the indexes written late (the idempotency
//! keys and the events by customer): each index marks in `META` the sequence
//! below which it is complete; what follows was only in the writer's memory.

use redb::{ReadableTable, WriteTransaction};

use super::decode;
use super::error::LogError;
use super::record::RecordKeys;
use super::tables::{EVENTS, META};

/// Most events the writer holds before it merges them into the indexes
/// written late: a merge then dirties at most this many leaves of each (tens
/// of ms of the writer), and a restart after a crash reads at most about
/// this many events again.
pub(crate) const MAX_HELD_EVENTS: usize = 16_384;

/// Applies `each` to the keys of every event at or after `mark`'s sequence,
/// and moves the mark to `next_sequence` (the caller indexes what it got in
/// the same transaction). `None` when there is nothing to index: a log
/// without the mark was written before the index was written late, and
/// had every event indexed when it was stored. Blocking; part of opening
/// the log.
pub(crate) fn unindexed<T>(
    txn: &WriteTransaction,
    mark: &str,
    next_sequence: u64,
    mut each: impl FnMut(u64, RecordKeys<'_>) -> T,
) -> Result<Option<Vec<T>>, LogError> {
    let mut meta = txn.open_table(META)?;
    let from = meta.get(mark)?.map(|g| g.value());
    meta.insert(mark, next_sequence)?;
    let Some(from) = from.filter(|from| *from < next_sequence) else {
        return Ok(None);
    };
    let events = txn.open_table(EVENTS)?;
    let mut out = Vec::new();
    for entry in events.range(from..)? {
        let (sequence, stored) = entry?;
        let sequence = sequence.value();
        out.push(each(sequence, decode(stored.value(), sequence)?));
    }
    if !out.is_empty() {
        tracing::info!(
            events = out.len(),
            index = mark,
            "indexing the events stored since the last merge (unclean stop)"
        );
    }
    Ok(Some(out))
}
