//! Backlog and recovery: ingest N events with the destination paused, then
//! resume; report peak RSS while the backlog builds and drains, the drain
//! rate, and after a restart with that log, the time to serving and to
//! resumed delivery. The destination is the built-in kafka plugin against
//! librdkafka's mock cluster (in this process).
//!
//! `cargo bench -p pushrail --bench backlog -- [--events 1000000] [--batch 5000]`

mod common;

use std::time::{Duration, Instant};

use rdkafka::mocking::MockCluster;

/// Resident memory of a process in MiB (Linux /proc).
fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Samples the RSS of `pid` every 50 ms until `done` resolves; returns the peak.
async fn peak_rss_during<T>(pid: u32, done: impl Future<Output = T>) -> (T, f64) {
    let mut peak = rss_mib(pid);
    let mut sampler = tokio::time::interval(Duration::from_millis(50));
    tokio::pin!(done);
    loop {
        tokio::select! {
            value = &mut done => return (value, peak.max(rss_mib(pid))),
            _ = sampler.tick() => peak = peak.max(rss_mib(pid)),
        }
    }
}

async fn lag(http: &reqwest::Client, base: &str) -> u64 {
    common::bench_status(http, base).await["lagEvents"]
        .as_u64()
        .unwrap_or(u64::MAX)
}

#[tokio::main]
async fn main() {
    let count = common::arg("--events", 1_000_000);
    let keys = common::arg("--keys", 1000);
    let batch = common::arg("--batch", 5000);
    let cluster = MockCluster::new(1).expect("mock cluster");
    cluster.create_topic("backlog", 3, 1).expect("topic");
    let dir = common::bench_dir("backlog");
    let rest = format!(
        r#"
[[destinations]]
name = "bench"
plugin = "kafka"
batch = {{ max_events = {batch}, linger = "20ms" }}
[destinations.kafka]
brokers = "{}"
topic = "backlog"
"#,
        cluster.bootstrap_servers()
    );
    let server = common::Server::start(&dir, &rest).await;
    let pid = server.child.id();
    let http = reqwest::Client::new();
    common::control(&http, &server.base, "pause").await;
    let idle_rss = rss_mib(pid);

    // Build the backlog: 8 posters, 500 events per request.
    let started = Instant::now();
    let ((), ingest_peak) = peak_rss_during(pid, async {
        let mut posters = tokio::task::JoinSet::new();
        for part in 0..8 {
            let (http, base) = (http.clone(), server.base.clone());
            posters.spawn(async move {
                let mut chunk = Vec::with_capacity(500);
                for i in (part..count).step_by(8) {
                    chunk.push(common::event(i, 1024, keys));
                    if chunk.len() == 500 {
                        common::post(&http, &base, &chunk).await;
                        chunk.clear();
                    }
                }
                if !chunk.is_empty() {
                    common::post(&http, &base, &chunk).await;
                }
            });
        }
        posters.join_all().await;
    })
    .await;
    let ingest_seconds = started.elapsed().as_secs_f64();
    assert_eq!(lag(&http, &server.base).await, count as u64, "all waiting");

    // Drain it.
    let started = Instant::now();
    common::control(&http, &server.base, "resume").await;
    let ((), drain_peak) = peak_rss_during(pid, async {
        while lag(&http, &server.base).await > 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    let drain_seconds = started.elapsed().as_secs_f64();
    let log_bytes = std::fs::metadata(dir.join("data/pushrail.redb")).map_or(0, |m| m.len());
    server.stop();

    // Recovery: restart on the full log; time to serving, then to a delivered event.
    let started = Instant::now();
    let server = common::Server::start(&dir, &rest).await;
    let serving = started.elapsed().as_secs_f64();
    common::post(&http, &server.base, &[common::event(count + 1, 1024, keys)]).await;
    while lag(&http, &server.base).await > 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let delivering = started.elapsed().as_secs_f64();
    server.stop();

    println!(
        "Backlog: {count} events of 1 KiB, {keys} keys, {batch} per delivery batch, kafka plugin → librdkafka mock cluster; log file {:.0} MiB\n",
        log_bytes as f64 / (1 << 20) as f64
    );
    println!("| measure | value |");
    println!("|---|---:|");
    println!("| RSS idle | {idle_rss:.0} MiB |");
    println!(
        "| ingest while paused | {:.0} events/s |",
        count as f64 / ingest_seconds
    );
    println!("| peak RSS while the backlog builds | {ingest_peak:.0} MiB |");
    println!(
        "| drain after resume | {:.0} events/s ({drain_seconds:.1} s) |",
        count as f64 / drain_seconds
    );
    println!("| peak RSS while draining | {drain_peak:.0} MiB |");
    println!("| restart → serving (/readyz) | {serving:.2} s |");
    println!("| restart → a new event delivered | {delivering:.2} s |");
}
