//! Delivery end to end: the real binary, real plugin components built from
//! this workspace, events posted over HTTP and read back from the files the
//! destinations wrote.

mod support;

use serde_json::{Value, json};
use support::{PLUGIN_DIR, Server, event, eventually, json_lines, post_batch};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

fn plugins(extra: &str) -> String {
    format!("[plugins]\ndir = \"{PLUGIN_DIR}\"\n{extra}\n")
}

/// A `misbehave` destination writing to `<name>.jsonl`.
/// `extra` may set `retry` or `batch` (default: a 10 ms linger).
fn misbehave(name: &str, settings: &str, extra: &str) -> String {
    let batch = if extra.contains("batch") {
        ""
    } else {
        "batch = { linger = \"10ms\" }"
    };
    format!(
        "[[destinations]]\nname = \"{name}\"\nplugin = \"misbehave\"\nfile = {{ path = \"{name}.jsonl\" }}\nconfig = {{ {settings} }}\n{batch}\n{extra}\n"
    )
}

async fn dlq(server: &Server, destination: &str) -> Vec<Value> {
    let (status, body) = server
        .get(&format!("/v1/destinations/{destination}/dlq"))
        .await;
    assert_eq!(status, 200, "{body}");
    body["items"].as_array().unwrap().clone()
}

async fn attempts(server: &Server, id: &str) -> Vec<Value> {
    let (status, body) = server.get(&format!("/v1/events/{id}/attempts")).await;
    assert_eq!(status, 200, "{body}");
    body["items"].as_array().unwrap().clone()
}

fn started_at(attempt: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(attempt["startedAt"].as_str().unwrap(), &Rfc3339).unwrap()
}

fn with_payload(mut e: Value, event_type: &str, payload: Value, metadata: Value) -> Value {
    e["eventType"] = json!(event_type);
    e["payload"] = payload;
    e["metadata"] = metadata;
    e
}

#[tokio::test]
async fn transforms_run_in_order_before_the_file_destination() {
    let rest = plugins("")
        + r#"
[[transforms]]
name = "redact-pii"
plugin = "redact"
config = { pointers = ["/payload/card/number", "/metadata/email"], replacement = "[REDACTED]" }

[[transforms]]
name = "orders-only"
plugin = "route"
config = { include = ["order.*"] }

[[transforms]]
name = "enrich"
plugin = "enrich"
config = { set = { pipeline = "pushrail" }, computed = ["eventFamily"] }

[[destinations]]
name = "local"
plugin = "file"
transforms = ["redact-pii", "orders-only", "enrich"]
batch = { linger = "10ms" }
"#;
    let server = Server::start_with("", &rest).await;
    let events: Vec<Value> = (0..6)
        .map(|i| {
            let kind = if i % 2 == 0 {
                "order.created"
            } else {
                "refund.issued"
            };
            with_payload(
                event(&format!("acct_{i}"), &format!("k{i}")),
                kind,
                json!({ "card": { "number": "4242424242424242", "brand": "visa" }, "n": i }),
                json!({ "email": "a@example.com", "tier": "pro" }),
            )
        })
        .collect();
    let results = post_batch(&server, events).await;

    let lines = eventually(20, "3 order events in local.jsonl", async || {
        let lines = json_lines(&server, "local.jsonl");
        (lines.len() >= 3).then_some(lines)
    })
    .await;
    assert_eq!(lines.len(), 3, "refunds were filtered out: {lines:#?}");
    let sequences: Vec<u64> = lines
        .iter()
        .map(|l| l["sequence"].as_u64().unwrap())
        .collect();
    assert_eq!(sequences, [1, 3, 5], "log order");
    for line in &lines {
        assert_eq!(line["eventType"], "order.created");
        assert_eq!(line["payload"]["card"]["number"], "[REDACTED]");
        assert_eq!(
            line["payload"]["card"]["brand"], "visa",
            "only the pointer is redacted"
        );
        assert_eq!(line["metadata"]["email"], "[REDACTED]");
        assert_eq!(line["metadata"]["pipeline"], "pushrail");
        assert_eq!(line["metadata"]["eventFamily"], "order");
        assert_eq!(
            line["eventId"],
            results[(line["sequence"].as_u64().unwrap() - 1) as usize]["id"]
        );
    }

    let refund = results[1]["id"].as_str().unwrap();
    let filtered = eventually(10, "the refund's attempt", async || {
        let a = attempts(&server, refund).await;
        (!a.is_empty()).then_some(a)
    })
    .await;
    assert_eq!(filtered[0]["outcome"], "filtered");
    let delivered = attempts(&server, results[0]["id"].as_str().unwrap()).await;
    assert_eq!(delivered[0]["outcome"], "delivered");
    assert_eq!(delivered[0]["coordinates"]["line"], "1");
    let plugins: Vec<&str> = delivered[0]["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert_eq!(
        plugins.len(),
        4,
        "destination and three transforms, with hashes: {plugins:?}"
    );
    assert!(plugins[0].starts_with("file@") && plugins[0].len() == "file@".len() + 64);
}

