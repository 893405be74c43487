//! #13: customers' Kinesis streams (and a Kafka topic beside them), all
//! created over the API with the destination pages' JSON: each stream,
//! read back with the AWS SDK from kinesis-local, holds only its own
//! customer's events, in order. A role is assumed through moto's STS with
//! the customer's external ID; access keys rotate while events flow,
//! nothing lost or reordered and the new key visible in the signatures.
//! `…/test` delivers a synthetic event and names where it landed, or what
//! is wrong with the setup.

mod support;

use std::collections::HashMap;

use serde_json::{Value, json};
use support::kafka::{Tansu, read_all};
use support::kinesis::{Kinesis, StreamRecord};
use support::kinesis_proxy::Proxy;
use support::moto::Moto;
use support::{Server, event, eventually, post_batch};

const OPERATOR: &str = "op-token-7a1d";
const SECRET: &str = "customer-token-secret-0123456789abcdef";
/// kinesis-local's account and region.
const ARN_PREFIX: &str = "arn:aws:kinesis:us-east-1:000000000000:stream/";

async fn wait_for_records(kinesis: &Kinesis, stream: &str, count: usize) -> Vec<StreamRecord> {
    eventually(60, &format!("{count} records in {stream}"), async || {
        let records = kinesis.read_all(stream).await;
        (records.len() >= count).then_some(records)
    })
    .await
}

/// The stream's records that are events (not test deliveries): (customer, sequence).
fn delivered(records: &[StreamRecord]) -> Vec<(String, u64)> {
    records
        .iter()
        .filter(|r| r.data["eventType"] != "pushrail.test")
        .map(|r| {
            (
                r.data["customerExternalId"].as_str().unwrap().to_owned(),
                r.data["sequence"].as_u64().unwrap(),
            )
        })
        .collect()
}

async fn operator_server(env: &[(&str, &str)]) -> Server {
    let mut server = Server::start_with_env(
        &format!("api_tokens = [\"{OPERATOR}\"]"),
        &format!("[security]\ntoken_secret = \"{SECRET}\"\n"),
        env,
    )
    .await;
    server.authorize(OPERATOR);
    server
}

async fn create_customer(server: &Server, customer: &str) {
    let (status, body) = server
        .put(&format!("/v1/customers/{customer}"), &json!({}))
        .await;
    assert_eq!(status, 201, "{body}");
}

/// Adds the destination; its id.
async fn add(server: &Server, customer: &str, page: &Value) -> String {
    let (status, body) = server
        .post(&format!("/v1/customers/{customer}/destinations"), page)
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["status"]["state"], "running", "{body}");
    body["id"].as_str().unwrap().to_owned()
}

fn access_key_page(stream: &str, endpoint: &str, key_id: &str, secret: &str) -> Value {
    json!({"type": "KINESIS", "name": "Customer Kinesis stream",
           "streamArn": format!("{ARN_PREFIX}{stream}"), "endpointUrl": endpoint,
           "partitionKey": "payload.account",
           "auth": {"mode": "ACCESS_KEY", "accessKeyId": key_id, "secretAccessKey": secret}})
}

/// Which of the two keys the pages use signed each PutRecords call the
/// proxy saw, in order: "old" (AKIAOLDKEY) or "new" (AKIANEWKEY).
fn put_records_keys(proxy: &Proxy) -> Vec<&'static str> {
    proxy
        .headers()
        .iter()
        .filter(|h| {
            h.get("x-amz-target")
                .is_some_and(|t| t.to_str().unwrap().ends_with(".PutRecords"))
        })
        .map(|h| {
            let auth = h["authorization"].to_str().unwrap();
            if auth.contains("Credential=AKIANEWKEY/") {
                "new"
            } else if auth.contains("Credential=AKIAOLDKEY/") {
                "old"
            } else {
                panic!("unexpected signature {auth}")
            }
        })
        .collect()
}

