//! `POST /v1/events`, `POST /v1/events/batch` and `GET /v1/events/{id}`.
//! A 202 is sent only after the log committed the events durably.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::AppState;
use super::body::JsonBody;
use super::codes::ErrorCode;
use super::error::{ApiError, FieldError, ItemError};
use super::validate::{parse_event, split_object};
use crate::log::Appended;

#[derive(Serialize)]
pub struct Accepted {
    pub id: String,
    pub sequence: u64,
    pub duplicate: bool,
}

impl From<Appended> for Accepted {
    fn from(a: Appended) -> Self {
        Self {
            id: a.id,
            sequence: a.sequence,
            duplicate: a.duplicate,
        }
    }
}

#[derive(Serialize)]
pub struct BatchAccepted {
    pub results: Vec<Accepted>,
}

pub async fn post_event(
    State(state): State<AppState>,
    body: Result<JsonBody, ApiError>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let result = async {
        let JsonBody(body) = body?;
        let event = parse_event(utf8(&body)?)?;
        let appended = state.log.append(vec![event]).await?;
        count(&state, &appended);
        let accepted = appended
            .into_iter()
            .next()
            .expect("one result per event")
            .into();
        Ok((StatusCode::ACCEPTED, Json(accepted)))
    }
    .await;
    counted_rejection(&state, result)
}

/// Counts stored events and duplicates.
fn count(state: &AppState, appended: &[Appended]) {
    let duplicates = appended.iter().filter(|a| a.duplicate).count() as u64;
    let metrics = &state.metrics;
    metrics.ingested.fetch_add(
        appended.len() as u64 - duplicates,
        std::sync::atomic::Ordering::Relaxed,
    );
    metrics
        .duplicates
        .fetch_add(duplicates, std::sync::atomic::Ordering::Relaxed);
}

/// Counts a rejected request by its error code.
fn counted_rejection<T>(state: &AppState, result: Result<T, ApiError>) -> Result<T, ApiError> {
    if let Err(e) = &result {
        state.metrics.rejected(e.error.code.as_str());
    }
    result
}

pub async fn post_batch(
    State(state): State<AppState>,
    body: Result<JsonBody, ApiError>,
) -> Result<(StatusCode, Json<BatchAccepted>), ApiError> {
    let result = async {
        let JsonBody(body) = body?;
        accept_batch(&state, &body).await
    }
    .await;
    counted_rejection(&state, result)
}

async fn accept_batch(
    state: &AppState,
    body: &[u8],
) -> Result<(StatusCode, Json<BatchAccepted>), ApiError> {
    let text = utf8(body)?;
    let mut fields = split_object(text, "the batch")?;
    if let Some(unknown) = fields.keys().find(|k| k.as_str() != "events") {
        return Err(FieldError::new(
            ErrorCode::UnknownField,
            unknown.clone(),
            "unknown field; a batch has only events",
        )
        .into());
    }
    let raw = fields
        .remove("events")
        .ok_or_else(|| FieldError::new(ErrorCode::MissingField, "events", "events is required"))?;
    let items: Vec<&serde_json::value::RawValue> =
        serde_json::from_str(raw.get()).map_err(|_| {
            FieldError::new(
                ErrorCode::InvalidType,
                "events",
                "events must be an array of event objects",
            )
        })?;
    if items.is_empty() {
        return Err(FieldError::new(
            ErrorCode::InvalidValue,
            "events",
            "events must not be empty",
        )
        .into());
    }
    let limit = state.limits.max_batch_events;
    if items.len() > limit {
        return Err(FieldError::new(
            ErrorCode::TooManyEvents,
            "events",
            format!(
                "a batch holds at most {limit} events (server.max_batch_events); this one has {}",
                items.len()
            ),
        )
        .into());
    }
    let mut events = Vec::with_capacity(items.len());
    let mut rejected = Vec::new();
    for (index, item) in items.iter().enumerate() {
        match parse_event(item.get()) {
            Ok(event) => events.push(event),
            Err(error) => rejected.push(ItemError {
                index,
                error: error.in_item(index),
            }),
        }
    }
    if let Some(first) = rejected.first() {
        let mut error = ApiError::new(FieldError {
            code: ErrorCode::InvalidBatch,
            message: format!(
                "{} of {} events are invalid; nothing was stored. First: {}",
                rejected.len(),
                items.len(),
                first.error.message
            ),
            field: first.error.field.clone(),
        });
        error.items = rejected;
        return Err(error);
    }
    let appended = state.log.append(events).await?;
    count(state, &appended);
    let results = appended.into_iter().map(Accepted::from).collect();
    Ok((StatusCode::ACCEPTED, Json(BatchAccepted { results })))
}

pub async fn get_event(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let log = state.log.clone();
    let raw = tokio::task::spawn_blocking(move || log.get_raw_by_id(&id))
        .await
        .map_err(|_| crate::log::LogError::Closed)??;
    match raw {
        Some(bytes) => Ok(([(header::CONTENT_TYPE, "application/json")], bytes).into_response()),
        None => Err(ApiError::not_found("event", "id")),
    }
}

fn utf8(body: &[u8]) -> Result<&str, FieldError> {
    std::str::from_utf8(body).map_err(|e| {
        FieldError::whole(
            ErrorCode::MalformedJson,
            format!("the body is not UTF-8: {e}"),
        )
    })
}
