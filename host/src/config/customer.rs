//! A customer's destination, as the platform's destination pages describe
//! it (`{"type": "KINESIS", "streamArn": …, "auth": {"mode": "ASSUME_ROLE", …}}`),
//! turned into the same [`DestinationConfig`] a config file gives, through
//! the same reader and its checks. Problems name the JSON field
//! (`auth.roleArn`). The destination subscribes to its customer only.

use serde_json::{Map, Value};

use super::{DestinationConfig, Problem, read_destination};
use crate::secrets::Keyring;

/// The fields that hold secrets: stored sealed, never shown.
pub const SECRET_FIELDS: [&str; 3] = ["auth.secretAccessKey", "auth.sessionToken", "auth.password"];

/// Seals the secret fields of `spec` (a customer's JSON) for customer
/// destination `id`, before it is stored.
/// A blank secret is refused here: once sealed it could not be checked.
pub fn seal_secrets(
    spec: &mut Map<String, Value>,
    keyring: &Keyring,
    customer: &str,
    id: &str,
) -> Result<(), SpecProblem> {
    let Some(Value::Object(auth)) = spec.get_mut("auth") else {
        return Ok(());
    };
    for field in SECRET_FIELDS {
        let name = field.trim_start_matches("auth.");
        if let Some(Value::String(plain)) = auth.get(name) {
            if !is_token(plain) {
                return Err(SpecProblem {
                    field: field.to_owned(),
                    message: "must not be empty or hold control characters".into(),
                });
            }
            let sealed = keyring.seal(plain, &[customer, id, field]);
            auth.insert(name.to_owned(), Value::String(sealed));
        }
    }
    Ok(())
}

/// Re-seals the secrets of `spec` that are under another key than the
/// primary; how many were re-sealed, or the first that does not open.
pub fn reseal_secrets(
    spec: &mut Value,
    keyring: &Keyring,
    customer: &str,
    id: &str,
) -> Result<usize, SpecProblem> {
    let Some(Value::Object(auth)) = spec.get_mut("auth") else {
        return Ok(0);
    };
    let mut resealed = 0;
    for field in SECRET_FIELDS {
        let name = field.trim_start_matches("auth.");
        let Some(Value::String(sealed)) = auth.get(name) else {
            continue;
        };
        if !keyring.is_stale(sealed) {
            continue;
        }
        let secret = keyring
            .open(sealed, &[customer, id, field])
            .map_err(|e| SpecProblem {
                field: field.to_owned(),
                message: format!("the stored secret cannot be opened: {e}"),
            })?;
        let again = keyring.seal(secret.expose(), &[customer, id, field]);
        auth.insert(name.to_owned(), Value::String(again));
        resealed += 1;
    }
    Ok(resealed)
}

/// `spec` as the API shows it: each secret field replaced by
/// `"<field>Set": true`.
pub fn redacted(spec: &Value) -> Value {
    let mut out = spec.clone();
    if let Some(Value::Object(auth)) = out.get_mut("auth") {
        for field in SECRET_FIELDS {
            let name = field.trim_start_matches("auth.");
            if auth.remove(name).is_some() {
                auth.insert(format!("{name}Set"), Value::Bool(true));
            }
        }
    }
    out
}

/// Opens a destination's sealed fields, bound to its customer and id.
struct Opener<'a> {
    keyring: &'a Keyring,
    customer: &'a str,
    id: &'a str,
}

impl Opener<'_> {
    /// The secret in `auth.<name>` of `auth`, opened, as a literal TOML string.
    fn open(
        &self,
        auth: &Map<String, Value>,
        field: &str,
    ) -> Result<Option<toml::Value>, Vec<SpecProblem>> {
        let name = field.trim_start_matches("auth.");
        let Some(sealed) = auth.get(name).and_then(Value::as_str) else {
            return Ok(None);
        };
        let secret = self
            .keyring
            .open(sealed, &[self.customer, self.id, field])
            .map_err(|e| {
                vec![SpecProblem {
                    field: field.to_owned(),
                    message: format!("the stored secret cannot be opened: {e}"),
                }]
            })?;
        Ok(Some(toml::Value::String(literal(secret.expose()))))
    }
}

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

