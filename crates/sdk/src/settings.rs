//! A [`KvsClient`] as the AWS CLI would reach the service (feature `aws-config`): the AWS
//! default credential and region chains (environment, the profiles of `~/.aws/config` and
//! `~/.aws/credentials`, SSO, `credential_process`, web identity, container and instance
//! roles), HTTPS with rustls and the trust the AWS CLI's `--ca-bundle` / `--no-verify-ssl`
//! give, and loopback `http://` endpoints (a local kvs-local server).
//!
//! The credentials are resolved once, in [`AwsSettings::load`], before the first request: an
//! unknown profile or a chain that yields nothing is one [`ConfigError`], not a request retried
//! until it gives up. The client's first request then uses those credentials; later refreshes
//! ask the chain again.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Mutex;

use aws_config::BehaviorVersion;
use aws_config::Region;
use aws_config::environment::{EnvironmentVariableCredentialsProvider, EnvironmentVariableRegionProvider};
use aws_config::meta::credentials::CredentialsProviderChain;
use aws_config::meta::region::RegionProviderChain;
use aws_config::profile::{ProfileFileCredentialsProvider, ProfileFileRegionProvider};
use aws_config::provider_config::ProviderConfig;
use aws_credential_types::Credentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider, future};
use aws_types::os_shim_internal::{Env, Fs};

use crate::client::KvsClient;
use crate::client_tls::{TlsOptions, https_client};
use crate::error::ConsumerError;

/// The region when nothing names one.
pub const FALLBACK_REGION: &str = "us-east-1";

/// Where the service is and which credentials, region and certificates to use: the AWS CLI's
/// global options (`--endpoint-url`, `--region`, `--profile`, `--ca-bundle`,
/// `--no-verify-ssl`). What is not set comes from the environment and the profile files, as
/// in the AWS CLI.
///
/// ```no_run
/// # async fn f() -> Result<(), kvs_sdk::ConfigError> {
/// let client = kvs_sdk::AwsSettings { profile: Some("video".into()), ..Default::default() }
///     .load()
///     .await?;
/// # let _ = client; Ok(()) }
/// ```
#[derive(Clone, Debug, Default)]
pub struct AwsSettings {
    /// The control plane's URL (GetDataEndpoint): `https://`, or `http://` (e.g. a local
    /// kvs-local server). `None`: the region's AWS endpoint.
    pub endpoint_url: Option<String>,
    /// The region. `None`: `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's `region`, else
    /// [`FALLBACK_REGION`].
    pub region: Option<String>,
    /// The named profile of the profile files. `None`: `AWS_PROFILE`, else `default`.
    pub profile: Option<String>,
    /// Trust the CA certificates in this PEM file instead of the system's roots. `None`:
    /// `AWS_CA_BUNDLE` if set, else the system's roots.
    pub ca_bundle: Option<PathBuf>,
    /// Check no server certificate (the connection is encrypted but the server is not
    /// authenticated); wins over `ca_bundle`.
    pub no_verify_ssl: bool,
}

/// Why [`AwsSettings::load`] gave no client. The texts are one line each.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The selected profile is in neither profile file:
    /// `profile "nope" not found in ~/.aws/config or ~/.aws/credentials`.
    #[error("profile {name:?}{} not found in {files}", if *.from_env { " (from AWS_PROFILE)" } else { "" })]
    ProfileNotFound {
        /// The profile's name.
        name: String,
        /// Whether `AWS_PROFILE` named it (rather than [`AwsSettings::profile`]).
        from_env: bool,
        /// The profile files read (`~/.aws/config or ~/.aws/credentials`, or what
        /// `AWS_CONFIG_FILE` and `AWS_SHARED_CREDENTIALS_FILE` name).
        files: String,
    },
    /// The profile files could not be read or parsed.
    #[error("cannot read {files}: {message}")]
    ProfileFiles {
        /// The profile files.
        files: String,
        /// What went wrong, on one line.
        message: String,
    },
    /// Every source of the default chain said it has no credentials.
    #[error(
        "no AWS credentials: none in the environment (AWS_ACCESS_KEY_ID), in profile {profile:?} \
         of {files}, or from the rest of the default chain"
    )]
    NoCredentials {
        /// The profile looked in.
        profile: String,
        /// The profile files.
        files: String,
    },
    /// A source of the chain failed (an SSO token expired, a `credential_process` failed, ...).
    #[error("no AWS credentials (profile {profile:?}): {message}")]
    Credentials {
        /// The profile looked in.
        profile: String,
        /// The error and its sources, on one line.
        message: String,
    },
    /// The CA bundle cannot be read or holds no usable certificate:
    /// `--ca-bundle ca.pem: No such file or directory (os error 2)`.
    #[error("{} {}: {message}", if *.from_env { "AWS_CA_BUNDLE" } else { "--ca-bundle" }, .path.display())]
    CaBundle {
        /// The bundle's path.
        path: PathBuf,
        /// Whether `AWS_CA_BUNDLE` named it (rather than [`AwsSettings::ca_bundle`]).
        from_env: bool,
        /// What went wrong.
        message: String,
    },
    /// The client could not be built.
    #[error(transparent)]
    Client(#[from] ConsumerError),
}

