//! Writing delivery progress (attempts, dead letters, the cursor) to the
//! log. A live batch's progress is written behind the next batch's
//! delivery, one write at a time so that they land in order.
//!
//! The one rule for failures: a write that fails is never skipped. It is
//! merged with the next batch's progress and written again as one
//! transaction, and delivery waits until that lands. So the cursor never
//! passes an event whose outcome was not written; if the destination
//! stops while the log still refuses, nothing after the failed write is
//! written either, and those events are delivered again after a restart.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::plan::STORAGE_RETRY;
use crate::log::{DeliveryProgress, Log, LogError};

/// Where progress goes: the log (a trait so that the retry rule can be
/// tested with a store that fails on demand).
pub trait ProgressStore: Clone + Send + Sync + 'static {
    fn record(
        &self,
        progress: DeliveryProgress,
    ) -> impl Future<Output = Result<(), LogError>> + Send;
}

impl ProgressStore for Log {
    fn record(
        &self,
        progress: DeliveryProgress,
    ) -> impl Future<Output = Result<(), LogError>> + Send {
        Log::record(self, progress)
    }
}

/// Tries a stopping destination gives a failing write before it gives up.
const TRIES_WHEN_STOPPING: u32 = 3;

/// A write that did not land, kept to be merged into the next one.
struct Unwritten {
    progress: DeliveryProgress,
    error: LogError,
}

pub struct ProgressWriter<S: ProgressStore = Log> {
    store: S,
    destination: String,
    stop: watch::Receiver<bool>,
    in_flight: Option<JoinHandle<Result<(), Box<Unwritten>>>>,
}

impl<S: ProgressStore> ProgressWriter<S> {
    pub fn new(store: S, destination: String, stop: watch::Receiver<bool>) -> Self {
        Self {
            store,
            destination,
            stop,
            in_flight: None,
        }
    }

    /// Starts writing `progress` once the write before it has landed, and
    /// returns without waiting for it. If the write before failed, both
    /// are written now as one, retried until they land.
    pub async fn write_behind(&mut self, progress: DeliveryProgress) -> Result<(), LogError> {
        match self.wait().await {
            Ok(()) => {
                let store = self.store.clone();
                self.in_flight = Some(tokio::spawn(async move {
                    match store.record(progress.clone()).await {
                        Ok(()) => Ok(()),
                        Err(error) => Err(Box::new(Unwritten { progress, error })),
                    }
                }));
                Ok(())
            }
            Err(unwritten) => match *unwritten {
                Unwritten {
                    error: LogError::Closed,
                    ..
                } => Err(LogError::Closed),
                Unwritten {
                    progress: failed, ..
                } => self.write_now(merge(failed, progress)).await,
            },
        }
    }

    /// Waits until everything given so far has landed (retrying a failed
    /// write); after an error nothing more may be written.
    pub async fn flush(&mut self) -> Result<(), LogError> {
        match self.wait().await {
            Ok(()) => Ok(()),
            Err(unwritten) => match *unwritten {
                Unwritten {
                    error: LogError::Closed,
                    ..
                } => Err(LogError::Closed),
                Unwritten { progress, .. } => self.write_now(progress).await,
            },
        }
    }

    /// Writes `progress` after everything before it, and waits for it.
    pub async fn write(&mut self, progress: DeliveryProgress) -> Result<(), LogError> {
        self.flush().await?;
        self.write_now(progress).await
    }

    async fn wait(&mut self) -> Result<(), Box<Unwritten>> {
        match self.in_flight.take() {
            Some(write) => write.await.unwrap_or_else(|_| {
                Err(Box::new(Unwritten {
                    progress: DeliveryProgress::default(),
                    error: LogError::Closed,
                }))
            }),
            None => Ok(()),
        }
    }

