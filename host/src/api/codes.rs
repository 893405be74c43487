//! The catalog of every error code the API answers with: its HTTP status and
//! when it is returned. It is the one place these facts live — the README's
//! error table and the `code` enum of `docs/openapi.json` are checked against
//! it by the tests below (`PUSHRAIL_BLESS=1 cargo test -p pushrail --lib`
//! rewrites the README table from it).

use axum::http::StatusCode;
use serde::Serialize;

macro_rules! catalog {
    ($($variant:ident = $code:literal, $status:ident, $when:literal;)+) => {
        /// One machine-readable error code (`error.code` in every error body).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $(#[doc = $when] $variant,)+
        }

        impl ErrorCode {
            /// Every code, in the README's order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),+];

            /// The code as clients see it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code,)+
                }
            }

            /// The HTTP status every response with this code has.
            pub fn status(self) -> StatusCode {
                match self {
                    $(ErrorCode::$variant => StatusCode::$status,)+
                }
            }

            /// When the API answers with this code (the README's "when" column).
            pub fn description(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $when,)+
                }
            }
        }
    };
}

catalog! {
    MalformedJson = "malformed_json", BAD_REQUEST,
        "the body is not JSON (or not UTF-8)";
    InvalidType = "invalid_type", BAD_REQUEST,
        "a field (or the body) has the wrong JSON type";
    MissingField = "missing_field", BAD_REQUEST,
        "a required field is absent";
    InvalidValue = "invalid_value", BAD_REQUEST,
        "empty, too long, control characters, a time that is not RFC 3339, an empty batch, a query parameter out of range";
    UnknownField = "unknown_field", BAD_REQUEST,
        "a field the event (or batch, or request) does not have";
    TooManyEvents = "too_many_events", BAD_REQUEST,
        "a batch over `server.max_batch_events`, or a replay dry run over its limit";
    InvalidBatch = "invalid_batch", BAD_REQUEST,
        "some batch items are invalid; `items` lists each with `index`, `code`, `field`, `message`; nothing was stored";
    UnreadableBody = "unreadable_body", BAD_REQUEST,
        "the connection failed while the body was being read";
    InvalidConfig = "invalid_config", BAD_REQUEST,
        "`POST /v1/admin/reload`: the config file has problems (the message lists them); the running config stays";
    Unauthorized = "unauthorized", UNAUTHORIZED,
        "tokens are configured and the request has none or a wrong one";
    Forbidden = "forbidden", FORBIDDEN,
        "a customer token asked for something outside its own customer (the operator's routes, minting tokens)";
    NotFound = "not_found", NOT_FOUND,
        "unknown event id, customer, destination, dead letter, replay or route (and another customer's, for a customer token)";
    RequestTimeout = "request_timeout", REQUEST_TIMEOUT,
        "the request took longer than `server.request_timeout` (e.g. a body sent too slowly); send it again — a repeated `idempotencyKey` is never stored twice";
    NotConfigured = "not_configured", CONFLICT,
        "the call needs a setting the server lacks (the message names it, e.g. `security.token_secret`)";
    PatchConflict = "patch_conflict", CONFLICT,
        "`PATCH` of a customer destination: the patch is well formed but the destination it would make is not (`field` and the message say why, e.g. a field of another `auth.mode`); nothing changed";
    NoConfigFile = "no_config_file", CONFLICT,
        "`POST /v1/admin/reload` on an engine started without a config file";
    EventTooLarge = "event_too_large", PAYLOAD_TOO_LARGE,
        "one event is over 1 MiB serialized";
    BodyTooLarge = "body_too_large", PAYLOAD_TOO_LARGE,
        "the body is over `server.body_limit`";
    UnsupportedMediaType = "unsupported_media_type", UNSUPPORTED_MEDIA_TYPE,
        "`Content-Type` is not `application/json`";
    StorageError = "storage_error", INTERNAL_SERVER_ERROR,
        "the log could not commit; nothing from the request was stored, retrying is safe. The message says what failed (e.g. \"no space left on the device\") but never names a file; the server log has the details";
    Busy = "busy", SERVICE_UNAVAILABLE,
        "the destination did not take or answer a replay, redrive or discard within 5 s (it is in the middle of a long batch, e.g. to an unreachable broker); one it took is still carried out, so look before trying again";
    Unavailable = "unavailable", SERVICE_UNAVAILABLE,
        "shutting down";
}

impl Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::path::PathBuf;

    fn repo_file(path: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(path)
    }

    #[test]
    fn the_readme_error_table_is_the_catalog() {
        let rows = ErrorCode::ALL.iter().map(|code| {
            vec![
                code.status().as_u16().to_string(),
                format!("`{code}`"),
                code.description().to_owned(),
            ]
        });
        crate::readme_tables::check(
            &crate::readme_tables::markdown("| status | code | when |", rows),
            "api/codes.rs",
        );
    }

    #[test]
    fn the_openapi_error_schema_lists_exactly_the_catalog() {
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(repo_file("docs/openapi.json")).unwrap())
                .unwrap();
        let catalog: BTreeSet<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        let error = &doc["components"]["schemas"]["Error"]["properties"]["error"];
        let documented = |code: &serde_json::Value| -> BTreeSet<String> {
            code["enum"]
                .as_array()
                .expect("an enum of codes")
                .iter()
                .map(|c| c.as_str().unwrap().to_owned())
                .collect()
        };
        let top = documented(&error["properties"]["code"]);
        assert_eq!(
            top.iter().map(String::as_str).collect::<BTreeSet<_>>(),
            catalog
        );
        // Batch items carry the codes one event can get.
        let items = documented(&error["properties"]["items"]["items"]["properties"]["code"]);
        for code in &items {
            assert!(
                catalog.contains(code.as_str()),
                "{code} is not in the catalog"
            );
        }
        // Every status an operation documents with the Error schema is one
        // the catalog can produce, and every catalog status is documented
        // somewhere.
        let statuses: BTreeSet<u16> = ErrorCode::ALL.iter().map(|c| c.status().as_u16()).collect();
        let mut seen = BTreeSet::new();
        for item in doc["paths"].as_object().unwrap().values() {
            for op in item.as_object().unwrap().values() {
                for (status, response) in op["responses"].as_object().unwrap() {
                    let refers_to_error =
                        response.to_string().contains("#/components/schemas/Error")
                            || response.to_string().contains("#/components/responses/");
                    if let Ok(status) = status.parse::<u16>()
                        && status >= 400
                        && refers_to_error
                    {
                        assert!(
                            statuses.contains(&status),
                            "{status} is documented but no code has it"
                        );
                        seen.insert(status);
                    }
                }
            }
        }
        let undocumented: Vec<_> = statuses.difference(&seen).collect();
        assert!(
            undocumented.is_empty(),
            "statuses no operation documents: {undocumented:?}"
        );
    }

    #[test]
    fn codes_are_unique_snake_case() {
        let mut seen = BTreeSet::new();
        for code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "{code} twice");
            assert!(
                code.as_str()
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_')
            );
            assert!(code.status().is_client_error() || code.status().is_server_error());
        }
    }
}
