//! One worker per destination: read from the cursor, batch, transform,
//! deliver, settle every outcome, and advance the cursor past finished
//! events only. A retryable failure holds back its key; other keys flow.
//!
//! The loop only carries out decisions: what to read and send is
//! [`plan`](super::plan), the window of unfinished events is
//! [`Window`], verdicts become progress in [`settle`](super::settle), and
//! progress is written by the [`ProgressWriter`].

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{mpsc, watch};

use super::backoff;
use super::pipeline::Pipeline;
use super::plan::{self, Limits, STORAGE_RETRY, Step};
use super::progress::ProgressWriter;
use super::reading::{blocking, read_next};
use super::redrive::Operator;
use super::replay::{ActiveReplay, ReplayCommand};
use super::settle::{Attempted, Item, Next, Run, Settled, settle};
use super::status::LiveStatus;
use super::window::Window;
use crate::config::DestinationConfig;
use crate::log::{DeliveryProgress, EventRecord, Log, LogError, format_time};
use crate::metrics::Metrics;
use crate::runtime::Event;

/// How long a destination waits with nothing to do before it lets its
/// plugin instances go (restarting one costs tens of µs; thousands of
/// idle customer destinations would otherwise each hold one).
const IDLE_RELEASE: Duration = Duration::from_secs(5);

pub struct Worker {
    pub config: DestinationConfig,
    pub log: Log,
    pub pipeline: Pipeline,
    pub stop: watch::Receiver<bool>,
    pub metrics: Arc<Metrics>,
    /// Redrive and discard requests.
    pub operator: mpsc::Receiver<Operator>,
    /// True while an operator has paused the destination.
    pub paused: watch::Receiver<bool>,
    /// What the API shows about this destination while it runs.
    pub live: Arc<LiveStatus>,
    /// Replays and dry runs an operator asked for.
    pub replays: mpsc::Receiver<ReplayCommand>,
    pub writer: ProgressWriter,
}

/// Work queued besides live traffic.
#[derive(Default)]
struct Queued {
    replays: VecDeque<ActiveReplay>,
    /// Sequences of dead letters to redrive.
    redrives: VecDeque<u64>,
}

impl Queued {
    /// Whether queued work is due now (then the worker does not sleep).
    fn due(&self, now: Instant) -> bool {
        !self.redrives.is_empty() || self.replays.front().is_some_and(|job| job.due <= now)
    }
}

impl Worker {
    pub async fn run(mut self) {
        let name = self.config.name.clone();
        let cursor = match blocking(&self.log, move |log| log.cursor(&name)).await {
            Ok(cursor) => cursor,
            Err(e) => {
                tracing::error!(destination = %self.config.name, error = %e, "cannot read the cursor; delivery stopped");
                return;
            }
        };
        tracing::info!(destination = %self.config.name, cursor, "delivery started");
        if let Err(e) = self.deliver_from(cursor).await {
            tracing::error!(destination = %self.config.name, error = %e, "delivery stopped on an error the log reported");
        }
        match self.writer.flush().await {
            Ok(()) => {}
            Err(e) => {
                tracing::warn!(destination = %self.config.name, error = %e, "the last delivery progress was not written; those events will be delivered again")
            }
        }
        tracing::info!(destination = %self.config.name, "delivery stopped");
    }

