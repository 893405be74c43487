//! The durable event log on redb: events by sequence, ids, idempotency
//! keys and destination cursors. All writes go through one writer thread
//! that groups concurrent appends into one durable commit
//! ([`group_commit`]); reads use their own snapshot transactions.

mod by_customer;
mod customer_destinations;
mod customers;
mod delivery_records;
mod error;
mod group_commit;
mod health;
mod idempotency;
mod listing;
mod recent_customers;
pub mod record;
mod resume;
mod retention;
mod selection;
mod tables;
mod unindexed;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use redb::{Database, ReadableDatabase, ReadableTable};
use tokio::sync::oneshot;

pub use by_customer::CustomerRead;
pub use customer_destinations::CustomerDestination;
pub use customers::{Customer, CustomerUpdate};
pub use delivery_records::{AttemptOutcome, AttemptRecord, DeadLetter, DeliveryProgress};
pub use error::LogError;
pub use group_commit::format_time;
use group_commit::{Command, Writer};
pub use health::Health;
pub use listing::{ListFilter, Page};
pub use record::{EventBody, EventRecord, NewEvent};
pub use resume::Resume;
pub use retention::{CursorScope, PruneOutcome, spawn_sweeper};
pub use selection::Selection;
use tables::{
    ATTEMPTS, ATTEMPTS_BY_START, CURSORS, DEAD_LETTERS, EVENT_IDS, EVENTS, IDEMPOTENCY, META,
    META_NEXT_SEQUENCE, META_PAUSED_PREFIX,
};

use crate::config::StorageConfig;

/// File name of the redb database inside the data directory.
pub const LOG_FILE: &str = "pushrail.redb";

/// How many append requests may wait for the writer before callers wait too.
const QUEUE_DEPTH: usize = 16_384;

/// The result of appending one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    pub id: String,
    pub sequence: u64,
    /// True when an event with the same (source, idempotencyKey) was already
    /// stored inside the idempotency window; `id` and `sequence` are its.
    pub duplicate: bool,
}

/// Counters of the writer, for metrics and benchmarks.
#[derive(Debug, Default)]
pub struct LogStats {
    pub commits: AtomicU64,
    pub events: AtomicU64,
    pub duplicates: AtomicU64,
    pub commit_micros: AtomicU64,
    /// Commits per duration bucket of [`COMMIT_BOUNDS`] (not cumulative).
    commit_buckets: [AtomicU64; COMMIT_BOUNDS.len()],
}

/// Upper bounds, in seconds, of the commit-time histogram.
pub const COMMIT_BOUNDS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

