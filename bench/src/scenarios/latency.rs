//! Scenario 5, latency from post to delivered at half of the measured maximum rate,
//! to Kafka (tansu) with the engine's default batching and producer
//! settings, next to a raw rdkafka producer sending at the same rate.
//!
//! Both are paced open loop: event `i` is due at `start + i / rate` and its
//! latency counts from when it was due, so a stall delays every event behind
//! it (no coordinated omission). Ours ends when the engine's attempt log
//! says the broker acknowledged the event (millisecond timestamps); the raw
//! producer's when its delivery report arrives.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, ensure};
use serde_json::Value;

use super::kafka::{self, PARTITIONS};
use super::{Context, Scenario};
use crate::engine::{self, Server};
use crate::events;
use crate::report::{Measurement, Unit};
use crate::services::kafka::Tansu;
use crate::stats::percentile;

const PERCENTILES: [(f64, &str); 3] = [(0.5, "p50"), (0.99, "p99"), (0.999, "p99.9")];
/// Clients of the closed-loop probe for the maximum rate.
const PROBE_CLIENTS: usize = 64;

pub async fn run(context: &Context) -> anyhow::Result<Vec<Measurement>> {
    let tansu = Tansu::start().await;
    let address = tansu.brokers();
    tansu.create_topic("probe", PARTITIONS as u32);
    let probe = events::events(context.scale.latency_probe_events, 1000);
    let max = max_rate(context, &address, &probe).await?;
    let rate = max / 2.0;
    let count = (rate * context.scale.latency_seconds).ceil() as usize;
    let events = Arc::new(events::events(count, 1000));
    eprintln!("  max {max:.0} events/s post → delivered; measuring at {rate:.0}/s");

    let mut ours: Vec<Vec<f64>> = vec![Vec::new(); PERCENTILES.len()];
    let mut raw: Vec<Vec<f64>> = vec![Vec::new(); PERCENTILES.len()];
    for round in 0..context.scale.rounds {
        let (raw_topic, our_topic) = (format!("raw-{round}"), format!("ours-{round}"));
        tansu.create_topic(&raw_topic, PARTITIONS as u32);
        tansu.create_topic(&our_topic, PARTITIONS as u32);
        let sorted = raw_paced(&address, &raw_topic, &events, rate).await?;
        for (values, (p, _)) in raw.iter_mut().zip(PERCENTILES) {
            values.push(percentile(&sorted, p));
        }
        let sorted = ours_paced(context, &address, &our_topic, events.clone(), rate).await?;
        for (values, (p, _)) in ours.iter_mut().zip(PERCENTILES) {
            values.push(percentile(&sorted, p));
        }
    }
    Ok(PERCENTILES
        .iter()
        .zip(ours.into_iter().zip(raw))
        .map(|((_, name), (ours, raw))| {
            Measurement::new(
                Scenario::Latency,
                format!("tansu {name}, post → acked at {rate:.0} events/s"),
                Unit::Millis,
                ours,
            )
            .against("raw rdkafka producer, same rate and settings", raw)
            .notes(format!(
                "50% of the {max:.0}/s measured with {PROBE_CLIENTS} clients posting single events; engine defaults (batches of 1,000 of whole keys, linger 100 ms)"
            ))
        })
        .collect())
}

/// Events/s from the first post to no lag, single-event posts from many clients.
async fn max_rate(context: &Context, brokers: &str, events: &[Value]) -> anyhow::Result<f64> {
    let dir = engine::fresh_dir(&context.data_dir, "latency")?;
    let server = Server::start(
        &context.engine,
        &dir,
        &kafka::destination(brokers, "probe", None),
    )
    .await?;
    let bodies = Arc::new(events.to_vec());
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..PROBE_CLIENTS {
        let (http, url, bodies, next) = (
            server.http.clone(),
            server.url("/v1/events"),
            bodies.clone(),
            next.clone(),
        );
        clients.spawn(async move {
            while let Some(e) = bodies.get(next.fetch_add(1, Ordering::Relaxed)) {
                let response = http.post(&url).json(e).send().await?;
                ensure!(
                    response.status().as_u16() == 202,
                    "post: {}",
                    response.status()
                );
            }
            Ok(())
        });
    }
    for client in clients.join_all().await {
        client?;
    }
    server.wait_for_no_lag(Duration::from_millis(5)).await?;
    let rate = events.len() as f64 / started.elapsed().as_secs_f64();
    server.stop();
    Ok(rate)
}

