//! Sending one checked request: connect to an address the policy passed
//! (never re-resolving the name), TLS with the webpki roots, HTTP/1.1, and
//! the response read whole by the host, capped in size and bounded in time
//! (an error in the body would reach a plugin only as text; before the
//! response, as its wasi:http error code).

use std::sync::Arc;

use bytes::Bytes;
use http::uri::Scheme;
use http_body_util::BodyExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error as HttpError, WasiBody};

use super::NetworkSink;

trait Stream: AsyncRead + AsyncWrite + Send + Sync + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Sync + Unpin + 'static> Stream for T {}

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

impl NetworkSink {
    /// Sends `request` under the destination's policy and limits.
    pub async fn send(
        self: Arc<Self>,
        mut request: http::Request<WasiBody>,
    ) -> Result<http::Response<WasiBody>, HttpError> {
        let permit = self.permit().await;
        let config = self.config();
        let uri = request.uri().clone();
        let https = uri.scheme() == Some(&Scheme::HTTPS);
        let host = uri.host().ok_or(HttpError::HttpRequestUriInvalid)?;
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let addresses = self.addresses(https, host, port).await?;
        let deadline = tokio::time::Instant::now() + config.timeout;
        let tcp = tokio::time::timeout(config.connect_timeout, TcpStream::connect(&addresses[..]))
            .await
            .map_err(|_| HttpError::ConnectionTimeout)?
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::ConnectionRefused => HttpError::ConnectionRefused,
                _ => HttpError::Connect(e),
            })?;
        let stream: Box<dyn Stream> = if https {
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
            Box::new(tls)
        } else {
            Box::new(tcp)
        };
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake::<_, WasiBody>(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "an outbound HTTP connection ended with an error");
            }
        });
        // Origin form on the wire: the host is in the Host header.
        *request.uri_mut() = http::Uri::builder()
            .path_and_query(uri.path_and_query().map_or("/", |p| p.as_str()))
            .build()
            .map_err(|_| HttpError::HttpRequestUriInvalid)?;
        let response = tokio::time::timeout_at(deadline, sender.send_request(request))
            .await
            .map_err(|_| HttpError::HttpResponseTimeout)??;
        // Read whole here, at most the cap and by the deadline, so that a
        // plugin gets either the response or its wasi:http error code.
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
        let body = http_body_util::Full::new(Bytes::from(body))
            .map_err(|never| match never {})
            .boxed_unsync();
        Ok(http::Response::from_parts(parts, body))
    }
}
