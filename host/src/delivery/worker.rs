//! One worker per destination: read from the cursor, batch, transform,
//! deliver, settle every outcome, and advance the cursor past finished
//! events only. A retryable failure holds back its key; other keys flow.
//! Up to `batch.in_flight` batches are out at once, each on its own lane
//! ([`Lanes`]) and task ([`Flights`]), holding keys no other one holds.
//!
//! The loop only carries out decisions: what to read and send is
//! [`plan`](super::plan), the window of unfinished events is
//! [`Window`], verdicts become progress in [`settle`](super::settle), and
//! progress is written by the [`ProgressWriter`].

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::backoff;
use super::fill::KeyPolicy;
use super::flights::{Cargo, Flight, Flights, Landed, attempt_on, fly};
use super::inbox;
use super::lanes::Lanes;
use super::pipeline::Pipeline;
use super::plan::{self, Limits, Linger, STORAGE_RETRY, Step};
use super::plugin_requests::PluginRequests;
use super::progress::ProgressWriter;
use super::reading::{blocking, read_next};
use super::redrive::Operator;
use super::replay::{ActiveReplay, ReplayCommand};
use super::settle::{Item, Next, Run, Settled};
use super::status::LiveStatus;
use super::window::Window;
use crate::config::DestinationConfig;
use crate::log::{DeliveryProgress, EventRecord, Log, LogError, Resume};
use crate::metrics::Metrics;

/// How long a destination waits with nothing to do before it lets its
/// plugin instances go (restarting one costs tens of µs; thousands of
/// idle customer destinations would otherwise each hold one).
const IDLE_RELEASE: Duration = Duration::from_secs(5);

