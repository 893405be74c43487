//! One plugin of a destination's pipeline and its instance: started on
//! demand, replaced after a failed call, switched to a newer version.

use std::sync::Arc;

use crate::runtime::{CallError, Instance, Plugin, Runtime, SinkBindings, WorldBindings};

/// One plugin of the pipeline — the destination plugin or a transform
/// stage: the version that runs, its config and sinks, and its instance
/// (started on demand, replaced after a failed call).
pub(super) struct Slot<B> {
    /// The transform's name as configured, or the destination plugin's.
    pub(super) name: String,
    pub(super) plugin: Arc<Plugin>,
    pub(super) config: String,
    pub(super) sinks: SinkBindings,
    pub(super) instance: Option<Instance<B>>,
}

impl<B: WorldBindings> Slot<B> {
    pub(super) fn new(
        name: String,
        plugin: Arc<Plugin>,
        config: String,
        sinks: SinkBindings,
    ) -> Self {
        Self {
            name,
            plugin,
            config,
            sinks,
            instance: None,
        }
    }

    /// The same plugin, config and sinks, without an instance (one starts
    /// with the first call).
    pub(super) fn spare(&self) -> Self {
        Self::new(
            self.name.clone(),
            self.plugin.clone(),
            self.config.clone(),
            self.sinks.clone(),
        )
    }

    /// The live instance, started first if there is none or the last call
    /// failed.
    pub(super) async fn instance(
        &mut self,
        runtime: &Runtime,
        destination: &str,
    ) -> Result<&mut Instance<B>, CallError> {
        if self.instance.as_ref().is_none_or(Instance::is_poisoned) {
            self.instance = None;
            let started = runtime
                .start(&self.plugin, destination, self.sinks.clone(), &self.config)
                .await?;
            self.instance = Some(started);
        }
        Ok(self.instance.as_mut().expect("set above"))
    }

    /// Switches to `newest` when it is another version that starts here;
    /// true when it switched, `Err` with why it could not (the running
    /// version stays).
    pub(super) async fn switch(
        &mut self,
        runtime: &Runtime,
        destination: &str,
        newest: Arc<Plugin>,
    ) -> Result<bool, String> {
        if newest.hash == self.plugin.hash {
            return Ok(false);
        }
        let started = runtime
            .start(&newest, destination, self.sinks.clone(), &self.config)
            .await
            .map_err(|e| e.to_string())?;
        self.plugin = newest;
        self.instance = Some(started);
        Ok(true)
    }
}
