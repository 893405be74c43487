//! What makes plugins safe to run: the engine's settings (epoch
//! interruption), the ticker thread that drives it, the clock that turns
//! ticks into a guest-time budget, and the memory limiter of an instance.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::{JoinHandle, Thread};
use std::time::Duration;

use wasmtime::{Config, Engine, OptLevel, ResourceLimiter};

/// How often the epoch advances: the granularity of time budgets.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

pub fn engine() -> wasmtime::Result<Engine> {
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .cranelift_opt_level(OptLevel::Speed)
        // Our plugin ABI is synchronous calls; the component-model
        // concurrency machinery only costs time per call.
        .concurrency_support(false);
    // `perf` can name plugin functions (perf-<pid>.map) when asked to.
    if std::env::var_os("PUSHRAIL_PERF_MAP").is_some() {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    Engine::new(&config)
}

/// Advances the engine's epoch every [`EPOCH_TICK`] while guest code may
/// run (some [`Running`] is alive), and sleeps otherwise: thousands of idle
/// destinations then cost no wake-ups at all. Stops when dropped.
pub struct EpochTicker {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    stop: AtomicBool,
    /// Calls into guest code in progress.
    running: AtomicUsize,
    /// Epochs advanced so far (what tests look at).
    ticks: AtomicU64,
    ticker: OnceLock<Thread>,
}

/// What calls into guest code hold while they run: the ticker ticks.
#[derive(Clone)]
pub struct Activity(Arc<Shared>);

/// One call into guest code in progress; the ticker may sleep once none is.
pub struct Running(Arc<Shared>);

impl EpochTicker {
    pub fn start(engine: Engine) -> Self {
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            running: AtomicUsize::new(0),
            ticks: AtomicU64::new(0),
            ticker: OnceLock::new(),
        });
        let state = shared.clone();
        let thread = std::thread::Builder::new()
            .name("pushrail-epoch".into())
            .spawn(move || {
                while !state.stop.load(Ordering::Acquire) {
                    if state.running.load(Ordering::Acquire) == 0 {
                        // Woken by the first call (an unpark before the
                        // park makes it return at once).
                        std::thread::park();
                        continue;
                    }
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                    state.ticks.fetch_add(1, Ordering::Relaxed);
                }
            })
            .expect("spawn the epoch ticker");
        let _ = shared.ticker.set(thread.thread().clone());
        Self {
            shared,
            thread: Some(thread),
        }
    }

    /// The handle calls mark themselves running with.
    pub fn activity(&self) -> Activity {
        Activity(self.shared.clone())
    }

    #[cfg(test)]
    fn ticks(&self) -> u64 {
        self.shared.ticks.load(Ordering::Relaxed)
    }
}

impl Activity {
    /// Marks a call into guest code as running until the guard drops.
    pub fn enter(&self) -> Running {
        if self.0.running.fetch_add(1, Ordering::AcqRel) == 0
            && let Some(ticker) = self.0.ticker.get()
        {
            ticker.unpark();
        }
        Running(self.0.clone())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

/// Caps the linear memory of a whole instance (all its memories together:
/// a component may hold several core modules, each with its own), and
/// the number of memories, tables and instances it may create. Remembers
/// that the cap was hit so that the resulting trap can be reported as
/// "memory limit", not a generic trap.
pub struct MemoryLimiter {
    limit: usize,
    /// Bytes of every linear memory of the instance together.
    total: usize,
    pub exceeded: bool,
}

impl MemoryLimiter {
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            total: 0,
            exceeded: false,
        }
    }
}

/// Linear memories one instance may have (a Rust component has one; the
/// rest is headroom for other toolchains' adapters).
const MAX_MEMORIES: usize = 4;
/// Tables one instance may have.
const MAX_TABLES: usize = 16;
/// Core instances one component instance may create (its modules, shims
/// and adapters).
const MAX_INSTANCES: usize = 32;
/// Elements one table may hold.
const MAX_TABLE_ELEMENTS: usize = 100_000;

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self.total - current.min(self.total) + desired;
        if total > self.limit {
            self.exceeded = true;
            return Err(wasmtime::format_err!(
                "the plugin tried to grow its memory to {total} bytes in all, over the limit of {} (plugins.memory_limit)",
                self.limit
            ));
        }
        self.total = total;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }
}

