//! Handing a destination over from a stopping worker to the one that
//! replaces it, without making anybody wait: a reload tells the old worker
//! to stop and returns at once; the new one waits for the old before it
//! reads the cursor. Two workers never deliver for one name, and one
//! destination's slow batch never holds up a change to another (the
//! reloader is shared by every customer).

use std::time::Duration;

use tokio::task::{AbortHandle, JoinHandle};

use super::Running;

/// A worker told to stop, finishing its batches in flight.
pub(super) struct Leaving {
    pub name: String,
    task: JoinHandle<()>,
}

impl Leaving {
    /// Tells `running` to stop after its batches in flight; those still
    /// running after `timeout` are abandoned (the cursor never passed
    /// their events: they are delivered again).
    pub fn start(name: String, running: Running, timeout: Duration) -> Self {
        let Running { stop, handle, .. } = running;
        let _ = stop.send(true);
        let destination = name.clone();
        let task = tokio::spawn(async move {
            // Also when this task is aborted (a shutdown that ran out of time).
            let _abort = AbortOnDrop(handle.abort_handle());
            if tokio::time::timeout(timeout, handle).await.is_err() {
                tracing::warn!(%destination, ?timeout, "delivery did not stop in time; abandoning its batches in flight");
            }
            drop(stop);
        });
        Self { name, task }
    }

    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Returns when the worker has stopped (or was abandoned).
    pub async fn stopped(self) {
        let _ = self.task.await;
    }
}

struct AbortOnDrop(AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        // A no-op once the worker has finished.
        self.0.abort();
    }
}

/// Runs `work` once every one of `before` (earlier workers under the same
/// name) has stopped.
pub(super) async fn after(before: Vec<Leaving>, work: impl Future<Output = ()>) {
    for leaving in before {
        leaving.stopped().await;
    }
    work.await;
}
