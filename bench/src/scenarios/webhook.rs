//! Scenario 11, the built-in `webhook` destination: a backlog of 1 KiB
//! events over 1,000 keys drained to a receiver 20 ms away with 1, 16 and
//! 64 requests at a time (`max_in_flight` in the plugin and in
//! `[destinations.network]`), and to a receiver that answers at once with
//! 64 (what the engine's own cost allows). The ceiling: a raw HTTP client
//! (reqwest over hyper) posting the same bodies, signed the same way, with
//! the same number of requests at a time — what a hand-written sender with
//! no log, no order per key and no plugin would do. Beside events/s, the
//! p99 response time of the requests: ours from the engine's
//! `pushrail_http_request_seconds` histogram (so the upper bound of its
//! bucket), the raw client's measured per request and put in the same
//! buckets.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use pushrail::config::Secret;
use pushrail::sinks::signing::{SECRET, Signer, SigningConfig};
use serde_json::Value;
use tokio::sync::Semaphore;

use super::timing::{Delivery, rounds, timed_delivery};
use super::{Context, Scenario};
use crate::engine::{self, Server};
use crate::events;
use crate::report::{Measurement, Unit};
use crate::services::receiver::Receiver;

const SIGNING_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const AWAY: Duration = Duration::from_millis(20);
const KEYS: usize = 1000;
/// Events per request slot at 20 ms: about 5 s at full rate.
const EVENTS_PER_SLOT: usize = 250;

pub async fn run(context: &Context) -> anyhow::Result<Vec<Measurement>> {
    let mut results = Vec::new();
    for (delay, in_flight) in [(AWAY, 1), (AWAY, 16), (AWAY, 64), (Duration::ZERO, 64)] {
        let receiver = Receiver::start(delay).await?;
        let count = if delay.is_zero() {
            // Several seconds at full rate: a second or less measured the
            // machine's moment more than either sender.
            5 * context.scale.kinesis_events
        } else {
            (in_flight * EVENTS_PER_SLOT).min(context.scale.kinesis_events)
        };
        let events = events::events(count, KEYS);
        let (mut raw, mut ours) = (Vec::new(), Vec::new());
        let (mut raw_p99, mut ours_p99) = (Vec::new(), Vec::new());
        for _ in 0..context.scale.rounds {
            let (rate, p99) = raw_client(&receiver, &events, in_flight).await?;
            raw.push(rate);
            raw_p99.push(p99);
            let (delivery, p99) = through_pushrail(context, &receiver, &events, in_flight).await?;
            ours.push(delivery);
            ours_p99.push(p99);
        }
        let (ours, cpu) = rounds(&ours);
        let away = if delay.is_zero() {
            "a receiver answering at once".to_owned()
        } else {
            format!("a receiver {} ms away", delay.as_millis())
        };
        results.push(
            Measurement::new(
                Scenario::Webhook,
                format!("webhook, {in_flight} at a time, {away}: backlog drain"),
                Unit::EventsPerSecond,
                ours,
            )
            .against(
                format!("raw HTTP client (reqwest), {in_flight} at a time, signed alike"),
                raw,
            )
            .goal_ratio(0.8)
            .cpu(cpu)
            .notes(format!(
                "{count} events of 1 KiB over {KEYS} keys, one signed POST each (Standard Webhooks); ours in log order per key"
            )),
        );
        results.push(
            Measurement::new(
                Scenario::Webhook,
                format!("webhook, {in_flight} at a time, {away}: p99 response time"),
                Unit::Millis,
                ours_p99,
            )
            .against(format!("raw HTTP client (reqwest), {in_flight} at a time"), raw_p99)
            .notes("the upper bound of the p99's bucket in the engine's pushrail_http_request_seconds histogram; the raw client's p99 put in the same buckets"),
        );
    }
    Ok(results)
}

/// The upper bound, in ms, of the histogram bucket (the engine's
/// `/metrics` buckets) that holds the 99th percentile of `seconds`.
fn p99_bucket(mut seconds: Vec<f64>) -> f64 {
    seconds.sort_by(f64::total_cmp);
    let p99 = seconds
        .get((seconds.len() * 99).div_ceil(100).saturating_sub(1))
        .copied()
        .unwrap_or_default();
    BUCKETS.iter().copied().find(|b| p99 <= *b).unwrap_or(p99) * 1000.0
}

