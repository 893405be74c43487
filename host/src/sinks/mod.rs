//! The clients behind the host functions. A destination gets only the
//! sinks configured for it; a plugin can never name another.

pub mod file;
pub mod kafka;
pub mod kinesis;
