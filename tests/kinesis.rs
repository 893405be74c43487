//! The Kinesis destination against a real Kinesis API server
//! (kinesis-local), end to end through the real binary.

mod support;

use std::collections::HashMap;

use serde_json::{Value, json};
use support::kinesis::{Kinesis, StreamRecord};
use support::kinesis_proxy::Proxy;
use support::{Server, event, eventually, post_batch};

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

fn events(count: usize, customers: usize, prefix: &str) -> Vec<Value> {
    (0..count)
        .map(|i| event(&format!("acct_{}", i % customers), &format!("{prefix}-{i}")))
        .collect()
}

fn assert_exactly_once_in_order(records: &[StreamRecord], count: usize, check_order: bool) {
    let mut sequences: Vec<u64> = records
        .iter()
        .map(|r| r.data["sequence"].as_u64().unwrap())
        .collect();
    sequences.sort_unstable();
    assert_eq!(
        sequences,
        (1..=count as u64).collect::<Vec<_>>(),
        "every event exactly once"
    );
    if check_order {
        for (key, sequences) in order_per_key(records) {
            let mut sorted = sequences.clone();
            sorted.sort_unstable();
            assert_eq!(sequences, sorted, "{key} is in log order");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_records_calls_hold_at_most_500_records_and_5_mib() {
    let kinesis = Kinesis::start().await;
    kinesis.create_stream("bulk", 2).await;
    let proxy = Proxy::start(&kinesis.url(), Box::new(|_, _, _| false)).await;
    let config = destination(
        "bulk",
        &proxy.url(),
        "bulk",
        "ordering = \"relaxed\"",
        QUICK_RETRY,
    )
    .replace(
        "batch = { linger = \"20ms\" }",
        "batch = { max_events = 1200, linger = \"500ms\" }",
    );
    let server = Server::start_with("", &config).await;
    let mut all = Vec::new();
    for chunk in events(1200, 50, "bulk").chunks(600) {
        let sized: Vec<Value> = chunk
            .iter()
            .map(|e| {
                support::sized_event(
                    e["customerExternalId"].as_str().unwrap(),
                    e["idempotencyKey"].as_str().unwrap(),
                    1024,
                )
            })
            .collect();
        all.extend(post_batch(&server, sized).await);
    }
    let records = wait_for_records(&kinesis, "bulk", 1200).await;
    assert_exactly_once_in_order(&records, 1200, false);
    let calls = proxy.calls();
    assert!(
        calls
            .iter()
            .all(|c| c.records <= 500 && c.bytes <= 5 * 1024 * 1024),
        "{calls:?}"
    );
    assert_eq!(calls.iter().map(|c| c.records).sum::<usize>(), 1200);
    assert_eq!(
        calls.iter().map(|c| c.records).max(),
        Some(500),
        "the 500-record limit split a larger batch: {calls:?}"
    );
}

/// Fails the first sighting of every third record of each call.
fn every_third_once() -> support::kinesis_proxy::Rule {
    Box::new(|index, _, seen| seen == 0 && index % 3 == 0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_ordering_survives_partial_failure() {
    let kinesis = Kinesis::start().await;
    kinesis.create_stream("strict", 3).await;
    let proxy = Proxy::start(&kinesis.url(), every_third_once()).await;
    let server = Server::start_with(
        "",
        &destination("strict", &proxy.url(), "strict", "", QUICK_RETRY),
    )
    .await;
    post_batch(&server, events(300, 10, "strict")).await;

    let records = wait_for_records(&kinesis, "strict", 300).await;
    assert_exactly_once_in_order(&records, 300, true);
    let calls = proxy.calls();
    assert!(
        calls.iter().map(|c| c.failed).sum::<usize>() >= 30,
        "throttling was injected: {calls:?}"
    );
    assert!(
        calls.iter().all(|c| c.records <= 10),
        "strict calls carry one record per key: {calls:?}"
    );
}

/// Several batches in flight at once (small batches, every call held
/// 100 ms as by a far-away endpoint) while every third record is throttled
/// once: a batch holds keys no other batch in flight holds, so a throttled
/// record's later events wait behind it and order per key survives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_batches_keep_order_per_key_across_throttling() {
    let kinesis = Kinesis::start().await;
    kinesis.create_stream("piped", 4).await;
    let proxy = Proxy::start_delayed(
        &kinesis.url(),
        every_third_once(),
        std::time::Duration::from_millis(100),
    )
    .await;
    let config = destination("piped", &proxy.url(), "piped", "", QUICK_RETRY).replace(
        "batch = { linger = \"20ms\" }",
        "batch = { max_events = 10, in_flight = 4, linger = \"20ms\" }",
    );
    let server = Server::start_with("", &config).await;
    post_batch(&server, events(400, 100, "piped")).await;

    let records = wait_for_records(&kinesis, "piped", 400).await;
    assert_exactly_once_in_order(&records, 400, true);
    let calls = proxy.calls();
    assert!(
        calls.iter().map(|c| c.failed).sum::<usize>() >= 40,
        "throttling was injected: {calls:?}"
    );
    // One batch of 10 distinct keys is one call: more than one call at a
    // time means more than one batch in flight.
    assert!(
        proxy.most_concurrent_calls() >= 3,
        "batches were in flight together: at most {} calls at once",
        proxy.most_concurrent_calls()
    );
}

/// `kill -9` while several batches are in flight and one key is throttled
/// (it holds the cursor at the first event while other keys flow past):
/// after the restart every event lands, and what lands twice is at most the
/// batches that were in flight and the one progress write behind them
/// (`batch.in_flight` + 1 batches past the last durable commit, as the
/// README says) — not the events finished past the cursor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_with_batches_in_flight_redelivers_at_most_those_batches() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let kinesis = Kinesis::start().await;
    kinesis.create_stream("crash", 4).await;
    let throttled = Arc::new(AtomicBool::new(true));
    let rule = {
        let throttled = throttled.clone();
        Box::new(move |_: usize, data: &Value, _: u32| {
            throttled.load(Ordering::SeqCst) && data["customerExternalId"] == "acct_0"
        })
    };
    let proxy =
        Proxy::start_delayed(&kinesis.url(), rule, std::time::Duration::from_millis(400)).await;
    let config = destination("crash", &proxy.url(), "crash", "", QUICK_RETRY).replace(
        "batch = { linger = \"20ms\" }",
        "batch = { max_events = 10, in_flight = 4, linger = \"20ms\" }",
    );
    let mut server = Server::start_with("", &config).await;
    post_batch(&server, events(300, 100, "crash")).await;
    // Some batches landed and were recorded, three or more are out.
    eventually(60, "3 calls in flight after 8 landed", async || {
        (proxy.calls().len() >= 8 && proxy.concurrent_calls() >= 3).then_some(())
    })
    .await;
    // Delivery progress is made durable with the next ingest commit (or
    // within a second): this post's makes what was recorded so far durable.
    post_batch(&server, events(1, 1, "last")).await;
    server.kill9();
    server.restart().await;
    let (_, status) = server.get("/v1/destinations/crash").await;
    assert_eq!(status["cursor"], 1, "acct_0's first event held the cursor");
    throttled.store(false, Ordering::SeqCst);

    eventually(60, "nothing left to deliver", async || {
        let (_, status) = server.get("/v1/destinations/crash").await;
        (status["cursor"] == 302 && status["inFlight"] == 0).then_some(())
    })
    .await;
    let records = kinesis.read_all("crash").await;
    let mut sequences: Vec<u64> = records
        .iter()
        .map(|r| r.data["sequence"].as_u64().unwrap())
        .collect();
    sequences.sort_unstable();
    sequences.dedup();
    assert_eq!(
        sequences,
        (1..=301).collect::<Vec<u64>>(),
        "nothing skipped"
    );
    let twice = records.len() - 301;
    // Four batches out, one being recorded, and one more that may have
    // come back between the 202 and the kill.
    assert!(
        twice <= (4 + 2) * 10,
        "{twice} events landed twice: more than the batches in flight"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relaxed_ordering_retries_failed_records_until_all_land() {
    let kinesis = Kinesis::start().await;
    kinesis.create_stream("relaxed", 3).await;
    let proxy = Proxy::start(&kinesis.url(), every_third_once()).await;
    let server = Server::start_with(
        "",
        &destination(
            "relaxed",
            &proxy.url(),
            "relaxed",
            "ordering = \"relaxed\"",
            QUICK_RETRY,
        ),
    )
    .await;
    post_batch(&server, events(300, 10, "relaxed")).await;

    let records = wait_for_records(&kinesis, "relaxed", 300).await;
    assert_exactly_once_in_order(&records, 300, false);
    let calls = proxy.calls();
    assert!(
        calls.iter().map(|c| c.failed).sum::<usize>() >= 30,
        "{calls:?}"
    );
    assert!(
        calls.iter().any(|c| c.records > 10),
        "relaxed calls pack many records per key: {calls:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_stream_dead_letters_and_redrive_delivers_in_order_once_it_exists() {
    let kinesis = Kinesis::start().await;
    let server = Server::start_with(
        "",
        &destination("ghost", &kinesis.url(), "late-stream", "", QUICK_RETRY),
    )
    .await;
    let results = post_batch(&server, events(6, 2, "ghost")).await;
    let dead = eventually(30, "six dead letters", async || {
        let (_, body) = server.get("/v1/destinations/ghost/dlq").await;
        let items = body["items"].as_array().cloned().unwrap_or_default();
        (items.len() == 6).then_some(items)
    })
    .await;
    for (letter, result) in dead.iter().zip(&results) {
        assert_eq!(letter["errorCode"], "ResourceNotFoundException", "{letter}");
        assert_eq!(letter["attempts"], 1, "permanent: not retried");
        assert_eq!(letter["eventId"], result["id"]);
    }

    // The operator fixes the cause and redrives: all land, in log order, and the DLQ empties.
    kinesis.create_stream("late-stream", 1).await;
    let response = server
        .http
        .post(server.url("/v1/destinations/ghost/dlq/redrive"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 202);
    let queued: Value = response.json().await.unwrap();
    assert_eq!(queued["queued"], 6, "{queued}");
    let records = wait_for_records(&kinesis, "late-stream", 6).await;
    assert_exactly_once_in_order(&records, 6, true);
    let sequences: Vec<u64> = records
        .iter()
        .map(|r| r.data["sequence"].as_u64().unwrap())
        .collect();
    assert_eq!(
        sequences,
        [1, 2, 3, 4, 5, 6],
        "one shard: the original log order"
    );
    eventually(10, "an empty DLQ", async || {
        let (_, body) = server.get("/v1/destinations/ghost/dlq").await;
        body["items"].as_array().unwrap().is_empty().then_some(())
    })
    .await;
    let (_, trail) = server
        .get(&format!(
            "/v1/events/{}/attempts",
            results[0]["id"].as_str().unwrap()
        ))
        .await;
    let outcomes: Vec<&str> = trail["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["dead_lettered", "delivered"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_keys_with_a_session_token_sign_every_call() {
    let kinesis = Kinesis::start().await;
    kinesis.create_stream("signed", 1).await;
    let proxy = Proxy::start(&kinesis.url(), Box::new(|_, _, _| false)).await;
    let config = destination("signed", &proxy.url(), "signed", "", QUICK_RETRY).replace(
        "auth = { mode = \"static\", access_key_id = \"AKIDPUSHRAIL\", secret_access_key = \"not-a-secret\" }",
        "auth = { mode = \"static\", access_key_id = \"${TEST_AKID}\", secret_access_key = \"${TEST_SECRET}\", session_token = \"${TEST_TOKEN}\" }",
    );
    let server = Server::start_with_env(
        "",
        &config,
        &[
            ("TEST_AKID", "ASIATESTKEY"),
            ("TEST_SECRET", "s3cr3t-value"),
            ("TEST_TOKEN", "session-token-value"),
        ],
    )
    .await;
    post_batch(&server, events(5, 5, "signed")).await;
    wait_for_records(&kinesis, "signed", 5).await;
    let headers = proxy.headers();
    let put = headers
        .iter()
        .find(|h| {
            h.get("x-amz-target")
                .is_some_and(|t| t.to_str().unwrap().ends_with(".PutRecords"))
        })
        .expect("a PutRecords call");
    let authorization = put["authorization"].to_str().unwrap();
    assert!(
        authorization.starts_with("AWS4-HMAC-SHA256 Credential=ASIATESTKEY/"),
        "{authorization}"
    );
    assert_eq!(put["x-amz-security-token"], "session-token-value");
    let log = server.server_log();
    assert!(
        !log.contains("s3cr3t-value") && !log.contains("session-token-value"),
        "secrets are never logged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_wait_while_kinesis_is_down_and_land_when_it_returns() {
    let kinesis = Kinesis::start().await;
    kinesis.create_stream("flaky", 2).await;
    let mut proxy = Proxy::start(&kinesis.url(), Box::new(|_, _, _| false)).await;
    let retry =
        "initial_wait = \"100ms\", max_wait = \"300ms\", max_retries = 1000, jitter = false";
    let server =
        Server::start_with("", &destination("flaky", &proxy.url(), "flaky", "", retry)).await;
    proxy.down();
    let results = post_batch(&server, events(50, 5, "down")).await;
    let id = results[0]["id"].as_str().unwrap().to_owned();
    eventually(30, "failed attempts while Kinesis is down", async || {
        let (_, body) = server.get(&format!("/v1/events/{id}/attempts")).await;
        let items = body["items"].as_array().cloned().unwrap_or_default();
        (items.len() >= 2 && items.iter().all(|a| a["outcome"] == "retryable")).then_some(())
    })
    .await;
    let (_, attempts) = server.get(&format!("/v1/events/{id}/attempts")).await;
    assert_eq!(
        attempts["items"][0]["errorCode"], "ConnectionFailed",
        "{attempts}"
    );

    proxy.up().await;
    let records = wait_for_records(&kinesis, "flaky", 50).await;
    assert_exactly_once_in_order(&records, 50, true);
    let (_, dlq) = server.get("/v1/destinations/flaky/dlq").await;
    assert!(
        dlq["items"].as_array().unwrap().is_empty(),
        "nothing lost: {dlq}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_over_the_stream_limit_dead_letters_alone() {
    let kinesis = Kinesis::start().await;
    kinesis.create_stream("limits", 1).await;
    let server = Server::start_with(
        "",
        &destination("limits", &kinesis.url(), "limits", "", QUICK_RETRY),
    )
    .await;
    // Just under the 1 MiB ingest limit, so the record (with the envelope
    // fields added) is just over Kinesis' 1 MiB record limit.
    let big = support::sized_event("acct_big", "big", (1 << 20) - 40);
    let results = post_batch(
        &server,
        vec![event("acct_a", "a"), big, event("acct_b", "b")],
    )
    .await;

    let dead = eventually(30, "the oversize record in the DLQ", async || {
        let (_, body) = server.get("/v1/destinations/limits/dlq").await;
        let items = body["items"].as_array().cloned().unwrap_or_default();
        (!items.is_empty()).then_some(items)
    })
    .await;
    assert_eq!(dead.len(), 1, "{dead:#?}");
    assert_eq!(dead[0]["eventId"], results[1]["id"]);
    assert_eq!(dead[0]["errorCode"], "RecordTooLarge");
    let records = wait_for_records(&kinesis, "limits", 2).await;
    let keys: Vec<&str> = records.iter().map(|r| r.partition_key.as_str()).collect();
    assert_eq!(keys, ["acct_a", "acct_b"], "the others were delivered");
}

/// #12 defect 8: real Kinesis (and moto, which validates like it) rejects
/// a whole PutRecords call when one record is over 1 MiB, which used to
/// take every neighbour of an oversize record into the DLQ.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_oversize_record_never_fails_its_neighbours_on_a_validating_kinesis() {
    let moto = support::moto::Moto::start().await;
    let client = support::kinesis::client(&moto.url());
    support::kinesis::create_stream(&client, "validated", 1).await;
    let server = Server::start_with(
        "",
        &destination("validated", &moto.url(), "validated", "", QUICK_RETRY),
    )
    .await;
    let mut posted: Vec<Value> = (0..10)
        .map(|i| event(&format!("acct_{i}"), &format!("small{i}")))
        .collect();
    // Under the 1 MiB ingest limit; its record, with the envelope, is over
    // Kinesis' 1 MiB record limit.
    posted.push(support::sized_event("acct_big", "big", (1 << 20) - 40));
    let results = post_batch(&server, posted).await;
    let dead = eventually(30, "the oversize record in the DLQ", async || {
        let (_, body) = server.get("/v1/destinations/validated/dlq").await;
        let items = body["items"].as_array().cloned().unwrap_or_default();
        (!items.is_empty()).then_some(items)
    })
    .await;
    assert_eq!(dead.len(), 1, "only the oversize record: {dead:#?}");
    assert_eq!(dead[0]["eventId"], results[10]["id"]);
    assert_eq!(dead[0]["errorCode"], "RecordTooLarge");
    // The ten others are in the stream, read back from moto.
    let stored = eventually(30, "ten records in the stream", async || {
        let stored = support::kinesis::read_all(&client, "validated").await;
        (stored.len() >= 10).then_some(stored)
    })
    .await;
    let mut ids: Vec<String> = stored
        .iter()
        .map(|r| r.data["eventId"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    let mut expected: Vec<String> = results[..10]
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    expected.sort();
    assert_eq!(ids, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assume_role_signs_with_short_lived_credentials_from_sts() {
    let kinesis = Kinesis::start().await;
    kinesis.create_stream("assumed", 1).await;
    let moto = support::moto::Moto::start().await;
    let sts = Proxy::start(&moto.url(), Box::new(|_, _, _| false)).await;
    let proxy = Proxy::start(&kinesis.url(), Box::new(|_, _, _| false)).await;
    let auth = format!(
        "auth = {{ mode = \"assume_role\", role_arn = \"arn:aws:iam::123456789012:role/pushrail-writer\", external_id = \"${{TEST_EXTERNAL_ID}}\", session_name = \"pushrail-test\", sts_endpoint_url = \"{}\" }}",
        sts.url()
    );
    let config = destination("assumed", &proxy.url(), "assumed", "", QUICK_RETRY).replace(
        "auth = { mode = \"static\", access_key_id = \"AKIDPUSHRAIL\", secret_access_key = \"not-a-secret\" }",
        &auth,
    );
    let server = Server::start_with_env(
        "",
        &config,
        &[
            ("TEST_EXTERNAL_ID", "ext-1234"),
            ("AWS_ACCESS_KEY_ID", "AKIDBASECALLER"),
            ("AWS_SECRET_ACCESS_KEY", "base-secret"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("AWS_CONFIG_FILE", "/nonexistent"),
            ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"),
        ],
    )
    .await;
    post_batch(&server, events(3, 3, "assumed")).await;
    wait_for_records(&kinesis, "assumed", 3).await;

    let sts_calls = sts.bodies();
    let assume = sts_calls
        .iter()
        .find(|b| b.contains("Action=AssumeRole"))
        .expect("an AssumeRole call");
    assert!(assume.contains("ExternalId=ext-1234"), "{assume}");
    assert!(assume.contains("RoleSessionName=pushrail-test"), "{assume}");
    let put = proxy
        .headers()
        .into_iter()
        .find(|h| {
            h.get("x-amz-target")
                .is_some_and(|t| t.to_str().unwrap().ends_with(".PutRecords"))
        })
        .expect("a PutRecords call");
    let authorization = put["authorization"].to_str().unwrap().to_owned();
    assert!(
        !authorization.contains("AKIDBASECALLER"),
        "signed with the assumed role, not the caller: {authorization}"
    );
    assert!(
        authorization.contains("Credential=ASIA"),
        "STS session credentials: {authorization}"
    );
    assert!(
        put.get("x-amz-security-token").is_some(),
        "with their session token"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_or_overlong_partition_key_dead_letters_that_event_only() {
    let kinesis = Kinesis::start().await;
    kinesis.create_stream("keys", 1).await;
    let config = destination(
        "keys",
        &kinesis.url(),
        "keys",
        "partition_key = \"payload.route\"",
        QUICK_RETRY,
    );
    let server = Server::start_with("", &config).await;
    let with_route = |key: &str, route: Option<String>| {
        let mut e = event("acct_1", key);
        if let Some(route) = route {
            e["payload"]["route"] = json!(route);
        }
        e
    };
    let results = post_batch(
        &server,
        vec![
            with_route("ok-1", Some("eu".into())),
            with_route("missing", None),
            with_route("long", Some("r".repeat(257))),
            with_route("ok-2", Some("us".into())),
        ],
    )
    .await;
    let dead = eventually(30, "two dead letters", async || {
        let (_, body) = server.get("/v1/destinations/keys/dlq").await;
        let items = body["items"].as_array().cloned().unwrap_or_default();
        (items.len() == 2).then_some(items)
    })
    .await;
    assert_eq!(dead[0]["eventId"], results[1]["id"]);
    assert_eq!(dead[1]["eventId"], results[2]["id"]);
    for letter in &dead {
        assert_eq!(letter["errorCode"], "InvalidPartitionKey", "{letter}");
    }
    let records = wait_for_records(&kinesis, "keys", 2).await;
    let keys: Vec<&str> = records.iter().map(|r| r.partition_key.as_str()).collect();
    assert_eq!(keys, ["eu", "us"]);
}
