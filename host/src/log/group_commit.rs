//! The single writer thread. Appends from many concurrent requests are
//! queued and written by one redb write transaction with a durable commit;
//! every request is answered only after the transaction holding its events
//! committed (or failed, in which case none of its events exist).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use redb::{Database, ReadableTable};
use tokio::sync::oneshot;

use super::delivery_records::{DeliveryProgress, record_progress};
use super::error::LogError;
use super::idempotency::{Original, RecentKeys, scope_key};
use super::listing::{AttemptKey, remove_attempts};
use super::recent_customers::RecentCustomers;
use super::record::{NewEvent, RecordKeys, encode};
use super::retention::{PruneOutcome, prune_batch};
use super::tables::{EVENT_IDS, EVENTS, IDEMPOTENCY, META, META_NEXT_SEQUENCE};
use super::{Appended, LogStats};
use crate::config::GroupCommitConfig;

pub(crate) enum Command {
    Append {
        events: Vec<NewEvent>,
        reply: oneshot::Sender<Result<Vec<Appended>, LogError>>,
    },
    Prune {
        /// Delete only events received before this unix time (ms)…
        received_before_ms: u64,
        /// …and below every destination's cursor.
        below_sequence: u64,
        max_events: usize,
        reply: oneshot::Sender<Result<PruneOutcome, LogError>>,
    },
    Record {
        progress: DeliveryProgress,
        reply: oneshot::Sender<Result<(), LogError>>,
    },
    RemoveAttempts {
        keys: Vec<AttemptKey>,
        reply: oneshot::Sender<Result<usize, LogError>>,
    },
    Shutdown,
}

pub(crate) struct Writer {
    pub db: Arc<Database>,
    pub commands: flume::Receiver<Command>,
    pub config: GroupCommitConfig,
    pub idempotency_window: Duration,
    /// Idempotency entries of recent events, not yet in the index.
    pub recent_keys: RecentKeys,
    /// Recent events by customer, not yet in the index; shared with readers.
    pub recent_customers: Arc<RecentCustomers>,
    pub next_sequence: u64,
    pub stats: Arc<LogStats>,
    /// Publishes the next sequence after every commit, for delivery workers.
    pub committed: tokio::sync::watch::Sender<u64>,
    /// Wakes the destinations of the customers whose events were committed.
    pub wakers: Arc<super::by_customer::Wakers>,
    /// When the last commit with fsync happened: delivery progress is
    /// committed without one until a second has passed (see `record_progress`).
    pub last_durable: Instant,
    /// Where a storage failure is reported for readiness.
    pub health: Arc<super::Health>,
}

struct PendingAppend {
    events: Vec<NewEvent>,
    reply: oneshot::Sender<Result<Vec<Appended>, LogError>>,
}

impl Writer {
    /// Runs until a `Shutdown` command or until every sender is gone.
    pub fn run(mut self) {
        let mut group: Vec<PendingAppend> = Vec::new();
        let mut deferred: Option<Command> = None;
        loop {
            let first = match deferred.take() {
                Some(command) => command,
                None => match self.commands.recv() {
                    Ok(command) => command,
                    Err(flume::RecvError::Disconnected) => return self.flush(),
                },
            };
            match first {
                Command::Append { events, reply } => group.push(PendingAppend { events, reply }),
                Command::Prune { .. } | Command::Record { .. } | Command::RemoveAttempts { .. } => {
                    deferred = self.run_other(first);
                    continue;
                }
                Command::Shutdown => return self.flush(),
            }
            deferred = self.fill_group(&mut group);
            self.commit_group(&mut group);
            if matches!(
                deferred,
                Some(
                    Command::Prune { .. } | Command::Record { .. } | Command::RemoveAttempts { .. }
                )
            ) {
                deferred = self.run_other(deferred.take().expect("matched"));
            }
            if matches!(deferred, Some(Command::Shutdown)) {
                // Finish what was queued before the shutdown request.
                while let Ok(command) = self.commands.try_recv() {
                    if let Command::Append { events, reply } = command {
                        group.push(PendingAppend { events, reply });
                    }
                }
                self.commit_group(&mut group);
                return self.flush();
            }
        }
    }

    /// Makes every commit so far durable (delivery progress may have been
    /// committed without fsync) and writes the recent idempotency entries.
    fn flush(&mut self) {
        let result = self
            .db
            .begin_write()
            .map_err(LogError::from)
            .and_then(|txn| {
                self.write_recent(&txn)?;
                txn.commit()?;
                Ok(())
            });
        match result {
            Ok(()) => self.clear_recent(),
            Err(e) => tracing::error!(
                error = %e,
                "cannot make the last delivery progress durable; the next start indexes the recent events again"
            ),
        }
    }

    /// Merges the recent idempotency entries and events by customer into
    /// their indexes, in a commit without fsync: the next durable commit
    /// (any ingest) persists it, and a crash before that only makes the
    /// next start index them again.
    fn merge_recent(&mut self) -> Result<(), LogError> {
        if self.recent_keys.is_empty() && self.recent_customers.is_empty() {
            return Ok(());
        }
        let mut txn = self.db.begin_write()?;
        txn.set_durability(redb::Durability::None)
            .map_err(|e| LogError::Storage(e.into()))?;
        self.write_recent(&txn)?;
        txn.commit()?;
        self.clear_recent();
        Ok(())
    }

