//! Kinesis record aggregation (`aggregation = true`) against a real Kinesis
//! API server (kinesis-local), read back through AWS's own deaggregator
//! (`aws-kinesis-agg`, PyPI): what a consumer unpacks is checked, not what
//! our encoder meant to write.

mod support;

use std::collections::HashMap;

use serde_json::{Value, json};
use support::deaggregate::{UserRecord, deaggregate};
use support::kinesis::Kinesis;
use support::kinesis_proxy::Proxy;
use support::{Server, event, eventually, post_batch};

/// A destination writing `stream` at `endpoint` with aggregation on, and
/// `extra` lines in its `[destinations.kinesis]` table.
fn aggregating(name: &str, plugin: &str, endpoint: &str, stream: &str, extra: &str) -> String {
    format!(
        r#"
[[destinations]]
name = "{name}"
plugin = "{plugin}"
batch = {{ linger = "20ms" }}
retry = {{ initial_wait = "100ms", max_wait = "1s", jitter = false }}
[destinations.kinesis]
stream_name = "{stream}"
region = "us-east-1"
endpoint_url = "{endpoint}"
aggregation = true
auth = {{ mode = "static", access_key_id = "AKIDPUSHRAIL", secret_access_key = "not-a-secret" }}
{extra}
"#
    )
}

/// Where the tests' partition key (the customer) is in an event.
const CUSTOMER: &str = "/customerExternalId";

/// `count` events over `customers` customers, keyed by customer.
fn events(count: usize, customers: usize, prefix: &str) -> Vec<Value> {
    (0..count)
        .map(|i| event(&format!("acct_{}", i % customers), &format!("{prefix}-{i}")))
        .collect()
}

/// Waits until the stream holds at least `count` user records, and returns
/// them as the deaggregator unpacks them, in the stream's order.
async fn user_records(kinesis: &Kinesis, stream: &str, count: usize) -> Vec<UserRecord> {
    eventually(
        60,
        &format!("{count} user records in {stream}"),
        async || {
            let stored = support::kinesis::read_raw(&kinesis.client, stream).await;
            let users = deaggregate(&stored);
            (users.len() >= count).then_some(users)
        },
    )
    .await
}

/// Every posted event exactly once, each record under the partition key
/// its event has at `key` (a JSON pointer), and each key's in posting order.
fn assert_once_in_order_per_key(users: &[UserRecord], posted: &[Value], key: &str) {
    let mut ids: Vec<&str> = users
        .iter()
        .map(|u| u.data["eventId"].as_str().unwrap())
        .collect();
    ids.sort();
    let mut expected: Vec<&str> = posted.iter().map(|p| p["id"].as_str().unwrap()).collect();
    expected.sort();
    assert_eq!(ids, expected, "every event exactly once");
    let mut per_key: HashMap<&str, Vec<u64>> = HashMap::new();
    for u in users {
        assert_eq!(
            u.data.pointer(key).and_then(Value::as_str),
            Some(u.partition_key.as_str()),
            "a user record keeps its own partition key"
        );
        per_key
            .entry(u.partition_key.as_str())
            .or_default()
            .push(u.data["sequence"].as_u64().unwrap());
    }
    for (key, sequences) in per_key {
        assert!(
            sequences.is_sorted(),
            "{key}'s events are out of order: {sequences:?}"
        );
    }
}

async fn attempts(server: &Server, id: &str) -> Vec<Value> {
    let (status, body) = server.get(&format!("/v1/events/{id}/attempts")).await;
    assert_eq!(status, 200, "{body}");
    body["items"].as_array().unwrap().clone()
}

/// One series of `/metrics`.
async fn metric(server: &Server, series: &str) -> u64 {
    let text = server.metrics().await;
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in {text}"))
}

