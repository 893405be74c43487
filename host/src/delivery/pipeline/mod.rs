//! The plugins one destination runs, in order: its transforms
//! ([`transforms`]), then its destination plugin. Instances are reused
//! across batches and replaced after a failed call.

mod transforms;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::DeliveryError;
use super::failure::Failure;
use super::isolate::Isolation;
use super::settle::{Verdict, merge};
use super::slot::Slot;
use crate::config::{BatchConfig, Config, DestinationConfig};
use crate::failure_codes;
use crate::runtime::{
    CallError, Event, Outcome, Plugin, PluginVersions, Runtime, SinkBindings, World,
};
use crate::runtime::{Destination, Requests, TransformBindings};

pub struct Pipeline {
    runtime: Arc<Runtime>,
    destination: String,
    /// The destination plugin.
    output: Slot<Destination>,
    stages: Vec<Slot<TransformBindings>>,
    /// plugin name → (time in its calls, calls) since the last [`Pipeline::take_call_times`].
    call_times: BTreeMap<String, (Duration, u64)>,
    /// Newer plugin plugin_versions to switch to (hot reload), and the last one seen.
    plugin_versions: Option<(Arc<PluginVersions>, tokio::sync::watch::Receiver<u64>)>,
    /// Room for this pipeline's instances among all live ones
    /// ([`Runtime::admit`]); held while any instance is, dropped with them.
    admitted: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl Pipeline {
    /// Resolves the destination's plugins and starts one instance of each,
    /// so that a bad config is reported at startup, not at the first event.
    pub async fn start(
        runtime: Arc<Runtime>,
        plugin_versions: &PluginVersions,
        config: &Config,
        destination: &DestinationConfig,
        sinks: SinkBindings,
    ) -> Result<Self, DeliveryError> {
        let plugin = resolve(
            plugin_versions,
            &destination.name,
            &destination.plugin,
            World::Destination,
        )?;
        let mut stages = Vec::new();
        for reference in &destination.transforms {
            let (plugin_name, settings) =
                match config.transforms.iter().find(|t| &t.name == reference) {
                    Some(named) => (named.plugin.as_str(), named.config.to_string()),
                    None => (reference.as_str(), "{}".to_owned()),
                };
            let plugin = resolve(
                plugin_versions,
                &destination.name,
                plugin_name,
                World::Transform,
            )?;
            stages.push(Slot::new(
                reference.clone(),
                plugin,
                settings,
                SinkBindings::default(),
            ));
        }
        let mut pipeline = Self {
            runtime,
            destination: destination.name.clone(),
            output: Slot::new(
                plugin.name.clone(),
                plugin,
                destination.plugin_settings().to_string(),
                sinks,
            ),
            stages,
            call_times: BTreeMap::new(),
            plugin_versions: None,
            admitted: None,
        };
        let init_error = |plugin: &str, error: CallError| DeliveryError::Init {
            destination: destination.name.clone(),
            plugin: plugin.to_owned(),
            error,
        };
        pipeline.admit().await;
        let (runtime, name) = (&pipeline.runtime, &pipeline.destination);
        for stage in &mut pipeline.stages {
            let stage_name = stage.name.clone();
            stage
                .instance(runtime, name)
                .await
                .map_err(|e| init_error(&stage_name, e))?;
        }
        let plugin_name = pipeline.output.name.clone();
        pipeline
            .output
            .instance(runtime, name)
            .await
            .map_err(|e| init_error(&plugin_name, e))?;
        Ok(pipeline)
    }

    /// What the destination plugin asks of its delivery (shared by every lane).
    pub fn requests(&self) -> Arc<Requests> {
        self.output.sinks.requests.clone()
    }

    /// Another pipeline of the same plugins, config and sinks, without
    /// instances: a lane for one more batch in flight. It follows the same
    /// plugin versions and compares its own with the newest at its first
    /// [`Pipeline::refresh`], so a copy of an older one catches up.
    pub fn spare(&self) -> Self {
        let plugin_versions = self.plugin_versions.as_ref().map(|(versions, _)| {
            let mut seen = versions.subscribe();
            seen.mark_changed();
            (versions.clone(), seen)
        });
        Self {
            runtime: self.runtime.clone(),
            destination: self.destination.clone(),
            output: self.output.spare(),
            stages: self.stages.iter().map(Slot::spare).collect(),
            call_times: BTreeMap::new(),
            plugin_versions,
            admitted: None,
        }
    }

    /// Drops every plugin instance; the next call starts fresh ones (tens
    /// of µs each). An idle destination so holds no instance memory: with
    /// thousands of customer destinations, most are idle at any time.
    pub fn release(&mut self) {
        if self.holds_instances() {
            tracing::debug!(destination = %self.destination, "idle: plugin instances released");
        }
        self.output.instance = None;
        for stage in &mut self.stages {
            stage.instance = None;
        }
        self.admitted = None;
    }

    /// Waits for room for this pipeline's instances, unless it has it.
    pub async fn admit(&mut self) {
        if self.admitted.is_none() {
            self.admitted = Some(self.runtime.admit(self.instance_count()).await);
        }
    }

    /// Takes room for this pipeline's instances if there is some now;
    /// true when it has room.
    pub fn try_admit(&mut self) -> bool {
        if self.admitted.is_none() {
            self.admitted = self.runtime.try_admit(self.instance_count());
        }
        self.admitted.is_some()
    }

    /// Its plugins: the destination plugin and one per transform.
    fn instance_count(&self) -> usize {
        1 + self.stages.len()
    }

    /// True when instances are scarce over all destinations: one that
    /// waits should give its own back now rather than after a while.
    pub fn instances_scarce(&self) -> bool {
        self.runtime.instances_scarce()
    }

    /// True while it has room for its instances, started or not.
    pub fn admitted(&self) -> bool {
        self.admitted.is_some()
    }

    /// True while any plugin instance is live.
    pub fn holds_instances(&self) -> bool {
        self.output.instance.is_some() || self.stages.iter().any(|s| s.instance.is_some())
    }

    /// Follows `plugin_versions`: [`Pipeline::refresh`] switches to what it publishes.
    pub fn follow(&mut self, plugin_versions: Arc<PluginVersions>) {
        let mut seen = plugin_versions.subscribe();
        seen.mark_unchanged();
        self.plugin_versions = Some((plugin_versions, seen));
    }

    /// Switches to newer plugin versions; called between batches, so a batch
    /// runs entirely on one version. A version that cannot start here (wrong
    /// world, or its `init` refuses the config) is recorded and the running
    /// one stays. True when something switched.
    pub async fn refresh(&mut self) -> bool {
        let Some((plugin_versions, seen)) = &mut self.plugin_versions else {
            return false;
        };
        if !seen.has_changed().unwrap_or(false) {
            return false;
        }
        seen.mark_unchanged();
        let plugin_versions = plugin_versions.clone();
        self.admit().await;
        let (runtime, destination) = (&self.runtime, self.destination.as_str());
        let mut switched = false;
        if let Some(newest) = plugin_versions.get(&self.output.plugin.name) {
            let result = self
                .output
                .switch(runtime, destination, newest.clone())
                .await;
            switched |= report(result, destination, &plugin_versions, &newest);
        }
        for stage in &mut self.stages {
            if let Some(newest) = plugin_versions.get(&stage.plugin.name) {
                let result = stage.switch(runtime, destination, newest.clone()).await;
                switched |= report(result, destination, &plugin_versions, &newest);
            }
        }
        switched
    }

    /// `name@sha256` of every plugin that runs, for the attempt log.
    pub fn plugin_ids(&self) -> Vec<String> {
        std::iter::once(&self.output.plugin)
            .chain(self.stages.iter().map(|s| &s.plugin))
            .map(|p| format!("{}@{}", p.name, p.hash))
            .collect()
    }

    /// Runs log events through the transforms and the destination plugin;
    /// one verdict slot per event (`None`: the plugin gave no outcome).
    /// What the transforms return is handed to the destination plugin in
    /// calls within the batch limits, so a transform that fans out cannot
    /// make one call (or the memory behind it) grow without bound.
    pub async fn run(&mut self, events: Vec<Event>, limits: &BatchConfig) -> Vec<Option<Verdict>> {
        let count = events.len();
        let mut verdicts: Vec<Option<Verdict>> = (0..count).map(|_| None).collect();
        let mut outgoing: Vec<Event> = Vec::new();
        let mut origin: Vec<usize> = Vec::new();
        let mut bytes = 0;
        for (slot, transformed) in self.transform(events).await.into_iter().enumerate() {
            match transformed {
                Ok(events) if events.is_empty() => verdicts[slot] = Some(Verdict::Filtered),
                Ok(events) => {
                    for event in events {
                        let size = event.payload.len() + event.metadata.len();
                        if !outgoing.is_empty()
                            && (outgoing.len() == limits.max_events
                                || bytes + size > limits.max_bytes)
                        {
                            self.deliver_into(&mut verdicts, &mut outgoing, &mut origin)
                                .await;
                            bytes = 0;
                        }
                        bytes += size;
                        origin.push(slot);
                        outgoing.push(event);
                    }
                }
                Err(failure) if failure.code == failure_codes::PLUGIN_UNAVAILABLE => {
                    verdicts[slot] = Some(Verdict::Retryable(failure))
                }
                Err(failure) => verdicts[slot] = Some(Verdict::Permanent(failure)),
            }
        }
        if !outgoing.is_empty() {
            self.deliver_into(&mut verdicts, &mut outgoing, &mut origin)
                .await;
        }
        verdicts
    }

    /// Delivers `outgoing` and folds each outcome into the verdict of the
    /// log event it came from (`origin`); empties both.
    async fn deliver_into(
        &mut self,
        verdicts: &mut [Option<Verdict>],
        outgoing: &mut Vec<Event>,
        origin: &mut Vec<usize>,
    ) {
        let results = self.deliver_isolating(outgoing).await;
        outgoing.clear();
        for (slot, result) in origin.drain(..).zip(results) {
            match result {
                Ok(outcome) => merge(&mut verdicts[slot], outcome),
                Err(error) => {
                    let failure = Failure::new(error.code(), error.to_string());
                    verdicts[slot] = Some(if error.is_retryable() {
                        Verdict::Retryable(failure)
                    } else {
                        Verdict::Permanent(failure)
                    })
                }
            }
        }
    }

    /// Delivers `batch`, one result per event (poison events isolated).
    async fn deliver_isolating(&mut self, batch: &[Event]) -> Vec<Result<Outcome, CallError>> {
        let mut isolation = Isolation::new(batch.len());
        while let Some(range) = isolation.next() {
            let result = self.deliver(&batch[range]).await;
            isolation.record(result, &self.destination, &self.output.name);
        }
        isolation.finish()
    }

    /// Delivers `batch` through the destination plugin.
    pub async fn deliver(&mut self, batch: &[Event]) -> Result<Vec<Outcome>, CallError> {
        self.admit().await;
        let started = Instant::now();
        let instance = self
            .output
            .instance(&self.runtime, &self.destination)
            .await?;
        let result = instance.deliver(batch).await;
        self.count_call(self.output.plugin.name.clone(), started.elapsed());
        result
    }

    fn count_call(&mut self, plugin: String, took: Duration) {
        let entry = self.call_times.entry(plugin).or_default();
        entry.0 += took;
        entry.1 += 1;
    }

    /// Time spent in each plugin's calls since the last call of this, for metrics.
    pub fn take_call_times(&mut self) -> BTreeMap<String, (Duration, u64)> {
        std::mem::take(&mut self.call_times)
    }
}

/// Logs a hot-reload switch, or records why a new version was refused;
/// true when it switched.
fn report(
    result: Result<bool, String>,
    destination: &str,
    plugin_versions: &PluginVersions,
    newest: &Plugin,
) -> bool {
    match result {
        Ok(true) => {
            tracing::info!(%destination, plugin = %newest.name, hash = &newest.hash[..12], "switched to the new plugin version");
            true
        }
        Ok(false) => false,
        Err(error) => {
            tracing::warn!(%destination, plugin = %newest.name, %error, "new plugin version refused; the running version stays");
            plugin_versions.fail(
                &newest.name,
                format!("version {} could not start: {error}", &newest.hash[..12]),
            );
            false
        }
    }
}

fn resolve(
    plugin_versions: &PluginVersions,
    destination: &str,
    name: &str,
    world: World,
) -> Result<Arc<Plugin>, DeliveryError> {
    let Some(plugin) = plugin_versions.get(name) else {
        return Err(match plugin_versions.error(name) {
            Some(error) => DeliveryError::PluginFailed {
                destination: destination.to_owned(),
                error,
            },
            None => DeliveryError::UnknownPlugin {
                destination: destination.to_owned(),
                plugin: name.to_owned(),
                available: plugin_versions.names().join(", "),
            },
        });
    };
    if plugin.world() != world {
        return Err(DeliveryError::WrongWorld {
            destination: destination.to_owned(),
            plugin: name.to_owned(),
            expected: world,
            found: plugin.world(),
        });
    }
    Ok(plugin)
}