impl LogStats {
    pub(crate) fn observe_commit(&self, took: std::time::Duration) {
        let micros = took.as_micros() as u64;
        self.commits.fetch_add(1, Ordering::Relaxed);
        self.commit_micros.fetch_add(micros, Ordering::Relaxed);
        let seconds = took.as_secs_f64();
        if let Some(i) = COMMIT_BOUNDS.iter().position(|b| seconds <= *b) {
            self.commit_buckets[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// (upper bound in seconds, commits in that bucket), in order.
    pub fn commit_histogram(&self) -> Vec<(f64, u64)> {
        COMMIT_BOUNDS
            .iter()
            .zip(&self.commit_buckets)
            .map(|(b, n)| (*b, n.load(Ordering::Relaxed)))
            .collect()
    }
}

/// A handle to the open log; cheap to clone.
#[derive(Clone)]
pub struct Log {
    inner: Arc<Inner>,
}

struct Inner {
    db: Arc<Database>,
    path: PathBuf,
    commands: flume::Sender<Command>,
    writer: Mutex<Option<JoinHandle<()>>>,
    stats: Arc<LogStats>,
    committed: tokio::sync::watch::Receiver<u64>,
    /// Per-customer wake-ups (see [`by_customer`]).
    wakers: Arc<by_customer::Wakers>,
    /// Events not yet in the index by customer.
    recent_customers: Arc<recent_customers::RecentCustomers>,
    health: Arc<Health>,
}

impl Log {
    /// Opens (creating if needed) the log in `config.data_dir` and starts its writer.
    pub fn open(config: &StorageConfig) -> Result<Self, LogError> {
        let dir = &config.data_dir;
        std::fs::create_dir_all(dir).map_err(|source| LogError::CreateDir {
            path: dir.clone(),
            source,
        })?;
        let path = dir.join(LOG_FILE);
        // redb's page cache is the bulk of our memory under a large log;
        // the OS page cache still holds the file.
        let db = redb::Builder::new()
            .set_cache_size(config.cache_size)
            .create(&path)
            .map_err(|e| match e {
                redb::DatabaseError::DatabaseAlreadyOpen => LogError::AlreadyOpen(path.clone()),
                other => LogError::Open {
                    path: path.clone(),
                    source: other.into(),
                },
            })?;
        let next_sequence = initialize(&db)?;
        let db = Arc::new(db);
        let (commands, receiver) = flume::bounded(QUEUE_DEPTH);
        let stats = Arc::new(LogStats::default());
        let health = Arc::new(Health::default());
        let (committed_tx, committed) = tokio::sync::watch::channel(next_sequence);
        let wakers = Arc::new(by_customer::Wakers::default());
        let recent_customers = Arc::new(recent_customers::RecentCustomers::new(next_sequence));
        let writer = Writer {
            recent_customers: recent_customers.clone(),
            committed: committed_tx,
            wakers: wakers.clone(),
            last_durable: std::time::Instant::now(),
            db: db.clone(),
            commands: receiver,
            config: config.group_commit,
            idempotency_window: config.idempotency_window,
            recent_keys: idempotency::RecentKeys::default(),
            next_sequence,
            stats: stats.clone(),
            health: health.clone(),
        };
        let handle = std::thread::Builder::new()
            .name("pushrail-log-writer".into())
            .spawn(move || writer.run())
            .map_err(|source| LogError::CreateDir {
                path: dir.clone(),
                source,
            })?;
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                path,
                commands,
                writer: Mutex::new(Some(handle)),
                stats,
                committed,
                wakers,
                recent_customers,
                health,
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    pub fn stats(&self) -> &LogStats {
        &self.inner.stats
    }

    /// Why the log cannot accept writes (`None`: it can): shutting down, or
    /// the storage failed. The reason names no file-system path.
    pub fn unready_reason(&self) -> Option<String> {
        if !self.is_ready() {
            return Some("the log is shutting down".into());
        }
        self.inner.health.failure().map(|reason| {
            format!("the log's storage failed ({reason}); restart after fixing the disk")
        })
    }

    /// True while the writer accepts appends.
    pub fn is_ready(&self) -> bool {
        !self.inner.commands.is_disconnected()
            && self
                .inner
                .writer
                .lock()
                .map(|w| w.as_ref().is_some_and(|h| !h.is_finished()))
                .unwrap_or(false)
    }

    /// Appends `events` atomically: after a durable commit every one of them
    /// is stored (or found to be a duplicate); on error none of them is.
    pub async fn append(&self, events: Vec<NewEvent>) -> Result<Vec<Appended>, LogError> {
        self.ask(|reply| Command::Append { events, reply }).await
    }

    /// Hands the writer thread a command carrying `reply`, and waits for its answer.
    async fn ask<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<Result<T, LogError>>) -> Command,
    ) -> Result<T, LogError> {
        let (reply, answer) = oneshot::channel();
        self.inner
            .commands
            .send_async(command(reply))
            .await
            .map_err(|_| LogError::Closed)?;
        answer.await.map_err(|_| LogError::Closed)?
    }

    pub(crate) async fn prune(
        &self,
        received_before_ms: u64,
        below_sequence: u64,
        max_events: usize,
    ) -> Result<PruneOutcome, LogError> {
        self.ask(|reply| Command::Prune {
            received_before_ms,
            below_sequence,
            max_events,
            reply,
        })
        .await
    }

    /// Deletes the attempts at `keys`, in one transaction on the writer thread.
    pub(crate) async fn remove_attempts(
        &self,
        keys: Vec<listing::AttemptKey>,
    ) -> Result<usize, LogError> {
        self.ask(|reply| Command::RemoveAttempts { keys, reply })
            .await
    }

    /// Remembers whether `destination` is paused, across restarts. Blocking.
    pub fn set_paused(&self, destination: &str, paused: bool) -> Result<(), LogError> {
        let key = format!("{META_PAUSED_PREFIX}{destination}");
        let txn = self.inner.db.begin_write()?;
        {
            let mut meta = txn.open_table(META)?;
            if paused {
                meta.insert(key.as_str(), 1)?;
            } else {
                meta.remove(key.as_str())?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// Whether an operator paused `destination` (and did not resume it). Blocking.
    pub fn is_paused(&self, destination: &str) -> Result<bool, LogError> {
        let key = format!("{META_PAUSED_PREFIX}{destination}");
        let txn = self.inner.db.begin_read()?;
        let meta = txn.open_table(META)?;
        Ok(meta.get(key.as_str())?.is_some_and(|g| g.value() == 1))
    }

    /// The stored record (raw JSON) of the event with `id`. Blocking.
    pub fn get_raw_by_id(&self, id: &str) -> Result<Option<Vec<u8>>, LogError> {
        let txn = self.inner.db.begin_read()?;
        let ids = txn.open_table(EVENT_IDS)?;
        let Some(sequence) = ids.get(id)?.map(|g| g.value()) else {
            return Ok(None);
        };
        let events = txn.open_table(EVENTS)?;
        Ok(events.get(sequence)?.map(|g| g.value().to_vec()))
    }

    /// The decoded event with `id`. Blocking.
    pub fn get_by_id(&self, id: &str) -> Result<Option<EventRecord>, LogError> {
        self.get_raw_by_id(id)?
            .map(|raw| decode(&raw, 0))
            .transpose()
    }

    /// Up to `limit` events with sequence ≥ `from`, in log order. Blocking.
    pub fn read_from(&self, from: u64, limit: usize) -> Result<Vec<EventRecord>, LogError> {
        let txn = self.inner.db.begin_read()?;
        let events = txn.open_table(EVENTS)?;
        let mut out = Vec::new();
        for entry in events.range(from..)?.take(limit) {
            let (sequence, bytes) = entry?;
            out.push(decode(bytes.value(), sequence.value())?);
        }
        Ok(out)
    }

    /// Events with sequence ≥ `from`, in log order, each with its stored
    /// size: at most `max_events`, and no more once `max_bytes` is reached
    /// (at least one). True when that was everything the log had. Blocking.
    pub fn read_from_bounded(
        &self,
        from: u64,
        max_events: usize,
        max_bytes: usize,
    ) -> Result<(Vec<(EventRecord, usize)>, bool), LogError> {
        let txn = self.inner.db.begin_read()?;
        let events = txn.open_table(EVENTS)?;
        let mut out = Vec::new();
        let mut bytes = 0;
        for entry in events.range(from..)? {
            if out.len() == max_events || (bytes >= max_bytes && !out.is_empty()) {
                return Ok((out, false));
            }
            let (sequence, stored) = entry?;
            let size = stored.value().len();
            bytes += size;
            out.push((decode(stored.value(), sequence.value())?, size));
        }
        Ok((out, true))
    }

    /// Watches the next sequence: it changes after every commit that stored events.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.committed.clone()
    }

    /// Writes what one batch of a destination changed; the cursor only moves forward.
    pub async fn record(&self, progress: DeliveryProgress) -> Result<(), LogError> {
        self.ask(|reply| Command::Record { progress, reply }).await
    }

    /// The next sequence `destination` has not finished (1 when it never ran). Blocking.
    pub fn cursor(&self, destination: &str) -> Result<u64, LogError> {
        stored_cursor(&self.inner.db.begin_read()?, destination)
    }

    /// Sets where a new destination starts, unless it has a cursor
    /// already. Blocking.
    pub fn start_cursor(&self, destination: &str, sequence: u64) -> Result<(), LogError> {
        let txn = self.inner.db.begin_write()?;
        {
            let mut cursors = txn.open_table(CURSORS)?;
            if cursors.get(destination)?.is_none() {
                cursors.insert(destination, sequence)?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// Every attempt to deliver the event at `sequence` to `destination`, in order. Blocking.
    pub fn attempts(
        &self,
        destination: &str,
        sequence: u64,
    ) -> Result<Vec<AttemptRecord>, LogError> {
        let txn = self.inner.db.begin_read()?;
        let table = txn.open_table(ATTEMPTS)?;
        let mut out = Vec::new();
        for entry in table.range((destination, sequence, 0)..=(destination, sequence, u32::MAX))? {
            let (_, bytes) = entry?;
            out.push(
                serde_json::from_slice(bytes.value()).map_err(|e| LogError::Unreadable {
                    sequence,
                    source: e,
                })?,
            );
        }
        Ok(out)
    }

    /// One dead letter of `destination`. Blocking.
    pub fn dead_letter(
        &self,
        destination: &str,
        sequence: u64,
    ) -> Result<Option<DeadLetter>, LogError> {
        let txn = self.inner.db.begin_read()?;
        let table = txn.open_table(DEAD_LETTERS)?;
        table
            .get((destination, sequence))?
            .map(|bytes| {
                serde_json::from_slice(bytes.value()).map_err(|e| LogError::Unreadable {
                    sequence,
                    source: e,
                })
            })
            .transpose()
    }

    /// The sequence of the event with `id`, if stored. Blocking.
    pub fn sequence_of(&self, id: &str) -> Result<Option<u64>, LogError> {
        let txn = self.inner.db.begin_read()?;
        let ids = txn.open_table(EVENT_IDS)?;
        Ok(ids.get(id)?.map(|g| g.value()))
    }

    /// How many dead letters `destination` has, without decoding them. Blocking.
    pub fn dead_letter_count(&self, destination: &str) -> Result<usize, LogError> {
        let txn = self.inner.db.begin_read()?;
        let table = txn.open_table(DEAD_LETTERS)?;
        Ok(table
            .range((destination, 0)..=(destination, u64::MAX))?
            .count())
    }

    /// The sequence the next new event will get.
    pub fn next_sequence(&self) -> Result<u64, LogError> {
        next_sequence_in(&self.inner.db.begin_read()?)
    }

    /// Stops the writer after it committed everything queued so far.
    pub fn close(&self) {
        let _ = self.inner.commands.send(Command::Shutdown);
        let handle = self.inner.writer.lock().ok().and_then(|mut w| w.take());
        if let Some(handle) = handle
            && handle.join().is_err()
        {
            tracing::error!("the log writer panicked");
        }
        let stats = &self.inner.stats;
        let events = stats.events.load(Ordering::Relaxed);
        let commits = stats.commits.load(Ordering::Relaxed);
        let commit_ms = stats.commit_micros.load(Ordering::Relaxed) / 1000;
        tracing::info!(events, commits, commit_ms, "log closed");
    }
}

/// A stored record, or the part of it a caller needs (e.g. [`record::RecordKeys`]).
pub(crate) fn decode<'a, T: serde::Deserialize<'a>>(
    bytes: &'a [u8],
    sequence: u64,
) -> Result<T, LogError> {
    serde_json::from_slice(bytes).map_err(|e| LogError::Unreadable {
        sequence,
        source: e,
    })
}

/// The next sequence as of the read transaction `txn`.
pub(crate) fn next_sequence_in(txn: &redb::ReadTransaction) -> Result<u64, LogError> {
    let meta = txn.open_table(META)?;
    Ok(meta.get(META_NEXT_SEQUENCE)?.map_or(1, |g| g.value()))
}

/// Creates the tables on first open and returns the next sequence.
fn initialize(db: &Database) -> Result<u64, LogError> {
    let txn = db.begin_write()?;
    let next = {
        txn.open_table(EVENTS)?;
        txn.open_table(EVENT_IDS)?;
        txn.open_table(IDEMPOTENCY)?;
        txn.open_table(CURSORS)?;
        txn.open_table(ATTEMPTS)?;
        txn.open_table(ATTEMPTS_BY_START)?;
        txn.open_table(DEAD_LETTERS)?;
        txn.open_table(tables::EVENTS_BY_CUSTOMER)?;
        listing::index_attempts_once(&txn)?;
        by_customer::index_customers_once(&txn)?;
        let mut meta = txn.open_table(META)?;
        let next = meta.get(META_NEXT_SEQUENCE)?.map_or(1, |g| g.value());
        meta.insert(META_NEXT_SEQUENCE, next)?;
        drop(meta);
        idempotency::index_tail(&txn, next)?;
        recent_customers::index_tail(&txn, next)?;
        next
    };
    txn.commit()?;
    Ok(next)
}

/// `destination`'s stored cursor as of `txn` (1 when it never ran).
fn stored_cursor(txn: &redb::ReadTransaction, destination: &str) -> Result<u64, LogError> {
    let cursors = txn.open_table(CURSORS)?;
    Ok(cursors.get(destination)?.map_or(1, |g| g.value().max(1)))
}

#[cfg(test)]
mod tests;
