//! Optional bearer-token authentication for every route but health checks.

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;

use super::AppState;
use super::codes::ErrorCode;
use super::error::{ApiError, FieldError};

pub async fn require_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if state.tokens.is_empty() {
        return Ok(next.run(request).await);
    }
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let Some(presented) = presented else {
        state.metrics.rejected(ErrorCode::Unauthorized.as_str());
        return Err(unauthorized("missing Authorization: Bearer <token> header"));
    };
    let known = state.tokens.iter().fold(false, |found, t| {
        found | constant_time_eq(t.expose().as_bytes(), presented.as_bytes())
    });
    if known {
        Ok(next.run(request).await)
    } else {
        state.metrics.rejected(ErrorCode::Unauthorized.as_str());
        Err(unauthorized("the bearer token is not valid"))
    }
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(FieldError::whole(ErrorCode::Unauthorized, message))
}

/// Compares without an early exit, so timing does not reveal a prefix match.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    #[test]
    fn compares_tokens() {
        assert!(super::constant_time_eq(b"abc", b"abc"));
        assert!(!super::constant_time_eq(b"abc", b"abd"));
        assert!(!super::constant_time_eq(b"abc", b"ab"));
    }
}