#[tokio::test]
async fn misbehaving_plugins_fail_their_batch_and_the_host_keeps_running() {
    let rest = plugins("time_limit = \"300ms\"\nmemory_limit = \"32MiB\"")
        + &misbehave("healthy", "mode = \"ok\"", "")
        + &misbehave("trap", "mode = \"trap\"", "")
        + &misbehave("loop", "mode = \"loop\"", "")
        + &misbehave("oom", "mode = \"oom\"", "")
        + &misbehave("wrong-count", "mode = \"wrong_count\"", "");
    let server = Server::start_with("", &rest).await;
    post_batch(
        &server,
        (0..3).map(|i| event("acct_1", &format!("k{i}"))).collect(),
    )
    .await;

    for (destination, code) in [
        ("trap", "plugin_trap"),
        ("loop", "plugin_timeout"),
        ("oom", "plugin_memory_limit"),
        ("wrong-count", "plugin_contract"),
    ] {
        let dead = eventually(
            30,
            &format!("3 dead letters in {destination}"),
            async || {
                let dead = dlq(&server, destination).await;
                (dead.len() >= 3).then_some(dead)
            },
        )
        .await;
        assert_eq!(dead.len(), 3, "{destination}: {dead:#?}");
        for letter in &dead {
            assert_eq!(letter["errorCode"], code, "{destination}: {letter}");
            assert!(!letter["errorMessage"].as_str().unwrap().is_empty());
            assert_eq!(
                letter["event"]["customerExternalId"], "acct_1",
                "the DLQ keeps the event"
            );
        }
    }
    assert_eq!(json_lines(&server, "healthy.jsonl").len(), 3);

    // The host is still up, and every destination takes the next event.
    let (status, _) = server.get("/healthz").await;
    assert_eq!(status, 200);
    post_batch(&server, vec![event("acct_2", "after")]).await;
    eventually(
        20,
        "the healthy destination gets the next event",
        async || (json_lines(&server, "healthy.jsonl").len() == 4).then_some(()),
    )
    .await;
    eventually(
        20,
        "a fresh trap instance fails the next event too",
        async || (dlq(&server, "trap").await.len() == 4).then_some(()),
    )
    .await;
}

