//! Scenario 10, Kinesis record aggregation (`aggregation = true`): events/s
//! through the real binary with and without aggregation, in strict and
//! relaxed ordering, over one hot key and 1,000 keys, next to the raw
//! PutRecords loop; and PUT payload units per 1,000 events, counted from
//! the records the stream holds afterwards (kinesalite, 4 shards).
//!
//! kinesalite does not enforce a shard's 1 MiB/s write limit: on Kinesis a
//! hot key (one shard) is capped there, about 1,000 events/s of 1 KiB. The
//! hot key in strict ordering also runs 50 ms away (the distance scenario's
//! proxy), where one record per round trip would be 20 events/s.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use serde_json::Value;

use super::kinesis::{Run, raw_loop, through_pushrail};
use super::timing::{Delivery, rounds};
use super::{Context, Scenario};
use crate::events;
use crate::report::{Measurement, Unit, group_thousands};
use crate::services::distance::Distance;
use crate::services::kinesalite::Kinesalite;
use crate::services::kinesis::{self as kinesis_client, read_raw};

const SHARDS: i32 = 4;
/// Events per delivery batch, as in the Kinesis scenario.
const DELIVER_BATCH: usize = 2000;
/// The strict hot-key goal: 20× the 2,120 events/s measured without
/// aggregation when #16 was filed.
const HOT_KEY_GOAL: f64 = 20.0 * 2120.0;
/// Kinesis bills a PUT payload unit per 25 KiB or part of it, per record.
const PUT_PAYLOAD_UNIT: usize = 25 * 1024;
/// The engine's default aggregate size (40 PUT payload units).
const AGGREGATE_BYTES: usize = 40 * PUT_PAYLOAD_UNIT;

/// One configuration's runs: rates, and PUT payload units per 1,000 events.
#[derive(Default)]
struct Runs {
    delivered: Vec<Delivery>,
    units: Vec<f64>,
}

pub async fn run(context: &Context) -> anyhow::Result<Vec<Measurement>> {
    let server = Kinesalite::start().await?;
    let mut results = Vec::new();
    results.push(hot_key_far_away(context, &server).await?);
    for keys in [1, 1000] {
        let events = events::events(context.scale.kinesis_events, keys);
        let (mut raw, mut raw_aggregates) = (Vec::new(), Vec::new());
        // (ordering, aggregated, paused) → runs.
        let configurations = [
            ("strict", false, false),
            ("strict", true, false),
            ("strict", true, true),
            ("relaxed", false, false),
            ("relaxed", true, false),
        ];
        let mut runs: Vec<Runs> = configurations.iter().map(|_| Runs::default()).collect();
        for round in 0..context.scale.rounds {
            let raw_stream = format!("agg-raw-{keys}-{round}");
            server.create_stream(&raw_stream, SHARDS).await;
            raw.push(raw_loop(&server.client, &raw_stream, &events, false).await?);
            if keys == 1 {
                let stream = format!("agg-raw-packed-{round}");
                server.create_stream(&stream, SHARDS).await;
                raw_aggregates
                    .push(one_aggregate_per_call(&server.client, &stream, &events).await?);
            }
            for (n, &(ordering, aggregation, paused)) in configurations.iter().enumerate() {
                let stream = format!("agg-{n}-{keys}-{round}");
                server.create_stream(&stream, SHARDS).await;
                let run = Run {
                    endpoint: &server.endpoint,
                    stream: &stream,
                    ordering,
                    paused,
                    batch: DELIVER_BATCH,
                    aggregation,
                };
                runs[n]
                    .delivered
                    .push(through_pushrail(context, &run, &events).await?);
                runs[n]
                    .units
                    .push(units_per_thousand(&server.client, &stream, events.len()).await);
            }
        }
        results.extend(measurements(
            keys,
            &configurations,
            &runs,
            raw,
            raw_aggregates,
        ));
    }
    Ok(results)
}

