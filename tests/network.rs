//! Plugins that reach the network (#14): a destination plugin
//! (`tests/plugins/fetcher`) sends requests with the SDK's client
//! (`pushrail:plugin/http`) or with plain wasi:http, and the host enforces `[destinations.network]` from the outside: only the
//! allowlist's origins, addresses checked after resolution (metadata and
//! private addresses refused unless named), no redirect followed, a
//! response size cap and a deadline. Every refusal has its code, the
//! receiver never sees a refused request, and the host stays up.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use std::net::SocketAddr;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::{StatusCode, Uri};
use axum::response::IntoResponse;
use serde_json::{Value, json};
use support::{PLUGIN_DIR, Server, event, eventually, post_batch};

/// A receiver on 127.0.0.1 that counts requests per path, and the client
/// ports (connections) they came from.
struct Receiver {
    port: u16,
    seen: Arc<Mutex<HashMap<String, usize>>>,
    connections: Arc<Mutex<std::collections::HashSet<u16>>>,
}

async fn receiver() -> Receiver {
    let seen: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let connections: Arc<Mutex<std::collections::HashSet<u16>>> = Arc::default();
    let (counted, peers) = (seen.clone(), connections.clone());
    let app = Router::new().fallback(
        move |ConnectInfo(peer): ConnectInfo<SocketAddr>, uri: Uri| {
            let (seen, peers) = (counted.clone(), peers.clone());
            async move {
                peers.lock().unwrap().insert(peer.port());
                *seen
                    .lock()
                    .unwrap()
                    .entry(uri.path().to_owned())
                    .or_default() += 1;
                match uri.path() {
                    "/big" => (StatusCode::OK, vec![b'x'; 2 << 20]).into_response(),
                    "/never" => {
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                        StatusCode::OK.into_response()
                    }
                    "/redirect" => (
                        StatusCode::FOUND,
                        [("location", "http://127.0.0.1:1/elsewhere")],
                    )
                        .into_response(),
                    _ => (StatusCode::OK, "ok").into_response(),
                }
            }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap()
    });
    Receiver {
        port,
        seen,
        connections,
    }
}

fn with_url(customer: &str, url: String) -> Value {
    let mut e = event(customer, customer);
    e["payload"]["url"] = json!(url);
    e
}

/// A fetcher destination `name`, with `batch` settings, that may reach
/// only the receiver at `port`.
fn fetcher_only_to(port: u16, name: &str, batch: &str) -> String {
    format!(
        "[plugins]\ndir = \"{PLUGIN_DIR}\"\n\n[[destinations]]\nname = \"{name}\"\nplugin = \"fetcher\"\nbatch = {{ {batch} }}\n[destinations.network]\nallow = [\"http://127.0.0.1:{port}\"]\n"
    )
}

async fn dead_letters(server: &Server, destination: &str, count: usize) -> Vec<Value> {
    eventually(30, &format!("{count} dead letters"), async || {
        let (_, body) = server
            .get(&format!("/v1/destinations/{destination}/dlq"))
            .await;
        let items = body["items"].as_array().cloned().unwrap_or_default();
        (items.len() >= count).then_some(items)
    })
    .await
}

async fn delivered(server: &Server, id: &str) -> Value {
    let trail = server.attempts_until_delivered(id).await;
    trail
        .into_iter()
        .find(|a| a["outcome"] == "delivered")
        .expect("a delivered attempt")
}

/// The SDK's client: `pushrail:plugin/http`, whole requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_network_policy_holds_from_the_plugins_side() {
    network_policy_holds("sdk").await;
}

/// A plugin author's own wasi:http code: the same policy, the same codes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_network_policy_holds_for_plain_wasi_http() {
    network_policy_holds("wasi-http").await;
}

