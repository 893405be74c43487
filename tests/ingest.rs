//! End to end over HTTP against the real binary: ingest, read back,
//! restart, idempotency, bad input and authentication.

mod support;

use serde_json::{Value, json};
use support::{Server, event, eventually, sized_event};

#[tokio::test]
async fn posted_events_read_back_and_survive_a_restart() {
    let mut server = Server::start("").await;
    let (status, accepted) = server.post("/v1/events", &event("acct_1", "order-1")).await;
    assert_eq!(status, 202, "{accepted}");
    assert_eq!(accepted["sequence"], 1);
    assert_eq!(accepted["duplicate"], false);
    let id = accepted["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("evt_"));

    let (status, stored) = server.get(&format!("/v1/events/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(stored["id"], id.as_str());
    assert_eq!(stored["sequence"], 1);
    assert!(stored["receivedAt"].as_str().unwrap().ends_with('Z'));
    let expected = event("acct_1", "order-1");
    for (key, value) in expected.as_object().unwrap() {
        assert_eq!(&stored[key], value, "field {key}");
    }

    assert_eq!(
        server.stop(),
        Some(0),
        "SIGTERM exits cleanly:\n{}",
        server.server_log()
    );
    server.restart().await;
    let (status, again) = server.get(&format!("/v1/events/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(again, stored);
    let (_, next) = server.post("/v1/events", &event("acct_1", "order-2")).await;
    assert_eq!(next["sequence"], 2, "sequences continue after a restart");

    let (status, missing) = server.get("/v1/events/evt_nope").await;
    assert_eq!(
        (status, missing["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
}

#[tokio::test]
async fn a_batch_is_stored_in_order_and_answers_per_event() {
    let server = Server::start("").await;
    let events: Vec<Value> = (0..5)
        .map(|i| event(&format!("acct_{i}"), &format!("k{i}")))
        .collect();
    let (status, body) = server
        .post("/v1/events/batch", &json!({ "events": events }))
        .await;
    assert_eq!(status, 202, "{body}");
    let results = body["results"].as_array().unwrap();
    let sequences: Vec<u64> = results
        .iter()
        .map(|r| r["sequence"].as_u64().unwrap())
        .collect();
    assert_eq!(sequences, [1, 2, 3, 4, 5]);
    for (i, result) in results.iter().enumerate() {
        let (_, stored) = server
            .get(&format!("/v1/events/{}", result["id"].as_str().unwrap()))
            .await;
        assert_eq!(stored["idempotencyKey"], format!("k{i}"));
    }
}

#[tokio::test]
async fn idempotency_keys_dedupe_per_source() {
    let server = Server::start("").await;
    let (_, first) = server
        .post("/v1/events", &event("acct_1", "same-key"))
        .await;
    let (status, second) = server
        .post("/v1/events", &event("acct_1", "same-key"))
        .await;
    assert_eq!(status, 202);
    assert_eq!(second["id"], first["id"]);
    assert_eq!(second["sequence"], first["sequence"]);
    assert_eq!(second["duplicate"], true);

    let mut other = event("acct_1", "same-key");
    other["source"] = json!("shipping-service");
    let (_, third) = server.post("/v1/events", &other).await;
    assert_eq!(third["duplicate"], false);
    assert_ne!(third["id"], first["id"]);

    // Exactly two events are stored: the next new one gets sequence 3.
    let (_, probe) = server.post("/v1/events", &event("acct_1", "fresh")).await;
    assert_eq!(probe["sequence"], 3);
}

/// A body, the status and error code it must get, and the field it must name.
struct Case {
    name: &'static str,
    path: &'static str,
    content_type: &'static str,
    body: Vec<u8>,
    status: u16,
    code: &'static str,
    field: Option<&'static str>,
}

fn json_case(
    name: &'static str,
    body: Value,
    status: u16,
    code: &'static str,
    field: Option<&'static str>,
) -> Case {
    Case {
        name,
        path: "/v1/events",
        content_type: "application/json",
        body: serde_json::to_vec(&body).unwrap(),
        status,
        code,
        field,
    }
}

fn without(field: &str) -> Value {
    let mut e = event("acct_1", "k");
    e.as_object_mut().unwrap().remove(field);
    e
}

fn with(field: &str, value: Value) -> Value {
    let mut e = event("acct_1", "k");
    e[field] = value;
    e
}

#[tokio::test]
async fn bad_input_gets_a_clear_4xx_and_stores_nothing() {
    let server = Server::start("body_limit = \"2MiB\"\nmax_batch_events = 10").await;
    let mut cases = vec![
        Case {
            name: "malformed JSON",
            path: "/v1/events",
            content_type: "application/json",
            body: b"{\"eventType\": \"x\",".to_vec(),
            status: 400,
            code: "malformed_json",
            field: None,
        },
        Case {
            name: "empty body",
            path: "/v1/events",
            content_type: "application/json",
            body: Vec::new(),
            status: 400,
            code: "malformed_json",
            field: None,
        },
        Case {
            name: "not UTF-8",
            path: "/v1/events",
            content_type: "application/json",
            body: vec![b'{', 0xff, 0xfe, b'}'],
            status: 400,
            code: "malformed_json",
            field: None,
        },
        Case {
            name: "wrong content type",
            path: "/v1/events",
            content_type: "text/plain",
            body: serde_json::to_vec(&event("acct_1", "k")).unwrap(),
            status: 415,
            code: "unsupported_media_type",
            field: None,
        },
        Case {
            name: "oversize body",
            path: "/v1/events",
            content_type: "application/json",
            body: serde_json::to_vec(&sized_event("acct_1", "k", 3 << 20)).unwrap(),
            status: 413,
            code: "body_too_large",
            field: None,
        },
        json_case(
            "array instead of object",
            json!([1, 2]),
            400,
            "invalid_type",
            None,
        ),
        json_case(
            "oversize event",
            sized_event("acct_1", "k", (1 << 20) + 100),
            413,
            "event_too_large",
            None,
        ),
        json_case(
            "bad timestamp",
            with("occurredAt", json!("26/05/2026")),
            400,
            "invalid_value",
            Some("occurredAt"),
        ),
        json_case(
            "timestamp as number",
            with("occurredAt", json!(1_780_000_000)),
            400,
            "invalid_type",
            Some("occurredAt"),
        ),
        json_case(
            "eventType as number",
            with("eventType", json!(7)),
            400,
            "invalid_type",
            Some("eventType"),
        ),
        json_case(
            "empty source",
            with("source", json!("")),
            400,
            "invalid_value",
            Some("source"),
        ),
        json_case(
            "payload as array",
            with("payload", json!([1])),
            400,
            "invalid_type",
            Some("payload"),
        ),
        json_case(
            "metadata as string",
            with("metadata", json!("pro")),
            400,
            "invalid_type",
            Some("metadata"),
        ),
        json_case(
            "unknown field",
            with("eventtype", json!("x")),
            400,
            "unknown_field",
            Some("eventtype"),
        ),
        json_case(
            "batch with one bad item",
            json!({"events": [event("acct_1", "a"), without("occurredAt"), event("acct_1", "c")]}),
            400,
            "invalid_batch",
            Some("events[1].occurredAt"),
        ),
        json_case(
            "empty batch",
            json!({"events": []}),
            400,
            "invalid_value",
            Some("events"),
        ),
        json_case(
            "batch over max_batch_events",
            json!({"events": (0..11).map(|i| event("acct_1", &format!("k{i}"))).collect::<Vec<_>>()}),
            400,
            "too_many_events",
            Some("events"),
        ),
        json_case(
            "batch without events",
            json!({"items": []}),
            400,
            "unknown_field",
            Some("items"),
        ),
    ];
    for field in [
        "eventType",
        "occurredAt",
        "source",
        "customerExternalId",
        "idempotencyKey",
    ] {
        let name = Box::leak(format!("missing {field}").into_boxed_str());
        let field: &'static str = Box::leak(field.to_owned().into_boxed_str());
        cases.push(json_case(
            name,
            without(field),
            400,
            "missing_field",
            Some(field),
        ));
    }
    for case in cases.iter_mut().filter(|c| c.name.contains("batch")) {
        case.path = "/v1/events/batch";
    }

    for case in cases {
        let (status, body) = server
            .post_raw(case.path, case.content_type, case.body)
            .await;
        assert_eq!(status, case.status, "{}: {body}", case.name);
        let error = &body["error"];
        assert_eq!(error["code"], case.code, "{}: {body}", case.name);
        assert_eq!(error["field"].as_str(), case.field, "{}: {body}", case.name);
        assert!(
            !error["message"].as_str().unwrap().is_empty(),
            "{}",
            case.name
        );
        if case.code == "invalid_batch" {
            assert_eq!(error["items"][0]["index"], 1, "{body}");
            assert_eq!(error["items"].as_array().unwrap().len(), 1, "{body}");
        }
    }

    // Nothing above was stored: the first valid event gets sequence 1.
    let (status, accepted) = server.post("/v1/events", &event("acct_1", "valid")).await;
    assert_eq!(
        (status, accepted["sequence"].as_u64()),
        (202, Some(1)),
        "{accepted}"
    );
    assert!(server.server_log().lines().all(|l| !l.contains("panicked")));
}

#[tokio::test]
async fn unknown_routes_answer_json_404() {
    let server = Server::start("").await;
    let (status, body) = server.get("/v2/nothing").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
}

#[tokio::test]
async fn bearer_tokens_guard_everything_but_health_checks() {
    let server = Server::start("api_tokens = [\"s3cret-token\", \"second-token\"]").await;
    let post = |token: Option<&'static str>| {
        let mut request = server
            .http
            .post(server.url("/v1/events"))
            .json(&event("acct_1", "k"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    for token in [None, Some("wrong"), Some("s3cret-toke")] {
        let response = post(token).await.unwrap();
        assert_eq!(response.status().as_u16(), 401, "{token:?}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        let (_, body) = support::read(response).await;
        assert_eq!(body["error"]["code"], "unauthorized");
        assert!(
            !body.to_string().contains("s3cret"),
            "the token is never echoed"
        );
    }
    let (status, _) = server.get("/v1/events/evt_x").await;
    assert_eq!(status, 401);
    let (status, _) = server.get("/healthz").await;
    assert_eq!(status, 200);

    let (status, accepted) = support::read(post(Some("second-token")).await.unwrap()).await;
    assert_eq!(status, 202);
    assert_eq!(
        accepted["sequence"], 1,
        "the rejected requests stored nothing"
    );
    assert!(
        !server.server_log().contains("s3cret-token"),
        "tokens are never logged"
    );
}

/// Values with JSON escapes (a quote, a backslash) are stored escaped; the
/// log's own lookups used to read them as borrowed text and failed: a
/// repeated idempotency key with a quote answered 500, a replay over an
/// event type with a quote failed, and retention stopped at such an event.
#[tokio::test]
async fn keys_and_types_with_quotes_and_backslashes_work_everywhere() {
    let server = Server::start_with(
        "",
        "retention = \"1s\"\nidempotency_window = \"1s\"\nretention_interval = \"200ms\"\n",
    )
    .await;
    let mut tricky = event("acct_\"1\"", "key \"quoted\" \\ back");
    tricky["eventType"] = json!("order.\"completed\"");
    tricky["source"] = json!("billing\\eu");
    let (status, first) = server.post("/v1/events", &tricky).await;
    assert_eq!(status, 202, "{first}");
    let (status, again) = server.post("/v1/events", &tricky).await;
    assert_eq!(status, 202, "{again}");
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["id"], first["id"]);
    // With no destination nothing holds it back: retention deletes it.
    let id = first["id"].as_str().unwrap().to_owned();
    eventually(20, "the event deleted by retention", async || {
        let (status, _) = server.get(&format!("/v1/events/{id}")).await;
        (status == 404).then_some(())
    })
    .await;
}

/// A client that keeps its connection gets cheaper requests (#15): the same
/// port serves HTTP/2 without TLS (h2c, prior knowledge) with many requests
/// at once on one connection, and HTTP/1.1 requests sent back to back.
#[tokio::test]
async fn http2_and_pipelined_http1_share_the_port() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let server = Server::start("").await;

    // HTTP/2: 100 events posted at once by one client (one connection).
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let posts = (0..100).map(|i| {
        let (h2, url) = (h2.clone(), server.url("/v1/events"));
        async move {
            let response = h2
                .post(url)
                .json(&event("acct_h2", &format!("h2-{i}")))
                .send()
                .await
                .unwrap();
            assert_eq!(response.version(), reqwest::Version::HTTP_2);
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap();
            assert_eq!(status, 202, "{body}");
            body["id"].as_str().unwrap().to_owned()
        }
    });
    let ids = futures_util::future::join_all(posts).await;
    for (i, id) in ids.iter().enumerate() {
        let response = h2
            .get(server.url(&format!("/v1/events/{id}")))
            .send()
            .await
            .unwrap();
        let stored: Value = response.json().await.unwrap();
        assert_eq!(stored["idempotencyKey"], format!("h2-{i}"), "{stored}");
    }

    // HTTP/1.1: three requests in one write, answered in the order sent.
    let mut tcp = tokio::net::TcpStream::connect(format!("127.0.0.1:{}", server.port))
        .await
        .unwrap();
    let mut requests = Vec::new();
    for i in 0..3 {
        let body = event("acct_h1", &format!("pipelined-{i}")).to_string();
        let close = if i == 2 { "Connection: close\r\n" } else { "" };
        requests.extend_from_slice(
            format!(
                "POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{close}Content-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        );
    }
    tcp.write_all(&requests).await.unwrap();
    let mut answers = String::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(20),
        tcp.read_to_string(&mut answers),
    )
    .await
    .expect("answered and closed")
    .unwrap();
    let statuses: Vec<&str> = answers
        .match_indices("HTTP/1.1 ")
        .map(|(at, _)| &answers[at..at + answers[at..].find("\r\n").unwrap()])
        .collect();
    assert_eq!(statuses, ["HTTP/1.1 202 Accepted"; 3], "{answers}");
    let sequences: Vec<u64> = answers
        .match_indices("\"sequence\":")
        .map(|(at, key)| {
            let rest = &answers[at + key.len()..];
            let end = rest.find(|c: char| !c.is_ascii_digit()).unwrap();
            rest[..end].parse().unwrap()
        })
        .collect();
    assert_eq!(sequences.len(), 3, "{answers}");
    assert!(
        sequences.windows(2).all(|w| w[0] < w[1]),
        "stored in the order sent: {sequences:?}"
    );
}

/// The HTTP/2 settings a client sees follow the config: requests at once per
/// connection, and flow-control windows sized to each connection's share of
/// `max_body_memory`; `http2 = false` serves HTTP/1.1 only.
#[tokio::test]
async fn http2_follows_the_server_limits_and_can_be_turned_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let server = Server::start(
        "max_connections = 16\nmax_body_memory = \"16MiB\"\nmax_streams_per_connection = 7",
    )
    .await;
    let mut tcp = tokio::net::TcpStream::connect(format!("127.0.0.1:{}", server.port))
        .await
        .unwrap();
    // The client preface and an empty SETTINGS frame.
    tcp.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .await
        .unwrap();
    let mut header = [0u8; 9];
    tcp.read_exact(&mut header).await.unwrap();
    let length = u32::from_be_bytes([0, header[0], header[1], header[2]]) as usize;
    assert_eq!(
        (header[3], header[4]),
        (4, 0),
        "the server's SETTINGS first"
    );
    let mut payload = vec![0u8; length];
    tcp.read_exact(&mut payload).await.unwrap();
    let settings: std::collections::HashMap<u16, u32> = payload
        .chunks(6)
        .map(|s| {
            (
                u16::from_be_bytes([s[0], s[1]]),
                u32::from_be_bytes([s[2], s[3], s[4], s[5]]),
            )
        })
        .collect();
    // SETTINGS_MAX_CONCURRENT_STREAMS, SETTINGS_INITIAL_WINDOW_SIZE: 16 MiB / 16.
    assert_eq!(settings.get(&3), Some(&7), "{settings:?}");
    assert_eq!(settings.get(&4), Some(&(1 << 20)), "{settings:?}");

    let http1_only = Server::start("http2 = false").await;
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    assert!(
        h2.get(http1_only.url("/healthz")).send().await.is_err(),
        "no HTTP/2 when it is off"
    );
    let (status, _) = http1_only.get("/healthz").await;
    assert_eq!(status, 200);
}
