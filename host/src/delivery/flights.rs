//! Batches in flight: each runs on its own lane and task, through the
//! plugins and settling, and comes back to the worker to be recorded.
//! Their keys are disjoint ([`Window::select`](super::window::Window::select)
//! skips a key with an event in flight), so they may land in any order.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::task::{Id, JoinSet};

use super::pipeline::Pipeline;
use super::settle::{Attempted, Item, Run, Settled, settle};
use crate::config::BatchConfig;
use crate::log::{EventRecord, format_time};
use crate::runtime::Event;

/// What a batch's task returns: its lane, settled.
pub struct Flight {
    pub lane: Pipeline,
    pub settled: Settled,
    pub plugin_time: Duration,
    /// The lane switched to newer plugin versions before the batch.
    pub switched: bool,
}

/// A batch back from its task.
pub struct Landed {
    /// Its sequences, in log order.
    pub batch: Vec<u64>,
    /// `None` when its task failed (a panic): nothing was recorded, its
    /// events go again.
    pub flight: Option<Box<Flight>>,
}

/// One event of a batch, owned by its task.
pub struct Cargo {
    pub record: Arc<EventRecord>,
    pub key: Arc<str>,
    pub failures: u32,
}

#[derive(Default)]
pub struct Flights {
    tasks: JoinSet<Box<Flight>>,
    /// The sequences of each task's batch.
    batches: HashMap<Id, Vec<u64>>,
    /// Events in flight over all batches.
    events: usize,
}

impl Flights {
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    pub fn events(&self) -> usize {
        self.events
    }

    /// Runs `batch` on its own task.
    pub fn launch(
        &mut self,
        batch: Vec<u64>,
        flight: impl Future<Output = Box<Flight>> + Send + 'static,
    ) {
        self.events += batch.len();
        let id = self.tasks.spawn(flight).id();
        self.batches.insert(id, batch);
    }

    /// The next batch to come back; `None` when none is out.
    pub async fn next(&mut self) -> Option<Landed> {
        let joined = self.tasks.join_next_with_id().await?;
        Some(self.landed(joined))
    }

    /// A batch that came back already, if any.
    pub fn try_next(&mut self) -> Option<Landed> {
        let joined = self.tasks.try_join_next_with_id()?;
        Some(self.landed(joined))
    }

    fn landed(&mut self, joined: Result<(Id, Box<Flight>), tokio::task::JoinError>) -> Landed {
        let id = match &joined {
            Ok((id, _)) => *id,
            Err(e) => e.id(),
        };
        let batch = self.batches.remove(&id).unwrap_or_default();
        self.events -= batch.len();
        let flight = match joined {
            Ok((_, flight)) => Some(flight),
            Err(error) => {
                tracing::error!(events = batch.len(), %error, "a batch's task failed; its events go again");
                None
            }
        };
        Landed { batch, flight }
    }
}

/// A live batch on `lane`: switches it to newer plugin versions first
/// (between batches, so a batch runs on one version), then one attempt.
pub async fn fly(
    mut lane: Pipeline,
    cargo: Vec<Cargo>,
    destination: String,
    limits: BatchConfig,
    max_retries: u32,
) -> Box<Flight> {
    let switched = lane.refresh().await;
    let items: Vec<Item<'_>> = cargo
        .iter()
        .map(|c| Item {
            record: &c.record,
            key: &c.key,
            failures: c.failures,
        })
        .collect();
    let (settled, plugin_time) = attempt_on(
        &mut lane,
        &destination,
        &limits,
        &items,
        Run::Live { max_retries },
    )
    .await;
    drop(items);
    Box::new(Flight {
        lane,
        settled,
        plugin_time,
        switched,
    })
}

/// Runs the events of `items` through `lane` as one attempt and settles it
/// as `run`; also returns the time spent in the plugins.
pub async fn attempt_on(
    lane: &mut Pipeline,
    destination: &str,
    limits: &BatchConfig,
    items: &[Item<'_>],
    run: Run<'_>,
) -> (Settled, Duration) {
    // Room for the instances first: a batch waiting for it holds only the
    // window's records, not the plugin's copy of every event.
    lane.admit().await;
    let started = Instant::now();
    let started_at = format_time(SystemTime::now());
    let events = items.iter().map(|i| to_plugin_event(i.record)).collect();
    let verdicts = lane.run(events, limits).await;
    let plugin_time = started.elapsed();
    let plugins = lane.plugin_ids();
    let attempted = Attempted {
        destination,
        started_at: &started_at,
        duration_ms: plugin_time.as_millis() as u64,
        plugins: &plugins,
    };
    (settle(run, &attempted, items, verdicts), plugin_time)
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
