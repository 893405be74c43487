//! Sending a checked request over a pool of connections (hyper-util's
//! client). Each new connection goes to an address the policy passed —
//! the pool's connector resolves and checks, never the client — with TLS
//! from the webpki roots; idle ones are reused per origin. The host reads
//! each response whole, capped in size and bounded in time (an error in
//! the body would reach a plugin only as text; before the response, as
//! its wasi:http error code).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::Uri;
use http::uri::Scheme;
use http_body_util::BodyExt;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use wasmtime_wasi_http::{Error as HttpError, WasiBody};

use super::{Checker, NetworkSink};

/// The pool of one destination.
pub(super) type Client = hyper_util::client::legacy::Client<Connector, WasiBody>;

/// How long an idle connection is kept for the next request.
const IDLE: Duration = Duration::from_secs(60);

pub(super) fn pool(checker: &Arc<Checker>) -> Client {
    hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .pool_idle_timeout(IDLE)
        .pool_max_idle_per_host(checker.config.max_in_flight)
        .build(Connector {
            checker: checker.clone(),
        })
}

/// TLS with the webpki roots and the ring provider (chosen explicitly: the
/// process links more than one).
pub(super) fn tls_connector() -> tokio_rustls::TlsConnector {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.into(),
    };
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("ring supports the default TLS versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// Where a request goes: (https, host, port).
fn target(uri: &Uri) -> Result<(bool, &str, u16), HttpError> {
    let https = uri.scheme() == Some(&Scheme::HTTPS);
    let host = uri.host().ok_or(HttpError::HttpRequestUriInvalid)?;
    Ok((
        https,
        host,
        uri.port_u16().unwrap_or(if https { 443 } else { 80 }),
    ))
}

impl NetworkSink {
    /// Sends a wasi:http request under the destination's policy and
    /// limits; its body is read whole first (the plugin has it in memory
    /// anyway), so that it goes with a Content-Length, not chunked: some
    /// receivers read only the former.
    pub async fn send(
        self: Arc<Self>,
        request: http::Request<WasiBody>,
    ) -> Result<http::Response<WasiBody>, HttpError> {
        let (parts, outgoing) = request.into_parts();
        let body = tokio::time::timeout(self.config().timeout, outgoing.collect())
            .await
            .map_err(|_| HttpError::HttpResponseTimeout)??
            .to_bytes();
        let response = self
            .send_whole(http::Request::from_parts(parts, body))
            .await?;
        Ok(response.map(whole))
    }

    /// Sends a whole request under the destination's policy and limits,
    /// returns the whole response, and counts it in the destination's
    /// metrics.
    pub async fn send_whole(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, HttpError> {
        match self.exchange(request).await {
            Ok((response, took)) => {
                self.observe(Some((response.status().as_u16(), took)));
                Ok(response)
            }
            Err(e) => {
                self.observe(None);
                Err(e)
            }
        }
    }

    /// The response, and how long it took once there was room to send.
    async fn exchange(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<(http::Response<Bytes>, std::time::Duration), HttpError> {
        let permit = self.permit().await;
        let started = std::time::Instant::now();
        let config = self.config();
        let (https, host, port) = target(request.uri())?;
        // Checked here too, not only when a connection is opened: a pooled
        // one is reused without the connector.
        self.checker.admit(https, host, port)?;
        let deadline = tokio::time::Instant::now() + config.timeout;
        let response = tokio::time::timeout_at(deadline, self.client.request(request.map(whole)))
            .await
            .map_err(|_| HttpError::HttpResponseTimeout)?
            .map_err(|e| from_client(&e))?;
        // Read whole here, at most the cap and by the deadline, so that a
        // plugin gets either the response or why there is none.
        let (parts, mut incoming) = response.into_parts();
        let cap = config.max_response_bytes;
        let mut body = Vec::new();
        loop {
            let frame = tokio::time::timeout_at(deadline, incoming.frame())
                .await
                .map_err(|_| HttpError::HttpResponseTimeout)?;
            let Some(frame) = frame else { break };
            if let Ok(data) = frame?.into_data() {
                if (body.len() + data.len()) as u64 > cap {
                    return Err(HttpError::HttpResponseBodySize(Some(cap)));
                }
                body.extend_from_slice(&data);
            }
        }
        drop(permit);
        let response = http::Response::from_parts(parts, Bytes::from(body));
        Ok((response, started.elapsed()))
    }
}

/// `bytes` as a body of known length.
fn whole(bytes: Bytes) -> WasiBody {
    http_body_util::Full::new(bytes)
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// The client's error as wasi:http's: a refusal or failure of our
/// connector comes back as it was raised.
fn from_client(error: &hyper_util::client::legacy::Error) -> HttpError {
    let mut source = std::error::Error::source(error);
    while let Some(e) = source {
        if let Some(Refused(refusal)) = e.downcast_ref::<Refused>() {
            return again(refusal);
        }
        if let Some(hyper) = e.downcast_ref::<hyper::Error>() {
            if hyper.is_timeout() {
                return HttpError::HttpResponseTimeout;
            }
            return HttpError::ConnectionTerminated;
        }
        source = e.source();
    }
    HttpError::ConnectionTerminated
}

/// A copy of the connector's error (wasi:http's error is not `Clone`).
fn again(error: &HttpError) -> HttpError {
    match error {
        HttpError::HttpRequestDenied => HttpError::HttpRequestDenied,
        HttpError::DestinationIpProhibited => HttpError::DestinationIpProhibited,
        HttpError::DestinationNotFound => HttpError::DestinationNotFound,
        HttpError::DnsTimeout => HttpError::DnsTimeout,
        HttpError::ConnectionTimeout => HttpError::ConnectionTimeout,
        HttpError::ConnectionRefused => HttpError::ConnectionRefused,
        HttpError::HttpRequestUriInvalid => HttpError::HttpRequestUriInvalid,
        HttpError::Tls(e) => HttpError::Tls(std::io::Error::new(e.kind(), e.to_string())),
        other => HttpError::Connect(std::io::Error::other(other.to_string())),
    }
}

/// Opens the pool's connections, each checked.
#[derive(Clone)]
pub(super) struct Connector {
    checker: Arc<Checker>,
}

/// Why the connector opened nothing.
#[derive(Debug)]
pub(super) struct Refused(HttpError);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Refused {}

impl tower_service::Service<Uri> for Connector {
    type Response = TokioIo<Conn>;
    type Error = Refused;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Refused>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Refused>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let checker = self.checker.clone();
        Box::pin(async move { checker.open(&uri).await.map(TokioIo::new).map_err(Refused) })
    }
}

impl Checker {
    /// A connection to `uri`'s origin: resolved and checked, TCP to a
    /// checked address, TLS for https.
    async fn open(&self, uri: &Uri) -> Result<Conn, HttpError> {
        let (https, host, port) = target(uri)?;
        let addresses = self.addresses(https, host, port).await?;
        let config = &self.config;
        let tcp = tokio::time::timeout(config.connect_timeout, TcpStream::connect(&addresses[..]))
            .await
            .map_err(|_| HttpError::ConnectionTimeout)?
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::ConnectionRefused => HttpError::ConnectionRefused,
                _ => HttpError::Connect(e),
            })?;
        if !https {
            return Ok(Conn(Box::new(tcp)));
        }
        let name = rustls::pki_types::ServerName::try_from(
            host.trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
        )
        .map_err(|_| HttpError::HttpRequestUriInvalid)?;
        let tls = tokio::time::timeout(config.connect_timeout, self.tls.connect(name, tcp))
            .await
            .map_err(|_| HttpError::ConnectionTimeout)?
            .map_err(HttpError::Tls)?;
        Ok(Conn(Box::new(tls)))
    }
}

trait Stream: AsyncRead + AsyncWrite + Send + Sync + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Sync + Unpin + 'static> Stream for T {}

/// A pooled connection: TCP or TLS over TCP.
pub(super) struct Conn(Box<dyn Stream>);

impl Connection for Conn {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}
