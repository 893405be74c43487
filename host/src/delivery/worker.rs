//! One worker per destination: read from the cursor, batch, transform,
//! deliver, record every outcome, and advance the cursor past finished
//! events only. A retryable failure holds back its key; other keys flow.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde_json::value::RawValue;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::backoff;
use super::pipeline::Pipeline;
use super::replay::{ActiveReplay, ReplayCommand};
use super::status::{LastError, LiveStatus};
use super::window::Window;
use crate::config::{DestinationConfig, PartitionKey};
use crate::log::{
    AttemptOutcome, AttemptRecord, DeadLetter, DeliveryProgress, EventRecord, Log, LogError,
    format_time,
};
use crate::metrics::Metrics;
use crate::runtime::{Event, Outcome};

/// Events kept in memory per destination, in batches, not counting events
/// that wait behind a retrying key.
const WINDOW_BATCHES: usize = 4;

/// Most events in memory per destination, waiting ones included: the bound
/// on how far other keys may run ahead of a stuck one.
const WINDOW_HARD_LIMIT: usize = 100_000;

/// Most events one log read brings into the window.
const READ_CHUNK: usize = 5_000;

pub struct Worker {
    pub config: DestinationConfig,
    pub log: Log,
    pub pipeline: Pipeline,
    pub stop: watch::Receiver<bool>,
    pub metrics: Arc<Metrics>,
    /// Dead letters an operator asked to deliver again.
    pub redrive: mpsc::Receiver<Vec<DeadLetter>>,
    /// True while an operator has paused the destination.
    pub paused: watch::Receiver<bool>,
    /// What the API shows about this destination while it runs.
    pub live: Arc<LiveStatus>,
    /// Replays and dry runs an operator asked for.
    pub replays: mpsc::Receiver<ReplayCommand>,
    /// The last batch's progress while it is written: the next batch is
    /// delivered meanwhile (its outcomes are decided, only the write is
    /// pending). One write at a time, so they land in order.
    pub writing: Option<JoinHandle<Result<(), LogError>>>,
}

