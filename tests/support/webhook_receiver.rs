//! A webhook receiver that checks every request with an independent
//! implementation of the Standard Webhooks spec: the `standardwebhooks`
//! package from PyPI (its `Webhook.verify`, as a customer's endpoint would
//! run it), in a virtualenv beside the build. It answers as each event's
//! payload scripts (`"script": [500, 429]`: the first attempt gets 500,
//! the second 429, later ones 200; `"retryAfter": 2` adds that header to
//! a 429 or 503), may take `delay_ms` per request, and records every
//! request in arrival order.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

const STANDARDWEBHOOKS: &str = "standardwebhooks==1.1.0";

const SCRIPT: &str = r#"
import json, sys, threading, time
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
from standardwebhooks.webhooks import Webhook

config = json.loads(sys.argv[1])
verifiers = {name: Webhook(secret) for name, secret in config["secrets"].items()}
delay = config.get("delay_ms", 0) / 1000
lock = threading.Lock()
log, attempts, state = [], {}, {"now": 0, "most": 0}

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body, headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        with lock:
            body = json.dumps({"requests": log, "mostAtOnce": state["most"]}).encode()
        self.answer(200, body, [("content-type", "application/json")])

    def do_POST(self):
        data = self.rfile.read(int(self.headers.get("content-length", 0)))
        headers = {k.lower(): v for k, v in self.headers.items()}
        verified = {}
        for name, verifier in verifiers.items():
            try:
                verifier.verify(data, headers)
                verified[name] = True
            except Exception:
                verified[name] = False
        body = json.loads(data)
        first = body[0] if isinstance(body, list) else body
        script = first["payload"].get("script", [])
        message = headers.get("webhook-id", "")
        with lock:
            n = attempts.get(message, 0)
            attempts[message] = n + 1
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
        time.sleep(delay)
        status = script[n] if n < len(script) else 200
        extra = []
        if status in (429, 503) and "retryAfter" in first["payload"]:
            extra.append(("retry-after", str(first["payload"]["retryAfter"])))
        with lock:
            state["now"] -= 1
            log.append({
                "id": message,
                "path": self.path,
                "attempt": n + 1,
                "status": status,
                "at": time.monotonic(),
                "verified": verified,
                "body": body,
                "headers": {k: v for k, v in headers.items() if k.startswith(("webhook-", "x-", "content-type", "user-agent"))},
            })
        self.answer(status, b"{}", extra)

class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # The engine is stopped at a test's end, sometimes mid-request.
        pass

server = Server(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

/// The receiver process; killed when dropped.
pub struct WebhookReceiver {
    pub port: u16,
    child: Child,
}

impl WebhookReceiver {
    /// Starts one that verifies with each of `secrets` (name → `whsec_…`)
    /// and takes `delay_ms` to answer each request.
    pub fn start(secrets: &[(&str, &str)], delay_ms: u64) -> Self {
        let python = super::venv::tool("standardwebhooks", STANDARDWEBHOOKS, "python");
        let secrets: serde_json::Map<String, Value> = secrets
            .iter()
            .map(|(n, s)| ((*n).to_owned(), json!(s)))
            .collect();
        let config = json!({"secrets": secrets, "delay_ms": delay_ms}).to_string();
        let mut child = Command::new(python)
            .args(["-c", SCRIPT, &config])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the webhook receiver");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("the receiver's port");
        let port = line.trim().parse().expect("a port number");
        Self { port, child }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Every request so far, in arrival order, and the most that were
    /// being answered at once.
    pub async fn requests(&self) -> (Vec<Value>, u64) {
        let body: Value = reqwest::get(self.url("/"))
            .await
            .expect("the receiver answers")
            .json()
            .await
            .expect("its log is JSON");
        (
            body["requests"].as_array().unwrap().clone(),
            body["mostAtOnce"].as_u64().unwrap(),
        )
    }

    /// The events of the requests answered 2xx, in arrival order (an array
    /// body counts each of its events).
    pub async fn accepted(&self) -> Vec<Value> {
        let (requests, _) = self.requests().await;
        requests
            .into_iter()
            .filter(|r| {
                r["status"]
                    .as_u64()
                    .is_some_and(|s| (200..300).contains(&s))
            })
            .flat_map(|r| match &r["body"] {
                Value::Array(events) => events.clone(),
                one => vec![one.clone()],
            })
            .collect()
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
