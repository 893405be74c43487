//! A customer's destination, as the platform's destination pages describe
//! it (`{"type": "KINESIS", "streamArn": …, "auth": {"mode": "ASSUME_ROLE", …}}`),
//! turned into the same [`DestinationConfig`] a config file gives, through
//! the same reader and its checks. Problems name the JSON field
//! (`auth.roleArn`). The destination subscribes to its customer only.

use serde_json::{Map, Value};

mod checks;
mod network;
mod sealing;

use checks::check_json;
pub use checks::check_spec;
use sealing::Opener;
pub use sealing::{redacted, reseal_secrets, seal_secrets};

use super::{DestinationConfig, Problem, read_destination};
use crate::secrets::Keyring;

/// The running name of customer destination `id` (`dst_…`).
pub fn destination_name(id: &str) -> String {
    id.to_ascii_lowercase()
}

/// A problem with one field of a destination's JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecProblem {
    /// `auth.roleArn`, `streamArn`; empty for the whole body.
    pub field: String,
    pub message: String,
}

/// What the operator offers customers' `PLUGIN` destinations.
#[derive(Clone, Copy)]
pub struct CustomerOffer<'a> {
    /// The plugins they may use (`plugins.customer_plugins`).
    pub plugins: &'a [String],
    /// Their network limits and shared origins (`plugins.customer_network`).
    pub network: &'a crate::sinks::network::NetworkConfig,
}

/// The destination `id` of `customer` described by `spec`; `external_id`
/// is the customer's, which an assumed role must be asked with.
pub fn customer_destination(
    customer: &str,
    external_id: &str,
    id: &str,
    spec: &Value,
    keyring: &Keyring,
    offer: CustomerOffer<'_>,
) -> Result<DestinationConfig, Vec<SpecProblem>> {
    let plugins = offer.plugins;
    let secrets = Opener {
        keyring,
        customer,
        id,
    };
    let table = to_table(customer, external_id, plugins, id, spec, &secrets)?;
    let mut config = read_destination(table)
        .map_err(|problems| problems.into_iter().map(from_toml).collect::<Vec<_>>())?;
    // Read from the JSON itself, not through TOML, which has no null.
    if let Some(settings) = spec.get("config") {
        config.config = settings.clone();
    }
    if spec.get("type").and_then(Value::as_str) == Some("PLUGIN") {
        config.network = network::for_plugin(spec, offer.network).map_err(|p| vec![p])?;
    }
    if let Some(filter) = spec.get("filter") {
        let filter = pushrail_event::Filter::parse(filter).map_err(|e| {
            vec![SpecProblem {
                field: join("filter", &e.at),
                message: e.message,
            }]
        })?;
        config.subscription.filter = Some(filter);
    }
    Ok(config)
}

/// `outer.inner`, or `outer` alone.
fn join(outer: &str, inner: &str) -> String {
    if inner.is_empty() {
        outer.to_owned()
    } else {
        format!("{outer}.{inner}")
    }
}

/// JSON fields of each type, and where each goes in the TOML table.
const KINESIS: &[(&str, &str)] = &[
    ("streamArn", "kinesis.stream_arn"),
    ("streamName", "kinesis.stream_name"),
    ("region", "kinesis.region"),
    ("endpointUrl", "kinesis.endpoint_url"),
    ("ordering", "kinesis.ordering"),
    ("aggregation", "kinesis.aggregation"),
    ("aggregationMaxBytes", "kinesis.aggregation_max_bytes"),
];
const KINESIS_AUTH: &[(&str, &str)] = &[
    ("roleArn", "kinesis.auth.role_arn"),
    ("sessionName", "kinesis.auth.session_name"),
    ("stsEndpointUrl", "kinesis.auth.sts_endpoint_url"),
];
const KAFKA: &[(&str, &str)] = &[("brokers", "kafka.brokers"), ("topic", "kafka.topic")];
const KAFKA_PRODUCER: &[(&str, &str)] = &[
    ("lingerMs", "kafka.producer.linger_ms"),
    ("batchSizeBytes", "kafka.producer.batch_size_bytes"),
    ("acks", "kafka.producer.acks"),
    ("compression", "kafka.producer.compression"),
];
/// Fields every type has.
const COMMON: &[(&str, &str)] = &[
    ("partitionKey", "partition_key"),
    ("eventTypes", "event_types"),
];

