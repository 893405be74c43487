//! A destination that POSTs each event's JSON to `payload.url` with plain
//! `wasi:http/outgoing-handler` (no Pushrail interface), as a plugin
//! author's HTTP client would, and reads the whole response. Delivered:
//! coordinates `status` and `bytes`. Failed: the host's answer, classified
//! (`network_denied`, `response_too_large`, `timeout`, or the wasi:http
//! error code), permanent so a test sees it in the DLQ at once.

use pushrail_sdk::{Destination, Error, Event, Outcome, export_destination};

pub struct Fetcher;

impl Destination for Fetcher {
    fn init(_config: &str) -> Result<Self, Error> {
        Ok(Fetcher)
    }

    fn deliver(&mut self, batch: Vec<Event>) -> Vec<Outcome> {
        batch.iter().map(deliver_one).collect()
    }
}

fn deliver_one(event: &Event) -> Outcome {
    let url = event.field("payload.url");
    let body = match event.to_json_string() {
        Ok(body) => body,
        Err(e) => return Outcome::Permanent(e),
    };
    match post(&url, body.as_bytes()) {
        Ok((status, bytes)) => Outcome::Delivered(vec![
            ("status".into(), status.to_string()),
            ("bytes".into(), bytes.to_string()),
        ]),
        Err(code) => Outcome::Permanent(Error::new(code, format!("POST {url} failed"))),
    }
}

#[cfg(target_arch = "wasm32")]
fn post(url: &str, body: &[u8]) -> Result<(u16, usize), String> {
    use wasip2::http::outgoing_handler;
    use wasip2::http::types::{
        ErrorCode, Fields, Method, OutgoingBody, OutgoingRequest, Scheme, http_error_code,
    };
    use wasip2::io::streams::StreamError;

    let classify = |e: ErrorCode| -> String {
        match e {
            ErrorCode::HttpRequestDenied | ErrorCode::DestinationIpProhibited => {
                "network_denied".into()
            }
            ErrorCode::HttpResponseBodySize(_) => "response_too_large".into(),
            ErrorCode::ConnectionTimeout
            | ErrorCode::ConnectionReadTimeout
            | ErrorCode::HttpResponseTimeout => "timeout".into(),
            other => format!("{other:?}"),
        }
    };
    let (scheme, rest) = url.split_once("://").ok_or("bad_url")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let headers = Fields::new();
    headers
        .append("content-type", b"application/json")
        .map_err(|e| format!("{e:?}"))?;
    let request = OutgoingRequest::new(headers);
    let _ = request.set_method(&Method::Post);
    let _ = request.set_scheme(Some(&if scheme == "https" {
        Scheme::Https
    } else {
        Scheme::Http
    }));
    let _ = request.set_authority(Some(authority));
    let _ = request.set_path_with_query(Some(path));
    let outgoing = request.body().map_err(|_| "no_body")?;
    let future = outgoing_handler::handle(request, None).map_err(classify)?;
    {
        let stream = outgoing.write().map_err(|_| "no_stream")?;
        for chunk in body.chunks(4096) {
            stream
                .blocking_write_and_flush(chunk)
                .map_err(|_| "write_failed")?;
        }
    }
    OutgoingBody::finish(outgoing, None).map_err(classify)?;
    future.subscribe().block();
    let response = future
        .get()
        .ok_or("no_response")?
        .map_err(|_| "no_response")?
        .map_err(classify)?;
    let status = response.status();
    let incoming = response.consume().map_err(|_| "no_body")?;
    let stream = incoming.stream().map_err(|_| "no_stream")?;
    let mut bytes = 0;
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => bytes += chunk.len(),
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => {
                return Err(http_error_code(&e).map_or_else(|| e.to_debug_string(), classify));
            }
        }
    }
    Ok((status, bytes))
}

/// Natively the crate is only checked: there is no wasi:http to call.
#[cfg(not(target_arch = "wasm32"))]
fn post(_url: &str, _body: &[u8]) -> Result<(u16, usize), String> {
    Err("not_wasm".into())
}

export_destination!(Fetcher);
