//! Where a destination's delivery resumes after a start: its cursor, and
//! the events past it that were finished already. Batches finish out of
//! order (several are in flight, a stuck key holds the cursor while other
//! keys flow), so the cursor alone would send those again; their attempt
//! records, written in the same transaction as the cursor, say which.

use std::collections::BTreeSet;

use redb::ReadableDatabase;
use serde::Deserialize;

use super::tables::ATTEMPTS;
use super::{AttemptOutcome, Log, LogError, stored_cursor};

/// What a destination starts from.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Resume {
    /// The first unfinished sequence.
    pub cursor: u64,
    /// Sequences past the cursor that live delivery finished (delivered,
    /// dead-lettered or filtered): passed over, not sent again.
    pub finished: BTreeSet<u64>,
}

/// The two fields of an attempt record this needs.
#[derive(Deserialize)]
struct Outcome {
    outcome: AttemptOutcome,
    #[serde(default)]
    replay: Option<String>,
}

impl Log {
    /// Where `destination` resumes. Blocking; reads the destination's
    /// attempts past its cursor (those of a few batches, or of the events
    /// that flowed past a stuck key).
    pub fn resume(&self, destination: &str) -> Result<Resume, LogError> {
        let txn = self.inner.db.begin_read()?;
        let cursor = stored_cursor(&txn, destination)?;
        let attempts = txn.open_table(ATTEMPTS)?;
        let mut finished = BTreeSet::new();
        for entry in attempts.range((destination, cursor, 0)..=(destination, u64::MAX, u32::MAX))? {
            let (key, bytes) = entry?;
            let (_, sequence, _) = key.value();
            let attempt: Outcome =
                serde_json::from_slice(bytes.value()).map_err(|e| LogError::Unreadable {
                    sequence,
                    source: e,
                })?;
            let terminal = matches!(
                attempt.outcome,
                AttemptOutcome::Delivered | AttemptOutcome::DeadLettered | AttemptOutcome::Filtered
            );
            if terminal && attempt.replay.is_none() {
                finished.insert(sequence);
            }
        }
        Ok(Resume { cursor, finished })
    }
}
