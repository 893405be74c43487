//! Serving the API over HTTP/1.1 and, on the same port, HTTP/2 without TLS
//! (h2c with prior knowledge), with limits, so that clients that need no
//! token cannot hold the server's connections, file descriptors or memory:
//! at most `max_connections` open connections (more wait in the listen
//! backlog), headers within `header_read_timeout`, a connection with nothing
//! under way closed after the same time, whole requests within
//! `request_timeout`, and at most `max_body_memory` bytes of bodies being
//! read at once (HTTP/2's flow-control windows are sized to the same bound).
//!
//! A client that keeps its connection gets cheaper requests: HTTP/1.1
//! requests sent back to back (pipelined) are answered with one write where
//! they can be, and HTTP/2 carries many requests at once on one connection,
//! so one read and one write of the socket serve many of them.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use super::codes::ErrorCode;
use super::error::{ApiError, FieldError};
use super::idle::{Activity, Tracked};
use crate::config::ServerConfig;

/// How long a failed `accept` (e.g. out of file descriptors) waits.
const ACCEPT_RETRY: Duration = Duration::from_millis(50);

/// Serves `app` on `listener` until `stopping` turns true, then lets open
/// connections finish their requests (the caller bounds how long).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    config: &ServerConfig,
    mut stopping: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(config.max_connections));
    let mut connections = JoinSet::new();
    let builder = protocols(config);
    let idle_timeout = config.header_read_timeout;
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("never closed"),
            () = stopped(&mut stopping) => break,
        };
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot accept a connection; retrying");
                    tokio::time::sleep(ACCEPT_RETRY).await;
                    continue;
                }
            },
            () = stopped(&mut stopping) => break,
        };
        // Responses are small and latency-bound: send them without Nagle's delay.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        let activity = Activity::new();
        let service = Tracked::new(TowerToHyperService::new(app.clone()), activity.clone());
        let connection = builder
            .serve_connection(TokioIo::new(tcp), service)
            .into_owned();
        let mut stop = stopping.clone();
        connections.spawn(async move {
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                () = activity.idle_for(idle_timeout) => {
                    connection.as_mut().graceful_shutdown();
                    // Nothing is under way: closing takes a moment, unless the
                    // client holds a half-sent request open.
                    let _ = tokio::time::timeout(idle_timeout, connection).await;
                }
                () = stopped(&mut stop) => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
            drop(slot);
        });
        // Reap finished connections so the set does not grow.
        while connections.try_join_next().is_some() {}
    }
    tracing::info!("shutting down: no new connections, finishing in-flight requests");
    while connections.join_next().await.is_some() {}
}

/// HTTP/1.1, and HTTP/2 unless `server.http2 = false`: the first bytes of a
/// connection say which (HTTP/2's preface).
fn protocols(config: &ServerConfig) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout)
        .keep_alive(true)
        .pipeline_flush(true);
    let window = http2_window(config);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(config.max_streams_per_connection)
        .initial_connection_window_size(window)
        .initial_stream_window_size(window);
    if config.http2 {
        builder
    } else {
        builder.http1_only()
    }
}

/// Request-body bytes an HTTP/2 connection may have sent ahead of what the
/// server read: its share of `max_body_memory`, so that every connection
/// together buffers no more than that (64 KiB with the defaults), and at
/// least HTTP/2's own initial window.
fn http2_window(config: &ServerConfig) -> u32 {
    const SPEC_INITIAL: usize = 65_535;
    const MOST: usize = 16 << 20;
    let share = config.max_body_memory / config.max_connections.max(1);
    share.clamp(SPEC_INITIAL, MOST) as u32
}

/// Resolves once `stopping` is true (or its sender is gone).
async fn stopped(stopping: &mut watch::Receiver<bool>) {
    let _ = stopping.wait_for(|s| *s).await;
}

/// Shared by the request middleware.
#[derive(Clone)]
pub struct RequestLimits {
    timeout: Duration,
    /// Permits are KiB of request body.
    body_memory: Arc<Semaphore>,
    body_memory_kib: u32,
    body_limit: usize,
}

impl RequestLimits {
    pub fn new(config: &ServerConfig) -> Self {
        let kib = u32::try_from(config.max_body_memory / 1024).unwrap_or(u32::MAX / 2);
        Self {
            timeout: config.request_timeout,
            body_memory: Arc::new(Semaphore::new(kib as usize)),
            body_memory_kib: kib,
            body_limit: config.body_limit,
        }
    }
}

/// Holds a request's share of body memory while it runs (its declared
/// length, or the body limit when it declares none), and answers `408`
/// when it takes longer than the request timeout.
pub async fn limit_request(
    State(limits): State<RequestLimits>,
    request: Request<Body>,
    next: Next,
) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let bytes = match (request.method().as_str(), declared) {
        ("GET" | "HEAD" | "DELETE", None) => 0,
        (_, Some(length)) => length.min(limits.body_limit),
        (_, None) => limits.body_limit,
    };
    let kib = u32::try_from(bytes.div_ceil(1024))
        .unwrap_or(u32::MAX)
        .min(limits.body_memory_kib);
    let run = async {
        let _share = if kib > 0 {
            Some(
                limits
                    .body_memory
                    .acquire_many(kib)
                    .await
                    .expect("never closed"),
            )
        } else {
            None
        };
        next.run(request).await
    };
    match tokio::time::timeout(limits.timeout, run).await {
        Ok(response) => response,
        Err(_) => ApiError::new(FieldError::whole(
                ErrorCode::RequestTimeout,
                format!(
                    "the request took longer than server.request_timeout ({}); send it again (a repeated idempotencyKey is never stored twice)",
                    humantime::format_duration(limits.timeout)
                ),
            ),
        )
        .into_response(),
    }
}
