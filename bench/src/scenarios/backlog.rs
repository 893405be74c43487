//! Scenario 6, backlog: N events ingested with the destination paused, then
//! resumed: peak RSS while the backlog builds and while it drains, and the
//! drain rate next to a raw producer on the same broker (librdkafka's mock
//! cluster).
//!
//! Scenario 7, recovery: restarts on that N-event log, timed to serving
//! (/readyz) and to a new event delivered.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::ensure;

use super::kafka;
use super::{Context, Scenario};
use crate::engine::{self, Server, rss_mib};
use crate::events;
use crate::report::{Measurement, Unit, group_thousands};

const KEYS: usize = 1000;
/// Events the drain ceiling sends (all N would hold N records in the bench).
const CEILING_EVENTS: usize = 100_000;
const RSS_GOAL_MIB: f64 = 256.0;

pub async fn run(context: &Context) -> anyhow::Result<Vec<Measurement>> {
    // The mock cluster: delivery is measured, not a broker's disk or network.
    let brokers = kafka::mock_cluster(&["backlog", "raw"])?;
    let count = context.scale.backlog_events;
    // Memory must not grow with the machine: the engine on 16 async
    // threads (as on a 16-core machine), then on 2 (this machine's default;
    // its log is the one recovery reuses).
    let wide = build(context, &brokers.bootstrap_servers(), Some(16)).await?;
    let built = build(context, &brokers.bootstrap_servers(), Some(2)).await?;
    let ceiling_events = events::events(count.min(CEILING_EVENTS), KEYS);
    let raw = kafka::raw_producer(&brokers.bootstrap_servers(), "raw", &ceiling_events).await?;
    let n = group(count);
    let mut results = memory(
        &wide,
        "16 async threads: ",
        &n,
        format!("at {:.0} events/s", wide.ingest_rate),
        format!("at {:.0} events/s", wide.drain_rate),
    );
    results.extend(memory(
        &built,
        "",
        &n,
        format!(
            "2 async threads; {} clients × {} per post at {:.0} events/s; log {:.0} MiB",
            engine::POSTERS,
            engine::POST_BATCH,
            built.ingest_rate,
            built.log_mib
        ),
        String::new(),
    ));
    results.push(
        Measurement::new(
            Scenario::Backlog,
            format!("drain rate of {n} events after resume"),
            Unit::EventsPerSecond,
            vec![built.drain_rate],
        )
        .against(
            format!(
                "raw rdkafka producer, {} events",
                group(ceiling_events.len())
            ),
            vec![raw],
        )
        .goal_ratio(0.8)
        .cpu(vec![built.drain_cpu_us])
        .notes(
            "kafka plugin → librdkafka mock cluster, default batches (1,000 events of whole keys)",
        ),
    );
    Ok(results)
}

pub async fn recovery(context: &Context) -> anyhow::Result<Vec<Measurement>> {
    let brokers = kafka::mock_cluster(&["backlog"])?;
    let count = context.scale.backlog_events;
    // Reuse the log the backlog scenario left, if it has N events; its
    // broker is gone, so the config points at this one.
    let dir = context.data_dir.join("backlog");
    let config = destination(&brokers.bootstrap_servers());
    let left = std::fs::read_to_string(dir.join(COUNT_FILE)).unwrap_or_default();
    if left.trim().parse::<usize>().ok() != Some(count) {
        build(context, &brokers.bootstrap_servers(), None).await?;
    }
    let log_mib = log_mib(&dir);
    let (mut serving, mut accepting, mut delivering) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..context.scale.rounds {
        let started = Instant::now();
        let server = Server::start(&context.engine, &dir, &config).await?;
        serving.push(started.elapsed().as_secs_f64());
        server
            .post_batch(&[events::event(count + round, 1024, KEYS)])
            .await?;
        accepting.push(started.elapsed().as_secs_f64());
        server.wait_for_no_lag(Duration::from_millis(2)).await?;
        delivering.push(started.elapsed().as_secs_f64());
        server.stop();
    }
    let n = group(count);
    Ok(vec![
        Measurement::new(
            Scenario::Recovery,
            format!("restart → serving (/readyz), {n}-event log"),
            Unit::Seconds,
            serving,
        )
        .notes(format!("log {log_mib:.0} MiB")),
        Measurement::new(
            Scenario::Recovery,
            format!("restart → a new event accepted (202), {n}-event log"),
            Unit::Seconds,
            accepting,
        ),
        Measurement::new(
            Scenario::Recovery,
            format!("restart → a new event delivered, {n}-event log"),
            Unit::Seconds,
            delivering,
        ),
    ])
}

