//! Outbound HTTP for destination plugins, over the host's
//! `pushrail:plugin/http` (whole requests: one call sends, one collects the
//! answers). The host sends the request under the destination's
//! `[destinations.network]` policy (allowlist, address checks, timeouts,
//! response cap), the same as for a plugin that uses the standard
//! `wasi:http/outgoing-handler` itself, and hands back the whole response;
//! a refusal comes back as an [`Error`] with one of the codes below, so a
//! plugin can tell a policy problem (permanent) from a network one (worth
//! retrying).
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
/// 1,024 requests sent in this call into the plugin are not read: read
/// some answers before sending more. (Requests belong to the call that
/// sent them: a [`Pending`] kept past it gets no answer.)
pub const TOO_MANY_REQUESTS: &str = "too_many_requests";

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
    use std::cell::RefCell;
    use std::collections::{HashMap, HashSet};

    use super::{CONNECTION_FAILED, Response};
    use crate::Error;
    use crate::destination::pushrail::plugin::http as host;

    /// Answers the host gave that a [`Pending`] still wants. A plugin runs
    /// on one thread; an answer to a request whose `Pending` was dropped is
    /// thrown away.
    #[derive(Default)]
    struct Answers {
        wanted: HashSet<u64>,
        got: HashMap<u64, Result<host::Response, Error>>,
    }

    thread_local! {
        static ANSWERS: RefCell<Answers> = RefCell::default();
    }

    pub struct Pending {
        id: u64,
    }

    impl Drop for Pending {
        fn drop(&mut self) {
            ANSWERS.with_borrow_mut(|a| {
                a.wanted.remove(&self.id);
                a.got.remove(&self.id);
            });
        }
    }

    pub fn start(
        method: &str,
        url: &str,
        headers: &[(String, Vec<u8>)],
        body: &[u8],
    ) -> Result<Pending, Error> {
        let id = host::send(&host::Request {
            method: method.to_owned(),
            url: url.to_owned(),
            headers: headers.to_vec(),
            body: body.to_vec(),
        })?;
        ANSWERS.with_borrow_mut(|a| a.wanted.insert(id));
        Ok(Pending { id })
    }

    /// Takes every answer the host has (waiting for at least one); false
    /// when no request is out.
    fn collect() -> bool {
        let answers = host::wait();
        let any = !answers.is_empty();
        ANSWERS.with_borrow_mut(|a| {
            for (id, answer) in answers {
                if a.wanted.contains(&id) {
                    a.got.insert(id, answer);
                }
            }
        });
        any
    }

    pub fn ready(pending: &[&super::Pending]) -> usize {
        loop {
            let answered =
                ANSWERS.with_borrow(|a| pending.iter().position(|p| a.got.contains_key(&p.0.id)));
            if let Some(i) = answered {
                return i;
            }
            if pending.is_empty() || !collect() {
                return 0;
            }
        }
    }

    pub fn finish(pending: Pending) -> Result<Response, Error> {
        loop {
            if let Some(answer) = ANSWERS.with_borrow_mut(|a| a.got.remove(&pending.id)) {
                return answer.map(|r| Response {
                    status: r.status,
                    headers: r.headers,
                    body: r.body,
                });
            }
            if !collect() {
                return Err(Error::new(CONNECTION_FAILED, "the host has no answer"));
            }
        }
    }
}

/// Natively (tests of plugin logic) there is no host to call.
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