    /// Writes until it lands: every second while the destination runs, a
    /// few more times once it is stopping.
    async fn write_now(&mut self, progress: DeliveryProgress) -> Result<(), LogError> {
        let mut tries_left = TRIES_WHEN_STOPPING;
        loop {
            let error = match self.store.record(progress.clone()).await {
                Ok(()) => return Ok(()),
                Err(LogError::Closed) => return Err(LogError::Closed),
                Err(error) => error,
            };
            tracing::error!(destination = %self.destination, %error, "cannot record delivery progress; delivery waits and retries");
            if *self.stop.borrow() {
                tries_left -= 1;
                if tries_left == 0 {
                    return Err(error);
                }
            }
            let stop = self.stop.clone();
            wait_or_stop(stop, STORAGE_RETRY).await;
        }
    }
}

/// Sleeps for `duration`, or less if the destination is asked to stop.
async fn wait_or_stop(mut stop: watch::Receiver<bool>, duration: Duration) {
    if *stop.borrow() {
        tokio::time::sleep(duration).await;
        return;
    }
    tokio::select! {
        _ = tokio::time::sleep(duration) => {}
        _ = stop.changed() => {}
    }
}

/// One progress record with the changes of `earlier` and then `later`.
fn merge(mut earlier: DeliveryProgress, later: DeliveryProgress) -> DeliveryProgress {
    earlier.attempts.extend(later.attempts);
    earlier.dead_letters.extend(later.dead_letters);
    earlier.leave_dlq.extend(later.leave_dlq);
    earlier.cursor = earlier.cursor.max(later.cursor);
    earlier
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Fails the first `failures` writes with a storage error, then keeps
    /// every progress record written.
    #[derive(Clone, Default)]
    struct Flaky {
        failures: Arc<Mutex<u32>>,
        written: Arc<Mutex<Vec<DeliveryProgress>>>,
    }

    impl ProgressStore for Flaky {
        async fn record(&self, progress: DeliveryProgress) -> Result<(), LogError> {
            let mut failures = self.failures.lock().unwrap();
            if *failures > 0 {
                *failures -= 1;
                return Err(LogError::from(redb::StorageError::Io(
                    std::io::Error::other("disk full"),
                )));
            }
            self.written.lock().unwrap().push(progress);
            Ok(())
        }
    }

    fn batch(cursor: u64, dead: &[u64]) -> DeliveryProgress {
        DeliveryProgress {
            destination: "d".into(),
            cursor,
            leave_dlq: dead.to_vec(),
            ..DeliveryProgress::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_write_is_merged_into_the_next_and_nothing_passes_it() {
        let store = Flaky::default();
        *store.failures.lock().unwrap() = 2;
        let (_stop, stopped) = watch::channel(false);
        let mut writer = ProgressWriter::new(store.clone(), "d".into(), stopped);
        writer.write_behind(batch(11, &[5])).await.unwrap();
        // The first write failed; the second is merged with it and retried.
        writer.write_behind(batch(21, &[15])).await.unwrap();
        writer.flush().await.unwrap();
        let written = store.written.lock().unwrap().clone();
        assert_eq!(written.len(), 1, "one transaction for both");
        assert_eq!(written[0].cursor, 21);
        assert_eq!(
            written[0].leave_dlq,
            [5, 15],
            "the failed batch's changes are in it"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_stopping_destination_writes_nothing_after_a_write_that_failed() {
        let store = Flaky::default();
        *store.failures.lock().unwrap() = u32::MAX;
        let (stop, stopped) = watch::channel(false);
        let mut writer = ProgressWriter::new(store.clone(), "d".into(), stopped);
        writer.write_behind(batch(11, &[5])).await.unwrap();
        stop.send(true).unwrap();
        let result = writer.write_behind(batch(21, &[15])).await;
        assert!(result.is_err(), "the error reaches the worker: {result:?}");
        assert!(store.written.lock().unwrap().is_empty());
        // The disk recovers; a stopped worker must not write anything now.
        *store.failures.lock().unwrap() = 0;
        assert!(writer.flush().await.is_ok(), "nothing is left to write");
        assert!(
            store.written.lock().unwrap().is_empty(),
            "batch 2's cursor never lands without batch 1's dead letters"
        );
    }
}
