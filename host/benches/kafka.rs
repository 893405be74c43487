//! Kafka throughput: events/s from HTTP post to acknowledged produce
//! through the real binary and the built-in kafka plugin, next to a raw
//! rdkafka producer with the same settings sending the same records (the
//! ceiling), against the same broker: tansu (its own process) and
//! librdkafka's mock cluster.
//!
//! `cargo bench -p pushrail --bench kafka -- [--events 20000] [--keys 1000] [--rounds 3]`
//! (`BENCH_TRACE=1` prints the destination's lag while it drains.)
//! Needs `tansu` on PATH (`cargo install tansu --locked --features dynostore`).

mod common;

use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{Value, json};

const PARTITIONS: i32 = 3;
/// Events per delivery batch.
const DELIVER_BATCH: usize = 10000;
/// Events per HTTP batch post.
const POST_BATCH: usize = 500;
/// Concurrent HTTP clients posting.
const POSTERS: usize = 4;

fn start_tansu(port: u16, topics: &[&str]) -> common::Helper {
    let url = format!("tcp://127.0.0.1:{port}");
    let child = Command::new("tansu")
        .arg("broker")
        .args(["--listener-url", &url, "--advertised-listener-url", &url])
        .args(["--storage-engine", "memory://tansu/"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start tansu (cargo install tansu --locked --features dynostore)");
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        std::thread::sleep(Duration::from_millis(20));
    }
    for topic in topics {
        let status = Command::new("tansu")
            .args(["topic", "create", "--broker", &url, "--partitions"])
            .arg(PARTITIONS.to_string())
            .arg(topic)
            .stdout(Stdio::null())
            .status()
            .expect("tansu topic create");
        assert!(status.success());
    }
    common::Helper(child)
}

/// The ceiling: one producer with our default settings sends every record
/// (value, key and headers as the kafka plugin makes them), then awaits
/// every acknowledgement.
async fn raw_producer(brokers: &str, topic: &str, events: &[Value]) -> f64 {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", "100")
        .set("batch.size", "1048576")
        .set("partitioner", "murmur2_random")
        .create()
        .expect("producer");
    // Warm: connected and holding a producer id (librdkafka takes up to a
    // second for that), as a running pushrail is.
    producer
        .send(
            FutureRecord::<str, str>::to(topic)
                .payload("warm-up")
                .key("warm-up"),
            Duration::from_secs(30),
        )
        .await
        .expect("warm-up record");
    let started = Instant::now();
    let mut pending = Vec::with_capacity(events.len());
    for (i, e) in events.iter().enumerate() {
        let mut data = e.clone();
        data["eventId"] = json!(format!("evt_{i:026}"));
        data["sequence"] = json!(i + 1);
        let value = serde_json::to_vec(&data).unwrap();
        let key = e["customerExternalId"].as_str().unwrap();
        let mut headers = OwnedHeaders::new();
        for (name, field) in [
            ("event_type", "eventType"),
            ("occurred_at", "occurredAt"),
            ("customer_external_id", "customerExternalId"),
            ("idempotency_key", "idempotencyKey"),
            ("event_id", "eventId"),
            ("source", "source"),
        ] {
            headers = headers.insert(Header {
                key: name,
                value: data[field].as_str(),
            });
        }
        let record = FutureRecord::to(topic)
            .payload(&value)
            .key(key)
            .headers(headers);
        pending.push(
            producer
                .send_result(record)
                .map_err(|(e, _)| e)
                .expect("enqueue"),
        );
    }
    for delivery in pending {
        delivery.await.expect("delivered").expect("acknowledged");
    }
    events.len() as f64 / started.elapsed().as_secs_f64()
}

/// How the events reach pushrail in a run.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// Posted while the destination delivers: ingest and delivery share the cores.
    Live,
    /// Posted while the destination is paused; timed from resume: delivery alone.
    Backlog,
}

