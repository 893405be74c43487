//! The clients behind the host functions. A destination gets only the
//! sinks configured for it; a plugin can never name another.

pub mod aws;
pub mod file;
pub mod kafka;
pub mod kinesis;
pub mod network;
pub mod signing;

/// Why a record did not land, as a sink reports it per record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The service's error name (`ProvisionedThroughputExceededException`,
    /// `TopicAuthorizationFailed`, …).
    pub code: String,
    pub message: String,
    /// A later attempt may succeed.
    pub retryable: bool,
}

/// An error with its sources, as one line.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
