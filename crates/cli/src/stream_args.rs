//! The options that name a Kinesis Video stream and where to start reading it, shared by
//! `get-media` and `inspect --stream-name`, the AWS access options shared with `images`, and
//! the client they build: the AWS default credential and region chains, HTTPS with rustls,
//! credentials resolved once before the first request (an unknown profile or no credentials
//! at all is one clear error, not a retried dispatch failure).

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
use clap::{Args, ValueEnum};
use kvs_sdk::sdk::aws_types::os_shim_internal::{Env, Fs};
use kvs_sdk::{ConsumerError, KvsClient, StartSelector, StreamId, TlsOptions};

/// GetMedia's StartSelectorType.
#[derive(Clone, Copy, ValueEnum)]
#[value(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SelectorType {
    Now,
    Earliest,
    FragmentNumber,
    ServerTimestamp,
    ProducerTimestamp,
    ContinuationToken,
}

impl SelectorType {
    fn api_name(self) -> &'static str {
        match self {
            SelectorType::Now => "NOW",
            SelectorType::Earliest => "EARLIEST",
            SelectorType::FragmentNumber => "FRAGMENT_NUMBER",
            SelectorType::ServerTimestamp => "SERVER_TIMESTAMP",
            SelectorType::ProducerTimestamp => "PRODUCER_TIMESTAMP",
            SelectorType::ContinuationToken => "CONTINUATION_TOKEN",
        }
    }
}

/// A stream, its endpoint and region, and the start selector.
#[derive(Args)]
pub struct StreamArgs {
    /// The stream's name.
    #[arg(long, conflicts_with = "stream_arn")]
    pub stream_name: Option<String>,
    /// The stream's ARN.
    #[arg(long)]
    pub stream_arn: Option<String>,
    /// Where the service is and which credentials, region and certificates to use.
    #[command(flatten)]
    pub aws: AwsArgs,
    /// Where to start reading the stream.
    #[arg(long, value_enum, default_value = "NOW")]
    start_selector_type: SelectorType,
    /// For FRAGMENT_NUMBER: start after this fragment.
    #[arg(long)]
    after_fragment_number: Option<String>,
    /// For SERVER_TIMESTAMP / PRODUCER_TIMESTAMP: epoch seconds (`1511852109.126`) or
    /// RFC 3339 (`2017-11-28T06:55:09.126Z`).
    #[arg(long)]
    start_timestamp: Option<String>,
    /// For CONTINUATION_TOKEN: the token of the last fragment read.
    #[arg(long)]
    continuation_token: Option<String>,
}

/// How the AWS CLI's global options reach the service: endpoint, region, profile and TLS
/// trust. Credentials come from the AWS default chain (see `get-media --help`).
#[derive(Args, Clone, Debug, Default)]
pub struct AwsArgs {
    /// The control plane's URL (GetDataEndpoint): https:// or http:// (e.g. a local
    /// `kvs-mkv serve`) [default: the region's AWS endpoint].
    #[arg(long, value_name = "URL", help_heading = "AWS access")]
    pub endpoint_url: Option<String>,
    /// The region [default: AWS_REGION, AWS_DEFAULT_REGION, the profile's `region`, else
    /// us-east-1].
    #[arg(long, help_heading = "AWS access")]
    pub region: Option<String>,
    /// The named profile of ~/.aws/config and ~/.aws/credentials for credentials and region
    /// [default: AWS_PROFILE, else `default`].
    #[arg(long, value_name = "NAME", help_heading = "AWS access")]
    pub profile: Option<String>,
    /// Trust the CA certificates in this PEM file instead of the system's roots when
    /// checking the server's certificate [default: AWS_CA_BUNDLE].
    #[arg(long, value_name = "FILE", help_heading = "AWS access")]
    pub ca_bundle: Option<PathBuf>,
    /// Do not check the server's certificate (the connection is encrypted but the server is
    /// not authenticated).
    #[arg(long, conflicts_with = "ca_bundle", help_heading = "AWS access")]
    pub no_verify_ssl: bool,
}

impl StreamArgs {
    /// The stream's name or ARN, for messages; `None` when neither was given.
    pub fn label(&self) -> Option<&str> {
        self.stream_name.as_deref().or(self.stream_arn.as_deref())
    }

    /// The stream, by name or ARN.
    pub fn stream(&self) -> StreamId {
        match (&self.stream_name, &self.stream_arn) {
            (Some(name), _) => StreamId::name(name),
            (None, Some(arn)) => StreamId::arn(arn),
            (None, None) => StreamId::name(""),
        }
    }

    /// The start selector.
    pub fn selector(&self) -> Result<StartSelector, ConsumerError> {
        StartSelector::from_parts(
            self.start_selector_type.api_name(),
            self.after_fragment_number.as_deref(),
            self.start_timestamp.as_deref(),
            self.continuation_token.as_deref(),
        )
    }

    /// The client for this stream's endpoint, region, profile and certificates.
    pub async fn client(&self) -> Result<KvsClient, String> {
        self.aws.client().await
    }
}

/// The region when nothing names one.
const FALLBACK_REGION: &str = "us-east-1";

