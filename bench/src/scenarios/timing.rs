//! How the end-to-end scenarios time ours: events posted by several
//! clients, timed until the destination has nothing left to deliver.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::engine::{self, Server};

/// Concurrent posters, and events per post.
pub const POSTERS: usize = 4;
pub const POST_BATCH: usize = 500;

/// What one timed run of the engine made.
#[derive(Debug, Clone, Copy)]
pub struct Delivery {
    pub events_per_second: f64,
    /// The engine's CPU (user + system) in the timed window, µs per event.
    pub cpu_us_per_event: f64,
}

/// Each run's rates and CPU, as the rounds of a measurement.
pub fn rounds(runs: &[Delivery]) -> (Vec<f64>, Vec<f64>) {
    runs.iter()
        .map(|d| (d.events_per_second, d.cpu_us_per_event))
        .unzip()
}

/// Events/s through `server`'s destination `bench`, after one event is
/// delivered to warm it (as a running engine is). Posting while delivering,
/// or with `paused`, posted first and timed from resume: delivery alone.
pub async fn timed_delivery(
    server: &Server,
    events: &[Value],
    paused: bool,
) -> anyhow::Result<Delivery> {
    server.post_batch(&events[..1]).await?;
    server.wait_for_no_lag(Duration::from_millis(20)).await?;
    if paused {
        server.control("pause").await?;
    }
    // Each poster's share is copied before the clock starts: the copies are
    // the bench's work, not the engine's.
    let shares = shares(events);
    let cpu = || engine::cpu_seconds(server.pid());
    let (mut started, mut cpu_before) = (Instant::now(), cpu());
    post_concurrently(server, shares).await?;
    if paused {
        (started, cpu_before) = (Instant::now(), cpu());
        server.control("resume").await?;
    }
    server.wait_for_no_lag(Duration::from_millis(10)).await?;
    let count = events.len() as f64;
    Ok(Delivery {
        events_per_second: count / started.elapsed().as_secs_f64(),
        cpu_us_per_event: (cpu() - cpu_before) * 1e6 / count,
    })
}

/// Every POSTERS-th post of POST_BATCH events, per poster.
fn shares(events: &[Value]) -> Vec<Vec<Vec<Value>>> {
    let chunks: Vec<&[Value]> = events.chunks(POST_BATCH).collect();
    (0..POSTERS)
        .map(|part| {
            chunks
                .iter()
                .skip(part)
                .step_by(POSTERS)
                .map(|c| c.to_vec())
                .collect()
        })
        .collect()
}

/// Several services posting at once, as in production; one sequential
/// client would measure its own round trips.
async fn post_concurrently(server: &Server, shares: Vec<Vec<Vec<Value>>>) -> anyhow::Result<()> {
    let mut tasks = tokio::task::JoinSet::new();
    for mine in shares {
        let (http, base) = (server.http.clone(), server.base.clone());
        tasks.spawn(async move {
            for chunk in mine {
                engine::post_batch(&http, &base, &chunk).await?;
            }
            Ok::<_, anyhow::Error>(())
        });
    }
    for result in tasks.join_all().await {
        result?;
    }
    Ok(())
}
