//! The servers the scenarios deliver to, all on 127.0.0.1. Starting and
//! installing them is shared with the tests (tests/support), so that the
//! bench and the tests always use the same brokers the same way.

use std::process::Child;
use std::time::{Duration, Instant};

pub use crate::engine::free_port;

pub mod distance;
pub mod fiddler;

#[path = "../../../tests/support/kafka.rs"]
pub mod kafka;
pub mod kinesalite;
#[path = "../../../tests/support/kinesis.rs"]
pub mod kinesis;
pub mod receiver;

/// Waits until `child` listens on 127.0.0.1:`port`, at most 30 s; an error
/// says `what` did not start if it exits or never listens.
pub async fn wait_for_port(child: &mut Child, port: u16, what: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline || child.try_wait()?.is_some() {
            anyhow::bail!("{what} did not start on port {port}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}
