//! Delivery: one worker per destination moves events from the log through
//! the destination's plugins, with batching, ordering per partition key,
//! retries with backoff and a dead-letter queue.

mod backoff;
pub use backoff::wait as backoff_wait;
mod controls;
mod failure;
mod fill;
mod flights;
mod handoff;
pub(crate) mod inbox;
mod isolate;
mod lanes;
mod partition_key;
mod pipeline;
mod plan;
mod plugin_requests;
mod probe;
mod progress;
mod reading;
mod redrive;
mod reload;
mod replay;
mod settle;
mod slot;
mod status;
mod window;
mod worker;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::{Config, DestinationConfig, TransformConfig};
use crate::log::Log;
use crate::metrics::Metrics;
use crate::runtime::{CallError, PluginVersions, Runtime, SinkBindings, World};
use crate::sinks::aws::{AwsError, AwsSink};
use crate::sinks::file::{FileSink, FileSinkError};
use crate::sinks::kafka::{KafkaError, KafkaSink};
use crate::sinks::kinesis::{KinesisError, KinesisSink};
use crate::sinks::network::NetworkSink;
use crate::sinks::signing::Signer;
pub use controls::{Control, Controls, SharedControls};
pub use failure::Failure;
use handoff::Leaving;
use pipeline::Pipeline;
use plugin_requests::PluginRequests;
pub use probe::{
    Category, PipelineStarter, ProbeError, ProbeOutcome, ProbeReport, TEST_EVENT_TYPE,
};
use progress::ProgressWriter;
pub use redrive::Operator;
pub use reload::{ReloadError, ReloadFailure, ReloadReport, Reloader, with_customers};
pub use replay::{
    DryRunItem, ReplayCommand, ReplayProgress, ReplayState, ReplayStatus, Replays,
    remember as remember_replay,
};
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
    PluginFailed { destination: String, error: String },
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
    #[error("destination {destination}: aws: {error}")]
    Aws {
        destination: String,
        error: AwsError,
    },
    #[error("destination {destination}: signing: {error}")]
    Signing {
        destination: String,
        error: crate::sinks::signing::SigningError,
    },
}

/// One running destination.
struct Running {
    /// Shared with its worker: one copy per destination, not one each.
    config: Arc<DestinationConfig>,
    /// The named transforms it uses, as configured: a changed one restarts it.
    transforms: Vec<TransformConfig>,
    stop: watch::Sender<bool>,
    handle: JoinHandle<()>,
}

/// A destination ready to run: plugins started, sinks bound.
struct Prepared {
    worker: Worker,
    control: Control,
    stop: watch::Sender<bool>,
}

/// The running workers, one per destination; [`Delivery::reload`] applies a
/// new config, [`Delivery::stop`] stops them all.
pub struct Delivery {
    log: Log,
    runtime: Arc<Runtime>,
    plugin_versions: Arc<PluginVersions>,
    metrics: Arc<Metrics>,
    data_dir: PathBuf,
    /// In config order.
    running: Vec<(String, Running)>,
    /// Configured destinations that could not start, as configured then:
    /// a reload that does not name them leaves them as they are (see
    /// [`Retry`]).
    failed: Vec<(Arc<DestinationConfig>, Vec<TransformConfig>)>,
    /// Workers told to stop and not finished yet: one under a name that
    /// starts again is waited for by its successor.
    leaving: Vec<Leaving>,
    controls: Arc<SharedControls>,
    config: Config,
}

