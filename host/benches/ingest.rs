//! Durable ingest benchmark: N concurrent HTTP clients post 1 KiB events to
//! the real `pushrail` binary, next to a raw redb baseline that inserts the
//! same bytes in batched durable transactions on the same disk.
//!
//! `cargo bench -p pushrail --bench ingest -- [--clients 64] [--events 100000]
//!  [--size 1024] [--batch 0]` (`--batch N` also runs POST /v1/events/batch with N per request).
//! Data goes to `$PUSHRAIL_BENCH_DIR` (default: a directory under the target dir).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

mod common;

use redb::{Database, Durability, TableDefinition};
use serde_json::{Value, json};

struct Options {
    clients: usize,
    events: usize,
    size: usize,
    batch: usize,
}

fn options() -> Options {
    Options {
        clients: common::arg("--clients", 64),
        events: common::arg("--events", 100_000),
        size: common::arg("--size", 1024),
        batch: common::arg("--batch", 0),
    }
}

struct Measured {
    name: String,
    events: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
    /// Events per durable commit on average.
    group: usize,
    server_cpu: f64,
    client_cpu: f64,
}

impl Measured {
    fn rate(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> Option<Duration> {
        if self.latencies.is_empty() {
            return None;
        }
        let index = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        Some(self.latencies[index])
    }
}

/// Posts `bodies` from `clients` concurrent connections; each body is one request.
async fn run_http(
    name: &str,
    url: String,
    bodies: Arc<Vec<Vec<u8>>>,
    per_body: usize,
    clients: usize,
) -> Measured {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (url, bodies, next) = (url.clone(), bodies.clone(), next.clone());
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                let mut latencies = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(body) = bodies.get(i) else {
                        return latencies;
                    };
                    let sent = Instant::now();
                    let response = http
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .await
                        .expect("request");
                    assert_eq!(
                        response.status().as_u16(),
                        202,
                        "{}",
                        response.text().await.unwrap_or_default()
                    );
                    response.bytes().await.expect("body");
                    latencies.push(sent.elapsed());
                }
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    Measured {
        name: name.to_owned(),
        events: bodies.len() * per_body,
        elapsed,
        latencies,
        group: 1,
        server_cpu: 0.0,
        client_cpu: 0.0,
    }
}

/// Runs one HTTP scenario against a fresh server and reads its commit
/// grouping and CPU use.
async fn scenario(
    dir: &Path,
    name: &str,
    path: &str,
    bodies: Arc<Vec<Vec<u8>>>,
    per_body: usize,
    clients: usize,
) -> Measured {
    let _ = std::fs::remove_dir_all(dir.join("data"));
    let server = common::Server::start(dir, "").await;
    let cpu_before = common::cpu_seconds(std::process::id());
    let url = format!("{}{path}", server.base);
    let mut measured = run_http(name, url, bodies, per_body, clients).await;
    measured.server_cpu = common::cpu_seconds(server.child.id());
    measured.client_cpu = common::cpu_seconds(std::process::id()) - cpu_before;
    let server_log = server.stop();
    let closed = server_log
        .lines()
        .find(|l| l.contains("log closed"))
        .unwrap_or("");
    let field = |name: &str| {
        closed
            .split_whitespace()
            .find_map(|w| w.strip_prefix(name))
            .and_then(|v| v.parse::<f64>().ok())
    };
    if let (Some(events), Some(commits)) = (field("events="), field("commits="))
        && commits > 0.0
    {
        measured.group = (events / commits).round().max(1.0) as usize;
    }
    measured
}