/// Every refusal of `[destinations.network]` seen by the fetcher plugin
/// sending `via` one client or the other.
async fn network_policy_holds(via: &str) {
    let with_url = |customer: &str, url: String| {
        let mut e = with_url(customer, url);
        e["payload"]["via"] = json!(via);
        e
    };
    let receiver = receiver().await;
    let port = receiver.port;
    let rest = format!(
        r#"
[plugins]
dir = "{PLUGIN_DIR}"

[[destinations]]
name = "net"
plugin = "fetcher"
customers = ["acct_ip", "acct_named", "acct_other", "acct_tls", "acct_metadata", "acct_private", "acct_big", "acct_never", "acct_redirect", "acct_again"]
batch = {{ linger = "10ms" }}
[destinations.network]
allow = ["http://127.0.0.1:{port}", "http://receiver.test:{port}", "http://metadata.test:{port}", "http://internal.test:{port}"]
hosts = {{ "receiver.test" = "127.0.0.1", "metadata.test" = "169.254.169.254", "internal.test" = "10.0.0.1" }}
max_response_bytes = "1MiB"
timeout = "2s"

[[destinations]]
name = "offline"
plugin = "fetcher"
customers = ["acct_offline"]
batch = {{ linger = "10ms" }}
"#
    );
    let server = Server::start_with("", &rest).await;
    let local = |path: &str| format!("http://127.0.0.1:{port}{path}");
    let cases = [
        ("acct_ip", local("/ok"), None),
        (
            "acct_named",
            format!("http://receiver.test:{port}/ok"),
            None,
        ),
        (
            "acct_other",
            format!("http://other.example:{port}/ok"),
            Some("network_denied"),
        ),
        (
            "acct_tls",
            format!("https://127.0.0.1:{port}/ok"),
            Some("network_denied"),
        ),
        (
            "acct_metadata",
            format!("http://metadata.test:{port}/ok"),
            Some("network_denied"),
        ),
        (
            "acct_private",
            format!("http://internal.test:{port}/ok"),
            Some("network_denied"),
        ),
        ("acct_big", local("/big"), Some("response_too_large")),
        ("acct_never", local("/never"), Some("timeout")),
        ("acct_redirect", local("/redirect"), None),
    ];
    let posted = post_batch(
        &server,
        cases
            .iter()
            .map(|(customer, url, _)| with_url(customer, url.clone()))
            .collect(),
    )
    .await;
    let refused = cases.iter().filter(|c| c.2.is_some()).count();
    let dead = dead_letters(&server, "net", refused).await;
    assert_eq!(dead.len(), refused, "{dead:#?}");
    for ((customer, url, expected), result) in cases.iter().zip(&posted) {
        let id = result["id"].as_str().unwrap();
        match expected {
            Some(code) => {
                let letter = dead
                    .iter()
                    .find(|d| d["eventId"] == id)
                    .unwrap_or_else(|| panic!("{customer} ({url}) is not in the DLQ: {dead:#?}"));
                assert_eq!(letter["errorCode"], *code, "{customer} ({url}): {letter}");
            }
            None => {
                let attempt = delivered(&server, id).await;
                let status = if *customer == "acct_redirect" {
                    "302"
                } else {
                    "200"
                };
                assert_eq!(
                    attempt["coordinates"]["status"], status,
                    "{customer}: {attempt}"
                );
            }
        }
    }
    let seen = receiver.seen.lock().unwrap().clone();
    assert_eq!(
        seen.get("/ok"),
        Some(&2),
        "refused requests never arrive: {seen:?}"
    );
    assert_eq!(
        seen.get("/elsewhere"),
        None,
        "no redirect is followed: {seen:?}"
    );

    // A destination without [destinations.network] reaches nothing.
    let offline = post_batch(&server, vec![with_url("acct_offline", local("/ok"))]).await;
    let dead = dead_letters(&server, "offline", 1).await;
    assert_eq!(dead[0]["eventId"], offline[0]["id"]);
    assert_eq!(dead[0]["errorCode"], "network_denied");
    assert_eq!(receiver.seen.lock().unwrap().get("/ok"), Some(&2));

    // The host is up and still delivers.
    let (status, _) = server.get("/readyz").await;
    assert_eq!(status, 200);
    let again = post_batch(&server, vec![with_url("acct_again", local("/ok"))]).await;
    delivered(&server, again[0]["id"].as_str().unwrap()).await;
}