/// When event `i` is due.
fn due(start: Instant, i: usize, rate: f64) -> Instant {
    start + Duration::from_secs_f64(i as f64 / rate)
}

/// The raw producer's latencies in ms, sorted.
async fn raw_paced(
    brokers: &str,
    topic: &str,
    events: &[Value],
    rate: f64,
) -> anyhow::Result<Vec<f64>> {
    let producer = kafka::producer(brokers)?;
    kafka::warm_up(&producer, topic).await?;
    let start = Instant::now();
    let mut waiting = tokio::task::JoinSet::new();
    for (i, e) in events.iter().enumerate() {
        let due = due(start, i, rate);
        tokio::time::sleep_until(due.into()).await;
        let delivery = kafka::send_record(&producer, topic, e, i)?;
        waiting.spawn(async move {
            delivery
                .await
                .context("delivery future dropped")?
                .map_err(|(e, _)| e)
                .context("produce")?;
            Ok::<_, anyhow::Error>(due.elapsed().as_secs_f64() * 1e3)
        });
    }
    let mut latencies = Vec::with_capacity(events.len());
    for latency in waiting.join_all().await {
        latencies.push(latency?);
    }
    latencies.sort_by(f64::total_cmp);
    Ok(latencies)
}

/// Ours: single-event posts at `rate`, then each event's acknowledgement
/// time from the attempt log. Latencies in ms, sorted.
async fn ours_paced(
    context: &Context,
    brokers: &str,
    topic: &str,
    events: Arc<Vec<Value>>,
    rate: f64,
) -> anyhow::Result<Vec<f64>> {
    let dir = engine::fresh_dir(&context.data_dir, "latency")?;
    let server = Server::start(
        &context.engine,
        &dir,
        &kafka::destination(brokers, topic, None),
    )
    .await?;
    // Warm: the producer connected and the topic's metadata known.
    server.post_batch(&events[..1]).await?;
    server.wait_for_no_lag(Duration::from_millis(5)).await?;

    let start = Instant::now();
    let start_wall = SystemTime::now();
    let mut posts = tokio::task::JoinSet::new();
    for i in 0..events.len() {
        let due = due(start, i, rate);
        tokio::time::sleep_until(due.into()).await;
        let (http, url, events) = (
            server.http.clone(),
            server.url("/v1/events"),
            events.clone(),
        );
        posts.spawn(async move {
            let response = http.post(&url).json(&events[i]).send().await?;
            ensure!(
                response.status().as_u16() == 202,
                "post: {}",
                response.status()
            );
            let accepted: Value = response.json().await?;
            let sequence = accepted["sequence"].as_u64().context("sequence")?;
            Ok((sequence, unix_ms(start_wall + (due - start))))
        });
    }
    let mut due_ms: HashMap<u64, f64> = HashMap::with_capacity(events.len());
    for posted in posts.join_all().await {
        let (sequence, due) = posted?;
        due_ms.insert(sequence, due);
    }
    server.wait_for_no_lag(Duration::from_millis(20)).await?;
    let delivered = delivered_at(&server).await?;
    server.stop();
    let mut latencies: Vec<f64> = due_ms
        .iter()
        .map(|(sequence, due)| {
            delivered
                .get(sequence)
                .map(|at| (at - due).max(0.0))
                .context("an event the attempt log has no delivery for")
        })
        .collect::<Result<_, _>>()?;
    latencies.sort_by(f64::total_cmp);
    Ok(latencies)
}

fn unix_ms(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

/// sequence → when its delivered attempt ended (unix ms), from every page
/// of the destination's attempt log.
async fn delivered_at(server: &Server) -> anyhow::Result<HashMap<u64, f64>> {
    let mut delivered = HashMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = server.url("/v1/destinations/bench/attempts?status=delivered&limit=1000");
        if let Some(c) = &cursor {
            url += &format!("&cursor={c}");
        }
        let page: Value = server.http.get(&url).send().await?.json().await?;
        let items = page["items"].as_array().context("attempt page items")?;
        for item in items {
            let started = item["startedAt"].as_str().context("startedAt")?;
            let started = time::OffsetDateTime::parse(
                started,
                &time::format_description::well_known::Rfc3339,
            )?;
            let ended = started.unix_timestamp_nanos() as f64 / 1e6
                + item["durationMs"].as_f64().context("durationMs")?;
            let sequence = item["sequence"].as_u64().context("sequence")?;
            delivered.insert(sequence, ended);
        }
        match page["next"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return Ok(delivered),
        }
    }
}
