//! HTTPS clients for a non-default trust: a CA bundle (PEM) trusted instead of the system's
//! roots, or no certificate check at all (the AWS CLI's `--ca-bundle` and `--no-verify-ssl`).
//! Feature `rustls` (ring).

use std::sync::Arc;

use aws_smithy_runtime_api::client::http::SharedHttpClient;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::error::ConsumerError;
use crate::lean_http::LeanClient;

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
/// says (kvs-sdk's own hyper client: see [`DEFAULT_READ_BUFFER`](crate::DEFAULT_READ_BUFFER)).
#[must_use]
pub fn https_client(options: &TlsOptions) -> SharedHttpClient {
    let read_buffer = crate::lean_http::DEFAULT_READ_BUFFER;
    if options.no_verify {
        return LeanClient::with_tls(no_verify_config(), read_buffer);
    }
    match &options.ca_bundle {
        Some(pem) => {
            let mut roots = rustls::RootCertStore::empty();
            // Checked by `ca_bundle_pem`.
            roots.add_parsable_certificates(CertificateDer::pem_slice_iter(pem).filter_map(Result::ok));
            LeanClient::with_tls(config_with_roots(roots), read_buffer)
        }
        None => LeanClient::with_tls(native_roots_config(), read_buffer),
    }
}

/// TLS trusting `roots`, ring, the safe default protocol versions.
fn config_with_roots(roots: rustls::RootCertStore) -> rustls::ClientConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    match rustls::ClientConfig::builder_with_provider(provider).with_safe_default_protocol_versions() {
        Ok(b) => b.with_root_certificates(roots).with_no_client_auth(),
        // ring's default provider supports the default versions: not reached.
        Err(_) => rustls::ClientConfig::builder_with_protocol_versions(&[&rustls::version::TLS13])
            .with_root_certificates(roots)
            .with_no_client_auth(),
    }
}

/// TLS trusting the system's root certificates (those it can read; an unreadable one is
/// skipped, as the AWS SDK's own client does).
pub(crate) fn native_roots_config() -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    for e in &found.errors {
        tracing::debug!(error = %e, "a system root certificate could not be read");
    }
    roots.add_parsable_certificates(found.certs);
    config_with_roots(roots)
}

/// TLS without certificate checks (`--no-verify-ssl`).
fn no_verify_config() -> rustls::ClientConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(AcceptAnyCertificate(Arc::clone(&provider)));
    match rustls::ClientConfig::builder_with_provider(provider).with_safe_default_protocol_versions() {
        Ok(b) => b.dangerous().with_custom_certificate_verifier(verifier).with_no_client_auth(),
        // ring's default provider supports the default versions: not reached.
        Err(_) => rustls::ClientConfig::builder_with_protocol_versions(&[&rustls::version::TLS13])
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth(),
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
