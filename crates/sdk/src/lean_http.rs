//! The HTTP client kvs-sdk gives the AWS SDK: hyper (HTTP/1.1) with each connection's read
//! buffer capped, plain HTTP and (feature `rustls`) HTTPS with rustls and ring.
//!
//! hyper grows a connection's read buffer while reads fill it, up to about 400 KiB, and
//! never shrinks it. A GetMedia response is one long body arriving a fragment at a time, so
//! with the SDK's stock client every live stream ended up holding such a buffer: 500 KiB a
//! stream, 500 MB for a thousand (measured by `stream-set-bench`). Capped at
//! [`DEFAULT_READ_BUFFER`] a connection holds at most that much, and reads of that size
//! still move far more than any stream's bitrate.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use hyper_util::client::legacy::connect::HttpConnector as TcpConnector;

/// The most a connection buffers of what it reads: 16 KiB (hyper's floor is 8 KiB).
pub const DEFAULT_READ_BUFFER: usize = 16 * 1024;

/// An [`HttpClient`] over hyper with capped read buffers: one connection pool per connect
/// timeout asked for.
pub(crate) struct LeanClient {
    /// HTTPS configuration (plain HTTP is spoken too).
    #[cfg(feature = "rustls")]
    tls: std::sync::Arc<rustls::ClientConfig>,
    read_buffer: usize,
    connectors: Mutex<HashMap<Option<Duration>, SharedHttpConnector>>,
}

impl std::fmt::Debug for LeanClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeanClient").field("read_buffer", &self.read_buffer).finish_non_exhaustive()
    }
}

impl LeanClient {
    /// Plain HTTP, and with the `rustls` feature HTTPS trusting the system's roots.
    pub(crate) fn shared(read_buffer: usize) -> SharedHttpClient {
        SharedHttpClient::new(Self {
            #[cfg(feature = "rustls")]
            tls: std::sync::Arc::new(crate::client_tls::native_roots_config()),
            // hyper refuses less than 8 KiB.
            read_buffer: read_buffer.max(8 * 1024),
            connectors: Mutex::new(HashMap::new()),
        })
    }

    /// HTTPS with `config`, and plain HTTP.
    #[cfg(feature = "rustls")]
    pub(crate) fn with_tls(config: rustls::ClientConfig, read_buffer: usize) -> SharedHttpClient {
        SharedHttpClient::new(Self {
            tls: std::sync::Arc::new(config),
            read_buffer: read_buffer.max(8 * 1024),
            connectors: Mutex::new(HashMap::new()),
        })
    }

    #[cfg(feature = "rustls")]
    fn connector(&self, tcp: TcpConnector) -> Connection {
        hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(rustls::ClientConfig::clone(&self.tls))
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp)
    }

    #[cfg(not(feature = "rustls"))]
    #[allow(clippy::unused_self)] // The TLS build's needs `self`.
    fn connector(&self, tcp: TcpConnector) -> Connection {
        tcp
    }

    fn pool(&self, connect_timeout: Option<Duration>) -> LeanConnector {
        let mut tcp = TcpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(connect_timeout);
        let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .http1_max_buf_size(self.read_buffer)
            .build(self.connector(tcp));
        LeanConnector { client }
    }
}

impl HttpClient for LeanClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        let timeout = settings.connect_timeout();
        let mut connectors = self.connectors.lock().unwrap_or_else(PoisonError::into_inner);
        connectors.entry(timeout).or_insert_with(|| SharedHttpConnector::new(self.pool(timeout))).clone()
    }
}

#[cfg(feature = "rustls")]
type Connection = hyper_rustls::HttpsConnector<TcpConnector>;
#[cfg(not(feature = "rustls"))]
type Connection = TcpConnector;

/// One pool of connections.
#[derive(Debug, Clone)]
struct LeanConnector {
    client: hyper_util::client::legacy::Client<Connection, SdkBody>,
}

impl HttpConnector for LeanConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let client = self.client.clone();
        HttpConnectorFuture::new(async move {
            let request = request.try_into_http1x().map_err(|e| ConnectorError::other(Box::new(e), None))?;
            let response = client.request(request).await.map_err(|e| {
                if e.is_connect() {
                    ConnectorError::io(Box::new(e))
                } else {
                    ConnectorError::other(Box::new(e), None)
                }
            })?;
            HttpResponse::try_from(response.map(SdkBody::from_body_1_x))
                .map_err(|e| ConnectorError::other(Box::new(e), None))
        })
    }
}

/// kvs-sdk's HTTP client ([`default_http_client`](crate::default_http_client)) with each
/// connection's read buffer capped at `bytes` instead of [`DEFAULT_READ_BUFFER`] (at least
/// 8 KiB): larger for a few streams of very high bitrate, smaller for many quiet ones.
#[must_use]
pub fn http_client_with_read_buffer(bytes: usize) -> SharedHttpClient {
    LeanClient::shared(bytes)
}
