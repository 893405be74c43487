//! Scenario 8, customers: one destination per customer (10,000 of them,
//! each subscribed to its one `customerExternalId`, as every customer
//! destination is), and N events spread over the customers — a few hot
//! ones and a long tail — delivered next to the same events through one
//! destination that takes them all. Also: start-up time, memory and
//! threads with 10,000 destinations, and CPU while they are all idle.
//!
//! Twice: with the file plugin (each destination its own file, synced per
//! batch) and with the kafka plugin to librdkafka's mock cluster (one
//! topic; the destinations share one producer, as customers on one
//! cluster with the same credentials do).

use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use serde_json::Value;

use super::{Context, Scenario, kafka};
use crate::engine::{self, Server, cpu_seconds, rss_mib, threads};
use crate::events;
use crate::report::{Measurement, Unit, group_thousands};

/// Customers whose events are half of all events.
const HOT: usize = 10;
const RSS_GOAL_MIB: f64 = 512.0;
/// Percent of one core.
const IDLE_CPU_GOAL: f64 = 1.0;
/// How long start-up is let settle, idle CPU measured, and the engine
/// left idle after delivering (it lets plugin instances go after 5 s)
/// before its memory is read; a smoke run only checks that it works.
fn waits(smoke: bool) -> [Duration; 3] {
    if smoke {
        [100, 1_000, 100].map(Duration::from_millis)
    } else {
        [2, 10, 8].map(Duration::from_secs)
    }
}

/// Where the destinations deliver.
#[derive(Clone, Copy)]
enum Sink {
    File,
    Kafka,
}

pub async fn run(context: &Context) -> anyhow::Result<Vec<Measurement>> {
    let mut measured = run_with(context, Sink::File).await?;
    measured.extend(run_with(context, Sink::Kafka).await?);
    Ok(measured)
}

async fn run_with(context: &Context, sink: Sink) -> anyhow::Result<Vec<Measurement>> {
    let customers = context.scale.customers;
    let count = context.scale.customer_events;
    // Alive until both runs are done.
    let mut cluster = None;
    let (fleet_config, single_config) = match sink {
        Sink::File => (
            per_customer(customers, "file", |k| format!("path = \"out/{k}.jsonl\"")),
            one_for_all_file(),
        ),
        Sink::Kafka => {
            let brokers = cluster
                .insert(kafka::mock_cluster(&["customers"])?)
                .bootstrap_servers();
            let table = format!("brokers = \"{brokers}\"\ntopic = \"customers\"");
            (
                per_customer(customers, "kafka", |_| table.clone()),
                kafka::destination(&brokers, "customers", None),
            )
        }
    };
    let mut rates = Vec::new();
    let mut single = Vec::new();
    let mut fleet = None;
    // Each round fills a log of N events twice: two rounds at most.
    for _ in 0..context.scale.rounds.min(2) {
        let measured = deliver(context, &fleet_config, customers, count).await?;
        rates.push(measured.rate);
        fleet.get_or_insert(measured);
        single.push(
            deliver(context, &single_config, customers, count)
                .await?
                .rate,
        );
    }
    let fleet = fleet.context("at least one round")?;
    let plugin = match sink {
        Sink::File => "file plugin, a file each, synced per batch",
        Sink::Kafka => "kafka plugin → librdkafka mock cluster, one shared producer",
    };
    let idle_window = waits(context.scale.smoke)[1];
    let (c, n) = (group(customers), group(count));
    Ok(vec![
        Measurement::new(
            Scenario::Customers,
            format!("{n} events over {c} customers, one destination each ({})", sink.name()),
            Unit::EventsPerSecond,
            rates,
        )
        .against("the same events through one destination", single)
        .goal_ratio(0.8)
        .cpu(vec![fleet.cpu_per_event * 1e6])
        .notes(format!(
            "{plugin}; half the events to {HOT} hot customers, half spread over all; 8 clients × 500 per post"
        )),
        Measurement::new(
            Scenario::Customers,
            format!("peak RSS, {c} destinations delivering {n} events ({})", sink.name()),
            Unit::Mebibytes,
            vec![fleet.peak_rss],
        )
        .goal(
            format!("< {RSS_GOAL_MIB} MiB"),
            fleet.peak_rss < RSS_GOAL_MIB,
        )
        .notes(format!(
            "{:.0} MiB after start-up, {:.0} MiB idle after delivering",
            fleet.started_rss, fleet.after_rss
        )),
        Measurement::new(
            Scenario::Customers,
            format!("CPU with {c} destinations idle ({})", sink.name()),
            Unit::CorePercent,
            vec![fleet.idle_cpu],
        )
        .goal(
            format!("< {IDLE_CPU_GOAL:.0}% of a core"),
            fleet.idle_cpu < IDLE_CPU_GOAL,
        )
        .notes(format!(
            "over {} s after start-up; {} threads",
            idle_window.as_secs(),
            fleet.threads
        )),
        Measurement::new(
            Scenario::Customers,
            format!("start-up to serving with {c} destinations ({})", sink.name()),
            Unit::Seconds,
            vec![fleet.startup],
        ),
    ])
}