/// The verdict on one log event after one attempt.
pub(super) enum Verdict {
    Delivered(BTreeMap<String, String>),
    Filtered,
    Retry { code: String, message: String },
    Dead { code: String, message: String },
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
        let mut window = Window::new(cursor);
        let mut committed = self.log.subscribe();
        let max_events = self.config.batch.max_events;
        let capacity = Capacity {
            events: max_events * WINDOW_BATCHES,
            read_chunk: max_events.max(READ_CHUNK),
        };
        let mut replays: VecDeque<ActiveReplay> = VecDeque::new();
        loop {
            if *self.stop.borrow() {
                break;
            }
            if *self.paused.borrow() {
                tokio::select! {
                    _ = self.paused.changed() => {}
                    _ = self.stop.changed() => {}
                    command = self.replays.recv() => {
                        if let Some(command) = command {
                            self.accept(command, &mut replays).await;
                        }
                    }
                }
                continue;
            }
            while let Ok(letters) = self.redrive.try_recv() {
                if let Err(LogError::Closed) = self.redrive(letters).await {
                    return;
                }
            }
            if self.pipeline.refresh().await {
                self.live.set_plugins(self.pipeline.plugin_ids());
            }
            while let Ok(command) = self.replays.try_recv() {
                self.accept(command, &mut replays).await;
            }
            // One chunk of the oldest replay, then live traffic: neither starves.
            if let Some(job) = replays.front_mut()
                && job.due <= Instant::now()
            {
                match self.replay_step(job).await {
                    Ok(true) => {
                        replays.pop_front();
                    }
                    Ok(false) => {}
                    Err(LogError::Closed) => break,
                    Err(e) => {
                        tracing::error!(destination = %self.config.name, error = %e, "replay step failed; retrying");
                        job.due = Instant::now() + Duration::from_secs(1);
                    }
                }
            }
            let caught_up = match refill(
                &self.log,
                &self.config.partition_key,
                &mut window,
                capacity,
            )
            .await
            {
                Ok(caught_up) => caught_up,
                Err(LogError::Closed) => break,
                Err(e) => {
                    tracing::error!(destination = %self.config.name, error = %e, "cannot read the log; retrying");
                    self.pause(Duration::from_secs(1)).await;
                    continue;
                }
            };
            let now = Instant::now();
            let batch = window.select(
                now,
                self.config.batch.max_events,
                self.config.batch.max_bytes,
            );
            let replay_due = replays.front().map(|job| job.due);
            if batch.is_empty() && replay_due.is_some_and(|due| due <= now) {
                continue;
            }
            let wake_at = if batch.is_empty() {
                earliest(window.next_due(), replay_due)
            } else if batch.len() < self.config.batch.max_events && caught_up {
                // Linger for more events, counted from the oldest fresh one.
                let oldest = batch
                    .iter()
                    .filter(|&&i| window.get(i).attempts == 0)
                    .map(|&i| window.get(i).arrived)
                    .min();
                oldest
                    .map(|t| t + self.config.batch.linger)
                    .filter(|deadline| *deadline > now)
            } else {
                None
            };
            let wake_at = if batch.is_empty() {
                wake_at
            } else {
                wake_at.map(|at| earliest(Some(at), replay_due).unwrap_or(at))
            };
            if batch.is_empty() || wake_at.is_some() {
                let sleep = async {
                    match wake_at {
                        Some(at) => tokio::time::sleep_until(at.into()).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = sleep => {}
                    changed = committed.changed(), if caught_up => {
                        if changed.is_err() { break; }
                    }
                    _ = self.stop.changed() => {}
                    _ = self.paused.changed() => {}
                    letters = self.redrive.recv() => {
                        if let Some(letters) = letters
                            && let Err(LogError::Closed) = self.redrive(letters).await
                        {
                            break;
                        }
                    }
                    command = self.replays.recv() => {
                        if let Some(command) = command {
                            self.accept(command, &mut replays).await;
                        }
                    }
                }
                continue;
            }
            // Read the events after this batch while it is out, so that the
            // log read and the delivery overlap instead of taking turns.
            let ahead = read_ahead(
                &self.log,
                &window,
                Capacity {
                    events: capacity.events + batch.len(),
                    ..capacity
                },
            );
            if let Err(LogError::Closed) = self.deliver(&mut window, &batch).await {
                break;
            }
            match ahead.await {
                Ok(records) => push(&self.config.partition_key, &mut window, records),
                Err(LogError::Closed) => break,
                // The refill at the top of the loop reads them again and says why.
                Err(_) => {}
            }
        }
        if let Err(e) = self.finish_writing().await {
            tracing::warn!(destination = %self.config.name, error = %e, "the last delivery progress was not written; those events will be delivered again");
        }
        for job in replays {
            job.interrupt();
        }
        tracing::info!(destination = %self.config.name, "delivery stopped");
    }

    /// Queues a replay, or answers a dry run at once.
    async fn accept(&mut self, command: ReplayCommand, replays: &mut VecDeque<ActiveReplay>) {
        match command {
            ReplayCommand::Start {
                sequences,
                progress,
            } => replays.push_back(ActiveReplay::new(sequences, progress)),
            ReplayCommand::DryRun { sequences, reply } => {
                let _ = reply.send(self.dry_run(sequences).await);
            }
        }
    }

