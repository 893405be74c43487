//! What delivery writes back into the log: one record per attempt, the
//! dead-letter queue, and each destination's cursor — in one transaction,
//! so the cursor never passes an event whose outcome was not recorded.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

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