/// Counts a call's guest time in epoch ticks: the epoch callback runs when
/// guest code crosses a tick, so a tick counts only if the guest ran in
/// it. Waiting for the executor (CPU load) or in a host function (a
/// network round trip) costs at most one tick per resumption, so a healthy
/// plugin on a busy machine is not timed out, while a loop — in guest code
/// or over host calls — is. The wall-clock deadline of each call
/// ([`super::Limits::call_timeout`]) bounds everything else.
pub struct CallClock {
    pub budget: Duration,
    ticks: u32,
}

impl CallClock {
    pub fn new(budget: Duration) -> Self {
        Self { budget, ticks: 0 }
    }

    pub fn start(&mut self) {
        self.ticks = 0;
    }

    /// Counts one tick of guest time; true once the budget is used up.
    pub fn tick(&mut self) -> bool {
        self.ticks = self.ticks.saturating_add(1);
        self.guest_time() > self.budget
    }

    /// Guest time used by the call in progress, to the tick.
    pub fn guest_time(&self) -> Duration {
        EPOCH_TICK * self.ticks
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use wasmtime::component::{Component, Linker};

    use crate::runtime::host::{HostState, SinkBindings};
    use crate::runtime::{instance::new_store, sandbox};

    /// A component whose `modules` core modules each have a memory that
    /// grows by `pages` 64 KiB pages when instantiated.
    fn component(modules: usize, pages: u32) -> String {
        let mut text = String::from("(component\n");
        for i in 0..modules {
            text.push_str(&format!(
                "(core module $m{i} (memory 0) (func $grow (drop (memory.grow (i32.const {pages})))) (start $grow))\n(core instance (instantiate $m{i}))\n"
            ));
        }
        text.push(')');
        text
    }

    /// Instantiates `text` under a 1 MiB cap; the error, if any.
    async fn instantiate(text: &str) -> (Result<(), String>, bool) {
        let engine = sandbox::engine().unwrap();
        let component = Component::new(&engine, text).unwrap();
        let state = HostState::new(
            "attacker",
            "d",
            SinkBindings::default(),
            1 << 20,
            Duration::from_secs(1),
            Duration::from_secs(10),
        );
        let mut store = new_store(&engine, state);
        store.set_epoch_deadline(1_000);
        let linker: Linker<HostState> = Linker::new(&engine);
        let result = linker
            .instantiate_async(&mut store, &component)
            .await
            .map(drop)
            .map_err(|e| format!("{e:#}"));
        (result, store.data().limiter.exceeded)
    }

    #[tokio::test]
    async fn the_memory_cap_counts_every_memory_of_an_instance() {
        assert_eq!(instantiate(&component(1, 10)).await, (Ok(()), false));
        let (result, exceeded) = instantiate(&component(2, 10)).await;
        assert!(
            exceeded,
            "two memories of 640 KiB are over a 1 MiB cap: {result:?}"
        );
        assert!(result.unwrap_err().contains("plugins.memory_limit"));
    }

    #[tokio::test]
    async fn an_instance_may_not_create_many_memories() {
        let (result, _) = instantiate(&component(8, 0)).await;
        assert!(result.is_err(), "8 memories are refused");
    }

    /// Exports `spin(n)`: a loop of `n` iterations, all guest code.
    const SPINNER: &str = r#"(component
      (core module $m
        (func (export "spin") (param $n i32)
          (loop $l
            (local.set $n (i32.sub (local.get $n) (i32.const 1)))
            (br_if $l (i32.gt_s (local.get $n) (i32.const 0))))))
      (core instance $i (instantiate $m))
      (func (export "spin") (param "n" u32) (canon lift (core func $i "spin"))))"#;

