//! HTTPS clients for a non-default trust: a CA bundle (PEM) trusted instead of the system's
//! roots, or no certificate check at all (the AWS CLI's `--ca-bundle` and `--no-verify-ssl`).
//! Feature `rustls` (ring).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aws_smithy_http_client::tls;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::error::ConsumerError;

/// Which server certificates an HTTPS client accepts: by default those that chain to the
/// system's root certificates.
///
/// ```
/// let pem = b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n";
/// assert!(kvs_sdk::TlsOptions::new().ca_bundle_pem(pem.to_vec()).is_err());
/// ```
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    ca_bundle: Option<Vec<u8>>,
    no_verify: bool,
}

impl TlsOptions {
    /// The system's roots, certificates checked.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Trusts the CA certificates of this PEM bundle instead of the system's roots (as the
    /// AWS CLI's `--ca-bundle`).
    ///
    /// # Errors
    ///
    /// [`ConsumerError::Config`] if the bundle holds no certificate, or one that is not valid
    /// PEM or not a certificate rustls can use as a root.
    pub fn ca_bundle_pem(mut self, pem: Vec<u8>) -> Result<Self, ConsumerError> {
        let mut roots = rustls::RootCertStore::empty();
        let mut n = 0usize;
        for (i, cert) in CertificateDer::pem_slice_iter(&pem).enumerate() {
            let number = i.saturating_add(1);
            let cert = cert.map_err(|e| {
                ConsumerError::Config(format!("CA bundle: certificate {number} is not valid PEM: {e}"))
            })?;
            roots.add(cert).map_err(|e| {
                ConsumerError::Config(format!("CA bundle: certificate {number} cannot be used: {e}"))
            })?;
            n = number;
        }
        if n == 0 {
            return Err(ConsumerError::Config(
                "CA bundle: no PEM certificate (-----BEGIN CERTIFICATE-----) in it".into(),
            ));
        }
        self.ca_bundle = Some(pem);
        Ok(self)
    }

    /// Accepts any server certificate, unchecked (as the AWS CLI's `--no-verify-ssl`): the
    /// connection is encrypted but the server is not authenticated.
    #[must_use]
    pub fn no_verify(mut self, on: bool) -> Self {
        self.no_verify = on;
        self
    }

    /// Whether certificates are left unchecked.
    #[must_use]
    pub fn is_no_verify(&self) -> bool {
        self.no_verify
    }
}

/// An HTTP client that speaks HTTPS (rustls, ring) and plain HTTP, trusting what `options`
/// says.
#[must_use]
pub fn https_client(options: &TlsOptions) -> SharedHttpClient {
    if options.no_verify {
        return SharedHttpClient::new(NoVerifyClient { connectors: Mutex::new(HashMap::new()) });
    }
    let builder = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring));
    match &options.ca_bundle {
        Some(pem) => {
            let store = tls::TrustStore::empty().with_native_roots(false).with_pem_certificate(pem.clone());
            match tls::TlsContext::builder().with_trust_store(store).build() {
                Ok(context) => builder.tls_context(context).build_https(),
                // `build` does not fail today; keep the default roots if it ever does.
                Err(_) => builder.build_https(),
            }
        }
        None => builder.build_https(),
    }
}

/// An HTTPS client without certificate checks (`--no-verify-ssl`): hyper with hyper-rustls,
/// one connection pool per connect timeout asked for.
#[derive(Debug)]
struct NoVerifyClient {
    connectors: Mutex<HashMap<Option<Duration>, SharedHttpConnector>>,
}

impl HttpClient for NoVerifyClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        let timeout = settings.connect_timeout();
        let mut connectors = self.connectors.lock().unwrap_or_else(PoisonError::into_inner);
        connectors
            .entry(timeout)
            .or_insert_with(|| SharedHttpConnector::new(NoVerifyConnector::new(timeout)))
            .clone()
    }
}

type HyperClient = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    SdkBody,
>;

#[derive(Debug, Clone)]
struct NoVerifyConnector {
    client: HyperClient,
}

impl NoVerifyConnector {
    fn new(connect_timeout: Option<Duration>) -> Self {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = Arc::new(AcceptAnyCertificate(Arc::clone(&provider)));
        let config = match rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
        {
            Ok(b) => b.dangerous().with_custom_certificate_verifier(verifier).with_no_client_auth(),
            // ring's default provider supports the default versions: not reached.
            Err(_) => rustls::ClientConfig::builder_with_protocol_versions(&[&rustls::version::TLS13])
                .dangerous()
                .with_custom_certificate_verifier(verifier)
                .with_no_client_auth(),
        };
        let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(connect_timeout);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build(https);
        Self { client }
    }
}

impl HttpConnector for NoVerifyConnector {
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

/// Accepts every certificate; still checks the handshake signatures (so the connection is
/// encrypted to the key of the certificate shown).
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
