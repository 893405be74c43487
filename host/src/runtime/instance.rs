//! Live plugin instances. Each owns its store and is reused across calls;
//! after a failed call (trap, time budget, memory cap) it must be dropped
//! and a fresh one made, which [`DestinationInstance::is_poisoned`] tells.

use std::sync::Arc;

use wasmtime::{Store, Trap, UpdateDeadline};

use super::bindings::destination::Destination;
use super::bindings::transform::Transform;
use super::bindings::{Event, Outcome, PluginErrorRecord};
use super::error::CallError;
use super::host::HostState;
use super::registry::Plugin;

/// A destination plugin, initialized with its config.
pub struct DestinationInstance {
    store: Store<HostState>,
    bindings: Destination,
    plugin: Arc<Plugin>,
    poisoned: bool,
}

/// A transform plugin, initialized with its config.
pub struct TransformInstance {
    store: Store<HostState>,
    bindings: Transform,
    plugin: Arc<Plugin>,
    poisoned: bool,
}

/// Prepares a store: memory cap, and a deadline callback that interrupts a
/// call over its guest-time budget and otherwise yields to the executor
/// every tick, so a busy plugin never starves other tasks.
pub(super) fn new_store(engine: &wasmtime::Engine, state: HostState) -> Store<HostState> {
    let mut store = Store::new(engine, state);
    store.limiter(|s| &mut s.limiter);
    store.epoch_deadline_callback(|ctx| {
        if ctx.data().clock.over_budget() {
            Ok(UpdateDeadline::Interrupt)
        } else {
            Ok(UpdateDeadline::Yield(1))
        }
    });
    store
}

fn begin_call(store: &mut Store<HostState>) {
    store.data_mut().clock.start();
    store.set_epoch_deadline(1);
}

/// Turns a failed call into the reason an operator needs to see.
fn classify(store: &Store<HostState>, error: wasmtime::Error) -> CallError {
    let state = store.data();
    if state.limiter.exceeded {
        return CallError::MemoryLimit(format!("{error:#}"));
    }
    if error.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
        return CallError::Timeout(state.clock.budget);
    }
    CallError::Trap(format!("{error:#}"))
}

impl DestinationInstance {
    pub(super) async fn start(
        mut store: Store<HostState>,
        plugin: Arc<Plugin>,
        pre: &super::bindings::destination::DestinationPre<HostState>,
        config: &str,
    ) -> Result<Self, CallError> {
        begin_call(&mut store);
        let bindings = match pre.instantiate_async(&mut store).await {
            Ok(b) => b,
            Err(e) => return Err(classify(&store, e)),
        };
        match bindings.call_init(&mut store, config).await {
            Ok(Ok(())) => {}
            Ok(Err(PluginErrorRecord { code, message })) => {
                return Err(CallError::Init { code, message });
            }
            Err(e) => return Err(classify(&store, e)),
        }
        Ok(Self {
            store,
            bindings,
            plugin,
            poisoned: false,
        })
    }

    pub fn plugin(&self) -> &Arc<Plugin> {
        &self.plugin
    }

    /// True after a failed call: the instance must be replaced.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    /// Delivers `batch`; exactly one outcome per event or an error for the whole call.
    pub async fn deliver(&mut self, batch: &[Event]) -> Result<Vec<Outcome>, CallError> {
        begin_call(&mut self.store);
        let result = self.bindings.call_deliver(&mut self.store, batch).await;
        let outcomes = match result {
            Ok(outcomes) => outcomes,
            Err(e) => {
                self.poisoned = true;
                return Err(classify(&self.store, e));
            }
        };
        if outcomes.len() != batch.len() {
            return Err(CallError::Contract(format!(
                "deliver returned {} outcomes for {} events",
                outcomes.len(),
                batch.len()
            )));
        }
        Ok(outcomes)
    }
}

impl TransformInstance {
    pub(super) async fn start(
        mut store: Store<HostState>,
        plugin: Arc<Plugin>,
        pre: &super::bindings::transform::TransformPre<HostState>,
        config: &str,
    ) -> Result<Self, CallError> {
        begin_call(&mut store);
        let bindings = match pre.instantiate_async(&mut store).await {
            Ok(b) => b,
            Err(e) => return Err(classify(&store, e)),
        };
        match bindings.call_init(&mut store, config).await {
            Ok(Ok(())) => {}
            Ok(Err(PluginErrorRecord { code, message })) => {
                return Err(CallError::Init { code, message });
            }
            Err(e) => return Err(classify(&store, e)),
        }
        Ok(Self {
            store,
            bindings,
            plugin,
            poisoned: false,
        })
    }

    pub fn plugin(&self) -> &Arc<Plugin> {
        &self.plugin
    }

    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    /// Runs the transform on one event: `Ok(Err(..))` is the plugin's own
    /// verdict on the event, `Err(..)` a failure of the call.
    pub async fn transform(
        &mut self,
        event: &Event,
    ) -> Result<Result<Vec<Event>, PluginErrorRecord>, CallError> {
        begin_call(&mut self.store);
        match self.bindings.call_transform(&mut self.store, event).await {
            Ok(result) => Ok(result),
            Err(e) => {
                self.poisoned = true;
                Err(classify(&self.store, e))
            }
        }
    }
}
