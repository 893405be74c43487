//! The Kafka destination against real Kafka-protocol brokers, end to end
//! through the real binary: tansu (its own process) for delivery, and
//! librdkafka's mock cluster for broker faults.

mod support;

use std::collections::{HashMap, HashSet};
use std::process::Command;
use std::time::Duration;

use rdkafka::mocking::MockCluster;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use serde_json::{Value, json};
use support::kafka::{Tansu, TopicRecord, order_per_key, read_all};
use support::{BIN, Server, event, eventually, post_batch};

/// A `kafka` destination writing `topic` at `brokers`, with `extra` lines in
/// its `[destinations.kafka]` table.
fn destination(name: &str, brokers: &str, topic: &str, extra: &str) -> String {
    format!(
        r#"
[[destinations]]
name = "{name}"
plugin = "kafka"
batch = {{ linger = "20ms" }}
retry = {{ initial_wait = "100ms", max_wait = "1s", jitter = false }}
[destinations.kafka]
brokers = "{brokers}"
topic = "{topic}"
{extra}
[destinations.kafka.producer]
linger_ms = 5
"#
    )
}

/// `count` events spread over `customers` customers.
fn events(count: usize, customers: usize, tag: &str) -> Vec<Value> {
    (0..count)
        .map(|i| {
            let mut e = event(&format!("acct_{}", i % customers), &format!("{tag}-{i}"));
            e["payload"]["n"] = json!(i);
            e
        })
        .collect()
}

async fn wait_for_records(brokers: &str, topic: &str, count: usize) -> Vec<TopicRecord> {
    eventually(60, &format!("{count} records in {topic}"), async || {
        let brokers = brokers.to_owned();
        let topic = topic.to_owned();
        let records = tokio::task::spawn_blocking(move || read_all(&brokers, &topic, count))
            .await
            .unwrap();
        (records.len() >= count).then_some(records)
    })
    .await
}