/// Connections are pooled: a destination's requests to one origin, one
/// after another and across batches, reuse a connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_to_one_origin_reuse_a_pooled_connection() {
    let receiver = receiver().await;
    let port = receiver.port;
    let rest = fetcher_only_to(port, "pooled", "linger = \"10ms\"");
    let server = Server::start_with("", &rest).await;
    let url = format!("http://127.0.0.1:{port}/ok");
    let mut posted = Vec::new();
    for round in 0..3 {
        let batch = (0..4)
            .map(|i| {
                let mut e = with_url("acct_1", url.clone());
                e["idempotencyKey"] = json!(format!("r{round}-{i}"));
                e
            })
            .collect();
        posted.extend(post_batch(&server, batch).await);
        delivered(&server, posted.last().unwrap()["id"].as_str().unwrap()).await;
    }
    assert_eq!(receiver.seen.lock().unwrap().get("/ok"), Some(&12));
    // hyper hands a connection back to its pool from the connection's own
    // task once the response has been read; a request made in that instant
    // opens a second one. Without the pool each request has its own (12).
    let connections = receiver.connections.lock().unwrap().len();
    assert!(
        connections <= 3,
        "12 requests over {connections} connections"
    );
    // Each request is in the destination's HTTP metrics.
    let metrics = server.metrics().await;
    for series in [
        "pushrail_http_requests_total{destination=\"pooled\",answer=\"2xx\"} 12",
        "pushrail_http_request_seconds_count{destination=\"pooled\"} 12",
    ] {
        assert!(metrics.contains(series), "{series} in:\n{metrics}");
    }
}

/// A plugin that sends and never reads an answer cannot pile requests up
/// in the host: past 1,024 uncollected ones in a call `send` is refused
/// with `too_many_requests`, nothing more is sent, those left out are
/// cancelled when the call returns, and the next call of the same instance
/// starts with none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_cannot_pile_up_unanswered_requests() {
    let receiver = receiver().await;
    let port = receiver.port;
    // One batch at a time: the next call is on the same instance.
    let rest = fetcher_only_to(port, "flood", "linger = \"10ms\", in_flight = 1");
    let server = Server::start_with("", &rest).await;
    let url = format!("http://127.0.0.1:{port}/ok");
    let mut flood = with_url("acct_1", url.clone());
    flood["payload"]["flood"] = json!(5000);
    let posted = post_batch(&server, vec![flood]).await;
    let dead = dead_letters(&server, "flood", 1).await;
    assert_eq!(dead[0]["eventId"], posted[0]["id"]);
    assert_eq!(dead[0]["errorCode"], "too_many_requests", "{}", dead[0]);
    // The accepted ones were cancelled when the call returned; none past
    // them was ever sent.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent = receiver.seen.lock().unwrap().get("/ok").copied();
    assert!(sent.unwrap_or(0) <= 1024, "{sent:?} requests arrived");
    let again = post_batch(&server, vec![with_url("acct_2", url)]).await;
    delivered(&server, again[0]["id"].as_str().unwrap()).await;
}

/// #14: a destination written outside Pushrail (examples/destinations/chat,
/// loaded from the plugin directory, not built in) delivers with only the
/// HTTP capability: each event's line arrives as `{"text": …}`, in order;
/// a 503 is retried with the destination's backoff.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_example_destination_delivers_with_only_the_http_capability() {
    let received: Arc<Mutex<Vec<Value>>> = Arc::default();
    let answered = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (log, count) = (received.clone(), answered.clone());
    let app = Router::new().fallback(move |body: axum::body::Bytes| {
        let (log, count) = (log.clone(), count.clone());
        async move {
            if count.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                return StatusCode::SERVICE_UNAVAILABLE;
            }
            log.lock()
                .unwrap()
                .push(serde_json::from_slice(&body).unwrap());
            StatusCode::OK
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let rest = format!(
        r#"
[plugins]
dir = "{PLUGIN_DIR}"

[[destinations]]
name = "ops"
plugin = "chat"
config = {{ url = "http://127.0.0.1:{port}/hooks/T000", text = "{{eventType}} for {{customerExternalId}}: {{payload.orderId}}" }}
batch = {{ linger = "10ms" }}
retry = {{ initial_wait = "100ms", max_wait = "1s", jitter = false }}
[destinations.network]
allow = ["http://127.0.0.1:{port}"]
"#
    );
    let server = Server::start_with("", &rest).await;
    let posted = post_batch(
        &server,
        (0..3)
            .map(|i| event("acct_1", &format!("ord_{i}")))
            .collect(),
    )
    .await;
    let lines = eventually(30, "three lines", async || {
        let lines = received.lock().unwrap().clone();
        (lines.len() >= 3).then_some(lines)
    })
    .await;
    assert_eq!(
        lines,
        [
            json!({"text": "order.completed for acct_1: ord_0"}),
            json!({"text": "order.completed for acct_1: ord_1"}),
            json!({"text": "order.completed for acct_1: ord_2"}),
        ]
    );
    let trail = server
        .attempts_until_delivered(posted[0]["id"].as_str().unwrap())
        .await;
    let outcomes: Vec<&str> = trail
        .iter()
        .map(|a| a["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["retryable", "delivered"], "{trail:?}");
}