pub struct Worker {
    pub config: Arc<DestinationConfig>,
    pub log: Log,
    /// Copies of the destination's pipeline, one per batch in flight.
    pub lanes: Lanes,
    pub stop: watch::Receiver<bool>,
    pub metrics: Arc<Metrics>,
    /// Redrive and discard requests.
    pub operator: inbox::Receiver<Operator>,
    /// True while an operator (or the plugin) has paused the destination.
    pub paused: watch::Receiver<bool>,
    /// Waits and pauses the destination plugin asked for.
    pub plugin_requests: PluginRequests,
    /// What the API shows about this destination while it runs.
    pub live: Arc<LiveStatus>,
    /// Replays and dry runs an operator asked for.
    pub replays: inbox::Receiver<ReplayCommand>,
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
    pub async fn run(mut self: Box<Self>) {
        let name = self.config.name.clone();
        let resume = match blocking(&self.log, move |log| log.resume(&name)).await {
            Ok(resume) => resume,
            Err(e) => {
                tracing::error!(destination = %self.config.name, error = %e, "cannot read the cursor; delivery stopped");
                return;
            }
        };
        tracing::info!(destination = %self.config.name, cursor = resume.cursor, finished_past_it = resume.finished.len(), "delivery started");
        if let Err(e) = self.deliver_from(resume).await {
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
    async fn deliver_from(&mut self, resume: Resume) -> Result<(), LogError> {
        let mut window = Window::resume(resume);
        let mut flights = Flights::default();
        // Batches that came back while the worker waited for something
        // else; recorded at the top of the loop.
        let mut landed: Vec<Landed> = Vec::new();
        let result = self
            .deliver_loop(&mut window, &mut flights, &mut landed)
            .await;
        // Stopping: the batches out finish and are recorded, unless the
        // log refuses writes (then a restart delivers them again).
        if result.is_ok() {
            while let Some(flight) = flights.next().await {
                landed.push(flight);
            }
            for flight in landed {
                Box::pin(self.land(&mut window, flight, &flights)).await?;
            }
        }
        result
    }

    async fn deliver_loop(
        &mut self,
        window: &mut Window,
        flights: &mut Flights,
        landed: &mut Vec<Landed>,
    ) -> Result<(), LogError> {
        let customer: Option<Arc<str>> = self.config.subscription.only_customer().map(Arc::from);
        let mut committed = match &customer {
            Some(customer) => self.log.subscribe_customer(customer),
            None => self.log.subscribe(),
        };
        let limits = Limits::for_batch(&self.config.batch);
        let mut queued = Queued::default();
        // The cursor last written; events passed over move the window's
        // cursor without a batch, and it is written before sleeping.
        let mut written = window.cursor();
        let result = loop {
            landed.extend(std::iter::from_fn(|| flights.try_next()));
            for flight in landed.drain(..) {
                Box::pin(self.land(window, flight, flights)).await?;
                written = written.max(window.cursor());
            }
            if *self.stop.borrow() {
                break Ok(());
            }
            if *self.paused.borrow() {
                tokio::select! {
                    _ = self.paused.changed() => {}
                    _ = self.stop.changed() => {}
                    Some(flight) = flights.next(), if !flights.is_empty() => landed.push(flight),
                    command = self.replays.recv() => Box::pin(self.accept(command, &mut queued.replays)).await,
                    request = self.operator.recv() => Box::pin(self.operate(request, &mut queued.redrives)).await,
                }
                continue;
            }
            while let Some(request) = self.operator.try_recv() {
                Box::pin(self.operate(request, &mut queued.redrives)).await;
            }
            while let Some(command) = self.replays.try_recv() {
                Box::pin(self.accept(command, &mut queued.replays)).await;
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

            // A destination with nothing read, out or admitted reads only
            // once it has room for its plugin instances: thousands of
            // customers' destinations waiting their turn then hold no
            // events, only their cursor. (The room is given back idle.)
            if holds_nothing(window, flights)
                && !self.lanes.admitted()
                && !self.wait_for_room().await
            {
                continue;
            }
            let now = Instant::now();
            let room = plan::room(window, &limits, now);
            let read = read_next(
                self.log.clone(),
                window.read_through(),
                room,
                customer.clone(),
            );
            let caught_up = match Box::pin(read).await {
                Ok(read) => {
                    let caught_up = self.push(window, read);
                    if holds_nothing(window, flights) {
                        self.lanes.release_unstarted();
                    }
                    caught_up
                }
                Err(LogError::Closed) => break Ok(()),
                Err(e) => {
                    tracing::error!(destination = %self.config.name, error = %e, "cannot read the log; retrying");
                    self.back_off(STORAGE_RETRY).await;
                    continue;
                }
            };
            window.evict(now, limits.loaded_bytes);
            match plan::next_step(
                window,
                &self.config.batch,
                KeyPolicy::of(&self.config),
                Linger::when(caught_up, self.lanes.instances_scarce()),
                now,
            ) {
                Step::Wait { reload, .. } if !reload.is_empty() => {
                    Box::pin(self.reload(window, reload)).await;
                }
                // More is in the log and there is room for it (e.g. waiting
                // events were just evicted): read it before sleeping.
                Step::Wait { .. }
                    if queued.due(Instant::now())
                        || (!caught_up && !plan::room(window, &limits, now).is_empty()) => {}
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
                    let woke = self
                        .sleep(until, &mut committed, caught_up, &mut queued, flights)
                        .await;
                    match woke {
                        Woke::Closed => break Ok(()),
                        Woke::Landed(flight) => landed.push(flight),
                        Woke::Other => {}
                    }
                }
                Step::Send(batch) => match self.lanes.take() {
                    Some(lane) => self.launch(window, lane, batch, flights),
                    // No room and nothing out (it was given back while the
                    // events waited): wait for it; the batch is chosen again.
                    None if flights.is_empty() => {
                        self.wait_for_room().await;
                    }
                    // No lane: the batch is chosen again once one is back.
                    // Waiting, it holds no idle instances others need.
                    None => {
                        self.lanes.release_if_scarce();
                        landed.extend(flights.next().await);
                    }
                },
            }
        };
        for job in queued.replays {
            job.interrupt();
        }
        result
    }

    /// Waits for room for the next batch's plugin instances (see
    /// [`Lanes::admit`]); false when a stop or a pause came first.
    async fn wait_for_room(&mut self) -> bool {
        tokio::select! {
            () = self.lanes.admit() => true,
            _ = self.stop.changed() => false,
            _ = self.paused.changed() => false,
        }
    }

    /// Sleeps until `until`, new events (when caught up), a batch back, or
    /// a request.
    async fn sleep(
        &mut self,
        until: Option<Instant>,
        committed: &mut watch::Receiver<u64>,
        caught_up: bool,
        queued: &mut Queued,
        flights: &mut Flights,
    ) -> Woke {
        // Waiting while others need instances: give ours back now. Idle
        // with nothing scheduled: after a while (see `Pipeline::release`).
        self.lanes.release_if_scarce();
        let idle = until.is_none() && flights.is_empty() && self.lanes.admitted();
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
                    self.lanes.release();
                }
            }
            Some(flight) = flights.next(), if !flights.is_empty() => return Woke::Landed(flight),
            changed = committed.changed(), if caught_up => {
                if changed.is_err() {
                    return Woke::Closed;
                }
            }
            _ = self.stop.changed() => {}
            _ = self.paused.changed() => {}
            request = self.operator.recv() => Box::pin(self.operate(request, &mut queued.redrives)).await,
            command = self.replays.recv() => Box::pin(self.accept(command, &mut queued.replays)).await,
        }
        Woke::Other
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