/// #16: strict ordering with aggregation. Every event lands once, each
/// customer's in log order, unpacked by AWS's deaggregator; a key's events
/// share aggregated records; the attempt log names each event's shard,
/// sequence number and sub-sequence number exactly as the consumer sees
/// them; the metrics count the Kinesis records and PUT payload units.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregated_records_unpack_to_every_event_once_in_order_per_key() {
    let kinesis = Kinesis::start().await;
    kinesis.create_stream("packed", 2).await;
    let server = Server::start_with(
        "",
        &aggregating("packed", "kinesis", &kinesis.url(), "packed", ""),
    )
    .await;
    let mut posted = Vec::new();
    for round in 0..4 {
        posted.extend(post_batch(&server, events(150, 5, &format!("r{round}"))).await);
    }
    let users = user_records(&kinesis, "packed", posted.len()).await;
    assert_once_in_order_per_key(&users, &posted, CUSTOMER);
    assert!(
        users.iter().all(|u| u.aggregated),
        "every record is an aggregate"
    );
    let stored = support::kinesis::read_raw(&kinesis.client, "packed").await;
    assert!(
        stored.len() <= 4 * 5 * 4,
        "a key's events share records: {} records for {} events",
        stored.len(),
        posted.len()
    );

    for user in users.iter().step_by(37) {
        let id = user.data["eventId"].as_str().unwrap();
        let recorded = eventually(20, "the delivered attempt", async || {
            let all = attempts(&server, id).await;
            all.into_iter().find(|a| a["outcome"] == "delivered")
        })
        .await;
        let at = &recorded["coordinates"];
        assert_eq!(at["shardId"], user.shard_id.as_str(), "{recorded}");
        assert_eq!(at["sequenceNumber"], user.sequence_number.as_str());
        assert_eq!(
            at["subSequenceNumber"],
            user.sub_sequence_number.unwrap().to_string(),
            "the consumer's sub-sequence number is the attempt log's"
        );
    }

    let units: u64 = stored
        .iter()
        .map(|r| (r.data.len() + r.partition_key.len()).div_ceil(25 * 1024) as u64)
        .sum();
    assert_eq!(
        metric(
            &server,
            "pushrail_kinesis_records_total{destination=\"packed\"}"
        )
        .await,
        stored.len() as u64
    );
    assert_eq!(
        metric(
            &server,
            "pushrail_kinesis_put_payload_units_total{destination=\"packed\"}"
        )
        .await,
        units
    );
    assert!(
        units * 10 <= posted.len() as u64,
        "{units} PUT payload units for {} events of about 400 bytes",
        posted.len()
    );
}

/// #16: an aggregate that fails inside a strict call (a real partial
/// failure, injected by the proxy in front of kinesis-local) is retried
/// before anything later of its key goes; order and exactly-once hold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_aggregate_in_a_strict_call_keeps_its_keys_order() {
    let kinesis = Kinesis::start().await;
    kinesis.create_stream("flaky", 2).await;
    // The second record of every call fails the first time it is seen.
    let proxy = Proxy::start(
        &kinesis.url(),
        Box::new(|index, _, seen| index == 1 && seen == 0),
    )
    .await;
    let server = Server::start_with(
        "",
        &aggregating("flaky", "kinesis", &proxy.url(), "flaky", ""),
    )
    .await;
    let mut posted = Vec::new();
    for round in 0..3 {
        posted.extend(post_batch(&server, events(120, 4, &format!("f{round}"))).await);
    }
    let users = user_records(&kinesis, "flaky", posted.len()).await;
    assert_once_in_order_per_key(&users, &posted, CUSTOMER);
    let calls = proxy.calls();
    assert!(
        calls.iter().any(|c| c.failed > 0),
        "aggregates failed: {calls:?}"
    );
    assert!(
        calls.iter().all(|c| c.records <= 4),
        "strict: one aggregate per key per call: {calls:?}"
    );
}

