//! Test support: runs the real `pushrail` binary on a free port with its own
//! data directory, and talks to it over HTTP.
#![allow(dead_code)]

pub mod aws_proxy;
pub mod boto;
pub mod deaggregate;
pub mod kafka;
pub mod kinesis;
pub mod kinesis_proxy;
pub mod moto;
pub mod venv;
pub mod webhook_receiver;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub const BIN: &str = env!("CARGO_BIN_EXE_pushrail");

/// A running `pushrail serve` and the directory it owns.
pub struct Server {
    pub dir: tempfile::TempDir,
    pub port: u16,
    extra_config: String,
    rest_config: String,
    env: Vec<(String, String)>,
    child: Option<Child>,
    pub http: reqwest::Client,
    /// The bearer token `http` sends, once [`Server::authorize`] set one.
    pub token: Option<String>,
}

impl Server {
    /// Starts the binary with `extra` appended to a config that sets the port
    /// and data directory.
    pub async fn start(extra: &str) -> Self {
        Self::start_with(extra, "").await
    }

    /// Like [`Server::start`], with `rest` (plugins, transforms,
    /// destinations) appended after `[storage]`.
    pub async fn start_with(extra: &str, rest: &str) -> Self {
        Self::start_with_env(extra, rest, &[]).await
    }

    /// Like [`Server::start_with`], with environment variables for `${VAR}`.
    pub async fn start_with_env(extra: &str, rest: &str, env: &[(&str, &str)]) -> Self {
        let mut server = Self::unstarted(extra, rest, env);
        server.spawn().await;
        server
    }

    /// A server whose directory exists but whose binary is not started yet
    /// (start it with [`Server::restart`]), e.g. to mount its data dir first.
    pub fn unstarted(extra: &str, rest: &str, env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        Self {
            dir,
            port: free_port(),
            extra_config: extra.to_owned(),
            rest_config: rest.to_owned(),
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            child: None,
            http: reqwest::Client::new(),
            token: None,
        }
    }

