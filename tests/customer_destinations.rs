//! #13: customers add their own Kafka destinations over the API with the
//! destination pages' JSON; each topic (read back with a real Kafka client
//! from tansu) holds only its own customer's events, in log order. A
//! customer token reaches only its own destinations; destinations survive
//! a restart and stop when deleted.

mod support;

use serde_json::{Value, json};
use support::kafka::{Tansu, TopicRecord, read_all};
use support::{Server, event, eventually, post_batch};

const OPERATOR: &str = "op-token-3c9e";
const SECRET: &str = "customer-token-secret-fedcba9876543210";

async fn wait_for(brokers: &str, topic: &str, count: usize) -> Vec<TopicRecord> {
    eventually(60, &format!("{count} records in {topic}"), async || {
        let (brokers, topic) = (brokers.to_owned(), topic.to_owned());
        let records = tokio::task::spawn_blocking(move || read_all(&brokers, &topic, count))
            .await
            .unwrap();
        (records.len() >= count).then_some(records)
    })
    .await
}

/// (customer, sequence) of each record.
fn customers_and_sequences(records: &[TopicRecord]) -> Vec<(String, u64)> {
    records
        .iter()
        .map(|r| {
            (
                r.value["customerExternalId"].as_str().unwrap().to_owned(),
                r.value["sequence"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn kafka_page(brokers: &str, topic: &str) -> Value {
    json!({"type": "KAFKA", "name": "Customer Kafka cluster", "brokers": [brokers],
           "topic": topic, "partitionKey": "customerExternalId",
           "auth": {"mode": "NONE"}, "producer": {"lingerMs": 5, "acks": "all"}})
}

fn interleaved(count: usize, prefix: &str) -> Vec<Value> {
    (0..count)
        .map(|i| {
            event(
                ["acct_a", "acct_b", "acct_c"][i % 3],
                &format!("{prefix}{i}"),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_customers_topic_gets_only_its_own_events() {
    let tansu = Tansu::start().await;
    for topic in ["feed-a", "feed-b", "feed-b2", "feed-a-all"] {
        tansu.create_topic(topic, 1);
    }
    let brokers = tansu.brokers();
    let mut server = Server::start_with(
        &format!("api_tokens = [\"{OPERATOR}\"]"),
        &format!("[security]\ntoken_secret = \"{SECRET}\"\n"),
    )
    .await;
    server.authorize(OPERATOR);
    for customer in ["acct_a", "acct_b"] {
        let (status, body) = server
            .send_as(
                OPERATOR,
                "PUT",
                &format!("/v1/customers/{customer}"),
                json!({}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    // Before any destination exists: only the `earliest` one gets these.
    post_batch(
        &server,
        (0..5)
            .map(|i| event("acct_a", &format!("early{i}")))
            .collect(),
    )
    .await;

    let (status, a) = server
        .post(
            "/v1/customers/acct_a/destinations",
            &kafka_page(&brokers, "feed-a"),
        )
        .await;
    assert_eq!(status, 201, "{a}");
    assert_eq!(a["status"]["state"], "running", "{a}");
    let a_id = a["id"].as_str().unwrap().to_owned();
    let mut all = kafka_page(&brokers, "feed-a-all");
    all["startFrom"] = json!("earliest");
    let (status, body) = server.post("/v1/customers/acct_a/destinations", &all).await;
    assert_eq!(status, 201, "{body}");
    // The customer adds its own, with its own token.
    let (_, issued) = server.post("/v1/customers/acct_b/token", &json!({})).await;
    let b_token = issued["token"].as_str().unwrap().to_owned();
    let (status, b) = server
        .send_as(
            &b_token,
            "POST",
            "/v1/customers/acct_b/destinations",
            kafka_page(&brokers, "feed-b"),
        )
        .await;
    assert_eq!(status, 201, "{b}");

    post_batch(&server, interleaved(90, "k")).await;
    let feed_a = customers_and_sequences(&wait_for(&brokers, "feed-a", 30).await);
    assert_eq!(
        feed_a.len(),
        30,
        "only the events after it was created: {feed_a:?}"
    );
    assert!(feed_a.iter().all(|(c, _)| c == "acct_a"), "{feed_a:?}");
    assert!(feed_a.windows(2).all(|w| w[0].1 < w[1].1), "log order");
    let feed_b = customers_and_sequences(&wait_for(&brokers, "feed-b", 30).await);
    assert_eq!(feed_b.len(), 30);
    assert!(feed_b.iter().all(|(c, _)| c == "acct_b"), "{feed_b:?}");
    let feed_all = customers_and_sequences(&wait_for(&brokers, "feed-a-all", 35).await);
    assert_eq!(
        feed_all.len(),
        35,
        "backfilled from the earliest, then live"
    );
    assert!(feed_all.iter().all(|(c, _)| c == "acct_a"));

    // B's token: its own destinations only.
    let (status, list) = server
        .send_as(
            &b_token,
            "GET",
            "/v1/customers/acct_b/destinations",
            Value::Null,
        )
        .await;
    assert_eq!(
        (status, list["items"].as_array().map(Vec::len)),
        (200, Some(1)),
        "{list}"
    );
    let (status, _) = server
        .send_as(
            &b_token,
            "GET",
            &format!("/v1/customers/acct_a/destinations/{a_id}"),
            Value::Null,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = server
        .send_as(
            &b_token,
            "GET",
            &format!("/v1/customers/acct_b/destinations/{a_id}"),
            Value::Null,
        )
        .await;
    assert_eq!(status, 404, "A's destination id under B's customer");
    let (status, _) = server
        .send_as(
            &b_token,
            "DELETE",
            &format!("/v1/customers/acct_a/destinations/{a_id}"),
            Value::Null,
        )
        .await;
    assert_eq!(status, 404);
    let (status, attempts) = server
        .send_as(
            &b_token,
            "GET",
            &format!(
                "/v1/customers/acct_b/destinations/{}/attempts",
                b["id"].as_str().unwrap()
            ),
            Value::Null,
        )
        .await;
    assert_eq!(status, 200, "{attempts}");
    assert!(
        attempts["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["destination"] == b["status"]["name"])
    );

    // Every route of a customer destination, as the served document lists
    // them (so a new route is covered the day it is added): B's token on
    // A's destination, under A and under B, is not found, and changes nothing.
    let (_, doc) = server.get("/openapi.json").await;
    let mut tried = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        let Some(rest) =
            path.strip_prefix("/v1/customers/{customer_id}/destinations/{destination_id}")
        else {
            continue;
        };
        for method in item.as_object().unwrap().keys() {
            for owner in ["acct_a", "acct_b"] {
                let concrete = format!("/v1/customers/{owner}/destinations/{a_id}{rest}")
                    .replace("{event_id}", "evt_x")
                    .replace("{replay_id}", "rpl_x");
                let (status, body) = server
                    .send_as(
                        &b_token,
                        &method.to_uppercase(),
                        &concrete,
                        json!({"auth": {"mode": "NONE"}}),
                    )
                    .await;
                assert_eq!(
                    (status, body["error"]["code"].as_str()),
                    (404, Some("not_found")),
                    "{method} {concrete}: {body}"
                );
                tried += 1;
            }
        }
    }
    assert!(tried >= 28, "every route, both ways: {tried}");
    let (_, a_now) = server
        .get(&format!("/v1/customers/acct_a/destinations/{a_id}"))
        .await;
    assert_eq!(a_now["spec"], a["spec"], "A's destination untouched");
    assert_eq!(a_now["status"]["paused"], false);

    // B replays its own destination and follows it with its own token.
    let b_path = format!(
        "/v1/customers/acct_b/destinations/{}",
        b["id"].as_str().unwrap()
    );
    let (status, replay) = server
        .send_as(
            &b_token,
            "POST",
            &format!("{b_path}/replay"),
            json!({"fromSequence": 1}),
        )
        .await;
    assert_eq!(status, 202, "{replay}");
    let rid = replay["id"].as_str().unwrap().to_owned();
    let done = eventually(30, "B's replay done", async || {
        let (_, s) = server
            .send_as(
                &b_token,
                "GET",
                &format!("{b_path}/replays/{rid}"),
                Value::Null,
            )
            .await;
        (s["state"] == "done").then_some(s)
    })
    .await;
    assert_eq!(done["delivered"], 30, "only B's own events: {done}");
    let (status, _) = server
        .send_as(
            &b_token,
            "GET",
            &format!("/v1/customers/acct_a/destinations/{a_id}/replays/{rid}"),
            Value::Null,
        )
        .await;
    assert_eq!(status, 404);
    let feed_b_replayed = wait_for(&brokers, "feed-b", 60).await;
    assert!(
        customers_and_sequences(&feed_b_replayed)
            .iter()
            .all(|(c, _)| c == "acct_b")
    );

    // Bad input names the field, as `pushrail check` would.
    for (spec, field) in [
        (
            json!({"type": "KAFKA", "brokers": [brokers], "topic": "bad topic!"}),
            "topic",
        ),
        (
            json!({"type": "KINESIS", "streamArn": "arn:aws:kinesis:us-east-1:123456789012:stream/s",
                "auth": {"mode": "ASSUME_ROLE"}}),
            "auth.roleArn",
        ),
        (json!({"type": "SQS"}), "type"),
    ] {
        let (status, body) = server
            .post("/v1/customers/acct_a/destinations", &spec)
            .await;
        assert_eq!(
            (status, &body["error"]["field"]),
            (400, &json!(field)),
            "{body}"
        );
    }
    let (status, _) = server
        .post(
            "/v1/customers/acct_nobody/destinations",
            &kafka_page(&brokers, "feed-a"),
        )
        .await;
    assert_eq!(status, 404);

    // They run again after a restart.
    assert_eq!(server.stop(), Some(0), "{}", server.server_log());
    server.restart().await;
    post_batch(
        &server,
        (0..3)
            .map(|i| event("acct_b", &format!("later{i}")))
            .collect(),
    )
    .await;
    let feed_b = wait_for(&brokers, "feed-b", 63).await;
    assert_eq!(feed_b.len(), 63, "after the restart (30 + 30 replayed + 3)");

    // Replaced whole (here: another topic) while it runs: it goes on from
    // its cursor, nothing lost, nothing twice.
    let b_id = b["id"].as_str().unwrap();
    let (status, replaced) = server
        .put(
            &format!("/v1/customers/acct_b/destinations/{b_id}"),
            &kafka_page(&brokers, "feed-b2"),
        )
        .await;
    assert_eq!(status, 200, "{replaced}");
    post_batch(
        &server,
        (0..3)
            .map(|i| event("acct_b", &format!("moved{i}")))
            .collect(),
    )
    .await;
    let moved = customers_and_sequences(&wait_for(&brokers, "feed-b2", 3).await);
    assert_eq!(moved.len(), 3, "{moved:?}");
    let before = customers_and_sequences(&read_all(&brokers, "feed-b", 63));
    assert_eq!(before.len(), 63, "nothing more in the old topic");
    assert!(
        before.last().unwrap().1 < moved[0].1,
        "in log order across the switch"
    );

    // A patch with a wrong type is refused as such; one that would leave
    // the destination invalid is a conflict naming the field; neither
    // changes anything.
    let b_path = format!("/v1/customers/acct_b/destinations/{b_id}");
    let (status, body) = server
        .patch(&b_path, &json!({"auth": {"tls": "yes"}}))
        .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("auth.tls")),
        "{body}"
    );
    let (status, body) = server
        .patch(&b_path, &json!({"auth": {"mode": "SASL_SCRAM_SHA_512"}}))
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "patch_conflict", "{body}");
    let (status, body) = server
        .patch(&b_path, &json!({"type": "KINESIS", "topic": null}))
        .await;
    assert_eq!(status, 409, "{body}");
    let (_, unchanged) = server.get(&b_path).await;
    assert_eq!(unchanged["spec"], replaced["spec"], "{unchanged}");
    // `null` removes: the event type filter goes, and B gets every type.
    let (status, body) = server
        .patch(&b_path, &json!({"eventTypes": ["order.*"], "name": null}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["spec"].get("name").is_none(), "{body}");
    let mut other_type = event("acct_b", "typed0");
    other_type["eventType"] = json!("invoice.paid");
    post_batch(&server, vec![other_type, event("acct_b", "typed1")]).await;
    let typed = wait_for(&brokers, "feed-b2", 4).await;
    assert_eq!(typed.len(), 4, "only the order.* event: {typed:?}");
    let (status, _) = server.patch(&b_path, &json!({"eventTypes": null})).await;
    assert_eq!(status, 200);
    let mut other_type = event("acct_b", "typed2");
    other_type["eventType"] = json!("invoice.paid");
    post_batch(&server, vec![other_type]).await;
    let all_types = wait_for(&brokers, "feed-b2", 5).await;
    assert_eq!(all_types.len(), 5, "every type again");
    // A filter on the event's fields, evaluated in the host.
    let (status, body) = server
        .patch(
            &b_path,
            &json!({"filter": {"payload.tier": {"$in": ["gold"]}}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (mut gold, plain) = (event("acct_b", "gold"), event("acct_b", "plain"));
    gold["payload"]["tier"] = json!("gold");
    post_batch(&server, vec![plain, gold]).await;
    let filtered = wait_for(&brokers, "feed-b2", 6).await;
    assert_eq!(filtered.len(), 6, "{filtered:?}");
    assert_eq!(filtered[5].value["payload"]["tier"], "gold", "{filtered:?}");
    let (status, body) = server
        .patch(&b_path, &json!({"filter": {"payload.tier": {"$near": 1}}}))
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(
        body["error"]["field"], "filter.payload.tier.$near",
        "{body}"
    );

    // A deleted destination stops.
    let response = server
        .http
        .delete(server.url(&format!("/v1/customers/acct_a/destinations/{a_id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let (_, operator_view) = server.get("/v1/destinations").await;
    let name = a["status"]["name"].as_str().unwrap();
    assert!(!operator_view.to_string().contains(name), "{operator_view}");
    post_batch(
        &server,
        (0..3)
            .map(|i| event("acct_a", &format!("gone{i}")))
            .collect(),
    )
    .await;
    let feed_all = wait_for(&brokers, "feed-a-all", 38).await;
    assert_eq!(feed_all.len(), 38, "the other destination of A goes on");
    let feed_a = read_all(&brokers, "feed-a", 30);
    assert_eq!(feed_a.len(), 30, "nothing after the delete");
}
