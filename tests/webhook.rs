//! The built-in `webhook` destination (#14) against a receiver that
//! verifies every request with the `standardwebhooks` package from PyPI
//! (tests/support/webhook_receiver.rs): every event once, per key in log
//! order, signatures valid (with both secrets while one rotates), answers
//! classified (5xx retried, `Retry-After` waited for, 4xx dead-lettered,
//! 410 pauses the destination), requests to several keys at once within
//! the host's cap, and the batch form.

mod support;

use std::collections::{HashMap, HashSet};
use std::process::Command;

use serde_json::{Value, json};
use support::webhook_receiver::WebhookReceiver;
use support::{BIN, PLUGIN_DIR, Server, event, eventually, post_batch};

/// Two signing secrets in the spec's notation (24 random-looking bytes each).
const NEW: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const OLD: &str = "whsec_c2Vjb25kIHNlY3JldCBvZiAyNCBieXRlcyE=";

fn destination(name: &str, url: &str, extra: &str) -> String {
    format!(
        r#"
[[destinations]]
name = "{name}"
plugin = "webhook"
partition_key = "customerExternalId"
batch = {{ linger = "10ms" }}
retry = {{ initial_wait = "50ms", max_wait = "10s", backoff = "constant", jitter = false }}
{extra}
"#
    ) + &format!("[destinations.network]\nallow = [\"{}\"]\n", origin(url))
}

fn origin(url: &str) -> String {
    let rest = url.split_once("://").unwrap().1;
    format!("http://{}", rest.split('/').next().unwrap())
}