    fn write_recent(&self, txn: &redb::WriteTransaction) -> Result<(), LogError> {
        self.recent_keys.write(txn, self.next_sequence)?;
        self.recent_customers.write(txn)
    }

    /// Forgets what [`Writer::write_recent`] wrote, after its commit.
    fn clear_recent(&mut self) {
        self.recent_keys.clear();
        self.recent_customers.clear();
    }

    /// Takes more queued appends until the group is full or `max_wait` passed.
    /// Returns a non-append command that must run after this group.
    fn fill_group(&self, group: &mut Vec<PendingAppend>) -> Option<Command> {
        let deadline = Instant::now() + self.config.max_wait;
        let mut count: usize = group.iter().map(|p| p.events.len()).sum();
        while count < self.config.max_batch {
            let next = match self.commands.try_recv() {
                Ok(command) => command,
                Err(flume::TryRecvError::Empty) if !self.config.max_wait.is_zero() => {
                    match self.commands.recv_deadline(deadline) {
                        Ok(command) => command,
                        Err(_) => return None,
                    }
                }
                Err(_) => return None,
            };
            match next {
                Command::Append { events, reply } => {
                    count += events.len();
                    group.push(PendingAppend { events, reply });
                }
                other => return Some(other),
            }
        }
        None
    }

    fn commit_group(&mut self, group: &mut Vec<PendingAppend>) {
        if group.is_empty() {
            return;
        }
        let started = Instant::now();
        let first_sequence = self.next_sequence;
        match self.write_group(group) {
            Ok((results, staged)) => {
                self.recent_keys.extend(staged);
                // Before the wake-ups: a woken reader finds its events.
                self.recent_customers.publish(
                    group
                        .iter()
                        .zip(&results)
                        .flat_map(|(pending, appended)| pending.events.iter().zip(appended))
                        .filter(|(_, appended)| !appended.duplicate)
                        .map(|(event, appended)| (event.customer.as_str(), appended.sequence)),
                    self.next_sequence,
                );
                let events: u64 = results.iter().map(|r| r.len() as u64).sum();
                let duplicates: u64 =
                    results.iter().flatten().filter(|a| a.duplicate).count() as u64;
                self.stats.observe_commit(started.elapsed());
                self.stats
                    .events
                    .fetch_add(events - duplicates, Ordering::Relaxed);
                self.stats
                    .duplicates
                    .fetch_add(duplicates, Ordering::Relaxed);
                // Before the replies: a caller that sees its event stored
                // finds its customer's destinations already woken.
                self.committed.send_replace(self.next_sequence);
                let last = self.next_sequence - 1;
                self.wakers.wake(
                    group
                        .iter()
                        .flat_map(|p| &p.events)
                        .map(|e| (e.customer.as_str(), last)),
                );
                for (pending, result) in group.drain(..).zip(results) {
                    let _ = pending.reply.send(Ok(result));
                }
                self.last_durable = Instant::now();
                if (self.recent_keys.is_full() || self.recent_customers.is_full())
                    && let Err(e) = self.merge_recent()
                {
                    // Kept in memory and tried again after the next group.
                    tracing::error!(error = %e, "cannot merge the recent events into the indexes");
                    self.health.observe(&e);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, requests = group.len(), "log commit failed; requests answered with an error");
                self.health.observe(&e);
                self.next_sequence = first_sequence;
                let io = e.io_failure();
                let message = io.clone().unwrap_or_else(|| "storage error".to_owned());
                for pending in group.drain(..) {
                    let _ = pending
                        .reply
                        .send(Err(LogError::CommitFailed(message.clone(), io.clone())));
                }
            }
        }
    }

