//! The client: the control plane, a cache of data endpoints, one media client per endpoint,
//! and a GetMedia rate limiter per stream.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sdk_kinesisvideo::types::ApiName;
use aws_smithy_runtime_api::client::behavior_version::BehaviorVersion;
use aws_smithy_runtime_api::client::http::{HttpClient, SharedHttpClient};
use aws_smithy_runtime_api::client::stalled_stream_protection::StalledStreamProtectionConfig;
use aws_smithy_types::byte_stream::ByteStream;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use aws_types::SdkConfig;
use aws_types::region::Region;
use bytes::Bytes;
use futures_core::Stream;
use tokio::time::Instant;

use crate::error::ConsumerError;
use crate::limiter::RateLimiter;
use crate::selector::{StartSelector, StreamId};

/// How long a data endpoint is used before it is asked for again (AWS suggests 45 minutes).
pub const DEFAULT_ENDPOINT_MAX_AGE: Duration = Duration::from_secs(45 * 60);

/// The HTTP client the enabled features provide: kvs-sdk's own hyper client (each
/// connection's read buffer capped at [`DEFAULT_READ_BUFFER`](crate::DEFAULT_READ_BUFFER),
/// so that a thousand live streams do not hold half a megabyte each), plain HTTP (feature
/// `http`) and HTTPS with rustls and ring trusting the system's roots (feature `rustls`);
/// `None` without either (the caller must give one).
#[must_use]
pub fn default_http_client() -> Option<SharedHttpClient> {
    #[cfg(feature = "http")]
    {
        Some(crate::lean_http::LeanClient::shared(crate::lean_http::DEFAULT_READ_BUFFER))
    }
    #[cfg(not(feature = "http"))]
    {
        None
    }
}

#[derive(Debug, Clone)]
struct CachedEndpoint {
    url: String,
    fetched: Instant,
}

pub(crate) struct Inner {
    sdk: SdkConfig,
    control: aws_sdk_kinesisvideo::Client,
    pub(crate) stalled: StalledStreamProtectionConfig,
    endpoint_max_age: Duration,
    get_media_interval: Duration,
    endpoints: Mutex<HashMap<(StreamId, ApiName), CachedEndpoint>>,
    media: Mutex<HashMap<String, aws_sdk_kinesisvideomedia::Client>>,
    pub(crate) archive: Mutex<HashMap<String, aws_sdk_kinesisvideoarchivedmedia::Client>>,
    limiters: Mutex<HashMap<StreamId, Arc<RateLimiter>>>,
}

/// A Kinesis Video Streams client for GetMedia: cheap to clone, shared by every consumer.
///
/// It caches the data endpoint of each (stream, API) and asks `GetDataEndpoint` again after
/// [`KvsClientBuilder::endpoint_max_age`] (45 minutes by default) or when the service
/// answers `InvalidEndpointException`; it builds one media client per data endpoint, all
/// sharing one HTTP client (and its connection pool); and it spaces the GetMedia calls of
/// each stream at least 200 ms apart (the service allows 5 per second per stream).
#[derive(Clone)]
pub struct KvsClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for KvsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KvsClient")
            .field("region", &self.inner.sdk.region())
            .field("endpoint_url", &self.inner.sdk.endpoint_url())
            .field("endpoint_max_age", &self.inner.endpoint_max_age)
            .finish_non_exhaustive()
    }
}

impl KvsClient {
    /// A client over a shared SDK configuration (as `aws_config` loads it), with the
    /// defaults of [`KvsClientBuilder`].
    ///
    /// # Errors
    ///
    /// [`ConsumerError::Config`] if the configuration has no region, no HTTP client and
    /// no feature provides one.
    pub fn new(sdk: &SdkConfig) -> Result<Self, ConsumerError> {
        Self::builder().sdk_config(sdk).build()
    }

    /// A builder: from an `SdkConfig`, or from an endpoint URL, a region and credentials.
    #[must_use]
    pub fn builder() -> KvsClientBuilder {
        KvsClientBuilder::default()
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }

    /// The control-plane client (`aws-sdk-kinesisvideo`).
    #[must_use]
    pub fn control_plane(&self) -> &aws_sdk_kinesisvideo::Client {
        &self.inner.control
    }

    /// The SDK configuration the clients are built from.
    #[must_use]
    pub fn sdk_config(&self) -> &SdkConfig {
        &self.inner.sdk
    }

