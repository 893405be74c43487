//! The WebAssembly plugin runtime: one wasmtime engine, a registry of
//! compiled plugins, and sandboxed instances (no ambient capabilities,
//! memory cap, guest-time budget) that talk to the host only through the
//! functions in `wit/`.

mod bindings;
pub mod contract;
mod error;
mod host;
mod instance;
mod network;
mod outbound;
mod plugin_log;
mod registry;
mod requests;
mod sandbox;
mod versions;
mod views;
mod wasi;
mod watcher;
mod worlds;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use wasmtime::Engine;

pub use bindings::destination::Destination;
pub use bindings::{Event, Outcome, PluginErrorRecord};
pub use error::{CallError, LoadError};
use host::HostState;
pub use host::SinkBindings;
pub use instance::{Answer, DestinationInstance, Instance, TransformFailure, TransformInstance};
use registry::Loader;
pub use registry::{BUILD_PLUGIN_DIR, BUILTINS, Origin, Plugin, Registry};
pub use requests::Requests;
pub use versions::PluginVersions;
pub use watcher::spawn_watcher;
use worlds::Linkers;
pub use worlds::{TransformBindings, World, WorldBindings};

/// Limits every instance gets.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub memory: usize,
    /// Guest time one call may use.
    pub time: Duration,
    /// Wall-clock time one call may take, host functions included.
    pub call_timeout: Duration,
    /// Live instances at once, over all destinations.
    pub max_instances: usize,
}

impl Limits {
    pub fn from_config(plugins: &crate::config::PluginsConfig) -> Self {
        Self {
            memory: plugins.memory_limit,
            time: plugins.time_limit,
            call_timeout: plugins.call_timeout,
            max_instances: plugins.max_instances,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("cannot set up the WebAssembly engine: {0}")]
    Engine(String),
    #[error(transparent)]
    Load(#[from] LoadError),
}

/// The engine, its linkers and the epoch ticker; shared by all destinations.
pub struct Runtime {
    engine: Engine,
    linkers: Linkers,
    limits: Limits,
    cache_dir: Option<PathBuf>,
    /// One permit per live instance (see [`Runtime::admit`]).
    instances: Arc<tokio::sync::Semaphore>,
    ticker: sandbox::EpochTicker,
}

impl Runtime {
    /// `cache_dir` keeps compiled plugins between starts (`None`: compile every time).
    pub fn new(limits: Limits, cache_dir: Option<PathBuf>) -> Result<Arc<Self>, RuntimeError> {
        let engine_error = |e: wasmtime::Error| RuntimeError::Engine(format!("{e:#}"));
        let engine = sandbox::engine().map_err(engine_error)?;
        let linkers = Linkers::new(&engine).map_err(engine_error)?;
        let ticker = sandbox::EpochTicker::start(engine.clone());
        Ok(Arc::new(Self {
            engine,
            linkers,
            instances: Arc::new(tokio::sync::Semaphore::new(limits.max_instances)),
            limits,
            cache_dir,
            ticker,
        }))
    }

    /// Waits for room for `count` live instances (a pipeline's plugins, all
    /// at once, so that two pipelines never each hold half of what they
    /// need). Every instance costs mappings and address space, and the
    /// kernel's map count runs out near 10,000 instances: thousands of
    /// destinations share `plugins.max_instances`, and idle ones give
    /// theirs back. More than the cap is let in alone rather than never.
    pub async fn admit(&self, count: usize) -> tokio::sync::OwnedSemaphorePermit {
        self.instances
            .clone()
            .acquire_many_owned(self.permits(count))
            .await
            .expect("the instance semaphore is never closed")
    }

    /// [`Runtime::admit`] if there is room now, without waiting.
    pub fn try_admit(&self, count: usize) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.instances
            .clone()
            .try_acquire_many_owned(self.permits(count))
            .ok()
    }

    /// The permits `count` instances take: at most the cap.
    fn permits(&self, count: usize) -> u32 {
        u32::try_from(count.min(self.limits.max_instances)).unwrap_or(u32::MAX)
    }

    /// True when fewer than a tenth of the instance permits are free:
    /// waiting destinations then give theirs back at once.
    pub fn instances_scarce(&self) -> bool {
        self.instances.available_permits() < self.limits.max_instances.div_ceil(10)
    }

    /// Loads the built-ins and every `*.wasm` in `dir`.
    pub fn load_plugins(&self, dir: Option<&std::path::Path>) -> Result<Registry, RuntimeError> {
        Ok(self.loader().load_all(dir)?)
    }

    /// Compiles and validates one component (for tools and tests).
    pub fn load_plugin(&self, name: &str, bytes: &[u8]) -> Result<Plugin, RuntimeError> {
        self.load_plugin_from(name, bytes, Origin::BuiltIn)
    }

    /// Compiles and validates one component that came from `origin`.
    pub fn load_plugin_from(
        &self,
        name: &str,
        bytes: &[u8],
        origin: Origin,
    ) -> Result<Plugin, RuntimeError> {
        Ok(self.loader().load(name, bytes, origin)?)
    }

    fn loader(&self) -> Loader<'_> {
        Loader {
            engine: &self.engine,
            linkers: &self.linkers,
            cache_dir: self.cache_dir.as_deref(),
        }
    }

    /// A new instance of `plugin` as world `B`, `init`ialized with
    /// `config`; `sinks` are what its host functions may reach.
    pub async fn start<B: WorldBindings>(
        &self,
        plugin: &Arc<Plugin>,
        destination: &str,
        sinks: SinkBindings,
        config: &str,
    ) -> Result<Instance<B>, CallError> {
        let Some(pre) = B::pre(plugin) else {
            return Err(CallError::Contract(format!(
                "plugin `{}` is a {}, not a {}",
                plugin.name,
                plugin.world(),
                B::WORLD
            )));
        };
        let state = HostState::new(
            &plugin.name,
            destination,
            sinks,
            self.limits.memory,
            self.limits.time,
            self.limits.call_timeout,
        );
        let store = instance::new_store(&self.engine, state);
        Instance::start(store, plugin.clone(), pre, config, self.ticker.activity()).await
    }

    /// A new destination instance (see [`Runtime::start`]).
    pub async fn destination(
        &self,
        plugin: &Arc<Plugin>,
        destination: &str,
        sinks: SinkBindings,
        config: &str,
    ) -> Result<DestinationInstance, CallError> {
        self.start(plugin, destination, sinks, config).await
    }

    /// A new transform instance; a transform reaches no sink.
    pub async fn transform(
        &self,
        plugin: &Arc<Plugin>,
        destination: &str,
        config: &str,
    ) -> Result<TransformInstance, CallError> {
        self.start(plugin, destination, SinkBindings::default(), config)
            .await
    }
}