impl AwsArgs {
    /// A client: the AWS default credential chain and region chain (see `get-media --help`),
    /// HTTPS with the trust these options give.
    ///
    /// An unknown `--profile` is refused before anything else, and the credentials are
    /// resolved once here: a chain that yields none (an unknown `AWS_PROFILE`, a profile
    /// without keys, ...) is one line of error instead of retried requests.
    pub async fn client(&self) -> Result<KvsClient, String> {
        if let Some(name) = &self.profile
            && !profile_defined(name).await?
        {
            return Err(profile_not_found(name, "--profile"));
        }
        let tls = self.tls_options()?;
        let http = kvs_sdk::https_client(&tls);
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
            // A local endpoint: no instance or container role (no request leaves the machine
            // for them), and placeholder credentials when nothing names any.
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
        builder.build().map_err(|e| e.to_string())
    }

    /// The line for a credential chain that yielded nothing: the selected profile when the
    /// profile files do not define it, else the chain's own words.
    async fn credentials_error(&self, e: &CredentialsError) -> String {
        let selected = match &self.profile {
            Some(name) => Some((name.clone(), "--profile")),
            None => std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty()).map(|p| (p, "AWS_PROFILE")),
        };
        if let Some((name, source)) = &selected
            && matches!(profile_defined(name).await, Ok(false))
        {
            return profile_not_found(name, source);
        }
        let profile = selected.map_or_else(|| "default".to_owned(), |(name, _)| name);
        if matches!(e, CredentialsError::CredentialsNotLoaded(_)) {
            // Every source said "not mine": aws-config's words for that say nothing useful.
            return format!(
                "no AWS credentials: none in the environment (AWS_ACCESS_KEY_ID), in profile \
                 {profile:?} of {}, or from the rest of the default chain",
                profile_files()
            );
        }
        format!("no AWS credentials (profile {profile:?}): {}", error_chain(e))
    }

    /// The certificates to trust: --ca-bundle, else AWS_CA_BUNDLE, else the system's;
    /// none checked with --no-verify-ssl.
    fn tls_options(&self) -> Result<TlsOptions, String> {
        if self.no_verify_ssl {
            return Ok(TlsOptions::new().no_verify(true));
        }
        let (path, source) = match (&self.ca_bundle, std::env::var_os("AWS_CA_BUNDLE")) {
            (Some(p), _) => (p.clone(), "--ca-bundle"),
            (None, Some(p)) if !p.is_empty() => (PathBuf::from(p), "AWS_CA_BUNDLE"),
            _ => return Ok(TlsOptions::new()),
        };
        let pem = std::fs::read(&path).map_err(|e| format!("{source} {}: {e}", path.display()))?;
        TlsOptions::new().ca_bundle_pem(pem).map_err(|e| format!("{source} {}: {e}", path.display()))
    }
}

/// Whether ~/.aws/config or ~/.aws/credentials (or the files AWS_CONFIG_FILE and
/// AWS_SHARED_CREDENTIALS_FILE name) define the profile `name`.
async fn profile_defined(name: &str) -> Result<bool, String> {
    let set = aws_config::profile::load(
        &Fs::real(),
        &Env::real(),
        // The default files (the type's name in aws-config is deprecated for aws-runtime's).
        &Default::default(),
        Some(name.to_owned().into()),
    )
    .await
    .map_err(|e| format!("cannot read {}: {}", profile_files(), one_line(&e.to_string())))?;
    Ok(set.get_profile(name).is_some())
}

/// `profile "nope" not found in ~/.aws/config or ~/.aws/credentials`.
fn profile_not_found(name: &str, source: &str) -> String {
    let via = if source == "AWS_PROFILE" { " (from AWS_PROFILE)" } else { "" };
    format!("profile {name:?}{via} not found in {}", profile_files())
}

/// The profile files read: `~/.aws/config or ~/.aws/credentials`, or what AWS_CONFIG_FILE and
/// AWS_SHARED_CREDENTIALS_FILE name.
fn profile_files() -> String {
    let file = |var: &str, default: &str| {
        std::env::var(var).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_owned())
    };
    format!(
        "{} or {}",
        file("AWS_CONFIG_FILE", "~/.aws/config"),
        file("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials")
    )
}

/// An error and its sources, `: `-separated, on one line.
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

/// `text` on one line.
fn one_line(text: &str) -> String {
    text.split(['\n', '\r']).map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}

/// A credentials provider that answers its first call with credentials already resolved
/// (by [`AwsArgs::client`], to fail before the first request) and every later one (a
/// refresh) from the chain: the chain is not asked twice for the same credentials (a
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
mod tests {
    use super::is_loopback_url;

    #[test]
    fn loopback_urls() {
        for url in [
            "http://127.0.0.1:4567",
            "https://localhost/x",
            "http://[::1]:80",
            "http://127.9.0.1",
            "https://u@127.0.0.1:1",
        ] {
            assert!(is_loopback_url(url), "{url}");
        }
        for url in [
            "https://kinesisvideo.us-east-1.amazonaws.com",
            "http://10.0.0.1:4567",
            "http://[::2]",
            "http://localhost.example.com",
        ] {
            assert!(!is_loopback_url(url), "{url}");
        }
    }
}
