//! Replays: delivering a chosen range of the log to a destination again,
//! through its current transforms and plugin, in log order. The worker runs
//! one chunk of a replay between its live batches, so live traffic keeps
//! flowing. Every replayed attempt is in the attempt log with the replay's
//! id; a replay never moves the cursor and never adds to the DLQ.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use pushrail_event::canonical_json;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tokio::sync::oneshot;

use super::backoff;
use super::flights::to_plugin_event;
use super::plan::STORAGE_RETRY;
use super::reading::blocking;
use super::settle::{Next, Run};
use super::status::LastError;
use super::worker::Worker;
use crate::log::{AttemptOutcome, EventRecord, LogError, Selection, format_time};
use crate::runtime::Event;

/// A replay chunk's outcomes, counted.
#[derive(Default)]
struct Counts {
    delivered: usize,
    filtered: usize,
    failed: usize,
}

/// What a worker can be asked to do with a range of the log.
pub enum ReplayCommand {
    /// Deliver the events `selection` covers again, reporting into
    /// `progress`. The selection is walked a chunk at a time, so a replay
    /// of millions of events holds only one chunk in memory.
    Start {
        /// Boxed: every destination's channel holds room for 32 commands.
        selection: Box<Selection>,
        progress: Arc<ReplayProgress>,
    },
    /// Run these sequences through the transforms only and say what the
    /// destination plugin would get; nothing is sent or recorded.
    DryRun {
        sequences: Vec<u64>,
        reply: oneshot::Sender<Result<Vec<DryRunItem>, LogError>>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplayState {
    Queued,
    Running,
    Done,
    /// The destination stopped (shutdown) before the replay finished.
    Interrupted,
}

/// `GET /v1/replays/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplayStatus {
    pub id: String,
    pub destination: String,
    pub state: ReplayState,
    /// Events the replay covers.
    pub total: usize,
    /// Events finished: delivered + filtered + failed + missing.
    pub done: usize,
    pub delivered: usize,
    /// Dropped by a transform.
    pub filtered: usize,
    /// Not delivered: a permanent error, or retries used up.
    pub failed: usize,
    /// Deleted by retention between the request and their turn.
    pub missing: usize,
    /// Retryable failures that were retried.
    pub retries: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<LastError>,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
}

/// A replay's status, shared by the worker (writes) and the API (reads).
#[derive(Debug)]
pub struct ReplayProgress(Mutex<ReplayStatus>);

impl ReplayProgress {
    pub fn new(id: String, destination: String, total: usize) -> Arc<Self> {
        Arc::new(Self(Mutex::new(ReplayStatus {
            id,
            destination,
            state: ReplayState::Queued,
            total,
            done: 0,
            delivered: 0,
            filtered: 0,
            failed: 0,
            missing: 0,
            retries: 0,
            last_error: None,
            created_at: format_time(SystemTime::now()),
            finished_at: None,
        })))
    }

