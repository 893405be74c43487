//! Outbound HTTP for destination plugins, over the standard
//! `wasi:http/outgoing-handler`. The host sends the request under the
//! destination's `[destinations.network]` policy (allowlist, address
//! checks, timeouts, response cap) and hands back the whole response; a
//! refusal comes back as an [`Error`] with one of the codes below, so a
//! plugin can tell a policy problem (permanent) from a network one
//! (worth retrying).
//!
//! ```no_run
//! let response = pushrail_sdk::http::post_json("https://hooks.acme.example/in", b"{}")?;
//! assert!(response.is_success());
//! # Ok::<(), pushrail_sdk::Error>(())
//! ```

use crate::Error;

/// The destination's policy refused the request (origin not allowed, or
/// an address it does not name): permanent until the config changes.
pub const NETWORK_DENIED: &str = "network_denied";
/// The response was larger than `network.max_response_bytes`.
pub const RESPONSE_TOO_LARGE: &str = "response_too_large";
/// No connection or no whole response within the destination's timeouts.
pub const TIMEOUT: &str = "timeout";
/// The connection failed (refused, reset, DNS, TLS): worth retrying.
pub const CONNECTION_FAILED: &str = "connection_failed";
/// The request itself is malformed (a bad URL or header).
pub const BAD_REQUEST: &str = "bad_request";

/// A whole response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Header names in lowercase, in the order received.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The whole body (at most the destination's `network.max_response_bytes`).
    pub body: Vec<u8>,
}

impl Response {
    /// A 2xx status.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The first value of header `name` (lowercase), as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }
}

/// POSTs `body` as `application/json` to `url`.
pub fn post_json(url: &str, body: &[u8]) -> Result<Response, Error> {
    send(
        "POST",
        url,
        &[("content-type".into(), b"application/json".to_vec())],
        body,
    )
}

/// Sends one request and waits for its whole response.
pub fn send(
    method: &str,
    url: &str,
    headers: &[(String, Vec<u8>)],
    body: &[u8],
) -> Result<Response, Error> {
    start(method, url, headers, body)?.finish()
}

/// A request sent whose response has not been read: several can be out
/// at once ([`ready`] tells which has an answer).
pub struct Pending(imp::Pending);

/// Sends one request without waiting for the response.
pub fn start(
    method: &str,
    url: &str,
    headers: &[(String, Vec<u8>)],
    body: &[u8],
) -> Result<Pending, Error> {
    imp::start(method, url, headers, body).map(Pending)
}

impl Pending {
    /// Waits for the whole response.
    pub fn finish(self) -> Result<Response, Error> {
        imp::finish(self.0)
    }
}

