//! Validation of the canonical event. The body is first split into raw
//! fields without building a JSON tree (payloads stay as raw text), then
//! each field is checked on its own so that an error names it precisely.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde_json::value::RawValue;

use super::codes::ErrorCode;
use super::error::FieldError;
use crate::config::MAX_EVENT_BYTES;
use crate::log::{EventBody, NewEvent};

/// Longest accepted value of an identifying string field (Kinesis' partition key limit).
pub const MAX_KEY_CHARS: usize = 256;

const FIELDS: [&str; 8] = [
    "eventType",
    "occurredAt",
    "source",
    "customerExternalId",
    "idempotencyKey",
    "correlationId",
    "payload",
    "metadata",
];

static EMPTY_OBJECT: LazyLock<Box<RawValue>> =
    LazyLock::new(|| RawValue::from_string("{}".into()).expect("{} is JSON"));

/// Splits a JSON object into its top-level fields, values left raw.
pub fn split_object<'a>(
    raw: &'a str,
    what: &str,
) -> Result<BTreeMap<String, &'a RawValue>, FieldError> {
    serde_json::from_str(raw).map_err(|e| {
        if e.is_data() {
            FieldError::whole(
                ErrorCode::InvalidType,
                format!("{what} must be a JSON object"),
            )
        } else {
            FieldError::whole(
                ErrorCode::MalformedJson,
                format!("{what} is not valid JSON: {e}"),
            )
        }
    })
}

/// Checks one event object and returns it in its canonical stored form.
pub fn parse_event(raw: &str) -> Result<NewEvent, FieldError> {
    let fields = split_object(raw, "the event")?;
    if let Some(unknown) = fields.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(FieldError::new(
            ErrorCode::UnknownField,
            unknown.clone(),
            format!("unknown field; an event has {}", FIELDS.join(", ")),
        ));
    }
    let event_type = key_string(&fields, "eventType")?;
    let occurred_at = required_string(&fields, "occurredAt")?;
    if time::OffsetDateTime::parse(&occurred_at, &time::format_description::well_known::Rfc3339)
        .is_err()
    {
        return Err(FieldError::new(
            ErrorCode::InvalidValue,
            "occurredAt",
            format!("\"{occurred_at}\" is not an RFC 3339 time like \"2026-05-26T14:21:08.493Z\""),
        ));
    }
    let source = key_string(&fields, "source")?;
    let customer_external_id = key_string(&fields, "customerExternalId")?;
    let idempotency_key = key_string(&fields, "idempotencyKey")?;
    let correlation_id = match fields.get("correlationId") {
        None => None,
        Some(raw) if raw.get() == "null" => None,
        Some(_) => Some(key_string(&fields, "correlationId")?),
    };
    let payload = object(&fields, "payload")?;
    let metadata = object(&fields, "metadata")?;
    let event = NewEvent::new(&EventBody {
        event_type: &event_type,
        occurred_at: &occurred_at,
        source: &source,
        customer_external_id: &customer_external_id,
        idempotency_key: &idempotency_key,
        correlation_id: correlation_id.as_deref(),
        payload: &payload,
        metadata: &metadata,
    });
    if event.body.len() > MAX_EVENT_BYTES {
        return Err(FieldError::whole(
            ErrorCode::EventTooLarge,
            format!(
                "the event is {} bytes serialized; the limit is {MAX_EVENT_BYTES} (1 MiB, the Kinesis record limit)",
                event.body.len()
            ),
        ));
    }
    Ok(event)
}

fn required_string(fields: &BTreeMap<String, &RawValue>, name: &str) -> Result<String, FieldError> {
    let raw = fields.get(name).ok_or_else(|| {
        FieldError::new(ErrorCode::MissingField, name, format!("{name} is required"))
    })?;
    if !raw.get().starts_with('"') {
        return Err(FieldError::new(
            ErrorCode::InvalidType,
            name,
            format!("{name} must be a string, found {}", kind(raw)),
        ));
    }
    serde_json::from_str(raw.get()).map_err(|e| {
        FieldError::new(
            ErrorCode::InvalidValue,
            name,
            format!("{name} is not a valid string: {e}"),
        )
    })
}

/// A required, non-empty, bounded string without control characters: the
/// fields that end up as keys, headers and partition keys.
fn key_string(fields: &BTreeMap<String, &RawValue>, name: &str) -> Result<String, FieldError> {
    let value = required_string(fields, name)?;
    check_key(name, &value)?;
    Ok(value)
}

/// The rule of key strings (also for ids in paths, such as a customer's):
/// not blank, at most [`MAX_KEY_CHARS`] characters, no control characters.
pub fn check_key(name: &str, value: &str) -> Result<(), FieldError> {
    if value.trim().is_empty() {
        return Err(FieldError::new(
            ErrorCode::InvalidValue,
            name,
            format!("{name} must not be empty"),
        ));
    }
    if value.chars().count() > MAX_KEY_CHARS {
        return Err(FieldError::new(
            ErrorCode::InvalidValue,
            name,
            format!("{name} is longer than {MAX_KEY_CHARS} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(FieldError::new(
            ErrorCode::InvalidValue,
            name,
            format!("{name} must not contain control characters"),
        ));
    }
    Ok(())
}

/// An object field in its canonical, compact form: insignificant
/// whitespace is removed without parsing the value into a tree.
fn object<'a>(
    fields: &BTreeMap<String, &'a RawValue>,
    name: &str,
) -> Result<Cow<'a, RawValue>, FieldError> {
    match fields.get(name) {
        None => Ok(Cow::Borrowed(&EMPTY_OBJECT)),
        Some(raw) if raw.get().starts_with('{') => Ok(compact(raw)),
        Some(raw) => Err(FieldError::new(
            ErrorCode::InvalidType,
            name,
            format!("{name} must be an object, found {}", kind(raw)),
        )),
    }
}

