//! The one error shape every endpoint returns:
//! `{"error": {"code", "message", "field", "items"?}}`.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::codes::ErrorCode;
use crate::log::LogError;

/// A problem with one field of one event, as found by validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub code: ErrorCode,
    pub message: String,
    /// The JSON field at fault (`occurredAt`, `events[3].payload`); `None` for the whole body.
    pub field: Option<String>,
}

impl FieldError {
    pub fn new(code: ErrorCode, field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            field: Some(field.into()),
        }
    }

    pub fn whole(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            field: None,
        }
    }

    /// Prefixes the field with `events[i].` for batch items.
    pub fn in_item(mut self, index: usize) -> Self {
        self.field = Some(match self.field {
            Some(field) => format!("events[{index}].{field}"),
            None => format!("events[{index}]"),
        });
        self
    }
}

/// One rejected item of a batch.
#[derive(Debug, Clone, Serialize)]
pub struct ItemError {
    pub index: usize,
    #[serde(flatten)]
    pub error: FieldError,
}

/// An error answer: the status comes from the code (see `codes.rs`).
#[derive(Debug)]
pub struct ApiError {
    pub error: FieldError,
    pub items: Vec<ItemError>,
}

impl ApiError {
    pub fn new(error: FieldError) -> Self {
        Self {
            error,
            items: Vec::new(),
        }
    }

    pub fn status(&self) -> StatusCode {
        self.error.code.status()
    }

    pub fn not_found(what: &str, field: &str) -> Self {
        Self::new(FieldError::new(
            ErrorCode::NotFound,
            field,
            format!("no {what} with that {field}"),
        ))
    }
}

/// How long a request waits for a destination's worker to take it (the
/// worker takes requests between batches).
pub const WORKER_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// `step`, or a `busy` error if the destination's worker does not get to
/// it within [`WORKER_WAIT`].
pub async fn with_worker<T>(
    step: impl Future<Output = Result<T, ApiError>>,
) -> Result<T, ApiError> {
    tokio::time::timeout(WORKER_WAIT, step).await.unwrap_or_else(|_| {
        Err(ApiError::new(FieldError::whole(
            ErrorCode::Busy,
            "the destination is in the middle of a batch and did not answer within 5 s; if it took the request it still carries it out, so look before trying again",
        )))
    })
}

impl From<FieldError> for ApiError {
    fn from(error: FieldError) -> Self {
        Self::new(error)
    }
}

impl From<LogError> for ApiError {
    fn from(error: LogError) -> Self {
        match error {
            LogError::Closed => Self::new(FieldError::whole(
                ErrorCode::Unavailable,
                "the server is shutting down; retry against another instance or later",
            )),
            other => {
                tracing::error!(error = %other, "storage failure while serving a request");
                Self::new(FieldError::whole(
                    ErrorCode::StorageError,
                    // The details (which may name files) stay in the server's log.
                    format!(
                        "storage error: {}; nothing from this request was stored, it is safe to retry",
                        match &other {
                            LogError::CommitFailed(reason, _) => reason.clone(),
                            other => other
                                .io_failure()
                                .unwrap_or_else(|| "see the server log".to_owned()),
                        }
                    ),
                ))
            }
        }
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: ErrorCode,
    message: &'a str,
    field: Option<&'a str>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    items: &'a [ItemError],
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            error: Inner {
                code: self.error.code,
                message: &self.error.message,
                field: self.error.field.as_deref(),
                items: &self.items,
            },
        };
        let json = serde_json::to_vec(&body).expect("error bodies serialize");
        let status = self.status();
        let mut response =
            (status, [(header::CONTENT_TYPE, "application/json")], json).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}