fn measurements(
    keys: usize,
    configurations: &[(&str, bool, bool)],
    runs: &[Runs],
    raw: Vec<f64>,
    raw_aggregates: Vec<f64>,
) -> Vec<Measurement> {
    let key_text = if keys == 1 {
        "1 hot key".to_owned()
    } else {
        format!("{} keys", group_thousands(keys as u64))
    };
    let mut out = Vec::new();
    for (&(ordering, aggregated, paused), runs) in configurations.iter().zip(runs) {
        let (rates, cpu) = rounds(&runs.delivered);
        let how = if aggregated {
            "aggregated"
        } else {
            "not aggregated"
        };
        let timed = if paused {
            "backlog drain"
        } else {
            "post → acked"
        };
        let hot_strict_aggregated = ordering == "strict" && aggregated && keys == 1;
        let m = Measurement::new(
            Scenario::Aggregation,
            format!("{ordering} ordering, {key_text}, {how}: {timed}"),
            Unit::EventsPerSecond,
            rates,
        );
        let mut m = if hot_strict_aggregated {
            // What strict ordering lets a hot key do: one aggregate per call,
            // one call at a time; the raw client sends records of that size.
            m.against(
                "raw PutRecords loop, one 1,000 KiB record per call, one call at a time",
                raw_aggregates.clone(),
            )
        } else {
            m.against("raw PutRecords loop, 500 per call", raw.clone())
        }
        .cpu(cpu)
        .notes(format!(
            "kinesalite, {SHARDS} shards; delivery batches of {DELIVER_BATCH}; 1 KiB events"
        ));
        if hot_strict_aggregated {
            let met = m.ours.median >= HOT_KEY_GOAL;
            m = m.goal(
                format!("≥ {} events/s", group_thousands(HOT_KEY_GOAL as u64)),
                met,
            );
        }
        out.push(m);
    }
    // PUT payload units, from the strict runs with and without aggregation.
    let units = |aggregated: bool| {
        configurations
            .iter()
            .zip(runs)
            .find(|((o, a, p), _)| *o == "strict" && *a == aggregated && !*p)
            .map(|(_, r)| r.units.clone())
            .unwrap_or_default()
    };
    let (with, without) = (units(true), units(false));
    let m = Measurement::new(
        Scenario::Aggregation,
        format!("PUT payload units per 1,000 events, {key_text}, aggregated"),
        Unit::PutUnitsPerThousand,
        with,
    )
    .against("the same events not aggregated", without)
    .notes(
        "counted from the records in the stream: 1 unit per 25 KiB or part of it, per record; \
         aggregates are per key, so a key needs many events per batch to fill one",
    );
    let fewer = m.ratio.map_or(0.0, |r| 1.0 / r);
    let m = if keys == 1 {
        m.goal("≥ 20× fewer", fewer >= 20.0)
    } else {
        m
    };
    out.push(m);
    out
}

/// A hot key in strict ordering with aggregation, 50 ms away, against the
/// raw client sending aggregate-sized records one call at a time through
/// the same proxy.
async fn hot_key_far_away(context: &Context, server: &Kinesalite) -> anyhow::Result<Measurement> {
    let upstream = server.endpoint.trim_start_matches("http://").to_owned();
    let far = Distance::start(&upstream, Duration::from_millis(50)).await?;
    let client = kinesis_client::client(&far.endpoint);
    let events = events::events(context.scale.kinesis_events, 1);
    let (mut raw, mut ours) = (Vec::new(), Vec::new());
    for round in 0..context.scale.rounds {
        let raw_stream = format!("agg-far-raw-{round}");
        let our_stream = format!("agg-far-{round}");
        server.create_stream(&raw_stream, SHARDS).await;
        server.create_stream(&our_stream, SHARDS).await;
        raw.push(one_aggregate_per_call(&client, &raw_stream, &events).await?);
        let run = Run {
            endpoint: &far.endpoint,
            stream: &our_stream,
            ordering: "strict",
            paused: false,
            batch: DELIVER_BATCH,
            aggregation: true,
        };
        ours.push(through_pushrail(context, &run, &events).await?);
    }
    let (rates, cpu) = rounds(&ours);
    Ok(Measurement::new(
        Scenario::Aggregation,
        "strict ordering, 1 hot key, aggregated, 50 ms away: post → acked",
        Unit::EventsPerSecond,
        rates,
    )
    .against(
        "raw PutRecords loop, one 1,000 KiB record per call, one call at a time",
        raw,
    )
    .cpu(cpu)
    .notes("kinesalite behind a proxy adding 50 ms per round trip; not aggregated, strict ordering moves one record of a key per round trip: at most 20 events/s"))
}

/// The ceiling for a hot key in strict ordering with aggregation: the
/// events' records packed into blobs of the aggregate size (no format:
/// the server cannot tell), put one per call, one call at a time; events/s.
async fn one_aggregate_per_call(
    client: &Client,
    stream: &str,
    events: &[Value],
) -> anyhow::Result<f64> {
    let mut blobs: Vec<Vec<u8>> = vec![Vec::new()];
    for (i, e) in events.iter().enumerate() {
        let record = events::delivered_value(e, i);
        if blobs
            .last()
            .is_some_and(|b| b.len() + record.len() > AGGREGATE_BYTES)
        {
            blobs.push(Vec::new());
        }
        blobs
            .last_mut()
            .expect("one blob")
            .extend_from_slice(&record);
    }
    let started = Instant::now();
    for blob in blobs {
        let entry = PutRecordsRequestEntry::builder()
            .partition_key(events::key(&events[0]))
            .data(Blob::new(blob))
            .build()?;
        let output = client
            .put_records()
            .stream_name(stream)
            .records(entry)
            .send()
            .await
            .context("PutRecords")?;
        anyhow::ensure!(output.failed_record_count() == Some(0), "a record failed");
    }
    Ok(events.len() as f64 / started.elapsed().as_secs_f64())
}

/// PUT payload units the stream's records cost, per 1,000 events.
async fn units_per_thousand(client: &Client, stream: &str, events: usize) -> f64 {
    let units: usize = read_raw(client, stream)
        .await
        .iter()
        .map(|r| (r.data.len() + r.partition_key.len()).div_ceil(PUT_PAYLOAD_UNIT))
        .sum();
    units as f64 * 1000.0 / events as f64
}
