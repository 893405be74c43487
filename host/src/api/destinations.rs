//! Where an event went: its delivery attempts, and each destination's
//! dead-letter queue.

use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;

use super::AppState;
use super::error::{ApiError, FieldError};
use std::time::SystemTime;

use crate::log::{
    AttemptOutcome, AttemptRecord, DeadLetter, DeliveryProgress, LogError, format_time,
};

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
        let Some(sequence) = log.sequence_of(&id)? else {
            return Ok(None);
        };
        let mut all = Vec::new();
        for destination in destinations.iter() {
            all.extend(log.attempts(destination, sequence)?);
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
    /// Paused by an operator (until resumed or restarted).
    pub paused: bool,
}

/// `GET /v1/destinations/{name}`: how far behind the log a destination is.
pub async fn status(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<DestinationStatus>, ApiError> {
    if !state.destinations.contains(&name) {
        return Err(ApiError::not_found("destination", "name"));
    }
    let paused = state
        .controls
        .get(&name)
        .is_some_and(|c| *c.paused.borrow());
    let log = state.log.clone();
    let status = tokio::task::spawn_blocking(move || {
        let cursor = log.cursor(&name)?;
        let next = log.next_sequence()?;
        let dead_letters = log.dead_letter_count(&name)?;
        Ok::<_, LogError>(DestinationStatus {
            name,
            cursor,
            lag_events: next.saturating_sub(cursor),
            dead_letters,
            paused,
        })
    })
    .await
    .map_err(|_| LogError::Closed)??;
    Ok(Json(status))
}

/// The dead letter of event `id` at `name`, with its sequence.
async fn find_dead_letter(
    state: &AppState,
    name: String,
    id: String,
) -> Result<DeadLetter, ApiError> {
    if !state.destinations.contains(&name) {
        return Err(ApiError::not_found("destination", "name"));
    }
    let log = state.log.clone();
    let found = tokio::task::spawn_blocking(move || {
        let Some(sequence) = log.sequence_of(&id)? else {
            return Ok(None);
        };
        log.dead_letter(&name, sequence)
    })
    .await
    .map_err(|_| LogError::Closed)??;
    found.ok_or_else(|| ApiError::not_found("dead letter", "event_id"))
}

/// `GET /v1/destinations/{name}/dlq/{event_id}`.
pub async fn dead_letter(
    State(state): State<AppState>,
    Path((name, id)): Path<(String, String)>,
) -> Result<Json<DeadLetter>, ApiError> {
    Ok(Json(find_dead_letter(&state, name, id).await?))
}

/// `DELETE /v1/destinations/{name}/dlq/{event_id}`: drops the dead letter
/// without delivering it, and says so in the attempt log.
pub async fn discard(
    State(state): State<AppState>,
    Path((name, id)): Path<(String, String)>,
) -> Result<Json<DeadLetter>, ApiError> {
    let letter = find_dead_letter(&state, name.clone(), id).await?;
    let attempt = AttemptRecord {
        destination: name.clone(),
        event_id: letter.event_id.clone(),
        sequence: letter.sequence,
        attempt: letter.attempts + 1,
        started_at: format_time(SystemTime::now()),
        duration_ms: 0,
        outcome: AttemptOutcome::Discarded,
        error_code: Some(letter.error_code.clone()),
        error_message: Some("removed from the dead-letter queue by an operator".into()),
        coordinates: Default::default(),
        plugins: Vec::new(),
    };
    state
        .log
        .record(DeliveryProgress {
            destination: name,
            attempts: vec![attempt],
            dead_letters: Vec::new(),
            discarded: vec![letter.sequence],
            cursor: 0,
        })
        .await?;
    Ok(Json(letter))
}

/// Which dead letters to redrive: all (empty body), these event ids, or
/// those with this error code.
#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RedriveRequest {
    #[serde(default)]
    ids: Option<Vec<String>>,
    #[serde(default)]
    error_code: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RedriveQueued {
    pub queued: usize,
    pub event_ids: Vec<String>,
}

/// `POST /v1/destinations/{name}/dlq/redrive`: delivers the chosen dead
/// letters again, in log order; delivered ones leave the DLQ.
pub async fn redrive(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Result<(axum::http::StatusCode, Json<RedriveQueued>), ApiError> {
    let Some(queue) = state.controls.get(&name).map(|c| c.redrive.clone()) else {
        return Err(ApiError::not_found("destination", "name"));
    };
    let request: RedriveRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RedriveRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            FieldError::whole(
                "invalid_value",
                format!(
                    "a redrive body is {{}}, {{\"ids\": [...]}} or {{\"errorCode\": \"...\"}}: {e}"
                ),
            )
        })?
    };
    let log = state.log.clone();
    let letters = tokio::task::spawn_blocking(move || log.dead_letters(&name))
        .await
        .map_err(|_| LogError::Closed)??;
    let chosen: Vec<DeadLetter> = letters
        .into_iter()
        .filter(|l| {
            request
                .ids
                .as_ref()
                .is_none_or(|ids| ids.contains(&l.event_id))
        })
        .filter(|l| {
            request
                .error_code
                .as_ref()
                .is_none_or(|code| &l.error_code == code)
        })
        .collect();
    let event_ids: Vec<String> = chosen.iter().map(|l| l.event_id.clone()).collect();
    if !chosen.is_empty() {
        queue.send(chosen).await.map_err(|_| LogError::Closed)?;
    }
    Ok((
        axum::http::StatusCode::ACCEPTED,
        Json(RedriveQueued {
            queued: event_ids.len(),
            event_ids,
        }),
    ))
}

/// `POST /v1/destinations/{name}/pause`: stop delivering after the batch in flight.
pub async fn pause(
    state: State<AppState>,
    name: Path<String>,
) -> Result<Json<DestinationStatus>, ApiError> {
    set_paused(state, name, true).await
}

/// `POST /v1/destinations/{name}/resume`.
pub async fn resume(
    state: State<AppState>,
    name: Path<String>,
) -> Result<Json<DestinationStatus>, ApiError> {
    set_paused(state, name, false).await
}

async fn set_paused(
    State(state): State<AppState>,
    Path(name): Path<String>,
    paused: bool,
) -> Result<Json<DestinationStatus>, ApiError> {
    let Some(control) = state.controls.get(&name) else {
        return Err(ApiError::not_found("destination", "name"));
    };
    control.paused.send_replace(paused);
    tracing::info!(destination = %name, paused, "destination {}", if paused { "paused" } else { "resumed" });
    status(State(state), Path(name)).await
}
