//! Scenario 9, a destination a network round trip away: the local servers
//! answer in well under a millisecond, a customer's stream or cluster is
//! tens of milliseconds away, and there what matters is how many calls are
//! in flight. Kinesis (kinesalite) behind a proxy that adds 50 ms to every
//! exchange ([`Distance`]), and librdkafka's mock cluster with its own
//! 50 ms round-trip setting. Ceilings: the raw clients with the same
//! concurrency budget as ours (4 PutRecords calls at a time: our default
//! `batch.in_flight` of batches of one call each; Kafka: the raw producer
//! with every record queued at once, as librdkafka allows).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::kinesis::{CALL, Run, put_in_calls};
use super::timing::rounds;
use super::{Context, Scenario, kafka, kinesis};
use crate::engine;
use crate::events;
use crate::report::{Measurement, Unit};
use crate::services::distance::Distance;
use crate::services::fiddler::{self, Fiddler};
use crate::services::kinesalite::Kinesalite;

const ROUND_TRIP: Duration = Duration::from_millis(50);
/// PutRecords calls at once: the engine's default `batch.in_flight`, each
/// batch one call of CALL records.
const CALLS_AT_ONCE: usize = 4;
const KEYS: usize = 1000;

pub async fn run(context: &Context) -> anyhow::Result<Vec<Measurement>> {
    let mut results = kinesis_far_away(context).await?;
    results.extend(kafka_far_away(context).await?);
    Ok(results)
}

async fn kinesis_far_away(context: &Context) -> anyhow::Result<Vec<Measurement>> {
    let server = Kinesalite::start().await?;
    let upstream = server.endpoint.trim_start_matches("http://").to_owned();
    let far = Distance::start(&upstream, ROUND_TRIP).await?;
    let client = crate::services::kinesis::client(&far.endpoint);
    let events = events::events(context.scale.kinesis_events, KEYS);
    let peer = Fiddler::binary();
    if peer.is_none() {
        eprintln!(
            "fiddler-cli is not installed: `cargo install fiddler-cli --version 4.9.1 --locked` to compare with it"
        );
    }
    let mut peer_rates = Vec::new();
    for round in 0..context.scale.rounds {
        if let Some(binary) = &peer {
            let stream = format!("far-fiddler-{round}");
            server.create_stream(&stream, 4).await;
            peer_rates.push(
                through_fiddler(context, binary, &far.endpoint, &client, &stream, &events).await?,
            );
        }
    }
    let mut results = Vec::new();
    for (ordering, strict, aggregation) in [
        ("relaxed", false, false),
        ("strict", true, false),
        ("strict", true, true),
    ] {
        let (mut raw, mut ours) = (Vec::new(), Vec::new());
        let label = if aggregation {
            format!("{ordering} ordering with aggregation")
        } else {
            format!("{ordering} ordering")
        };
        for round in 0..context.scale.rounds {
            let raw_stream = format!("far-raw-{ordering}-{aggregation}-{round}");
            let our_stream = format!("far-{ordering}-{aggregation}-{round}");
            server.create_stream(&raw_stream, 4).await;
            server.create_stream(&our_stream, 4).await;
            raw.push(concurrent_calls(&client, &raw_stream, &events, strict).await?);
            let run = Run {
                endpoint: &far.endpoint,
                stream: &our_stream,
                ordering,
                paused: false,
                batch: CALL,
                aggregation,
            };
            ours.push(kinesis::through_pushrail(context, &run, &events).await?);
        }
        let (ours, ours_cpu) = rounds(&ours);
        let rule = match (strict, aggregation) {
            (true, false) => {
                "; strict: one record per key per call, a key's next after its last landed"
            }
            (true, true) => "; strict with aggregation: one aggregate of a key's events per call",
            _ => "",
        };
        if !peer_rates.is_empty() {
            results.push(
                Measurement::new(
                    Scenario::Distance,
                    format!("Kinesis 50 ms away, {label}: post → in the stream, vs fiddler"),
                    Unit::EventsPerSecond,
                    ours.clone(),
                )
                .against("fiddler 4.9.1, http_server → aws_kinesis", peer_rates.clone())
                .goal_ratio(1.5)
                .cpu(ours_cpu.clone())
                .notes("fiddler: batches of 500 within 100 ms, answers before anything is durable, drops failed records, no order per key"),
            );
        }
        results.push(
            Measurement::new(
                Scenario::Distance,
                format!("Kinesis 50 ms away, {label}, 1,000 keys: post → acked"),
                Unit::EventsPerSecond,
                ours,
            )
            .against(
                format!("raw PutRecords, {CALLS_AT_ONCE} calls at a time"),
                raw,
            )
            .goal_ratio(0.8)
            .cpu(ours_cpu)
            .notes(format!(
                "kinesalite behind a proxy adding 50 ms per round trip; batches of {CALL}{rule}"
            )),
        );
    }
    Ok(results)
}

