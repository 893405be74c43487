//! Scenario 4, end to end to Kinesis: events/s from HTTP post to acknowledged
//! PutRecords through the real binary and the built-in kinesis plugin, in
//! relaxed and strict ordering, over 1,000 keys and one hot key, next to a
//! raw aws-sdk-kinesis PutRecords loop with the same records and call size
//! on the same server (kinesalite; correctness is tested on kinesis-local).
//! Relaxed ordering is also timed draining a backlog posted while paused,
//! which tells delivery apart from the ingest it shares the cores with.

use std::time::Instant;

use anyhow::Context as _;
use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use serde_json::Value;

use super::timing::{Delivery, rounds, timed_delivery};
use super::{Context, Scenario};
use crate::engine::{self, Server};
use crate::events;
use crate::report::{Measurement, Unit, group_thousands};
use crate::services::kinesalite::Kinesalite;

const SHARDS: i32 = 4;
/// Records per PutRecords call, for us and for the raw loop.
pub const CALL: usize = 500;
/// Events per delivery batch: the host splits it into calls of CALL records.
const DELIVER_BATCH: usize = 2000;

pub async fn run(context: &Context) -> anyhow::Result<Vec<Measurement>> {
    let server = Kinesalite::start().await?;
    let mut results = Vec::new();
    for keys in [1000, 1] {
        let events = events::events(context.scale.kinesis_events, keys);
        let (mut raw, mut raw_strict) = (Vec::new(), Vec::new());
        let (mut relaxed, mut strict, mut drain) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..context.scale.rounds {
            let stream = |kind: &str| format!("{kind}-{keys}-{round}");
            for kind in ["raw", "raw-strict", "relaxed", "strict", "drain"] {
                server.create_stream(&stream(kind), SHARDS).await;
            }
            raw.push(raw_loop(&server.client, &stream("raw"), &events, false).await?);
            raw_strict.push(raw_loop(&server.client, &stream("raw-strict"), &events, true).await?);
            for (kind, ordering, paused, rates) in [
                ("relaxed", "relaxed", false, &mut relaxed),
                ("strict", "strict", false, &mut strict),
                ("drain", "relaxed", true, &mut drain),
            ] {
                let stream = stream(kind);
                let run = Run {
                    endpoint: &server.endpoint,
                    stream: &stream,
                    ordering,
                    paused,
                    batch: DELIVER_BATCH,
                    aggregation: false,
                };
                rates.push(through_pushrail(context, &run, &events).await?);
            }
        }
        let ((relaxed, relaxed_cpu), (drain, drain_cpu), (strict, strict_cpu)) =
            (rounds(&relaxed), rounds(&drain), rounds(&strict));
        let key_text = if keys == 1 {
            "1 hot key".to_owned()
        } else {
            format!("{} keys", group_thousands(keys as u64))
        };
        let ceiling = format!("raw PutRecords loop, {CALL} per call");
        results.push(
            Measurement::new(
                Scenario::Kinesis,
                format!("relaxed ordering, {key_text}: post → acked"),
                Unit::EventsPerSecond,
                relaxed,
            )
            .against(&ceiling, raw.clone())
            .goal_ratio(0.9)
            .cpu(relaxed_cpu)
            .notes(format!(
                "kinesalite, {SHARDS} shards; posting while delivering"
            )),
        );
        results.push(
            Measurement::new(
                Scenario::Kinesis,
                format!("relaxed ordering, {key_text}: backlog drain"),
                Unit::EventsPerSecond,
                drain,
            )
            .against(&ceiling, raw)
            .goal_ratio(0.9)
            .cpu(drain_cpu)
            .notes("posted while paused; timed from resume to no lag"),
        );
        results.push(
            Measurement::new(
                Scenario::Kinesis,
                format!("strict ordering, {key_text}: post → acked"),
                Unit::EventsPerSecond,
                strict,
            )
            .against(
                "raw PutRecords loop, one record per key per call",
                raw_strict,
            )
            .cpu(strict_cpu)
            .notes("strict: a later record of a key is sent only after the earlier one landed"),
        );
    }
    Ok(results)
}

/// The ceiling: the same records, up to CALL per PutRecords, one call at a
/// time, failed entries resent. With `strict`, a call holds at most one
/// record per key (what strict ordering needs when a call can half fail).
pub async fn raw_loop(
    client: &Client,
    stream: &str,
    events: &[Value],
    strict: bool,
) -> anyhow::Result<f64> {
    let started = Instant::now();
    let numbered: Vec<(usize, &Value)> = events.iter().enumerate().collect();
    put_in_calls(client, stream, &numbered, strict).await?;
    Ok(events.len() as f64 / started.elapsed().as_secs_f64())
}

/// Sends `events` (each with its index in the run) in calls of up to CALL
/// records, one call at a time; with `strict`, at most one record per key
/// per call.
pub async fn put_in_calls(
    client: &Client,
    stream: &str,
    events: &[(usize, &Value)],
    strict: bool,
) -> anyhow::Result<()> {
    let mut call: Vec<PutRecordsRequestEntry> = Vec::with_capacity(CALL);
    let mut keys_in_call = std::collections::HashSet::new();
    for &(i, e) in events {
        let key = events::key(e);
        if call.len() == CALL || (strict && keys_in_call.contains(key)) {
            put_all(client, stream, std::mem::take(&mut call)).await?;
            keys_in_call.clear();
        }
        keys_in_call.insert(key);
        call.push(
            PutRecordsRequestEntry::builder()
                .partition_key(key)
                .data(Blob::new(events::delivered_value(e, i)))
                .build()?,
        );
    }
    put_all(client, stream, call).await
}

/// One PutRecords, then its failed entries again until none is left.
async fn put_all(
    client: &Client,
    stream: &str,
    mut pending: Vec<PutRecordsRequestEntry>,
) -> anyhow::Result<()> {
    while !pending.is_empty() {
        let output = client
            .put_records()
            .stream_name(stream)
            .set_records(Some(pending.clone()))
            .send()
            .await
            .context("PutRecords")?;
        pending = pending
            .into_iter()
            .zip(output.records())
            .filter(|(_, r)| r.error_code().is_some())
            .map(|(e, _)| e)
            .collect();
    }
    Ok(())
}

/// One run of ours.
pub struct Run<'a> {
    pub endpoint: &'a str,
    pub stream: &'a str,
    pub ordering: &'a str,
    /// Posted while paused, timed from resume.
    pub paused: bool,
    /// Events per delivery batch.
    pub batch: usize,
    /// `aggregation = true` (KPL aggregated records).
    pub aggregation: bool,
}

/// Ours: events/s from post (or resume) until the lag is zero, and CPU.
pub async fn through_pushrail(
    context: &Context,
    run: &Run<'_>,
    events: &[Value],
) -> anyhow::Result<Delivery> {
    let dir = engine::fresh_dir(&context.data_dir, "kinesis")?;
    let config = engine::destination(
        "kinesis",
        Some(run.batch),
        &format!(
            "stream_name = \"{}\"\nregion = \"us-east-1\"\nendpoint_url = \"{}\"\nordering = \"{}\"\n\
             aggregation = {}\n\
             auth = {{ mode = \"static\", access_key_id = \"AKIDBENCH\", secret_access_key = \"secret\" }}",
            run.stream, run.endpoint, run.ordering, run.aggregation
        ),
    );
    let server = Server::start(&context.engine, &dir, &config).await?;
    let rate = timed_delivery(&server, events, run.paused).await?;
    server.stop();
    Ok(rate)
}