/// Every posted event exactly once, and each key's events in log order.
fn assert_exactly_once_in_order(records: &[TopicRecord], posted: &[Value]) {
    let ids: Vec<&str> = records
        .iter()
        .map(|r| r.value["eventId"].as_str().unwrap())
        .collect();
    let unique: HashSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "no event twice");
    let expected: HashSet<&str> = posted.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(unique, expected, "every posted event, nothing else");
    for (key, sequences) in order_per_key(records) {
        let mut sorted = sequences.clone();
        sorted.sort_unstable();
        assert_eq!(sequences, sorted, "{key} is in log order");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_tansu_once_each_keyed_with_headers_in_order_per_customer() {
    let tansu = Tansu::start().await;
    tansu.create_topic("orders", 3);
    let server =
        Server::start_with("", &destination("orders", &tansu.brokers(), "orders", "")).await;
    let mut posted = Vec::new();
    for chunk in events(300, 12, "order").chunks(50) {
        posted.extend(post_batch(&server, chunk.to_vec()).await);
    }
    let records = wait_for_records(&tansu.brokers(), "orders", 300).await;
    assert_eq!(records.len(), 300);
    assert_exactly_once_in_order(&records, &posted);

    let mut partitions_per_key: HashMap<&str, HashSet<i32>> = HashMap::new();
    for r in &records {
        let v = &r.value;
        assert_eq!(r.key, v["customerExternalId"], "key = partition key");
        partitions_per_key
            .entry(&r.key)
            .or_default()
            .insert(r.partition);
        let h = &r.headers;
        assert_eq!(h["event_type"], "order.completed");
        assert_eq!(h["occurred_at"], "2026-05-26T14:21:08.493Z");
        assert_eq!(h["customer_external_id"], r.key);
        assert_eq!(h["idempotency_key"], v["idempotencyKey"]);
        assert_eq!(h["event_id"], v["eventId"]);
        assert_eq!(h["correlation_id"], "req_4f30b2");
        assert_eq!(
            v["payload"]["orderId"], v["idempotencyKey"],
            "value is the event"
        );
    }
    assert_eq!(partitions_per_key.len(), 12);
    assert!(
        partitions_per_key.values().all(|p| p.len() == 1),
        "one partition per customer"
    );
    let used: HashSet<i32> = records.iter().map(|r| r.partition).collect();
    assert!(used.len() > 1, "12 keys spread over partitions: {used:?}");

    // The attempt log names where each event landed.
    let first = &records[0];
    let (_, attempts) = server
        .get(&format!(
            "/v1/events/{}/attempts",
            first.value["eventId"].as_str().unwrap()
        ))
        .await;
    let item = &attempts["items"][0];
    assert_eq!(item["outcome"], "delivered", "{attempts}");
    assert_eq!(
        item["coordinates"]["partition"],
        first.partition.to_string()
    );
    assert_eq!(item["coordinates"]["offset"], first.offset.to_string());
}

/// A mock cluster with one topic; librdkafka's own broker, on 127.0.0.1.
fn mock_cluster(
    brokers: i32,
    topic: &str,
    partitions: i32,
) -> MockCluster<'static, rdkafka::producer::DefaultProducerContext> {
    let cluster = MockCluster::new(brokers).expect("mock cluster");
    cluster
        .create_topic(topic, partitions, brokers)
        .expect("create topic");
    cluster
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_leader_and_request_timeouts_are_retried_in_order_and_delivered_once() {
    let cluster = mock_cluster(3, "orders", 4);
    let brokers = cluster.bootstrap_servers();
    let mut errors = Vec::new();
    for _ in 0..6 {
        errors.push(RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION);
        errors.push(RDKafkaRespErr::RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT);
    }
    cluster.request_errors(RDKafkaApiKey::Produce, &errors);
    let server = Server::start_with("", &destination("orders", &brokers, "orders", "")).await;
    let mut posted = Vec::new();
    for chunk in events(400, 20, "order").chunks(100) {
        posted.extend(post_batch(&server, chunk.to_vec()).await);
    }
    let records = wait_for_records(&brokers, "orders", 400).await;
    assert_exactly_once_in_order(&records, &posted);
    let (_, status) = server.get("/v1/destinations/orders").await;
    assert_eq!(status["deadLetters"], 0, "{status}");
}

/// Several batches in flight at once (small batches, brokers 100 ms away)
/// while the cluster fails produce requests with retryable errors: each
/// batch holds keys no other batch in flight holds, so every event lands
/// once and in order per key. The destination's status shows more events
/// in flight than one batch holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_batches_keep_order_per_key_across_broker_errors() {
    let cluster = mock_cluster(3, "piped", 4);
    for broker in 1..=3 {
        cluster
            .broker_round_trip_time(broker, Duration::from_millis(100))
            .unwrap();
    }
    let brokers = cluster.bootstrap_servers();
    let mut errors = Vec::new();
    for _ in 0..4 {
        errors.push(RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION);
        errors.push(RDKafkaRespErr::RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT);
    }
    cluster.request_errors(RDKafkaApiKey::Produce, &errors);
    let config = destination("piped", &brokers, "piped", "").replace(
        "batch = { linger = \"20ms\" }",
        "batch = { max_events = 10, in_flight = 4, linger = \"20ms\" }",
    );
    let server = Server::start_with("", &config).await;
    let mut posted = Vec::new();
    for chunk in events(600, 100, "piped").chunks(200) {
        posted.extend(post_batch(&server, chunk.to_vec()).await);
    }
    let mut most_in_flight = 0;
    eventually(120, "600 events delivered", async || {
        let (_, status) = server.get("/v1/destinations/piped").await;
        most_in_flight = most_in_flight.max(status["inFlight"].as_u64().unwrap_or(0));
        (status["lagEvents"] == 0 && status["inFlight"] == 0).then_some(())
    })
    .await;
    let records = wait_for_records(&brokers, "piped", 600).await;
    assert_exactly_once_in_order(&records, &posted);
    assert!(
        most_in_flight > 10,
        "more than one batch of 10 was in flight: at most {most_in_flight} events"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_authorization_failure_dead_letters_and_redrive_delivers_in_order() {
    let cluster = mock_cluster(1, "orders", 1);
    let brokers = cluster.bootstrap_servers();
    cluster.request_errors(
        RDKafkaApiKey::Produce,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED; 1000],
    );
    let server = Server::start_with("", &destination("locked", &brokers, "orders", "")).await;
    let posted = post_batch(&server, events(5, 2, "locked")).await;
    let dead = eventually(30, "five dead letters", async || {
        let (_, body) = server.get("/v1/destinations/locked/dlq").await;
        let items = body["items"].as_array().cloned().unwrap_or_default();
        (items.len() == 5).then_some(items)
    })
    .await;
    for (letter, result) in dead.iter().zip(&posted) {
        assert_eq!(letter["errorCode"], "TopicAuthorizationFailed", "{letter}");
        assert_eq!(letter["attempts"], 1, "permanent: not retried");
        assert_eq!(letter["eventId"], result["id"]);
    }

    // Access granted: a redrive delivers all five in their log order.
    cluster.clear_request_errors(RDKafkaApiKey::Produce);
    let response = server
        .http
        .post(server.url("/v1/destinations/locked/dlq/redrive"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 202);
    let records = wait_for_records(&brokers, "orders", 5).await;
    assert_exactly_once_in_order(&records, &posted);
    let sequences: Vec<u64> = records
        .iter()
        .map(|r| r.value["sequence"].as_u64().unwrap())
        .collect();
    assert_eq!(sequences, [1, 2, 3, 4, 5], "one partition: the log order");
    eventually(10, "an empty DLQ", async || {
        let (_, body) = server.get("/v1/destinations/locked/dlq").await;
        body["items"].as_array().unwrap().is_empty().then_some(())
    })
    .await;
}

/// #12 defect 6: after a fatal error (here: the idempotent producer's
/// sequence out of step with the broker) librdkafka refuses every record
/// until the producer is replaced; it used to be retried into the DLQ.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fatal_producer_error_recreates_the_producer_and_loses_nothing() {
    let cluster = mock_cluster(1, "orders", 2);
    let brokers = cluster.bootstrap_servers();
    // The head-of-line produce request fails with a sequence error, which
    // librdkafka raises as a fatal error of the idempotent producer.
    cluster.request_errors(
        RDKafkaApiKey::Produce,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER],
    );
    let server = Server::start_with("", &destination("orders", &brokers, "orders", "")).await;
    let posted = post_batch(&server, events(50, 5, "fatal")).await;
    let records = wait_for_records(&brokers, "orders", 50).await;
    assert_exactly_once_in_order(&records, &posted);
    let (_, status) = server.get("/v1/destinations/orders").await;
    assert_eq!(status["deadLetters"], 0, "{status}");
    assert_eq!(status["lastError"]["code"], "ProducerFatal", "{status}");
    let metrics = server.metrics().await;
    assert!(
        metrics.contains("pushrail_sink_restarts_total{destination=\"orders\"} 1"),
        "{metrics}"
    );
}

