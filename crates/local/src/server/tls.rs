//! HTTPS: a certificate chain and its private key (PEM), served with rustls (ring) over the
//! same connection loop as plain HTTP.

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Why a certificate or key could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The certificate file holds no PEM certificate, or a malformed one.
    #[error("the certificate PEM holds no usable certificate: {0}")]
    Certificate(String),
    /// The key file holds no PEM private key (PKCS#8, PKCS#1 or SEC1), or a malformed one.
    #[error("the key PEM holds no usable private key: {0}")]
    Key(String),
    /// rustls refused the pair (a key that does not match the certificate, an unsupported
    /// key type).
    #[error("the certificate and key cannot be used together: {0}")]
    Config(String),
}

/// A server certificate chain and key, ready to serve HTTPS ([`crate::Builder::tls`]).
#[derive(Clone)]
pub struct TlsConfig {
    pub(crate) server: Arc<rustls::ServerConfig>,
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig").finish_non_exhaustive()
    }
}

impl TlsConfig {
    /// From PEM text: the certificate chain (the server's certificate first, then any
    /// intermediates) and its private key (PKCS#8, PKCS#1 or SEC1).
    ///
    /// # Errors
    ///
    /// [`TlsError`] if either holds nothing usable or they do not belong together.
    pub fn from_pem(cert_chain: &[u8], key: &[u8]) -> Result<Self, TlsError> {
        let certs = CertificateDer::pem_slice_iter(cert_chain)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TlsError::Certificate(e.to_string()))?;
        if certs.is_empty() {
            return Err(TlsError::Certificate("no -----BEGIN CERTIFICATE----- block".into()));
        }
        let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| TlsError::Key(e.to_string()))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| TlsError::Config(e.to_string()))?;
        // HTTP/1 only, as the connection loop serves.
        server.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self { server: Arc::new(server) })
    }

    /// From two PEM files, as `kvs-mkv serve --tls-cert CERT --tls-key KEY` takes them.
    ///
    /// # Errors
    ///
    /// [`TlsError::Io`] if a file cannot be read, else as [`TlsConfig::from_pem`].
    pub fn from_pem_files(cert_chain: &Path, key: &Path) -> Result<Self, TlsError> {
        let read = |p: &Path| {
            std::fs::read(p).map_err(|source| TlsError::Io { path: p.display().to_string(), source })
        };
        Self::from_pem(&read(cert_chain)?, &read(key)?)
    }
}
