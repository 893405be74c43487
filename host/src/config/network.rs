//! `[destinations.network]`: where the destination's plugin may send HTTP
//! requests, and the limits on them (host/src/sinks/network).

use std::net::IpAddr;
use std::time::Duration;

use super::fields::Fields;
use crate::sinks::network::{NetworkConfig, Origin, Policy};

/// `[destinations.network]`, where `allow` is required, or the operator's
/// template for customers' plugin destinations (`[plugins.customer_network]`),
/// whose `allow` may be empty: each customer destination adds its own URL.
pub(super) fn read(n: &mut Fields<'_, '_, '_>, require_allow: bool) -> NetworkConfig {
    let default = NetworkConfig::default();
    let mut allow = Vec::new();
    for (i, text) in n.string_list("allow").into_iter().enumerate() {
        match Origin::parse(&text) {
            Ok(origin) => allow.push(origin),
            Err(e) => n.report(&format!("allow[{i}]"), e.to_string()),
        }
    }
    if allow.is_empty() && require_allow {
        n.report(
            "allow",
            "list the origins the plugin may reach, e.g. [\"https://hooks.acme.example\"]",
        );
    }
    let mut hosts = Vec::new();
    if let Some(mut table) = n.table("hosts") {
        for (name, address) in table.scalars_as_strings() {
            match address.parse::<IpAddr>() {
                Ok(a) => hosts.push((name.to_ascii_lowercase(), a)),
                Err(_) => table.report(&name, format!("\"{address}\" is not an IP address")),
            }
        }
        table.finish();
    }
    let connect_timeout = n.duration("connect_timeout", default.connect_timeout);
    let timeout = n.duration("timeout", default.timeout);
    for (key, value) in [("connect_timeout", connect_timeout), ("timeout", timeout)] {
        if value.is_zero() || value > Duration::from_secs(600) {
            n.report(key, "must be more than 0 and at most 10 minutes");
        }
    }
    NetworkConfig {
        policy: Policy {
            allow,
            allow_public: Vec::new(),
        },
        hosts,
        connect_timeout,
        timeout,
        max_response_bytes: n.size("max_response_bytes", default.max_response_bytes),
        max_in_flight: n.integer("max_in_flight", default.max_in_flight as u64, 1..=1024) as usize,
    }
}