impl AwsSettings {
    /// Settings with nothing set: everything from the environment and the profile files.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// With this endpoint URL.
    #[must_use]
    pub fn endpoint_url(mut self, url: impl Into<String>) -> Self {
        self.endpoint_url = Some(url.into());
        self
    }

    /// With this region.
    #[must_use]
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// With this profile.
    #[must_use]
    pub fn profile(mut self, name: impl Into<String>) -> Self {
        self.profile = Some(name.into());
        self
    }

    /// Trusting the CA certificates of this PEM file.
    #[must_use]
    pub fn ca_bundle(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_bundle = Some(path.into());
        self
    }

    /// Checking no certificate, or checking them.
    #[must_use]
    pub fn no_verify_ssl(mut self, on: bool) -> Self {
        self.no_verify_ssl = on;
        self
    }

    /// A client: the AWS default credential and region chains, HTTPS (rustls) with the trust
    /// these settings give, credentials resolved once before any request.
    ///
    /// Against a loopback endpoint (`127.0.0.0/8`, `[::1]`, `localhost`) the instance and
    /// container roles are not asked (no request leaves the machine for them), the region
    /// falls back to [`FALLBACK_REGION`], and placeholder credentials stand in when neither
    /// the environment nor a named profile gives any.
    ///
    /// # Errors
    ///
    /// [`ConfigError::ProfileNotFound`] for a profile the files do not define (checked before
    /// anything else when [`profile`](Self::profile) is set), [`ConfigError::NoCredentials`]
    /// or [`ConfigError::Credentials`] when the chain yields none, [`ConfigError::CaBundle`]
    /// for an unusable CA bundle, [`ConfigError::Client`] if the client cannot be built.
    pub async fn load(&self) -> Result<KvsClient, ConfigError> {
        if let Some(name) = &self.profile
            && !profile_defined(name).await?
        {
            return Err(profile_not_found(name, false));
        }
        let tls = self.tls_options()?;
        let http = https_client(&tls);
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(http.clone());
        if let Some(name) = &self.profile {
            loader = loader.profile_name(name);
        }
        if let Some(url) = &self.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        if let Some(region) = &self.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if self.endpoint_url.as_deref().is_some_and(is_loopback_url) {
            let config = ProviderConfig::default().with_http_client(http);
            if self.region.is_none() {
                let mut profile_region = ProfileFileRegionProvider::builder().configure(&config);
                if let Some(name) = &self.profile {
                    profile_region = profile_region.profile_name(name);
                }
                loader = loader.region(
                    RegionProviderChain::first_try(EnvironmentVariableRegionProvider::new())
                        .or_else(profile_region.build())
                        .or_else(Region::new(FALLBACK_REGION)),
                );
            }
            let mut profile = ProfileFileCredentialsProvider::builder().configure(&config);
            if let Some(name) = &self.profile {
                profile = profile.profile_name(name);
            }
            let mut chain = CredentialsProviderChain::first_try(
                "Environment",
                EnvironmentVariableCredentialsProvider::new(),
            )
            .or_else("Profile", profile.build());
            if self.profile.is_none() && std::env::var_os("AWS_PROFILE").is_none() {
                chain = chain.or_else(
                    "LocalPlaceholder",
                    Credentials::new("AKIDLOCAL", "local", None, None, "kvs-mkv placeholder"),
                );
            }
            loader = loader.credentials_provider(chain);
        }
        let sdk = loader.load().await;
        let mut builder = KvsClient::builder().sdk_config(&sdk);
        if let Some(provider) = sdk.credentials_provider() {
            match provider.provide_credentials().await {
                Ok(first) => builder = builder.credentials_provider(Primed::new(first, provider)),
                Err(e) => return Err(self.credentials_error(&e).await),
            }
        }
        if sdk.region().is_none() {
            builder = builder.region(FALLBACK_REGION);
        }
        Ok(builder.build()?)
    }

