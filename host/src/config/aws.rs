//! AWS settings shared by every destination output that calls AWS:
//! credentials (`auth`) for `[destinations.kinesis]`, and
//! `[destinations.aws]`, where a plugin's signed AWS API calls go.

use super::Secret;
use super::fields::Fields;

/// How a destination gets AWS credentials.
#[derive(Debug, Clone, PartialEq)]
pub enum AwsAuth {
    /// aws-config's default chain: environment, profile, web identity, IMDS.
    DefaultChain,
    Static {
        access_key_id: Secret,
        secret_access_key: Secret,
        session_token: Option<Secret>,
    },
    /// Short-lived credentials from STS AssumeRole, refreshed before expiry;
    /// the caller's own credentials come from the default chain.
    AssumeRole {
        role_arn: String,
        external_id: Option<Secret>,
        session_name: Option<String>,
        sts_endpoint_url: Option<String>,
    },
}

/// `[destinations.aws]`: the AWS account a plugin may call APIs of
/// (`aws.call`), signed by the host.
#[derive(Debug, Clone, PartialEq)]
pub struct AwsConfig {
    /// AWS region; `None`: from the environment (AWS_REGION, profile).
    pub region: Option<String>,
    /// One endpoint for every service, e.g. a local AWS API server; by
    /// default `https://<service>.<region>.amazonaws.com`.
    pub endpoint_url: Option<String>,
    pub auth: AwsAuth,
    /// The API operations the plugin may call, as `X-Amz-Target` values
    /// (`AWSEvents.PutEvents`, `AmazonSQS.SendMessageBatch`).
    pub targets: Vec<String>,
}

pub(super) fn read(a: &mut Fields<'_, '_, '_>) -> Option<AwsConfig> {
    let region = a.string("region");
    let endpoint_url = a.string("endpoint_url");
    let targets = a.string_list("targets");
    if targets.is_empty() {
        a.report(
            "targets",
            "list the operations the plugin may call, e.g. [\"AWSEvents.PutEvents\"]",
        );
    }
    for (i, target) in targets.iter().enumerate() {
        let valid = target.split_once('.').is_some_and(|(service, operation)| {
            !service.is_empty()
                && !operation.is_empty()
                && target
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_')
        });
        if !valid {
            a.report(
                &format!("targets[{i}]"),
                format!("\"{target}\" is not an X-Amz-Target (Service.Operation)"),
            );
        }
    }
    let auth = read_auth(a)?;
    Some(AwsConfig {
        region,
        endpoint_url,
        auth,
        targets,
    })
}

/// `auth`: `default_chain` (the default), `static` or `assume_role`.
pub(super) fn read_auth(k: &mut Fields<'_, '_, '_>) -> Option<AwsAuth> {
    match k.table("auth") {
        None => Some(AwsAuth::DefaultChain),
        Some(mut a) => {
            let mode = a.choice(
                "mode",
                "default_chain",
                &[
                    ("default_chain", "default_chain"),
                    ("static", "static"),
                    ("assume_role", "assume_role"),
                ],
            );
            let auth = match mode {
                "static" => {
                    let access_key_id = a.required_string("access_key_id").map(Secret);
                    let secret_access_key = a.required_string("secret_access_key").map(Secret);
                    let session_token = a.string("session_token").map(Secret);
                    access_key_id.zip(secret_access_key).map(
                        |(access_key_id, secret_access_key)| AwsAuth::Static {
                            access_key_id,
                            secret_access_key,
                            session_token,
                        },
                    )
                }
                "assume_role" => {
                    a.required_string("role_arn")
                        .map(|role_arn| AwsAuth::AssumeRole {
                            role_arn,
                            external_id: a.string("external_id").map(Secret),
                            session_name: a.string("session_name"),
                            sts_endpoint_url: a.string("sts_endpoint_url"),
                        })
                }
                _ => Some(AwsAuth::DefaultChain),
            };
            a.finish();
            auth
        }
    }
}
