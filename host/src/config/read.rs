//! Reading a config: TOML text (or the embedded default) into a
//! [`Config`], with `${VAR}` expansion, defaults, and every problem
//! collected with its TOML path.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::destinations::{read_destinations, valid_name};
use super::fields::{Context, Fields};
use super::*;

const EMBEDDED_DEFAULT: &str = r#"
[[destinations]]
name = "local"
plugin = "file"
"#;

impl Config {
    /// The config `pushrail serve` runs with when given no file: every
    /// default, and one destination `local` that appends events to
    /// `./pushrail-data/local.jsonl` through the built-in `file` plugin.
    pub fn embedded_default() -> Self {
        Self::from_toml_str(EMBEDDED_DEFAULT, "<embedded default>", &|_| None)
            .expect("the embedded default config is valid")
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
    let plugins = read_plugins(root.table("plugins"));
    let security = read_security(root.table("security"));
    let transforms = read_transforms(root.tables("transforms"));
    let mut destinations: Vec<Arc<DestinationConfig>> =
        read_destinations(root.tables("destinations"))
            .into_iter()
            .map(Arc::new)
            .collect();
    // Collected in place: the buffer is still sized for the configs
    // themselves (~20 MiB for 10,000 of them), not for pointers to them.
    destinations.shrink_to_fit();
    root.finish();
    Config {
        server,
        storage,
        plugins,
        security,
        transforms,
        destinations,
    }
}

/// Runs `read` over an optional section, with defaults when it is absent.
pub(super) fn section<T>(
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
        let max_connections = f.integer("max_connections", 4096, 1..=1_000_000) as usize;
        let header_read_timeout = f.duration("header_read_timeout", Duration::from_secs(10));
        let request_timeout = f.duration("request_timeout", Duration::from_secs(60));
        for (key, value) in [
            ("header_read_timeout", header_read_timeout),
            ("request_timeout", request_timeout),
        ] {
            if value.is_zero() {
                f.report(key, "must be more than 0");
            }
        }
        let worker_threads =
            f.integer("worker_threads", default_worker_threads() as u64, 1..=1024) as usize;
        let max_body_memory = f.size("max_body_memory", 256 << 20);
        if max_body_memory < body_limit {
            f.report("max_body_memory", "must be at least body_limit");
        }
        let http2 = f.boolean("http2", true);
        let max_streams_per_connection =
            f.integer("max_streams_per_connection", 128, 1..=1000) as u32;
        ServerConfig {
            listen,
            body_limit: usize::try_from(body_limit).unwrap_or(usize::MAX),
            max_batch_events,
            api_tokens,
            shutdown_timeout,
            max_connections,
            header_read_timeout,
            request_timeout,
            max_body_memory: usize::try_from(max_body_memory).unwrap_or(usize::MAX),
            worker_threads,
            http2,
            max_streams_per_connection,
        }
    })
}

/// Async threads unless `server.worker_threads` says otherwise: one per
/// core, at most 4. Each thread keeps its own allocator caches and runtime
/// state, so memory grew with the machine (peak RSS 212 MiB on 2 cores,
/// 481 MiB on 16 with a 1,000,000-event backlog).
fn default_worker_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().min(4))
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
        let attempt_retention =
            f.duration("attempt_retention", Duration::from_secs(30 * 24 * 3600));
        let cache_size = f.size("cache_size", 64 << 20);
        if cache_size < 1 << 20 {
            f.report("cache_size", "must be at least 1MiB");
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
            attempt_retention,
            cache_size: usize::try_from(cache_size).unwrap_or(usize::MAX),
            retention_interval,
            group_commit,
        }
    })
}

fn read_plugins(fields: Option<Fields<'_, '_, '_>>) -> PluginsConfig {
    section(fields, |f| {
        let memory_limit = f.size("memory_limit", 64 << 20);
        if memory_limit < 1 << 20 {
            f.report("memory_limit", "must be at least 1MiB");
        }
        let time_limit = f.duration("time_limit", Duration::from_secs(5));
        if time_limit < Duration::from_millis(10) {
            f.report("time_limit", "must be at least 10ms");
        }
        let max_instances = f.integer("max_instances", 256, 1..=100_000);
        let call_timeout = f.duration("call_timeout", Duration::from_secs(300));
        if call_timeout < Duration::from_millis(10) {
            f.report("call_timeout", "must be at least 10ms");
        }
        PluginsConfig {
            dir: f.string("dir").map(PathBuf::from),
            memory_limit: usize::try_from(memory_limit).unwrap_or(usize::MAX),
            time_limit,
            call_timeout,
            cache: f.boolean("cache", true),
            max_instances: usize::try_from(max_instances).unwrap_or(1),
            watch_interval: f.duration("watch_interval", Duration::from_secs(2)),
            customer_plugins: customer_plugins(f),
            customer_network: f.table("customer_network").map_or_else(
                crate::sinks::network::NetworkConfig::default,
                |mut n| {
                    let config = super::network::read(&mut n, false);
                    n.finish();
                    config
                },
            ),
        }
    })
}

