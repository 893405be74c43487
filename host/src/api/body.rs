//! Reading a JSON request body: content type, size limit, and clear errors
//! for both instead of axum's plain-text rejections.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};

use super::error::{ApiError, FieldError};

/// The raw bytes of a request whose content type is JSON.
pub struct JsonBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
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
        match Bytes::from_request(req, state).await {
            Ok(bytes) => Ok(Self(bytes)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    FieldError::whole(
                        "body_too_large",
                        "the request body is larger than server.body_limit; send fewer events per batch",
                    ),
                ))
            }
            Err(rejection) => Err(ApiError::bad_request(FieldError::whole(
                "unreadable_body",
                format!("could not read the request body: {}", rejection.body_text()),
            ))),
        }
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