    /// The error for a chain that yielded nothing: the selected profile when the profile
    /// files do not define it, else the chain's own words.
    async fn credentials_error(&self, e: &CredentialsError) -> ConfigError {
        let selected = match &self.profile {
            Some(name) => Some((name.clone(), false)),
            None => std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty()).map(|p| (p, true)),
        };
        if let Some((name, from_env)) = &selected
            && matches!(profile_defined(name).await, Ok(false))
        {
            return profile_not_found(name, *from_env);
        }
        let profile = selected.map_or_else(|| "default".to_owned(), |(name, _)| name);
        if matches!(e, CredentialsError::CredentialsNotLoaded(_)) {
            // Every source said "not mine": aws-config's words for that say nothing useful.
            return ConfigError::NoCredentials { profile, files: profile_files() };
        }
        ConfigError::Credentials { profile, message: error_chain(e) }
    }

    /// The certificates to trust: `ca_bundle`, else `AWS_CA_BUNDLE`, else the system's;
    /// none checked with `no_verify_ssl`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::CaBundle`] if the bundle cannot be read or holds no usable certificate.
    pub fn tls_options(&self) -> Result<TlsOptions, ConfigError> {
        if self.no_verify_ssl {
            return Ok(TlsOptions::new().no_verify(true));
        }
        let (path, from_env) = match (&self.ca_bundle, std::env::var_os("AWS_CA_BUNDLE")) {
            (Some(p), _) => (p.clone(), false),
            (None, Some(p)) if !p.is_empty() => (PathBuf::from(p), true),
            _ => return Ok(TlsOptions::new()),
        };
        let failed = |message: String| ConfigError::CaBundle { path: path.clone(), from_env, message };
        let pem = std::fs::read(&path).map_err(|e| failed(e.to_string()))?;
        TlsOptions::new().ca_bundle_pem(pem).map_err(|e| failed(e.to_string()))
    }
}

/// Whether the profile files define the profile `name`.
async fn profile_defined(name: &str) -> Result<bool, ConfigError> {
    let set = aws_config::profile::load(
        &Fs::real(),
        &Env::real(),
        // The default files (the type's name in aws-config is deprecated for aws-runtime's).
        &Default::default(),
        Some(name.to_owned().into()),
    )
    .await
    .map_err(|e| ConfigError::ProfileFiles { files: profile_files(), message: one_line(&e.to_string()) })?;
    Ok(set.get_profile(name).is_some())
}

fn profile_not_found(name: &str, from_env: bool) -> ConfigError {
    ConfigError::ProfileNotFound { name: name.to_owned(), from_env, files: profile_files() }
}

/// The profile files read: `~/.aws/config or ~/.aws/credentials`, or what `AWS_CONFIG_FILE`
/// and `AWS_SHARED_CREDENTIALS_FILE` name.
fn profile_files() -> String {
    profile_files_in(|var| std::env::var(var).ok())
}

fn profile_files_in(env: impl Fn(&str) -> Option<String>) -> String {
    let file =
        |var: &str, default: &str| env(var).filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_owned());
    format!(
        "{} or {}",
        file("AWS_CONFIG_FILE", "~/.aws/config"),
        file("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials")
    )
}

/// An error and its sources, `: `-separated (a source whose text is already there left out),
/// on one line.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let next = s.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = s.source();
    }
    one_line(&text)
}

/// `text` on one line: its lines trimmed, the empty ones dropped, joined by spaces.
fn one_line(text: &str) -> String {
    text.split(['\n', '\r']).map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}

/// A credentials provider that answers its first call with credentials already resolved (by
/// [`AwsSettings::load`], to fail before the first request) and every later one (a refresh)
/// from the chain: the chain is not asked twice for the same credentials (a
/// `credential_process` run twice, an SSO token read twice).
#[derive(Debug)]
struct Primed {
    first: Mutex<Option<Credentials>>,
    chain: SharedCredentialsProvider,
}

impl Primed {
    fn new(first: Credentials, chain: SharedCredentialsProvider) -> Self {
        Primed { first: Mutex::new(Some(first)), chain }
    }
}

impl ProvideCredentials for Primed {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        let first = self.first.lock().ok().and_then(|mut f| f.take());
        match first {
            Some(creds) => future::ProvideCredentials::ready(Ok(creds)),
            None => self.chain.provide_credentials(),
        }
    }
}