/// The peer: the same events posted to fiddler's HTTP input by the same
/// clients, timed until the stream holds all of them.
async fn through_fiddler(
    context: &Context,
    binary: &std::path::Path,
    endpoint: &str,
    client: &aws_sdk_kinesis::Client,
    stream: &str,
    events: &[Value],
) -> anyhow::Result<f64> {
    let dir = engine::fresh_dir(&context.data_dir, "fiddler")?;
    let peer = Fiddler::start(binary, &dir, endpoint, stream).await?;
    let http = reqwest::Client::new();
    // The posts are copied before the clock starts, as for ours (timing.rs).
    let chunks: Vec<Vec<Value>> = events
        .chunks(super::timing::POST_BATCH)
        .map(<[_]>::to_vec)
        .collect();
    let chunks = Arc::new(Mutex::new(VecDeque::from(chunks)));
    let started = Instant::now();
    let mut posters = tokio::task::JoinSet::<anyhow::Result<()>>::new();
    for _ in 0..super::timing::POSTERS {
        let (http, url, chunks) = (http.clone(), peer.url.clone(), chunks.clone());
        posters.spawn(async move {
            loop {
                let next = chunks.lock().expect("not poisoned").pop_front();
                let Some(chunk) = next else { return Ok(()) };
                let response = http.post(&url).json(&chunk).send().await?;
                anyhow::ensure!(
                    response.status().is_success(),
                    "fiddler answered {}",
                    response.status()
                );
            }
        });
    }
    for result in posters.join_all().await {
        result?;
    }
    let landed =
        fiddler::wait_for_records(client, stream, events.len(), Duration::from_secs(300)).await?;
    Ok(events.len() as f64 / (landed - started).as_secs_f64())
}

/// Events with their index in the run.
type Numbered = Vec<(usize, Value)>;

/// The ceiling: CALLS_AT_ONCE workers taking work from one queue: calls of
/// CALL records, or in strict ordering a share of the keys each, sent with
/// the strict rule, so that no key has two records in flight.
async fn concurrent_calls(
    client: &aws_sdk_kinesis::Client,
    stream: &str,
    events: &[Value],
    strict: bool,
) -> anyhow::Result<f64> {
    let numbered: Numbered = events.iter().cloned().enumerate().collect();
    let work: VecDeque<Numbered> = if strict {
        let mut shares = vec![Vec::new(); CALLS_AT_ONCE];
        for (i, e) in numbered {
            shares[key_number(events::key(&e)) % CALLS_AT_ONCE].push((i, e));
        }
        shares.into()
    } else {
        numbered.chunks(CALL).map(<[_]>::to_vec).collect()
    };
    let work = Arc::new(Mutex::new(work));
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::<anyhow::Result<()>>::new();
    for _ in 0..CALLS_AT_ONCE {
        let (client, stream, work) = (client.clone(), stream.to_owned(), work.clone());
        workers.spawn(async move {
            loop {
                let next = work.lock().expect("not poisoned").pop_front();
                let Some(next) = next else { return Ok(()) };
                let numbered: Vec<(usize, &Value)> = next.iter().map(|(i, e)| (*i, e)).collect();
                put_in_calls(&client, &stream, &numbered, strict).await?;
            }
        });
    }
    for result in workers.join_all().await {
        result?;
    }
    Ok(events.len() as f64 / started.elapsed().as_secs_f64())
}

/// The number in a canonical key (`acct_17` → 17).
fn key_number(key: &str) -> usize {
    key.rsplit('_')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

async fn kafka_far_away(context: &Context) -> anyhow::Result<Vec<Measurement>> {
    let cluster = kafka::mock_cluster(&[])?;
    cluster
        .broker_round_trip_time(1, ROUND_TRIP)
        .map_err(|e| anyhow::anyhow!("mock cluster round trip: {e}"))?;
    let brokers = cluster.bootstrap_servers();
    let events = events::events(context.scale.kafka_events, KEYS);
    let (mut raw, mut ours) = (Vec::new(), Vec::new());
    for round in 0..context.scale.rounds {
        let (raw_topic, our_topic) = (format!("far-raw-{round}"), format!("far-{round}"));
        kafka::create_mock_topic(&cluster, &raw_topic)?;
        kafka::create_mock_topic(&cluster, &our_topic)?;
        raw.push(kafka::raw_producer(&brokers, &raw_topic, &events).await?);
        ours.push(
            kafka::through_pushrail(
                context,
                &brokers,
                &our_topic,
                &events,
                false,
                kafka::DELIVER_BATCH,
            )
            .await?,
        );
    }
    let (ours, ours_cpu) = rounds(&ours);
    Ok(vec![
        Measurement::new(
            Scenario::Distance,
            "Kafka 50 ms away, 1,000 keys: post → acked",
            Unit::EventsPerSecond,
            ours,
        )
        .against("raw rdkafka producer, every record queued at once", raw)
        .goal_ratio(0.8)
        .cpu(ours_cpu)
        .notes(format!(
            "librdkafka mock cluster with a 50 ms round trip; batches of {} (whole keys), {} partitions",
            kafka::DELIVER_BATCH,
            kafka::PARTITIONS
        )),
    ])
}
