//! Scenario 3, end to end to Kafka: events/s from HTTP post to acknowledged produce
//! through the real binary and the built-in kafka plugin, next to a raw
//! rdkafka producer with the same settings sending the same records, on the
//! same broker: tansu (its own process) and librdkafka's mock cluster.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use rdkafka::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::Value;

use super::timing::{Delivery, POST_BATCH, POSTERS, rounds, timed_delivery};
use super::{Context, Scenario};
use crate::engine::{self, Server};
use crate::events;
use crate::report::{Measurement, Unit};
use crate::services::kafka::Tansu;

pub const PARTITIONS: i32 = 3;
/// Events per delivery batch in the throughput runs: the engine's default
/// for a Kafka destination (whole keys per batch, so that several batches
/// of keys no other batch out holds are in flight at once over 1,000 keys).
pub const DELIVER_BATCH: usize = 1_000;

/// librdkafka's mock cluster, in this process.
type Mock = MockCluster<'static, rdkafka::producer::DefaultProducerContext>;

/// A mock cluster with `topics`.
pub fn mock_cluster(topics: &[&str]) -> anyhow::Result<Mock> {
    let cluster = MockCluster::new(1).context("librdkafka mock cluster")?;
    for topic in topics {
        create_mock_topic(&cluster, topic)?;
    }
    Ok(cluster)
}

pub fn create_mock_topic(cluster: &Mock, topic: &str) -> anyhow::Result<()> {
    cluster
        .create_topic(topic, PARTITIONS, 1)
        .with_context(|| format!("mock cluster topic {topic}"))
}

/// The brokers a Kafka scenario runs against, alive while this is.
struct Brokers {
    tansu: Tansu,
    mock: Mock,
}

impl Brokers {
    async fn start() -> anyhow::Result<Self> {
        Ok(Self {
            tansu: Tansu::start().await,
            mock: mock_cluster(&[])?,
        })
    }

