//! A destination's dead-letter queue: list (paged, by error code and
//! time), show, discard, and redrive.

use std::collections::HashSet;

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Serialize;

use super::AppState;
use super::body::OperatorBody;
use super::error::{ApiError, with_worker};
use super::listing::{ListQuery, PageBody, bad_cursor, cursor_number, query_rejection};
use tokio::sync::oneshot;

use crate::delivery::Operator;
use crate::log::{DeadLetter, ListFilter, Log, LogError};

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
        .map(|c| cursor_number::<u64>(c, 19).ok_or_else(bad_cursor))
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
/// without delivering it, and says so in the attempt log. The worker does
/// it between batches, so it never races a redrive of the same letter.
pub async fn discard(
    State(state): State<AppState>,
    Path((name, id)): Path<(String, String)>,
) -> Result<Json<DeadLetter>, ApiError> {
    let letter = find_dead_letter(&state, name.clone(), id).await?;
    let operator = operator_of(&state, &name)?;
    let (reply, answer) = oneshot::channel();
    let discarded = with_worker(async {
        operator
            .send(Operator::Discard {
                sequence: letter.sequence,
                reply,
            })
            .await
            .map_err(|_| LogError::Closed)?;
        Ok(answer.await.map_err(|_| LogError::Closed)??)
    })
    .await?;
    discarded
        .map(Json)
        .ok_or_else(|| ApiError::not_found("dead letter", "event_id"))
}

/// The queue of operator requests of the running destination `name`.
fn operator_of(
    state: &AppState,
    name: &str,
) -> Result<crate::delivery::inbox::Sender<Operator>, ApiError> {
    state
        .controls
        .current()
        .get(name)
        .map(|c| c.operator.clone())
        .ok_or_else(|| ApiError::not_found("destination", "name"))
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

#[derive(Serialize, serde::Deserialize)]
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
    body: OperatorBody,
) -> Result<(axum::http::StatusCode, Json<RedriveQueued>), ApiError> {
    let queue = operator_of(&state, &name)?;
    let request: RedriveRequest =
        body.parse("a redrive body is {}, {\"ids\": [...]} or {\"errorCode\": \"...\"}")?;
    let log = state.log.clone();
    let chosen = tokio::task::spawn_blocking(move || choose(&log, &name, &request))
        .await
        .map_err(|_| LogError::Closed)??;
    let (sequences, event_ids): (Vec<u64>, Vec<String>) = chosen.into_iter().unzip();
    if !sequences.is_empty() {
        let (reply, answer) = oneshot::channel();
        with_worker(async {
            queue
                .send(Operator::Redrive { sequences, reply })
                .await
                .map_err(|_| LogError::Closed)?;
            Ok(answer.await.map_err(|_| LogError::Closed)??)
        })
        .await?;
    }
    Ok((
        axum::http::StatusCode::ACCEPTED,
        Json(RedriveQueued {
            queued: event_ids.len(),
            event_ids,
        }),
    ))
}

/// Dead letters read per page while choosing what to redrive: the choice
/// keeps only sequences and ids, never the queue's events.
const CHOOSE_PAGE: usize = 500;

/// (sequence, event id) of the dead letters `request` chooses, in log order.
fn choose(
    log: &Log,
    destination: &str,
    request: &RedriveRequest,
) -> Result<Vec<(u64, String)>, LogError> {
    let filter = ListFilter {
        error_code: request.error_code.clone(),
        ..ListFilter::default()
    };
    let ids: Option<HashSet<&str>> = request
        .ids
        .as_ref()
        .map(|ids| ids.iter().map(String::as_str).collect());
    let mut chosen = Vec::new();
    let mut after = None;
    loop {
        let page = log.dead_letters_page(destination, &filter, after, CHOOSE_PAGE)?;
        chosen.extend(
            page.items
                .into_iter()
                .filter(|l| {
                    ids.as_ref()
                        .is_none_or(|ids| ids.contains(l.event_id.as_str()))
                })
                .map(|l| (l.sequence, l.event_id)),
        );
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(chosen),
        }
    }
}