/// `customer_plugins`: plugin names, each once.
fn customer_plugins(f: &mut Fields<'_, '_, '_>) -> Vec<String> {
    let names = f.string_list("customer_plugins");
    let mut seen = HashSet::new();
    for name in &names {
        if !valid_name(name) {
            f.report(
                "customer_plugins",
                format!("\"{name}\" is not a plugin name (a-z, 0-9, -, _)"),
            );
        } else if !seen.insert(name) {
            f.report("customer_plugins", format!("\"{name}\" is listed twice"));
        }
    }
    names
}

fn read_security(fields: Option<Fields<'_, '_, '_>>) -> SecurityConfig {
    section(fields, |f| {
        let token_secret = f.string("token_secret").map(Secret::new);
        if token_secret.as_ref().is_some_and(|s| s.expose().len() < 32) {
            f.report(
                "token_secret",
                "must be at least 32 bytes (e.g. `openssl rand -base64 48`)",
            );
        }
        let aws_principal = f.string("aws_principal");
        if let Some(arn) = &aws_principal
            && !is_iam_arn(arn)
        {
            f.report(
                "aws_principal",
                format!("\"{arn}\" is not an IAM ARN like arn:aws:iam::111122223333:role/pushrail"),
            );
        }
        let mut master_keys = Vec::new();
        for mut k in f.tables("master_keys") {
            let id = k.required_string("id");
            let key = k.required_string("key").map(Secret::new);
            if let (Some(id), Some(key)) = (id, key) {
                if master_keys
                    .iter()
                    .any(|(other, _): &(String, Secret)| other == &id)
                {
                    k.report("id", format!("\"{id}\" is used by another key"));
                }
                master_keys.push((id, key));
            }
            k.finish();
        }
        let primary_key = f.string("primary_key");
        match (&primary_key, master_keys.is_empty()) {
            (Some(primary), false) if !master_keys.iter().any(|(id, _)| id == primary) => {
                f.report(
                    "primary_key",
                    format!("\"{primary}\" is not the id of one of master_keys"),
                );
            }
            (None, false) if master_keys.len() > 1 => {
                f.report("primary_key", "is required with more than one master key");
            }
            (Some(_), true) => {
                f.report("primary_key", "names a key of master_keys, which is empty")
            }
            _ => {}
        }
        SecurityConfig {
            token_secret,
            aws_principal,
            primary_key: primary_key.or_else(|| master_keys.first().map(|(id, _)| id.clone())),
            master_keys,
        }
    })
}

/// `arn:<partition>:iam::<12 digits>:<resource>`.
pub fn is_iam_arn(text: &str) -> bool {
    let parts: Vec<&str> = text.splitn(6, ':').collect();
    matches!(parts.as_slice(), ["arn", partition, "iam", "", account, resource]
        if partition.strip_prefix("aws").is_some_and(|rest| rest.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'))
            && account.len() == 12
            && account.bytes().all(|b| b.is_ascii_digit())
            && !resource.is_empty()
            && !resource.chars().any(|c| c.is_ascii_control()))
}

fn read_transforms(tables: Vec<Fields<'_, '_, '_>>) -> Vec<TransformConfig> {
    let mut names = HashSet::new();
    let mut transforms = Vec::new();
    for mut f in tables {
        let name = f.required_string("name");
        if let Some(name) = &name
            && !names.insert(name.clone())
        {
            f.report("name", format!("\"{name}\" is used by another transform"));
        }
        let plugin = f.required_string("plugin");
        let config = f.free_table("config");
        f.finish();
        if let (Some(name), Some(plugin)) = (name, plugin) {
            transforms.push(TransformConfig {
                name,
                plugin,
                config,
            });
        }
    }
    transforms
}
