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
    #[error("stored record {sequence} is unreadable: {reason}")]
    Corrupt { sequence: u64, reason: String },
    #[error("the commit holding these events failed, nothing was stored: {0}")]
    CommitFailed(String),
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
