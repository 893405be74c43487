//! `[[destinations]]`: one destination's table — its plugin, transforms,
//! batching and retries, outputs, subscription and secrets — read with
//! the file's rules, also for a customer's destination built from its JSON.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use super::fields::{Context, Fields};
use super::read::section;
use super::*;
use crate::sinks::signing::{Signer, SigningConfig, SigningError};
use time::format_description::well_known::Rfc3339;

/// Batches a destination keeps in flight unless its `batch.in_flight` says
/// otherwise: enough to keep a sink a network round trip away busy while
/// the next batch is read and transformed.
const DEFAULT_IN_FLIGHT: usize = 4;

/// Events per batch unless `batch.max_events` says otherwise: a Kinesis
/// PutRecords call's limit, and plenty for a webhook or a file.
const DEFAULT_MAX_EVENTS: u64 = 500;

/// The same for a Kafka destination, which has no per-call limit. A key's
/// events move one batch per acknowledgement (a key is in one batch in
/// flight), so with a broker a round trip away the batch size is what the
/// keys move per round trip: with whole keys, batches of 500 made 0.41× of
/// the raw producer 50 ms away and 1,000 made 0.65×; 2,000 made 0.69× but
/// held 279 MiB at peak draining a 1,000,000-event backlog on 16 threads,
/// over the 256 MiB bound (222 MiB with 1,000; docs/performance.md, session 13).
const DEFAULT_KAFKA_MAX_EVENTS: u64 = 1_000;

/// Reads one destination table built in code (a customer's, from its API
/// JSON) with exactly the rules of the config file. Its strings are taken
/// as they are (no `${VAR}` expansion: the caller escapes `$`); problems
/// carry their path below the table (`kinesis.stream_arn`).
pub fn read_destination(table: toml::Table) -> Result<DestinationConfig, Vec<Problem>> {
    let mut root = toml::Table::new();
    root.insert(
        "destination".into(),
        toml::Value::Array(vec![toml::Value::Table(table)]),
    );
    let no_env = |_: &str| None;
    let ctx = Context::new(&no_env);
    let mut fields = Fields::root(&root, &ctx);
    let mut read = read_destinations(fields.tables("destination"));
    fields.finish();
    let problems: Vec<Problem> = ctx
        .into_problems()
        .into_iter()
        .map(|p| Problem {
            path: p
                .path
                .strip_prefix("destination[0].")
                .unwrap_or(&p.path)
                .to_owned(),
            message: p.message,
        })
        .collect();
    match read.pop() {
        Some(destination) if problems.is_empty() => Ok(destination),
        _ => Err(problems),
    }
}