#[tokio::test]
async fn retryable_failures_are_retried_with_backoff_then_delivered() {
    let retry = "retry = { max_retries = 5, initial_wait = \"200ms\", backoff = \"constant\", jitter = false }";
    let rest = plugins("") + &misbehave("flaky", "mode = \"fail_first\", times = 2", retry);
    let server = Server::start_with("", &rest).await;
    let results = post_batch(&server, vec![event("acct_1", "k1")]).await;
    let id = results[0]["id"].as_str().unwrap();

    eventually(20, "delivery after two failures", async || {
        (json_lines(&server, "flaky.jsonl").len() == 1).then_some(())
    })
    .await;
    let attempts = eventually(10, "three recorded attempts", async || {
        let a = attempts(&server, id).await;
        (a.len() == 3).then_some(a)
    })
    .await;
    let outcomes: Vec<&str> = attempts
        .iter()
        .map(|a| a["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["retryable", "retryable", "delivered"]);
    assert_eq!(attempts[0]["errorCode"], "Flaky");
    assert_eq!(
        attempts
            .iter()
            .map(|a| a["attempt"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        [1, 2, 3]
    );
    for pair in attempts.windows(2) {
        let gap = started_at(&pair[1]) - started_at(&pair[0]);
        assert!(
            gap >= time::Duration::milliseconds(195),
            "waited only {gap} between attempts"
        );
    }
    assert!(dlq(&server, "flaky").await.is_empty());
    let (rejected, _) = server.post("/v1/events", &json!({"eventType": 1})).await;
    assert_eq!(rejected, 400);
    let metrics = prometheus(&server).await;
    assert_eq!(metrics["pushrail_events_ingested_total"], 1.0);
    assert_eq!(
        metrics["pushrail_requests_rejected_total{code=\"invalid_type\"}"],
        1.0
    );
    assert_eq!(
        metrics["pushrail_delivery_events_total{destination=\"flaky\",outcome=\"retryable\"}"],
        2.0
    );
    assert_eq!(
        metrics["pushrail_delivery_events_total{destination=\"flaky\",outcome=\"delivered\"}"],
        1.0
    );
    assert_eq!(
        metrics["pushrail_destination_lag_events{destination=\"flaky\"}"],
        0.0
    );
    assert_eq!(
        metrics["pushrail_delivery_latency_seconds_count{destination=\"flaky\"}"],
        1.0
    );
    assert!(
        metrics["pushrail_delivery_latency_seconds_sum{destination=\"flaky\"}"] >= 0.4,
        "two 200 ms waits"
    );
    assert_eq!(
        metrics["pushrail_plugin_calls_total{destination=\"flaky\",plugin=\"misbehave\"}"], 3.0,
        "three deliver calls"
    );
    assert!(
        metrics["pushrail_plugin_call_seconds_total{destination=\"flaky\",plugin=\"misbehave\"}"]
            > 0.0
    );
    assert_eq!(
        metrics["pushrail_log_commit_seconds_count"], 1.0,
        "one ingest commit"
    );
    assert_eq!(
        metrics["pushrail_log_commit_seconds_bucket{le=\"+Inf\"}"],
        1.0
    );
    let (_, status) = server.get("/v1/destinations/flaky").await;
    assert_eq!(
        (status["cursor"].as_u64(), status["lagEvents"].as_u64()),
        (Some(2), Some(0)),
        "{status}"
    );
}

#[tokio::test]
async fn permanent_errors_and_exhausted_retries_go_to_the_dlq() {
    let quick = "retry = { max_retries = 2, initial_wait = \"50ms\", backoff = \"exponential\", jitter = false }";
    let rest = plugins("")
        + &misbehave("picky", "mode = \"permanent\", key = \"acct_bad\"", quick)
        + &misbehave("down", "mode = \"fail_first\", times = 1000", quick);
    let server = Server::start_with("", &rest).await;
    let results = post_batch(
        &server,
        vec![
            event("acct_ok", "a"),
            event("acct_bad", "b"),
            event("acct_ok", "c"),
        ],
    )
    .await;

    let delivered = eventually(20, "the good events", async || {
        let lines = json_lines(&server, "picky.jsonl");
        (lines.len() == 2).then_some(lines)
    })
    .await;
    assert_eq!(
        delivered
            .iter()
            .map(|l| l["key"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["a", "c"]
    );
    // The batch's progress is written just behind its delivery.
    let dead = eventually(20, "the dead letter", async || {
        let dead = dlq(&server, "picky").await;
        (!dead.is_empty()).then_some(dead)
    })
    .await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["eventId"], results[1]["id"]);
    assert_eq!(dead[0]["errorCode"], "Rejected");
    assert_eq!(dead[0]["attempts"], 1, "permanent errors are not retried");

    // An operator inspects and discards it; the attempt log says so.
    let id = results[1]["id"].as_str().unwrap();
    let (status, letter) = server
        .get(&format!("/v1/destinations/picky/dlq/{id}"))
        .await;
    assert_eq!(
        (status, letter["errorCode"].as_str()),
        (200, Some("Rejected")),
        "{letter}"
    );
    let response = server
        .http
        .delete(server.url(&format!("/v1/destinations/picky/dlq/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(dlq(&server, "picky").await.is_empty());
    let trail = attempts(&server, id).await;
    let outcomes: Vec<&str> = trail
        .iter()
        .filter(|a| a["destination"] == "picky")
        .map(|a| a["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["dead_lettered", "discarded"]);
    let (status, _) = server
        .get(&format!("/v1/destinations/picky/dlq/{id}"))
        .await;
    assert_eq!(status, 404);

    let exhausted = eventually(20, "retries exhausted", async || {
        let dead = dlq(&server, "down").await;
        (dead.len() == 3).then_some(dead)
    })
    .await;
    // Each event failed three times on its own account (the first attempt and
    // max_retries = 2). The second acct_ok event also waited behind the first
    // for three tries, which did not use its retries.
    let tries: Vec<u64> = exhausted
        .iter()
        .map(|l| l["attempts"].as_u64().unwrap())
        .collect();
    assert_eq!(tries, [3, 3, 6], "{exhausted:#?}");
    for letter in &exhausted {
        assert_eq!(letter["errorCode"], "Flaky");
        assert!(
            letter["errorMessage"]
                .as_str()
                .unwrap()
                .contains("gave up after 3 failed attempts"),
            "{letter}"
        );
    }
}

#[tokio::test]
async fn a_failing_key_waits_while_other_keys_flow() {
    let retry = "retry = { initial_wait = \"150ms\", backoff = \"constant\", jitter = false }";
    let rest = plugins("")
        + &misbehave(
            "ordered",
            "mode = \"fail_key\", key = \"acct_k\", times = 3",
            retry,
        );
    let server = Server::start_with("", &rest).await;
    let events: Vec<Value> = (0..10)
        .map(|i| {
            let customer = if i % 2 == 0 { "acct_k" } else { "acct_a" };
            event(customer, &format!("e{i}"))
        })
        .collect();
    post_batch(&server, events).await;

    let lines = eventually(30, "all ten events", async || {
        let lines = json_lines(&server, "ordered.jsonl");
        (lines.len() >= 10).then_some(lines)
    })
    .await;
    assert_eq!(lines.len(), 10, "each delivered once: {lines:#?}");
    let customers: Vec<&str> = lines
        .iter()
        .map(|l| l["customer"].as_str().unwrap())
        .collect();
    let first_k = customers.iter().position(|c| *c == "acct_k").unwrap();
    assert!(
        customers[..first_k].iter().all(|c| *c == "acct_a") && first_k == 5,
        "acct_a flowed while acct_k waited: {customers:?}"
    );
    for customer in ["acct_k", "acct_a"] {
        let sequences = sequences_of(&lines, Some(customer));
        let mut sorted = sequences.clone();
        sorted.sort_unstable();
        assert_eq!(sequences, sorted, "{customer} arrived in log order");
    }
}

/// Events [`busy_sink`] posts.
const EVENTS: usize = 3_000;

/// A sink taking EVENTS in batches of 10, with delivery under way: the
/// server and how many lines it has written so far.
async fn busy_sink() -> (Server, usize) {
    let rest = plugins("")
        + &misbehave(
            "sink",
            "mode = \"ok\"",
            "batch = { max_events = 10, linger = \"0ms\" }",
        );
    let server = Server::start_with("", &rest).await;
    for chunk in 0..(EVENTS / 500) {
        let events = (0..500)
            .map(|i| event(&format!("acct_{}", i % 7), &format!("c{chunk}-{i}")))
            .collect();
        post_batch(&server, events).await;
    }
    let seen = eventually(30, "delivery under way", async || {
        let n = json_lines(&server, "sink.jsonl").len();
        (n >= 100).then_some(n)
    })
    .await;
    (server, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_during_delivery_skips_nothing() {
    let (mut server, seen) = busy_sink().await;
    server.kill9();
    assert!(
        seen < EVENTS,
        "killed before delivery finished ({seen} of {EVENTS})"
    );

    server.restart().await;
    let lines = eventually(60, "every event delivered after the restart", async || {
        let lines = json_lines(&server, "sink.jsonl");
        let mut sequences = sequences_of(&lines, None);
        sequences.sort_unstable();
        sequences.dedup();
        (sequences.len() == EVENTS).then_some(lines)
    })
    .await;
    let mut sequences = sequences_of(&lines, None);
    sequences.sort_unstable();
    sequences.dedup();
    assert_eq!(
        sequences,
        (1..=EVENTS as u64).collect::<Vec<_>>(),
        "none skipped"
    );
}

/// Delivery writes a batch's progress while the next batch is out; a
/// graceful stop must still land the last write, so nothing is sent twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_stop_during_delivery_delivers_nothing_twice() {
    let (mut server, seen) = busy_sink().await;
    assert_eq!(server.stop(), Some(0), "{}", server.server_log());
    let delivered_before_restart = json_lines(&server, "sink.jsonl").len();
    assert!(
        delivered_before_restart < EVENTS,
        "stopped before delivery finished ({seen}, then {delivered_before_restart} of {EVENTS})"
    );

    server.restart().await;
    let lines = eventually(60, "every event delivered after the restart", async || {
        let lines = json_lines(&server, "sink.jsonl");
        (lines.len() >= EVENTS).then_some(lines)
    })
    .await;
    let mut sequences = sequences_of(&lines, None);
    sequences.sort_unstable();
    assert_eq!(
        sequences,
        (1..=EVENTS as u64).collect::<Vec<_>>(),
        "each event exactly once"
    );
}

#[tokio::test]
async fn a_plugin_file_overrides_the_built_in_of_the_same_name() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        format!("{PLUGIN_DIR}/misbehave.wasm"),
        dir.path().join("file.wasm"),
    )
    .unwrap();
    let rest = format!(
        "[plugins]\ndir = \"{}\"\n[[destinations]]\nname = \"local\"\nplugin = \"file\"\nconfig = {{ mode = \"ok\" }}\nbatch = {{ linger = \"10ms\" }}\n",
        dir.path().display()
    );
    let server = Server::start_with("", &rest).await;
    post_batch(&server, vec![event("acct_1", "k1")]).await;
    let lines = eventually(20, "the event in local.jsonl", async || {
        let lines = json_lines(&server, "local.jsonl");
        (!lines.is_empty()).then_some(lines)
    })
    .await;
    assert_eq!(
        lines[0]["customer"], "acct_1",
        "written by the overriding component: {}",
        lines[0]
    );
    assert!(
        lines[0].get("eventId").is_none(),
        "not by the built-in file plugin"
    );
}

/// Scrapes `/metrics` and checks every line is Prometheus text: `# HELP`,
/// `# TYPE`, or `name{labels} value`. Returns series → value.
async fn prometheus(server: &Server) -> std::collections::HashMap<String, f64> {
    let response = server
        .http
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = response.text().await.unwrap();
    let mut series = std::collections::HashMap::new();
    for line in text.lines() {
        if line.starts_with("# HELP ") || line.starts_with("# TYPE ") {
            continue;
        }
        let (name, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("not a sample: {line}"));
        let metric = name.split('{').next().unwrap();
        assert!(
            !metric.is_empty()
                && metric
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "bad metric name in {line}"
        );
        if let Some(labels) = name.strip_prefix(metric)
            && !labels.is_empty()
        {
            assert!(
                labels.starts_with('{') && labels.ends_with('}'),
                "bad labels in {line}"
            );
        }
        series.insert(
            name.to_owned(),
            value
                .parse::<f64>()
                .unwrap_or_else(|_| panic!("bad value in {line}")),
        );
    }
    series
}

#[tokio::test]
async fn a_paused_destination_holds_its_events_until_resumed() {
    let rest = plugins("") + &misbehave("held", "mode = \"ok\"", "");
    let server = Server::start_with("", &rest).await;
    let pause = server
        .http
        .post(server.url("/v1/destinations/held/pause"))
        .send()
        .await
        .unwrap();
    let (status, body) = support::read(pause).await;
    assert_eq!(
        (status, body["paused"].as_bool()),
        (200, Some(true)),
        "{body}"
    );

    post_batch(
        &server,
        (0..5).map(|i| event("acct_1", &format!("p{i}"))).collect(),
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(
        json_lines(&server, "held.jsonl").is_empty(),
        "nothing delivered while paused"
    );
    let (_, status) = server.get("/v1/destinations/held").await;
    assert_eq!(
        (status["lagEvents"].as_u64(), status["paused"].as_bool()),
        (Some(5), Some(true)),
        "{status}"
    );

    // A restart keeps the pause: an operator's decision outlives the process.
    let mut server = server;
    server.stop();
    server.restart().await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let (_, status) = server.get("/v1/destinations/held").await;
    assert_eq!(status["paused"], true, "{status}");
    assert!(
        json_lines(&server, "held.jsonl").is_empty(),
        "still nothing delivered"
    );

    let resume = server
        .http
        .post(server.url("/v1/destinations/held/resume"))
        .send()
        .await
        .unwrap();
    assert_eq!(resume.status().as_u16(), 200);
    eventually(20, "the held events after resume", async || {
        (json_lines(&server, "held.jsonl").len() == 5).then_some(())
    })
    .await;
    let (_, status) = server.get("/v1/destinations/held").await;
    assert_eq!(status["paused"], false);
    let missing = server
        .http
        .post(server.url("/v1/destinations/nope/pause"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status().as_u16(), 404);
}

#[tokio::test]
async fn a_stuck_key_with_a_long_backlog_does_not_hold_back_other_keys() {
    // Batches of 5 keep 20 movable events in memory; 30 events of the failing
    // key come first. The other key must still flow while they wait.
    let extra = "retry = { initial_wait = \"300ms\", backoff = \"constant\", jitter = false }\nbatch = { max_events = 5, linger = \"10ms\" }";
    let rest = plugins("")
        + &misbehave(
            "backlog",
            "mode = \"fail_key\", key = \"acct_k\", times = 3",
            extra,
        );
    let server = Server::start_with("", &rest).await;
    let mut events: Vec<Value> = (0..30).map(|i| event("acct_k", &format!("k{i}"))).collect();
    events.extend((0..10).map(|i| event("acct_a", &format!("a{i}"))));
    post_batch(&server, events).await;

    let lines = eventually(30, "all 40 events", async || {
        let lines = json_lines(&server, "backlog.jsonl");
        (lines.len() >= 40).then_some(lines)
    })
    .await;
    let customers: Vec<&str> = lines
        .iter()
        .map(|l| l["customer"].as_str().unwrap())
        .collect();
    let first_k = customers.iter().position(|c| *c == "acct_k").unwrap();
    assert_eq!(
        first_k, 10,
        "acct_a went first while acct_k waited: {customers:?}"
    );
    assert_eq!(
        sequences_of(&lines, Some("acct_k")),
        (1..=30).collect::<Vec<_>>(),
        "acct_k in log order, each once"
    );
}

/// The `sequence` of each delivered line, in file order, for one customer or all.
fn sequences_of(lines: &[Value], customer: Option<&str>) -> Vec<u64> {
    lines
        .iter()
        .filter(|l| customer.is_none_or(|c| l["customer"] == c))
        .map(|l| l["sequence"].as_u64().unwrap())
        .collect()
}

/// #17: the host and the plugins share one implementation of partition
/// keys and canonical JSON. What the host shows in a dry run (its own
/// rendering) is byte for byte what the built-in file plugin wrote (the
/// guest's), and the key the host orders by is the one a plugin computes.
#[tokio::test]
async fn the_host_and_a_plugin_render_the_same_record_and_key() {
    let rest = plugins("")
        + r#"
[[destinations]]
name = "local"
plugin = "file"
partition_key = "payload.orderId"
batch = { linger = "10ms" }
"#;
    let server = Server::start_with("", &rest).await;
    let mut sent = with_payload(
        event("acct_1", "k1"),
        "order.\"quoted\"",
        json!({"orderId": "ord_7", "nested": {"a": [1, 2.5, "x\u{e9}"]}, "n": null}),
        json!({"tier": "pro"}),
    );
    sent["correlationId"] = json!("req_\"1\"");
    post_batch(&server, vec![sent]).await;
    let written = eventually(20, "the line in local.jsonl", async || {
        let text = std::fs::read_to_string(server.data_dir().join("local.jsonl")).ok()?;
        (!text.is_empty()).then(|| text.trim_end().to_owned())
    })
    .await;
    let (status, dry) = server
        .post(
            "/v1/destinations/local/replay",
            &json!({"fromSequence": 1, "dryRun": true}),
        )
        .await;
    assert_eq!(status, 200, "{dry}");
    let item = &dry["items"][0];
    assert_eq!(item["partitionKey"], "ord_7");
    let rendered = serde_json::to_string(&item["records"][0]).unwrap();
    let reparsed: Value = serde_json::from_str(&written).unwrap();
    assert_eq!(item["records"][0], reparsed, "same record");
    assert_eq!(
        rendered.len(),
        written.len(),
        "same bytes: {rendered} vs {written}"
    );
}

/// #17: the SDK's shortest transform (a function and one macro line, as
/// its docs show) builds into a working component.
#[tokio::test]
async fn a_function_exported_with_one_macro_line_is_a_transform() {
    let rest = plugins("")
        + r#"
[[destinations]]
name = "local"
plugin = "file"
transforms = ["shout"]
batch = { linger = "10ms" }
"#;
    let server = Server::start_with("", &rest).await;
    post_batch(&server, vec![event("acct_1", "k1")]).await;
    let lines = eventually(20, "the line in local.jsonl", async || {
        let lines = json_lines(&server, "local.jsonl");
        (!lines.is_empty()).then_some(lines)
    })
    .await;
    assert_eq!(lines[0]["eventType"], "ORDER.COMPLETED");
}

/// #15: transforms of every contract run in one chain: `shout` (today's
/// SDK, an owned-event function copied out of its view), one built against
/// WIT 0.1.0 (per-event `transform`, `log.log`, never rebuilt), one against
/// 0.6.0 (`transform-batch` of records, answering `unchanged` and
/// `replaced`), then `enrich` and `redact` editing in place through views.
/// Each event carries every transform's mark, in chain order, and the old
/// plugin's log lines arrive.
#[tokio::test]
async fn transforms_of_every_contract_run_in_one_chain() {
    let rest = plugins("")
        + r#"
[[transforms]]
name = "enrich"
plugin = "enrich"
config = { set = { stage = "enrich" }, computed = ["eventFamily"] }

[[transforms]]
name = "redact"
plugin = "redact"
config = { pointers = ["/payload/orderId", "/metadata/contract"], replacement = "[REDACTED]" }

[[destinations]]
name = "local"
plugin = "file"
transforms = ["shout", "legacy-transform", "legacy-batch-transform", "enrich", "redact"]
batch = { linger = "10ms", max_events = 7 }
"#;
    let server = Server::start_with("", &rest).await;
    let events: Vec<Value> = (0..20)
        .map(|i| event(&format!("acct_{}", i % 3), &format!("k{i}")))
        .collect();
    post_batch(&server, events).await;
    let lines = eventually(20, "20 lines in local.jsonl", async || {
        let lines = json_lines(&server, "local.jsonl");
        (lines.len() >= 20).then_some(lines)
    })
    .await;
    assert_eq!(lines.len(), 20, "each event once");
    for line in &lines {
        // shout ran first: enrich (after the older ones) saw its upper case.
        assert_eq!(line["eventType"], "ORDER.COMPLETED", "{line}");
        assert_eq!(line["metadata"]["eventFamily"], "ORDER", "{line}");
        // 0.1.0 marked it, and redact (last) overwrote the mark.
        assert_eq!(line["metadata"]["contract"], "[REDACTED]", "{line}");
        assert_eq!(line["metadata"]["stage"], "enrich", "{line}");
        assert_eq!(line["payload"]["orderId"], "[REDACTED]", "{line}");
        assert_eq!(
            line["payload"]["amount"], 12900,
            "the rest as posted: {line}"
        );
        let odd = line["sequence"].as_u64().unwrap() % 2 == 1;
        assert_eq!(
            line["metadata"].get("batchContract").is_some(),
            odd,
            "0.6.0 replaced odd sequences and passed even ones unchanged: {line}"
        );
    }
    let log = server.server_log();
    assert!(
        log.contains("legacy transform saw evt_"),
        "the 0.1.0 log import works: {log}"
    );
}

/// Starts one destination of `plugin` writing to `out.txt` (plus `extra`
/// TOML in its table), posts two events of one key, and returns them with
/// the file's text once it has two lines.
async fn two_events_through(plugin: &str, extra: &str) -> (Server, Vec<Value>, String) {
    let rest = plugins("")
        + &format!(
            "[[destinations]]\nname = \"old\"\nplugin = \"{plugin}\"\nfile = {{ path = \"out.txt\" }}\nbatch = {{ linger = \"10ms\" }}\n{extra}"
        );
    let server = Server::start_with("", &rest).await;
    let posted = post_batch(&server, vec![event("acct_1", "a"), event("acct_1", "b")]).await;
    let text = eventually(20, "two lines in out.txt", async || {
        let text = std::fs::read_to_string(server.data_dir().join("out.txt")).unwrap_or_default();
        (text.lines().count() >= 2).then_some(text)
    })
    .await;
    (server, posted, text)
}

/// #15: a destination built against WIT 0.1.0 (its `file` and `log`
/// imports under their 0.1.0 names) still loads and delivers.
#[tokio::test]
async fn a_0_1_0_destination_still_delivers() {
    let (server, posted, text) = two_events_through("legacy-destination", "").await;
    let expected: Vec<String> = posted
        .iter()
        .map(|p| format!("{} order.completed", p["id"].as_str().unwrap()))
        .collect();
    assert_eq!(text.lines().collect::<Vec<_>>(), expected);
    let recorded = server
        .attempts_until_delivered(posted[1]["id"].as_str().unwrap())
        .await;
    assert_eq!(
        recorded[0]["coordinates"]["line"], "2",
        "the 0.1.0 plugin's coordinates are recorded: {recorded:?}"
    );
}

/// #14: a destination built against WIT 0.5.0, the version before
/// `http`, still loads and reaches the interfaces 0.5.0 added (`signing`,
/// `delivery`) under their 0.5.0 names.
#[tokio::test]
async fn a_0_5_0_destination_still_signs() {
    let secrets =
        "[destinations.secrets]\nsigning_secret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\n";
    let (server, posted, text) = two_events_through("legacy-signer", secrets).await;
    for (line, event) in text.lines().zip(&posted) {
        let (id, signature) = line.split_once(' ').expect("<id> <signature>");
        assert_eq!(id, event["id"].as_str().unwrap());
        let digest = signature.strip_prefix("v1,").expect("a v1 signature");
        assert_eq!(digest.len(), 44, "base64 of 32 bytes: {line}");
    }
    let recorded = server
        .attempts_until_delivered(posted[1]["id"].as_str().unwrap())
        .await;
    assert!(
        recorded[0]["coordinates"]["elapsedMs"].is_string(),
        "delivery.elapsed-ms@0.5.0 answered: {recorded:?}"
    );
}

/// Destination plugins render events without parsing their payload again,
/// so the host checks what a transform returns, and a transform cannot
/// break an event through the events it is lent either. From the plugin's
/// side (`spoil`): an event returned whose payload is not JSON, or JSON but
/// not an object, fails with `plugin_contract`; setting such a payload
/// through `views` is refused (`bad_edit`, the event unchanged; the plugin
/// fails it with that error); reading an event past the end of the call
/// traps the call (the event is isolated and dead-lettered alone). None of
/// them reaches the destination; their neighbours are delivered as posted.
#[tokio::test]
async fn a_transform_cannot_hand_a_destination_a_broken_event() {
    let rest = plugins("")
        + r#"
[[transforms]]
name = "broken"
plugin = "spoil"
config = { customer = "acct_broken", payload = "{oops" }

[[transforms]]
name = "array"
plugin = "spoil"
config = { customer = "acct_array", payload = "[1, 2]" }

[[transforms]]
name = "view-broken"
plugin = "spoil"
config = { customer = "acct_view_broken", payload = "{oops", through = "view" }

[[transforms]]
name = "view-array"
plugin = "spoil"
config = { customer = "acct_view_array", payload = "[1, 2]", through = "view" }

[[transforms]]
name = "reach"
plugin = "spoil"
config = { customer = "acct_reach", through = "past-the-end" }

[[destinations]]
name = "local"
plugin = "file"
file = { path = "local.jsonl" }
transforms = ["broken", "array", "view-broken", "view-array", "reach"]
batch = { linger = "10ms" }
"#;
    let server = Server::start_with("", &rest).await;
    let posted = post_batch(
        &server,
        vec![
            event("acct_ok", "a"),
            event("acct_broken", "b"),
            event("acct_array", "c"),
            event("acct_view_broken", "d"),
            event("acct_view_array", "e"),
            event("acct_reach", "f"),
            event("acct_ok", "g"),
        ],
    )
    .await;
    let dead = eventually(20, "five dead letters", async || {
        let dead = dlq(&server, "local").await;
        (dead.len() >= 5).then_some(dead)
    })
    .await;
    assert_eq!(dead.len(), 5, "{dead:?}");
    for (posted, code, says) in [
        (
            &posted[1],
            "plugin_contract",
            "payload is not a JSON object",
        ),
        (
            &posted[2],
            "plugin_contract",
            "payload is not a JSON object",
        ),
        (&posted[3], "bad_edit", "is not JSON"),
        (&posted[4], "bad_edit", "must stay a JSON object"),
        (&posted[5], "plugin_trap", "is not in this call's batch"),
    ] {
        let letter = dead
            .iter()
            .find(|l| l["eventId"] == posted["id"])
            .unwrap_or_else(|| panic!("{posted} dead-lettered: {dead:?}"));
        assert_eq!(letter["errorCode"], code, "{letter}");
        let message = letter["errorMessage"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{letter}");
    }
    let lines = eventually(20, "two lines in local.jsonl", async || {
        let lines = json_lines(&server, "local.jsonl");
        (lines.len() >= 2).then_some(lines)
    })
    .await;
    assert_eq!(lines.len(), 2, "{lines:?}");
    for (line, (posted, key)) in lines.iter().zip([(&posted[0], "a"), (&posted[6], "g")]) {
        assert_eq!(line["eventId"], posted["id"], "{line}");
        assert_eq!(
            line["payload"],
            serde_json::json!({"orderId": key, "amount": 12900}),
            "as posted: {line}"
        );
    }
}

/// `plugins.max_instances` caps live instances over all destinations: six
/// destinations of one customer each, each needing two instances (a
/// transform and the file plugin), share room for one pipeline at a time.
/// Each gives its instances back as soon as it waits while others need
/// them, so all deliver, each only its own customer's events, in order.
#[tokio::test]
async fn destinations_share_a_small_instance_cap_and_all_deliver() {
    let mut rest = plugins("max_instances = 2")
        + "[[transforms]]\nname = \"enrich\"\nplugin = \"enrich\"\nconfig = { set = { pipeline = \"pushrail\" } }\n";
    for i in 0..6 {
        rest += &format!(
            "[[destinations]]\nname = \"c{i}\"\nplugin = \"file\"\ncustomers = [\"acct_{i}\"]\ntransforms = [\"enrich\"]\nbatch = {{ linger = \"5ms\", max_events = 3 }}\n"
        );
    }
    let server = Server::start_with("", &rest).await;
    for round in 0..3 {
        let events = (0..24)
            .map(|i| event(&format!("acct_{}", i % 6), &format!("r{round}-{i}")))
            .collect();
        post_batch(&server, events).await;
    }
    for i in 0..6 {
        let file = format!("c{i}.jsonl");
        let lines = eventually(30, &format!("12 events in {file}"), async || {
            let lines = json_lines(&server, &file);
            (lines.len() >= 12).then_some(lines)
        })
        .await;
        assert_eq!(lines.len(), 12, "{file}: each event once");
        assert!(
            lines
                .iter()
                .all(|l| l["customerExternalId"] == format!("acct_{i}")
                    && l["metadata"]["pipeline"] == "pushrail"),
            "{file}: only its customer's, transformed: {lines:?}"
        );
        let sequences: Vec<u64> = lines
            .iter()
            .map(|l| l["sequence"].as_u64().unwrap())
            .collect();
        assert!(
            sequences.windows(2).all(|w| w[0] < w[1]),
            "{file}: log order {sequences:?}"
        );
    }
    // Cursors show each one finished, though it read only its own events.
    for i in 0..6 {
        let (_, status) = server.get(&format!("/v1/destinations/c{i}")).await;
        assert_eq!(status["lagEvents"], 0, "{status}");
        assert_eq!(status["cursor"], 73, "{status}");
    }
}

/// Destinations that could each keep four batches in flight (many keys,
/// small batches) share room for two instances: a destination takes a new
/// lane only while instances are not scarce, reuses its idle ones, and
/// gives them back before it waits, so none waits forever for room that
/// another's idle lanes hold. All deliver everything, in order per key.
#[tokio::test]
async fn batches_in_flight_share_a_small_instance_cap_and_all_deliver() {
    let mut rest = plugins("max_instances = 2");
    for i in 0..4 {
        rest += &format!(
            "[[destinations]]\nname = \"d{i}\"\nplugin = \"file\"\nbatch = {{ linger = \"5ms\", max_events = 3, in_flight = 4 }}\n"
        );
    }
    let server = Server::start_with("", &rest).await;
    for round in 0..3 {
        let events = (0..40)
            .map(|i| event(&format!("acct_{}", i % 20), &format!("r{round}-{i}")))
            .collect();
        post_batch(&server, events).await;
    }
    for i in 0..4 {
        let file = format!("d{i}.jsonl");
        let lines = eventually(60, &format!("120 events in {file}"), async || {
            let lines = json_lines(&server, &file);
            (lines.len() >= 120).then_some(lines)
        })
        .await;
        assert_eq!(lines.len(), 120, "{file}: each event once");
        let mut per_key: std::collections::HashMap<String, Vec<u64>> = Default::default();
        for line in &lines {
            per_key
                .entry(line["customerExternalId"].as_str().unwrap().to_owned())
                .or_default()
                .push(line["sequence"].as_u64().unwrap());
        }
        for (key, sequences) in per_key {
            assert!(
                sequences.windows(2).all(|w| w[0] < w[1]),
                "{file}: {key} in log order {sequences:?}"
            );
        }
    }
}