    pub fn snapshot(&self) -> ReplayStatus {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn update(&self, f: impl FnOnce(&mut ReplayStatus)) {
        f(&mut self.0.lock().unwrap_or_else(|p| p.into_inner()));
    }

    fn finish(&self, state: ReplayState) {
        self.update(|s| {
            s.state = state;
            s.finished_at = Some(format_time(SystemTime::now()));
        });
    }
}

/// The replays of the process, by id: every running one, and the most
/// recent finished ones (kept until restart).
pub type Replays = Mutex<HashMap<String, Arc<ReplayProgress>>>;

/// Finished replays kept for `GET /v1/replays`; older ones are forgotten.
const KEPT_FINISHED: usize = 1_000;

/// Adds `progress` to `replays`, forgetting the oldest finished replays
/// beyond [`KEPT_FINISHED`] so the list cannot grow without bound.
pub fn remember(replays: &Replays, progress: Arc<ReplayProgress>) {
    let mut replays = replays.lock().unwrap_or_else(|p| p.into_inner());
    let id = progress.snapshot().id;
    replays.insert(id, progress);
    // Replay ids are ULIDs: in id order is in creation order.
    let mut finished: Vec<String> = replays
        .values()
        .map(|p| p.snapshot())
        .filter(|s| matches!(s.state, ReplayState::Done | ReplayState::Interrupted))
        .map(|s| s.id)
        .collect();
    if finished.len() > KEPT_FINISHED {
        finished.sort();
        for id in &finished[..finished.len() - KEPT_FINISHED] {
            replays.remove(id);
        }
    }
}

/// A dry run's note on an event the destination does not subscribe to.
const NOT_SUBSCRIBED: &str =
    "not for this destination (its customers, event_types or filter pass it over)";

/// What a dry run shows for one log event.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DryRunItem {
    pub sequence: u64,
    pub event_id: String,
    /// The destination's partition key of the event (what orders delivery).
    pub partition_key: String,
    /// The events the destination plugin would get, after the transforms
    /// (none: a transform dropped it).
    pub records: Vec<Box<RawValue>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A replay the worker is working through.
pub struct ActiveReplay {
    selection: Selection,
    /// The lowest sequence not finished yet.
    next: u64,
    /// Failed attempts of the event at `next`.
    failures: u32,
    pub due: Instant,
    progress: Arc<ReplayProgress>,
}

impl ActiveReplay {
    pub fn new(selection: Selection, progress: Arc<ReplayProgress>) -> Self {
        Self {
            next: selection.from_sequence.unwrap_or(0),
            selection,
            failures: 0,
            due: Instant::now(),
            progress,
        }
    }

    pub fn interrupt(&self) {
        self.progress.finish(ReplayState::Interrupted);
    }
}

impl Worker {
    /// Delivers the next chunk of the oldest replay if it is due, and
    /// drops it from `replays` once it is finished.
    pub(super) async fn replay_next(
        &mut self,
        replays: &mut VecDeque<ActiveReplay>,
    ) -> Result<(), LogError> {
        let Some(job) = replays.front_mut() else {
            return Ok(());
        };
        if job.due > Instant::now() {
            return Ok(());
        }
        match self.replay_step(job).await {
            Ok(true) => {
                replays.pop_front();
                Ok(())
            }
            Ok(false) => Ok(()),
            Err(e) if matches!(e, LogError::Closed) || *self.stop.borrow() => Err(e),
            Err(e) => {
                tracing::error!(destination = %self.config.name, error = %e, "replay step failed; retrying");
                job.due = Instant::now() + STORAGE_RETRY;
                Ok(())
            }
        }
    }

    /// Delivers the next chunk of `job`; true when the replay is finished.
    /// A retryable failure stops the chunk there: that event and the ones
    /// after it are sent again after the backoff, so a key's replayed
    /// events keep their order.
    async fn replay_step(&mut self, job: &mut ActiveReplay) -> Result<bool, LogError> {
        job.progress.update(|s| s.state = ReplayState::Running);
        let rest = Selection {
            from_sequence: Some(job.next),
            ..job.selection.clone()
        };
        let max = self.config.batch.max_events;
        let records = blocking(&self.log, move |log| {
            let (chunk, _) = log.select(&rest, max)?;
            log.read_sequences(&chunk)
        })
        .await?;
        if records.is_empty() {
            // Whatever the request covered and is gone now was deleted by
            // retention before its turn.
            job.progress.update(|s| {
                s.missing = s.total.saturating_sub(s.delivered + s.filtered + s.failed);
                s.done = s.total;
            });
            job.progress.finish(ReplayState::Done);
            let s = job.progress.snapshot();
            tracing::info!(destination = %self.config.name, replay = %s.id, delivered = s.delivered, failed = s.failed, missing = s.missing, "replay done");
            return Ok(true);
        }
        let last = records.last().map_or(job.next, |r| r.sequence);
        // Events the destination does not subscribe to are passed over, as
        // in live delivery, and count as filtered.
        let (records, passed_over): (Vec<EventRecord>, Vec<EventRecord>) = records
            .into_iter()
            .partition(|r| self.config.subscription.selects(r));
        if records.is_empty() {
            job.next = last + 1;
            job.progress.update(|s| {
                s.filtered += passed_over.len();
                s.done = s.delivered + s.filtered + s.failed + s.missing;
            });
            return Ok(false);
        }
        let replay_id = job.progress.snapshot().id;
        let run = Run::Replay {
            id: &replay_id,
            retries_left: job.failures < self.config.retry.max_retries,
        };
        let settled = self.attempt(&records, run, job.failures).await;
        let mut counts = Counts::default();
        for attempt in &settled.progress.attempts {
            match attempt.outcome {
                AttemptOutcome::Delivered => counts.delivered += 1,
                AttemptOutcome::Filtered => counts.filtered += 1,
                AttemptOutcome::Failed => counts.failed += 1,
                _ => {}
            }
        }
        let stopped_at = records
            .iter()
            .zip(&settled.next)
            .find(|(_, next)| matches!(next, Next::Retry { .. }))
            .map(|(record, _)| record.sequence);
        self.writer.write(settled.progress).await?;

        job.next = stopped_at.unwrap_or(last + 1);
        match stopped_at {
            Some(_) => {
                job.failures += 1;
                job.due = Instant::now() + backoff::wait(&self.config.retry, job.failures);
            }
            None => {
                job.failures = 0;
                job.due = Instant::now();
            }
        }
        let retried = usize::from(stopped_at.is_some());
        // Those at or after a retry point are read (and counted) again.
        counts.filtered += passed_over.iter().filter(|r| r.sequence < job.next).count();
        job.progress.update(|s| {
            s.delivered += counts.delivered;
            s.filtered += counts.filtered;
            s.failed += counts.failed;
            s.retries += retried;
            s.done = s.delivered + s.filtered + s.failed + s.missing;
            if let Some(error) = settled.last_error {
                s.last_error = Some(error);
            }
        });
        // Finished once a read finds nothing more (the next step).
        Ok(false)
    }

