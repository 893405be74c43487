//! The servers the scenarios deliver to, all on 127.0.0.1. Starting and
//! installing them is shared with the tests (tests/support), so that the
//! bench and the tests always use the same brokers the same way.

pub use crate::engine::free_port;

pub mod distance;
pub mod fiddler;

#[path = "../../../tests/support/kafka.rs"]
pub mod kafka;
pub mod kinesalite;
#[path = "../../../tests/support/kinesis.rs"]
pub mod kinesis;