    /// The data endpoint of `stream` for `api`, from the cache or from `GetDataEndpoint`.
    ///
    /// # Errors
    ///
    /// The mapped error of `GetDataEndpoint` (`ResourceNotFound`, `NotAuthorized`, ...).
    pub async fn data_endpoint(&self, stream: &StreamId, api: ApiName) -> Result<String, ConsumerError> {
        let key = (stream.clone(), api.clone());
        {
            let cache = self.inner.endpoints.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(c) = cache.get(&key)
                && c.fetched.elapsed() < self.inner.endpoint_max_age
            {
                return Ok(c.url.clone());
            }
        }
        let req = self.inner.control.get_data_endpoint().api_name(api.clone());
        let req = match stream {
            StreamId::Name(n) => req.stream_name(n),
            StreamId::Arn(a) => req.stream_arn(a),
        };
        let out = req.send().await.map_err(ConsumerError::from_sdk)?;
        let url = out.data_endpoint().map(str::to_owned).ok_or_else(|| ConsumerError::Service {
            status: 200,
            code: None,
            message: "GetDataEndpoint returned no DataEndpoint".into(),
        })?;
        tracing::debug!(%stream, api = api.as_str(), endpoint = %url, "data endpoint");
        self.inner
            .endpoints
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, CachedEndpoint { url: url.clone(), fetched: Instant::now() });
        Ok(url)
    }

    /// The names of the account's streams (`ListStreams`, every page), sorted; with `prefix`,
    /// only those that begin with it (the `BEGINS_WITH` condition).
    ///
    /// # Errors
    ///
    /// The mapped error of `ListStreams` (`InvalidArgument`, `NotAuthorized`, ...).
    pub async fn list_streams(&self, prefix: Option<&str>) -> Result<Vec<String>, ConsumerError> {
        use aws_sdk_kinesisvideo::types::{ComparisonOperator, StreamNameCondition};
        let mut req = self.control_plane().list_streams();
        if let Some(p) = prefix {
            req = req.stream_name_condition(
                StreamNameCondition::builder()
                    .comparison_operator(ComparisonOperator::BeginsWith)
                    .comparison_value(p)
                    .build(),
            );
        }
        let mut pages = req.into_paginator().send();
        let mut names = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(ConsumerError::from_sdk)?;
            names.extend(page.stream_info_list().iter().filter_map(|s| s.stream_name().map(str::to_owned)));
        }
        names.sort_unstable();
        names.dedup();
        Ok(names)
    }

    /// Forgets the cached data endpoint of `stream` for `api` (the next call asks again).
    pub fn invalidate_endpoint(&self, stream: &StreamId, api: ApiName) {
        self.inner.endpoints.lock().unwrap_or_else(PoisonError::into_inner).remove(&(stream.clone(), api));
    }

    /// The media client (`aws-sdk-kinesisvideomedia`) for `stream`'s GetMedia endpoint.
    ///
    /// # Errors
    ///
    /// As [`KvsClient::data_endpoint`].
    pub async fn media_client(
        &self,
        stream: &StreamId,
    ) -> Result<aws_sdk_kinesisvideomedia::Client, ConsumerError> {
        let url = self.data_endpoint(stream, ApiName::GetMedia).await?;
        let mut media = self.inner.media.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(c) = media.get(&url) {
            return Ok(c.clone());
        }
        let conf = aws_sdk_kinesisvideomedia::config::Builder::from(&self.inner.sdk)
            .endpoint_url(url.clone())
            .stalled_stream_protection(self.inner.stalled.clone())
            // The consumer retries GetMedia itself, with back-off and the per-stream limit.
            .retry_config(RetryConfig::disabled())
            .build();
        let client = aws_sdk_kinesisvideomedia::Client::from_conf(conf);
        media.insert(url, client.clone());
        Ok(client)
    }

    /// The GetMedia rate limiter of `stream`, shared by every consumer of this client.
    #[must_use]
    pub fn limiter(&self, stream: &StreamId) -> Arc<RateLimiter> {
        let mut limiters = self.inner.limiters.lock().unwrap_or_else(PoisonError::into_inner);
        limiters
            .entry(stream.clone())
            .or_insert_with(|| Arc::new(RateLimiter::new(self.inner.get_media_interval)))
            .clone()
    }

    /// One GetMedia call: waits for the stream's rate limiter, resolves the data endpoint,
    /// sends the request and returns the payload as it arrives. On
    /// `InvalidEndpointException` the endpoint is refreshed and the call made once more.
    ///
    /// # Errors
    ///
    /// The mapped error of `GetDataEndpoint` or `GetMedia`.
    pub async fn get_media(
        &self,
        stream: &StreamId,
        start: &StartSelector,
    ) -> Result<MediaPayload, ConsumerError> {
        let selector = start.to_sdk()?;
        let mut refreshed = false;
        loop {
            self.limiter(stream).acquire().await;
            let media = self.media_client(stream).await?;
            let req = media.get_media().start_selector(selector.clone());
            let req = match stream {
                StreamId::Name(n) => req.stream_name(n),
                StreamId::Arn(a) => req.stream_arn(a),
            };
            tracing::debug!(%stream, selector = %start, "GetMedia");
            match req.send().await {
                Ok(out) => return Ok(MediaPayload { content_type: out.content_type, body: out.payload }),
                Err(e) => {
                    let e = ConsumerError::from_sdk(e);
                    if let ConsumerError::InvalidEndpoint { .. } = e {
                        tracing::info!(%stream, "InvalidEndpointException: refreshing the data endpoint");
                        self.invalidate_endpoint(stream, ApiName::GetMedia);
                        if !refreshed {
                            refreshed = true;
                            continue;
                        }
                    }
                    return Err(e);
                }
            }
        }
    }
}