    /// Hands `batch` to `lane` on its own task.
    fn launch(
        &mut self,
        window: &mut Window,
        lane: Pipeline,
        batch: Vec<u64>,
        flights: &mut Flights,
    ) {
        window.send(&batch);
        let cargo: Vec<Cargo> = batch
            .iter()
            .map(|&s| {
                let pending = window.get(s);
                Cargo {
                    record: pending.record.clone().expect("a selected event is loaded"),
                    key: pending.key.clone(),
                    failures: pending.failures,
                }
            })
            .collect();
        let flight = fly(
            lane,
            cargo,
            self.config.name.clone(),
            self.config.batch,
            self.config.retry.max_retries,
        );
        flights.launch(batch, flight);
        self.live.set_in_flight(flights.events());
    }

    /// Records a batch that came back: what happens next to each event,
    /// its progress (written behind the batches still out), its metrics.
    async fn land(
        &mut self,
        window: &mut Window,
        landed: Landed,
        flights: &Flights,
    ) -> Result<(), LogError> {
        self.live.set_in_flight(flights.events());
        let Landed { batch, flight } = landed;
        let Some(flight) = flight else {
            // Its task failed: nothing was recorded, so its events go
            // again, as after a restart.
            self.lanes.lost();
            let due = Instant::now() + STORAGE_RETRY;
            for sequence in batch {
                let failures = window.get(sequence).failures;
                window.retry(sequence, failures, due);
            }
            return Ok(());
        };
        let Flight {
            mut lane,
            settled,
            plugin_time,
            switched,
        } = *flight;
        if switched {
            self.live.set_plugins(lane.plugin_ids());
        }
        let call_times = lane.take_call_times();
        self.lanes.give_back(lane);
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
                    self.plugin_requests.retry_due(
                        now + backoff::wait(&self.config.retry, failures),
                        now,
                        self.config.retry.max_wait,
                    ),
                ),
                Next::NotReached => window.retry(sequence, 0, now),
            }
        }
        self.plugin_requests
            .act(&self.log, &self.config.name, &self.live)
            .await;
        let mut progress = settled.progress;
        progress.cursor = window.cursor();
        if let Some(error) = settled.last_error {
            self.live.set_last_error(error);
        }
        self.observe(
            &progress,
            batch.len(),
            plugin_time,
            call_times,
            &settled.latencies,
        );
        self.writer.write_behind(progress).await
    }

    /// One attempt at `records` outside live delivery (a redrive or a
    /// replay chunk), settled as `run`; `failures` counted so far. Runs in
    /// place on an idle lane, between batches.
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
        let lane = self.lanes.home();
        if lane.refresh().await {
            self.live.set_plugins(lane.plugin_ids());
        }
        let lane = self.lanes.home();
        attempt_on(lane, &self.config.name, &self.config.batch, &items, run)
            .await
            .0
    }

    /// Updates the destination's metrics after a batch.
    fn observe(
        &mut self,
        progress: &DeliveryProgress,
        events: usize,
        plugin_time: Duration,
        call_times: std::collections::BTreeMap<String, (Duration, u64)>,
        latencies: &[f64],
    ) {
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

/// What woke a sleeping worker.
enum Woke {
    /// The log is gone.
    Closed,
    /// A batch came back.
    Landed(Landed),
    /// A timer, new events, or a request (already handled).
    Other,
}

/// No event read and unfinished, none out with the plugins.
fn holds_nothing(window: &Window, flights: &Flights) -> bool {
    window.len() == 0 && flights.is_empty()
}

/// The earlier of two optional instants.
fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    /// What each of 10,000 mostly idle customers' destinations keeps
    /// while it sleeps: the worker and its loop's state. The worker's
    /// future held the worker twice (an async fn moves its arguments into
    /// locals) and `handoff::after` held that future twice again: 10.6 KiB
    /// a destination, 106 MiB for 10,000 (heaptrack, scenario 8). Boxed
    /// once each now.
    #[test]
    fn a_sleeping_destination_keeps_little_state() {
        fn future_size<Fut: std::future::Future>(_run: fn(Box<super::Worker>) -> Fut) -> usize {
            size_of::<Fut>()
        }
        let worker = size_of::<super::Worker>();
        let run = future_size(super::Worker::run);
        assert!(
            worker + run < 4 * 1024,
            "the worker ({worker} bytes) and its future ({run}) together"
        );
    }
}
