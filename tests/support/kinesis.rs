//! A real Kinesis API server for tests: kinesis-local (kinesis-mock, from
//! npm), started on 127.0.0.1 and read back with the AWS SDK.
#![allow(dead_code)]

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_kinesis::types::{ShardIteratorType, StreamStatus};

use super::free_port;

static INSTALL: Mutex<bool> = Mutex::new(false);

/// The tests/ folder, where package.json pins the server.
pub fn tests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests")
}

/// Installs kinesis-local with npm on first use (a fresh machine has only node and npm).
pub fn ensure_installed() -> PathBuf {
    let mut done = INSTALL.lock().unwrap_or_else(|p| p.into_inner());
    let main = tests_dir().join("node_modules/kinesis-local/main.js");
    if !*done && !main.exists() {
        let status = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--prefix"])
            .arg(tests_dir())
            .status()
            .expect("run npm (Node.js 20 and npm are needed for the Kinesis tests)");
        assert!(status.success(), "npm install of kinesis-local failed");
    }
    *done = true;
    main
}

/// A running kinesis-local.
pub struct Kinesis {
    pub port: u16,
    child: Child,
    pub client: Client,
}

impl Kinesis {
    /// Starts kinesis-local on free ports and waits until it answers the
    /// Kinesis API. A port chosen free can be taken by another test's
    /// server before kinesis-local binds it (it then exits, and a plain
    /// connect would have reached the other server): that start is
    /// retried on other ports.
    pub async fn start() -> Self {
        let mut failures = Vec::new();
        for _ in 0..3 {
            match Self::try_start().await {
                Ok(kinesis) => return kinesis,
                Err(why) => failures.push(why),
            }
        }
        panic!("kinesis-local did not start: {failures:?}");
    }

    async fn try_start() -> Result<Self, String> {
        let main = ensure_installed();
        let port = free_port();
        let tls_port = free_port();
        let cert = main.with_file_name("server.json");
        let child = Command::new("node")
            .arg(&main)
            .env("KINESIS_MOCK_CERT_PATH", &cert)
            .env("KINESIS_MOCK_PLAIN_PORT", port.to_string())
            .env("KINESIS_MOCK_TLS_PORT", tls_port.to_string())
            .env("LOG_LEVEL", "WARN")
            .env("CREATE_STREAM_DURATION", "50ms")
            .env("DELETE_STREAM_DURATION", "50ms")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start kinesis-local with node");
        let client = client(&format!("http://127.0.0.1:{port}"));
        // Dropped on failure: the child is killed.
        let mut kinesis = Self {
            port,
            child,
            client,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = kinesis.child.try_wait() {
                return Err(format!("kinesis-local on port {port} exited: {status}"));
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok()
                && kinesis.client.list_streams().send().await.is_ok()
            {
                return Ok(kinesis);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "kinesis-local on port {port} did not answer in 60 s"
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Creates a stream and waits until it is ACTIVE.
    pub async fn create_stream(&self, name: &str, shards: i32) {
        create_stream(&self.client, name, shards).await;
    }

    /// Every record of the stream: per shard, in the shard's order.
    pub async fn read_all(&self, stream: &str) -> Vec<StreamRecord> {
        read_all(&self.client, stream).await
    }

    /// Makes `stream`'s records over `kib` KiB fail, each alone, with
    /// InvalidArgumentException (1,024 to 10,240 KiB, as on AWS).
    pub async fn set_max_record_size(&self, stream: &str, kib: i32) {
        let body = serde_json::json!({ "StreamName": stream, "MaxRecordSizeInKiB": kib });
        let response = reqwest::Client::new()
            .post(self.url())
            .header("X-Amz-Target", "Kinesis_20131202.UpdateMaxRecordSize")
            .header("Content-Type", "application/x-amz-json-1.1")
            .header("X-Amz-Date", "20260101T000000Z")
            .header(
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/kinesis/aws4_request, SignedHeaders=host;x-amz-date, Signature=0",
            )
            .json(&body)
            .send()
            .await
            .expect("UpdateMaxRecordSize");
        assert!(
            response.status().is_success(),
            "UpdateMaxRecordSize: {}",
            response.text().await.unwrap_or_default()
        );
    }
}

impl Drop for Kinesis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One record read back from a stream.
#[derive(Debug, Clone)]
pub struct StreamRecord {
    pub shard_id: String,
    pub sequence_number: String,
    pub partition_key: String,
    pub data: serde_json::Value,
}

/// One record read back from a stream, its data as stored.
#[derive(Debug, Clone)]
pub struct RawRecord {
    pub shard_id: String,
    pub sequence_number: String,
    pub partition_key: String,
    pub data: Vec<u8>,
}

/// Every record of the stream, its data parsed as JSON: per shard, in the
/// shard's order (any Kinesis API server).
pub async fn read_all(client: &Client, stream: &str) -> Vec<StreamRecord> {
    read_raw(client, stream)
        .await
        .into_iter()
        .map(|r| StreamRecord {
            shard_id: r.shard_id,
            sequence_number: r.sequence_number,
            partition_key: r.partition_key,
            data: serde_json::from_slice(&r.data).expect("record data is JSON"),
        })
        .collect()
}

/// Records per GetRecords call (the API's maximum).
const PAGE: usize = 10_000;

/// Every record of the stream as stored: per shard, in the shard's order.
pub async fn read_raw(client: &Client, stream: &str) -> Vec<RawRecord> {
    let shards = client
        .list_shards()
        .stream_name(stream)
        .send()
        .await
        .expect("ListShards");
    let mut out = Vec::new();
    for shard in shards.shards() {
        let mut iterator = client
            .get_shard_iterator()
            .stream_name(stream)
            .shard_id(shard.shard_id())
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .expect("GetShardIterator")
            .shard_iterator()
            .map(str::to_owned);
        while let Some(it) = iterator {
            let page = client
                .get_records()
                .shard_iterator(it)
                .limit(PAGE as i32)
                .send()
                .await
                .expect("GetRecords");
            for record in page.records() {
                out.push(RawRecord {
                    shard_id: shard.shard_id().to_owned(),
                    sequence_number: record.sequence_number().to_owned(),
                    partition_key: record.partition_key().unwrap_or_default().to_owned(),
                    data: record.data().as_ref().to_vec(),
                });
            }
            // Caught up: nothing more, or a short page at the tip (a full
            // page may have more behind it whatever the lag says).
            let caught_up = page.records().is_empty()
                || (page.millis_behind_latest() == Some(0) && page.records().len() < PAGE);
            iterator = if caught_up {
                None
            } else {
                page.next_shard_iterator().map(str::to_owned)
            };
        }
    }
    out
}

/// Creates a stream and waits until it is ACTIVE (any Kinesis API server).
pub async fn create_stream(client: &Client, name: &str, shards: i32) {
    client
        .create_stream()
        .stream_name(name)
        .shard_count(shards)
        .send()
        .await
        .expect("CreateStream");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let described = client
            .describe_stream_summary()
            .stream_name(name)
            .send()
            .await
            .expect("DescribeStreamSummary");
        let status = described
            .stream_description_summary()
            .map(|s| s.stream_status().clone());
        if status == Some(StreamStatus::Active) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "stream {name} never became ACTIVE"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An SDK client for a local endpoint, with dummy static credentials.
pub fn client(endpoint: &str) -> Client {
    let config = aws_sdk_kinesis::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("AKIDTEST", "secret", None, None, "tests"))
        .build();
    Client::from_conf(config)
}