/// The memory figures of one build: idle, peak while ingesting, peak while
/// draining; `prefix` names the build in the measurement names.
fn memory(
    built: &Built,
    prefix: &str,
    n: &str,
    ingest_notes: String,
    drain_notes: String,
) -> Vec<Measurement> {
    let rss_goal = format!("< {RSS_GOAL_MIB} MiB");
    vec![
        Measurement::new(
            Scenario::Backlog,
            format!("{prefix}RSS idle, paused, before the backlog"),
            Unit::Mebibytes,
            vec![built.idle_rss],
        ),
        Measurement::new(
            Scenario::Backlog,
            format!("{prefix}peak RSS while {n} events are ingested"),
            Unit::Mebibytes,
            vec![built.ingest_peak],
        )
        .goal(&rss_goal, built.ingest_peak < RSS_GOAL_MIB)
        .notes(ingest_notes),
        Measurement::new(
            Scenario::Backlog,
            format!("{prefix}peak RSS while {n} events drain"),
            Unit::Mebibytes,
            vec![built.drain_peak],
        )
        .goal(&rss_goal, built.drain_peak < RSS_GOAL_MIB)
        .notes(drain_notes),
    ]
}

/// Where a built log records its event count, for recovery to reuse.
const COUNT_FILE: &str = "events";

/// What building a log of N delivered events measured.
struct Built {
    idle_rss: f64,
    ingest_peak: f64,
    ingest_rate: f64,
    drain_peak: f64,
    drain_rate: f64,
    /// Engine CPU per event while draining, µs.
    drain_cpu_us: f64,
    log_mib: f64,
}

/// Ingests N events while paused, resumes, drains; RSS sampled throughout.
/// `threads`: the engine's `server.worker_threads`.
async fn build(context: &Context, brokers: &str, threads: Option<usize>) -> anyhow::Result<Built> {
    let count = context.scale.backlog_events;
    let dir = engine::fresh_dir(&context.data_dir, "backlog")?;
    let server =
        Server::start_with_threads(&context.engine, &dir, threads, &destination(brokers)).await?;
    let pid = server.pid();
    server.control("pause").await?;
    let idle_rss = rss_mib(pid);

    let started = Instant::now();
    let (posted, ingest_peak) = engine::peak_rss_during(
        pid,
        engine::post_all(&server, count, |i| events::event(i, 1024, KEYS)),
    )
    .await;
    posted?;
    let ingest_rate = count as f64 / started.elapsed().as_secs_f64();
    ensure!(server.lag().await? == count as u64, "every event waits");

    let (started, cpu_before) = (Instant::now(), engine::cpu_seconds(pid));
    server.control("resume").await?;
    let (drained, drain_peak) =
        engine::peak_rss_during(pid, server.wait_for_no_lag(Duration::from_millis(50))).await;
    drained?;
    let drain_rate = count as f64 / started.elapsed().as_secs_f64();
    let drain_cpu_us = (engine::cpu_seconds(pid) - cpu_before) * 1e6 / count as f64;
    server.stop();
    std::fs::write(dir.join(COUNT_FILE), count.to_string())?;
    Ok(Built {
        idle_rss,
        ingest_peak,
        ingest_rate,
        drain_peak,
        drain_rate,
        drain_cpu_us,
        log_mib: log_mib(&dir),
    })
}

/// A kafka destination `bench` with the default batching, topic `backlog`.
fn destination(brokers: &str) -> String {
    kafka::destination(brokers, "backlog", None)
}

fn log_mib(dir: &Path) -> f64 {
    let bytes = std::fs::metadata(dir.join("data/pushrail.redb")).map_or(0, |m| m.len());
    bytes as f64 / f64::from(1 << 20)
}

fn group(n: usize) -> String {
    group_thousands(n as u64)
}
