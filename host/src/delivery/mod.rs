//! Delivery: one worker per destination moves events from the log through
//! the destination's plugins, with batching, ordering per partition key,
//! retries with backoff and a dead-letter queue.

mod backoff;
pub use backoff::wait as backoff_wait;
mod partition_key;
mod pipeline;
mod replay;
mod status;
mod window;
mod worker;

use std::path::Path;
use std::sync::Arc;

use std::collections::HashMap;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::config::Config;
use crate::log::{DeadLetter, Log};
use crate::metrics::Metrics;
use crate::runtime::{
    CallError, LoadError, PluginVersions, Registry, Runtime, SinkBindings, World,
};
use crate::sinks::file::{FileSink, FileSinkError};
use crate::sinks::kafka::{KafkaError, KafkaSink};
use crate::sinks::kinesis::{KinesisError, KinesisSink};
use pipeline::Pipeline;
pub use replay::{DryRunItem, ReplayCommand, ReplayProgress, ReplayState, ReplayStatus, Replays};
pub use status::{LastError, LiveStatus};
use worker::Worker;

/// Why a destination could not start.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("destination {destination}: no plugin named `{plugin}` (available: {available})")]
    UnknownPlugin {
        destination: String,
        plugin: String,
        available: String,
    },
    #[error("destination {destination}: {error}")]
    PluginFailed {
        destination: String,
        error: LoadError,
    },
    #[error(
        "destination {destination}: plugin `{plugin}` is a {found}, but is used as a {expected}"
    )]
    WrongWorld {
        destination: String,
        plugin: String,
        expected: World,
        found: World,
    },
    #[error("destination {destination}: plugin `{plugin}` could not start: {error}")]
    Init {
        destination: String,
        plugin: String,
        error: CallError,
    },
    #[error("destination {destination}: {error}")]
    File {
        destination: String,
        error: FileSinkError,
    },
    #[error("destination {destination}: {error}")]
    Kinesis {
        destination: String,
        error: KinesisError,
    },
    #[error("destination {destination}: kafka: {error}")]
    Kafka {
        destination: String,
        error: KafkaError,
    },
}

/// What an operator can do to a running destination.
#[derive(Clone)]
pub struct Control {
    /// Dead letters to deliver again.
    pub redrive: mpsc::Sender<Vec<DeadLetter>>,
    /// True while paused: the worker finishes its batch in flight, then waits.
    pub paused: watch::Sender<bool>,
    /// Plugins, events in flight and the last failure, as the worker sees them.
    pub live: Arc<LiveStatus>,
    /// Replays and dry runs for the worker.
    pub replay: mpsc::Sender<ReplayCommand>,
}

/// The controls of every destination, by name.
pub type Controls = HashMap<String, Control>;

/// The running workers; stop them with [`Delivery::stop`].
pub struct Delivery {
    stop: watch::Sender<bool>,
    workers: JoinSet<()>,
    controls: Arc<Controls>,
}

impl Delivery {
    /// Starts every configured destination, or none: a destination that
    /// cannot start is an error the operator must fix first.
    pub async fn start(
        config: &Config,
        log: &Log,
        runtime: Arc<Runtime>,
        registry: &Registry,
        versions: Arc<PluginVersions>,
        metrics: Arc<Metrics>,
    ) -> Result<Self, DeliveryError> {
        let (stop, stopped) = watch::channel(false);
        let mut workers = Vec::new();
        let mut controls = HashMap::new();
        for destination in &config.destinations {
            let sinks = bind_sinks(&config.storage.data_dir, destination).await?;
            let mut pipeline =
                Pipeline::start(runtime.clone(), registry, config, destination, sinks).await?;
            pipeline.follow(versions.clone());
            let (redrive, requests) = mpsc::channel(16);
            let was_paused = log.is_paused(&destination.name).unwrap_or_else(|e| {
                tracing::warn!(destination = %destination.name, error = %e, "cannot read the paused flag; starting unpaused");
                false
            });
            if was_paused {
                tracing::info!(destination = %destination.name, "paused by an operator; resume it to deliver");
            }
            let (paused, pause) = watch::channel(was_paused);
            let live = Arc::new(LiveStatus::default());
            let (replay, replays) = mpsc::channel(16);
            live.set_plugins(pipeline.plugin_ids());
            controls.insert(
                destination.name.clone(),
                Control {
                    redrive,
                    paused,
                    live: live.clone(),
                    replay,
                },
            );
            workers.push(Worker {
                live,
                replays,
                redrive: requests,
                paused: pause,
                config: destination.clone(),
                log: log.clone(),
                pipeline,
                stop: stopped.clone(),
                metrics: metrics.clone(),
            });
        }
        let mut set = JoinSet::new();
        for worker in workers {
            set.spawn(worker.run());
        }
        Ok(Self {
            stop,
            workers: set,
            controls: Arc::new(controls),
        })
    }

    /// The controls of every destination, for the API.
    pub fn controls(&self) -> Arc<Controls> {
        self.controls.clone()
    }

    /// Asks every worker to stop after its batch in flight and waits up to
    /// `timeout`; a batch still running then is abandoned (its events are
    /// delivered again after the restart: the cursor never passed them).
    pub async fn stop(mut self, timeout: std::time::Duration) {
        let _ = self.stop.send(true);
        let drained = tokio::time::timeout(timeout, async {
            while self.workers.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                ?timeout,
                "delivery did not stop in time; abandoning the batches in flight"
            );
            self.workers.abort_all();
        }
    }
}

/// Checks that every destination's plugins exist, implement the right
/// world and accept their config, without touching any sink: what
/// `pushrail check` adds to the config checks. Returns every problem.
pub async fn validate(
    config: &Config,
    runtime: Arc<Runtime>,
    registry: &Registry,
) -> Vec<DeliveryError> {
    let mut problems = Vec::new();
    for destination in &config.destinations {
        let started = Pipeline::start(
            runtime.clone(),
            registry,
            config,
            destination,
            SinkBindings::default(),
        )
        .await;
        if let Err(e) = started {
            problems.push(e);
        }
        if let Some(kafka) = &destination.kafka
            && let Err(error) = KafkaSink::check(&destination.name, kafka)
        {
            problems.push(DeliveryError::Kafka {
                destination: destination.name.clone(),
                error,
            });
        }
    }
    problems
}

/// The sinks a destination may use: only those configured for it.
async fn bind_sinks(
    data_dir: &Path,
    destination: &crate::config::DestinationConfig,
) -> Result<SinkBindings, DeliveryError> {
    let file = match &destination.file {
        Some(path) => {
            let path = data_dir.join(path);
            Some(FileSink::open(&path).map_err(|error| DeliveryError::File {
                destination: destination.name.clone(),
                error,
            })?)
        }
        None => None,
    };
    let kinesis = match &destination.kinesis {
        Some(config) => Some(
            KinesisSink::connect(config, destination.retry)
                .await
                .map_err(|error| DeliveryError::Kinesis {
                    destination: destination.name.clone(),
                    error,
                })?,
        ),
        None => None,
    };
    let kafka =
        match &destination.kafka {
            Some(config) => Some(KafkaSink::connect(&destination.name, config).map_err(
                |error| DeliveryError::Kafka {
                    destination: destination.name.clone(),
                    error,
                },
            )?),
            None => None,
        };
    Ok(SinkBindings {
        file,
        kinesis,
        kafka,
    })
}