    /// Writes one group's events in one durable commit. Returns what each
    /// request appended, and the idempotency entries of the new events for
    /// [`RecentKeys`] (added only once the commit succeeded).
    #[allow(clippy::type_complexity)]
    fn write_group(
        &mut self,
        group: &[PendingAppend],
    ) -> Result<(Vec<Vec<Appended>>, HashMap<Vec<u8>, Original>), LogError> {
        let received = now();
        let received_at = format_time(received);
        let received_ms = unix_ms(received);
        let window_ms = self.idempotency_window.as_millis() as u64;
        let txn = self.db.begin_write()?;
        let mut results = Vec::with_capacity(group.len());
        let mut staged: HashMap<Vec<u8>, Original> = HashMap::new();
        let mut scope_bytes = Vec::new();
        {
            let mut events = txn.open_table(EVENTS)?;
            let mut ids = txn.open_table(EVENT_IDS)?;
            let keys = txn.open_table(IDEMPOTENCY)?;
            let mut meta = txn.open_table(META)?;
            for pending in group {
                let mut appended = Vec::with_capacity(pending.events.len());
                for event in &pending.events {
                    scope_key(&event.source, &event.idempotency_key, &mut scope_bytes);
                    let original = match staged
                        .get(scope_bytes.as_slice())
                        .copied()
                        .or_else(|| self.recent_keys.get(&scope_bytes))
                    {
                        Some(original) => Some(original),
                        None => {
                            let scope = (event.source.as_str(), event.idempotency_key.as_str());
                            keys.get(scope)?.map(|g| g.value())
                        }
                    };
                    if let Some((sequence, first_ms)) = original
                        && received_ms.saturating_sub(first_ms) < window_ms
                    {
                        let id = read_id(&events, sequence)?;
                        appended.push(Appended {
                            id,
                            sequence,
                            duplicate: true,
                        });
                        continue;
                    }
                    let sequence = self.next_sequence;
                    self.next_sequence += 1;
                    let id = new_event_id();
                    let record = encode(&id, sequence, &received_at, &event.body);
                    events.insert(sequence, record.as_slice())?;
                    ids.insert(id.as_str(), sequence)?;
                    staged.insert(scope_bytes.clone(), (sequence, received_ms));
                    appended.push(Appended {
                        id,
                        sequence,
                        duplicate: false,
                    });
                }
                results.push(appended);
            }
            meta.insert(META_NEXT_SEQUENCE, self.next_sequence)?;
        }
        txn.commit()?;
        Ok((results, staged))
    }

    /// Runs a command that is not an append, in its own transaction;
    /// returns a command it took from the queue but did not run.
    fn run_other(&mut self, command: Command) -> Option<Command> {
        match command {
            Command::Prune {
                received_before_ms,
                below_sequence,
                max_events,
                reply,
            } => {
                // The sweep removes index entries with their events: every
                // entry must be in the index first.
                if let Err(e) = self.merge_recent() {
                    let _ = reply.send(Err(e));
                    return None;
                }
                let _ = reply.send(prune_batch(
                    &self.db,
                    received_before_ms,
                    below_sequence,
                    max_events,
                ));
            }
            Command::Record { progress, reply } => return self.record_group(progress, reply),
            Command::RemoveAttempts { keys, reply } => {
                let _ = reply.send(remove_attempts(&self.db, &keys));
            }
            Command::Append { .. } | Command::Shutdown => unreachable!("handled by run"),
        }
        None
    }

    /// Writes `progress` and the progress of other batches queued behind it
    /// in one transaction: thousands of destinations each settling small
    /// batches would otherwise cost one commit per batch. Each batch stays
    /// whole (its attempts, dead letters and cursor land together or not
    /// at all). Returns the first other command it took from the queue.
    fn record_group(
        &mut self,
        progress: DeliveryProgress,
        reply: oneshot::Sender<Result<(), LogError>>,
    ) -> Option<Command> {
        let mut progresses = vec![progress];
        let mut replies = vec![reply];
        let mut other = None;
        while progresses.len() < MAX_PROGRESS_PER_COMMIT {
            match self.commands.try_recv() {
                Ok(Command::Record { progress, reply }) => {
                    progresses.push(progress);
                    replies.push(reply);
                }
                Ok(command) => {
                    other = Some(command);
                    break;
                }
                Err(_) => break,
            }
        }
        let durable = self.last_durable.elapsed() >= DURABLE_PROGRESS_EVERY;
        match record_progress(&self.db, &mut progresses, durable) {
            Ok(()) => {
                if durable {
                    self.last_durable = Instant::now();
                }
                for reply in replies {
                    let _ = reply.send(Ok(()));
                }
            }
            Err(e) => {
                self.health.observe(&e);
                let io = e.io_failure();
                let message = io.clone().unwrap_or_else(|| e.to_string());
                for reply in replies {
                    let _ = reply.send(Err(LogError::CommitFailed(message.clone(), io.clone())));
                }
            }
        }
        other
    }
}

/// Most batches' progress written in one transaction.
const MAX_PROGRESS_PER_COMMIT: usize = 512;

/// How often delivery progress is made durable when no ingest commit does it.
const DURABLE_PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// The id of the event stored at `sequence` (for answering a duplicate).
fn read_id(
    events: &impl ReadableTable<u64, &'static [u8]>,
    sequence: u64,
) -> Result<String, LogError> {
    let guard = events.get(sequence)?.ok_or_else(|| LogError::Corrupt {
        sequence,
        reason: "an idempotency key points at a missing event".into(),
    })?;
    let keys: RecordKeys<'_> =
        serde_json::from_slice(guard.value()).map_err(|e| LogError::Unreadable {
            sequence,
            source: e,
        })?;
    Ok(keys.id.into_owned())
}

/// `evt_` and a ULID: unique without coordination, and sortable by time.
fn new_event_id() -> String {
    format!("evt_{}", ulid::Ulid::new())
}

fn now() -> SystemTime {
    SystemTime::now()
}

pub(crate) fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64
}

/// An RFC 3339 UTC time with milliseconds, as the log writes every time.
pub fn format_time(t: SystemTime) -> String {
    let t = time::OffsetDateTime::from(t);
    let t = t
        .replace_nanosecond(t.millisecond() as u32 * 1_000_000)
        .unwrap_or(t);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