fn scripted(customer: &str, key: &str, payload: Value) -> Value {
    let mut e = event(customer, key);
    for (k, v) in payload.as_object().unwrap() {
        e["payload"][k] = v.clone();
    }
    e
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_arrives_once_signed_and_in_order_per_key() {
    let receiver = WebhookReceiver::start(&[("current", NEW)], 30);
    let url = receiver.url("/in");
    let config = format!(
        r#"{}max_in_flight = 4
[destinations.secrets]
signing_secret = "{NEW}"
"#,
        destination(
            "hooks",
            &url,
            &format!(
                r#"config = {{ url = "{url}", max_in_flight = 8, headers = {{ "x-team" = "orders" }} }}"#
            )
        )
    );
    let server = Server::start_with("", &config).await;
    let mut events = Vec::new();
    for i in 0..15 {
        for c in 0..8 {
            let customer = format!("acct_{c}");
            let key = format!("k{c}-{i}");
            events.push(match (c, i) {
                (1, 2) => scripted(&customer, &key, json!({"script": [500, 503]})),
                (2, 1) => scripted(&customer, &key, json!({"script": [429], "retryAfter": 2})),
                (3, 4) => scripted(&customer, &key, json!({"script": [400]})),
                _ => event(&customer, &key),
            });
        }
    }
    let posted = post_batch(&server, events).await;
    let ids: Vec<String> = posted
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    let rank: HashMap<&str, usize> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    let accepted = eventually(90, "119 events accepted", async || {
        let accepted = receiver.accepted().await;
        (accepted.len() >= 119).then_some(accepted)
    })
    .await;

    // Once each, all but the one answered 400.
    let rejected = &ids[4 * 8 + 3];
    let got: Vec<&str> = accepted
        .iter()
        .map(|e| e["eventId"].as_str().unwrap())
        .collect();
    assert_eq!(got.len(), 119, "duplicates: {got:?}");
    let unique: HashSet<&str> = got.iter().copied().collect();
    let expected: HashSet<&str> = ids
        .iter()
        .map(String::as_str)
        .filter(|id| id != rejected)
        .collect();
    assert_eq!(unique, expected);
    // Per key in log order.
    let mut last: HashMap<&str, usize> = HashMap::new();
    for e in &accepted {
        let at = rank[e["eventId"].as_str().unwrap()];
        let customer = e["customerExternalId"].as_str().unwrap();
        if let Some(before) = last.insert(customer, at) {
            assert!(before < at, "{customer}: {before} arrived before {at}");
        }
    }

    // Every request verified with the secret, headers as configured.
    let (requests, most_at_once) = receiver.requests().await;
    for r in &requests {
        assert_eq!(r["verified"]["current"], true, "{r}");
        assert_eq!(r["headers"]["x-team"], "orders");
        assert_eq!(r["headers"]["content-type"], "application/json");
        assert_eq!(r["id"], r["body"]["eventId"], "webhook-id is the event id");
    }
    // Several keys at once, never more than network.max_in_flight.
    assert!(
        (2..=4).contains(&most_at_once),
        "{most_at_once} requests at once"
    );

    // 500 then 503 retried; the delivered attempt has status and response time.
    let flaky = &ids[2 * 8 + 1];
    let tried = server.attempts_until_delivered(flaky).await;
    let codes: Vec<&str> = tried
        .iter()
        .filter_map(|a| a["errorCode"].as_str())
        .collect();
    assert_eq!(codes, ["http_500", "http_503"], "{tried:?}");
    let delivered = tried.iter().find(|a| a["outcome"] == "delivered").unwrap();
    assert_eq!(delivered["coordinates"]["status"], "200");
    let response_ms: u64 = delivered["coordinates"]["responseMs"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(response_ms >= 30, "the receiver takes 30 ms: {response_ms}");

    // 429 with Retry-After: 2 waited 2 s, where the backoff is 50 ms.
    let throttled = &ids[8 + 2];
    let times: Vec<f64> = requests
        .iter()
        .filter(|r| r["id"] == json!(throttled))
        .map(|r| r["at"].as_f64().unwrap())
        .collect();
    assert_eq!(times.len(), 2, "{times:?}");
    assert!(
        times[1] - times[0] >= 1.9,
        "retried after {} s",
        times[1] - times[0]
    );

    // 400: dead-lettered, and its key's later events went on.
    let (_, dlq) = server.get("/v1/destinations/hooks/dlq").await;
    let items = dlq["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{dlq}");
    assert_eq!(items[0]["eventId"], json!(rejected));
    assert_eq!(items[0]["errorCode"], "http_400");
}

/// During a rotation both secrets sign, so a receiver that knows either
/// verifies; once the previous one expired, only the new one signs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotating_secret_signs_with_both_until_the_previous_expires() {
    let receiver = WebhookReceiver::start(&[("new", NEW), ("old", OLD)], 0);
    let rotating = |name: &str, until: &str| {
        let url = receiver.url(&format!("/{name}"));
        format!(
            r#"{}[destinations.secrets]
signing_secret = "{NEW}"
previous_signing_secret = "{OLD}"
[destinations.signing]
previous_expires_at = "{until}"
"#,
            destination(name, &url, &format!(r#"config = {{ url = "{url}" }}"#))
        )
    };
    let config =
        rotating("during", "2099-01-01T00:00:00Z") + &rotating("after", "2020-01-01T00:00:00Z");
    let server = Server::start_with("", &config).await;
    post_batch(
        &server,
        (0..4).map(|i| event("acct_r", &format!("r{i}"))).collect(),
    )
    .await;
    let (requests, _) = eventually(30, "8 requests", async || {
        let (requests, most) = receiver.requests().await;
        (requests.len() >= 8).then_some((requests, most))
    })
    .await;
    for r in &requests {
        let signatures = r["headers"]["webhook-signature"]
            .as_str()
            .unwrap()
            .split(' ')
            .count();
        match r["path"].as_str().unwrap() {
            "/during" => {
                assert_eq!(r["verified"], json!({"new": true, "old": true}), "{r}");
                assert_eq!(signatures, 2);
            }
            "/after" => {
                assert_eq!(r["verified"], json!({"new": true, "old": false}), "{r}");
                assert_eq!(signatures, 1);
            }
            other => panic!("unexpected path {other}"),
        }
    }
}

/// 410 Gone: the event is dead-lettered and the destination pauses itself,
/// with the reason in its status; nothing more is sent until it is resumed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gone_pauses_the_destination_with_its_reason() {
    let receiver = WebhookReceiver::start(&[("current", NEW)], 0);
    let url = receiver.url("/in");
    let config = format!(
        "{}[destinations.secrets]\nsigning_secret = \"{NEW}\"\n",
        destination("gone", &url, &format!(r#"config = {{ url = "{url}" }}"#))
    );
    let server = Server::start_with("", &config).await;
    let first = post_batch(
        &server,
        vec![scripted("acct_g", "g0", json!({"script": [410]}))],
    )
    .await;
    let status = eventually(30, "the destination paused", async || {
        let (_, status) = server.get("/v1/destinations/gone").await;
        (status["paused"] == true).then_some(status)
    })
    .await;
    assert_eq!(status["state"], "paused");
    let reason = status["pausedReason"].as_str().unwrap();
    assert!(reason.contains("410 Gone"), "{reason}");
    // The dead letter is written behind the batch that asked for the pause.
    let dlq = eventually(30, "the dead letter", async || {
        let (_, dlq) = server.get("/v1/destinations/gone/dlq").await;
        dlq["items"]
            .as_array()
            .is_some_and(|i| !i.is_empty())
            .then_some(dlq)
    })
    .await;
    assert_eq!(dlq["items"][0]["eventId"], first[0]["id"]);
    assert_eq!(dlq["items"][0]["errorCode"], "http_410");

    let later = post_batch(
        &server,
        (1..4).map(|i| event("acct_h", &format!("g{i}"))).collect(),
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    assert_eq!(
        receiver.requests().await.0.len(),
        1,
        "nothing sent while paused"
    );

    let (code, resumed) = server
        .post("/v1/destinations/gone/resume", &json!({}))
        .await;
    assert_eq!(code, 200, "{resumed}");
    assert!(resumed.get("pausedReason").is_none(), "{resumed}");
    let accepted = eventually(30, "the later events", async || {
        let accepted = receiver.accepted().await;
        (accepted.len() >= 3).then_some(accepted)
    })
    .await;
    let got: Vec<&Value> = accepted.iter().map(|e| &e["eventId"]).collect();
    let want: Vec<&Value> = later.iter().map(|r| &r["id"]).collect();
    assert_eq!(got, want);
}

/// `batch = true`: one signed request per batch, its body the events as a
/// JSON array in log order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_batch_form_posts_arrays() {
    let receiver = WebhookReceiver::start(&[("current", NEW)], 0);
    let url = receiver.url("/in");
    let config = format!(
        "{}[destinations.secrets]\nsigning_secret = \"{NEW}\"\n",
        destination(
            "arrays",
            &url,
            &format!(r#"config = {{ url = "{url}", batch = true }}"#)
        )
    );
    let server = Server::start_with("", &config).await;
    let events = (0..30)
        .map(|i| event(&format!("acct_{}", i % 3), &format!("b{i}")))
        .collect();
    let posted = post_batch(&server, events).await;
    let accepted = eventually(30, "30 events", async || {
        let accepted = receiver.accepted().await;
        (accepted.len() >= 30).then_some(accepted)
    })
    .await;
    let got: Vec<&Value> = accepted.iter().map(|e| &e["eventId"]).collect();
    let want: Vec<&Value> = posted.iter().map(|r| &r["id"]).collect();
    assert_eq!(got, want, "each once, in log order");
    let (requests, _) = receiver.requests().await;
    assert!(requests.len() < 30, "{} requests", requests.len());
    for r in &requests {
        assert!(r["body"].is_array());
        assert_eq!(r["verified"]["current"], true, "{r}");
        let events = r["body"].as_array().unwrap();
        if events.len() > 1 {
            let first = events[0]["eventId"].as_str().unwrap();
            let last = events[events.len() - 1]["eventId"].as_str().unwrap();
            assert_eq!(r["id"], json!(format!("{first}..{last}")));
        }
    }
}

/// A webhook without a signing secret is refused at startup with what to
/// do, not dead-lettered event by event; so is a malformed secret.
#[test]
fn a_webhook_without_a_usable_secret_is_refused_at_startup() {
    let refused = |rest: &str| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pushrail.toml");
        let config = format!(
            "[server]\nlisten = \"127.0.0.1:{}\"\n[storage]\ndata_dir = \"{}\"\n{rest}",
            support::free_port(),
            dir.path().join("data").display(),
        );
        std::fs::write(&path, config).unwrap();
        let output = Command::new(BIN)
            .args(["serve", "--config"])
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2));
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let unsigned = destination(
        "plain",
        "http://127.0.0.1:9/in",
        r#"config = { url = "http://127.0.0.1:9/in" }"#,
    );
    let err = refused(&unsigned);
    assert!(err.contains("no secrets.signing_secret"), "{err}");
    assert!(err.contains("config.signed = false"), "{err}");
    let malformed = format!("{unsigned}[destinations.secrets]\nsigning_secret = \"hunter2\"\n");
    let err = refused(&malformed);
    assert!(
        err.contains("secrets.signing_secret is not a signing secret"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "the secret is not echoed: {err}");
}

const OPERATOR: &str = "op-token-webhook-1";
const TOKEN_SECRET: &str = "customer-token-secret-0123456789abcdef";
/// A third secret, for the customer's rotation.
const NEWER: &str = "whsec_dGhpcmQgc2VjcmV0LCBhbHNvIDI0IGJ5dGVzIQ==";

/// #14: a customer adds a signed webhook over the API; its own URL's
/// origin is what it may reach (the operator opened nothing else but the
/// test receiver's address); it rotates its secret with a merge patch and
/// both signatures verify during the overlap. From the attacker's side: a
/// customer URL naming a private address (here another port of 127.0.0.1,
/// which the operator did not open) is refused in the host and never
/// reaches that address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_adds_a_signed_webhook_and_rotates_its_secret() {
    let receiver = WebhookReceiver::start(&[("first", NEW), ("second", NEWER)], 0);
    let private = WebhookReceiver::start(&[("first", NEW)], 0);
    let mut server = Server::start_with(
        &format!("api_tokens = [\"{OPERATOR}\"]"),
        &format!(
            "[security]\ntoken_secret = \"{TOKEN_SECRET}\"\n[plugins]\ncustomer_plugins = [\"webhook\"]\n[plugins.customer_network]\nallow = [\"http://127.0.0.1:{}\"]\n",
            receiver.port
        ),
    )
    .await;
    server.authorize(OPERATOR);
    for customer in ["acct_w", "acct_x"] {
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
    let (_, issued) = server.post("/v1/customers/acct_w/token", &json!({})).await;
    let token = issued["token"].as_str().unwrap().to_owned();
    let page = json!({"type": "PLUGIN", "plugin": "webhook", "partitionKey": "idempotencyKey",
        "config": {"url": receiver.url("/acct_w")}, "secrets": {"signing_secret": NEW}});
    let (status, created) = server
        .send_as(&token, "POST", "/v1/customers/acct_w/destinations", page)
        .await;
    assert_eq!(status, 201, "{created}");
    assert!(
        created.to_string().find("whsec_").is_none(),
        "the secret is never shown: {created}"
    );
    let id = created["id"].as_str().unwrap().to_owned();
    // acct_x points its webhook at an address the operator did not open.
    let attacker = json!({"type": "PLUGIN", "plugin": "webhook",
        "config": {"url": private.url("/steal"), "signed": false}});
    let (status, bad) = server
        .post("/v1/customers/acct_x/destinations", &attacker)
        .await;
    assert_eq!(status, 201, "{bad}");
    let bad_name = bad["id"].as_str().unwrap().to_ascii_lowercase();

    let first = post_batch(&server, vec![event("acct_w", "w0"), event("acct_x", "x0")]).await;
    let accepted = eventually(30, "acct_w's first event", async || {
        let accepted = receiver.accepted().await;
        (!accepted.is_empty()).then_some(accepted)
    })
    .await;
    assert_eq!(accepted[0]["eventId"], first[0]["id"]);
    let (requests, _) = receiver.requests().await;
    assert_eq!(
        requests[0]["verified"],
        json!({"first": true, "second": false})
    );

    // Rotation: the new secret signs, the old one beside it until it expires.
    let path = format!("/v1/customers/acct_w/destinations/{id}");
    let rotation = json!({"secrets": {"signing_secret": NEWER, "previous_signing_secret": NEW},
        "signing": {"previousExpiresAt": "2099-01-01T00:00:00Z"}});
    let (status, body) = server.send_as(&token, "PATCH", &path, rotation).await;
    assert_eq!(status, 200, "{body}");
    post_batch(&server, vec![event("acct_w", "w1")]).await;
    eventually(30, "the event after the rotation", async || {
        (receiver.accepted().await.len() >= 2).then_some(())
    })
    .await;
    let (requests, _) = receiver.requests().await;
    let last = requests.last().unwrap();
    assert_eq!(
        last["verified"],
        json!({"first": true, "second": true}),
        "{last}"
    );
    assert!(
        requests.iter().all(|r| r["path"] == "/acct_w"),
        "only its own URL"
    );

    // The attacker's event: refused before any connection, dead-lettered.
    let dead = eventually(30, "the attacker's event dead-lettered", async || {
        let (_, body) = server
            .get(&format!("/v1/destinations/{bad_name}/dlq"))
            .await;
        body["items"]
            .as_array()
            .and_then(|items| items.first().cloned())
    })
    .await;
    assert_eq!(dead["errorCode"], "network_denied", "{dead}");
    assert!(
        private.requests().await.0.is_empty(),
        "the private address saw nothing"
    );
}

/// A destination waiting for room for its plugin instance holds none of
/// its events: it reads them only once admitted (thousands of customers'
/// destinations waiting their turn would otherwise hold every unfinished
/// event in memory, and a copy converted for the plugin). With room for
/// one instance, a webhook held 3 s per request keeps it; meanwhile a
/// second customer's destination has events to deliver and none in
/// flight, and delivers them all, in order, once the webhook answers.
/// A destination with a batch out sends its next batch only on a lane
/// that has room for its instances: one that would have to wait for room
/// stays in the window, not in a batch holding a copy of its events. Here
/// a pipeline needs 2 of 3 instances, so a second lane cannot get room
/// while the first batch is out — though instances do not count as
/// scarce (one of three is free).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_waits_for_room_in_the_window_not_in_flight() {
    let receiver = WebhookReceiver::start(&[("current", NEW)], 3_000);
    let url = receiver.url("/in");
    let config = format!(
        "[plugins]\ndir = \"{PLUGIN_DIR}\"\nmax_instances = 3\n\
         [[transforms]]\nname = \"enrich\"\nplugin = \"enrich\"\nconfig = {{ set = {{ pipeline = \"pushrail\" }} }}\n{}\
         [destinations.secrets]\nsigning_secret = \"{NEW}\"\n",
        destination(
            "slow",
            &url,
            &format!(
                "transforms = [\"enrich\"]\npartition_key = \"idempotencyKey\"\n\
                 batch = {{ max_events = 1, in_flight = 4, linger = \"10ms\" }}\nconfig = {{ url = \"{url}\" }}"
            ),
        )
        .replace("partition_key = \"customerExternalId\"\nbatch = { linger = \"10ms\" }\n", "")
    );
    let server = Server::start_with("", &config).await;
    post_batch(&server, vec![event("acct_slow", "s-0")]).await;
    eventually(20, "the first batch under way", async || {
        let (_, slow) = server.get("/v1/destinations/slow").await;
        (slow["inFlight"] == 1).then_some(())
    })
    .await;
    post_batch(&server, vec![event("acct_slow", "s-1")]).await;
    // Time to read the second event and choose its batch, well within
    // the webhook's 3 s.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let (_, slow) = server.get("/v1/destinations/slow").await;
    assert_eq!(slow["lagEvents"], 2, "{slow}");
    assert_eq!(
        slow["inFlight"], 1,
        "the second batch waits for room unsent: {slow}"
    );
    let delivered = eventually(30, "both events at the webhook", async || {
        let accepted = receiver.accepted().await;
        (accepted.len() >= 2).then_some(accepted)
    })
    .await;
    let keys: Vec<&str> = delivered
        .iter()
        .map(|e| e["idempotencyKey"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["s-0", "s-1"], "once each");
    assert!(
        delivered
            .iter()
            .all(|e| e["metadata"]["pipeline"] == "pushrail"),
        "through the transform: {delivered:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_waiting_for_an_instance_holds_no_events() {
    let receiver = WebhookReceiver::start(&[("current", NEW)], 3_000);
    let url = receiver.url("/in");
    let config = format!(
        "[plugins]\nmax_instances = 1\n{}[destinations.secrets]\nsigning_secret = \"{NEW}\"\n\
         [[destinations]]\nname = \"waiting\"\nplugin = \"file\"\ncustomers = [\"acct_wait\"]\nbatch = {{ linger = \"10ms\" }}\n",
        destination(
            "slow",
            &url,
            &format!("customers = [\"acct_slow\"]\nconfig = {{ url = \"{url}\" }}"),
        )
    );
    let server = Server::start_with("", &config).await;
    post_batch(&server, vec![event("acct_slow", "s-0")]).await;
    eventually(20, "the webhook's request under way", async || {
        let (_, slow) = server.get("/v1/destinations/slow").await;
        (slow["inFlight"] == 1).then_some(())
    })
    .await;
    post_batch(
        &server,
        (0..5)
            .map(|i| event("acct_wait", &format!("w-{i}")))
            .collect(),
    )
    .await;
    // Time for the waiting destination to wake and (before) read and
    // launch its batch, well within the webhook's 3 s.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let (_, waiting) = server.get("/v1/destinations/waiting").await;
    let (_, slow) = server.get("/v1/destinations/slow").await;
    assert_eq!(slow["inFlight"], 1, "still held by the webhook: {slow}");
    assert_eq!(waiting["lagEvents"], 5, "{waiting}");
    assert_eq!(
        waiting["inFlight"], 0,
        "waiting for the one instance, it holds no batch: {waiting}"
    );
    let lines = eventually(30, "5 events in waiting.jsonl", async || {
        let lines = support::json_lines(&server, "waiting.jsonl");
        (lines.len() >= 5).then_some(lines)
    })
    .await;
    let keys: Vec<&str> = lines
        .iter()
        .map(|l| l["idempotencyKey"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["w-0", "w-1", "w-2", "w-3", "w-4"], "once, in order");
    assert_eq!(
        receiver.accepted().await.len(),
        1,
        "the webhook's event, once"
    );
}
