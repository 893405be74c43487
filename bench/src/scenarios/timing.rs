//! How the end-to-end scenarios time ours: events posted by several
//! clients, timed until the destination has nothing left to deliver.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::engine::{self, Server};

/// Concurrent posters, and events per post.
pub const POSTERS: usize = 4;
pub const POST_BATCH: usize = 500;

/// Events/s through `server`'s destination `bench`, after one event is
/// delivered to warm it (as a running engine is). Posting while delivering,
/// or with `paused`, posted first and timed from resume: delivery alone.
pub async fn timed_delivery(
    server: &Server,
    events: &[Value],
    paused: bool,
) -> anyhow::Result<f64> {
    server.post_batch(&events[..1]).await?;
    server.wait_for_no_lag(Duration::from_millis(20)).await?;
    if paused {
        server.control("pause").await?;
    }
    let mut started = Instant::now();
    post_concurrently(server, events).await?;
    if paused {
        started = Instant::now();
        server.control("resume").await?;
    }
    server.wait_for_no_lag(Duration::from_millis(10)).await?;
    Ok(events.len() as f64 / started.elapsed().as_secs_f64())
}

/// Several services posting at once, as in production; one sequential
/// client would measure its own round trips.
async fn post_concurrently(server: &Server, events: &[Value]) -> anyhow::Result<()> {
    let chunks: Vec<&[Value]> = events.chunks(POST_BATCH).collect();
    let mut tasks = tokio::task::JoinSet::new();
    for part in 0..POSTERS {
        let mine: Vec<Vec<Value>> = chunks
            .iter()
            .skip(part)
            .step_by(POSTERS)
            .map(|c| c.to_vec())
            .collect();
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