/// Ours: post every event, then wait until the destination's lag is zero.
async fn through_pushrail(
    label: &str,
    brokers: &str,
    topic: &str,
    events: &[Value],
    mode: Mode,
) -> f64 {
    let dir = common::bench_dir(&format!("kafka-{label}"));
    let rest = format!(
        r#"
[[destinations]]
name = "bench"
plugin = "kafka"
batch = {{ max_events = {DELIVER_BATCH}, linger = "20ms" }}
[destinations.kafka]
brokers = "{brokers}"
topic = "{topic}"
"#
    );
    let server = common::Server::start(&dir, &rest).await;
    let http = reqwest::Client::new();
    // Warm, as the raw producer is: one event delivered before timing.
    common::post(&http, &server.base, &events[..1]).await;
    common::wait_for_no_lag(&http, &server, None).await;
    if mode == Mode::Backlog {
        common::control(&http, &server.base, "pause").await;
    }
    let mut started = Instant::now();
    // Several services post at once, as in production; one sequential
    // client would measure its own round trips.
    let mut posters = tokio::task::JoinSet::new();
    for part in 0..POSTERS {
        let (http, base) = (http.clone(), server.base.clone());
        let mine: Vec<Value> = events
            .chunks(POST_BATCH)
            .skip(part)
            .step_by(POSTERS)
            .flatten()
            .cloned()
            .collect();
        posters.spawn(async move {
            for chunk in mine.chunks(POST_BATCH) {
                common::post(&http, &base, chunk).await;
            }
        });
    }
    posters.join_all().await;
    if mode == Mode::Backlog {
        started = Instant::now();
        common::control(&http, &server.base, "resume").await;
    }
    common::wait_for_no_lag(&http, &server, Some(started)).await;
    let elapsed = started.elapsed();
    server.stop();
    events.len() as f64 / elapsed.as_secs_f64()
}

/// Median and spread (min–max) of a scenario's rounds.
fn summary(values: &mut [f64]) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    (
        values[values.len() / 2],
        values[0],
        values[values.len() - 1],
    )
}

#[tokio::main]
async fn main() {
    let count = common::arg("--events", 20_000);
    let keys = common::arg("--keys", 1000);
    let rounds = common::arg("--rounds", 3);
    let events: Vec<Value> = (0..count).map(|i| common::event(i, 1024, keys)).collect();

    let port = common::free_port();
    let topics: Vec<String> = (0..rounds)
        .flat_map(|r| {
            [
                format!("raw-{r}"),
                format!("live-{r}"),
                format!("backlog-{r}"),
            ]
        })
        .collect();
    let topic_names: Vec<&str> = topics.iter().map(String::as_str).collect();
    let _tansu = start_tansu(port, &topic_names);
    let cluster = MockCluster::new(1).expect("mock cluster");
    for topic in &topic_names {
        cluster.create_topic(topic, PARTITIONS, 1).expect("topic");
    }
    let brokers = [
        ("tansu 0.6 (memory)", format!("127.0.0.1:{port}")),
        ("librdkafka mock cluster", cluster.bootstrap_servers()),
    ];

    println!(
        "Kafka: {count} events of 1 KiB, {keys} keys, {PARTITIONS} partitions, acks=all, idempotent, linger 100 ms; median of {rounds} interleaved rounds (min–max)\n"
    );
    println!(
        "| broker | raw rdkafka producer (ceiling) | pushrail live: post → acked | ratio | pushrail backlog drain | ratio |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, address) in &brokers {
        let (mut raw, mut live, mut backlog) = (Vec::new(), Vec::new(), Vec::new());
        for r in 0..rounds {
            raw.push(raw_producer(address, &format!("raw-{r}"), &events).await);
            live.push(
                through_pushrail("live", address, &format!("live-{r}"), &events, Mode::Live).await,
            );
            backlog.push(
                through_pushrail(
                    "backlog",
                    address,
                    &format!("backlog-{r}"),
                    &events,
                    Mode::Backlog,
                )
                .await,
            );
        }
        let (raw, raw_lo, raw_hi) = summary(&mut raw);
        let (live, live_lo, live_hi) = summary(&mut live);
        let (backlog, backlog_lo, backlog_hi) = summary(&mut backlog);
        println!(
            "| {name} | {raw:.0} ({raw_lo:.0}–{raw_hi:.0}) | {live:.0} ({live_lo:.0}–{live_hi:.0}) | {:.2}x | {backlog:.0} ({backlog_lo:.0}–{backlog_hi:.0}) | {:.2}x |",
            live / raw,
            backlog / raw
        );
    }
}
