//! Real Kafka-protocol brokers for tests: `tansu` (a broker written in
//! Rust, in its own process) and read-back with an rdkafka consumer. The
//! fault tests use librdkafka's mock cluster directly.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::Value;

use super::free_port;

const TANSU_VERSION: &str = "0.6.0";

static INSTALL: Mutex<()> = Mutex::new(());

/// The tansu binary: `$PUSHRAIL_TANSU`, then `tansu` on PATH (where `.ci/run`
/// installs it), else installed once with cargo into `<target>/test-tools/tansu`
/// (about 10 minutes on 2 cores).
fn tansu_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("PUSHRAIL_TANSU") {
        return PathBuf::from(path);
    }
    let on_path = Command::new("tansu")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if on_path {
        return PathBuf::from("tansu");
    }
    let _guard = INSTALL.lock().unwrap_or_else(|p| p.into_inner());
    // The target dir (marked by cargo's CACHEDIR.TAG): shared by the tests
    // and the bench suite, whatever profile they were built with.
    let exe = std::env::current_exe().expect("test binary path");
    let root = exe
        .ancestors()
        .find(|dir| dir.join("CACHEDIR.TAG").exists())
        .expect("target dir")
        .join("test-tools/tansu");
    let binary = root.join("bin/tansu");
    if !binary.exists() {
        eprintln!(
            "installing tansu {TANSU_VERSION} into {} (once)",
            root.display()
        );
        let status = Command::new(env!("CARGO"))
            .args(["install", "tansu", "--locked", "--features", "dynostore"])
            .args(["--version", TANSU_VERSION, "--root"])
            .arg(&root)
            .arg("--target-dir")
            .arg(root.join("build"))
            // `cargo test` may hold its own target dir's lock; build elsewhere.
            .env_remove("CARGO_TARGET_DIR")
            .status()
            .expect("run cargo install tansu");
        assert!(status.success(), "cargo install tansu failed");
    }
    binary
}

/// A running tansu broker with in-memory storage.
pub struct Tansu {
    pub port: u16,
    binary: PathBuf,
    child: Child,
}

impl Tansu {
    pub async fn start() -> Self {
        let binary = tansu_binary();
        let port = free_port();
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(&binary)
            .arg("broker")
            .args(["--listener-url", &url, "--advertised-listener-url", &url])
            .args(["--storage-engine", "memory://tansu/"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tansu");
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "tansu did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Self {
            port,
            binary,
            child,
        }
    }

    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn create_topic(&self, name: &str, partitions: u32) {
        let status = Command::new(&self.binary)
            .args(["topic", "create", "--broker"])
            .arg(format!("tcp://127.0.0.1:{}", self.port))
            .args(["--partitions", &partitions.to_string(), name])
            .stdout(Stdio::null())
            .status()
            .expect("tansu topic create");
        assert!(status.success(), "tansu topic create {name} failed");
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One record read back from a topic.
#[derive(Debug, Clone)]
pub struct TopicRecord {
    pub partition: i32,
    pub offset: i64,
    pub key: String,
    pub value: Value,
    pub headers: HashMap<String, String>,
}

/// The records of `topic`, per partition in offset order: read from the
/// beginning until at least `expected` arrived (or 10 s passed), then
/// for another half second, so that records beyond `expected` (duplicates)
/// are seen too. (tansu 0.6's high watermarks are one short, so they are
/// not used to know when to stop.)
pub fn read_all(brokers: &str, topic: &str, expected: usize) -> Vec<TopicRecord> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "pushrail-tests")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .create()
        .expect("consumer");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("topic metadata");
    let mut assignment = TopicPartitionList::new();
    for partition in metadata.topics()[0].partitions() {
        assignment
            .add_partition_offset(topic, partition.id(), Offset::Beginning)
            .expect("assign");
    }
    consumer.assign(&assignment).expect("assign");
    let mut out = Vec::new();
    let give_up = Instant::now() + Duration::from_secs(10);
    let mut stop = None;
    loop {
        let now = Instant::now();
        if stop.is_none() && out.len() >= expected {
            stop = Some(now + Duration::from_millis(500));
        }
        if now >= stop.unwrap_or(give_up) {
            break;
        }
        let Some(message) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let message = message.expect("consume");
        let headers = message
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| {
                        let value = h.value.map(|v| String::from_utf8_lossy(v).into_owned());
                        (h.key.to_owned(), value.unwrap_or_default())
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.push(TopicRecord {
            partition: message.partition(),
            offset: message.offset(),
            key: String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned(),
            value: serde_json::from_slice(message.payload().unwrap_or_default())
                .expect("record value is JSON"),
            headers,
        });
    }
    out.sort_by_key(|r| (r.partition, r.offset));
    out
}

/// Sequences per key, in the order the topic holds them.
pub fn order_per_key(records: &[TopicRecord]) -> HashMap<String, Vec<u64>> {
    let mut per_key: HashMap<String, Vec<u64>> = HashMap::new();
    for r in records {
        per_key
            .entry(r.key.clone())
            .or_default()
            .push(r.value["sequence"].as_u64().expect("sequence"));
    }
    per_key
}
