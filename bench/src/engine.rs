//! The engine under test: the real `pushrail` binary as a child process,
//! and the HTTP calls the scenarios make to it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use serde_json::{Value, json};

/// Builds `pushrail` with the profile this bench was built with (a no-op
/// when it is fresh), so that `cargo run -p pushrail-bench` never measures a
/// stale engine. Returns its path.
pub fn build_engine() -> anyhow::Result<PathBuf> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("workspace dir")?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(workspace)
        .args(["build", "--locked", "-p", "pushrail", "--bin", "pushrail"]);
    if !cfg!(debug_assertions) {
        command.arg("--release");
    }
    eprintln!("pushrail-bench: building the engine ({command:?})");
    let status = command
        .status()
        .context("run cargo to build the engine (or pass --engine PATH)")?;
    ensure!(status.success(), "building the engine failed");
    let exe = std::env::current_exe()?;
    Ok(exe.with_file_name(format!("pushrail{}", std::env::consts::EXE_SUFFIX)))
}

/// The cargo target dir this executable was built in (it holds CACHEDIR.TAG).
pub fn target_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    exe.ancestors()
        .find(|dir| dir.join("CACHEDIR.TAG").exists())
        .map(Path::to_path_buf)
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

/// The config of the destination `bench`: `plugin`, its `[destinations.<plugin>]`
/// table (`settings`, TOML lines), and delivery batches of `batch` events
/// with a 20 ms linger, or the engine's defaults.
pub fn destination(plugin: &str, batch: Option<usize>, settings: &str) -> String {
    let batch = batch.map_or(String::new(), |n| {
        format!("batch = {{ max_events = {n}, linger = \"20ms\" }}\n")
    });
    format!(
        "[[destinations]]\nname = \"bench\"\nplugin = \"{plugin}\"\n{batch}[destinations.{plugin}]\n{settings}\n"
    )
}

/// An empty scratch directory `name` under the data dir.
pub fn fresh_dir(root: &Path, name: &str) -> anyhow::Result<PathBuf> {
    let dir = root.join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    Ok(dir)
}

/// A running engine serving on a free port, its log in `dir/data`.
pub struct Server {
    child: Child,
    pub base: String,
    dir: PathBuf,
    pub http: reqwest::Client,
}

impl Server {
    /// Starts `engine` with `rest` appended to a `[server]`/`[storage]`
    /// config, and waits for /readyz.
    pub async fn start(engine: &Path, dir: &Path, rest: &str) -> anyhow::Result<Self> {
        Self::start_with_threads(engine, dir, None, rest).await
    }

