//! The storage's health, for readiness.

use std::sync::Mutex;

use super::LogError;

/// Whether storage still works: redb refuses every write after an I/O
/// error (disk full, failing disk) until the process restarts, so the
/// first such error is kept and readiness reports it.
#[derive(Debug, Default)]
pub struct Health {
    failure: Mutex<Option<String>>,
}

impl Health {
    /// Remembers `error` if it is an I/O failure of the storage.
    pub(crate) fn observe(&self, error: &LogError) {
        if let Some(reason) = error.io_failure() {
            let mut failure = self.failure.lock().unwrap_or_else(|p| p.into_inner());
            if failure.is_none() {
                tracing::error!(reason = %reason, "the log's storage failed; it refuses writes until restarted");
                *failure = Some(reason);
            }
        }
    }

    /// The storage failure, if any.
    pub fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}
