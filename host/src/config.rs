//! The operator's TOML configuration: what a config is (the types below).
//! Reading one — `${VAR}` expansion, defaults, validation, every problem
//! with its TOML path, all at once — is `read.rs`.

mod aws;
mod customer;
mod destinations;
mod fields;
mod interpolate;
mod kafka;
mod kinesis;
mod network;
mod read;
mod units;

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use aws::{AwsAuth, AwsConfig};
pub use customer::{
    CustomerOffer, SpecProblem, check_spec, customer_destination, destination_name, redacted,
    reseal_secrets, seal_secrets,
};
pub use destinations::{read_destination, valid_secret_name};
pub use fields::Problem;
pub use kafka::{
    KafkaAcks, KafkaAuth, KafkaCompression, KafkaConfig, KafkaProducerConfig, KafkaTls, OauthToken,
    ScramMechanism,
};
pub use kinesis::{KinesisConfig, KinesisOrdering, KinesisStream, MAX_AGGREGATE_BYTES};
pub use read::is_iam_arn;
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

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub plugins: PluginsConfig,
    pub security: SecurityConfig,
    pub transforms: Vec<TransformConfig>,
    /// Shared: the config is cloned for the reloader, the delivery and the
    /// API, and with 10,000 destinations each deep copy was ~20 MiB.
    pub destinations: Vec<Arc<DestinationConfig>>,
}

#[derive(Debug, Clone, PartialEq)]
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
    /// Most open client connections; more wait in the listen backlog.
    pub max_connections: usize,
    /// How long a client may take to send a request's headers, and how
    /// long a kept-alive connection may sit idle.
    pub header_read_timeout: Duration,
    /// How long one request may take, reading its body included.
    pub request_timeout: Duration,
    /// Bytes of request bodies being read at once, over all connections;
    /// more requests wait.
    pub max_body_memory: usize,
    /// Threads of the async runtime (HTTP, delivery, plugin calls).
    pub worker_threads: usize,
    /// Whether HTTP/2 without TLS (h2c, prior knowledge) is served on the
    /// same port as HTTP/1.1.
    pub http2: bool,
    /// Most HTTP/2 requests at once on one connection.
    pub max_streams_per_connection: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StorageConfig {
    /// Directory holding the redb log (`pushrail.redb`).
    pub data_dir: PathBuf,
    /// How long an `idempotencyKey` (per source) is remembered.
    pub idempotency_window: Duration,
    /// How long delivered events are kept.
    pub retention: Duration,
    /// How long delivery attempt records are kept (dead letters stay until
    /// redriven or discarded).
    pub attempt_retention: Duration,
    /// Memory redb may use to cache pages of the log file.
    pub cache_size: usize,
    /// How often the retention sweep runs.
    pub retention_interval: Duration,
    pub group_commit: GroupCommitConfig,
}

/// How concurrent appends share one durable commit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GroupCommitConfig {
    /// Most events written by one transaction.
    pub max_batch: usize,
    /// How long the writer waits for more requests before committing;
    /// zero commits whatever is queued as soon as the previous commit ends.
    pub max_wait: Duration,
}

/// `[security]`: what customer tokens are signed with, and the identity
/// customers' roles must trust.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SecurityConfig {
    /// Signs customer tokens (HS256, at least 32 bytes); without it no
    /// customer token can be minted or accepted.
    pub token_secret: Option<Secret>,
    /// The AWS principal Pushrail assumes customers' roles as
    /// (`arn:aws:iam::111122223333:role/pushrail`), for their trust policies.
    pub aws_principal: Option<String>,
    /// Keys that seal customers' secrets at rest, by id (32 bytes, base64);
    /// empty: a key file in the data directory.
    pub master_keys: Vec<(String, Secret)>,
    /// The key new secrets are sealed with (one of `master_keys`).
    pub primary_key: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DestinationConfig {
    pub name: String,
    /// The plugin (file stem of a `.wasm`, or a built-in) that delivers.
    pub plugin: String,
    /// Transform plugins applied in order before delivery.
    pub transforms: Vec<String>,
    pub batch: BatchConfig,
    pub retry: RetryConfig,
    /// Which event field orders delivery: events with the same key reach
    /// the destination in log order.
    pub partition_key: PartitionKey,
    /// `[destinations.file]`: the local file the destination may append to.
    pub file: Option<PathBuf>,
    /// `[destinations.kinesis]`: the Kinesis stream the destination may write.
    pub kinesis: Option<KinesisConfig>,
    /// `[destinations.kafka]`: the Kafka topic the destination may write.
    pub kafka: Option<KafkaConfig>,
    /// `[destinations.aws]`: the AWS APIs the plugin may call, signed by the host.
    pub aws: Option<AwsConfig>,
    /// `[destinations.network]`: where the plugin may send HTTP requests.
    pub network: Option<crate::sinks::network::NetworkConfig>,
    /// `config`: free-form settings for the plugin.
    pub config: serde_json::Value,
    /// `secrets`: named secrets for the host capabilities the plugin uses
    /// (a webhook's signing secret); never handed to the plugin itself.
    pub secrets: std::collections::BTreeMap<String, Secret>,
    /// `[destinations.signing]`: when a rotated-out signing secret stops signing.
    pub signing: crate::sinks::signing::SigningConfig,
    /// Which events the destination gets (`customers`, `event_types`,
    /// `filter`); all of them by default.
    pub subscription: Subscription,
}