pub(super) fn read_destinations(tables: Vec<Fields<'_, '_, '_>>) -> Vec<DestinationConfig> {
    let mut names = HashSet::new();
    let mut files: HashMap<PathBuf, String> = HashMap::new();
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
        let default_max_events = if f.has("kafka") {
            DEFAULT_KAFKA_MAX_EVENTS
        } else {
            DEFAULT_MAX_EVENTS
        };
        let batch = section(f.table("batch"), |b| {
            let max_events = b.integer("max_events", default_max_events, 1..=10_000) as usize;
            let max_bytes = b.size("max_bytes", 5 << 20);
            if max_bytes < MAX_EVENT_BYTES as u64 {
                b.report("max_bytes", "must be at least 1MiB, the largest event");
            }
            BatchConfig {
                max_events,
                max_bytes: usize::try_from(max_bytes).unwrap_or(usize::MAX),
                linger: b.duration("linger", Duration::from_millis(100)),
                in_flight: b.integer("in_flight", DEFAULT_IN_FLIGHT as u64, 1..=64) as usize,
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
        let partition_key = match f.string("partition_key") {
            None => PartitionKey::default(),
            Some(text) => PartitionKey::parse(&text).unwrap_or_else(|| {
                f.report(
                    "partition_key",
                    format!(
                        "\"{text}\" is not a field path: use one of {}, metadata.<field>, payload.<field> or random",
                        PartitionKey::ENVELOPE_FIELDS.join(", ")
                    ),
                );
                PartitionKey::default()
            }),
        };
        let mut file = f.table("file").map(|mut t| {
            let path = t.required_string("path").map(PathBuf::from);
            t.finish();
            path
        });
        if file.is_none() && plugin.as_deref() == Some("file") {
            // The built-in file plugin writes `<name>.jsonl` unless told otherwise.
            file = Some(name.as_ref().map(|n| PathBuf::from(format!("{n}.jsonl"))));
        }
        if let Some(Some(path)) = &file {
            // Two writers of one file would interleave and miscount lines.
            let normal: PathBuf = path
                .components()
                .filter(|c| !matches!(c, std::path::Component::CurDir))
                .collect();
            let owner = name.clone().unwrap_or_default();
            if let Some(other) = files.insert(normal, owner) {
                f.report(
                    "file",
                    format!(
                        "{} is written by destination \"{other}\" too; give each destination its own file",
                        path.display()
                    ),
                );
            }
        }
        let mut partition_key = partition_key;
        let kinesis = f
            .table("kinesis")
            .map(|k| output(k, kinesis::read, &mut partition_key));
        let kafka = f
            .table("kafka")
            .map(|k| output(k, kafka::read, &mut partition_key));
        let aws = f.table("aws").and_then(|mut a| {
            let config = super::aws::read(&mut a);
            a.finish();
            config
        });
        let network = f.table("network").map(|mut n| {
            let config = super::network::read(&mut n, true);
            n.finish();
            config
        });
        let config = f.free_table("config");
        let secrets = secrets(&mut f);
        let signing = signing(&mut f, &secrets);
        let subscription = subscription(&mut f);
        f.finish();
        if let (Some(name), Some(plugin)) = (name, plugin) {
            destinations.push(DestinationConfig {
                name,
                plugin,
                transforms,
                batch,
                retry,
                partition_key,
                file: file.flatten(),
                kinesis: kinesis.flatten(),
                kafka: kafka.flatten(),
                aws,
                network,
                config,
                secrets,
                signing,
                subscription,
            });
        }
    }
    destinations
}

/// A destination's `secrets`: names (as for [`valid_secret_name`]) to
/// non-empty strings.
fn secrets(f: &mut Fields<'_, '_, '_>) -> std::collections::BTreeMap<String, Secret> {
    let mut out = std::collections::BTreeMap::new();
    let Some(mut table) = f.table("secrets") else {
        return out;
    };
    for (name, value) in table.scalars_as_strings() {
        if !valid_secret_name(&name) {
            table.report(&name, "a secret's name is 1 to 64 of A-Z a-z 0-9 _ -");
        } else if value.trim().is_empty() {
            table.report(&name, "must not be empty");
        } else {
            out.insert(name, Secret::new(value));
        }
    }
    table.finish();
    out
}

/// `[destinations.signing]`, checked with the signing secrets it goes with.
fn signing(
    f: &mut Fields<'_, '_, '_>,
    secrets: &std::collections::BTreeMap<String, Secret>,
) -> SigningConfig {
    let mut config = SigningConfig::default();
    if let Some(mut table) = f.table("signing") {
        if let Some(text) = table.string("previous_expires_at") {
            match time::OffsetDateTime::parse(&text, &Rfc3339) {
                Ok(at) => config.previous_expires_at = Some(at.into()),
                Err(_) => table.report(
                    "previous_expires_at",
                    format!("\"{text}\" is not an RFC 3339 time (2026-12-01T09:00:00Z)"),
                ),
            }
        }
        table.finish();
    }
    if let Err(e) = Signer::new(secrets, &config) {
        let field = match e {
            SigningError::NoExpiry => "signing.previous_expires_at".to_owned(),
            SigningError::Malformed(name) | SigningError::PreviousAlone(name) => {
                format!("secrets.{name}")
            }
        };
        f.report(&field, e.to_string());
    }
    config
}

/// A name in a destination's `secrets`.
pub fn valid_secret_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

pub(super) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// Reads an output section (`[destinations.kinesis]`, `.kafka`) with
/// `read`; its own `partition_key`, if set, replaces the destination's.
fn output<T>(
    mut k: Fields<'_, '_, '_>,
    read: impl FnOnce(&mut Fields<'_, '_, '_>) -> T,
    partition_key: &mut PartitionKey,
) -> T {
    let value = read(&mut k);
    if let Some(text) = k.string("partition_key") {
        match PartitionKey::parse(&text) {
            Some(key) => *partition_key = key,
            None => k.report("partition_key", format!("\"{text}\" is not a field path")),
        }
    }
    k.finish();
    value
}

/// A destination's `customers`, `event_types` and `filter`.
fn subscription(f: &mut Fields<'_, '_, '_>) -> Subscription {
    let customers = f.string_list("customers");
    let event_types = f.string_list("event_types");
    let filter = match f.free_table("filter") {
        serde_json::Value::Object(members) if members.is_empty() => None,
        value => match pushrail_event::Filter::parse(&value) {
            Ok(filter) => Some(filter),
            Err(e) => {
                f.report("filter", e.to_string());
                None
            }
        },
    };
    Subscription {
        customers,
        event_types,
        filter,
    }
}