/// `pushrail_http_request_seconds`' bucket bounds (host/src/metrics.rs).
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The p99 of `pushrail_http_request_seconds` of destination `bench` in a
/// `/metrics` text, in ms: the first bucket that holds 99% of requests.
fn p99_from_metrics(text: &str) -> anyhow::Result<f64> {
    let prefix = "pushrail_http_request_seconds_bucket{destination=\"bench\",le=\"";
    let buckets: Vec<(f64, f64)> = text
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(prefix)?;
            let (bound, count) = rest.split_once("\"} ")?;
            let bound = if bound == "+Inf" {
                f64::INFINITY
            } else {
                bound.parse().ok()?
            };
            Some((bound, count.trim().parse().ok()?))
        })
        .collect();
    let total = buckets
        .last()
        .map(|(_, n)| *n)
        .context("no request histogram")?;
    let (bound, _) = buckets
        .iter()
        .find(|(_, n)| *n >= total * 0.99)
        .context("an empty histogram")?;
    Ok(bound * 1000.0)
}

/// Drains `events` through the engine's webhook destination.
async fn through_pushrail(
    context: &Context,
    receiver: &Receiver,
    events: &[Value],
    in_flight: usize,
) -> anyhow::Result<(Delivery, f64)> {
    let dir = engine::fresh_dir(&context.data_dir, "webhook")?;
    let config = format!(
        "[[destinations]]\nname = \"bench\"\nplugin = \"webhook\"\npartition_key = \"customerExternalId\"\n\
         batch = {{ max_events = 500, linger = \"20ms\" }}\n\
         [destinations.config]\nurl = \"{}\"\nmax_in_flight = {in_flight}\n\
         [destinations.network]\nallow = [\"{}\"]\nmax_in_flight = {in_flight}\n\
         [destinations.secrets]\nsigning_secret = \"{SIGNING_SECRET}\"\n",
        receiver.url,
        receiver.origin()
    );
    let server = Server::start(&context.engine, &dir, &config).await?;
    let before = receiver.received();
    let delivery = timed_delivery(&server, events, true).await?;
    let metrics = server.metrics().await?;
    let log = server.stop();
    let received = receiver.received() - before;
    anyhow::ensure!(
        received >= events.len() as u64,
        "the receiver got {received} of {} requests; engine log:\n{log}",
        events.len()
    );
    Ok((delivery, p99_from_metrics(&metrics)?))
}

/// The ceiling: the same bodies, each signed and POSTed, `in_flight` at a
/// time, by one pooled client.
async fn raw_client(
    receiver: &Receiver,
    events: &[Value],
    in_flight: usize,
) -> anyhow::Result<(f64, f64)> {
    let secrets = BTreeMap::from([(SECRET.to_owned(), Secret::new(SIGNING_SECRET))]);
    let signer =
        Arc::new(Signer::new(&secrets, &SigningConfig::default())?.context("a signing secret")?);
    let client = reqwest::Client::new();
    let bodies: Vec<(String, Vec<u8>)> = events
        .iter()
        .enumerate()
        .map(|(i, e)| (format!("evt_{i:026}"), events::delivered_value(e, i)))
        .collect();
    let slots = Arc::new(Semaphore::new(in_flight));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let mut times = Vec::with_capacity(events.len());
    for (id, body) in bodies {
        let permit = slots.clone().acquire_owned().await?;
        let (client, signer, url) = (client.clone(), signer.clone(), receiver.url.clone());
        tasks.spawn(async move {
            let mut request = client.post(url).header("content-type", "application/json");
            for (name, value) in signer.headers(&id, &body, SystemTime::now()) {
                request = request.header(name, value);
            }
            let sent = Instant::now();
            let answered = request.body(body).send().await;
            let took = sent.elapsed().as_secs_f64();
            drop(permit);
            answered.map(|r| (r.status().is_success(), took))
        });
        while let Some(done) = tasks.try_join_next() {
            times.push(answered(done)?);
        }
    }
    while let Some(done) = tasks.join_next().await {
        times.push(answered(done)?);
    }
    let rate = events.len() as f64 / started.elapsed().as_secs_f64();
    Ok((rate, p99_bucket(times)))
}

/// A raw request's response time, if the receiver took it.
fn answered(
    done: Result<reqwest::Result<(bool, f64)>, tokio::task::JoinError>,
) -> anyhow::Result<f64> {
    let (ok, took) = done??;
    anyhow::ensure!(ok, "the receiver refused a request");
    Ok(took)
}
