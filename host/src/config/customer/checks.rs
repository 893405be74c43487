//! The JSON of a customer's destination checked as `docs/openapi.json`
//! describes it: types exactly (the config reader also takes `"100"` for
//! 100, as a file may), and the formats of ARNs, brokers and credentials.

use serde_json::{Map, Value};

use super::SpecProblem;

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
    ("filter", Kind::Object),
    ("plugin", Kind::String),
    ("config", Kind::Object),
    ("secrets", Kind::Object),
    ("signing", Kind::Object),
    ("signing.previousExpiresAt", Kind::NonBlank),
    (
        "streamArn",
        Kind::Check(
            is_stream_arn,
            "is not a Kinesis stream ARN (arn:aws:kinesis:<region>:<account>:stream/<name>)",
        ),
    ),
    (
        "region",
        Kind::Check(is_region, "is not an AWS region (e.g. eu-west-1)"),
    ),
    ("endpointUrl", Kind::NonBlank),
    ("ordering", Kind::String),
    ("aggregation", Kind::Boolean),
    (
        "aggregationMaxBytes",
        Kind::Integer(1024, crate::config::MAX_AGGREGATE_BYTES),
    ),
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
    ("auth.token", Kind::NonBlank),
    ("auth.principal", Kind::NonBlank),
    ("auth.tokenLifetimeSeconds", Kind::Integer(60, 86_400)),
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

pub(super) fn check_json(spec: &Map<String, Value>) -> Result<(), Vec<SpecProblem>> {
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
    if let Some(Value::Object(named)) = spec.get("secrets") {
        for (name, value) in named {
            let field = format!("secrets.{name}");
            if !crate::config::valid_secret_name(name) {
                return Err(vec![SpecProblem {
                    field,
                    message: "a secret's name is 1 to 64 of A-Z a-z 0-9 _ -".into(),
                }]);
            }
            if !value.is_string() {
                return Err(vec![SpecProblem {
                    field,
                    message: "must be a string".into(),
                }]);
            }
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
pub(super) fn is_token(text: &str) -> bool {
    !text.trim().is_empty() && !text.chars().any(char::is_control)
}

/// `arn:<partition>:kinesis:<region>:<account>:stream/<name>`. The region
/// is required: it is where the stream is (a destination without one
/// could not start).
fn is_stream_arn(text: &str) -> bool {
    let parts: Vec<&str> = text.splitn(6, ':').collect();
    matches!(parts.as_slice(), ["arn", _, "kinesis", region, _, resource]
        if is_region(region)
            && resource.len() > "stream/".len()
            && resource.starts_with("stream/"))
        && !text.chars().any(char::is_control)
}

/// An AWS region's name, e.g. `eu-west-1`: it becomes part of a host name.
fn is_region(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
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
