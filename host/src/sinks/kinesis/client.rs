//! Building the Kinesis client of one destination from its config.

use std::time::Duration;

use aws_sdk_kinesis::config::retry::RetryConfig;
use aws_sdk_kinesis::config::timeout::TimeoutConfig;

use super::KinesisError;
use crate::config::KinesisConfig;
use crate::sinks::aws::credentials::sdk_config;

pub async fn build(config: &KinesisConfig) -> Result<aws_sdk_kinesis::Client, KinesisError> {
    let shared = sdk_config(
        config.region.as_deref(),
        config.endpoint_url.as_deref(),
        &config.auth,
    )
    .await;
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
