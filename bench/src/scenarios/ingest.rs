//! Scenario 1, durable ingest: concurrent HTTP clients post 1 KiB events to the real
//! binary until every one is answered 202 (durable), next to a raw redb loop
//! inserting the same bytes in durable transactions on the same disk.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use redb::{Database, Durability, TableDefinition};
use serde_json::json;

use super::{Context, Scenario};
use crate::engine::{self, Server};
use crate::events;
use crate::report::{Measurement, Unit};
use crate::stats::percentile;

/// How one kind of client posts.
struct Shape {
    name: String,
    path: &'static str,
    clients: usize,
    /// Events per request (1: POST /v1/events).
    per_request: usize,
    /// HTTP/2 (h2c): every client's requests share one connection;
    /// otherwise each client has its own HTTP/1.1 connection.
    http2: bool,
}

/// One timed run of ours.
struct HttpRun {
    rate: f64,
    p50_ms: f64,
    p99_ms: f64,
    events_per_commit: f64,
    server_cpu_us: f64,
}

/// The published goal for a single-event request: server CPU per request.
const SINGLE_CPU_GOAL_US: f64 = 15.0;

pub async fn run(context: &Context) -> anyhow::Result<Vec<Measurement>> {
    let count = context.scale.ingest_events;
    let events = events::events(count, 1000);
    let singles: Vec<Vec<u8>> = events
        .iter()
        .map(serde_json::to_vec)
        .collect::<Result<_, _>>()?;
    let records: Arc<Vec<Vec<u8>>> = Arc::new(
        singles
            .iter()
            .enumerate()
            .map(|(i, body)| events::log_record(body, i))
            .collect(),
    );
    let batch_bodies: Vec<Vec<u8>> = events
        .chunks(100)
        .map(|chunk| serde_json::to_vec(&json!({ "events": chunk })))
        .collect::<Result<_, _>>()?;
    let shapes = [
        (
            Shape {
                name: "POST /v1/events, 64 clients".into(),
                path: "/v1/events",
                clients: 64,
                per_request: 1,
                http2: false,
            },
            Arc::new(singles.clone()),
        ),
        (
            Shape {
                name: "POST /v1/events over HTTP/2, 64 requests at once on one connection".into(),
                path: "/v1/events",
                clients: 64,
                per_request: 1,
                http2: true,
            },
            Arc::new(singles),
        ),
        (
            Shape {
                name: "POST /v1/events/batch, 100 per request, 16 clients".into(),
                path: "/v1/events/batch",
                clients: 16,
                per_request: 100,
                http2: false,
            },
            Arc::new(batch_bodies),
        ),
    ];

    let dir = engine::fresh_dir(&context.data_dir, "ingest")?;
    let mut results = Vec::new();
    for (shape, bodies) in &shapes {
        // The ceiling commits as many events at once as our clients can
        // have in flight.
        let group = shape.clients * shape.per_request;
        let (mut ours, mut raw, mut runs) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..context.scale.rounds {
            let (dir2, records2) = (dir.clone(), records.clone());
            raw.push(
                tokio::task::spawn_blocking(move || raw_redb(&dir2, &records2, group)).await??,
            );
            let run = http_run(context, &dir, shape, bodies.clone()).await?;
            ours.push(run.rate);
            runs.push(run);
        }
        let middle = &runs[median_index(&ours)];
        let cpu: Vec<f64> = runs.iter().map(|r| r.server_cpu_us).collect();
        let m = Measurement::new(Scenario::Ingest, &shape.name, Unit::EventsPerSecond, ours)
            .against(format!("raw redb, {group} per durable commit"), raw)
            .cpu(cpu)
            .notes(format!(
                "p50 {:.1} ms, p99 {:.1} ms per request; {:.0} events per commit",
                middle.p50_ms, middle.p99_ms, middle.events_per_commit
            ));
        let goal_met = m.ratio.is_some_and(|r| r >= 0.5) && m.ours.median >= 50_000.0;
        results.push(if shape.per_request == 1 {
            let cpu_met = m
                .engine_cpu_us
                .as_ref()
                .is_some_and(|c| c.median <= SINGLE_CPU_GOAL_US);
            m.goal(
                format!(
                    "≥ 0.5× raw redb, ≥ 50,000/s and ≤ {SINGLE_CPU_GOAL_US} µs CPU per request"
                ),
                goal_met && cpu_met,
            )
        } else {
            m.goal("≥ 0.5× raw redb and ≥ 50,000/s", goal_met)
        });
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(results)
}

fn median_index(values: &[f64]) -> usize {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    order[order.len() / 2]
}

/// Ours: a fresh engine, every body posted by `shape.clients` connections.
async fn http_run(
    context: &Context,
    dir: &Path,
    shape: &Shape,
    bodies: Arc<Vec<Vec<u8>>>,
) -> anyhow::Result<HttpRun> {
    let _ = std::fs::remove_dir_all(dir.join("data"));
    let server = Server::start(&context.engine, dir, "").await?;
    let url = server.url(shape.path);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let shared = reqwest::Client::builder().http2_prior_knowledge().build()?;
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..shape.clients {
        let (url, bodies, next) = (url.clone(), bodies.clone(), next.clone());
        let http = if shape.http2 {
            shared.clone()
        } else {
            reqwest::Client::new()
        };
        clients.spawn(async move {
            let mut latencies = Vec::new();
            while let Some(body) = bodies.get(next.fetch_add(1, Ordering::Relaxed)) {
                let sent = Instant::now();
                let response = http
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await?;
                let status = response.status();
                let text = response.text().await?;
                ensure!(status.as_u16() == 202, "{status}: {text}");
                latencies.push(sent.elapsed().as_secs_f64() * 1e3);
            }
            Ok::<_, anyhow::Error>(latencies)
        });
    }
    let mut latencies = Vec::new();
    for client in clients.join_all().await {
        latencies.extend(client?);
    }
    let elapsed = started.elapsed();
    let server_cpu = engine::cpu_seconds(server.pid());
    let log = server.stop();
    latencies.sort_by(f64::total_cmp);
    let events = bodies.len() * shape.per_request;
    Ok(HttpRun {
        rate: events as f64 / elapsed.as_secs_f64(),
        p50_ms: percentile(&latencies, 0.5),
        p99_ms: percentile(&latencies, 0.99),
        events_per_commit: events_per_commit(&log).unwrap_or(f64::NAN),
        server_cpu_us: server_cpu * 1e6 / events as f64,
    })
}

/// From the engine's "log closed … events=N commits=M" line.
fn events_per_commit(log: &str) -> Option<f64> {
    let closed = log.lines().find(|l| l.contains("log closed"))?;
    let field = |name: &str| {
        closed
            .split_whitespace()
            .find_map(|w| w.strip_prefix(name))
            .and_then(|v| v.parse::<f64>().ok())
    };
    let commits = field("commits=").filter(|c| *c > 0.0)?;
    Some(field("events=")? / commits)
}

/// The ceiling: the same record bytes, `group` per durable redb transaction.
fn raw_redb(dir: &Path, records: &[Vec<u8>], group: usize) -> anyhow::Result<f64> {
    const TABLE: TableDefinition<u64, &[u8]> = TableDefinition::new("events");
    let path = dir.join("raw.redb");
    let _ = std::fs::remove_file(&path);
    let db = Database::create(&path).context("create raw.redb")?;
    let started = Instant::now();
    for (chunk_index, chunk) in records.chunks(group).enumerate() {
        let mut txn = db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        {
            let mut table = txn.open_table(TABLE)?;
            for (i, record) in chunk.iter().enumerate() {
                table.insert((chunk_index * group + i) as u64, record.as_slice())?;
            }
        }
        txn.commit()?;
    }
    let elapsed = started.elapsed().max(Duration::from_nanos(1));
    drop(db);
    let _ = std::fs::remove_file(&path);
    Ok(records.len() as f64 / elapsed.as_secs_f64())
}
