//! Where an event went: its delivery attempts, and each destination's
//! dead-letter queue.

use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;

use super::AppState;
use super::error::ApiError;
use crate::log::{AttemptRecord, DeadLetter, LogError};

#[derive(Serialize)]
pub struct Items<T> {
    pub items: Vec<T>,
}

/// `GET /v1/events/{id}/attempts`: every attempt at every destination, per
/// destination in attempt order.
pub async fn event_attempts(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Items<AttemptRecord>>, ApiError> {
    let log = state.log.clone();
    let destinations = state.destinations.clone();
    let attempts = tokio::task::spawn_blocking(move || {
        let Some(event) = log.get_by_id(&id)? else {
            return Ok(None);
        };
        let mut all = Vec::new();
        for destination in destinations.iter() {
            all.extend(log.attempts(destination, event.sequence)?);
        }
        Ok::<_, LogError>(Some(all))
    })
    .await
    .map_err(|_| LogError::Closed)??;
    match attempts {
        Some(items) => Ok(Json(Items { items })),
        None => Err(ApiError::not_found("event", "id")),
    }
}

/// `GET /v1/destinations/{name}/dlq`: the dead-letter queue in log order.
pub async fn dead_letters(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Items<DeadLetter>>, ApiError> {
    if !state.destinations.contains(&name) {
        return Err(ApiError::not_found("destination", "name"));
    }
    let log = state.log.clone();
    let items = tokio::task::spawn_blocking(move || log.dead_letters(&name))
        .await
        .map_err(|_| LogError::Closed)??;
    Ok(Json(Items { items }))
}

/// What `GET /v1/destinations/{name}` tells about a destination's progress.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DestinationStatus {
    pub name: String,
    /// The next sequence the destination has not finished.
    pub cursor: u64,
    /// Events stored but not yet finished by this destination.
    pub lag_events: u64,
    /// Events in its dead-letter queue.
    pub dead_letters: usize,
}

/// `GET /v1/destinations/{name}`: how far behind the log a destination is.
pub async fn status(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<DestinationStatus>, ApiError> {
    if !state.destinations.contains(&name) {
        return Err(ApiError::not_found("destination", "name"));
    }
    let log = state.log.clone();
    let status = tokio::task::spawn_blocking(move || {
        let cursor = log.cursor(&name)?;
        let next = log.next_sequence()?;
        let dead_letters = log.dead_letters(&name)?.len();
        Ok::<_, LogError>(DestinationStatus {
            name,
            cursor,
            lag_events: next.saturating_sub(cursor),
            dead_letters,
        })
    })
    .await
    .map_err(|_| LogError::Closed)??;
    Ok(Json(status))
}
