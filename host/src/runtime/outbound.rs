//! `pushrail:plugin/http`: outbound HTTP in whole requests, for plugins
//! that have each request's body in memory (the SDK's `http` module, so
//! the webhook destination). One call sends, one call collects every
//! answer that has come; wasi:http's resource for each part of a request
//! (fields, body stream, future, pollable, response, its body stream) cost
//! about thirty calls across the boundary per request, the largest share
//! of the engine's CPU per webhook (docs/performance.md, scenario 11).
//! Every request goes through the destination's
//! [`NetworkSink`](crate::sinks::network::NetworkSink), the same
//! policy and limits as wasi:http.

use bytes::Bytes;
use tokio::task::JoinSet;
use wasmtime_wasi_http::Error as HttpError;

use super::bindings::PluginErrorRecord;
use super::bindings::destination::pushrail::plugin::http as wit;
use super::host::HostState;
use super::network::refused_without_network;
use crate::failure_codes;

/// Requests one call into a plugin may have out and not collected; a
/// plugin that sends without ever waiting is refused past this instead of
/// growing the host's memory.
pub const MAX_UNANSWERED: usize = 1024;

/// One answer: the request's id, and its response or why there is none.
type Answer = (u64, Result<wit::Response, PluginErrorRecord>);

/// The requests one plugin instance has out in the current call, each a
/// task of its own (so that it goes on while the plugin builds the next).
/// Dropped when the call returns, which cancels those still out. (The
/// destination's network sink is the instance's own, in its bindings.)
#[derive(Default)]
pub struct Outbound {
    out: JoinSet<Answer>,
    next_id: u64,
}

impl Outbound {
    /// A call into the plugin has returned: what it sent and did not
    /// collect is dropped (its requests cancelled, its answers thrown
    /// away), so that it neither counts against [`MAX_UNANSWERED`] in the
    /// next call nor holds memory or room under `network.max_in_flight`.
    pub fn forget(&mut self) {
        if !self.out.is_empty() {
            self.out = JoinSet::new();
        }
    }
}

impl wit::Host for HostState {
    async fn send(&mut self, request: wit::Request) -> Result<u64, PluginErrorRecord> {
        let Some(sink) = self.sinks.network.clone() else {
            refused_without_network(&self.destination);
            return Err(failure(
                failure_codes::NETWORK_DENIED,
                format!(
                    "destination {} has no [destinations.network]",
                    self.destination
                ),
            ));
        };
        let outbound = &mut self.outbound;
        if outbound.out.len() >= MAX_UNANSWERED {
            return Err(failure(
                failure_codes::TOO_MANY_REQUESTS,
                format!("{MAX_UNANSWERED} requests are out unanswered: wait for some first"),
            ));
        }
        let request = to_http(request)?;
        let id = outbound.next_id;
        outbound.next_id += 1;
        outbound.out.spawn(async move {
            let answer = sink.send_whole(request).await;
            (id, answer.map(from_http).map_err(classify))
        });
        Ok(id)
    }

    async fn wait(&mut self) -> Vec<Answer> {
        let out = &mut self.outbound.out;
        let mut answers = Vec::new();
        // At least one answer while any request is out (a task that
        // panicked has none, and is not the last one out).
        while answers.is_empty() {
            let Some(joined) = out.join_next().await else {
                break;
            };
            answers.extend(answered(joined));
        }
        while let Some(next) = out.try_join_next() {
            answers.extend(answered(next));
        }
        answers
    }
}

/// A finished request's answer; a request's task only ends otherwise if
/// it panicked, which the log says.
fn answered(joined: Result<Answer, tokio::task::JoinError>) -> Option<Answer> {
    joined
        .inspect_err(|e| tracing::error!(error = %e, "a plugin's HTTP request failed in the host"))
        .ok()
}

fn failure(code: &str, message: String) -> PluginErrorRecord {
    PluginErrorRecord {
        code: code.to_owned(),
        message,
    }
}

fn bad_request(message: String) -> PluginErrorRecord {
    failure(failure_codes::BAD_REQUEST, message)
}

fn to_http(request: wit::Request) -> Result<http::Request<Bytes>, PluginErrorRecord> {
    let method = http::Method::from_bytes(request.method.as_bytes())
        .map_err(|_| bad_request(format!("invalid method \"{}\"", request.method)))?;
    let uri: http::Uri = request
        .url
        .parse()
        .map_err(|e| bad_request(format!("invalid URL \"{}\": {e}", request.url)))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
        return Err(bad_request(format!(
            "\"{}\" is not an http(s) URL",
            request.url
        )));
    }
    let mut builder = http::Request::builder().method(method).uri(uri);
    for (name, value) in request.headers {
        let name = http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| bad_request(format!("invalid header name \"{name}\"")))?;
        let value = http::HeaderValue::from_bytes(&value)
            .map_err(|_| bad_request(format!("invalid value of header {name}")))?;
        builder = builder.header(name, value);
    }
    builder
        .body(Bytes::from(request.body))
        .map_err(|e| bad_request(e.to_string()))
}

fn from_http(response: http::Response<Bytes>) -> wit::Response {
    let (parts, body) = response.into_parts();
    wit::Response {
        status: parts.status.as_u16(),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec()))
            .collect(),
        body: body.into(),
    }
}

/// Why a request got no response, as the code a plugin passes on: a
/// policy refusal is permanent until the config changes, the others are
/// worth retrying (the plugin decides).
fn classify(error: HttpError) -> PluginErrorRecord {
    let code = match &error {
        HttpError::HttpRequestDenied | HttpError::DestinationIpProhibited => {
            failure_codes::NETWORK_DENIED
        }
        HttpError::HttpResponseBodySize(_) => failure_codes::RESPONSE_TOO_LARGE,
        HttpError::ConnectionTimeout
        | HttpError::ConnectionReadTimeout
        | HttpError::ConnectionWriteTimeout
        | HttpError::HttpResponseTimeout
        | HttpError::DnsTimeout => failure_codes::HTTP_TIMEOUT,
        HttpError::HttpRequestUriInvalid
        | HttpError::HttpRequestMethodInvalid
        | HttpError::HttpProtocolError => failure_codes::BAD_REQUEST,
        _ => failure_codes::HTTP_CONNECTION_FAILED,
    };
    failure(code, format!("{error:?}"))
}
