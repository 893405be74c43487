//! A fault-injecting proxy in front of moto for the AWS batch operations
//! our plugins call (EventBridge `PutEvents`, SQS `SendMessageBatch`): it
//! removes the entries a rule picks, forwards the rest to moto, and merges
//! a failure for each removed entry into moto's answer, where AWS reports
//! a partial failure — so a failed entry never landed, as with AWS. It
//! records every request (headers and body, for an independent signature
//! check) and the entries it forwarded, per call. (moto checks no
//! signatures, so the shortened body is taken.)
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// Decides an entry's fate: `Some(retryable)` fails it; given the entry
/// and how many times the proxy saw it before.
pub type EntryRule = Box<dyn Fn(&Value, u32) -> Option<bool> + Send + Sync>;

/// One request as the proxy received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

struct Shared {
    upstream: String,
    rule: EntryRule,
    seen: Mutex<HashMap<String, u32>>,
    requests: Mutex<Vec<Recorded>>,
    /// The entries forwarded, per batch call.
    forwarded: Mutex<Vec<Vec<Value>>>,
    http: reqwest::Client,
}

pub struct AwsProxy {
    pub port: u16,
    shared: Arc<Shared>,
}

impl AwsProxy {
    pub async fn start(upstream: &str, rule: EntryRule) -> Self {
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_owned(),
            rule,
            seen: Mutex::default(),
            requests: Mutex::default(),
            forwarded: Mutex::default(),
            http: reqwest::Client::new(),
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { port, shared }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// The entries forwarded to moto, per batch call, in order.
    pub fn forwarded(&self) -> Vec<Vec<Value>> {
        self.shared.forwarded.lock().unwrap().clone()
    }
}

/// What identifies an entry across attempts: its event JSON.
fn identity(entry: &Value) -> String {
    entry["Detail"]
        .as_str()
        .or_else(|| entry["MessageBody"].as_str())
        .unwrap_or_default()
        .to_owned()
}

async fn handle(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let pairs: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                v.to_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    shared.requests.lock().unwrap().push(Recorded {
        headers: pairs,
        body: body.to_vec(),
    });
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let batch_call = matches!(
        target.as_str(),
        "AWSEvents.PutEvents" | "AmazonSQS.SendMessageBatch"
    );
    let Ok(mut request) = serde_json::from_slice::<Value>(&body) else {
        return forward(&shared, &headers, body.to_vec()).await;
    };
    if !batch_call {
        return forward(&shared, &headers, body.to_vec()).await;
    }
    let entries = request["Entries"].as_array().cloned().unwrap_or_default();
    // Per position: None kept, Some(retryable) failed here.
    let mut fates = Vec::new();
    let mut kept = Vec::new();
    for entry in &entries {
        let times = {
            let mut seen = shared.seen.lock().unwrap();
            let n = seen.entry(identity(entry)).or_default();
            *n += 1;
            *n - 1
        };
        let fate = (shared.rule)(entry, times);
        if fate.is_none() {
            kept.push(entry.clone());
        }
        fates.push(fate);
    }
    shared.forwarded.lock().unwrap().push(kept.clone());
    let mut answer = if kept.is_empty() {
        if target == "AWSEvents.PutEvents" {
            json!({"FailedEntryCount": 0, "Entries": []})
        } else {
            json!({"Successful": [], "Failed": []})
        }
    } else {
        request["Entries"] = Value::Array(kept);
        let response = forward(&shared, &headers, request.to_string().into_bytes()).await;
        if response.status() != StatusCode::OK {
            return response;
        }
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    };
    merge(&target, &mut answer, &entries, &fates);
    (StatusCode::OK, answer.to_string()).into_response()
}

/// Puts a failure for each failed entry into the answer, as AWS would.
fn merge(target: &str, answer: &mut Value, entries: &[Value], fates: &[Option<bool>]) {
    if target == "AWSEvents.PutEvents" {
        let mut landed = answer["Entries"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter();
        let mut merged = Vec::new();
        let mut failed = answer["FailedEntryCount"].as_u64().unwrap_or(0);
        for fate in fates {
            merged.push(match fate {
                None => landed.next().unwrap_or(Value::Null),
                Some(retryable) => {
                    failed += 1;
                    let code = if *retryable {
                        "ThrottlingException"
                    } else {
                        "InvalidArgument"
                    };
                    json!({"ErrorCode": code, "ErrorMessage": "failed by the test proxy"})
                }
            });
        }
        answer["Entries"] = Value::Array(merged);
        answer["FailedEntryCount"] = json!(failed);
    } else {
        if !answer["Failed"].is_array() {
            answer["Failed"] = json!([]);
        }
        let failed = answer["Failed"].as_array_mut().unwrap();
        for (entry, fate) in entries.iter().zip(fates) {
            if let Some(retryable) = fate {
                failed.push(json!({
                    "Id": entry["Id"],
                    "SenderFault": !retryable,
                    "Code": if *retryable { "InternalError" } else { "InvalidParameterValue" },
                    "Message": "failed by the test proxy",
                }));
            }
        }
    }
}

async fn forward(shared: &Shared, headers: &HeaderMap, body: Vec<u8>) -> Response {
    let mut request = shared.http.post(format!("{}/", shared.upstream));
    for (name, value) in headers {
        if name != "host" && name != "content-length" {
            request = request.header(name.as_str(), value.as_bytes());
        }
    }
    match request.body(body).send().await {
        Ok(response) => {
            let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
            let bytes = response.bytes().await.unwrap_or_default();
            (status, bytes).into_response()
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}