/// The body of one GetMedia response: `Bytes` chunks exactly as the HTTP client received
/// them (feed them to `kvs_chunk::EventDecoder::feed`, no copy).
pub struct MediaPayload {
    content_type: Option<String>,
    body: ByteStream,
}

impl std::fmt::Debug for MediaPayload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaPayload").field("content_type", &self.content_type).finish_non_exhaustive()
    }
}

impl MediaPayload {
    pub(crate) fn new(content_type: Option<String>, body: ByteStream) -> Self {
        Self { content_type, body }
    }

    /// The response's content type (`video/webm`).
    #[must_use]
    pub fn content_type(&self) -> Option<&str> {
        self.content_type.as_deref()
    }

    /// The next chunk; `Ok(None)` at the end of the body.
    ///
    /// # Errors
    ///
    /// [`ConsumerError::Transport`] if the body breaks off.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>, ConsumerError> {
        self.body.try_next().await.map_err(|e| ConsumerError::Transport(Box::new(e)))
    }

    /// The SDK's byte stream.
    #[must_use]
    pub fn into_inner(self) -> ByteStream {
        self.body
    }

    /// kvs-chunk events straight from the body.
    #[must_use]
    pub fn into_events(self) -> kvs_chunk::EventStream<Self> {
        kvs_chunk::EventStream::new(self)
    }
}

impl Stream for MediaPayload {
    type Item = Result<Bytes, ConsumerError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.get_mut().body)
            .poll_next(cx)
            .map(|item| item.map(|r| r.map_err(|e| ConsumerError::Transport(Box::new(e)))))
    }
}

/// Builds a [`KvsClient`].
///
/// ```
/// use std::time::Duration;
/// use kvs_sdk::KvsClient;
///
/// let client = KvsClient::builder()
///     .endpoint_url("http://127.0.0.1:4566")
///     .region("us-west-2")
///     .static_credentials("AKIDEXAMPLE", "secret", None)
///     .endpoint_max_age(Duration::from_secs(600))
///     .build()?;
/// # let _ = client;
/// # Ok::<(), kvs_sdk::ConsumerError>(())
/// ```
#[derive(Debug, Clone)]
pub struct KvsClientBuilder {
    sdk: Option<SdkConfig>,
    region: Option<String>,
    endpoint_url: Option<String>,
    credentials: Option<SharedCredentialsProvider>,
    http_client: Option<SharedHttpClient>,
    endpoint_max_age: Duration,
    stalled: StalledStreamProtectionConfig,
    get_media_interval: Duration,
    connect_timeout: Duration,
}

