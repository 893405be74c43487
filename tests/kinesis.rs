//! The Kinesis destination against a real Kinesis API server
//! (kinesis-local), end to end through the real binary.

mod support;

use std::collections::HashMap;

use serde_json::{Value, json};
use support::kinesis::{Kinesis, StreamRecord};
use support::{Server, event, eventually};

/// A `kinesis` destination for `stream` at `endpoint`, with `extra` lines in
/// its `[destinations.kinesis]` table and `retry` for the destination.
fn destination(name: &str, endpoint: &str, stream: &str, extra: &str, retry: &str) -> String {
    format!(
        r#"
[[destinations]]
name = "{name}"
plugin = "kinesis"
batch = {{ linger = "20ms" }}
retry = {{ {retry} }}
[destinations.kinesis]
stream_name = "{stream}"
region = "us-east-1"
endpoint_url = "{endpoint}"
auth = {{ mode = "static", access_key_id = "AKIDPUSHRAIL", secret_access_key = "not-a-secret" }}
{extra}
"#
    )
}

const QUICK_RETRY: &str = "initial_wait = \"100ms\", max_wait = \"1s\", jitter = false";

async fn post_batch(server: &Server, events: Vec<Value>) -> Vec<Value> {
    let (status, body) = server
        .post("/v1/events/batch", &json!({ "events": events }))
        .await;
    assert_eq!(status, 202, "{body}");
    body["results"].as_array().unwrap().clone()
}

async fn wait_for_records(kinesis: &Kinesis, stream: &str, count: usize) -> Vec<StreamRecord> {
    eventually(60, &format!("{count} records in {stream}"), async || {
        let records = kinesis.read_all(stream).await;
        (records.len() >= count).then_some(records)
    })
    .await
}

/// Sequences per customer, in the order the stream holds them.
fn order_per_key(records: &[StreamRecord]) -> HashMap<String, Vec<u64>> {
    let mut per_key: HashMap<String, Vec<u64>> = HashMap::new();
    let mut by_shard: Vec<&StreamRecord> = records.iter().collect();
    by_shard.sort_by(|a, b| {
        (
            a.shard_id.as_str(),
            a.sequence_number.len(),
            a.sequence_number.as_str(),
        )
            .cmp(&(
                b.shard_id.as_str(),
                b.sequence_number.len(),
                b.sequence_number.as_str(),
            ))
    });
    for r in by_shard {
        per_key
            .entry(r.partition_key.clone())
            .or_default()
            .push(r.data["sequence"].as_u64().unwrap());
    }
    per_key
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_of_20_customers_land_once_each_in_order_per_customer() {
    let kinesis = Kinesis::start().await;
    kinesis.create_stream("orders", 4).await;
    let server = Server::start_with(
        "",
        &destination("orders", &kinesis.url(), "orders", "", QUICK_RETRY),
    )
    .await;
    let mut events = Vec::new();
    for i in 0..200 {
        let mut e = event(&format!("acct_{}", i % 20), &format!("order-{i}"));
        e["payload"]["n"] = json!(i);
        events.push(e);
    }
    let results = post_batch(&server, events).await;

    let records = wait_for_records(&kinesis, "orders", 200).await;
    assert_eq!(records.len(), 200, "each event exactly once");
    let mut shards_per_key: HashMap<&str, std::collections::HashSet<&str>> = HashMap::new();
    for r in &records {
        shards_per_key
            .entry(&r.partition_key)
            .or_default()
            .insert(&r.shard_id);
        let data = &r.data;
        assert_eq!(
            data["customerExternalId"],
            r.partition_key.as_str(),
            "partition key = customerExternalId"
        );
        let sequence = data["sequence"].as_u64().unwrap();
        assert_eq!(data["eventId"], results[(sequence - 1) as usize]["id"]);
        for field in [
            "eventType",
            "occurredAt",
            "idempotencyKey",
            "correlationId",
            "source",
            "payload",
            "metadata",
        ] {
            assert!(data.get(field).is_some(), "{field} is embedded in {data}");
        }
    }
    assert_eq!(shards_per_key.len(), 20);
    assert!(
        shards_per_key.values().all(|s| s.len() == 1),
        "one shard per customer"
    );
    for (key, sequences) in order_per_key(&records) {
        let mut sorted = sequences.clone();
        sorted.sort_unstable();
        assert_eq!(sequences, sorted, "{key} is in log order");
    }

    let (_, attempts) = server
        .get(&format!(
            "/v1/events/{}/attempts",
            results[0]["id"].as_str().unwrap()
        ))
        .await;
    let coordinates = &attempts["items"][0]["coordinates"];
    assert!(
        coordinates["shardId"]
            .as_str()
            .unwrap()
            .starts_with("shardId-"),
        "{attempts}"
    );
    assert!(!coordinates["sequenceNumber"].as_str().unwrap().is_empty());
}
