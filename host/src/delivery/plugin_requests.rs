//! The worker's side of what a destination plugin asks of its delivery
//! (the WIT `delivery` interface, kept in [`Requests`]): retries wait for a
//! receiver's `Retry-After`; a pause is carried out like an operator's,
//! with the plugin's reason in the destination's status.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::status::LiveStatus;
use crate::log::{Log, LogError};
use crate::runtime::Requests;

pub struct PluginRequests {
    pub requests: Arc<Requests>,
    /// The destination's pause switch (the one operators use).
    pub pause: watch::Sender<bool>,
}

impl PluginRequests {
    /// When a retry that the backoff puts at `due` goes: not before a
    /// plugin's `retry-after`, and not later than `max_wait` from `now`.
    pub fn retry_due(&self, due: Instant, now: Instant, max_wait: Duration) -> Instant {
        self.requests.retry_due(due, now, max_wait)
    }

    /// Pauses the destination if its plugin asked to since the last batch:
    /// remembered across restarts, as an operator's pause is.
    pub async fn act(&self, log: &Log, destination: &str, live: &LiveStatus) {
        let Some(reason) = self.requests.take_pause() else {
            return;
        };
        let (log, name) = (log.clone(), destination.to_owned());
        let remembered = tokio::task::spawn_blocking(move || log.set_paused(&name, true))
            .await
            .map_err(|_| LogError::Closed)
            .and_then(|saved| saved);
        if let Err(e) = remembered {
            tracing::error!(%destination, error = %e, "cannot remember the pause; it holds until a restart");
        }
        tracing::warn!(%destination, %reason, "destination paused by its plugin; resume it to deliver");
        live.set_pause_reason(Some(reason));
        self.pause.send_replace(true);
    }
}
