//! A destination's dead-letter queue: list (paged, by error code and
//! time), show, discard, and redrive.

use std::time::SystemTime;

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Serialize;

use super::AppState;
use super::error::{ApiError, FieldError};
use super::listing::{ListQuery, PageBody, bad_cursor, query_rejection};
use crate::log::{
    AttemptOutcome, AttemptRecord, DeadLetter, DeliveryProgress, LogError, format_time,
};

/// `GET /v1/destinations/{name}/dlq?errorCode=&since=&until=&limit=&cursor=`:
/// the dead-letter queue in log order; `since`/`until` select by the time
/// each event was dead-lettered.
pub async fn dead_letters(
    State(state): State<AppState>,
    Path(name): Path<String>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<PageBody<DeadLetter>>, ApiError> {
    if !state.controls.current().contains(&name) {
        return Err(ApiError::not_found("destination", "name"));
    }
    let request = query.map_err(query_rejection)?.0.parse(false)?;
    let after = request
        .cursor
        .as_deref()
        .map(|c| c.parse::<u64>().map_err(|_| bad_cursor()))
        .transpose()?;
    let log = state.log.clone();
    let page = tokio::task::spawn_blocking(move || {
        log.dead_letters_page(&name, &request.filter, after, request.limit)
    })
    .await
    .map_err(|_| LogError::Closed)??;
    Ok(Json(PageBody {
        items: page.items,
        next: page.next.map(|sequence| sequence.to_string()),
    }))
}

/// The dead letter of event `id` at `name`, with its sequence.
async fn find_dead_letter(
    state: &AppState,
    name: String,
    id: String,
) -> Result<DeadLetter, ApiError> {
    if !state.controls.current().contains(&name) {
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
        replay: None,
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
    let Some(queue) = state
        .controls
        .current()
        .get(&name)
        .map(|c| c.redrive.clone())
    else {
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