impl Default for KvsClientBuilder {
    fn default() -> Self {
        Self {
            sdk: None,
            region: None,
            endpoint_url: None,
            credentials: None,
            http_client: None,
            endpoint_max_age: DEFAULT_ENDPOINT_MAX_AGE,
            stalled: StalledStreamProtectionConfig::disabled(),
            get_media_interval: Duration::from_millis(200),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

impl KvsClientBuilder {
    /// Starts from a shared SDK configuration (region, credentials, HTTP client, endpoint
    /// URL of the control plane); the other settings of this builder override it.
    #[must_use]
    pub fn sdk_config(mut self, sdk: &SdkConfig) -> Self {
        self.sdk = Some(sdk.clone());
        self
    }

    /// The region.
    #[must_use]
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// The control plane's URL (GetDataEndpoint), e.g. a local endpoint such as kvs-local.
    /// GetMedia goes to the data endpoint GetDataEndpoint returns.
    #[must_use]
    pub fn endpoint_url(mut self, url: impl Into<String>) -> Self {
        self.endpoint_url = Some(url.into());
        self
    }

    /// The credentials provider.
    #[must_use]
    pub fn credentials_provider(mut self, provider: impl ProvideCredentials + 'static) -> Self {
        self.credentials = Some(SharedCredentialsProvider::new(provider));
        self
    }

    /// Fixed credentials.
    #[must_use]
    pub fn static_credentials(
        self,
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
        session_token: Option<String>,
    ) -> Self {
        self.credentials_provider(Credentials::new(
            access_key_id,
            secret_access_key,
            session_token,
            None,
            "kvs-sdk",
        ))
    }

    /// The HTTP client (default: [`default_http_client`]).
    #[must_use]
    pub fn http_client(mut self, client: impl HttpClient + 'static) -> Self {
        self.http_client = Some(SharedHttpClient::new(client));
        self
    }

    /// How long a data endpoint is reused before `GetDataEndpoint` is called again
    /// (default 45 minutes).
    #[must_use]
    pub fn endpoint_max_age(mut self, age: Duration) -> Self {
        self.endpoint_max_age = age;
        self
    }

    /// The SDK's stalled-stream protection for GetMedia bodies. Disabled by default: a live
    /// stream may be silent for a while, and the consumer's idle timeout covers the body.
    #[must_use]
    pub fn stalled_stream_protection(mut self, config: StalledStreamProtectionConfig) -> Self {
        self.stalled = config;
        self
    }

    /// Shorthand: stalled-stream protection of downloads with this grace period, or
    /// disabled for `None`.
    #[must_use]
    pub fn stalled_stream_grace_period(self, grace: Option<Duration>) -> Self {
        let config = match grace {
            Some(g) => StalledStreamProtectionConfig::enabled().upload_enabled(false).grace_period(g).build(),
            None => StalledStreamProtectionConfig::disabled(),
        };
        self.stalled_stream_protection(config)
    }

    /// At most this many GetMedia calls per second per stream through this client
    /// (default 5, the service's limit).
    #[must_use]
    pub fn get_media_calls_per_second(mut self, calls: u32) -> Self {
        self.get_media_interval = RateLimiter::per_second(calls).interval();
        self
    }

    /// The connect timeout, unless the SDK configuration sets timeouts (default 5 s).
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Builds the client.
    ///
    /// # Errors
    ///
    /// [`ConsumerError::Config`] without a region, or without an HTTP client when no
    /// feature provides one.
    pub fn build(self) -> Result<KvsClient, ConsumerError> {
        let base = self.sdk.as_ref();
        let mut b = base.map_or_else(SdkConfig::builder, SdkConfig::to_builder);
        if let Some(r) = self.region {
            b.set_region(Region::new(r));
        }
        if let Some(u) = self.endpoint_url {
            b.set_endpoint_url(Some(u));
        }
        if let Some(c) = self.credentials {
            b.set_credentials_provider(Some(c));
        }
        match self.http_client {
            Some(h) => {
                b.set_http_client(Some(h));
            }
            None if base.and_then(SdkConfig::http_client).is_none() => {
                let Some(h) = default_http_client() else {
                    return Err(ConsumerError::Config(
                        "no HTTP client: enable the `http` or `rustls` feature, or give one".into(),
                    ));
                };
                b.set_http_client(Some(h));
            }
            None => {}
        }
        if base.and_then(SdkConfig::behavior_version).is_none() {
            b.set_behavior_version(Some(BehaviorVersion::latest()));
        }
        if base.and_then(SdkConfig::timeout_config).is_none() {
            b.set_timeout_config(Some(
                TimeoutConfig::builder().connect_timeout(self.connect_timeout).build(),
            ));
        }
        let sdk = b.build();
        if sdk.region().is_none() {
            return Err(ConsumerError::Config("no region".into()));
        }
        Ok(KvsClient {
            inner: Arc::new(Inner {
                control: aws_sdk_kinesisvideo::Client::new(&sdk),
                sdk,
                stalled: self.stalled,
                endpoint_max_age: self.endpoint_max_age,
                get_media_interval: self.get_media_interval,
                endpoints: Mutex::new(HashMap::new()),
                media: Mutex::new(HashMap::new()),
                archive: Mutex::new(HashMap::new()),
                limiters: Mutex::new(HashMap::new()),
            }),
        })
    }
}