    /// Runs `spin(n)` under a guest-time `budget`; its wall time, or the error.
    async fn spin(
        engine: &wasmtime::Engine,
        activity: &sandbox::Activity,
        component: &Component,
        n: u32,
        budget: Duration,
    ) -> Result<Duration, String> {
        let state = HostState::new(
            "spinner",
            "d",
            SinkBindings::default(),
            1 << 20,
            budget,
            Duration::from_secs(60),
        );
        let mut store = new_store(engine, state);
        let linker: Linker<HostState> = Linker::new(engine);
        let instance = linker
            .instantiate_async(&mut store, component)
            .await
            .map_err(|e| format!("{e:#}"))?;
        let spin = instance
            .get_typed_func::<(u32,), ()>(&mut store, "spin")
            .map_err(|e| format!("{e:#}"))?;
        store.data_mut().clock.start();
        store.set_epoch_deadline(1);
        let _running = activity.enter();
        let started = std::time::Instant::now();
        spin.call_async(&mut store, (n,))
            .await
            .map_err(|e| format!("{e:#}"))?;
        Ok(started.elapsed())
    }

    /// The ticker wakes only while a call runs: an idle engine (thousands
    /// of idle destinations) costs no wake-ups.
    #[test]
    fn the_ticker_sleeps_while_no_call_runs() {
        let engine = sandbox::engine().unwrap();
        let ticker = sandbox::EpochTicker::start(engine);
        std::thread::sleep(sandbox::EPOCH_TICK * 10);
        assert_eq!(ticker.ticks(), 0, "no call, no tick");
        let running = ticker.activity().enter();
        std::thread::sleep(sandbox::EPOCH_TICK * 10);
        let during = ticker.ticks();
        assert!(during >= 2, "ticks while a call runs: {during}");
        drop(running);
        std::thread::sleep(sandbox::EPOCH_TICK * 3);
        let after = ticker.ticks();
        std::thread::sleep(sandbox::EPOCH_TICK * 10);
        assert_eq!(ticker.ticks(), after, "asleep again once the call ended");
    }

    /// Defect 10: guest time was wall time minus host time, so a plugin
    /// whose thread waited for the CPU was timed out. Only the ticks the
    /// guest ran in count now; a loop is still stopped.
    #[tokio::test]
    async fn waiting_for_the_cpu_does_not_count_as_guest_time() {
        let engine = sandbox::engine().unwrap();
        let ticker = sandbox::EpochTicker::start(engine.clone());
        let activity = ticker.activity();
        let component = Component::new(&engine, SPINNER).unwrap();
        let roomy = Duration::from_secs(30);
        // About 50 ms of guest work on this machine.
        let probe = 20_000_000;
        let took = spin(&engine, &activity, &component, probe, roomy)
            .await
            .unwrap();
        let n = ((probe as f64) * 0.050 / took.as_secs_f64()).clamp(1e5, 2e9) as u32;
        let alone = spin(&engine, &activity, &component, n, roomy)
            .await
            .unwrap();

        // Every time the plugin yields, the executor's thread is busy
        // elsewhere for 100 ms: far more wall time than its budget.
        let budget = alone * 2 + Duration::from_millis(100);
        let done = std::sync::atomic::AtomicBool::new(false);
        let hog = async {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
                tokio::task::yield_now().await;
            }
        };
        let run = async {
            let result = spin(&engine, &activity, &component, n, budget).await;
            done.store(true, std::sync::atomic::Ordering::Relaxed);
            result
        };
        let (starved, ()) = tokio::join!(run, hog);
        let wall = starved.expect("a healthy plugin waiting for the CPU is not timed out");
        assert!(
            wall > budget,
            "the plugin waited {wall:?}, more than its budget {budget:?}, and still ran"
        );

        let looping = spin(
            &engine,
            &activity,
            &component,
            i32::MAX as u32,
            Duration::from_millis(100),
        )
        .await;
        assert!(looping.is_err(), "a loop is still interrupted");
    }
}