/// Blocks until one of `pending` has its response (or failed) and returns
/// its index; [`Pending::finish`] then reads it without waiting.
pub fn ready(pending: &[&Pending]) -> usize {
    imp::ready(pending)
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use wasip2::http::outgoing_handler;
    use wasip2::http::types::{
        ErrorCode, Fields, Method, OutgoingBody, OutgoingRequest, Scheme, http_error_code,
    };
    use wasip2::io::streams::StreamError;

    use super::{
        BAD_REQUEST, CONNECTION_FAILED, NETWORK_DENIED, RESPONSE_TOO_LARGE, Response, TIMEOUT,
    };
    use crate::Error;

    fn classify(e: ErrorCode) -> Error {
        let code = match &e {
            ErrorCode::HttpRequestDenied | ErrorCode::DestinationIpProhibited => NETWORK_DENIED,
            ErrorCode::HttpResponseBodySize(_) => RESPONSE_TOO_LARGE,
            ErrorCode::ConnectionTimeout
            | ErrorCode::ConnectionReadTimeout
            | ErrorCode::ConnectionWriteTimeout
            | ErrorCode::HttpResponseTimeout
            | ErrorCode::DnsTimeout => TIMEOUT,
            ErrorCode::HttpRequestUriInvalid
            | ErrorCode::HttpRequestMethodInvalid
            | ErrorCode::HttpProtocolError => BAD_REQUEST,
            _ => CONNECTION_FAILED,
        };
        Error::new(code, format!("{e:?}"))
    }

    fn bad(message: impl Into<String>) -> Error {
        Error::new(BAD_REQUEST, message)
    }

    /// The response to come, and its pollable, made once: [`ready`] is
    /// called once per answer with every request out. (The pollable is a
    /// child of the future: declared first, it is dropped first.)
    pub struct Pending {
        pollable: wasip2::io::poll::Pollable,
        future: outgoing_handler::FutureIncomingResponse,
    }

    pub fn ready(pending: &[&super::Pending]) -> usize {
        let pollables: Vec<_> = pending.iter().map(|p| &p.0.pollable).collect();
        wasip2::io::poll::poll(&pollables)
            .first()
            .copied()
            .unwrap_or(0) as usize
    }

    pub fn start(
        method: &str,
        url: &str,
        headers: &[(String, Vec<u8>)],
        body: &[u8],
    ) -> Result<Pending, Error> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad(format!("\"{url}\" is not an http(s) URL")))?;
        let scheme = match scheme {
            "https" => Scheme::Https,
            "http" => Scheme::Http,
            other => return Err(bad(format!("scheme {other} is not http or https"))),
        };
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_owned()),
            Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
            None => (rest, "/".to_owned()),
        };
        let fields = Fields::new();
        for (name, value) in headers {
            fields
                .append(name, value)
                .map_err(|e| bad(format!("header {name}: {e:?}")))?;
        }
        let request = OutgoingRequest::new(fields);
        let method = match method {
            "GET" => Method::Get,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "PATCH" => Method::Patch,
            "DELETE" => Method::Delete,
            "HEAD" => Method::Head,
            other => Method::Other(other.to_owned()),
        };
        request
            .set_method(&method)
            .map_err(|_| bad("invalid method"))?;
        request
            .set_scheme(Some(&scheme))
            .map_err(|_| bad("invalid scheme"))?;
        request
            .set_authority(Some(authority))
            .map_err(|_| bad(format!("invalid host \"{authority}\"")))?;
        request
            .set_path_with_query(Some(&path))
            .map_err(|_| bad(format!("invalid path \"{path}\"")))?;
        let outgoing = request
            .body()
            .map_err(|_| bad("the request body was taken"))?;
        let future = outgoing_handler::handle(request, None).map_err(classify)?;
        {
            let stream = outgoing
                .write()
                .map_err(|_| bad("the request body stream was taken"))?;
            // The stream takes at most 4096 bytes per blocking write.
            for chunk in body.chunks(4096) {
                stream
                    .blocking_write_and_flush(chunk)
                    .map_err(|e| Error::new(CONNECTION_FAILED, format!("{e:?}")))?;
            }
        }
        OutgoingBody::finish(outgoing, None).map_err(classify)?;
        let pollable = future.subscribe();
        Ok(Pending { future, pollable })
    }

    pub fn finish(Pending { future, pollable }: Pending) -> Result<Response, Error> {
        pollable.block();
        drop(pollable);
        let response = future
            .get()
            .ok_or_else(|| Error::new(CONNECTION_FAILED, "no response"))?
            .map_err(|_| Error::new(CONNECTION_FAILED, "the response was taken"))?
            .map_err(classify)?;
        let status = response.status();
        let headers = response
            .headers()
            .entries()
            .into_iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), v))
            .collect();
        let incoming = response
            .consume()
            .map_err(|_| Error::new(CONNECTION_FAILED, "the response body was taken"))?;
        let stream = incoming
            .stream()
            .map_err(|_| Error::new(CONNECTION_FAILED, "the response body stream was taken"))?;
        let mut body = Vec::new();
        loop {
            match stream.blocking_read(64 * 1024) {
                Ok(chunk) => body.extend_from_slice(&chunk),
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(e)) => {
                    return Err(http_error_code(&e).map_or_else(
                        || Error::new(CONNECTION_FAILED, e.to_debug_string()),
                        classify,
                    ));
                }
            }
        }
        Ok(Response {
            status,
            headers,
            body,
        })
    }
}

/// Natively (tests of plugin logic) there is no wasi:http to call.
#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use super::{CONNECTION_FAILED, Response};
    use crate::Error;

    pub enum Pending {}

    pub fn start(
        _method: &str,
        url: &str,
        _headers: &[(String, Vec<u8>)],
        _body: &[u8],
    ) -> Result<Pending, Error> {
        Err(Error::new(
            CONNECTION_FAILED,
            format!("no network outside WebAssembly: {url}"),
        ))
    }

    pub fn finish(pending: Pending) -> Result<Response, Error> {
        match pending {}
    }

    pub fn ready(_pending: &[&super::Pending]) -> usize {
        0
    }
}