/// #16: with small aggregates, an event too large to share one goes alone
/// (unaggregated, no sub-sequence number, still in its key's order), and
/// one over Kinesis' 1 MiB record limit is dead-lettered alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_event_goes_alone_and_one_over_the_limit_is_dead_lettered_alone() {
    let kinesis = Kinesis::start().await;
    kinesis.create_stream("sizes", 1).await;
    let server = Server::start_with(
        "",
        &aggregating(
            "sizes",
            "kinesis",
            &kinesis.url(),
            "sizes",
            "aggregation_max_bytes = \"4KiB\"",
        ),
    )
    .await;
    let mut batch = events(4, 1, "before");
    batch.push(support::sized_event("acct_0", "large", 10 * 1024));
    batch.extend(events(4, 1, "after"));
    // Under the 1 MiB ingest limit; with the envelope, over the record limit.
    batch.push(support::sized_event("acct_0", "huge", (1 << 20) - 40));
    batch.extend(events(2, 1, "last"));
    let posted = post_batch(&server, batch).await;

    let dead = eventually(30, "the oversize event in the DLQ", async || {
        let (_, body) = server.get("/v1/destinations/sizes/dlq").await;
        let items = body["items"].as_array().cloned().unwrap_or_default();
        (!items.is_empty()).then_some(items)
    })
    .await;
    assert_eq!(dead.len(), 1, "{dead:#?}");
    assert_eq!(dead[0]["eventId"], posted[9]["id"]);
    assert_eq!(dead[0]["errorCode"], "RecordTooLarge");

    let delivered: Vec<Value> = posted
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 9)
        .map(|(_, p)| p.clone())
        .collect();
    let users = user_records(&kinesis, "sizes", delivered.len()).await;
    assert_once_in_order_per_key(&users, &delivered, CUSTOMER);
    let large = users
        .iter()
        .find(|u| u.data["eventId"] == posted[4]["id"])
        .unwrap();
    assert!(!large.aggregated, "the large event went alone: {large:?}");
    assert!(
        users
            .iter()
            .filter(|u| u.data["eventId"] != posted[4]["id"])
            .all(|u| u.aggregated),
        "the small ones are aggregated"
    );
    let recorded = attempts(&server, posted[4]["id"].as_str().unwrap()).await;
    assert_eq!(
        recorded[0]["coordinates"]["sequenceNumber"],
        large.sequence_number.as_str()
    );
    assert!(
        recorded[0]["coordinates"]
            .get("subSequenceNumber")
            .is_none(),
        "{recorded:?}"
    );
}

/// #16 and #14: a destination built against WIT 0.1.0 still puts records
/// through the `kinesis` interface it was built against (whose location
/// has no sub-sequence number), also on an aggregating destination.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_0_1_0_destination_puts_through_its_own_kinesis_interface() {
    let kinesis = Kinesis::start().await;
    kinesis.create_stream("legacy", 1).await;
    let rest = format!(
        "[plugins]\ndir = \"{}\"\n{}",
        support::PLUGIN_DIR,
        aggregating("legacy", "legacy-destination", &kinesis.url(), "legacy", "")
    );
    let server = Server::start_with("", &rest).await;
    let posted = post_batch(&server, events(30, 3, "old")).await;
    let users = user_records(&kinesis, "legacy", posted.len()).await;
    let mut ids: Vec<&str> = users
        .iter()
        .map(|u| u.data["id"].as_str().unwrap())
        .collect();
    ids.sort();
    let mut expected: Vec<&str> = posted.iter().map(|p| p["id"].as_str().unwrap()).collect();
    expected.sort();
    assert_eq!(ids, expected);
    assert!(users.iter().all(|u| u.aggregated));
    let id = posted[0]["id"].as_str().unwrap();
    let recorded = eventually(20, "the delivered attempt", async || {
        attempts(&server, id)
            .await
            .into_iter()
            .find(|a| a["outcome"] == "delivered")
    })
    .await;
    assert_eq!(
        recorded["coordinates"],
        json!({
            "shardId": users[0].shard_id,
            "sequenceNumber": users.iter().find(|u| u.data["id"] == id).unwrap().sequence_number,
        }),
        "the 0.1.0 plugin's own coordinates"
    );
}

