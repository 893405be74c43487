//! Why an event failed at a destination: the one `{code, message}` pair the
//! delivery layer passes around (a verdict, a transform failure, the last
//! error a status shows) before it is written on an attempt.

use serde::{Deserialize, Serialize};

/// A failure code (a service's error name, a plugin's code, or one of
/// `crate::failure_codes`) and its message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub code: String,
    pub message: String,
}

impl Failure {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
        }
    }

    /// The same failure, its message saying retries are used up.
    pub fn gave_up(self, failures: u32) -> Self {
        Self {
            message: format!(
                "{} (gave up after {failures} failed attempts)",
                self.message
            ),
            code: self.code,
        }
    }
}
