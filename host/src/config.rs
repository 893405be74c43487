//! The operator's TOML configuration: reading, `${VAR}` expansion, defaults
//! and validation. Every problem is reported with its TOML path, all at once.

mod fields;
mod interpolate;
mod units;

use std::collections::HashSet;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use fields::Problem;
use fields::{Context, Fields};
pub use units::{parse_duration, parse_size};

/// The largest serialized event we accept: Kinesis' record limit.
pub const MAX_EVENT_BYTES: usize = 1 << 20;

/// Why a config could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not valid TOML: {message}")]
    Syntax { path: String, message: String },
    #[error("{} problem(s) in {path}:\n{}", problems.len(), list(problems))]
    Invalid {
        path: String,
        problems: Vec<Problem>,
    },
}

fn list(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A value that must never be printed: API tokens, passwords, keys.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub destinations: Vec<DestinationConfig>,
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address the HTTP API listens on.
    pub listen: SocketAddr,
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
    /// Most events in one `POST /v1/events/batch`.
    pub max_batch_events: usize,
    /// Bearer tokens; when non-empty every request except health checks needs one.
    pub api_tokens: Vec<Secret>,
    /// How long a shutdown waits for in-flight requests.
    pub shutdown_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct StorageConfig {
    /// Directory holding the redb log (`pushrail.redb`).
    pub data_dir: PathBuf,
    /// How long an `idempotencyKey` (per source) is remembered.
    pub idempotency_window: Duration,
    /// How long delivered events are kept.
    pub retention: Duration,
    /// How often the retention sweep runs.
    pub retention_interval: Duration,
    pub group_commit: GroupCommitConfig,
}

/// How concurrent appends share one durable commit.
#[derive(Debug, Clone, Copy)]
pub struct GroupCommitConfig {
    /// Most events written by one transaction.
    pub max_batch: usize,
    /// How long the writer waits for more requests before committing;
    /// zero commits whatever is queued as soon as the previous commit ends.
    pub max_wait: Duration,
}

#[derive(Debug, Clone)]
pub struct DestinationConfig {
    pub name: String,
    /// The plugin (file stem of a `.wasm`, or a built-in) that delivers.
    pub plugin: String,
    /// Transform plugins applied in order before delivery.
    pub transforms: Vec<String>,
    pub batch: BatchConfig,
    pub retry: RetryConfig,
    /// The `[destinations.<plugin>]` table, handed to the plugin as JSON.
    pub settings: serde_json::Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchConfig {
    pub max_events: usize,
    pub max_bytes: usize,
    /// How long a partial batch waits for more events.
    pub linger: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backoff {
    Constant,
    Linear,
    Exponential,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryConfig {
    pub max_retries: u32,
    pub initial_wait: Duration,
    pub max_wait: Duration,
    pub backoff: Backoff,
    /// Randomize each wait (full jitter) so retries of many workers spread out.
    pub jitter: bool,
}

impl Config {
    /// The config `pushrail serve` runs with when given no file.
    pub fn embedded_default() -> Self {
        Self::from_toml_str("", "<embedded default>", &|_| None).expect("the empty config is valid")
    }

    /// Reads and validates a config file, expanding `${VAR}` from the process environment.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml_str(&text, &path.display().to_string(), &|name| {
            std::env::var(name).ok()
        })
    }

    /// Parses and validates config text; `origin` names it in errors.
    pub fn from_toml_str(
        text: &str,
        origin: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let table: toml::Table =
            text.parse()
                .map_err(|e: toml::de::Error| ConfigError::Syntax {
                    path: origin.to_owned(),
                    message: e.to_string().trim_end().to_owned(),
                })?;
        let ctx = Context::new(env);
        let config = read_config(&table, &ctx);
        let problems = ctx.into_problems();
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Invalid {
                path: origin.to_owned(),
                problems,
            })
        }
    }
}

fn read_config(table: &toml::Table, ctx: &Context<'_>) -> Config {
    let mut root = Fields::root(table, ctx);
    let server = read_server(root.table("server"));
    let storage = read_storage(root.table("storage"));
    let destinations = read_destinations(root.tables("destinations"));
    root.finish();
    Config {
        server,
        storage,
        destinations,
    }
}