    /// (name, bootstrap servers) of each.
    fn all(&self) -> [(&'static str, String); 2] {
        [
            ("tansu", self.tansu.brokers()),
            ("librdkafka mock cluster", self.mock.bootstrap_servers()),
        ]
    }

    /// Creates `topic` on both.
    fn create_topic(&self, topic: &str) -> anyhow::Result<()> {
        self.tansu.create_topic(topic, PARTITIONS as u32);
        create_mock_topic(&self.mock, topic)
    }
}

pub async fn run(context: &Context) -> anyhow::Result<Vec<Measurement>> {
    let events = events::events(context.scale.kafka_events, 1000);
    let brokers = Brokers::start().await?;
    let topic = |kind: &str, round: usize| format!("{kind}-{round}");
    for round in 0..context.scale.rounds {
        for kind in ["raw", "live", "backlog"] {
            brokers.create_topic(&topic(kind, round))?;
        }
    }
    let mut results = Vec::new();
    for (broker, address) in brokers.all() {
        let (mut raw, mut live, mut backlog) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..context.scale.rounds {
            let topic = |kind: &str| topic(kind, round);
            raw.push(raw_producer(&address, &topic("raw"), &events).await?);
            live.push(
                through_pushrail(
                    context,
                    &address,
                    &topic("live"),
                    &events,
                    false,
                    DELIVER_BATCH,
                )
                .await?,
            );
            backlog.push(
                through_pushrail(
                    context,
                    &address,
                    &topic("backlog"),
                    &events,
                    true,
                    DELIVER_BATCH,
                )
                .await?,
            );
        }
        let ((live, live_cpu), (backlog, backlog_cpu)) = (rounds(&live), rounds(&backlog));
        let ceiling = "raw rdkafka producer, same settings";
        results.push(
            Measurement::new(
                Scenario::Kafka,
                format!("{broker}: post → acked, posting while delivering"),
                Unit::EventsPerSecond,
                live,
            )
            .against(ceiling, raw.clone())
            .goal_ratio(0.8)
            .cpu(live_cpu)
            .notes(format!(
                "{POSTERS} clients × {POST_BATCH} per post; 1,000 keys, {PARTITIONS} partitions, acks=all, idempotent"
            )),
        );
        results.push(
            Measurement::new(
                Scenario::Kafka,
                format!("{broker}: backlog drain"),
                Unit::EventsPerSecond,
                backlog,
            )
            .against(ceiling, raw)
            .goal_ratio(0.8)
            .cpu(backlog_cpu)
            .notes("posted while paused; timed from resume to no lag"),
        );
    }
    Ok(results)
}

/// A producer with the kafka plugin's default settings.
pub fn producer(brokers: &str) -> anyhow::Result<FutureProducer> {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", "100")
        .set("batch.size", "1048576")
        .set("partitioner", "murmur2_random")
        .create()
        .context("rdkafka producer")
}

/// Sends one record and waits for it: connected, holding a producer id,
/// topic metadata known (librdkafka takes up to a second for that), as a
/// running engine is.
pub async fn warm_up(producer: &FutureProducer, topic: &str) -> anyhow::Result<()> {
    producer
        .send(
            FutureRecord::<str, str>::to(topic)
                .payload("warm-up")
                .key("warm-up"),
            Duration::from_secs(30),
        )
        .await
        .map_err(|(e, _)| e)
        .context("warm-up record")?;
    Ok(())
}

/// The record the kafka plugin makes of event `i`: value, key, headers.
pub fn send_record(
    producer: &FutureProducer,
    topic: &str,
    e: &Value,
    i: usize,
) -> anyhow::Result<rdkafka::producer::DeliveryFuture> {
    let value = events::delivered_value(e, i);
    let event_id = format!("evt_{i:026}");
    let mut headers = OwnedHeaders::new();
    for (name, value) in [
        ("event_type", e["eventType"].as_str()),
        ("occurred_at", e["occurredAt"].as_str()),
        ("customer_external_id", e["customerExternalId"].as_str()),
        ("idempotency_key", e["idempotencyKey"].as_str()),
        ("event_id", Some(event_id.as_str())),
        ("source", e["source"].as_str()),
    ] {
        headers = headers.insert(Header { key: name, value });
    }
    let record = FutureRecord::to(topic)
        .payload(&value)
        .key(events::key(e))
        .headers(headers);
    producer
        .send_result(record)
        .map_err(|(e, _)| e)
        .context("enqueue a record")
}

/// The ceiling: every record enqueued at once, then every acknowledgement awaited.
pub async fn raw_producer(brokers: &str, topic: &str, events: &[Value]) -> anyhow::Result<f64> {
    let producer = producer(brokers)?;
    warm_up(&producer, topic).await?;
    let started = Instant::now();
    let mut pending = Vec::with_capacity(events.len());
    for (i, e) in events.iter().enumerate() {
        pending.push(send_record(&producer, topic, e, i)?);
    }
    for delivery in pending {
        delivery
            .await
            .context("delivery future dropped")?
            .map_err(|(e, _)| e)
            .context("produce")?;
    }
    Ok(events.len() as f64 / started.elapsed().as_secs_f64())
}

/// The engine's config for a kafka destination named `bench`.
pub fn destination(brokers: &str, topic: &str, batch: Option<usize>) -> String {
    engine::destination(
        "kafka",
        batch,
        &format!("brokers = \"{brokers}\"\ntopic = \"{topic}\""),
    )
}

/// Ours: post every event, then wait until the destination's lag is zero.
/// With `paused`, posted while paused and timed from resume: delivery alone.
pub async fn through_pushrail(
    context: &Context,
    brokers: &str,
    topic: &str,
    events: &[Value],
    paused: bool,
    batch: usize,
) -> anyhow::Result<Delivery> {
    let dir = engine::fresh_dir(&context.data_dir, "kafka")?;
    let server = Server::start(
        &context.engine,
        &dir,
        &destination(brokers, topic, Some(batch)),
    )
    .await?;
    let rate = timed_delivery(&server, events, paused).await?;
    server.stop();
    Ok(rate)
}
