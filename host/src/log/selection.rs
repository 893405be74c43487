//! Choosing events by range for a replay, and numbering their next attempts.

use redb::ReadableDatabase;

use pushrail_event::glob_matches;

use super::error::LogError;
use super::retention::received_ms;
use super::tables::EVENTS;
use super::{EventRecord, Log};

/// Which stored events a replay covers: a sequence range and/or a receipt
/// time range (both inclusive of the start, exclusive of the end), and
/// optionally only some event types (`order.*`).
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub from_sequence: Option<u64>,
    /// Inclusive.
    pub to_sequence: Option<u64>,
    pub since_ms: Option<u64>,
    pub until_ms: Option<u64>,
    pub event_type: Option<String>,
}

/// Only the fields a selection looks at (owned only when a value has a
/// JSON escape in it, e.g. a quote in an event type).
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct SelectionKeys<'a> {
    #[serde(borrow)]
    received_at: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    event_type: std::borrow::Cow<'a, str>,
}

impl Log {
    /// The sequences of the stored events `selection` covers, in log order,
    /// at most `max`, and whether more follow; `Err` only for storage
    /// problems. Blocking.
    pub fn select(&self, selection: &Selection, max: usize) -> Result<(Vec<u64>, bool), LogError> {
        let mut out = Vec::new();
        let more = self.walk(selection, |sequence| {
            if out.len() == max {
                return false;
            }
            out.push(sequence);
            true
        })?;
        Ok((out, more))
    }

    /// How many stored events `selection` covers, counting to `max`, and
    /// whether there are more. Blocking.
    pub fn count_selected(
        &self,
        selection: &Selection,
        max: usize,
    ) -> Result<(usize, bool), LogError> {
        let mut count = 0;
        let more = self.walk(selection, |_| {
            if count == max {
                return false;
            }
            count += 1;
            true
        })?;
        Ok((count, more))
    }

    /// Calls `take` with each sequence `selection` covers, in log order,
    /// until it returns false; true when it stopped early.
    fn walk(
        &self,
        selection: &Selection,
        mut take: impl FnMut(u64) -> bool,
    ) -> Result<bool, LogError> {
        let from = selection.from_sequence.unwrap_or(0);
        let to = selection.to_sequence.unwrap_or(u64::MAX);
        if from > to {
            return Ok(false);
        }
        let txn = self.inner.db.begin_read()?;
        let events = txn.open_table(EVENTS)?;
        for entry in events.range(from..=to)? {
            let (sequence, bytes) = entry?;
            let sequence = sequence.value();
            let keys: SelectionKeys<'_> = super::decode(bytes.value(), sequence)?;
            let at = received_ms(&keys.received_at);
            if selection.until_ms.is_some_and(|u| at >= u) {
                // Receipt times follow sequences: nothing later can match.
                break;
            }
            if selection.since_ms.is_some_and(|s| at < s) {
                continue;
            }
            if let Some(pattern) = &selection.event_type
                && !glob_matches(pattern, &keys.event_type)
            {
                continue;
            }
            if !take(sequence) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The stored events with these sequences, in the given order, skipping
    /// any retention deleted. Blocking.
    pub fn read_sequences(&self, sequences: &[u64]) -> Result<Vec<EventRecord>, LogError> {
        let txn = self.inner.db.begin_read()?;
        let events = txn.open_table(EVENTS)?;
        let mut out = Vec::with_capacity(sequences.len());
        for &sequence in sequences {
            if let Some(bytes) = events.get(sequence)? {
                out.push(super::decode(bytes.value(), sequence)?);
            }
        }
        Ok(out)
    }
}