/// The ceiling: the same record bytes, `group` per durable redb transaction.
fn run_raw_redb(dir: &Path, records: &[Vec<u8>], group: usize) -> Measured {
    const TABLE: TableDefinition<u64, &[u8]> = TableDefinition::new("events");
    let db = Database::create(dir.join("raw.redb")).unwrap();
    let started = Instant::now();
    let mut latencies = Vec::new();
    for (chunk_index, chunk) in records.chunks(group).enumerate() {
        let t = Instant::now();
        let mut txn = db.begin_write().unwrap();
        txn.set_durability(Durability::Immediate).unwrap();
        {
            let mut table = txn.open_table(TABLE).unwrap();
            for (i, record) in chunk.iter().enumerate() {
                table
                    .insert((chunk_index * group + i) as u64, record.as_slice())
                    .unwrap();
            }
        }
        txn.commit().unwrap();
        latencies.push(t.elapsed());
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    Measured {
        name: format!("raw redb, {group} per durable commit"),
        events: records.len(),
        elapsed,
        latencies,
        group,
        server_cpu: 0.0,
        client_cpu: 0.0,
    }
}

fn print(results: &[Measured], baseline: &Measured) {
    let ms =
        |d: Option<Duration>| d.map_or("-".into(), |d| format!("{:.2}", d.as_secs_f64() * 1e3));
    let cpu = |seconds: f64, m: &Measured| {
        if seconds > 0.0 {
            format!("{:.1}", seconds * 1e6 / m.events as f64)
        } else {
            "-".into()
        }
    };
    println!(
        "\n| scenario | events | events/s | p50 ms | p99 ms | events/commit | server CPU µs/event | client CPU µs/event | vs raw redb |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for m in results.iter().chain(std::iter::once(baseline)) {
        println!(
            "| {} | {} | {:.0} | {} | {} | {} | {} | {} | {:.2}x |",
            m.name,
            m.events,
            m.rate(),
            ms(m.percentile(0.5)),
            ms(m.percentile(0.99)),
            m.group,
            cpu(m.server_cpu, m),
            cpu(m.client_cpu, m),
            m.rate() / baseline.rate()
        );
    }
}

#[tokio::main]
async fn main() {
    let options = options();
    let dir = common::bench_dir("ingest");
    println!(
        "durable ingest: {} events of {} bytes, {} clients, data in {}",
        options.events,
        options.size,
        options.clients,
        dir.display()
    );
    let events: Vec<Value> = (0..options.events)
        .map(|i| common::event(i, options.size, 1000))
        .collect();
    let singles: Arc<Vec<Vec<u8>>> = Arc::new(
        events
            .iter()
            .map(|e| serde_json::to_vec(e).unwrap())
            .collect(),
    );

    let mut results = vec![
        scenario(
            &dir,
            &format!("HTTP POST /v1/events, {} clients", options.clients),
            "/v1/events",
            singles.clone(),
            1,
            options.clients,
        )
        .await,
    ];
    if options.batch > 0 {
        let batches: Vec<Vec<u8>> = events
            .chunks(options.batch)
            .map(|chunk| serde_json::to_vec(&json!({ "events": chunk })).unwrap())
            .collect();
        let clients = options.clients.min(16);
        results.push(
            scenario(
                &dir,
                &format!(
                    "HTTP POST /v1/events/batch, {} per request, {clients} clients",
                    options.batch
                ),
                "/v1/events/batch",
                Arc::new(batches),
                options.batch,
                clients,
            )
            .await,
        );
    }
    let group = results[0].group;
    let records: Vec<Vec<u8>> = singles
        .iter()
        .enumerate()
        .map(|(i, body)| {
            let mut record = format!(
                "{{\"id\":\"evt_01M80A27HSQHVHYSMM1T0YE7B1\",\"sequence\":{i},\"receivedAt\":\"2026-05-26T14:21:08.493Z\","
            )
            .into_bytes();
            record.extend_from_slice(&body[1..]);
            record
        })
        .collect();
    let baseline = run_raw_redb(&dir, &records, options.clients);
    let _ = std::fs::remove_file(dir.join("raw.redb"));
    results.push(run_raw_redb(&dir, &records, group));
    print(&results, &baseline);
    let _ = std::fs::remove_dir_all(&dir);
}
