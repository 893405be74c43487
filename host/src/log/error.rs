//! Errors of the log layer.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("cannot create data directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("another process is using the log at {0}; stop it or choose another storage.data_dir")]
    AlreadyOpen(PathBuf),
    #[error("cannot open the log at {path}: {source}")]
    Open { path: PathBuf, source: redb::Error },
    #[error("storage error: {0}")]
    Storage(#[from] redb::Error),
    #[error("stored record {sequence} is unreadable: {source}")]
    Unreadable {
        sequence: u64,
        source: serde_json::Error,
    },
    #[error("stored customer {id} is unreadable: {source}")]
    UnreadableCustomer {
        id: String,
        source: serde_json::Error,
    },
    #[error("stored record {sequence} is corrupt: {reason}")]
    Corrupt { sequence: u64, reason: String },
    /// The message is safe to show API clients (no paths); the second
    /// field is the I/O failure behind it, if that was the cause.
    #[error("the commit holding these events failed, nothing was stored: {0}")]
    CommitFailed(String, Option<String>),
    #[error("the log is shutting down")]
    Closed,
}

/// redb reports each operation with its own error type; all of them mean
/// "storage failed" to the layers above.
macro_rules! storage_error_from {
    ($($t:ty),*) => {$(
        impl From<$t> for LogError {
            fn from(e: $t) -> Self {
                Self::Storage(e.into())
            }
        }
    )*};
}

storage_error_from!(
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

impl LogError {
    /// A short description of an I/O failure of the storage (disk full, a
    /// failing disk), without paths; `None` for other errors.
    pub fn io_failure(&self) -> Option<String> {
        match self {
            LogError::Storage(redb::Error::Io(e)) => Some(io_kind(e)),
            LogError::Storage(redb::Error::PreviousIo) => Some("an earlier I/O error".to_owned()),
            LogError::CommitFailed(_, Some(reason)) => Some(reason.clone()),
            _ => None,
        }
    }
}

/// What went wrong, by kind only (an `io::Error` may carry a path).
fn io_kind(error: &std::io::Error) -> String {
    match error.raw_os_error() {
        Some(28) => "no space left on the device".to_owned(),
        Some(code) => format!("I/O error {code} ({})", error.kind()),
        None => format!("I/O error ({})", error.kind()),
    }
}
