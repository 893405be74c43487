//! Errors of the plugin runtime: loading a component, and calling one.

use crate::failure_codes;
use std::path::PathBuf;
use std::time::Duration;

/// A component could not be loaded or is not a plugin.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read plugin file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::sync::Arc<std::io::Error>,
    },
    #[error("plugin `{name}` is not a WebAssembly component: {message}")]
    NotAComponent { name: String, message: String },
    #[error("plugin `{name}` implements no pushrail:plugin world: {reasons}")]
    WrongWorld { name: String, reasons: String },
}

/// A call into a plugin failed as a whole. Each kind has a stable `code`
/// recorded with the events it affected.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    #[error("the plugin trapped: {0}")]
    Trap(String),
    #[error("the plugin ran longer than its time budget of {0:?} (plugins.time_limit)")]
    Timeout(Duration),
    #[error("the plugin call took longer than {0:?} of wall-clock time (plugins.call_timeout)")]
    WallTimeout(Duration),
    #[error("{0}")]
    MemoryLimit(String),
    #[error("the plugin broke the contract: {0}")]
    Contract(String),
    #[error("the plugin rejected its config: {code}: {message}")]
    Init { code: String, message: String },
    /// The host could not make an instance (out of memory or address
    /// space): nothing the events did, so they are retried.
    #[error("no plugin instance could be made: {0}")]
    Unavailable(String),
}

impl CallError {
    /// A failure of the sandboxed call itself (trap, time, memory): it
    /// may come from one poison event, so the batch is tried again on a
    /// fresh instance, split, before any event is dead-lettered.
    pub fn is_sandbox_failure(&self) -> bool {
        matches!(
            self,
            Self::Trap(_) | Self::Timeout(_) | Self::WallTimeout(_) | Self::MemoryLimit(_)
        )
    }

    /// A failure of the host, not of the plugin or the events: retried.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Trap(_) => failure_codes::PLUGIN_TRAP,
            Self::Timeout(_) | Self::WallTimeout(_) => failure_codes::PLUGIN_TIMEOUT,
            Self::MemoryLimit(_) => failure_codes::PLUGIN_MEMORY_LIMIT,
            Self::Contract(_) => failure_codes::PLUGIN_CONTRACT,
            Self::Init { .. } => failure_codes::PLUGIN_INIT,
            Self::Unavailable(_) => failure_codes::PLUGIN_UNAVAILABLE,
        }
    }
}