/// What one run measured.
struct Delivered {
    rate: f64,
    cpu_per_event: f64,
    startup: f64,
    started_rss: f64,
    idle_cpu: f64,
    threads: usize,
    peak_rss: f64,
    after_rss: f64,
}

/// Starts the engine with `config`, posts `count` events and waits until
/// every one is delivered; the rate is from the first post to the last delivery.
async fn deliver(
    context: &Context,
    config: &str,
    customers: usize,
    count: usize,
) -> anyhow::Result<Delivered> {
    let dir = engine::fresh_dir(&context.data_dir, "customers")?;
    let started = Instant::now();
    let server = Server::start(&context.engine, &dir, config).await?;
    let startup = started.elapsed().as_secs_f64();
    let pid = server.pid();
    let [settle, idle_window, idle_after] = waits(context.scale.smoke);
    // Let start-up work (first reads, blocking threads) settle.
    tokio::time::sleep(settle).await;
    let started_rss = rss_mib(pid);
    let before = cpu_seconds(pid);
    tokio::time::sleep(idle_window).await;
    let idle_cpu = 100.0 * (cpu_seconds(pid) - before) / idle_window.as_secs_f64();
    let threads = threads(pid);

    let cpu_before = cpu_seconds(pid);
    let started = Instant::now();
    let work = async {
        engine::post_all(&server, count, move |i| event(i, customers)).await?;
        wait_delivered(&server, count).await
    };
    let (done, peak_rss) = engine::peak_rss_during(pid, work).await;
    done?;
    let took = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds(pid) - cpu_before;
    // Idle again: plugin instances are let go after a few seconds.
    tokio::time::sleep(idle_after).await;
    let after_rss = rss_mib(pid);
    server.stop();
    Ok(Delivered {
        rate: count as f64 / took,
        cpu_per_event: cpu / count as f64,
        startup,
        started_rss,
        idle_cpu,
        threads,
        peak_rss,
        after_rss,
    })
}

/// Polls `/metrics` until `count` events are delivered; fails on a dead letter.
/// Once a second: with 10,000 destinations delivering the page is tens of
/// megabytes, and rendering it four times a second (as this did) was a
/// sizeable share of the engine's CPU and peak memory in the timed window,
/// where a real scraper comes every 15 s or so. The rate can read up to a
/// second long: ~1% of a 1,000,000-event run.
async fn wait_delivered(server: &Server, count: usize) -> anyhow::Result<()> {
    loop {
        let text = server.metrics().await?;
        let (delivered, dead) = outcomes(&text);
        ensure!(dead == 0, "{dead} events were dead-lettered");
        if delivered >= count as u64 {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Delivered and dead-lettered events over every destination.
fn outcomes(metrics: &str) -> (u64, u64) {
    let mut totals = (0, 0);
    for line in metrics.lines() {
        let Some(rest) = line.strip_prefix("pushrail_delivery_events_total{") else {
            continue;
        };
        let n: u64 = rest
            .rsplit(' ')
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if rest.contains("outcome=\"delivered\"") {
            totals.0 += n;
        } else if rest.contains("outcome=\"dead_lettered\"") {
            totals.1 += n;
        }
    }
    totals
}

/// Event `i`: every other one to one of the hot customers, the rest spread
/// over every customer.
fn event(i: usize, customers: usize) -> Value {
    let customer = if i.is_multiple_of(2) {
        (i / 2) % HOT
    } else {
        (i / 2).wrapping_mul(7919) % customers
    };
    let mut e = events::event(i, 1024, 1);
    e["customerExternalId"] = Value::String(format!("acct_{customer}"));
    e
}

impl Sink {
    fn name(self) -> &'static str {
        match self {
            Sink::File => "file",
            Sink::Kafka => "kafka",
        }
    }
}

/// One `plugin` destination per customer, subscribed to that customer;
/// `table(k)` is its plugin table.
fn per_customer(customers: usize, plugin: &str, table: impl Fn(usize) -> String) -> String {
    (0..customers)
        .map(|k| {
            format!(
                "[[destinations]]\nname = \"c{k}\"\nplugin = \"{plugin}\"\ncustomers = [\"acct_{k}\"]\n[destinations.{plugin}]\n{}\n",
                table(k)
            )
        })
        .collect()
}

/// One file destination for every customer.
fn one_for_all_file() -> String {
    engine::destination("file", None, "path = \"out/all.jsonl\"")
}

fn group(n: usize) -> String {
    group_thousands(n as u64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn sums_delivered_and_dead_lettered_over_destinations() {
        let text = "# TYPE pushrail_delivery_events_total counter\n\
            pushrail_delivery_events_total{destination=\"c1\",outcome=\"delivered\"} 7\n\
            pushrail_delivery_events_total{destination=\"c2\",outcome=\"delivered\"} 5\n\
            pushrail_delivery_events_total{destination=\"c2\",outcome=\"retryable\"} 3\n\
            pushrail_delivery_events_total{destination=\"c3\",outcome=\"dead_lettered\"} 1\n";
        assert_eq!(super::outcomes(text), (12, 1));
    }
}
