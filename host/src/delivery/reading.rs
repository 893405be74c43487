//! How a destination's worker reads the log: new events after the
//! window's last (within the room the plan gives), and evicted events
//! read back when their key moves. Reads run off the async threads.

use std::sync::Arc;
use std::time::Instant;

use super::plan::{Room, STORAGE_RETRY};
use super::window::Window;
use super::worker::Worker;
use crate::log::{EventRecord, Log, LogError};

impl Worker {
    /// Adds events read from the log to the window; true when that was all
    /// the log had.
    pub(super) fn push(&self, window: &mut Window, read: Read) -> bool {
        let now = Instant::now();
        for (record, bytes) in read.records {
            if record.sequence <= window.read_through() {
                continue;
            }
            // Not this destination's, or finished before a restart: passed over.
            if !self.config.subscription.selects(&record)
                || window.finished_already(record.sequence)
            {
                window.pass_over(record.sequence);
                continue;
            }
            let key: Arc<str> = Arc::from(self.config.partition_key.value_in(&record));
            window.push(record, key, bytes, now);
        }
        // Another customer's events up to here were never read: passed over.
        if let Some(through) = read.through {
            window.pass_over(through);
        }
        read.caught_up
    }

    /// Reads evicted events back from the log.
    pub(super) async fn reload(&mut self, window: &mut Window, sequences: Vec<u64>) {
        let wanted = sequences.clone();
        match blocking(&self.log, move |log| log.read_sequences(&wanted)).await {
            Ok(records) => {
                for &sequence in &sequences {
                    if !records.iter().any(|r| r.sequence == sequence) {
                        tracing::error!(destination = %self.config.name, sequence, "an unfinished event is gone from the log; skipping it");
                        window.finish(sequence);
                    }
                }
                window.restore(records);
            }
            Err(e) => {
                tracing::error!(destination = %self.config.name, error = %e, "cannot read waiting events back; retrying");
                self.back_off(STORAGE_RETRY).await;
            }
        }
    }
}

/// Events read from the log, each with its stored size.
pub(super) struct Read {
    pub(super) records: Vec<(EventRecord, usize)>,
    pub(super) caught_up: bool,
    /// For a read of one customer's index: every sequence up to this one
    /// was read or is another customer's.
    pub(super) through: Option<u64>,
}

/// Up to `room` events after sequence `after` — only `customer`'s, read
/// through the log's index, when the destination has one customer — and
/// whether that was all the log had (false when there was no room to look).
pub(super) async fn read_next(
    log: Log,
    after: u64,
    room: Room,
    customer: Option<Arc<str>>,
) -> Result<Read, LogError> {
    if room.is_empty() {
        return Ok(Read {
            records: Vec::new(),
            caught_up: false,
            through: None,
        });
    }
    blocking(&log, move |log| match customer {
        Some(customer) => {
            let read = log.read_customer_bounded(&customer, after + 1, room.events, room.bytes)?;
            Ok(Read {
                records: read.records,
                caught_up: read.caught_up,
                through: Some(read.through),
            })
        }
        None => {
            let (records, caught_up) = log.read_from_bounded(after + 1, room.events, room.bytes)?;
            Ok(Read {
                records,
                caught_up,
                through: None,
            })
        }
    })
    .await
}

/// Runs a blocking log read off the async threads, on the shared read
/// pool (a few threads for every destination: see [`crate::pool`]).
pub(super) async fn blocking<T: Send + 'static>(
    log: &Log,
    f: impl FnOnce(&Log) -> Result<T, LogError> + Send + 'static,
) -> Result<T, LogError> {
    let log = log.clone();
    crate::pool::read(move || f(&log))
        .await
        .map_err(|_| LogError::Closed)?
}