    /// One attempt at `batch`, its outcomes recorded before the cursor moves.
    async fn deliver(&mut self, window: &mut Window, batch: &[usize]) -> Result<(), LogError> {
        let started = Instant::now();
        let started_at = format_time(SystemTime::now());
        let events: Vec<Event> = batch
            .iter()
            .map(|&i| to_plugin_event(&window.get(i).record))
            .collect();
        self.live.set_in_flight(events.len());
        let mut verdicts = self.run_plugins(events).await;

        let plugin_time = started.elapsed();
        let duration_ms = plugin_time.as_millis() as u64;
        let plugins = self.pipeline.plugin_ids();
        let mut progress = DeliveryProgress {
            destination: self.config.name.clone(),
            attempts: Vec::with_capacity(batch.len()),
            dead_letters: Vec::new(),
            discarded: Vec::new(),
            cursor: 0,
        };
        // Walk the batch in log order. The first retryable failure of a key
        // counts against its retries; later events of that key in this batch
        // were held back behind it and wait without using theirs.
        let mut retries = Vec::new();
        let mut latencies = Vec::new();
        let mut failed_keys: HashSet<&str> = HashSet::new();
        for (slot, &index) in batch.iter().enumerate() {
            let pending = window.get(index);
            let attempt = pending.attempts + 1;
            let mut verdict = verdicts[slot].take().unwrap_or(Verdict::Retry {
                code: "no_outcome".into(),
                message: "the plugin returned no outcome for this event".into(),
            });
            let held_back = failed_keys.contains(pending.key.as_str());
            let mut failures = pending.failures;
            match &verdict {
                Verdict::Retry { code, message } if !held_back => {
                    failures += 1;
                    failed_keys.insert(&pending.key);
                    if failures > self.config.retry.max_retries {
                        verdict = Verdict::Dead {
                            code: code.clone(),
                            message: format!(
                                "{message} (gave up after {failures} failed attempts)"
                            ),
                        };
                    }
                }
                Verdict::Delivered(_) if held_back => tracing::warn!(
                    destination = %self.config.name,
                    sequence = pending.record.sequence,
                    "the plugin delivered an event after an earlier one of its key failed; order may be broken"
                ),
                _ => {}
            }
            let record = &pending.record;
            let mut entry = started_attempt(
                &self.config.name,
                &record.id,
                record.sequence,
                attempt,
                &started_at,
                duration_ms,
                &plugins,
            );
            match verdict {
                Verdict::Delivered(coordinates) => {
                    entry.coordinates = coordinates;
                    if let Some(latency) = since(&record.received_at) {
                        latencies.push(latency);
                    }
                }
                Verdict::Filtered => entry.outcome = AttemptOutcome::Filtered,
                Verdict::Retry { code, message } => {
                    if !held_back {
                        self.live.set_last_error(LastError {
                            code: code.clone(),
                            message: message.clone(),
                            event_id: record.id.clone(),
                            at: started_at.clone(),
                        });
                    }
                    entry.outcome = AttemptOutcome::Retryable;
                    entry.error_code = Some(code);
                    entry.error_message = Some(message);
                    retries.push((index, failures, held_back));
                }
                Verdict::Dead { code, message } => {
                    self.live.set_last_error(LastError {
                        code: code.clone(),
                        message: message.clone(),
                        event_id: record.id.clone(),
                        at: started_at.clone(),
                    });
                    entry.outcome = AttemptOutcome::DeadLettered;
                    progress.dead_letters.push(DeadLetter {
                        destination: self.config.name.clone(),
                        sequence: record.sequence,
                        event_id: record.id.clone(),
                        error_code: code.clone(),
                        error_message: message.clone(),
                        attempts: attempt,
                        dead_lettered_at: format_time(SystemTime::now()),
                        event: raw_record(record),
                    });
                    entry.error_code = Some(code);
                    entry.error_message = Some(message);
                }
            }
            progress.attempts.push(entry);
        }

        // Update the window, then make it durable before going on.
        let now = Instant::now();
        for &index in batch {
            let pending = window.get_mut(index);
            pending.attempts += 1;
            pending.finished = true;
        }
        for (index, failures, held_back) in retries {
            let pending = window.get_mut(index);
            pending.finished = false;
            pending.failures = failures;
            // A held-back event goes as soon as the event ahead of it does:
            // the window keeps it behind that one.
            pending.due = if held_back {
                now
            } else {
                now + backoff::wait(&self.config.retry, failures)
            };
        }
        progress.cursor = window.advance();
        self.observe(&progress, batch.len(), plugin_time, &latencies);
        let recorded = self.record_behind(progress).await;
        self.live.set_in_flight(0);
        recorded
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

    /// Runs log events through the transforms and the destination plugin;
    /// one verdict slot per event (`None`: the plugin gave no outcome).
    pub(super) async fn run_plugins(&mut self, events: Vec<Event>) -> Vec<Option<Verdict>> {
        let count = events.len();
        let mut verdicts: Vec<Option<Verdict>> = (0..count).map(|_| None).collect();
        // Transforms: each log event becomes zero or more plugin events.
        let mut outgoing: Vec<Event> = Vec::new();
        let mut origin: Vec<usize> = Vec::new();
        for (slot, event) in events.into_iter().enumerate() {
            match self.pipeline.transform(event).await {
                Ok(events) if events.is_empty() => verdicts[slot] = Some(Verdict::Filtered),
                Ok(events) => {
                    origin.extend(std::iter::repeat_n(slot, events.len()));
                    outgoing.extend(events);
                }
                Err(failure) => {
                    verdicts[slot] = Some(Verdict::Dead {
                        code: failure.code,
                        message: failure.message,
                    })
                }
            }
        }
        if outgoing.is_empty() {
            return verdicts;
        }
        match self.pipeline.deliver(&outgoing).await {
            Ok(outcomes) => {
                for (slot, outcome) in origin.into_iter().zip(outcomes) {
                    merge(&mut verdicts[slot], outcome);
                }
            }
            Err(error) => {
                tracing::warn!(destination = %self.config.name, events = count, error = %error, "the destination plugin failed the whole batch");
                for slot in origin {
                    verdicts[slot] = Some(Verdict::Dead {
                        code: error.code().to_owned(),
                        message: error.to_string(),
                    });
                }
            }
        }
        verdicts
    }

    /// One more attempt at dead letters an operator asked to redrive, in log
    /// order. Delivered ones leave the DLQ; the others stay with the new error.
    async fn redrive(&mut self, mut letters: Vec<DeadLetter>) -> Result<(), LogError> {
        // Attempt numbers come from the log: the live batch's must be in it.
        self.finish_writing().await?;
        letters.sort_by_key(|l| l.sequence);
        let max = self.config.batch.max_events;
        while !letters.is_empty() {
            let chunk: Vec<DeadLetter> = letters.drain(..letters.len().min(max)).collect();
            let started = Instant::now();
            let started_at = format_time(SystemTime::now());
            let mut records = Vec::with_capacity(chunk.len());
            for letter in &chunk {
                records.push(
                    serde_json::from_str::<EventRecord>(letter.event.get()).map_err(|e| {
                        LogError::Corrupt {
                            sequence: letter.sequence,
                            reason: e.to_string(),
                        }
                    })?,
                );
            }
            let verdicts = self
                .run_plugins(records.iter().map(to_plugin_event).collect())
                .await;
            let duration_ms = started.elapsed().as_millis() as u64;
            let plugins = self.pipeline.plugin_ids();
            let mut progress = DeliveryProgress {
                destination: self.config.name.clone(),
                attempts: Vec::new(),
                dead_letters: Vec::new(),
                discarded: Vec::new(),
                cursor: 0,
            };
            for (letter, verdict) in chunk.into_iter().zip(verdicts) {
                let mut entry = started_attempt(
                    &self.config.name,
                    &letter.event_id,
                    letter.sequence,
                    letter.attempts + 1,
                    &started_at,
                    duration_ms,
                    &plugins,
                );
                let failure = match verdict {
                    Some(Verdict::Delivered(coordinates)) => {
                        entry.coordinates = coordinates;
                        None
                    }
                    Some(Verdict::Filtered) => {
                        entry.outcome = AttemptOutcome::Filtered;
                        None
                    }
                    Some(Verdict::Retry { code, message } | Verdict::Dead { code, message }) => {
                        Some((code, message))
                    }
                    None => Some((
                        "no_outcome".to_owned(),
                        "the plugin returned no outcome for this event".to_owned(),
                    )),
                };
                match failure {
                    None => progress.discarded.push(letter.sequence),
                    Some((code, message)) => {
                        entry.outcome = AttemptOutcome::DeadLettered;
                        entry.error_code = Some(code.clone());
                        entry.error_message = Some(message.clone());
                        progress.dead_letters.push(DeadLetter {
                            error_code: code,
                            error_message: message,
                            attempts: letter.attempts + 1,
                            dead_lettered_at: format_time(SystemTime::now()),
                            ..letter
                        });
                    }
                }
                progress.attempts.push(entry);
            }
            tracing::info!(
                destination = %self.config.name,
                delivered = progress.discarded.len(),
                still_dead = progress.dead_letters.len(),
                "redrive batch done"
            );
            self.record(progress).await?;
        }
        Ok(())
    }

    /// Starts writing a delivery batch's progress and returns once the
    /// previous batch's write has landed (its result is what returns).
    async fn record_behind(&mut self, progress: DeliveryProgress) -> Result<(), LogError> {
        let previous = self.finish_writing().await;
        let (log, name, stop) = (
            self.log.clone(),
            self.config.name.clone(),
            self.stop.clone(),
        );
        self.writing = Some(tokio::spawn(write_progress(log, name, stop, progress)));
        previous
    }

    /// Waits for the write `record_behind` started, if any.
    pub(super) async fn finish_writing(&mut self) -> Result<(), LogError> {
        match self.writing.take() {
            Some(write) => write.await.unwrap_or(Err(LogError::Closed)),
            None => Ok(()),
        }
    }

    /// Writes progress (after any write still in flight), retrying storage
    /// errors until it sticks: going on without it could let the cursor run
    /// ahead of the record.
    pub(super) async fn record(&mut self, progress: DeliveryProgress) -> Result<(), LogError> {
        self.finish_writing().await?;
        loop {
            match self.log.record(progress.clone()).await {
                Ok(()) => return Ok(()),
                Err(LogError::Closed) => return Err(LogError::Closed),
                Err(e) => {
                    tracing::error!(destination = %self.config.name, error = %e, "cannot record delivery progress; retrying");
                    self.pause(Duration::from_secs(1)).await;
                }
            }
        }
    }

    async fn pause(&mut self, duration: Duration) {
        tokio::select! {
            _ = tokio::time::sleep(duration) => {}
            _ = self.stop.changed() => {}
        }
    }
}

/// Reads new events into the window; true when the log has no more.
async fn refill(
    log: &Log,
    partition_key: &PartitionKey,
    window: &mut Window,
    capacity: Capacity,
) -> Result<bool, LogError> {
    let (records, caught_up) = read_next(
        log.clone(),
        window.read_through() + 1,
        room(window, &capacity),
    )
    .await?;
    push(partition_key, window, records);
    Ok(caught_up)
}

/// How many more events the window may take, at most a batch or
/// [`READ_CHUNK`] at once: a small first read starts delivery sooner, and
/// the read-ahead keeps the window topped up from then on.
fn room(window: &Window, capacity: &Capacity) -> usize {
    let movable = window.len() - window.waiting(Instant::now());
    capacity
        .events
        .saturating_sub(movable)
        .min(WINDOW_HARD_LIMIT.saturating_sub(window.len()))
        .min(capacity.read_chunk)
}

/// How much a destination's window holds and reads at once.
#[derive(Clone, Copy)]
struct Capacity {
    events: usize,
    read_chunk: usize,
}

/// Up to `room` events from sequence `from`, and whether that was all the
/// log had (false when there was no room to look).
async fn read_next(log: Log, from: u64, room: usize) -> Result<(Vec<EventRecord>, bool), LogError> {
    if room == 0 {
        return Ok((Vec::new(), false));
    }
    let records = blocking(&log, move |log| log.read_from(from, room)).await?;
    let caught_up = records.len() < room;
    Ok((records, caught_up))
}

/// Starts reading the events after the window's last, up to `capacity`
/// counting the ones already in it; the window is not touched until the
/// result is pushed.
fn read_ahead(
    log: &Log,
    window: &Window,
    capacity: Capacity,
) -> impl Future<Output = Result<Vec<EventRecord>, LogError>> + use<> {
    let read = tokio::spawn(read_next(
        log.clone(),
        window.read_through() + 1,
        room(window, &capacity),
    ));
    async move {
        let (records, _) = read.await.unwrap_or(Err(LogError::Closed))?;
        Ok(records)
    }
}

fn push(partition_key: &PartitionKey, window: &mut Window, records: Vec<EventRecord>) {
    let now = Instant::now();
    for record in records {
        let key = partition_key.extract(&record);
        let bytes = record.payload.get().len() + record.metadata.get().len() + 256;
        window.push(record, key, bytes, now);
    }
}

/// Writes one batch's progress, retrying storage errors every second until
/// it sticks or the destination stops (then the events are delivered again
/// after a restart: at least once).
async fn write_progress(
    log: Log,
    destination: String,
    mut stop: watch::Receiver<bool>,
    progress: DeliveryProgress,
) -> Result<(), LogError> {
    loop {
        match log.record(progress.clone()).await {
            Ok(()) => return Ok(()),
            Err(LogError::Closed) => return Err(LogError::Closed),
            Err(e) => {
                tracing::error!(destination = %destination, error = %e, "cannot record delivery progress; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stop.changed() => return Err(e),
                }
            }
        }
    }
}

/// An attempt record, `delivered` until the verdict says otherwise.
pub(super) fn started_attempt(
    destination: &str,
    event_id: &str,
    sequence: u64,
    attempt: u32,
    started_at: &str,
    duration_ms: u64,
    plugins: &[String],
) -> AttemptRecord {
    AttemptRecord {
        destination: destination.to_owned(),
        event_id: event_id.to_owned(),
        sequence,
        attempt,
        started_at: started_at.to_owned(),
        duration_ms,
        outcome: AttemptOutcome::Delivered,
        error_code: None,
        error_message: None,
        coordinates: BTreeMap::new(),
        plugins: plugins.to_vec(),
        replay: None,
    }
}

/// The earlier of two optional instants.
fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Seconds since an RFC 3339 time the log wrote.
fn since(rfc3339: &str) -> Option<f64> {
    let then = time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .ok()?;
    let elapsed = time::OffsetDateTime::now_utc() - then;
    (elapsed.is_positive()).then(|| elapsed.as_seconds_f64())
}

/// Runs a blocking log read off the async threads.
pub(super) async fn blocking<T: Send + 'static>(
    log: &Log,
    f: impl FnOnce(&Log) -> Result<T, LogError> + Send + 'static,
) -> Result<T, LogError> {
    let log = log.clone();
    tokio::task::spawn_blocking(move || f(&log))
        .await
        .map_err(|_| LogError::Closed)?
}

