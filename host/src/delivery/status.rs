//! What a running destination tells operators beyond the log: the plugins
//! it runs, the events in flight, and its most recent failure.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};

/// The most recent failed attempt of a destination.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LastError {
    #[serde(flatten)]
    pub failure: super::Failure,
    pub event_id: String,
    pub at: String,
}

/// Shared between a destination's worker (writes) and the API (reads).
#[derive(Debug, Default)]
pub struct LiveStatus {
    /// `name@sha256` of the destination plugin, then each transform.
    plugins: Mutex<Vec<String>>,
    in_flight: AtomicUsize,
    last_error: Mutex<Option<LastError>>,
    /// Why the plugin paused the destination, until it is resumed.
    pause_reason: Mutex<Option<String>>,
}

impl LiveStatus {
    pub fn set_plugins(&self, plugins: Vec<String>) {
        *self.plugins.lock().unwrap_or_else(|p| p.into_inner()) = plugins;
    }

    pub fn plugins(&self) -> Vec<String> {
        self.plugins
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn set_in_flight(&self, events: usize) {
        self.in_flight.store(events, Ordering::Relaxed);
    }

    /// Events handed to the plugins and not yet recorded.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    pub fn set_last_error(&self, error: LastError) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(error);
    }

    pub fn set_pause_reason(&self, reason: Option<String>) {
        *self.pause_reason.lock().unwrap_or_else(|p| p.into_inner()) = reason;
    }

    pub fn pause_reason(&self) -> Option<String> {
        self.pause_reason
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn last_error(&self) -> Option<LastError> {
        self.last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}
