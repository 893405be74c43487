//! Reading a JSON request body: content type, size limit, and clear errors
//! for both instead of axum's plain-text rejections.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use http_body_util::BodyExt;

use super::AppState;
use super::error::{ApiError, FieldError};

/// How much of an oversize body is read and thrown away so that the client,
/// still sending, receives the 413 instead of a reset connection.
const DRAIN_LIMIT: usize = 64 << 20;

/// The raw bytes of a request whose content type is JSON.
pub struct JsonBody(pub Bytes);

impl FromRequest<AppState> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !is_json(content_type) {
            let shown = if content_type.is_empty() {
                "none"
            } else {
                content_type
            };
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                FieldError::whole(
                    "unsupported_media_type",
                    format!("Content-Type must be application/json, found {shown}"),
                ),
            ));
        }
        let limit = state.limits.body_limit;
        let mut body = req.into_body();
        let mut bytes = Vec::new();
        let mut seen = 0usize;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| {
                ApiError::bad_request(FieldError::whole(
                    "unreadable_body",
                    format!("could not read the request body: {e}"),
                ))
            })?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            seen += data.len();
            if seen > limit {
                bytes = Vec::new();
                if seen > DRAIN_LIMIT {
                    break;
                }
            } else {
                bytes.extend_from_slice(&data);
            }
        }
        if seen > limit {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                FieldError::whole(
                    "body_too_large",
                    format!(
                        "the request body is larger than server.body_limit ({limit} bytes); send fewer events per batch"
                    ),
                ),
            ));
        }
        Ok(Self(Bytes::from(bytes)))
    }
}

fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn json_content_types() {
        assert!(super::is_json("application/json"));
        assert!(super::is_json("application/json; charset=utf-8"));
        assert!(super::is_json("Application/JSON"));
        assert!(super::is_json("application/cloudevents+json"));
        assert!(!super::is_json("text/plain"));
        assert!(!super::is_json(""));
    }
}