    /// [`Server::start`] with `server.worker_threads` set, if given.
    pub async fn start_with_threads(
        engine: &Path,
        dir: &Path,
        threads: Option<usize>,
        rest: &str,
    ) -> anyhow::Result<Self> {
        let port = free_port();
        let config = dir.join("bench.toml");
        let threads = threads.map_or(String::new(), |n| format!("worker_threads = {n}\n"));
        std::fs::write(
            &config,
            format!(
                "[server]\nlisten = \"127.0.0.1:{port}\"\n{threads}[storage]\ndata_dir = \"{}\"\n{rest}\n",
                dir.join("data").display()
            ),
        )?;
        let child = Command::new(engine)
            .args(["serve", "--config"])
            .arg(&config)
            .env("PUSHRAIL_LOG", "warn,pushrail::log=info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("server.log"))?)
            .spawn()
            .with_context(|| format!("start {}", engine.display()))?;
        let mut server = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            dir: dir.to_owned(),
            http: reqwest::Client::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(r) = server.http.get(server.url("/readyz")).send().await
                && r.status().is_success()
            {
                return Ok(server);
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                bail!("the engine exited ({status}): {}", server.log());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        bail!("the engine did not become ready: {}", server.log())
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    /// SIGTERM, wait, and return the server's log.
    pub fn stop(mut self) -> String {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        self.log()
    }

    /// The `/metrics` text.
    pub async fn metrics(&self) -> anyhow::Result<String> {
        Ok(self
            .http
            .get(self.url("/metrics"))
            .send()
            .await?
            .text()
            .await?)
    }

    /// `POST /v1/events/batch`.
    pub async fn post_batch(&self, events: &[Value]) -> anyhow::Result<()> {
        post_batch(&self.http, &self.base, events).await
    }

    /// Pauses or resumes the destination `bench`.
    pub async fn control(&self, action: &str) -> anyhow::Result<()> {
        let response = self
            .http
            .post(self.url(&format!("/v1/destinations/bench/{action}")))
            .send()
            .await?;
        ensure!(
            response.status().is_success(),
            "{action}: {}",
            response.status()
        );
        Ok(())
    }

    /// `GET /v1/destinations/bench`.
    pub async fn status(&self) -> anyhow::Result<Value> {
        Ok(self
            .http
            .get(self.url("/v1/destinations/bench"))
            .send()
            .await?
            .json()
            .await?)
    }

    /// Waits until the destination has nothing left to deliver; fails if
    /// anything was dead-lettered (a benchmark that loses events measures
    /// nothing).
    pub async fn wait_for_no_lag(&self, poll: Duration) -> anyhow::Result<()> {
        loop {
            let status = self.status().await?;
            if status["lagEvents"] == 0 {
                ensure!(
                    status["deadLetters"] == 0,
                    "events were dead-lettered: {status}\n{}",
                    self.log()
                );
                return Ok(());
            }
            tokio::time::sleep(poll).await;
        }
    }

    /// Events waiting for the destination.
    pub async fn lag(&self) -> anyhow::Result<u64> {
        self.status().await?["lagEvents"]
            .as_u64()
            .context("lagEvents in the destination status")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Stopped already, or a scenario failed: never leave an engine behind.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `POST {base}/v1/events/batch`, expecting 202: for posters on their own tasks.
pub async fn post_batch(
    http: &reqwest::Client,
    base: &str,
    events: &[Value],
) -> anyhow::Result<()> {
    let response = http
        .post(format!("{base}/v1/events/batch"))
        .json(&json!({ "events": events }))
        .send()
        .await?;
    ensure!(
        response.status().as_u16() == 202,
        "batch post: {} {}",
        response.status(),
        response.text().await.unwrap_or_default()
    );
    Ok(())
}

/// Resident memory of a process in MiB (Linux /proc).
pub fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// User + system CPU seconds a process used so far (Linux /proc).
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_name = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of stat; 11 and 12 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

/// Concurrent posters, and events per post, when a scenario posts many.
pub const POSTERS: usize = 8;
pub const POST_BATCH: usize = 500;

/// Posts events `0..count` (`make(i)` is event `i`) from POSTERS clients,
/// made as they go (a million events held at once would weigh on the
/// machine being measured).
pub async fn post_all(
    server: &Server,
    count: usize,
    make: impl Fn(usize) -> Value + Clone + Send + 'static,
) -> anyhow::Result<()> {
    let mut posters = tokio::task::JoinSet::new();
    for part in 0..POSTERS {
        let (http, base) = (server.http.clone(), server.base.clone());
        let make = make.clone();
        posters.spawn(async move {
            let mut chunk = Vec::with_capacity(POST_BATCH);
            for i in (part..count).step_by(POSTERS) {
                chunk.push(make(i));
                if chunk.len() == POST_BATCH {
                    post_batch(&http, &base, &chunk).await?;
                    chunk.clear();
                }
            }
            if !chunk.is_empty() {
                post_batch(&http, &base, &chunk).await?;
            }
            Ok::<_, anyhow::Error>(())
        });
    }
    for poster in posters.join_all().await {
        poster?;
    }
    Ok(())
}

/// Samples the RSS of `pid` every 50 ms until `done` resolves; returns the peak.
pub async fn peak_rss_during<T>(pid: u32, done: impl Future<Output = T>) -> (T, f64) {
    let mut peak = rss_mib(pid);
    let mut sampler = tokio::time::interval(Duration::from_millis(50));
    tokio::pin!(done);
    loop {
        tokio::select! {
            value = &mut done => return (value, peak.max(rss_mib(pid))),
            _ = sampler.tick() => peak = peak.max(rss_mib(pid)),
        }
    }
}

/// Threads of a process (Linux /proc).
pub fn threads(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, |d| d.count())
}
