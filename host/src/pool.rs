//! Small fixed thread pools for the blocking work delivery does all the
//! time: log reads and file writes. Tokio's blocking pool grows a thread
//! whenever none is idle at the instant a task is queued, so thousands of
//! destinations taking turns at a few permits still made it start hundreds
//! of threads — and each thread keeps allocator pages after it is gone
//! (measured: 800 MiB with 2,000 destinations, 220 MiB with one).

use std::sync::OnceLock;

use tokio::sync::oneshot;

type Job = Box<dyn FnOnce() + Send>;

/// A fixed number of named threads taking jobs from one queue.
pub struct Pool {
    jobs: flume::Sender<Job>,
}

/// Why a job did not run to its end.
#[derive(Debug, thiserror::Error)]
#[error("the {0} pool could not finish the job (it panicked or the pool is gone)")]
pub struct PoolError(&'static str);

impl Pool {
    /// Starts `threads` threads named `pushrail-<name>`.
    pub fn start(name: &'static str, threads: usize) -> Self {
        let (jobs, queue) = flume::unbounded::<Job>();
        for _ in 0..threads.max(1) {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("pushrail-{name}"))
                .spawn(move || {
                    while let Ok(job) = queue.recv() {
                        // A job that panics loses its answer, not the thread.
                        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                    }
                })
                .expect("spawn a pool thread");
        }
        Self { jobs }
    }

    /// Runs `f` on one of the pool's threads and waits for its result.
    pub async fn run<T: Send + 'static>(
        &self,
        name: &'static str,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PoolError> {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = reply.send(f());
        });
        self.jobs.send(job).map_err(|_| PoolError(name))?;
        answer.await.map_err(|_| PoolError(name))
    }
}

/// Threads of each of the shared pools: enough to keep two cores and a
/// disk busy, few enough to stay small.
const THREADS: usize = 4;

/// Log reads of every destination.
pub async fn read<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, PoolError> {
    static READS: OnceLock<Pool> = OnceLock::new();
    READS
        .get_or_init(|| Pool::start("read", THREADS))
        .run("read", f)
        .await
}

/// File sink writes of every destination.
pub async fn write<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, PoolError> {
    static WRITES: OnceLock<Pool> = OnceLock::new();
    WRITES
        .get_or_init(|| Pool::start("write", THREADS))
        .run("write", f)
        .await
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn runs_jobs_and_reports_a_panic() {
        let pool = super::Pool::start("test", 2);
        let sum = pool.run("test", || (1..=10).sum::<u32>()).await.unwrap();
        assert_eq!(sum, 55);
        let failed = pool.run("test", || panic!("boom")).await;
        assert!(failed.is_err());
        // Both threads still work.
        for _ in 0..4 {
            assert_eq!(pool.run("test", || 7).await.unwrap(), 7);
        }
    }
}
