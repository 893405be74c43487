//! Outbound HTTP for a destination's plugin (`wasi:http/outgoing-handler`,
//! `[destinations.network]`). The plugin builds requests with ordinary
//! wasi:http; every one comes here, where the destination's policy is
//! enforced in the host: the origin must be on the allowlist, the name is
//! resolved here and each address checked before connecting to it (so a
//! name cannot be re-pointed between the check and the connection), and
//! timeouts, a response size cap and a cap on requests in flight apply.
//! Connections are pooled per origin; each new one is checked the same way.
//! Redirects are never followed here: the plugin sees the 3xx, and a
//! request to the new location is checked like any other.

mod connect;
pub mod policy;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use wasmtime_wasi_http::Error as HttpError;

use crate::metrics::Metrics;

pub use policy::{Origin, Policy};

/// `[destinations.network]`.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkConfig {
    pub policy: Policy,
    /// Names pinned to an address (like curl's `--resolve`); the address
    /// rules apply to it as to any resolved one.
    pub hosts: Vec<(String, IpAddr)>,
    pub connect_timeout: Duration,
    /// From sending the request to the last byte of the response.
    pub timeout: Duration,
    pub max_response_bytes: u64,
    /// Requests of this destination in flight at once.
    pub max_in_flight: usize,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        Self {
            policy: Policy::default(),
            hosts: Vec::new(),
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(30),
            max_response_bytes: 1 << 20,
            max_in_flight: 16,
        }
    }
}

/// One destination's outbound HTTP: its checks, and a pool of the
/// connections they let through.
pub struct NetworkSink {
    checker: Arc<Checker>,
    client: connect::Client,
    in_flight: Arc<Semaphore>,
    /// Response times and answers, per destination.
    metrics: Arc<Metrics>,
    destination: String,
}

/// The policy and how to open a connection under it; the pool's connector
/// holds it too, so that every new connection is checked.
pub(super) struct Checker {
    config: NetworkConfig,
    tls: tokio_rustls::TlsConnector,
}

impl NetworkSink {
    pub fn new(destination: &str, config: NetworkConfig, metrics: Arc<Metrics>) -> Arc<Self> {
        let checker = Arc::new(Checker {
            tls: connect::tls_connector(),
            config,
        });
        Arc::new(Self {
            in_flight: Arc::new(Semaphore::new(checker.config.max_in_flight.max(1))),
            client: connect::pool(&checker),
            checker,
            metrics,
            destination: destination.to_owned(),
        })
    }

    /// Counts a request: its answer's status class and response time, or
    /// that it got none.
    pub(super) fn observe(&self, answered: Option<(u16, std::time::Duration)>) {
        self.metrics.destination(&self.destination, |m| {
            let answer = match answered {
                Some((status, took)) => {
                    m.http_seconds.observe(took.as_secs_f64());
                    match status {
                        100..=199 => "1xx",
                        200..=299 => "2xx",
                        300..=399 => "3xx",
                        400..=499 => "4xx",
                        _ => "5xx",
                    }
                }
                None => "failed",
            };
            *m.http_requests.entry(answer).or_default() += 1;
        });
    }

    /// Waits for room under `max_in_flight`; the permit is held until the
    /// response is read.
    pub async fn permit(&self) -> tokio::sync::OwnedSemaphorePermit {
        self.in_flight
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed")
    }

    pub fn config(&self) -> &NetworkConfig {
        &self.checker.config
    }
}

impl Checker {
    /// The request's host, if the allowlist admits its origin.
    pub(super) fn admit(
        &self,
        https: bool,
        host: &str,
        port: u16,
    ) -> Result<policy::Host, HttpError> {
        let parsed = policy::Host::parse(host);
        if !self.config.policy.admits(https, &parsed, port) {
            tracing::warn!(
                host,
                port,
                https,
                "a plugin's request was refused: its origin is not in network.allow"
            );
            return Err(HttpError::HttpRequestDenied);
        }
        Ok(parsed)
    }

    /// The addresses a request may connect to: the allowlist admits the
    /// origin, and each resolved address passes the address rules.
    pub async fn addresses(
        &self,
        https: bool,
        host: &str,
        port: u16,
    ) -> Result<Vec<SocketAddr>, HttpError> {
        let parsed = self.admit(https, host, port)?;
        let resolved: Vec<IpAddr> = match &parsed {
            policy::Host::Address(a) => vec![*a],
            policy::Host::Name(name) => match self.config.hosts.iter().find(|(h, _)| h == name) {
                Some((_, pinned)) => vec![*pinned],
                None => tokio::time::timeout(
                    self.config.connect_timeout,
                    tokio::net::lookup_host((name.as_str(), port)),
                )
                .await
                .map_err(|_| HttpError::DnsTimeout)?
                .map_err(|_| HttpError::DestinationNotFound)?
                .map(|a| a.ip())
                .collect(),
            },
        };
        let allowed: Vec<SocketAddr> = resolved
            .iter()
            .filter(|a| self.config.policy.may_connect(**a, port))
            .map(|a| SocketAddr::new(*a, port))
            .collect();
        if allowed.is_empty() {
            tracing::warn!(
                host,
                ?resolved,
                "a plugin's request was refused: the name resolves to an address network.allow does not name (loopback, private, link-local or metadata)"
            );
            return Err(HttpError::DestinationIpProhibited);
        }
        Ok(allowed)
    }
}