/// #16: aggregates that Kinesis rejects for good (the stream does not
/// exist yet) dead-letter each of their events with the error; redriven
/// once the stream exists, the events land aggregated, each key's in log
/// order, and the DLQ empties.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_aggregate_dead_letters_each_event_and_redrives_in_order() {
    let kinesis = Kinesis::start().await;
    let server = Server::start_with(
        "",
        &aggregating("late", "kinesis", &kinesis.url(), "late-stream", ""),
    )
    .await;
    let posted = post_batch(&server, events(24, 2, "late")).await;
    let dead = eventually(30, "24 dead letters", async || {
        let (_, body) = server.get("/v1/destinations/late/dlq").await;
        let items = body["items"].as_array().cloned().unwrap_or_default();
        (items.len() >= 24).then_some(items)
    })
    .await;
    let mut dead_ids: Vec<&str> = dead
        .iter()
        .map(|d| d["eventId"].as_str().unwrap())
        .collect();
    dead_ids.sort();
    let mut expected: Vec<&str> = posted.iter().map(|p| p["id"].as_str().unwrap()).collect();
    expected.sort();
    assert_eq!(dead_ids, expected, "each event of the aggregates");
    for letter in &dead {
        assert_eq!(letter["errorCode"], "ResourceNotFoundException", "{letter}");
        assert_eq!(letter["attempts"], 1, "permanent: not retried");
    }

    kinesis.create_stream("late-stream", 1).await;
    let response = server
        .http
        .post(server.url("/v1/destinations/late/dlq/redrive"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 202);
    let users = user_records(&kinesis, "late-stream", posted.len()).await;
    assert_once_in_order_per_key(&users, &posted, CUSTOMER);
    assert!(users.iter().all(|u| u.aggregated));
    let stored = support::kinesis::read_raw(&kinesis.client, "late-stream").await;
    assert!(
        stored.len() < posted.len(),
        "redriven as aggregates: {} records",
        stored.len()
    );
    eventually(10, "an empty DLQ", async || {
        let (_, body) = server.get("/v1/destinations/late/dlq").await;
        body["items"].as_array().unwrap().is_empty().then_some(())
    })
    .await;
}

/// #16 with #13: a customer turns aggregation on for its own stream with a
/// merge patch (`"aggregation": true`) while its events flow: nothing is
/// lost or reordered, and what follows lands aggregated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_turns_aggregation_on_with_a_patch_while_events_flow() {
    let kinesis = Kinesis::start().await;
    kinesis.create_stream("omega-events", 1).await;
    let mut server = Server::start_with(
        "api_tokens = [\"op-token\"]",
        "[security]\ntoken_secret = \"customer-token-secret-0123456789abcdef\"\n",
    )
    .await;
    server.authorize("op-token");
    let (status, body) = server.put("/v1/customers/acct_omega", &json!({})).await;
    assert_eq!(status, 201, "{body}");
    let page = json!({"type": "KINESIS", "name": "Customer Kinesis stream",
        "streamArn": "arn:aws:kinesis:us-east-1:000000000000:stream/omega-events",
        "endpointUrl": kinesis.url(), "partitionKey": "payload.account",
        "auth": {"mode": "ACCESS_KEY", "accessKeyId": "AKIAOMEGA", "secretAccessKey": "omega-secret"}});
    let (status, body) = server
        .post("/v1/customers/acct_omega/destinations", &page)
        .await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    let accounts = |from: usize, count: usize| -> Vec<Value> {
        (from..from + count)
            .map(|i| {
                let mut e = event("acct_omega", &format!("o{i}"));
                e["payload"]["account"] = json!(format!("a{}", i % 3));
                e
            })
            .collect()
    };
    let mut posted = post_batch(&server, accounts(0, 30)).await;
    let path = format!("/v1/customers/acct_omega/destinations/{id}");
    let (status, body) = server.patch(&path, &json!({"aggregation": true})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["spec"]["aggregation"], true, "{body}");
    for round in 0..3 {
        posted.extend(post_batch(&server, accounts(30 + round * 20, 20)).await);
    }
    let users = user_records(&kinesis, "omega-events", posted.len()).await;
    assert_once_in_order_per_key(&users, &posted, "/payload/account");
    let last = users
        .iter()
        .find(|u| u.data["eventId"] == posted[89]["id"])
        .unwrap();
    assert!(last.aggregated, "after the patch: aggregated");
}