/// Runs `read` over an optional section, with defaults when it is absent.
fn section<T>(
    fields: Option<Fields<'_, '_, '_>>,
    read: impl FnOnce(&mut Fields<'_, '_, '_>) -> T,
) -> T {
    let empty = toml::Table::new();
    let dummy_env = |_: &str| None;
    match fields {
        Some(mut f) => {
            let value = read(&mut f);
            f.finish();
            value
        }
        None => {
            let ctx = Context::new(&dummy_env);
            let mut f = Fields::root(&empty, &ctx);
            read(&mut f)
        }
    }
}

fn read_server(fields: Option<Fields<'_, '_, '_>>) -> ServerConfig {
    section(fields, |f| {
        let listen = f
            .string("listen")
            .and_then(|text| match text.parse::<SocketAddr>() {
                Ok(addr) => Some(addr),
                Err(_) => {
                    f.report(
                        "listen",
                        format!("expected an address like \"127.0.0.1:8080\", found \"{text}\""),
                    );
                    None
                }
            })
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
        let body_limit = f.size("body_limit", 16 << 20);
        if body_limit < 1024 {
            f.report("body_limit", "must be at least 1KiB");
        }
        let max_batch_events = f.integer("max_batch_events", 1000, 1..=10_000) as usize;
        let api_tokens: Vec<Secret> = f
            .string_list("api_tokens")
            .into_iter()
            .map(Secret)
            .collect();
        if api_tokens.iter().any(|t| t.expose().trim().is_empty()) {
            f.report(
                "api_tokens",
                "a token must not be empty (is its environment variable set to \"\"?)",
            );
        }
        let shutdown_timeout = f.duration("shutdown_timeout", Duration::from_secs(30));
        ServerConfig {
            listen,
            body_limit: usize::try_from(body_limit).unwrap_or(usize::MAX),
            max_batch_events,
            api_tokens,
            shutdown_timeout,
        }
    })
}

fn read_storage(fields: Option<Fields<'_, '_, '_>>) -> StorageConfig {
    section(fields, |f| {
        let data_dir = f
            .string("data_dir")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("./pushrail-data"));
        let idempotency_window = f.duration("idempotency_window", Duration::from_secs(24 * 3600));
        let retention = f.duration("retention", Duration::from_secs(7 * 24 * 3600));
        if retention < idempotency_window {
            f.report(
                "retention",
                "must be at least idempotency_window, or a duplicate could be accepted after its original was deleted",
            );
        }
        let retention_interval = f.duration("retention_interval", Duration::from_secs(60));
        if retention_interval.is_zero() {
            f.report("retention_interval", "must be greater than zero");
        }
        let group_commit = section(f.table("group_commit"), |g| GroupCommitConfig {
            max_batch: g.integer("max_batch", 4096, 1..=100_000) as usize,
            max_wait: g.duration("max_wait", Duration::ZERO),
        });
        StorageConfig {
            data_dir,
            idempotency_window,
            retention,
            retention_interval,
            group_commit,
        }
    })
}

fn read_destinations(tables: Vec<Fields<'_, '_, '_>>) -> Vec<DestinationConfig> {
    let mut names = HashSet::new();
    let mut destinations = Vec::new();
    for mut f in tables {
        let name = f.required_string("name");
        if let Some(name) = &name {
            if !valid_name(name) {
                f.report(
                    "name",
                    format!("\"{name}\" may use only a-z, 0-9, '-' and '_' (at most 64)"),
                );
            } else if !names.insert(name.clone()) {
                f.report("name", format!("\"{name}\" is used by another destination"));
            }
        }
        let plugin = f.required_string("plugin");
        if let Some(plugin) = &plugin
            && !valid_name(plugin)
        {
            f.report(
                "plugin",
                format!("\"{plugin}\" may use only a-z, 0-9, '-' and '_' (at most 64)"),
            );
        }
        let transforms = f.string_list("transforms");
        let batch = section(f.table("batch"), |b| {
            let max_events = b.integer("max_events", 500, 1..=10_000) as usize;
            let max_bytes = b.size("max_bytes", 5 << 20);
            if max_bytes < MAX_EVENT_BYTES as u64 {
                b.report("max_bytes", "must be at least 1MiB, the largest event");
            }
            BatchConfig {
                max_events,
                max_bytes: usize::try_from(max_bytes).unwrap_or(usize::MAX),
                linger: b.duration("linger", Duration::from_millis(100)),
            }
        });
        let retry = section(f.table("retry"), |r| {
            let retry = RetryConfig {
                max_retries: r.integer("max_retries", 10, 0..=1_000_000) as u32,
                initial_wait: r.duration("initial_wait", Duration::from_millis(500)),
                max_wait: r.duration("max_wait", Duration::from_secs(60)),
                backoff: r.choice(
                    "backoff",
                    Backoff::Exponential,
                    &[
                        ("constant", Backoff::Constant),
                        ("linear", Backoff::Linear),
                        ("exponential", Backoff::Exponential),
                    ],
                ),
                jitter: r.boolean("jitter", true),
            };
            if retry.max_wait < retry.initial_wait {
                r.report("max_wait", "must be at least initial_wait");
            }
            retry
        });
        let settings = match &plugin {
            Some(plugin) if f.accept(plugin) => f.json_table(plugin).unwrap_or_default(),
            _ => serde_json::Value::Object(Default::default()),
        };
        f.finish();
        if let (Some(name), Some(plugin)) = (name, plugin) {
            destinations.push(DestinationConfig {
                name,
                plugin,
                transforms,
                batch,
                retry,
                settings,
            });
        }
    }
    destinations
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests;