    /// The loop; returns when the destination stops, or with the error of
    /// a progress write that could not land (nothing after it may be written).
    /// The work of a step (a batch, a replay, a redrive, a request, a read)
    /// runs boxed: ten thousand idle destinations each keep only this
    /// loop's small state, not the largest step's.
    async fn deliver_from(&mut self, cursor: u64) -> Result<(), LogError> {
        let mut window = Window::new(cursor);
        let customer: Option<Arc<str>> = self.config.subscription.only_customer().map(Arc::from);
        let mut committed = match &customer {
            Some(customer) => self.log.subscribe_customer(customer),
            None => self.log.subscribe(),
        };
        let limits = Limits::for_batch(&self.config.batch);
        let mut queued = Queued::default();
        // The cursor last written; events passed over move the window's
        // cursor without a batch, and it is written before sleeping.
        let mut written = cursor;
        let result = loop {
            if *self.stop.borrow() {
                break Ok(());
            }
            if *self.paused.borrow() {
                tokio::select! {
                    _ = self.paused.changed() => {}
                    _ = self.stop.changed() => {}
                    Some(command) = self.replays.recv() => Box::pin(self.accept(command, &mut queued.replays)).await,
                    Some(request) = self.operator.recv() => Box::pin(self.operate(request, &mut queued.redrives)).await,
                }
                continue;
            }
            while let Ok(request) = self.operator.try_recv() {
                Box::pin(self.operate(request, &mut queued.redrives)).await;
            }
            while let Ok(command) = self.replays.try_recv() {
                Box::pin(self.accept(command, &mut queued.replays)).await;
            }
            if Box::pin(self.pipeline.refresh()).await {
                self.live.set_plugins(self.pipeline.plugin_ids());
            }
            // One chunk of redrive and of the oldest replay, then live
            // traffic: none of them starves the others.
            if let Err(e) = Box::pin(self.redrive_step(&mut queued.redrives)).await {
                if matches!(e, LogError::Closed) || *self.stop.borrow() {
                    break Err(e);
                }
                tracing::error!(destination = %self.config.name, error = %e, "redrive step failed; retrying");
                self.back_off(STORAGE_RETRY).await;
            }
            Box::pin(self.replay_next(&mut queued.replays)).await?;

            let now = Instant::now();
            let room = plan::room(&window, &limits, now);
            let read = read_next(
                self.log.clone(),
                window.read_through(),
                room,
                customer.clone(),
            );
            let caught_up = match Box::pin(read).await {
                Ok(read) => self.push(&mut window, read),
                Err(LogError::Closed) => break Ok(()),
                Err(e) => {
                    tracing::error!(destination = %self.config.name, error = %e, "cannot read the log; retrying");
                    self.back_off(STORAGE_RETRY).await;
                    continue;
                }
            };
            window.evict(now, limits.loaded_bytes);
            match plan::next_step(&window, &self.config.batch, caught_up, now) {
                Step::Wait { reload, .. } if !reload.is_empty() => {
                    Box::pin(self.reload(&mut window, reload)).await;
                }
                // More is in the log and there is room for it (e.g. waiting
                // events were just evicted): read it before sleeping.
                Step::Wait { .. }
                    if queued.due(Instant::now())
                        || (!caught_up && !plan::room(&window, &limits, now).is_empty()) => {}
                Step::Wait { until, .. } => {
                    if window.cursor() > written {
                        written = window.cursor();
                        let progress = DeliveryProgress {
                            destination: self.config.name.clone(),
                            cursor: written,
                            ..DeliveryProgress::default()
                        };
                        self.writer.write_behind(progress).await?;
                    }
                    let until = earliest(until, queued.replays.front().map(|job| job.due));
                    if !self
                        .sleep(until, &mut committed, caught_up, &mut queued)
                        .await
                    {
                        break Ok(());
                    }
                }
                Step::Send(batch) => {
                    // Read the events after this batch while it is out, so
                    // that the log read and the delivery overlap.
                    let room = plan::room(&window, &limits.with_batch_out(batch.len()), now);
                    let ahead = tokio::spawn(read_next(
                        self.log.clone(),
                        window.read_through(),
                        room,
                        customer.clone(),
                    ));
                    Box::pin(self.deliver(&mut window, batch)).await?;
                    written = window.cursor();
                    match ahead.await {
                        Ok(Ok(read)) => {
                            self.push(&mut window, read);
                        }
                        Ok(Err(LogError::Closed)) => break Ok(()),
                        // The read at the top of the loop tries again and says why.
                        _ => {}
                    }
                }
            }
        };
        for job in queued.replays {
            job.interrupt();
        }
        result
    }