/// The partition (of 2) librdkafka's murmur2 partitioner gives each of
/// `keys`, found by producing them to a probe topic.
async fn partitions_of(brokers: &str, keys: &[String]) -> Vec<i32> {
    use rdkafka::ClientConfig;
    use rdkafka::producer::{FutureProducer, FutureRecord};
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("partitioner", "murmur2_random")
        .create()
        .expect("probe producer");
    let mut partitions = Vec::new();
    for key in keys {
        let delivered = producer
            .send(
                FutureRecord::to("probe").key(key).payload("{}"),
                Duration::from_secs(10),
            )
            .await
            .expect("probe delivered");
        partitions.push(delivered.partition);
    }
    partitions
}

/// #12 defect 7: when a record of a key could not be enqueued (librdkafka's
/// local queue stayed full) a later, smaller record of the same key still
/// fit, was sent, and landed first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enqueue_failure_holds_back_the_keys_later_records() {
    let cluster = MockCluster::new(2).expect("mock cluster");
    cluster.create_topic("orders", 2, 1).expect("topic");
    cluster.create_topic("probe", 2, 1).expect("probe topic");
    for topic in ["orders", "probe"] {
        cluster.partition_leader(topic, 0, Some(1)).expect("leader");
        cluster.partition_leader(topic, 1, Some(2)).expect("leader");
    }
    let brokers = cluster.bootstrap_servers();
    let candidates: Vec<String> = (0..20).map(|i| format!("acct_{i}")).collect();
    let partitions = partitions_of(&brokers, &candidates).await;
    let blocked = &candidates[partitions.iter().position(|p| *p == 0).unwrap()];
    let key = &candidates[partitions.iter().position(|p| *p == 1).unwrap()];
    // Partition 0's leader goes down: the blocked customer's record sits in
    // librdkafka's queue, which holds 2 KiB.
    cluster.broker_down(1).expect("broker down");
    let rest = destination(
        "orders",
        &brokers,
        "orders",
        "",
    )
    .replace("linger = \"20ms\"", "linger = \"300ms\"")
    .replace(
        "linger_ms = 5",
        "linger_ms = 5\ndelivery_timeout = \"1s\"\n[destinations.kafka.producer.properties]\n\"queue.buffering.max.kbytes\" = 2",
    );
    let server = Server::start_with("", &rest).await;
    let mut filler = support::sized_event(blocked, "filler", 1_200);
    filler["payload"]["n"] = json!(0);
    let first = support::sized_event(key, "first", 1_200);
    let second = event(key, "second");
    // In one call: the filler fits; the key's first record does not (the
    // queue stays full until the filler times out); its second, small one
    // would fit.
    let posted = post_batch(&server, vec![filler, first, second]).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    cluster.broker_up(1).expect("broker up");
    let records = wait_for_records(&brokers, "orders", 3).await;
    let order: Vec<u64> = records
        .iter()
        .filter(|r| r.key == *key)
        .map(|r| r.value["sequence"].as_u64().unwrap())
        .collect();
    let first_seq = posted[1]["sequence"].as_u64().unwrap();
    let second_seq = posted[2]["sequence"].as_u64().unwrap();
    let landed_first = order.iter().position(|s| *s == first_seq).unwrap();
    let landed_second = order.iter().position(|s| *s == second_seq).unwrap();
    assert!(
        landed_first < landed_second,
        "the key's records in log order: {order:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_down_then_up_loses_nothing() {
    let cluster = mock_cluster(1, "orders", 2);
    let brokers = cluster.bootstrap_servers();
    let server = Server::start_with("", &destination("orders", &brokers, "orders", "")).await;
    let mut posted = post_batch(&server, events(20, 4, "before")).await;
    wait_for_records(&brokers, "orders", 20).await;

    cluster.broker_down(1).expect("broker down");
    posted.extend(post_batch(&server, events(100, 4, "during")).await);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, status) = server.get("/v1/destinations/orders").await;
    assert!(
        status["lagEvents"].as_u64().unwrap() > 0,
        "nothing can land while down: {status}"
    );

    cluster.broker_up(1).expect("broker up");
    let records = wait_for_records(&brokers, "orders", 120).await;
    assert_exactly_once_in_order(&records, &posted);
    eventually(10, "no lag", async || {
        let (_, status) = server.get("/v1/destinations/orders").await;
        (status["lagEvents"] == 0).then_some(())
    })
    .await;
    let (_, status) = server.get("/v1/destinations/orders").await;
    assert_eq!(status["deadLetters"], 0, "{status}");
}

