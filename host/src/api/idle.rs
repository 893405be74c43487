//! Knowing when a connection does nothing, so that it can be closed.
//!
//! HTTP/1's header timeout covers a connection between requests, but an
//! HTTP/2 connection has no such timer, and neither has any connection
//! before its first bytes say which protocol it speaks. Without this, a
//! client that needs no token could hold every `max_connections` slot by
//! opening connections and sending nothing (or only the HTTP/2 preface).
//! A request counts as busy from its headers to the last byte of its
//! response, so a long response (a streamed `/metrics`) is never cut.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use hyper::body::{Body, Frame, SizeHint};
use hyper::{Request, Response};
use tokio::time::Instant;

/// What one connection is doing: requests under way and when the last one
/// started or ended.
pub struct Activity {
    opened: Instant,
    busy: AtomicUsize,
    /// Milliseconds after `opened`.
    last_ms: AtomicU64,
}

impl Activity {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            opened: Instant::now(),
            busy: AtomicUsize::new(0),
            last_ms: AtomicU64::new(0),
        })
    }

    fn stamp(&self) {
        let ms = self.opened.elapsed().as_millis() as u64;
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// Resolves once the connection has had no request under way for
    /// `timeout` (counted from its opening when it never had one).
    pub async fn idle_for(&self, timeout: Duration) {
        loop {
            // `busy` first: a request that ended stamped before it left.
            let busy = self.busy.load(Ordering::Acquire) > 0;
            let last = self.opened + Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
            let due = last + timeout;
            let now = Instant::now();
            if !busy && now >= due {
                return;
            }
            tokio::time::sleep_until(if busy { now + timeout } else { due }).await;
        }
    }

    fn start(self: &Arc<Self>) -> Busy {
        self.busy.fetch_add(1, Ordering::Relaxed);
        self.stamp();
        Busy(self.clone())
    }
}

/// One request under way; it ends when this is dropped.
pub struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.stamp();
        self.0.busy.fetch_sub(1, Ordering::Release);
    }
}

/// A connection's service that keeps its [`Activity`].
pub struct Tracked<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> Tracked<S> {
    pub fn new(inner: S, activity: Arc<Activity>) -> Self {
        Self { inner, activity }
    }
}

impl<S, A, B> hyper::service::Service<Request<A>> for Tracked<S>
where
    S: hyper::service::Service<Request<A>, Response = Response<B>>,
{
    type Response = Response<TrackedBody<B>>;
    type Error = S::Error;
    type Future = TrackedFuture<S::Future>;

    fn call(&self, request: Request<A>) -> Self::Future {
        TrackedFuture {
            busy: Some(self.activity.start()),
            inner: self.inner.call(request),
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future; hands the request's [`Busy`] on to the body.
    pub struct TrackedFuture<F> {
        #[pin]
        inner: F,
        busy: Option<Busy>,
    }
}

impl<F, B, E> Future for TrackedFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<TrackedBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = ready!(this.inner.poll(cx))?;
        let busy = this.busy.take();
        Poll::Ready(Ok(response.map(|inner| TrackedBody { inner, busy })))
    }
}

pin_project_lite::pin_project! {
    /// A response body that keeps its request busy until its last frame.
    pub struct TrackedBody<B> {
        #[pin]
        inner: B,
        busy: Option<Busy>,
    }
}

impl<B: Body> Body for TrackedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        if frame.is_none() {
            this.busy.take();
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_connection_is_idle_only_with_nothing_under_way_for_the_whole_timeout() {
        let activity = Activity::new();
        let timeout = Duration::from_secs(10);
        // Never used: idle ten seconds after it opened.
        let opened = Instant::now();
        activity.idle_for(timeout).await;
        assert_eq!(opened.elapsed(), timeout);

        // A request under way for a minute keeps it busy; idle ten seconds
        // after the request ended.
        let busy = activity.start();
        let watcher = tokio::spawn({
            let activity = activity.clone();
            async move {
                activity.idle_for(timeout).await;
                Instant::now()
            }
        });
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert!(!watcher.is_finished(), "idle while a request was under way");
        let ended = Instant::now();
        drop(busy);
        let idle_at = watcher.await.unwrap();
        assert!(
            idle_at >= ended + timeout && idle_at <= ended + 2 * timeout,
            "idle {:?} after the request ended",
            idle_at - ended
        );
    }
}
