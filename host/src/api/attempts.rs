//! The delivery attempt log: every attempt of one event, and a destination's
//! attempts, paged and filtered.

use axum::Json;
use axum::extract::{Path, Query, State};

use super::AppState;
use super::destinations::Items;
use super::error::ApiError;
use super::listing::{ListQuery, PageBody, bad_cursor, cursor_number, query_rejection};
use crate::log::{AttemptRecord, LogError};

/// `GET /v1/events/{id}/attempts`: every attempt at every destination, per
/// destination in attempt order.
pub async fn event_attempts(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Items<AttemptRecord>>, ApiError> {
    let log = state.log.clone();
    let destinations = state.controls.current().names().to_vec();
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

/// `GET /v1/destinations/{name}/attempts?status=&since=&until=&limit=&cursor=`:
/// the destination's attempts in log order (sequence, then attempt number).
pub async fn destination_attempts(
    State(state): State<AppState>,
    Path(name): Path<String>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<PageBody<AttemptRecord>>, ApiError> {
    if !state.controls.current().contains(&name) {
        return Err(ApiError::not_found("destination", "name"));
    }
    let request = query.map_err(query_rejection)?.0.parse(true)?;
    let after = request
        .cursor
        .as_deref()
        .map(|c| parse_cursor(c).ok_or_else(bad_cursor))
        .transpose()?;
    let log = state.log.clone();
    let page = tokio::task::spawn_blocking(move || {
        log.attempts_page(&name, &request.filter, after, request.limit)
    })
    .await
    .map_err(|_| LogError::Closed)??;
    Ok(Json(PageBody {
        items: page.items,
        next: page
            .next
            .map(|(sequence, attempt)| format!("{sequence}.{attempt}")),
    }))
}

/// `"<sequence>.<attempt>"`.
fn parse_cursor(text: &str) -> Option<(u64, u32)> {
    let (sequence, attempt) = text.split_once('.')?;
    Some((cursor_number(sequence, 19)?, cursor_number(attempt, 9)?))
}