/// `raw` without whitespace outside strings (JSON text, already valid).
fn compact(raw: &RawValue) -> Cow<'_, RawValue> {
    let text = raw.get();
    if !text
        .bytes()
        .any(|b| matches!(b, b' ' | b'\n' | b'\r' | b'\t'))
    {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in text.chars() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
        } else if !c.is_ascii_whitespace() {
            in_string = c == '"';
            out.push(c);
        }
    }
    Cow::Owned(RawValue::from_string(out).expect("removing whitespace keeps JSON valid"))
}

fn kind(raw: &RawValue) -> &'static str {
    match raw.get().as_bytes().first() {
        Some(b'"') => "a string",
        Some(b'{') => "an object",
        Some(b'[') => "an array",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = r#"{"eventType":"order.completed","occurredAt":"2026-05-26T14:21:08.493Z",
        "source":"billing-service","customerExternalId":"acct_8K2zRq",
        "idempotencyKey":"order_38a91f-completed","correlationId":"req_4f30b2",
        "payload":{"orderId":"ord_38a91f","amount":12900},"metadata":{"tier":"pro"}}"#;

    fn with(field: &str, value: Option<&str>) -> String {
        let mut map: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(VALID).unwrap();
        match value {
            Some(v) => map.insert(field.into(), serde_json::from_str(v).unwrap()),
            None => map.remove(field),
        };
        serde_json::to_string(&map).unwrap()
    }

    fn error(body: &str) -> FieldError {
        parse_event(body).expect_err("must be rejected")
    }

    #[test]
    fn accepts_the_documented_event_and_keeps_the_payload_verbatim() {
        let event = parse_event(VALID).unwrap();
        assert_eq!(event.source, "billing-service");
        assert_eq!(event.idempotency_key, "order_38a91f-completed");
        let body = String::from_utf8(event.body).unwrap();
        assert!(
            body.starts_with(r#"{"eventType":"order.completed","#),
            "{body}"
        );
        assert!(
            body.contains(r#""payload":{"orderId":"ord_38a91f","amount":12900}"#),
            "{body}"
        );
    }

    #[test]
    fn optional_fields_default() {
        let body = with("metadata", None);
        let body = body.replace(r#","correlationId":"req_4f30b2""#, "");
        let event = parse_event(&with("payload", None)).unwrap();
        assert!(
            String::from_utf8(event.body)
                .unwrap()
                .contains(r#""payload":{}"#)
        );
        parse_event(&body).unwrap();
        parse_event(&with("correlationId", Some("null"))).unwrap();
    }

    #[test]
    fn each_required_field_is_named_when_missing() {
        for field in [
            "eventType",
            "occurredAt",
            "source",
            "customerExternalId",
            "idempotencyKey",
        ] {
            let e = error(&with(field, None));
            assert_eq!(
                (e.code.as_str(), e.field.as_deref()),
                ("missing_field", Some(field))
            );
        }
    }

    #[test]
    fn wrong_types_and_values_name_the_field() {
        let cases = [
            ("eventType", "42", "invalid_type"),
            ("source", "null", "invalid_type"),
            ("customerExternalId", "\"\"", "invalid_value"),
            ("idempotencyKey", "\"a\\u0000b\"", "invalid_value"),
            ("occurredAt", "\"yesterday\"", "invalid_value"),
            ("occurredAt", "\"2026-05-26 14:21:08\"", "invalid_value"),
            ("payload", "[1,2]", "invalid_type"),
            ("metadata", "\"pro\"", "invalid_type"),
            ("correlationId", "7", "invalid_type"),
        ];
        for (field, value, code) in cases {
            let e = error(&with(field, Some(value)));
            assert_eq!(
                (e.code.as_str(), e.field.as_deref()),
                (code, Some(field)),
                "{field}={value}"
            );
        }
        let long = format!("\"{}\"", "k".repeat(MAX_KEY_CHARS + 1));
        assert_eq!(
            error(&with("idempotencyKey", Some(&long))).code,
            ErrorCode::InvalidValue
        );
    }

    #[test]
    fn unknown_fields_malformed_json_and_non_objects() {
        let e = error(&with("eventtype", Some("\"x\"")));
        assert_eq!(
            (e.code.as_str(), e.field.as_deref()),
            ("unknown_field", Some("eventtype"))
        );
        assert_eq!(error("{\"eventType\": ").code.as_str(), "malformed_json");
        assert_eq!(error("[1]").code.as_str(), "invalid_type");
        assert_eq!(error("\"event\"").code.as_str(), "invalid_type");
    }

    #[test]
    fn oversize_events_are_rejected() {
        let big = format!("{{\"blob\":\"{}\"}}", "x".repeat(MAX_EVENT_BYTES));
        let e = error(&with("payload", Some(&big)));
        assert_eq!((e.code.as_str(), e.field), ("event_too_large", None));
    }
}
