//! The HTTP client of the operator commands: one server, one token, JSON
//! in and out, and the API's errors turned into readable messages.

use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Why a command could not do its work.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the Pushrail server at {url}: {}", crate::sinks::error_chain(.source))]
    Unreachable {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// The API answered with its JSON error.
    #[error("{status}: {code}: {message}{}", field.as_deref().map(|f| format!(" (field: {f})")).unwrap_or_default())]
    Api {
        status: u16,
        code: String,
        message: String,
        field: Option<String>,
    },
    #[error("the server answered {status} with a body that is not the API's JSON: {body}")]
    Unexpected { status: u16, body: String },
}

pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    pub fn new(server: &str, token: Option<String>) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: server.trim_end_matches('/').to_owned(),
            token: token.filter(|t| !t.is_empty()),
        }
    }

    /// `GET path`, read as the API's response type `T`.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.call(Method::GET, path, None).await
    }

    /// `POST path` with a JSON body, read as `T`.
    pub async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: Value,
    ) -> Result<T, ClientError> {
        self.call(Method::POST, path, Some(body)).await
    }

    /// `DELETE path`, read as `T`.
    pub async fn delete<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.call(Method::DELETE, path, None).await
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<T, ClientError> {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.request(method, &url);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|e| ClientError::Unreachable {
            url: self.base.clone(),
            source: e,
        })?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .map_err(|e| ClientError::Unreachable {
                url: self.base.clone(),
                source: e,
            })?;
        if (200..300).contains(&status) {
            return serde_json::from_str(&text)
                .map_err(|_| ClientError::Unexpected { status, body: text });
        }
        let json: Option<Value> = serde_json::from_str(&text).ok();
        match (status, json) {
            (_, Some(json)) if json["error"].is_object() => {
                let error = &json["error"];
                Err(ClientError::Api {
                    status,
                    code: error["code"].as_str().unwrap_or("error").to_owned(),
                    message: error["message"].as_str().unwrap_or_default().to_owned(),
                    field: error["field"].as_str().map(str::to_owned),
                })
            }
            _ => Err(ClientError::Unexpected { status, body: text }),
        }
    }
}
