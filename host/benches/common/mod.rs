//! What the benchmarks share: arguments, a data directory on the real disk,
//! 1 KiB events, and the release `pushrail` binary as a child process.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// `--name N` from the command line, or `default`.
pub fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// An empty directory under the target dir (the same disk as a deployment
/// would use), or `$PUSHRAIL_BENCH_DIR`.
pub fn bench_dir(name: &str) -> PathBuf {
    let dir = std::env::var_os("PUSHRAIL_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let exe = std::env::current_exe().expect("exe");
            exe.ancestors()
                .nth(3)
                .expect("target dir")
                .join("bench-data")
        })
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("bench dir");
    dir
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A canonical event of about `size` bytes for one of `customers` customers.
pub fn event(i: usize, size: usize, customers: usize) -> Value {
    let mut e = json!({
        "eventType": "order.completed",
        "occurredAt": "2026-05-26T14:21:08.493Z",
        "source": "bench",
        "customerExternalId": format!("acct_{}", i % customers),
        "idempotencyKey": format!("bench-{i}"),
        "correlationId": format!("req_{i}"),
        "payload": { "orderId": format!("ord_{i}"), "amount": 12900 },
        "metadata": { "tier": "pro", "region": "us-east-1" }
    });
    let base = serde_json::to_vec(&e).unwrap().len();
    e["payload"]["pad"] = json!("x".repeat(size.saturating_sub(base + 10)));
    e
}

/// The release binary serving `[server]` on `port` with its log in `dir/data`
/// and `rest` appended to the config.
pub struct Server {
    pub child: Child,
    pub base: String,
    pub dir: PathBuf,
}

impl Server {
    pub async fn start(dir: &Path, rest: &str) -> Self {
        let port = free_port();
        let config = dir.join("bench.toml");
        std::fs::write(
            &config,
            format!(
                "[server]\nlisten = \"127.0.0.1:{port}\"\n[storage]\ndata_dir = \"{}\"\n{rest}\n",
                dir.join("data").display()
            ),
        )
        .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_pushrail"))
            .args(["serve", "--config"])
            .arg(&config)
            .env("PUSHRAIL_LOG", "warn,pushrail::log=info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("server.log")).unwrap())
            .spawn()
            .expect("start pushrail");
        let server = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            dir: dir.to_owned(),
        };
        let http = reqwest::Client::new();
        for _ in 0..1500 {
            if let Ok(r) = http.get(format!("{}/readyz", server.base)).send().await
                && r.status().is_success()
            {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("pushrail did not become ready: {}", server.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    /// SIGTERM and wait.
    pub fn stop(mut self) -> String {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        self.log()
    }
}

/// User + system CPU seconds a process used so far (Linux /proc).
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_name = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of stat; 11 and 12 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

/// A helper process (a broker, a local API server) killed when dropped.
pub struct Helper(pub std::process::Child);

impl Drop for Helper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Pauses or resumes the destination `bench`.
pub async fn control(http: &reqwest::Client, base: &str, action: &str) {
    let response = http
        .post(format!("{base}/v1/destinations/bench/{action}"))
        .send()
        .await
        .expect(action);
    assert!(response.status().is_success(), "{action}");
}

pub async fn post(http: &reqwest::Client, base: &str, events: &[Value]) {
    let response = http
        .post(format!("{base}/v1/events/batch"))
        .json(&json!({ "events": events }))
        .send()
        .await
        .expect("post");
    assert_eq!(response.status().as_u16(), 202);
}

/// Polls the destination's status until its lag is zero; with `BENCH_TRACE`
/// set, prints the lag over time.
pub async fn wait_for_no_lag(http: &reqwest::Client, server: &Server, started: Option<Instant>) {
    loop {
        let status = bench_status(http, &server.base).await;
        if let (Some(started), Ok(_)) = (started, std::env::var("BENCH_TRACE")) {
            eprintln!("{:?} lag {}", started.elapsed(), status["lagEvents"]);
        }
        if status["lagEvents"] == 0 {
            assert_eq!(status["deadLetters"], 0, "nothing dead-lettered: {status}");
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `GET /v1/destinations/bench`.
pub async fn bench_status(http: &reqwest::Client, base: &str) -> Value {
    http.get(format!("{base}/v1/destinations/bench"))
        .send()
        .await
        .expect("status")
        .json()
        .await
        .expect("json")
}