/// Whether `url`'s host is a loopback address (`127.0.0.0/8`, `[::1]`) or `localhost`.
fn is_loopback_url(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host_port.split(':').next().unwrap_or_default(),
    };
    host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    #[test]
    fn loopback_urls() {
        for url in [
            "http://127.0.0.1:4567",
            "https://localhost/x",
            "http://[::1]:80",
            "http://127.9.0.1",
            "https://u@127.0.0.1:1",
            "localhost:4567",
        ] {
            assert!(is_loopback_url(url), "{url}");
        }
        for url in [
            "https://kinesisvideo.us-east-1.amazonaws.com",
            "http://10.0.0.1:4567",
            "http://[::2]",
            "http://localhost.example.com",
            "",
        ] {
            assert!(!is_loopback_url(url), "{url}");
        }
    }

    #[test]
    fn profile_files_default_and_overridden() {
        assert_eq!(profile_files_in(|_| None), "~/.aws/config or ~/.aws/credentials");
        assert_eq!(
            profile_files_in(|v| (v == "AWS_CONFIG_FILE").then(|| "/etc/aws.cfg".to_owned())),
            "/etc/aws.cfg or ~/.aws/credentials"
        );
        assert_eq!(
            profile_files_in(|v| Some(if v == "AWS_CONFIG_FILE" { String::new() } else { "/c".to_owned() })),
            "~/.aws/config or /c"
        );
    }

    #[test]
    fn error_texts() {
        let files = "a or b".to_owned();
        let e = ConfigError::ProfileNotFound { name: "nope".into(), from_env: false, files: files.clone() };
        assert_eq!(e.to_string(), r#"profile "nope" not found in a or b"#);
        let e = ConfigError::ProfileNotFound { name: "env".into(), from_env: true, files: files.clone() };
        assert_eq!(e.to_string(), r#"profile "env" (from AWS_PROFILE) not found in a or b"#);
        let e = ConfigError::NoCredentials { profile: "default".into(), files };
        assert_eq!(
            e.to_string(),
            "no AWS credentials: none in the environment (AWS_ACCESS_KEY_ID), in profile \"default\" \
             of a or b, or from the rest of the default chain"
        );
        let e = ConfigError::CaBundle { path: "ca.pem".into(), from_env: true, message: "bad".into() };
        assert_eq!(e.to_string(), "AWS_CA_BUNDLE ca.pem: bad");
    }

    #[derive(Debug)]
    struct Outer(std::io::Error);
    impl std::fmt::Display for Outer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("outer\n  failed")
        }
    }
    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn error_chain_is_one_line_without_repeats() {
        let e = Outer(std::io::Error::other("inner"));
        assert_eq!(error_chain(&e), "outer failed: inner");
        let e = Outer(std::io::Error::other("failed"));
        assert_eq!(error_chain(&e), "outer failed");
    }

    #[test]
    fn ca_bundle_errors_name_the_setting_and_file() {
        let settings = AwsSettings::new().ca_bundle("/nonexistent/kvs-sdk-ca.pem");
        let e = settings.tls_options().unwrap_err();
        assert!(matches!(e, ConfigError::CaBundle { from_env: false, .. }), "{e:?}");
        assert!(e.to_string().starts_with("--ca-bundle /nonexistent/kvs-sdk-ca.pem: "), "{e}");
        // --no-verify-ssl wins over a bundle.
        assert!(settings.no_verify_ssl(true).tls_options().unwrap().is_no_verify());
    }

    #[tokio::test]
    async fn unknown_profile_is_refused_before_anything_else() {
        let name = "kvs-sdk-test-profile-that-does-not-exist";
        let e = AwsSettings::new().profile(name).endpoint_url("http://127.0.0.1:9").load().await.unwrap_err();
        match &e {
            ConfigError::ProfileNotFound { name: n, from_env: false, .. } => assert_eq!(n, name),
            other => panic!("{other:?}"),
        }
        assert!(e.to_string().starts_with(&format!("profile {name:?} not found in ")), "{e}");
    }

    #[tokio::test]
    async fn primed_answers_first_from_the_resolved_then_from_the_chain() {
        let first = Credentials::new("FIRST", "s1", None, None, "test");
        let chain = SharedCredentialsProvider::new(Credentials::new("CHAIN", "s2", None, None, "test"));
        let primed = Primed::new(first, chain);
        assert_eq!(primed.provide_credentials().await.unwrap().access_key_id(), "FIRST");
        assert_eq!(primed.provide_credentials().await.unwrap().access_key_id(), "CHAIN");
        assert_eq!(primed.provide_credentials().await.unwrap().access_key_id(), "CHAIN");
    }
}
