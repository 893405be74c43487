//! The network a customer's `PLUGIN` destination may reach: the operator's
//! `[plugins.customer_network]` (its limits, and origins it opens to every
//! customer), plus the origin of the customer's own `config.url`, which is
//! reached at public addresses only — a customer cannot open the
//! platform's private network or a cloud metadata address by writing it.

use serde_json::Value;

use super::SpecProblem;
use crate::sinks::network::{NetworkConfig, Origin};

/// The destination's network, or none when it has no URL and the operator
/// opens nothing to customers.
pub(super) fn for_plugin(
    spec: &Value,
    template: &NetworkConfig,
) -> Result<Option<NetworkConfig>, SpecProblem> {
    let url = match spec.pointer("/config/url") {
        None => None,
        Some(Value::String(url)) => Some(url),
        Some(_) => {
            return Err(SpecProblem {
                field: "config.url".into(),
                message: "must be a string".into(),
            });
        }
    };
    let mut network = template.clone();
    if let Some(url) = url {
        let origin = Origin::of_url(url).map_err(|e| SpecProblem {
            field: "config.url".into(),
            message: e.to_string(),
        })?;
        network.policy.allow_public.push(origin);
    } else if network.policy.allow.is_empty() {
        return Ok(None);
    }
    Ok(Some(network))
}
