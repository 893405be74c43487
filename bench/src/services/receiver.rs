//! A webhook receiver in the bench process: answers every POST `200` after
//! a set delay (a receiver that far away), and counts what it received.
//! Ours and the raw client post to the same one, so its own cost weighs
//! on both alike.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;

pub struct Receiver {
    pub url: String,
    received: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    pub async fn start(delay: Duration) -> anyhow::Result<Self> {
        let received = Arc::new(AtomicU64::new(0));
        let app = Router::new()
            .fallback(answer)
            .with_state((received.clone(), delay));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/hook", listener.local_addr()?);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            url,
            received,
            task,
        })
    }

    /// Requests received so far.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    /// The origin for `network.allow`.
    pub fn origin(&self) -> &str {
        self.url.trim_end_matches("/hook")
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(
    State((received, delay)): State<(Arc<AtomicU64>, Duration)>,
    body: axum::body::Bytes,
) -> StatusCode {
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if !body.is_empty() {
        received.fetch_add(1, Ordering::Relaxed);
    }
    StatusCode::OK
}