    /// The transforms' output for `sequences`, without delivering anything.
    pub(super) async fn dry_run(
        &mut self,
        sequences: Vec<u64>,
    ) -> Result<Vec<DryRunItem>, LogError> {
        let records = blocking(&self.log, move |log| log.read_sequences(&sequences)).await?;
        let selected: Vec<bool> = records
            .iter()
            .map(|r| self.config.subscription.selects(r))
            .collect();
        let subscribed: Vec<Event> = records
            .iter()
            .zip(&selected)
            .filter(|(_, selected)| **selected)
            .map(|(r, _)| to_plugin_event(r))
            .collect();
        let mut transformed = self.lanes.home().transform(subscribed).await.into_iter();
        let mut items = Vec::with_capacity(records.len());
        for (record, selected) in records.into_iter().zip(selected) {
            let (records, error) = if !selected {
                (Vec::new(), Some(NOT_SUBSCRIBED.into()))
            } else {
                match transformed.next().expect("one result per subscribed event") {
                    Ok(events) => (
                        events
                            .iter()
                            .filter_map(|e| canonical_json(e).ok())
                            .filter_map(|json| RawValue::from_string(json).ok())
                            .collect(),
                        None,
                    ),
                    Err(failure) => (
                        Vec::new(),
                        Some(format!("{}: {}", failure.code, failure.message)),
                    ),
                }
            };
            items.push(DryRunItem {
                sequence: record.sequence,
                event_id: record.id.clone(),
                partition_key: self.config.partition_key.value_in(&record),
                records,
                error,
            });
        }
        Ok(items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finished_replays_are_forgotten_oldest_first_running_ones_never() {
        let replays = Replays::default();
        let running = ReplayProgress::new("rpl_running".into(), "d".into(), 1);
        remember(&replays, running);
        for i in 0..KEPT_FINISHED + 5 {
            let done = ReplayProgress::new(format!("rpl_{i:05}"), "d".into(), 1);
            done.finish(ReplayState::Done);
            remember(&replays, done);
        }
        let kept = replays.lock().unwrap();
        assert_eq!(kept.len(), KEPT_FINISHED + 1);
        assert!(kept.contains_key("rpl_running"));
        assert!(
            !kept.contains_key("rpl_00000"),
            "the oldest finished went first"
        );
        assert!(kept.contains_key(&format!("rpl_{:05}", KEPT_FINISHED + 4)));
    }
}