async fn probe(server: &Server, customer: &str, id: &str) -> Value {
    let (status, report) = server
        .post(
            &format!("/v1/customers/{customer}/destinations/{id}/test"),
            &json!({}),
        )
        .await;
    assert_eq!(status, 200, "{report}");
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_streams_and_topic_each_get_only_their_own_events() {
    let kinesis = Kinesis::start().await;
    kinesis.create_stream("acme-events", 2).await;
    kinesis.create_stream("beta-events", 1).await;
    let moto = Moto::start().await;
    let sts = Proxy::start(&moto.url(), Box::new(|_, _, _| false)).await;
    let tansu = Tansu::start().await;
    tansu.create_topic("gamma-events", 1);
    // Pushrail's own identity, which assumes the customers' roles.
    let server = operator_server(&[
        ("AWS_ACCESS_KEY_ID", "AKIDPUSHRAILHOST"),
        ("AWS_SECRET_ACCESS_KEY", "host-secret"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_CONFIG_FILE", "/nonexistent"),
        ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"),
    ])
    .await;
    for customer in ["acct_acme", "acct_beta", "acct_gamma", "acct_delta"] {
        create_customer(&server, customer).await;
    }
    let (_, acme) = server.get("/v1/customers/acct_acme").await;
    let acme_external_id = acme["externalId"].as_str().unwrap().to_owned();

    // The page's JSON, with local endpoints.
    let acme_page = json!({"type": "KINESIS", "name": "Customer Kinesis stream",
        "streamArn": format!("{ARN_PREFIX}acme-events"), "region": "us-east-1",
        "partitionKey": "customerExternalId", "endpointUrl": kinesis.url(),
        "auth": {"mode": "ASSUME_ROLE", "roleArn": "arn:aws:iam::123456789012:role/PushrailKinesisWriter",
                 "externalId": "acme-ext-7Pq2", "stsEndpointUrl": sts.url()}});
    let acme_id = add(&server, "acct_acme", &acme_page).await;
    let beta_id = add(
        &server,
        "acct_beta",
        &access_key_page("beta-events", &kinesis.url(), "AKIABETA", "beta-secret"),
    )
    .await;
    let gamma_id = add(
        &server,
        "acct_gamma",
        &json!({"type": "KAFKA", "name": "Customer Kafka cluster", "brokers": [tansu.brokers()],
                "topic": "gamma-events", "partitionKey": "customerExternalId",
                "auth": {"mode": "NONE"}, "producer": {"lingerMs": 5, "acks": "all"}}),
    )
    .await;

    let events: Vec<Value> = (0..120)
        .map(|i| {
            let customer = ["acct_acme", "acct_beta", "acct_gamma", "acct_delta"][i % 4];
            let mut e = event(customer, &format!("e{i}"));
            e["payload"]["account"] = json!(format!("a{}", i % 3));
            e
        })
        .collect();
    post_batch(&server, events).await;

    let acme_stream = delivered(&wait_for_records(&kinesis, "acme-events", 30).await);
    let beta_stream = delivered(&wait_for_records(&kinesis, "beta-events", 30).await);
    let gamma_topic = eventually(60, "30 records in gamma-events", async || {
        let brokers = tansu.brokers();
        let records = tokio::task::spawn_blocking(move || read_all(&brokers, "gamma-events", 30))
            .await
            .unwrap();
        (records.len() >= 30).then_some(records)
    })
    .await;
    for (name, customer, got) in [
        ("acme-events", "acct_acme", &acme_stream),
        ("beta-events", "acct_beta", &beta_stream),
    ] {
        assert_eq!(got.len(), 30, "{name}: each event once: {got:?}");
        assert!(got.iter().all(|(c, _)| c == customer), "{name}: {got:?}");
    }
    // One partition key: the whole stream in log order.
    assert!(acme_stream.windows(2).all(|w| w[0].1 < w[1].1));
    let gamma: Vec<(String, u64)> = gamma_topic
        .iter()
        .map(|r| {
            (
                r.value["customerExternalId"].as_str().unwrap().to_owned(),
                r.value["sequence"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(gamma.len(), 30);
    assert!(gamma.iter().all(|(c, _)| c == "acct_gamma"), "{gamma:?}");
    assert!(gamma.windows(2).all(|w| w[0].1 < w[1].1), "log order");

    // The role was assumed with the customer's external ID, not the one in
    // the JSON (Pushrail's, for the trust policy).
    let assumes: Vec<String> = sts
        .bodies()
        .into_iter()
        .filter(|b| b.contains("Action=AssumeRole"))
        .collect();
    assert!(!assumes.is_empty(), "an AssumeRole call");
    assert!(
        assumes
            .iter()
            .all(|b| b.contains(&format!("ExternalId={acme_external_id}"))),
        "{assumes:?}"
    );
    assert!(assumes.iter().all(|b| !b.contains("acme-ext-7Pq2")));

    // A test delivery names where it landed; the stream has it there.
    let report = probe(&server, "acct_acme", &acme_id).await;
    assert_eq!(report["outcome"], "delivered", "{report}");
    let sequence_number = report["coordinates"]["sequenceNumber"]
        .as_str()
        .unwrap_or_else(|| panic!("{report}"))
        .to_owned();
    let landed = eventually(30, "the test event in acme-events", async || {
        kinesis
            .read_all("acme-events")
            .await
            .into_iter()
            .find(|r| r.sequence_number == sequence_number)
    })
    .await;
    assert_eq!(landed.data["eventType"], "pushrail.test");
    assert_eq!(landed.data["eventId"], report["eventId"]);
    assert_eq!(landed.data["customerExternalId"], "acct_acme");
    assert_eq!(landed.shard_id, report["coordinates"]["shardId"]);
    let report = probe(&server, "acct_gamma", &gamma_id).await;
    assert_eq!(report["outcome"], "delivered", "{report}");
    assert!(report["coordinates"]["offset"].is_string(), "{report}");
    // The test went around the log: no destination's cursor moved for it.
    let (_, status) = server
        .get(&format!("/v1/customers/acct_beta/destinations/{beta_id}"))
        .await;
    assert_eq!(status["status"]["cursor"], 121, "{status}");

    // A stream that does not exist: not found, said as such.
    let missing = add(
        &server,
        "acct_beta",
        &access_key_page("no-such-stream", &kinesis.url(), "AKIABETA", "beta-secret"),
    )
    .await;
    let report = probe(&server, "acct_beta", &missing).await;
    assert_eq!(report["outcome"], "failed", "{report}");
    assert_eq!(report["error"]["category"], "not_found", "{report}");
    assert_eq!(report["error"]["code"], "ResourceNotFoundException");
    // Nobody listening at the endpoint: unreachable.
    let dead_port = support::free_port();
    let nowhere = add(
        &server,
        "acct_beta",
        &access_key_page(
            "beta-events",
            &format!("http://127.0.0.1:{dead_port}"),
            "AKIABETA",
            "beta-secret",
        ),
    )
    .await;
    let report = probe(&server, "acct_beta", &nowhere).await;
    assert_eq!(report["error"]["category"], "unreachable", "{report}");

    // Another customer's token cannot test (or learn of) Acme's destination.
    let (_, issued) = server
        .post("/v1/customers/acct_beta/token", &json!({}))
        .await;
    let beta_token = issued["token"].as_str().unwrap().to_owned();
    let (status, body) = server
        .send_as(
            &beta_token,
            "POST",
            &format!("/v1/customers/acct_acme/destinations/{acme_id}/test"),
            json!({}),
        )
        .await;
    assert_eq!(status, 404, "{body}");
    let (status, _) = server
        .send_as(
            &beta_token,
            "POST",
            &format!("/v1/customers/acct_beta/destinations/{acme_id}/test"),
            json!({}),
        )
        .await;
    assert_eq!(status, 404, "Acme's id under Beta's own path");
    let (status, _) = server
        .send_as(
            &beta_token,
            "POST",
            &format!("/v1/destinations/{}/test", acme_id.to_lowercase()),
            json!({}),
        )
        .await;
    assert_eq!(status, 403, "the operator's route");
    // The operator's route tests any destination.
    let (status, report) = server
        .post(
            &format!("/v1/destinations/{}/test", beta_id.to_lowercase()),
            &json!({}),
        )
        .await;
    assert_eq!(
        (status, &report["outcome"]),
        (200, &json!("delivered")),
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotating_access_keys_with_a_patch_while_events_flow_loses_and_reorders_nothing() {
    let kinesis = Kinesis::start().await;
    kinesis.create_stream("rotating", 2).await;
    let proxy = Proxy::start(&kinesis.url(), Box::new(|_, _, _| false)).await;
    let server = operator_server(&[]).await;
    create_customer(&server, "acct_rot").await;
    let id = add(
        &server,
        "acct_rot",
        &access_key_page("rotating", &proxy.url(), "AKIAOLDKEY", "old-secret"),
    )
    .await;
    let path = format!("/v1/customers/acct_rot/destinations/{id}");
    // A patch of another field keeps the sealed secret as it was.
    let (status, body) = server
        .patch(&path, &json!({"name": "Rotating stream"}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["spec"]["name"], "Rotating stream", "{body}");
    assert_eq!(body["spec"]["auth"]["secretAccessKeySet"], true, "{body}");

    let batch = |round: usize| -> Vec<Value> {
        (0..20)
            .map(|i| {
                let mut e = event("acct_rot", &format!("r{round}-{i}"));
                e["payload"]["account"] = json!(format!("a{}", i % 4));
                e
            })
            .collect()
    };
    for round in 0..5 {
        post_batch(&server, batch(round)).await;
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Rotated with a merge patch between posts, with events still queued
    // or in flight.
    let (status, body) = server
        .patch(
            &path,
            &json!({"auth": {"accessKeyId": "AKIANEWKEY", "secretAccessKey": "new-secret"}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["spec"]["auth"]["secretAccessKeySet"], true, "{body}");
    assert_eq!(body["spec"]["auth"]["accessKeyId"], "AKIANEWKEY", "{body}");
    assert_eq!(body["spec"]["name"], "Rotating stream", "{body}");
    for round in 5..10 {
        post_batch(&server, batch(round)).await;
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    let records = wait_for_records(&kinesis, "rotating", 200).await;
    let mut per_key: HashMap<String, Vec<u64>> = HashMap::new();
    for record in &records {
        per_key
            .entry(record.partition_key.clone())
            .or_default()
            .push(record.data["sequence"].as_u64().unwrap());
    }
    let mut all: Vec<u64> = per_key.values().flatten().copied().collect();
    all.sort_unstable();
    assert_eq!(all, (1..=200).collect::<Vec<u64>>(), "each event once");
    for (key, sequences) in &per_key {
        assert!(
            sequences.windows(2).all(|w| w[0] < w[1]),
            "{key} out of order: {sequences:?}"
        );
    }
    // Signed with the old key, then only with the new one.
    let keys = put_records_keys(&proxy);
    let first_new = keys
        .iter()
        .position(|k| *k == "new")
        .expect("the new key used");
    assert!(first_new > 0, "the old key was used first: {keys:?}");
    assert!(
        keys[first_new..].iter().all(|k| *k == "new"),
        "no old signature after the switch: {keys:?}"
    );
}

/// One customer's far-away stream holds up no change, its own or another
/// customer's: a change tells the old worker to stop and is answered at
/// once; the new worker delivers only when the old one has finished its
/// call, never beside it, and goes on from the cursor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_stream_holds_up_no_change_and_never_has_two_workers() {
    let kinesis = Kinesis::start().await;
    kinesis.create_stream("far", 1).await;
    kinesis.create_stream("near", 1).await;
    // Every PutRecords call is held 10 s: under the SDK's 20 s attempt
    // timeout and the 30 s the old worker gets to stop.
    let far = Proxy::start_delayed(
        &kinesis.url(),
        Box::new(|_, _, _| false),
        std::time::Duration::from_secs(10),
    )
    .await;
    let server = operator_server(&[]).await;
    create_customer(&server, "acct_far").await;
    let id = add(
        &server,
        "acct_far",
        &access_key_page("far", &far.url(), "AKIAOLDKEY", "old-secret"),
    )
    .await;
    // The pages' partition key is `payload.account`.
    let keyed = |customer: &str, key: &str| {
        let mut e = event(customer, key);
        e["payload"]["account"] = json!("a1");
        vec![e]
    };
    post_batch(&server, keyed("acct_far", "before")).await;
    eventually(30, "the first call held by the proxy", async || {
        (far.concurrent_calls() == 1).then_some(())
    })
    .await;

    // While that call is held: the key rotates (the worker restarts), and
    // another customer sets up its own stream.
    let (status, body) = server
        .patch(
            &format!("/v1/customers/acct_far/destinations/{id}"),
            &json!({"auth": {"accessKeyId": "AKIANEWKEY", "secretAccessKey": "new-secret"}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    create_customer(&server, "acct_near").await;
    add(
        &server,
        "acct_near",
        &access_key_page("near", &kinesis.url(), "AKIANEAR", "near-secret"),
    )
    .await;
    assert_eq!(
        far.concurrent_calls(),
        1,
        "a change waited for another worker's call in flight"
    );
    post_batch(&server, keyed("acct_far", "after")).await;
    post_batch(&server, keyed("acct_near", "near")).await;

    let records = wait_for_records(&kinesis, "far", 2).await;
    let sequences: Vec<u64> = delivered(&records).iter().map(|(_, s)| *s).collect();
    assert_eq!(sequences, [1, 2], "each event once, in order");
    assert_eq!(
        delivered(&wait_for_records(&kinesis, "near", 1).await).len(),
        1
    );
    assert_eq!(
        far.most_concurrent_calls(),
        1,
        "the new worker delivered beside the old one"
    );
    // The held call was the old worker's, the next one the new worker's.
    assert_eq!(
        put_records_keys(&far),
        ["old", "new"],
        "old key, then new key"
    );
}
