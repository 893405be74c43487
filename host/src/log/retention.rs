//! The retention sweep: deletes events that are both older than the
//! retention period and behind every destination's cursor, oldest first,
//! in small transactions so that ingest is never held up for long.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use redb::{Database, ReadableDatabase, ReadableTable};

use super::Log;
use super::error::LogError;
use super::group_commit::unix_ms;
use super::recent_customers::RecentCustomers;
use super::record::RecordKeys;
use super::tables::{CURSORS, EVENT_IDS, EVENTS, EVENTS_BY_CUSTOMER, IDEMPOTENCY};

/// What one prune transaction did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PruneOutcome {
    pub deleted: usize,
    /// True when it stopped at `max_events` and more may be deletable.
    pub more: bool,
}

/// Events per prune transaction.
const PRUNE_CHUNK: usize = 5_000;

/// Deletes up to `max_events` events with sequence < `below_sequence` that
/// were received before `received_before_ms`, with their id and
/// idempotency entries.
pub(crate) fn prune_batch(
    db: &Database,
    received_before_ms: u64,
    below_sequence: u64,
    max_events: usize,
) -> Result<PruneOutcome, LogError> {
    let txn = db.begin_write()?;
    let mut outcome = PruneOutcome::default();
    {
        let mut events = txn.open_table(EVENTS)?;
        let mut ids = txn.open_table(EVENT_IDS)?;
        let mut keys = txn.open_table(IDEMPOTENCY)?;
        let mut by_customer = txn.open_table(EVENTS_BY_CUSTOMER)?;
        let mut doomed: Vec<(u64, String, String, String, String)> = Vec::new();
        for entry in events.range(..below_sequence)? {
            let (sequence, bytes) = entry?;
            let sequence = sequence.value();
            let record: RecordKeys<'_> = super::decode(bytes.value(), sequence)?;
            if received_ms(&record.received_at) >= received_before_ms {
                break;
            }
            if doomed.len() == max_events {
                outcome.more = true;
                break;
            }
            doomed.push((
                sequence,
                record.id.into_owned(),
                record.source.into_owned(),
                record.idempotency_key.into_owned(),
                record.customer_external_id.into_owned(),
            ));
        }
        for (sequence, id, source, key, customer) in &doomed {
            events.remove(*sequence)?;
            by_customer.remove((customer.as_str(), *sequence))?;
            ids.remove(id.as_str())?;
            let scope = (source.as_str(), key.as_str());
            let points_here = keys.get(scope)?.is_some_and(|g| g.value().0 == *sequence);
            if points_here {
                keys.remove(scope)?;
            }
        }
        outcome.deleted = doomed.len();
    }
    txn.commit()?;
    Ok(outcome)
}

/// Unix ms of an RFC 3339 time written by the log; unparsable counts as new
/// (kept), never as old.
pub(crate) fn received_ms(text: &str) -> u64 {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as u64)
        .unwrap_or(u64::MAX)
}

/// A destination whose cursor holds retention back, and its one customer
/// if it has one (its stored cursor lags; see `Log::customer_cursor`).
#[derive(Debug, Clone)]
pub struct CursorScope {
    pub destination: String,
    pub customer: Option<std::sync::Arc<str>>,
}

/// The lowest cursor among `destinations`; a destination that has never
/// delivered holds everything back. With no destinations nothing holds back.
pub(crate) fn min_cursor(
    db: &Database,
    recent: &RecentCustomers,
    destinations: &[CursorScope],
) -> Result<u64, LogError> {
    // Every view before the transaction (see `recent_customers`).
    let views: Vec<_> = destinations
        .iter()
        .map(|scope| scope.customer.as_ref().map(|c| recent.view(c, 0)))
        .collect();
    let txn = db.begin_read()?;
    // Created by `Log::open`, like every table.
    let cursors = txn.open_table(CURSORS)?;
    let mut lowest = u64::MAX;
    for (scope, view) in destinations.iter().zip(&views) {
        let stored = cursors
            .get(scope.destination.as_str())?
            .map_or(0, |g| g.value());
        let cursor = match (&scope.customer, view) {
            (Some(customer), Some(view)) => {
                super::by_customer::customer_cursor(&txn, view, customer, stored)?
            }
            _ => stored,
        };
        lowest = lowest.min(cursor);
    }
    Ok(lowest)
}

/// Runs the retention sweep (events, then attempt records) every
/// `interval` until the task is aborted.
pub fn spawn_sweeper(
    log: Log,
    retention: Duration,
    attempt_retention: Duration,
    interval: Duration,
    destinations: Arc<dyn Fn() -> Vec<CursorScope> + Send + Sync>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            match log.sweep(retention, &destinations()).await {
                Ok(0) => {}
                Ok(deleted) => tracing::info!(deleted, "retention sweep deleted old events"),
                Err(LogError::Closed) => return,
                Err(e) => tracing::warn!(error = %e, "retention sweep failed; will retry"),
            }
            match log.prune_attempts(attempt_retention).await {
                Ok(0) => {}
                Ok(deleted) => {
                    tracing::info!(deleted, "retention sweep deleted old attempt records")
                }
                Err(LogError::Closed) => return,
                Err(e) => tracing::warn!(error = %e, "attempt log sweep failed; will retry"),
            }
        }
    })
}

impl Log {
    /// Deletes every event past retention and behind all `destinations`'
    /// cursors; returns how many were deleted.
    pub async fn sweep(
        &self,
        retention: Duration,
        destinations: &[CursorScope],
    ) -> Result<usize, LogError> {
        let cutoff = unix_ms(SystemTime::now()).saturating_sub(retention.as_millis() as u64);
        let db = self.inner.db.clone();
        let recent = self.inner.recent_customers.clone();
        let names = destinations.to_vec();
        let below = tokio::task::spawn_blocking(move || min_cursor(&db, &recent, &names))
            .await
            .map_err(|_| LogError::Closed)??;
        let mut total = 0;
        loop {
            let outcome = self.prune(cutoff, below, PRUNE_CHUNK).await?;
            total += outcome.deleted;
            if !outcome.more {
                return Ok(total);
            }
        }
    }
}