/// Which events a destination subscribes to. Events it does not are
/// passed over: never sent, not even by a replay, and not recorded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Subscription {
    /// Only these customers' events (`customerExternalId`); empty: every customer.
    pub customers: Vec<String>,
    /// Only event types matching one of these `*` patterns; empty: every type.
    pub event_types: Vec<String>,
    /// Only events this filter passes.
    pub filter: Option<pushrail_event::Filter>,
}

impl Subscription {
    /// The one customer whose events the destination gets, if it is one
    /// (every customer destination): it then reads the log's index of that
    /// customer and sleeps through other customers' events.
    pub fn only_customer(&self) -> Option<&str> {
        match self.customers.as_slice() {
            [only] => Some(only),
            _ => None,
        }
    }

    /// True when the destination gets `event`.
    pub fn selects(&self, event: &impl pushrail_event::EventFields) -> bool {
        (self.customers.is_empty()
            || self
                .customers
                .iter()
                .any(|c| c == event.customer_external_id()))
            && (self.event_types.is_empty()
                || self
                    .event_types
                    .iter()
                    .any(|p| pushrail_event::glob_matches(p, event.event_type())))
            && self.filter.as_ref().is_none_or(|f| f.matches(event))
    }
}

impl DestinationConfig {
    /// Whether a key's events must wait for its batch in flight before
    /// they go: everywhere order per key is promised across retries, i.e.
    /// except Kinesis `ordering = "relaxed"`, which already lets a retried
    /// record land after a later one of its key (docs/delivery.md).
    pub fn one_batch_per_key(&self) -> bool {
        !self
            .kinesis
            .as_ref()
            .is_some_and(|k| k.ordering == KinesisOrdering::Relaxed)
    }

    /// Whether a batch takes whole keys rather than events in log order
    /// (`delivery::fill::KeyPolicy::whole_keys`): on Kafka, where a
    /// batch's records of all its keys go out in a few produce requests
    /// however the keys are spread. Not on strict Kinesis, which sends one
    /// record of a key per call and so wants many keys in each batch, nor on
    /// relaxed Kinesis, where keys do not wait for batches in flight.
    pub fn whole_keys(&self) -> bool {
        self.kafka.is_some()
    }

    /// What the plugin's `init` receives: the destination's table as JSON,
    /// without anything secret.
    pub fn plugin_settings(&self) -> serde_json::Value {
        let kinesis = self.kinesis.as_ref().map(|k| {
            serde_json::json!({
                "ordering": match k.ordering {
                    KinesisOrdering::Strict => "strict",
                    KinesisOrdering::Relaxed => "relaxed",
                },
                "max_records_per_call": k.max_records_per_call,
                "aggregation": k.aggregation.is_some(),
            })
        });
        serde_json::json!({
            "name": self.name,
            "plugin": self.plugin,
            "partition_key": self.partition_key.to_text(),
            "file": self.file.as_ref().map(|p| serde_json::json!({ "path": p })),
            "kinesis": kinesis,
            "kafka": self.kafka.as_ref().map(|k| serde_json::json!({ "topic": k.topic })),
            "config": self.config,
        })
    }
}

/// A field path naming an event's partition key: `customerExternalId`,
/// `eventType`, `source`, `idempotencyKey`, `correlationId`,
/// `metadata.<field>…`, `payload.<field>…`, or `random` (no ordering).
/// The plugins read the same paths with the same code (`pushrail-event`).
pub use pushrail_event::FieldPath as PartitionKey;

/// A named transform with its config, usable by any destination.
#[derive(Debug, Clone, PartialEq)]
pub struct TransformConfig {
    pub name: String,
    pub plugin: String,
    pub config: serde_json::Value,
}

/// Where plugins come from and the sandbox every instance gets.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginsConfig {
    /// Directory of `*.wasm` components; `None`: built-in plugins only.
    pub dir: Option<PathBuf>,
    /// Most linear memory one instance may use.
    pub memory_limit: usize,
    /// Most guest time one call may take.
    pub time_limit: Duration,
    /// Wall-clock time one plugin call may take, the host functions it
    /// calls (network round trips) included.
    pub call_timeout: Duration,
    /// Keep compiled plugins under `<data_dir>/plugin-cache`.
    pub cache: bool,
    /// Live plugin instances at once over all destinations (idle
    /// destinations give theirs back).
    pub max_instances: usize,
    /// How often `dir` is checked for new or changed `.wasm` files (hot
    /// reload); zero turns watching off.
    pub watch_interval: Duration,
    /// Destination plugins a customer may choose over the API
    /// (`{"type": "PLUGIN", "plugin": …}`); none by default.
    pub customer_plugins: Vec<String>,
    /// `[plugins.customer_network]`: the network limits of customers'
    /// plugin destinations, and origins every one of them may reach; each
    /// also reaches the origin of its own `config.url`.
    pub customer_network: crate::sinks::network::NetworkConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchConfig {
    pub max_events: usize,
    pub max_bytes: usize,
    /// How long a partial batch waits for more events.
    pub linger: Duration,
    /// Most batches handed to the plugins and not settled yet. Each holds
    /// keys no other one in flight holds, so order per key does not depend
    /// on how the sink orders concurrent calls.
    pub in_flight: usize,
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
    /// Draw each wait from the upper half of its value so that many workers
    /// retrying at once spread out.
    pub jitter: bool,
}

#[cfg(test)]
mod tests;