impl Delivery {
    /// Starts every configured destination, or none: a destination that
    /// cannot start is an error the operator must fix first.
    pub async fn start(
        config: &Config,
        log: &Log,
        runtime: Arc<Runtime>,
        plugin_versions: Arc<PluginVersions>,
        metrics: Arc<Metrics>,
    ) -> Result<Self, DeliveryError> {
        let mut delivery = Self {
            log: log.clone(),
            runtime,
            plugin_versions,
            metrics,
            data_dir: config.storage.data_dir.clone(),
            running: Vec::new(),
            failed: Vec::new(),
            leaving: Vec::new(),
            controls: Arc::default(),
            config: config.clone(),
        };
        let mut prepared = Vec::new();
        for destination in &config.destinations {
            prepared.push(delivery.prepare(config, destination).await?);
        }
        let mut controls = Controls::default();
        for (destination, ready) in config.destinations.iter().zip(prepared) {
            controls.insert(destination.name.clone(), ready.control.clone());
            let running = delivery.spawn(config, destination, ready);
            delivery.running.push((destination.name.clone(), running));
        }
        delivery.controls.replace(controls);
        Ok(delivery)
    }

    /// Binds the sinks and starts the plugins of `destination`.
    async fn prepare(
        &self,
        config: &Config,
        destination: &Arc<DestinationConfig>,
    ) -> Result<Prepared, DeliveryError> {
        let mut pipeline = self.starter().start(config, destination).await?;
        pipeline.follow(self.plugin_versions.clone());
        // Started to check the config; the first batch starts its own.
        pipeline.release();
        let was_paused = self.log.is_paused(&destination.name).unwrap_or_else(|e| {
            tracing::warn!(destination = %destination.name, error = %e, "cannot read the paused flag; starting unpaused");
            false
        });
        if was_paused {
            tracing::info!(destination = %destination.name, "paused by an operator; resume it to deliver");
        }
        let (operator, requests) = inbox::inbox(16);
        let (paused, pause) = watch::channel(was_paused);
        let (replay, replays) = inbox::inbox(16);
        let (stop, stopped) = watch::channel(false);
        let live = Arc::new(LiveStatus::default());
        live.set_plugins(pipeline.plugin_ids());
        let asked = pipeline.requests();
        let lanes = lanes::Lanes::new(pipeline, destination.batch.in_flight);
        Ok(Prepared {
            control: Control {
                operator,
                paused: paused.clone(),
                live: live.clone(),
                replay,
                customer: destination.subscription.only_customer().map(Arc::from),
            },
            worker: Worker {
                live,
                replays,
                operator: requests,
                paused: pause,
                plugin_requests: PluginRequests {
                    requests: asked,
                    pause: paused,
                },
                config: destination.clone(),
                log: self.log.clone(),
                lanes,
                writer: ProgressWriter::new(
                    self.log.clone(),
                    destination.name.clone(),
                    stopped.clone(),
                ),
                stop: stopped,
                metrics: self.metrics.clone(),
            },
            stop,
        })
    }

    /// Starts the worker; it delivers once any earlier worker under its
    /// name has stopped.
    fn spawn(
        &mut self,
        config: &Config,
        destination: &DestinationConfig,
        ready: Prepared,
    ) -> Running {
        let before: Vec<Leaving> = self
            .leaving
            .extract_if(.., |l| l.name == destination.name)
            .collect();
        Running {
            config: ready.worker.config.clone(),
            transforms: transforms_of(config, destination),
            stop: ready.stop,
            // Boxed: `after` holds the worker's future and then awaits it,
            // and an async fn keeps room for both (each of 10,000 idle
            // customers' tasks took 10.6 KiB instead of 5).
            handle: tokio::spawn(handoff::after(
                before,
                Box::pin(Box::new(ready.worker).run()),
            )),
        }
    }

    /// What starting a pipeline takes (see [`PipelineStarter::probe`]).
    pub fn starter(&self) -> PipelineStarter {
        PipelineStarter {
            runtime: self.runtime.clone(),
            plugin_versions: self.plugin_versions.clone(),
            metrics: self.metrics.clone(),
            data_dir: self.data_dir.clone(),
        }
    }

    /// The controls of every destination, for the API.
    pub fn controls(&self) -> Arc<SharedControls> {
        self.controls.clone()
    }

