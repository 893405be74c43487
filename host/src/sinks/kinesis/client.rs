//! Building the Kinesis client of one destination from its config: region,
//! endpoint, and credentials (default chain, static keys, or AssumeRole).

use std::time::Duration;

use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use aws_sdk_kinesis::config::retry::RetryConfig;
use aws_sdk_kinesis::config::timeout::TimeoutConfig;

use super::KinesisError;
use crate::config::{KinesisAuth, KinesisConfig};

pub async fn build(config: &KinesisConfig) -> Result<aws_sdk_kinesis::Client, KinesisError> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = &config.region {
        loader = loader.region(Region::new(region.clone()));
    }
    match &config.auth {
        KinesisAuth::DefaultChain => {}
        KinesisAuth::Static {
            access_key_id,
            secret_access_key,
            session_token,
        } => {
            loader = loader.credentials_provider(Credentials::new(
                access_key_id.expose(),
                secret_access_key.expose(),
                session_token.as_ref().map(|t| t.expose().to_owned()),
                None,
                "pushrail-static",
            ));
        }
        KinesisAuth::AssumeRole {
            role_arn,
            external_id,
            session_name,
            sts_endpoint_url,
        } => {
            // STS is called with the default chain's credentials, at its own endpoint.
            let mut sts = aws_config::defaults(BehaviorVersion::latest());
            if let Some(region) = &config.region {
                sts = sts.region(Region::new(region.clone()));
            }
            if let Some(url) = sts_endpoint_url {
                sts = sts.endpoint_url(url);
            }
            let sts = sts.load().await;
            let mut provider = aws_config::sts::AssumeRoleProvider::builder(role_arn.clone())
                .session_name(session_name.clone().unwrap_or_else(|| "pushrail".into()))
                .configure(&sts);
            if let Some(id) = external_id {
                provider = provider.external_id(id.expose());
            }
            loader = loader.credentials_provider(provider.build().await);
        }
    }
    if let Some(url) = &config.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    let shared = loader.load().await;
    if shared.region().is_none() {
        return Err(KinesisError::NoRegion);
    }
    let conf = aws_sdk_kinesis::config::Builder::from(&shared)
        // Retries are ours: per record, with the destination's backoff.
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(3))
                .operation_attempt_timeout(Duration::from_secs(20))
                .build(),
        )
        .build();
    Ok(aws_sdk_kinesis::Client::from_conf(conf))
}
