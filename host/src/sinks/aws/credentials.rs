//! The AWS SDK settings of one destination output from its config: region,
//! endpoint and credentials (the default chain, static keys, or
//! AssumeRole with an external ID). Shared by the Kinesis client and the
//! signed calls of `[destinations.aws]`.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;

use crate::config::AwsAuth;

/// The SDK config for `region`, `endpoint_url` and `auth`.
pub async fn sdk_config(
    region: Option<&str>,
    endpoint_url: Option<&str>,
    auth: &AwsAuth,
) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = region {
        loader = loader.region(Region::new(region.to_owned()));
    }
    match auth {
        AwsAuth::DefaultChain => {}
        AwsAuth::Static {
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
        AwsAuth::AssumeRole {
            role_arn,
            external_id,
            session_name,
            sts_endpoint_url,
        } => {
            // STS is called with the default chain's credentials, at its own endpoint.
            let mut sts = aws_config::defaults(BehaviorVersion::latest());
            if let Some(region) = region {
                sts = sts.region(Region::new(region.to_owned()));
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
    if let Some(url) = endpoint_url {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}