/// Folds one plugin outcome into the verdict of its log event: a split
/// event is delivered only when every part is; any permanent failure wins.
fn merge(verdict: &mut Option<Verdict>, outcome: Outcome) {
    let incoming = match outcome {
        Outcome::Delivered(coordinates) => Verdict::Delivered(coordinates.into_iter().collect()),
        Outcome::Retryable(e) => Verdict::Retry {
            code: e.code,
            message: e.message,
        },
        Outcome::Permanent(e) => Verdict::Dead {
            code: e.code,
            message: e.message,
        },
    };
    *verdict = Some(match (verdict.take(), incoming) {
        (None, v) => v,
        (Some(Verdict::Dead { code, message }), _) | (_, Verdict::Dead { code, message }) => {
            Verdict::Dead { code, message }
        }
        (Some(Verdict::Retry { code, message }), _) | (_, Verdict::Retry { code, message }) => {
            Verdict::Retry { code, message }
        }
        (Some(Verdict::Delivered(mut a)), Verdict::Delivered(b)) => {
            a.extend(b);
            Verdict::Delivered(a)
        }
        (Some(other), _) => other,
    });
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

fn raw_record(record: &Arc<EventRecord>) -> Box<RawValue> {
    let json = serde_json::to_string(record.as_ref()).expect("records serialize");
    RawValue::from_string(json).expect("serialized records are JSON")
}
