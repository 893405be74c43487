//! Kinesis throughput: events/s from HTTP post to acknowledged PutRecords
//! through the real binary and the built-in kinesis plugin, in relaxed and
//! strict ordering, next to a raw aws-sdk-kinesis PutRecords loop with the
//! same records and batch size (the ceiling), against the same server.
//!
//! `cargo bench -p pushrail --bench kinesis -- [--events 20000] [--keys 1000]`
//! Uses kinesalite from tests/node_modules (`npm ci --prefix tests`).

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::{PutRecordsRequestEntry, StreamStatus};
use serde_json::{Value, json};

const SHARDS: i32 = 4;
/// Records per PutRecords call, for us and for the raw loop.
const BATCH: usize = 500;
/// Events per delivery batch: the host splits it into calls of BATCH records
/// and keeps up to four calls in flight.
const DELIVER_BATCH: usize = 2000;

fn start_kinesalite(port: u16) -> common::Helper {
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests");
    if !tests.join("node_modules/kinesalite").exists() {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--prefix"])
            .arg(&tests)
            .status()
            .expect("npm");
        assert!(status.success(), "npm ci --prefix tests failed");
    }
    let script = format!(
        "require('kinesalite')({{createStreamMs: 50, shardLimit: 100}}).listen({port}, '127.0.0.1')"
    );
    let child = Command::new("node")
        .args(["-e", &script])
        .current_dir(&tests)
        .stdout(Stdio::null())
        .spawn()
        .expect("node");
    common::Helper(child)
}

fn client(endpoint: &str) -> Client {
    Client::from_conf(
        aws_sdk_kinesis::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(endpoint)
            .credentials_provider(Credentials::new("AKIDBENCH", "secret", None, None, "bench"))
            .build(),
    )
}

async fn create_stream(client: &Client, name: &str) {
    for _ in 0..200 {
        if client
            .create_stream()
            .stream_name(name)
            .shard_count(SHARDS)
            .send()
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for _ in 0..200 {
        let summary = client
            .describe_stream_summary()
            .stream_name(name)
            .send()
            .await;
        if let Ok(s) = summary
            && s.stream_description_summary()
                .map(|d| d.stream_status().clone())
                == Some(StreamStatus::Active)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("stream {name} not ACTIVE");
}

/// The ceiling: the same kind of records, 500 per PutRecords, one call at a time.
async fn raw_loop(client: &Client, stream: &str, events: &[Value]) -> f64 {
    let started = Instant::now();
    for (chunk_index, chunk) in events.chunks(BATCH).enumerate() {
        let entries: Vec<PutRecordsRequestEntry> = chunk
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let mut data = e.clone();
                data["eventId"] = json!(format!("evt_{:026}", chunk_index * BATCH + i));
                data["sequence"] = json!(chunk_index * BATCH + i + 1);
                PutRecordsRequestEntry::builder()
                    .partition_key(e["customerExternalId"].as_str().unwrap())
                    .data(Blob::new(serde_json::to_vec(&data).unwrap()))
                    .build()
                    .unwrap()
            })
            .collect();
        let mut pending = entries;
        while !pending.is_empty() {
            let output = client
                .put_records()
                .stream_name(stream)
                .set_records(Some(pending.clone()))
                .send()
                .await
                .expect("PutRecords");
            pending = pending
                .into_iter()
                .zip(output.records())
                .filter(|(_, r)| r.error_code().is_some())
                .map(|(e, _)| e)
                .collect();
        }
    }
    events.len() as f64 / started.elapsed().as_secs_f64()
}

/// Ours: post every event, then wait until the destination's lag is zero.
async fn through_pushrail(
    endpoint: &str,
    stream: &str,
    ordering: &str,
    events: &[Value],
) -> (f64, f64) {
    let dir = common::bench_dir(&format!("kinesis-{ordering}"));
    let rest = format!(
        r#"
[[destinations]]
name = "bench"
plugin = "kinesis"
batch = {{ max_events = {DELIVER_BATCH}, linger = "20ms" }}
[destinations.kinesis]
stream_name = "{stream}"
region = "us-east-1"
endpoint_url = "{endpoint}"
ordering = "{ordering}"
auth = {{ mode = "static", access_key_id = "AKIDBENCH", secret_access_key = "secret" }}
"#
    );
    let server = common::Server::start(&dir, &rest).await;
    let http = reqwest::Client::new();
    let started = Instant::now();
    for chunk in events.chunks(BATCH) {
        common::post(&http, &server.base, chunk).await;
    }
    let posted = started.elapsed();
    common::wait_for_no_lag(&http, &server, None).await;
    let elapsed = started.elapsed();
    server.stop();
    (
        events.len() as f64 / elapsed.as_secs_f64(),
        events.len() as f64 / posted.as_secs_f64(),
    )
}

#[tokio::main]
async fn main() {
    let count = common::arg("--events", 20_000);
    let keys = common::arg("--keys", 1000);
    let port = common::free_port();
    let _kinesalite = start_kinesalite(port);
    let endpoint = format!("http://127.0.0.1:{port}");
    let client = client(&endpoint);
    for stream in ["raw", "relaxed", "strict"] {
        create_stream(&client, stream).await;
    }
    let events: Vec<Value> = (0..count).map(|i| common::event(i, 1024, keys)).collect();

    let raw = raw_loop(&client, "raw", &events).await;
    let (relaxed, relaxed_ingest) =
        through_pushrail(&endpoint, "relaxed", "relaxed", &events).await;
    let (strict, strict_ingest) = through_pushrail(&endpoint, "strict", "strict", &events).await;

    println!(
        "Kinesis (kinesalite, {SHARDS} shards): {count} events of 1 KiB, {keys} partition keys, {BATCH} per call\n"
    );
    println!("| scenario | events/s post → acked PutRecords | vs raw loop | ingest events/s |");
    println!("|---|---:|---:|---:|");
    println!("| raw aws-sdk-kinesis PutRecords loop (ceiling) | {raw:.0} | 1.00x | - |");
    println!(
        "| pushrail, relaxed ordering | {relaxed:.0} | {:.2}x | {relaxed_ingest:.0} |",
        relaxed / raw
    );
    println!(
        "| pushrail, strict ordering | {strict:.0} | {:.2}x | {strict_ingest:.0} |",
        strict / raw
    );
}
