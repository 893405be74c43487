//! What delivery writes back into the log: one record per attempt, the
//! dead-letter queue, and each destination's cursor — in one transaction,
//! so the cursor never passes an event whose outcome was not recorded.

use std::collections::{BTreeMap, HashMap};

use redb::{Database, ReadableTable};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::error::LogError;
use super::retention::received_ms;
use super::tables::{ATTEMPTS, ATTEMPTS_BY_START, CURSORS, DEAD_LETTERS};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    /// The destination took it; `coordinates` say where.
    Delivered,
    /// Failed; will be tried again after the backoff.
    Retryable,
    /// Failed for good (permanent error or retries exhausted): in the DLQ.
    DeadLettered,
    /// A transform dropped it; nothing was sent.
    Filtered,
    /// An operator removed it from the dead-letter queue without delivering it.
    Discarded,
    /// A replay could not deliver it (permanent error, or retries used up);
    /// replays never add to the dead-letter queue.
    Failed,
}

impl AttemptOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptOutcome::Delivered => "delivered",
            AttemptOutcome::Retryable => "retryable",
            AttemptOutcome::DeadLettered => "dead_lettered",
            AttemptOutcome::Filtered => "filtered",
            AttemptOutcome::Discarded => "discarded",
            AttemptOutcome::Failed => "failed",
        }
    }
}

/// One attempt to deliver one event to one destination.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttemptRecord {
    pub destination: String,
    pub event_id: String,
    pub sequence: u64,
    /// 1 for the first attempt.
    pub attempt: u32,
    pub started_at: String,
    pub duration_ms: u64,
    pub outcome: AttemptOutcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub coordinates: BTreeMap<String, String>,
    /// `name@sha256` of the destination plugin and each transform that ran.
    pub plugins: Vec<String>,
    /// The replay this attempt belongs to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<String>,
}

/// An event a destination gave up on, with a copy of the event so that it
/// can be redriven after retention deleted the original.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    pub destination: String,
    pub sequence: u64,
    pub event_id: String,
    pub error_code: String,
    pub error_message: String,
    pub attempts: u32,
    pub dead_lettered_at: String,
    pub event: Box<RawValue>,
}

/// Everything one delivered batch changes.
#[derive(Debug, Clone, Default)]
pub struct DeliveryProgress {
    pub destination: String,
    pub attempts: Vec<AttemptRecord>,
    pub dead_letters: Vec<DeadLetter>,
    /// Sequences that leave the dead-letter queue: discarded by an
    /// operator, or delivered by a redrive.
    pub leave_dlq: Vec<u64>,
    /// The next sequence this destination has not finished (never moves back).
    pub cursor: u64,
}

/// Writes attempts, dead letters and the cursor of delivered batches.
/// The cursor only moves forward.
///
/// Progress may skip the fsync: the cursor, the attempts and the dead
/// letters of a batch are one transaction, so a crash loses them together
/// and the batch is delivered again (at-least-once holds). The next
/// durable commit — any ingest, or this one within a second — persists them.
pub(super) fn record_progress(
    db: &Database,
    progresses: &mut [DeliveryProgress],
    durable: bool,
) -> Result<(), LogError> {
    let mut txn = db.begin_write()?;
    if !durable {
        txn.set_durability(redb::Durability::None)
            .map_err(|e| LogError::Storage(e.into()))?;
    }
    {
        let mut attempts = txn.open_table(ATTEMPTS)?;
        let mut by_start = txn.open_table(ATTEMPTS_BY_START)?;
        let mut dead = txn.open_table(DEAD_LETTERS)?;
        let mut cursors = txn.open_table(CURSORS)?;
        for progress in progresses {
            let destination = progress.destination.as_str();
            // Every attempt gets the next free number of its event here, so no
            // attempt ever overwrites another (restarts, redrives and replays
            // included); a dead letter counts the attempt that put it there.
            let mut numbers: HashMap<u64, u32> = HashMap::new();
            for attempt in &mut progress.attempts {
                let sequence = attempt.sequence;
                let last = attempts
                    .range((destination, sequence, 0)..=(destination, sequence, u32::MAX))?
                    .next_back()
                    .transpose()?
                    .map_or(0, |(key, _)| key.value().2);
                let number = last.saturating_add(1);
                numbers.insert(sequence, number);
                attempt.attempt = number;
                let json = serde_json::to_vec(&*attempt).expect("attempt records serialize");
                attempts.insert((destination, sequence, number), json.as_slice())?;
                by_start.insert(
                    (
                        received_ms(&attempt.started_at),
                        destination,
                        sequence,
                        number,
                    ),
                    (),
                )?;
            }
            for letter in &mut progress.dead_letters {
                if let Some(&number) = numbers.get(&letter.sequence) {
                    letter.attempts = number;
                }
                let json = serde_json::to_vec(&*letter).expect("dead letters serialize");
                dead.insert((destination, letter.sequence), json.as_slice())?;
            }
            for &sequence in &progress.leave_dlq {
                dead.remove((destination, sequence))?;
            }
            let current = cursors.get(destination)?.map_or(0, |g| g.value());
            if progress.cursor > current {
                cursors.insert(destination, progress.cursor)?;
            }
        }
    }
    txn.commit()?;
    Ok(())
}
