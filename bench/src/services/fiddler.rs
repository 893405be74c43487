//! fiddler 4.9.1 (`fiddler-cli`), the open peer whose `aws_kinesis` output
//! our Kinesis destination is compared with: its `http_server` input and
//! `aws_kinesis` output, as the peer's own docs configure them. It answers
//! a post before anything is durable and drops records a call fails, so it
//! does less than we do; it is timed until the stream holds every record.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::types::ShardIteratorType;

use super::{free_port, wait_for_port};

pub struct Fiddler {
    child: Child,
    /// Where events are posted (a JSON array per post).
    pub url: String,
}

impl Fiddler {
    /// `fiddler-cli` from PATH or where `cargo install` puts it.
    pub fn binary() -> Option<std::path::PathBuf> {
        let home = std::env::var_os("HOME").map(std::path::PathBuf::from)?;
        let installed = home.join(".cargo/bin/fiddler-cli");
        installed.exists().then_some(installed)
    }

    /// Runs fiddler posting to `stream` at `endpoint`, in batches of 500
    /// records (its largest) sent at most 100 ms after the first arrived.
    pub async fn start(
        binary: &Path,
        dir: &Path,
        endpoint: &str,
        stream: &str,
    ) -> anyhow::Result<Self> {
        let port = free_port();
        let config = format!(
            "input:\n  http_server:\n    address: \"127.0.0.1\"\n    port: {port}\n    path: \"/events\"\n\
             processors: []\n\
             output:\n  aws_kinesis:\n    stream_name: \"{stream}\"\n    region: \"us-east-1\"\n    \
             endpoint_url: \"{endpoint}\"\n    credentials:\n      access_key_id: \"AKIDBENCH\"\n      \
             secret_access_key: \"secret\"\n    batch:\n      size: 500\n      duration: \"100ms\"\n"
        );
        let path = dir.join(format!("fiddler-{stream}.yaml"));
        std::fs::write(&path, config).with_context(|| format!("write {}", path.display()))?;
        let child = Command::new(binary)
            .args(["run", "-c"])
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("start fiddler-cli")?;
        let mut fiddler = Self {
            child,
            url: format!("http://127.0.0.1:{port}/events"),
        };
        let what = format!("fiddler-cli (config {})", path.display());
        wait_for_port(&mut fiddler.child, port, &what).await?;
        Ok(fiddler)
    }
}

impl Drop for Fiddler {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `stream` holds `count` records, reading each shard from
/// where the last look ended; the time when it does.
pub async fn wait_for_records(
    client: &Client,
    stream: &str,
    count: usize,
    timeout: Duration,
) -> anyhow::Result<Instant> {
    let shards = client.list_shards().stream_name(stream).send().await?;
    let mut iterators = Vec::new();
    for shard in shards.shards() {
        let iterator = client
            .get_shard_iterator()
            .stream_name(stream)
            .shard_id(shard.shard_id())
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await?
            .shard_iterator()
            .map(str::to_owned);
        iterators.extend(iterator);
    }
    let deadline = Instant::now() + timeout;
    let mut seen = 0;
    loop {
        for iterator in &mut iterators {
            let page = client
                .get_records()
                .shard_iterator(iterator.clone())
                .limit(10_000)
                .send()
                .await?;
            seen += page.records().len();
            if let Some(next) = page.next_shard_iterator() {
                *iterator = next.to_owned();
            }
        }
        if seen >= count {
            return Ok(Instant::now());
        }
        if Instant::now() > deadline {
            bail!("{stream} holds {seen} of {count} records after {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