#[test]
fn check_names_a_producer_property_librdkafka_rejects() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pushrail.toml");
    std::fs::write(
        &path,
        r#"
[[destinations]]
name = "orders"
plugin = "kafka"
[destinations.kafka]
brokers = "127.0.0.1:9"
topic = "orders"
[destinations.kafka.producer.properties]
"queue.buffering.max.messagez" = 10
"#,
    )
    .unwrap();
    let output = Command::new(BIN)
        .args(["check", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("destination orders: kafka: librdkafka rejected the producer settings")
            && stderr.contains("queue.buffering.max.messagez"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_range_lands_again_in_order_with_the_same_keys_and_a_dry_run_sends_nothing() {
    let cluster = mock_cluster(1, "orders", 3);
    let brokers = cluster.bootstrap_servers();
    let server = Server::start_with("", &destination("orders", &brokers, "orders", "")).await;
    let posted = post_batch(&server, events(60, 6, "order")).await;
    let first = wait_for_records(&brokers, "orders", 60).await;
    assert_exactly_once_in_order(&first, &posted);
    let partition_of: HashMap<String, i32> =
        first.iter().map(|r| (r.key.clone(), r.partition)).collect();

    // A dry run shows the records after the transforms and sends nothing.
    let (status, dry) = server
        .post(
            "/v1/destinations/orders/replay",
            &json!({"fromSequence": 11, "toSequence": 40, "dry_run": true, "limit": 5}),
        )
        .await;
    assert_eq!(status, 200, "{dry}");
    assert_eq!(dry["total"], 30);
    let items = dry["items"].as_array().unwrap();
    assert_eq!(items.len(), 5);
    for (item, sequence) in items.iter().zip(11..) {
        assert_eq!(item["sequence"], sequence);
        assert_eq!(item["partitionKey"], format!("acct_{}", (sequence - 1) % 6));
        assert_eq!(item["records"][0]["eventId"], item["eventId"]);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        read_all(&brokers, "orders", 60).len(),
        60,
        "a dry run sends nothing"
    );

    // The replay itself: sequences 11..=40 land again, per key in order, in the same partitions.
    let (status, started) = server
        .post(
            "/v1/destinations/orders/replay",
            &json!({"fromSequence": 11, "toSequence": 40}),
        )
        .await;
    assert_eq!(status, 202, "{started}");
    assert_eq!(started["total"], 30);
    let id = started["id"].as_str().unwrap().to_owned();
    let done = eventually(30, "the replay to finish", async || {
        let (_, status) = server.get(&format!("/v1/replays/{id}")).await;
        (status["state"] == "done").then_some(status)
    })
    .await;
    assert_eq!(
        (
            done["delivered"].as_u64(),
            done["done"].as_u64(),
            done["failed"].as_u64()
        ),
        (Some(30), Some(30), Some(0)),
        "{done}"
    );
    let all = wait_for_records(&brokers, "orders", 90).await;
    assert_eq!(all.len(), 90);
    let replayed: Vec<&TopicRecord> = all
        .iter()
        .filter(|r| r.offset >= first.iter().filter(|f| f.partition == r.partition).count() as i64)
        .collect();
    assert_eq!(replayed.len(), 30);
    for r in &replayed {
        let sequence = r.value["sequence"].as_u64().unwrap();
        assert!((11..=40).contains(&sequence), "{sequence}");
        assert_eq!(
            partition_of[&r.key], r.partition,
            "same key, same partition"
        );
        assert_eq!(r.key, r.value["customerExternalId"]);
    }
    for (key, sequences) in order_per_key(&replayed.into_iter().cloned().collect::<Vec<_>>()) {
        let mut sorted = sequences.clone();
        sorted.sort_unstable();
        assert_eq!(sequences, sorted, "{key}: replayed in log order");
    }
    let (_, trail) = server
        .get(&format!(
            "/v1/events/{}/attempts",
            posted[10]["id"].as_str().unwrap()
        ))
        .await;
    let attempts = trail["items"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{trail}");
    assert_eq!(attempts[1]["attempt"], 2);
    assert_eq!(attempts[1]["replay"], id.as_str());
    assert_eq!(attempts[1]["outcome"], "delivered");

    // Filters and bad requests.
    let (status, none) = server
        .post(
            "/v1/destinations/orders/replay",
            &json!({"fromSequence": 1, "eventType": "invoice.*", "dryRun": true}),
        )
        .await;
    assert_eq!((status, none["total"].as_u64()), (200, Some(0)), "{none}");
    // An end before the start selects nothing, like a list with such bounds.
    let (status, empty) = server
        .post(
            "/v1/destinations/orders/replay",
            &json!({"fromSequence": 5, "toSequence": 2, "dryRun": true}),
        )
        .await;
    assert_eq!((status, empty["total"].as_u64()), (200, Some(0)), "{empty}");
    for (body, field) in [
        (json!({}), "fromSequence"),
        (json!({"since": "yesterday"}), "since"),
    ] {
        let (status, error) = server.post("/v1/destinations/orders/replay", &body).await;
        assert_eq!(status, 400, "{body}: {error}");
        assert_eq!(error["error"]["field"], field, "{error}");
    }
    let (status, _) = server.get("/v1/replays/rpl_unknown").await;
    assert_eq!(status, 404);
    let (_, list) = server.get("/v1/replays").await;
    assert_eq!(list["items"][0]["id"], id.as_str());
}

/// librdkafka's main thread: one per producer.
fn producers(server: &Server) -> usize {
    std::fs::read_dir(format!("/proc/{}/task", server.pid()))
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.trim() == "rdk:main")
        .count()
}

/// Destinations on one cluster with the same credentials and settings
/// share one producer (one set of librdkafka threads); other settings get
/// their own, and so do other credentials. Each destination's records
/// still go only to its own topic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destinations_on_one_cluster_share_a_producer() {
    let tansu = Tansu::start().await;
    let brokers = tansu.brokers();
    let mut config = String::new();
    for i in 0..8 {
        tansu.create_topic(&format!("shared-{i}"), 1);
        config += &destination(&format!("s{i}"), &brokers, &format!("shared-{i}"), "").replace(
            "[[destinations]]",
            &format!("[[destinations]]\ncustomers = [\"acct_{i}\"]"),
        );
    }
    tansu.create_topic("tuned", 1);
    config +=
        &destination("tuned", &brokers, "tuned", "").replace("linger_ms = 5", "linger_ms = 7");
    // Same cluster and user, other passwords: never one producer (the
    // broker refuses them; only the producers they get count here).
    for (name, password) in [("sasl-a", "password-a"), ("sasl-b", "password-b")] {
        config += &destination(
            name,
            &brokers,
            name,
            &format!("auth = {{ mode = \"sasl_plain\", username = \"pushrail\", password = \"{password}\" }}"),
        )
        .replace("[[destinations]]", "[[destinations]]\ncustomers = [\"nobody\"]");
    }
    let server = Server::start_with("", &config).await;
    post_batch(&server, events(80, 8, "share")).await;
    for i in 0..8 {
        let records = wait_for_records(&brokers, &format!("shared-{i}"), 10).await;
        assert_eq!(records.len(), 10, "shared-{i}");
        assert!(
            records
                .iter()
                .all(|r| r.value["customerExternalId"] == format!("acct_{i}")),
            "shared-{i} holds only its customer's events"
        );
    }
    wait_for_records(&brokers, "tuned", 80).await;
    assert_eq!(
        producers(&server),
        4,
        "eight destinations share one producer; the tuned one and each password have their own"
    );
}