    /// Sleeps until `until`, new events (when caught up), or a request;
    /// false when the log is gone.
    async fn sleep(
        &mut self,
        until: Option<Instant>,
        committed: &mut watch::Receiver<u64>,
        caught_up: bool,
        queued: &mut Queued,
    ) -> bool {
        // Waiting while others need instances: give ours back now. Idle
        // with nothing scheduled: after a while (see `Pipeline::release`).
        if self.pipeline.holds_instances() && self.pipeline.instances_scarce() {
            self.pipeline.release();
        }
        let idle = until.is_none() && self.pipeline.holds_instances();
        let until = until.or_else(|| idle.then(|| Instant::now() + IDLE_RELEASE));
        let sleep = async {
            match until {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = sleep => {
                if idle {
                    self.pipeline.release();
                }
            }
            changed = committed.changed(), if caught_up => return changed.is_ok(),
            _ = self.stop.changed() => {}
            _ = self.paused.changed() => {}
            Some(request) = self.operator.recv() => Box::pin(self.operate(request, &mut queued.redrives)).await,
            Some(command) = self.replays.recv() => Box::pin(self.accept(command, &mut queued.replays)).await,
        }
        true
    }

    /// Queues a replay, or answers a dry run at once.
    async fn accept(&mut self, command: ReplayCommand, replays: &mut VecDeque<ActiveReplay>) {
        match command {
            ReplayCommand::Start {
                selection,
                progress,
            } => replays.push_back(ActiveReplay::new(*selection, progress)),
            ReplayCommand::DryRun { sequences, reply } => {
                let _ = reply.send(self.dry_run(sequences).await);
            }
        }
    }

    /// One attempt at `batch`; its progress is written behind the next batch.
    async fn deliver(&mut self, window: &mut Window, batch: Vec<u64>) -> Result<(), LogError> {
        window.send(&batch);
        let records: Vec<Arc<EventRecord>> = batch
            .iter()
            .map(|&s| {
                window
                    .get(s)
                    .record
                    .clone()
                    .expect("a selected event is loaded")
            })
            .collect();
        self.live.set_in_flight(records.len());
        let items: Vec<Item<'_>> = batch
            .iter()
            .zip(&records)
            .map(|(&s, record)| {
                let pending = window.get(s);
                Item {
                    record,
                    key: &pending.key,
                    failures: pending.failures,
                }
            })
            .collect();
        let max_retries = self.config.retry.max_retries;
        let (settled, plugin_time) = self.attempt_items(&items, Run::Live { max_retries }).await;
        drop(items);

        let now = Instant::now();
        for (&sequence, next) in batch.iter().zip(&settled.next) {
            match *next {
                Next::Done => window.finish(sequence),
                // A held-back event goes as soon as the event ahead of it
                // does: the window keeps it behind that one.
                Next::Retry {
                    failures,
                    held_back: true,
                } => window.retry(sequence, failures, now),
                Next::Retry { failures, .. } => window.retry(
                    sequence,
                    failures,
                    now + backoff::wait(&self.config.retry, failures),
                ),
                Next::NotReached => window.retry(sequence, 0, now),
            }
        }
        let mut progress = settled.progress;
        progress.cursor = window.cursor();
        if let Some(error) = settled.last_error {
            self.live.set_last_error(error);
        }
        self.observe(&progress, batch.len(), plugin_time, &settled.latencies);
        let written = self.writer.write_behind(progress).await;
        self.live.set_in_flight(0);
        written
    }

    /// One attempt at `records` outside live delivery (a redrive or a
    /// replay chunk), settled as `run`; `failures` counted so far.
    pub(super) async fn attempt(
        &mut self,
        records: &[EventRecord],
        run: Run<'_>,
        failures: u32,
    ) -> Settled {
        let keys: Vec<String> = records
            .iter()
            .map(|r| self.config.partition_key.value_in(r))
            .collect();
        let items: Vec<Item<'_>> = records
            .iter()
            .zip(&keys)
            .map(|(record, key)| Item {
                record,
                key,
                failures,
            })
            .collect();
        self.attempt_items(&items, run).await.0
    }

    /// Runs the events of `items` through the plugins as one attempt and
    /// settles it as `run`; also returns the time spent in the plugins.
    async fn attempt_items(&mut self, items: &[Item<'_>], run: Run<'_>) -> (Settled, Duration) {
        let started = Instant::now();
        let started_at = format_time(SystemTime::now());
        let events = items.iter().map(|i| to_plugin_event(i.record)).collect();
        let verdicts = self.pipeline.run(events, &self.config.batch).await;
        let plugin_time = started.elapsed();
        let plugins = self.pipeline.plugin_ids();
        let attempted = Attempted {
            destination: &self.config.name,
            started_at: &started_at,
            duration_ms: plugin_time.as_millis() as u64,
            plugins: &plugins,
        };
        (settle(run, &attempted, items, verdicts), plugin_time)
    }

    /// Updates the destination's metrics after a batch.
    fn observe(
        &mut self,
        progress: &DeliveryProgress,
        events: usize,
        plugin_time: Duration,
        latencies: &[f64],
    ) {
        let call_times = self.pipeline.take_call_times();
        self.metrics.destination(&self.config.name, |m| {
            m.batch_events.observe(events as f64);
            m.plugin_seconds.observe(plugin_time.as_secs_f64());
            for (plugin, (time, calls)) in call_times {
                let entry = m.plugin_calls.entry(plugin).or_default();
                entry.0 += time.as_secs_f64();
                entry.1 += calls;
            }
            for attempt in &progress.attempts {
                let outcome = attempt.outcome.as_str();
                *m.outcomes.entry(outcome).or_default() += 1;
            }
            for latency in latencies {
                m.latency.observe(*latency);
            }
        });
    }

    /// Waits `duration` (e.g. before retrying storage), or less if the
    /// worker is told to stop. Not the operator's pause (`paused`).
    pub(super) async fn back_off(&mut self, duration: Duration) {
        tokio::select! {
            _ = tokio::time::sleep(duration) => {}
            _ = self.stop.changed() => {}
        }
    }
}

/// The earlier of two optional instants.
fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

pub(super) fn to_plugin_event(record: &EventRecord) -> Event {
    Event {
        id: record.id.clone(),
        sequence: record.sequence,
        event_type: record.event_type.clone(),
        occurred_at: record.occurred_at.clone(),
        source: record.source.clone(),
        customer_external_id: record.customer_external_id.clone(),
        idempotency_key: record.idempotency_key.clone(),
        correlation_id: record.correlation_id.clone(),
        payload: record.payload.get().to_owned(),
        metadata: record.metadata.get().to_owned(),
    }
}
