//! Signed AWS API calls for destination plugins (the WIT `aws` interface):
//! the plugin writes the JSON of an operation (EventBridge `PutEvents`,
//! SQS `SendMessageBatch`, …); the host checks the operation against the
//! destination's `[destinations.aws] targets`, signs the request with
//! SigV4 from the destination's credentials and sends it to the service's
//! endpoint. Credentials are cached until five minutes before they expire.
//! AWS's answer goes back whole, errors included (the plugin knows which
//! of its service's errors are worth retrying); only a call that got no
//! answer is a failure here.

pub mod credentials;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;

use super::{Failure, error_chain};
use crate::config::AwsConfig;
use crate::failure_codes;

/// Credentials this close to expiring are refreshed before a call.
const REFRESH_BEFORE: Duration = Duration::from_secs(300);
/// The largest answer read (AWS JSON answers are small).
const MAX_RESPONSE_BYTES: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    #[error("no AWS region: set [destinations.aws] region or AWS_REGION")]
    NoRegion,
    #[error("no AWS credentials provider")]
    NoCredentials,
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

/// One API call, as the plugin asked for it.
pub struct AwsRequest {
    pub service: String,
    pub target: String,
    pub json_version: String,
    pub body: Vec<u8>,
}

/// AWS's answer.
pub struct AwsResponse {
    pub status: u16,
    pub body: Vec<u8>,
}

pub struct AwsSink {
    region: String,
    endpoint_url: Option<String>,
    targets: Vec<String>,
    provider: SharedCredentialsProvider,
    cached: tokio::sync::Mutex<Option<Credentials>>,
    client: reqwest::Client,
}

impl AwsSink {
    pub async fn connect(config: &AwsConfig) -> Result<Arc<Self>, AwsError> {
        let shared = credentials::sdk_config(
            config.region.as_deref(),
            config.endpoint_url.as_deref(),
            &config.auth,
        )
        .await;
        let region = shared.region().ok_or(AwsError::NoRegion)?.to_string();
        let provider = shared
            .credentials_provider()
            .ok_or(AwsError::NoCredentials)?;
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| AwsError::Client(e.to_string()))?;
        Ok(Arc::new(Self {
            region,
            endpoint_url: config.endpoint_url.clone(),
            targets: config.targets.clone(),
            provider,
            cached: tokio::sync::Mutex::new(None),
            client,
        }))
    }

    /// Sends `request`, signed; AWS's answer, or why there was none.
    pub async fn call(&self, request: AwsRequest) -> Result<AwsResponse, Failure> {
        self.admit(&request)?;
        let credentials = self.credentials().await?;
        let url = match &self.endpoint_url {
            Some(url) => format!("{}/", url.trim_end_matches('/')),
            None => format!("https://{}.{}.amazonaws.com/", request.service, self.region),
        };
        let content_type = format!("application/x-amz-json-{}", request.json_version);
        let headers = [
            ("content-type", content_type.as_str()),
            ("x-amz-target", request.target.as_str()),
        ];
        let identity = Identity::from(credentials);
        let signed = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(&request.service)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| denied(e.to_string()))
            .and_then(|params| {
                let signable = SignableRequest::new(
                    "POST",
                    &url,
                    headers.iter().copied(),
                    SignableBody::Bytes(&request.body),
                )
                .map_err(|e| denied(e.to_string()))?;
                sign(signable, &params.into()).map_err(|e| denied(e.to_string()))
            })?;
        let (instructions, _) = signed.into_parts();
        let mut outgoing = self.client.post(&url);
        for (name, value) in headers.into_iter().chain(instructions.headers()) {
            outgoing = outgoing.header(name, value);
        }
        let response = outgoing
            .body(request.body)
            .send()
            .await
            .map_err(|e| unreachable_failure(&e))?;
        let status = response.status().as_u16();
        let body = response
            .bytes()
            .await
            .map_err(|e| unreachable_failure(&e))?;
        if body.len() > MAX_RESPONSE_BYTES {
            return Err(Failure {
                code: failure_codes::CONNECTION_FAILED.into(),
                message: format!("AWS answered {} bytes, more than 1 MiB", body.len()),
                retryable: true,
            });
        }
        Ok(AwsResponse {
            status,
            body: body.to_vec(),
        })
    }

    /// Only the destination's operations, of well-formed names.
    fn admit(&self, request: &AwsRequest) -> Result<(), Failure> {
        if !self.targets.contains(&request.target) {
            return Err(denied(format!(
                "{} is not among the destination's aws.targets ({})",
                request.target,
                self.targets.join(", ")
            )));
        }
        let service_ok = !request.service.is_empty()
            && request
                .service
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !service_ok {
            return Err(denied(format!(
                "\"{}\" is not an AWS service name",
                request.service
            )));
        }
        if !matches!(request.json_version.as_str(), "1.0" | "1.1") {
            return Err(denied(format!(
                "JSON protocol version \"{}\" is not 1.0 or 1.1",
                request.json_version
            )));
        }
        Ok(())
    }

    /// Cached credentials, refreshed when they are about to expire.
    async fn credentials(&self) -> Result<Credentials, Failure> {
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref()
            && c.expiry()
                .is_none_or(|at| at > SystemTime::now() + REFRESH_BEFORE)
        {
            return Ok(c.clone());
        }
        let fresh = self
            .provider
            .provide_credentials()
            .await
            .map_err(|e| Failure {
                code: failure_codes::CREDENTIALS_UNAVAILABLE.into(),
                message: error_chain(&e),
                retryable: true,
            })?;
        *cached = Some(fresh.clone());
        Ok(fresh)
    }
}

fn denied(message: String) -> Failure {
    Failure {
        code: failure_codes::AWS_DENIED.into(),
        message,
        retryable: false,
    }
}

fn unreachable_failure(error: &reqwest::Error) -> Failure {
    Failure {
        code: failure_codes::CONNECTION_FAILED.into(),
        message: error_chain(error),
        retryable: true,
    }
}