/// The destination `id` of `customer` described by `spec`; `external_id`
/// is the customer's, which an assumed role must be asked with.
pub fn customer_destination(
    customer: &str,
    external_id: &str,
    id: &str,
    spec: &Value,
    keyring: &Keyring,
) -> Result<DestinationConfig, Vec<SpecProblem>> {
    let secrets = Opener {
        keyring,
        customer,
        id,
    };
    let table = to_table(customer, external_id, id, spec, &secrets)?;
    read_destination(table).map_err(|problems| problems.into_iter().map(from_toml).collect())
}

/// JSON fields of each type, and where each goes in the TOML table.
const KINESIS: &[(&str, &str)] = &[
    ("streamArn", "kinesis.stream_arn"),
    ("streamName", "kinesis.stream_name"),
    ("region", "kinesis.region"),
    ("endpointUrl", "kinesis.endpoint_url"),
    ("ordering", "kinesis.ordering"),
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
    let mut known: Vec<&str> = vec!["type", "name"];
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
            match auth_mode {
                "" | "NONE" => {
                    auth_known.push("tls");
                    set(
                        &mut table,
                        "kafka.auth.mode",
                        toml::Value::String("none".into()),
                    );
                    if let Some(tls) = auth.and_then(|a| a.get("tls")) {
                        set(&mut table, "kafka.auth.tls", to_toml(tls));
                    }
                }
                "SASL_PLAIN" | "SASL_SCRAM_SHA_256" | "SASL_SCRAM_SHA_512" => {
                    let auth = auth.expect("a mode means an object");
                    auth_known.extend(["tls", "username", "password"]);
                    let mode = auth_mode.to_ascii_lowercase();
                    set(&mut table, "kafka.auth.mode", toml::Value::String(mode));
                    if let Some(username) = auth.get("username") {
                        set(&mut table, "kafka.auth.username", to_toml(username));
                    }
                    if let Some(password) = secrets.open(auth, "auth.password")? {
                        set(&mut table, "kafka.auth.password", password);
                    }
                    if let Some(tls) = auth.get("tls") {
                        set(&mut table, "kafka.auth.tls", to_toml(tls));
                    }
                }
                "SASL_OAUTHBEARER" => return Err(needs_secrets("auth.mode")),
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
        "" => return Err(problem("type", "is required: KINESIS or KAFKA".into())),
        other => {
            return Err(problem(
                "type",
                format!("\"{other}\" is not KINESIS or KAFKA"),
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

/// What a JSON field must be, beyond what the config reader checks (it
/// also takes `"100"` for 100, as a file may): the API takes exactly what
/// `docs/openapi.json` describes.
#[derive(Clone, Copy)]
enum Kind {
    String,
    NonBlank,
    Boolean,
    Strings,
    Integer(u64, u64),
    Object,
    Check(fn(&str) -> bool, &'static str),
}

const CHECKS: &[(&str, Kind)] = &[
    ("name", Kind::String),
    ("partitionKey", Kind::String),
    ("eventTypes", Kind::Strings),
    (
        "streamArn",
        Kind::Check(
            is_stream_arn,
            "is not a Kinesis stream ARN (arn:aws:kinesis:<region>:<account>:stream/<name>)",
        ),
    ),
    ("region", Kind::NonBlank),
    ("endpointUrl", Kind::NonBlank),
    ("ordering", Kind::String),
    ("auth", Kind::Object),
    (
        "auth.roleArn",
        Kind::Check(
            is_role_arn,
            "is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)",
        ),
    ),
    ("auth.externalId", Kind::String),
    (
        "auth.sessionName",
        Kind::Check(
            is_session_name,
            "must be 2 to 64 of A-Z a-z 0-9 + = , . @ _ -",
        ),
    ),
    ("auth.stsEndpointUrl", Kind::NonBlank),
    ("auth.accessKeyId", Kind::NonBlank),
    ("auth.secretAccessKey", Kind::NonBlank),
    ("auth.sessionToken", Kind::NonBlank),
    ("auth.username", Kind::NonBlank),
    ("auth.password", Kind::NonBlank),
    ("auth.mode", Kind::String),
    ("auth.tls", Kind::Boolean),
    ("brokers", Kind::Strings),
    ("topic", Kind::String),
    ("producer", Kind::Object),
    ("producer.lingerMs", Kind::Integer(0, 10_000)),
    ("producer.batchSizeBytes", Kind::Integer(1, i32::MAX as u64)),
    ("producer.acks", Kind::String),
    ("producer.compression", Kind::String),
];

/// Checks the JSON types and formats of a customer's destination, before
/// anything in it is changed (sealed, or the external ID filled in).
pub fn check_spec(spec: &Map<String, Value>) -> Result<(), SpecProblem> {
    check_json(spec).map_err(|mut problems| problems.remove(0))
}

fn check_json(spec: &Map<String, Value>) -> Result<(), Vec<SpecProblem>> {
    for (path, kind) in CHECKS {
        let value = match path.split_once('.') {
            Some((outer, inner)) => spec.get(outer).and_then(|o| o.get(inner)),
            None => spec.get(*path),
        };
        let Some(value) = value else { continue };
        let fault = match (kind, value) {
            (Kind::String, Value::String(_)) => None,
            (Kind::NonBlank, Value::String(s)) if is_token(s) => None,
            (Kind::NonBlank, Value::String(_)) => {
                Some("must not be empty or hold control characters".to_owned())
            }
            (Kind::Boolean, Value::Bool(_)) => None,
            (Kind::Object, Value::Object(_)) => None,
            (Kind::Strings, Value::Array(items)) if items.iter().all(Value::is_string) => None,
            (Kind::Integer(low, high), Value::Number(n))
                if n.as_u64().is_some_and(|n| (*low..=*high).contains(&n)) =>
            {
                None
            }
            (Kind::Integer(low, high), _) => {
                Some(format!("must be a whole number from {low} to {high}"))
            }
            (Kind::Check(ok, message), Value::String(s)) => (!ok(s)).then(|| (*message).to_owned()),
            (Kind::String | Kind::NonBlank | Kind::Check(..), _) => {
                Some("must be a string".to_owned())
            }
            (Kind::Boolean, _) => Some("must be true or false".to_owned()),
            (Kind::Object, _) => Some("must be an object".to_owned()),
            (Kind::Strings, _) => Some("must be an array of strings".to_owned()),
        };
        if let Some(message) = fault {
            return Err(vec![SpecProblem {
                field: (*path).to_owned(),
                message,
            }]);
        }
    }
    if let Some(Value::Array(brokers)) = spec.get("brokers") {
        if brokers.is_empty() {
            return Err(vec![SpecProblem {
                field: "brokers".into(),
                message: "is required: one or more \"host:port\"".into(),
            }]);
        }
        if let Some(bad) = brokers
            .iter()
            .filter_map(Value::as_str)
            .find(|b| !is_broker(b))
        {
            return Err(vec![SpecProblem {
                field: "brokers".into(),
                message: format!("\"{bad}\" is not \"host:port\" (e.g. \"kafka-1:9092\")"),
            }]);
        }
    }
    Ok(())
}

/// Not blank, and no control characters (a NUL cannot reach librdkafka or
/// an HTTP header): credentials, regions, endpoints.
fn is_token(text: &str) -> bool {
    !text.trim().is_empty() && !text.chars().any(char::is_control)
}

/// `arn:<partition>:kinesis:<region>:<account>:stream/<name>`.
fn is_stream_arn(text: &str) -> bool {
    let parts: Vec<&str> = text.splitn(6, ':').collect();
    matches!(parts.as_slice(), ["arn", _, "kinesis", _, _, resource]
        if resource.len() > "stream/".len() && resource.starts_with("stream/"))
        && !text.chars().any(char::is_control)
}

fn is_role_arn(text: &str) -> bool {
    crate::config::is_iam_arn(text)
        && text
            .splitn(6, ':')
            .nth(5)
            .is_some_and(|r| r.len() > "role/".len() && r.starts_with("role/"))
}

fn is_session_name(text: &str) -> bool {
    (2..=64).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
}

/// `host:port`, the host of letters, digits, `.`, `_` and `-`.
fn is_broker(text: &str) -> bool {
    text.rsplit_once(':').is_some_and(|(host, port)| {
        !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
            && (1..=5).contains(&port.len())
            && port.bytes().all(|b| b.is_ascii_digit())
            && port.parse::<u16>().is_ok()
    })
}

fn needs_secrets(field: &str) -> Vec<SpecProblem> {
    vec![SpecProblem {
        field: field.to_owned(),
        message: "OAuth bearer tokens are not taken over the API yet; use SASL_SCRAM_SHA_512, SASL_SCRAM_SHA_256 or SASL_PLAIN".into(),
    }]
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
            "kinesis.auth.access_key_id" => "auth.accessKeyId".into(),
            "kinesis.auth.secret_access_key" => "auth.secretAccessKey".into(),
            "kinesis.stream_name" => "streamArn".into(),
            other => other.to_owned(),
        });
    SpecProblem {
        field,
        message: problem.message,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::config::{KinesisAuth, KinesisStream};

    const EXTERNAL: &str = "pr-abc";

    fn keyring() -> Keyring {
        use base64::Engine;
        let key = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([7u8; 32]);
        Keyring::new("k", &[("k".into(), crate::config::Secret::new(key))]).unwrap()
    }

    fn read(spec: Value) -> Result<DestinationConfig, Vec<SpecProblem>> {
        let Value::Object(mut spec) = spec else {
            return customer_destination("acct_a", EXTERNAL, "dst_01ABC", &spec, &keyring());
        };
        seal_secrets(&mut spec, &keyring(), "acct_a", "dst_01ABC").map_err(|p| vec![p])?;
        customer_destination(
            "acct_a",
            EXTERNAL,
            "dst_01ABC",
            &Value::Object(spec),
            &keyring(),
        )
    }

    fn field(spec: Value) -> String {
        read(spec).unwrap_err()[0].field.clone()
    }

    #[test]
    fn the_page_json_of_a_kinesis_stream() {
        let d = read(json!({"type": "KINESIS", "name": "Customer Kinesis stream",
            "streamArn": "arn:aws:kinesis:us-east-1:123456789012:stream/pushrail-events",
            "partitionKey": "customerExternalId",
            "auth": {"mode": "ASSUME_ROLE", "roleArn": "arn:aws:iam::123456789012:role/PushrailKinesisWriter",
                     "externalId": EXTERNAL}}))
        .unwrap();
        assert_eq!(d.name, "dst_01abc");
        assert_eq!(d.plugin, "kinesis");
        assert_eq!(d.subscription.customers, ["acct_a"]);
        let k = d.kinesis.unwrap();
        assert_eq!(k.region.as_deref(), Some("us-east-1"), "from the ARN");
        assert!(matches!(k.stream, KinesisStream::Arn(_)));
        match k.auth {
            KinesisAuth::AssumeRole { external_id, .. } => {
                assert_eq!(external_id.unwrap().expose(), EXTERNAL);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_page_json_of_a_kafka_topic() {
        let d = read(json!({"type": "KAFKA", "name": "Customer Kafka cluster",
            "brokers": ["kafka-0.acme.example:9094"], "topic": "pushrail.events.v1",
            "partitionKey": "customerExternalId", "auth": {"mode": "NONE", "tls": true},
            "producer": {"lingerMs": 100, "batchSizeBytes": 1048576, "acks": "all"}}))
        .unwrap();
        let k = d.kafka.unwrap();
        assert_eq!(k.topic, "pushrail.events.v1");
        assert!(k.tls.is_some());
        assert_eq!(k.producer.linger, std::time::Duration::from_millis(100));
    }

    #[test]
    fn problems_name_the_json_field() {
        let kinesis = |auth: Value| json!({"type": "KINESIS", "streamArn": "arn:aws:kinesis:us-east-1:123456789012:stream/s", "auth": auth});
        let role = "arn:aws:iam::123456789012:role/w";
        assert_eq!(field(json!({"type": "SQS"})), "type");
        assert_eq!(
            field(kinesis(json!({"mode": "ASSUME_ROLE"}))),
            "auth.roleArn"
        );
        assert_eq!(
            field(kinesis(json!({"mode": "ASSUME_ROLE", "roleArn": "r"}))),
            "auth.roleArn"
        );
        assert_eq!(
            field(kinesis(
                json!({"mode": "ACCESS_KEY", "accessKeyId": "AKIA1"})
            )),
            "auth.secretAccessKey"
        );
        assert_eq!(
            field(kinesis(
                json!({"mode": "ASSUME_ROLE", "roleArn": role, "color": 1})
            )),
            "auth.color"
        );
        // A customer cannot choose another external ID: it is replaced.
        let chosen = read(kinesis(
            json!({"mode": "ASSUME_ROLE", "roleArn": role, "externalId": "mine"}),
        ));
        match chosen.unwrap().kinesis.unwrap().auth {
            KinesisAuth::AssumeRole { external_id, .. } => {
                assert_eq!(external_id.unwrap().expose(), EXTERNAL);
            }
            other => panic!("{other:?}"),
        }
        let kafka = |extra: Value| {
            let mut spec = json!({"type": "KAFKA", "brokers": ["b:9092"], "topic": "t"});
            for (k, v) in extra.as_object().unwrap() {
                spec[k] = v.clone();
            }
            spec
        };
        assert_eq!(field(kafka(json!({"topic": "bad topic!"}))), "topic");
        assert_eq!(field(kafka(json!({"brokers": ["b:99999"]}))), "brokers");
        assert_eq!(
            field(kafka(json!({"producer": {"acks": "some"}}))),
            "producer.acks"
        );
        assert_eq!(
            field(kafka(json!({"producer": {"lingerMs": "100"}}))),
            "producer.lingerMs",
            "the API takes JSON types strictly"
        );
        assert_eq!(field(kafka(json!({"filter": {"x": 1}}))), "filter");
    }

    #[test]
    fn secrets_are_sealed_opened_in_place_and_never_shown() {
        let mut spec = json!({"type": "KAFKA", "brokers": ["b:9092"], "topic": "t",
            "auth": {"mode": "SASL_SCRAM_SHA_512", "username": "u", "password": "hunter2", "tls": true}})
        .as_object()
        .unwrap()
        .clone();
        seal_secrets(&mut spec, &keyring(), "acct_a", "dst_1").unwrap();
        let stored = Value::Object(spec);
        assert!(!stored.to_string().contains("hunter2"), "{stored}");
        let d = customer_destination("acct_a", EXTERNAL, "dst_1", &stored, &keyring()).unwrap();
        match d.kafka.unwrap().auth {
            crate::config::KafkaAuth::SaslScram { password, .. } => {
                assert_eq!(password.expose(), "hunter2")
            }
            other => panic!("{other:?}"),
        }
        // The same stored JSON under another destination id does not open.
        let moved = customer_destination("acct_a", EXTERNAL, "dst_2", &stored, &keyring());
        assert_eq!(moved.unwrap_err()[0].field, "auth.password");
        let shown = redacted(&stored);
        assert_eq!(shown["auth"]["passwordSet"], true);
        assert!(shown["auth"].get("password").is_none());
    }

    #[test]
    fn a_customers_strings_never_expand_the_servers_environment() {
        let d = read(json!({"type": "KAFKA", "brokers": ["b:9092"], "topic": "t",
            "eventTypes": ["${HOME}"]}))
        .unwrap();
        assert_eq!(d.subscription.event_types, ["${HOME}"]);
    }
}