    /// Sends `Authorization: Bearer <token>` with every later request.
    pub fn authorize(&mut self, token: &str) {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {token}").parse().expect("a header value"),
        );
        self.http = reqwest::Client::builder()
            .default_headers(headers)
            .build()
            .expect("http client");
        self.token = Some(token.to_owned());
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("pushrail.toml")
    }

    async fn spawn(&mut self) {
        let config = format!(
            "[server]\nlisten = \"127.0.0.1:{}\"\n{}\n[storage]\ndata_dir = \"{}\"\n{}\n",
            self.port,
            self.extra_config,
            self.data_dir().display(),
            self.rest_config
        );
        std::fs::write(self.config_path(), config).expect("write config");
        let log = std::fs::File::create(self.dir.path().join("server.log")).expect("log file");
        let child = Command::new(BIN)
            .args(["serve", "--config"])
            .arg(self.config_path())
            .env("PUSHRAIL_LOG", "info")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn pushrail");
        self.child = Some(child);
        self.wait_ready().await;
    }

    async fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = self.http.get(self.url("/readyz")).send().await
                && r.status().is_success()
            {
                return;
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "pushrail exited with {status} before it was ready:\n{}",
                    self.server_log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "pushrail not ready:\n{}",
                self.server_log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn server_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("kill -9");
            child.wait().expect("reap");
        }
    }

    /// SIGTERM and wait for a clean exit; returns the exit code.
    pub fn stop(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
        child.wait().expect("wait").code()
    }

    /// Starts the binary again on the same port and data.
    /// The config after `[storage]` for the next [`Server::restart`].
    pub fn set_rest_config(&mut self, rest: &str) {
        self.rest_config = rest.to_owned();
    }

    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "stop or kill first");
        self.spawn().await;
    }

    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let response = self
            .http
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request");
        read(response).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> (u16, Value) {
        let response = self
            .http
            .put(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request");
        read(response).await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        let response = self
            .http
            .delete(self.url(path))
            .send()
            .await
            .expect("request");
        read(response).await
    }

    /// A JSON merge patch (`application/merge-patch+json`).
    pub async fn patch(&self, path: &str, body: &Value) -> (u16, Value) {
        let response = self
            .http
            .patch(self.url(path))
            .header("content-type", "application/merge-patch+json")
            .body(body.to_string())
            .send()
            .await
            .expect("request");
        read(response).await
    }

    pub async fn post_raw(&self, path: &str, content_type: &str, body: Vec<u8>) -> (u16, Value) {
        let response = self
            .http
            .post(self.url(path))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("request");
        read(response).await
    }

    /// `method path` with `body` as JSON (none for `Value::Null`), sent
    /// with `token` instead of this server's own.
    pub async fn send_as(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Value,
    ) -> (u16, Value) {
        let mut request = reqwest::Client::new()
            .request(method.parse().expect("a method"), self.url(path))
            .bearer_auth(token);
        if !body.is_null() {
            request = request.json(&body);
        }
        read(request.send().await.expect("request")).await
    }

    /// The attempts recorded for event `id`, oldest first.
    pub async fn attempts(&self, id: &str) -> Vec<Value> {
        let (_, body) = self.get(&format!("/v1/events/{id}/attempts")).await;
        body["items"].as_array().cloned().unwrap_or_default()
    }

    /// The attempts of event `id` once one delivered it: they are written
    /// behind the batch, so a receiver may have the event before its
    /// attempt is recorded.
    pub async fn attempts_until_delivered(&self, id: &str) -> Vec<Value> {
        eventually(30, "a delivered attempt", async || {
            let trail = self.attempts(id).await;
            trail
                .iter()
                .any(|a| a["outcome"] == "delivered")
                .then_some(trail)
        })
        .await
    }

    /// The `/metrics` text.
    pub async fn metrics(&self) -> String {
        self.http
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("/metrics answers")
            .text()
            .await
            .expect("/metrics is text")
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        read(self.http.get(self.url(path)).send().await.expect("request")).await
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub async fn read(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let value = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("non-JSON response {status}: {text}"));
    (status, value)
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// The example event from DESIGN.md with its customer and key replaced.
pub fn event(customer: &str, key: &str) -> Value {
    json!({
        "eventType": "order.completed",
        "occurredAt": "2026-05-26T14:21:08.493Z",
        "source": "billing-service",
        "customerExternalId": customer,
        "idempotencyKey": key,
        "correlationId": "req_4f30b2",
        "payload": { "orderId": key, "amount": 12900 },
        "metadata": { "tier": "pro", "region": "us-east-1" }
    })
}

/// An event of about `size` bytes serialized.
pub fn sized_event(customer: &str, key: &str, size: usize) -> Value {
    let mut e = event(customer, key);
    let base = serde_json::to_vec(&e).unwrap().len();
    e["payload"]["pad"] = json!("x".repeat(size.saturating_sub(base + 10)));
    e
}

/// Where build.rs put the plugin components: the built-ins, the example
/// transforms and the test plugins (host/build.rs, `PLUGINS`).
pub const PLUGIN_DIR: &str = env!("PUSHRAIL_PLUGIN_DIR");

/// The complete JSON lines of a file under the server's data directory
/// (none if absent). A last line without its newline is a write still in
/// progress (the server may be appending while a test polls) and is left
/// for the next read; every complete line must be JSON.
pub fn json_lines(server: &Server, name: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(server.data_dir().join(name)).unwrap_or_default();
    let complete = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
    complete
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l:?}: {e}")))
        .collect()
}

/// Polls `check` until it returns `Some`, or panics after `seconds` with `what`.
pub async fn eventually<T>(
    seconds: u64,
    what: &str,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Posts `events` as one batch and returns the per-event results.
pub async fn post_batch(server: &Server, events: Vec<Value>) -> Vec<Value> {
    let (status, body) = server
        .post("/v1/events/batch", &json!({ "events": events }))
        .await;
    assert_eq!(status, 202, "{body}");
    body["results"].as_array().unwrap().clone()
}