    /// Asks every worker to stop after its batches in flight and waits up
    /// to `timeout`; a batch still running then is abandoned (its events
    /// are delivered again after the restart: the cursor never passed them).
    pub async fn stop(&mut self, timeout: std::time::Duration) {
        let mut leaving: Vec<Leaving> = self
            .running
            .drain(..)
            .map(|(name, running)| Leaving::start(name, running, timeout))
            .collect();
        leaving.append(&mut self.leaving);
        futures_util::future::join_all(leaving.into_iter().map(Leaving::stopped)).await;
    }

    /// Tells `running` to stop; a worker that starts under its name waits
    /// for it.
    fn leave(&mut self, name: String, running: Running, timeout: std::time::Duration) {
        self.leaving.retain(|l| !l.is_finished());
        self.leaving.push(Leaving::start(name, running, timeout));
    }
}

/// The named transforms `destination` uses, as configured.
fn transforms_of(config: &Config, destination: &DestinationConfig) -> Vec<TransformConfig> {
    destination
        .transforms
        .iter()
        .filter_map(|name| config.transforms.iter().find(|t| &t.name == name).cloned())
        .collect()
}

/// Checks that every destination's plugins exist, implement the right
/// world and accept their config, without touching any sink: what
/// `pushrail check` adds to the config checks. Returns every problem.
pub async fn validate(
    config: &Config,
    runtime: Arc<Runtime>,
    plugin_versions: &PluginVersions,
) -> Vec<DeliveryError> {
    let mut problems = Vec::new();
    for destination in &config.destinations {
        problems.extend(validate_destination(config, destination, &runtime, plugin_versions).await);
    }
    problems
}

/// The problems of one destination, found without touching its sinks.
async fn validate_destination(
    config: &Config,
    destination: &DestinationConfig,
    runtime: &Arc<Runtime>,
    plugin_versions: &PluginVersions,
) -> Vec<DeliveryError> {
    let mut problems = Vec::new();
    // The signer touches nothing outside: bound, so that a plugin that
    // checks for it at init sees what `serve` would give it.
    let sinks = match signer(destination) {
        Ok(signer) => SinkBindings {
            signer,
            ..SinkBindings::default()
        },
        Err(e) => {
            problems.push(e);
            SinkBindings::default()
        }
    };
    let started =
        Pipeline::start(runtime.clone(), plugin_versions, config, destination, sinks).await;
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
    problems
}

/// The sinks a destination may use: only those configured for it.
async fn bind_sinks(
    data_dir: &Path,
    destination: &crate::config::DestinationConfig,
    metrics: &Arc<Metrics>,
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
            KinesisSink::connect(
                &destination.name,
                config,
                destination.retry,
                metrics.clone(),
            )
            .await
            .map_err(|error| DeliveryError::Kinesis {
                destination: destination.name.clone(),
                error,
            })?,
        ),
        None => None,
    };
    let kafka = match &destination.kafka {
        Some(config) => Some(
            KafkaSink::connect(&destination.name, config, metrics.clone()).map_err(|error| {
                DeliveryError::Kafka {
                    destination: destination.name.clone(),
                    error,
                }
            })?,
        ),
        None => None,
    };
    let aws = match &destination.aws {
        Some(config) => {
            Some(
                AwsSink::connect(config)
                    .await
                    .map_err(|error| DeliveryError::Aws {
                        destination: destination.name.clone(),
                        error,
                    })?,
            )
        }
        None => None,
    };
    let network = destination
        .network
        .clone()
        .map(|config| NetworkSink::new(&destination.name, config, metrics.clone()));
    let signer = signer(destination)?;
    Ok(SinkBindings {
        file,
        kinesis,
        kafka,
        network,
        aws,
        signer,
        requests: Arc::default(),
    })
}

/// The destination's webhook signer, if it has a signing secret.
fn signer(
    destination: &crate::config::DestinationConfig,
) -> Result<Option<Arc<Signer>>, DeliveryError> {
    Signer::new(&destination.secrets, &destination.signing)
        .map(|signer| signer.map(Arc::new))
        .map_err(|error| DeliveryError::Signing {
            destination: destination.name.clone(),
            error,
        })
}
