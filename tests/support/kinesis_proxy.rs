//! A small fault-injecting HTTP proxy in front of a real Kinesis API server.
//! For PutRecords it removes the records a rule picks, forwards the rest,
//! and merges ProvisionedThroughputExceededException entries for the removed
//! ones into the real response — a real partial failure as Kinesis reports
//! it. It also counts calls, can hold each PutRecords call for a while (a
//! far-away endpoint), and can refuse connections (server down).
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// Decides whether to fail a record: (its index in the call, its decoded
/// data, how many times the proxy has seen this record before).
pub type Rule = Box<dyn Fn(usize, &Value, u32) -> bool + Send + Sync>;

/// One PutRecords call as the proxy saw it.
#[derive(Debug, Clone)]
pub struct Call {
    pub records: usize,
    pub bytes: usize,
    pub failed: usize,
}

struct Shared {
    upstream: String,
    rule: Rule,
    seen: Mutex<HashMap<String, u32>>,
    calls: Mutex<Vec<Call>>,
    headers: Mutex<Vec<HeaderMap>>,
    bodies: Mutex<Vec<Vec<u8>>>,
    http: reqwest::Client,
    /// How long each PutRecords call is held before it is forwarded.
    delay: Duration,
    /// PutRecords calls being handled now, and the most at once.
    open: AtomicUsize,
    most_open: AtomicUsize,
}

pub struct Proxy {
    pub port: u16,
    shared: Arc<Shared>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl Proxy {
    pub async fn start(upstream: &str, rule: Rule) -> Self {
        Self::start_delayed(upstream, rule, Duration::ZERO).await
    }

    /// Holds each PutRecords call for `delay` before forwarding it.
    pub async fn start_delayed(upstream: &str, rule: Rule, delay: Duration) -> Self {
        let shared = Arc::new(Shared {
            delay,
            open: AtomicUsize::new(0),
            most_open: AtomicUsize::new(0),
            upstream: upstream.to_owned(),
            rule,
            seen: Mutex::default(),
            calls: Mutex::default(),
            headers: Mutex::default(),
            bodies: Mutex::default(),
            http: reqwest::Client::new(),
        });
        let mut proxy = Self {
            port: super::free_port(),
            shared,
            server: None,
        };
        proxy.up().await;
        proxy
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stops listening: connections are refused, as when Kinesis is unreachable.
    pub fn down(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }

    /// Listens again on the same port.
    pub async fn up(&mut self) {
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(self.shared.clone());
        let listener = loop {
            match tokio::net::TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(l) => break l,
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
            }
        };
        self.server = Some(tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        }));
    }

    /// The most PutRecords calls the proxy was handling at once.
    pub fn most_concurrent_calls(&self) -> usize {
        self.shared.most_open.load(Ordering::SeqCst)
    }

    /// PutRecords calls the proxy is handling now.
    pub fn concurrent_calls(&self) -> usize {
        self.shared.open.load(Ordering::SeqCst)
    }

    pub fn calls(&self) -> Vec<Call> {
        self.shared.calls.lock().unwrap().clone()
    }

    /// Bodies of every request that is not PutRecords (e.g. STS calls).
    pub fn bodies(&self) -> Vec<String> {
        self.shared
            .bodies
            .lock()
            .unwrap()
            .iter()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect()
    }

    /// Headers of every request, for checking signatures and tokens.
    pub fn headers(&self) -> Vec<HeaderMap> {
        self.shared.headers.lock().unwrap().clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.down();
    }
}

async fn handle(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    shared.headers.lock().unwrap().push(headers.clone());
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if !target.ends_with(".PutRecords") {
        shared.bodies.lock().unwrap().push(body.to_vec());
        return forward(&shared, &headers, body.to_vec()).await;
    }
    let open = shared.open.fetch_add(1, Ordering::SeqCst) + 1;
    shared.most_open.fetch_max(open, Ordering::SeqCst);
    // Counted down however the call ends (the client may hang up).
    let _open = Open(&shared.open);
    if !shared.delay.is_zero() {
        tokio::time::sleep(shared.delay).await;
    }
    let mut request: Value = serde_json::from_slice(&body).expect("PutRecords is JSON");
    let records = request["Records"].as_array().cloned().unwrap_or_default();
    let mut keep = Vec::new();
    let mut failed = vec![false; records.len()];
    for (i, record) in records.iter().enumerate() {
        let data = record["Data"].as_str().unwrap_or_default().to_owned();
        let decoded = decode_data(&data);
        let seen = {
            let mut seen = shared.seen.lock().unwrap();
            let count = seen.entry(data).or_insert(0);
            *count += 1;
            *count - 1
        };
        if (shared.rule)(i, &decoded, seen) {
            failed[i] = true;
        } else {
            keep.push(record.clone());
        }
    }
    shared.calls.lock().unwrap().push(Call {
        records: records.len(),
        bytes: records
            .iter()
            .map(|r| {
                decode_len(r["Data"].as_str().unwrap_or_default())
                    + r["PartitionKey"].as_str().unwrap_or_default().len()
            })
            .sum(),
        failed: failed.iter().filter(|f| **f).count(),
    });
    let mut upstream_results = Vec::new().into_iter();
    let mut upstream_failed = 0;
    if !keep.is_empty() {
        request["Records"] = Value::Array(keep);
        let response = forward(&shared, &headers, serde_json::to_vec(&request).unwrap()).await;
        if response.status() != StatusCode::OK {
            return response;
        }
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let answer: Value = serde_json::from_slice(&bytes).unwrap();
        upstream_failed = answer["FailedRecordCount"].as_u64().unwrap_or(0);
        upstream_results = answer["Records"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter();
    }
    let merged: Vec<Value> = failed
        .iter()
        .map(|&f| {
            if f {
                json!({ "ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "Rate exceeded for shard (injected by the test proxy)" })
            } else {
                upstream_results.next().expect("one upstream result per kept record")
            }
        })
        .collect();
    let failed_count = failed.iter().filter(|f| **f).count() as u64 + upstream_failed;
    let body = json!({ "FailedRecordCount": failed_count, "Records": merged });
    (
        StatusCode::OK,
        [("content-type", "application/x-amz-json-1.1")],
        serde_json::to_vec(&body).unwrap(),
    )
        .into_response()
}

struct Open<'a>(&'a AtomicUsize);

impl Drop for Open<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn forward(shared: &Shared, headers: &HeaderMap, body: Vec<u8>) -> Response {
    let mut request = shared.http.post(&shared.upstream).body(body);
    for (name, value) in headers {
        if name != "host" && name != "content-length" {
            request = request.header(name, value);
        }
    }
    match request.send().await {
        Ok(response) => {
            let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
            let content_type = response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("application/x-amz-json-1.1")
                .to_owned();
            let bytes = response.bytes().await.unwrap_or_default();
            (status, [("content-type", content_type)], bytes).into_response()
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

fn decode_data(data: &str) -> Value {
    let bytes = base64_decode(data);
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

fn decode_len(data: &str) -> usize {
    base64_decode(data).len()
}

/// Standard base64 (what the AWS JSON protocol uses for blobs).
fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut buffer = 0u32;
    let mut bits = 0;
    for c in text.bytes().filter_map(value) {
        buffer = (buffer << 6) | u32::from(c);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}
