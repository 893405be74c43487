//! `wasi:http/outgoing-handler` for destination plugins: the standard
//! interface, so plugin authors use ordinary wasi-http client code, with
//! every request handed to the destination's [`NetworkSink`], which
//! enforces its policy. A destination without `[destinations.network]`
//! refuses every request. No clocks come with it (a plugin that imports
//! them is still refused): a plugin waits on a response through
//! `wasi:io/poll`, bounded by the destination's `network.timeout`.

use std::sync::Arc;

use wasmtime::component::Linker;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

use super::host::HostState;
use crate::sinks::network::NetworkSink;

/// What a destination's plugin may reach: its sink, or nothing.
pub struct NetworkHooks {
    pub sink: Option<Arc<NetworkSink>>,
    pub destination: Arc<str>,
}

type Sent = Result<
    (
        http::Response<WasiBody>,
        Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ),
    HttpError,
>;

impl WasiHttpHooks for NetworkHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        _options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> Box<dyn Future<Output = Sent> + Send> {
        let sink = self.sink.clone();
        let destination = self.destination.clone();
        Box::new(async move {
            let Some(sink) = sink else {
                refused_without_network(&destination);
                return Err(HttpError::HttpRequestDenied);
            };
            let response = sink.send(request).await?;
            Ok((
                response,
                Box::new(async { Ok(()) }) as Box<dyn Future<Output = _> + Send>,
            ))
        })
    }
}

/// Logs a plugin's request refused because its destination has no
/// `[destinations.network]` (wasi:http and `pushrail:plugin/http` alike).
pub(super) fn refused_without_network(destination: &str) {
    tracing::warn!(%destination, "a plugin's request was refused: the destination has no [destinations.network]");
}

/// Links wasi:http: `types` and `outgoing-handler`.
pub fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)
}
