//! The query of a paged list (`status`, `errorCode`, `since`, `until`,
//! `limit`, `cursor`) and the shape of a page: `{"items": [...], "next": "…"}`.
//! `next` is absent on the last page; pass it back as `cursor` to go on.

use serde::{Deserialize, Serialize};

use super::codes::ErrorCode;
use super::error::{ApiError, FieldError};
use crate::log::{AttemptOutcome, ListFilter};

/// Items per page unless `limit` says otherwise, and the most it may say.
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListQuery {
    status: Option<String>,
    error_code: Option<String>,
    since: Option<String>,
    until: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

/// A parsed list query.
pub struct ListRequest {
    pub filter: ListFilter,
    pub limit: usize,
    pub cursor: Option<String>,
}

#[derive(Serialize, Deserialize)]
pub struct PageBody<T> {
    pub items: Vec<T>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

impl ListQuery {
    /// Validates every parameter; a bad one is a 400 that names it.
    pub fn parse(self, allow_status: bool) -> Result<ListRequest, ApiError> {
        let status = match (self.status, allow_status) {
            (None, _) => None,
            (Some(_), false) => {
                return Err(bad("status", "this list has no status filter".into()));
            }
            (Some(text), true) => Some(parse_status(&text)?),
        };
        let limit = page_limit(self.limit.as_deref())?;
        Ok(ListRequest {
            filter: ListFilter {
                status,
                error_code: self.error_code,
                since_ms: self.since.map(|t| time_ms("since", &t)).transpose()?,
                until_ms: self.until.map(|t| time_ms("until", &t)).transpose()?,
            },
            limit,
            cursor: self.cursor,
        })
    }
}

/// A page's `limit` parameter: 1 to 1000, 100 when absent.
pub fn page_limit(text: Option<&str>) -> Result<usize, ApiError> {
    match text {
        None => Ok(DEFAULT_LIMIT),
        Some(text) => cursor_number::<usize>(text, 4)
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| bad("limit", format!("must be a number from 1 to {MAX_LIMIT}"))),
    }
}

fn parse_status(text: &str) -> Result<AttemptOutcome, ApiError> {
    serde_json::from_value(serde_json::Value::String(text.to_owned())).map_err(|_| {
        bad(
            "status",
            "must be delivered, retryable, dead_lettered, filtered, discarded or failed".into(),
        )
    })
}

/// A list filter's time in unix ms; times before 1970 mean 1970 (nothing
/// in the log is older).
pub fn time_ms(field: &str, text: &str) -> Result<u64, ApiError> {
    Ok(unix_ms(field, text)?.clamp(0, u64::MAX as i128) as u64)
}

/// Unix ms of an RFC 3339 time in request field `field`, or a 400 naming it.
fn unix_ms(field: &str, text: &str) -> Result<i128, ApiError> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map(|t| t.unix_timestamp_nanos() / 1_000_000)
        .map_err(|_| not_a_time(field, text))
}

fn not_a_time(field: &str, text: &str) -> ApiError {
    bad(
        field,
        format!("\"{text}\" is not an RFC 3339 time like 2026-05-26T14:21:08Z"),
    )
}

/// A 400 naming the query parameter.
pub fn bad(field: &str, message: String) -> ApiError {
    ApiError::new(FieldError::new(ErrorCode::InvalidValue, field, message))
}

/// A number in a cursor: 1 to `max_digits` ASCII digits, exactly what
/// the document's cursor pattern allows (no sign, no spaces).
pub fn cursor_number<T: std::str::FromStr>(text: &str, max_digits: usize) -> Option<T> {
    let digits = (1..=max_digits).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit());
    digits.then(|| text.parse().ok()).flatten()
}

/// An invalid `cursor` (one this server did not hand out).
pub fn bad_cursor() -> ApiError {
    bad(
        "cursor",
        "is not a cursor from a previous page's \"next\"".into(),
    )
}

/// An unknown or malformed query parameter, as our JSON 400.
pub fn query_rejection(rejection: axum::extract::rejection::QueryRejection) -> ApiError {
    ApiError::new(FieldError::whole(
        ErrorCode::InvalidValue,
        format!(
            "{}; the parameters are status, errorCode, since, until, limit and cursor",
            rejection.body_text()
        ),
    ))
}