fn to_table(
    customer: &str,
    external_id: &str,
    plugins: &[String],
    id: &str,
    spec: &Value,
    secrets: &Opener<'_>,
) -> Result<toml::Table, Vec<SpecProblem>> {
    let problem = |field: &str, message: String| {
        vec![SpecProblem {
            field: field.to_owned(),
            message,
        }]
    };
    let Value::Object(spec) = spec else {
        return Err(problem("", "a destination is a JSON object".into()));
    };
    check_json(spec)?;
    let kind = spec.get("type").and_then(Value::as_str).unwrap_or_default();
    let mut table = toml::Table::new();
    insert(
        &mut table,
        "name",
        toml::Value::String(destination_name(id)),
    );
    insert(
        &mut table,
        "customers",
        toml::Value::Array(vec![toml::Value::String(literal(customer))]),
    );
    let mut known: Vec<&str> = vec!["type", "name", "filter"];
    copy(&mut table, &mut known, COMMON, spec);
    let auth = spec.get("auth").and_then(Value::as_object);
    let auth_mode = auth
        .and_then(|a| a.get("mode"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut auth_known: Vec<&str> = vec!["mode"];
    match kind {
        "KINESIS" => {
            insert(&mut table, "plugin", toml::Value::String("kinesis".into()));
            copy(&mut table, &mut known, KINESIS, spec);
            known.push("auth");
            match auth_mode {
                "ASSUME_ROLE" => {
                    let auth = auth.expect("a mode means an object");
                    set(
                        &mut table,
                        "kinesis.auth.mode",
                        toml::Value::String("assume_role".into()),
                    );
                    // The customer's own external ID, whatever the request says:
                    // Pushrail chooses it, or the role could be confused into
                    // acting for another customer.
                    set(
                        &mut table,
                        "kinesis.auth.external_id",
                        toml::Value::String(literal(external_id)),
                    );
                    auth_known.push("externalId");
                    for (json, toml_path) in KINESIS_AUTH {
                        auth_known.push(json);
                        if let Some(value) = auth.get(*json) {
                            set(&mut table, toml_path, to_toml(value));
                        }
                    }
                    if !auth.contains_key("roleArn") {
                        return Err(problem("auth.roleArn", "is required".into()));
                    }
                }
                "ACCESS_KEY" => {
                    let auth = auth.expect("a mode means an object");
                    set(
                        &mut table,
                        "kinesis.auth.mode",
                        toml::Value::String("static".into()),
                    );
                    auth_known.extend(["accessKeyId", "secretAccessKey", "sessionToken"]);
                    if let Some(id) = auth.get("accessKeyId") {
                        set(&mut table, "kinesis.auth.access_key_id", to_toml(id));
                    }
                    for (field, toml_path) in [
                        ("auth.secretAccessKey", "kinesis.auth.secret_access_key"),
                        ("auth.sessionToken", "kinesis.auth.session_token"),
                    ] {
                        if let Some(value) = secrets.open(auth, field)? {
                            set(&mut table, toml_path, value);
                        }
                    }
                }
                "" => {
                    return Err(problem(
                        "auth.mode",
                        "is required: ASSUME_ROLE or ACCESS_KEY".into(),
                    ));
                }
                other => {
                    return Err(problem(
                        "auth.mode",
                        format!("\"{other}\" is not ASSUME_ROLE or ACCESS_KEY"),
                    ));
                }
            }
            if !spec.contains_key("region")
                && let Some(region) = spec
                    .get("streamArn")
                    .and_then(Value::as_str)
                    .and_then(|arn| arn.split(':').nth(3))
                    .filter(|r| !r.is_empty())
            {
                set(
                    &mut table,
                    "kinesis.region",
                    toml::Value::String(literal(region)),
                );
            }
        }
        "KAFKA" => {
            insert(&mut table, "plugin", toml::Value::String("kafka".into()));
            copy(&mut table, &mut known, KAFKA, spec);
            known.push("auth");
            known.push("producer");
            if let Some(producer) = spec.get("producer") {
                let Some(producer) = producer.as_object() else {
                    return Err(problem("producer", "must be an object".into()));
                };
                for key in producer.keys() {
                    if !KAFKA_PRODUCER.iter().any(|(json, _)| json == key) {
                        return Err(unknown(&format!("producer.{key}"), KAFKA_PRODUCER));
                    }
                }
                for (json, toml_path) in KAFKA_PRODUCER {
                    if let Some(value) = producer.get(*json) {
                        let value = match *json {
                            // `"all"` like the file's, whatever its case.
                            "acks" => toml::Value::String(
                                value
                                    .as_str()
                                    .map(str::to_ascii_lowercase)
                                    .unwrap_or_default(),
                            ),
                            _ => to_toml(value),
                        };
                        set(&mut table, toml_path, value);
                    }
                }
            }
            // Every mode may use TLS, and each is the file's mode in capitals.
            auth_known.push("tls");
            if let Some(tls) = auth.and_then(|a| a.get("tls")) {
                set(&mut table, "kafka.auth.tls", to_toml(tls));
            }
            let mode = match auth_mode {
                "" => "none".to_owned(),
                mode => mode.to_ascii_lowercase(),
            };
            set(&mut table, "kafka.auth.mode", toml::Value::String(mode));
            match auth_mode {
                "" | "NONE" => {}
                "SASL_PLAIN" | "SASL_SCRAM_SHA_256" | "SASL_SCRAM_SHA_512" => {
                    let auth = auth.expect("a mode means an object");
                    auth_known.extend(["username", "password"]);
                    if let Some(username) = auth.get("username") {
                        set(&mut table, "kafka.auth.username", to_toml(username));
                    }
                    if let Some(password) = secrets.open(auth, "auth.password")? {
                        set(&mut table, "kafka.auth.password", password);
                    }
                }
                "SASL_OAUTHBEARER" => {
                    let auth = auth.expect("a mode means an object");
                    auth_known.extend(["token", "principal", "tokenLifetimeSeconds"]);
                    if let Some(token) = secrets.open(auth, "auth.token")? {
                        set(&mut table, "kafka.auth.token", token);
                    }
                    if let Some(principal) = auth.get("principal") {
                        set(&mut table, "kafka.auth.principal", to_toml(principal));
                    }
                    if let Some(seconds) = auth.get("tokenLifetimeSeconds").and_then(Value::as_u64)
                    {
                        set(
                            &mut table,
                            "kafka.auth.token_lifetime",
                            toml::Value::String(format!("{seconds}s")),
                        );
                    }
                }
                other => {
                    return Err(problem(
                        "auth.mode",
                        format!(
                            "\"{other}\" is not NONE, SASL_PLAIN, SASL_SCRAM_SHA_256, SASL_SCRAM_SHA_512 or SASL_OAUTHBEARER"
                        ),
                    ));
                }
            }
        }
        "PLUGIN" => {
            known.extend(["plugin", "config", "secrets", "signing"]);
            let Some(plugin) = spec.get("plugin").and_then(Value::as_str) else {
                return Err(problem(
                    "plugin",
                    format!("is required: {}", offered(plugins)),
                ));
            };
            if !plugins.iter().any(|p| p == plugin) {
                return Err(problem(
                    "plugin",
                    format!(
                        "\"{plugin}\" is not offered to customers: {}",
                        offered(plugins)
                    ),
                ));
            }
            insert(&mut table, "plugin", toml::Value::String(literal(plugin)));
            if let Some(Value::Object(signing)) = spec.get("signing") {
                copy(
                    &mut table,
                    &mut Vec::new(),
                    &[("previousExpiresAt", "signing.previous_expires_at")],
                    signing,
                );
                if let Some(key) = signing.keys().find(|k| *k != "previousExpiresAt") {
                    return Err(problem(
                        &format!("signing.{key}"),
                        "unknown field; signing has previousExpiresAt".into(),
                    ));
                }
            }
            if let Some(Value::Object(named)) = spec.get("secrets") {
                for name in named.keys() {
                    if let Some(secret) = secrets.open(named, &format!("secrets.{name}"))? {
                        set(&mut table, &format!("secrets.{name}"), secret);
                    }
                }
            }
        }
        "" => {
            return Err(problem(
                "type",
                "is required: KINESIS, KAFKA or PLUGIN".into(),
            ));
        }
        other => {
            return Err(problem(
                "type",
                format!("\"{other}\" is not KINESIS, KAFKA or PLUGIN"),
            ));
        }
    }
    if let Some(name) = spec.get("name")
        && !name.is_string()
    {
        return Err(problem("name", "must be a string".into()));
    }
    if let Some(auth) = auth {
        if let Some(key) = auth.keys().find(|k| !auth_known.contains(&k.as_str())) {
            return Err(problem(
                &format!("auth.{key}"),
                format!("unknown field; this mode has {}", auth_known.join(", ")),
            ));
        }
    } else if spec.contains_key("auth") {
        return Err(problem("auth", "must be an object".into()));
    }
    if let Some(key) = spec.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(problem(
            key,
            format!(
                "unknown field; a {kind} destination has {}",
                known.join(", ")
            ),
        ));
    }
    Ok(table)
}

/// Copies the `fields` of `from` that are set to their places in `table`.
fn copy<'a>(
    table: &mut toml::Table,
    known: &mut Vec<&'a str>,
    fields: &[(&'a str, &str)],
    from: &Map<String, Value>,
) {
    for (json, toml_path) in fields {
        known.push(json);
        if let Some(value) = from.get(*json) {
            set(table, toml_path, to_toml(value));
        }
    }
}

/// The plugins a customer may choose, for a message.
fn offered(plugins: &[String]) -> String {
    if plugins.is_empty() {
        "this server offers no plugins to customers (plugins.customer_plugins)".into()
    } else {
        format!("this server offers {}", plugins.join(", "))
    }
}

fn unknown(field: &str, fields: &[(&str, &str)]) -> Vec<SpecProblem> {
    let names: Vec<&str> = fields.iter().map(|(json, _)| *json).collect();
    vec![SpecProblem {
        field: field.to_owned(),
        message: format!("unknown field; there are {}", names.join(", ")),
    }]
}

/// A customer's string, literal: `$` is doubled so that no `${VAR}` of the
/// server's environment can be read through it.
fn literal(text: &str) -> String {
    text.replace('$', "$$")
}

/// A JSON value as TOML (strings literal; `null` as an empty string, which
/// the reader then refuses by name).
fn to_toml(value: &Value) -> toml::Value {
    match value {
        Value::Null => toml::Value::String(String::new()),
        Value::Bool(b) => toml::Value::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => toml::Value::Integer(i),
            None => toml::Value::Float(n.as_f64().unwrap_or_default()),
        },
        Value::String(s) => toml::Value::String(literal(s)),
        Value::Array(items) => toml::Value::Array(items.iter().map(to_toml).collect()),
        Value::Object(members) => toml::Value::Table(
            members
                .iter()
                .map(|(k, v)| (k.clone(), to_toml(v)))
                .collect(),
        ),
    }
}

fn insert(table: &mut toml::Table, key: &str, value: toml::Value) {
    table.insert(key.to_owned(), value);
}

/// Sets `a.b.c` in `table`, creating the tables on the way.
fn set(table: &mut toml::Table, path: &str, value: toml::Value) {
    let mut parts: Vec<&str> = path.split('.').collect();
    let last = parts.pop().expect("a path has a name");
    let mut here = table;
    for part in parts {
        here = here
            .entry(part)
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .expect("paths do not cross values");
    }
    here.insert(last.to_owned(), value);
}

/// A reader's problem (`kinesis.auth.role_arn`) with its JSON field.
fn from_toml(problem: Problem) -> SpecProblem {
    let all = [KINESIS, KINESIS_AUTH, KAFKA, KAFKA_PRODUCER, COMMON];
    let field = all
        .iter()
        .flat_map(|fields| fields.iter())
        .find(|(_, toml_path)| {
            problem.path == *toml_path || problem.path.starts_with(&format!("{toml_path}["))
        })
        .map(|(json, toml_path)| {
            let json_path = if KINESIS_AUTH.iter().any(|(_, t)| t == toml_path) {
                format!("auth.{json}")
            } else if KAFKA_PRODUCER.iter().any(|(_, t)| t == toml_path) {
                format!("producer.{json}")
            } else {
                (*json).to_owned()
            };
            format!("{json_path}{}", &problem.path[toml_path.len()..])
        })
        .unwrap_or_else(|| match problem.path.as_str() {
            "kinesis.auth.tls" | "kafka.auth.tls" => "auth.tls".into(),
            "kafka.auth.username" => "auth.username".into(),
            "kafka.auth.password" => "auth.password".into(),
            "kafka.auth.token" => "auth.token".into(),
            "kafka.auth.principal" => "auth.principal".into(),
            "kafka.auth.token_lifetime" => "auth.tokenLifetimeSeconds".into(),
            "kinesis.auth.access_key_id" => "auth.accessKeyId".into(),
            "kinesis.auth.secret_access_key" => "auth.secretAccessKey".into(),
            "kinesis.stream_name" => "streamArn".into(),
            "signing.previous_expires_at" => "signing.previousExpiresAt".into(),
            other => other.to_owned(),
        });
    SpecProblem {
        field,
        message: problem.message,
    }
}

#[cfg(test)]
mod tests;
