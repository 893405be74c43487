//! Pushrail: durable, ordered event delivery.
//!
//! Follow one event through the modules in this order:
//! [`api`] (HTTP in) → [`log`] (the durable redb log) → delivery → runtime
//! (WebAssembly plugins) → sinks (Kinesis, Kafka). [`config`] describes
//! everything an operator can set; [`app`] wires the stages together.

pub mod allocator;
pub mod api;
pub mod app;
pub mod cli;
pub mod config;
pub mod delivery;
pub mod failure_codes;
pub mod log;
pub mod metrics;
pub mod pool;
#[cfg(test)]
mod readme_tables;
pub mod runtime;
pub mod secrets;
pub mod sinks;
