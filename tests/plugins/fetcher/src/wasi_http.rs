//! The same request with plain `wasi:http/outgoing-handler` (the `wasip2`
//! crate's bindings), as a plugin author's own wasi:http code would send
//! it, so that the host's policy is seen on that path too.

/// POSTs `body` as `application/json` to `url` and reads the whole response.
pub fn post_json(url: &str, body: &[u8]) -> Result<Response, Error> {
    let headers = [("content-type".to_owned(), b"application/json".to_vec())];
    finish(start("POST", url, &headers, body)?)
}

use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    ErrorCode, Fields, Method, OutgoingBody, OutgoingRequest, Scheme, http_error_code,
};
use wasip2::io::streams::StreamError;

use pushrail_sdk::Error;
use pushrail_sdk::http::{
    BAD_REQUEST, CONNECTION_FAILED, NETWORK_DENIED, RESPONSE_TOO_LARGE, Response, TIMEOUT,
};

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

/// The response to come, and its pollable (a child of the future:
/// declared first, it is dropped first).
struct Pending {
    pollable: wasip2::io::poll::Pollable,
    future: outgoing_handler::FutureIncomingResponse,
}

fn start(
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

fn finish(Pending { future, pollable }: Pending) -> Result<Response, Error> {
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
