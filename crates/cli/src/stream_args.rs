//! The options that name a Kinesis Video stream and where to start reading it, shared by
//! `get-media` and `inspect --stream-name`, and the client they build.

use clap::{Args, ValueEnum};
use kvs_sdk::{ConsumerError, KvsClient, StartSelector, StreamId};

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
    /// The control plane's URL (GetDataEndpoint), e.g. a local `kvs-mkv serve`.
    #[arg(long)]
    endpoint_url: Option<String>,
    /// The region (default: AWS_REGION, AWS_DEFAULT_REGION, else us-east-1).
    #[arg(long)]
    region: Option<String>,
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

    /// The client for this stream's endpoint and region.
    pub async fn client(&self) -> Result<KvsClient, String> {
        client(self.endpoint_url.as_deref(), self.region.as_deref()).await
    }
}

/// The region: `region`, else AWS_REGION, AWS_DEFAULT_REGION, else us-east-1.
fn resolve_region(region: Option<&str>) -> String {
    region
        .map(str::to_owned)
        .or_else(|| std::env::var("AWS_REGION").ok())
        .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
        .unwrap_or_else(|| "us-east-1".to_owned())
}

/// A client for `endpoint_url` (the control plane; AWS's when `None`) in `region`: the AWS
/// default credential chain with the `aws` feature, else credentials from the environment
/// (placeholders for a local endpoint).
pub async fn client(endpoint_url: Option<&str>, region: Option<&str>) -> Result<KvsClient, String> {
    let region = resolve_region(region);
    #[cfg(feature = "aws")]
    {
        use aws_config::BehaviorVersion;
        let mut loader =
            aws_config::defaults(BehaviorVersion::latest()).region(aws_config::Region::new(region));
        if let Some(h) = kvs_sdk::default_http_client() {
            loader = loader.http_client(h);
        }
        if let Some(url) = endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let sdk = loader.load().await;
        KvsClient::new(&sdk).map_err(|e| e.to_string())
    }
    #[cfg(not(feature = "aws"))]
    {
        if endpoint_url.is_none_or(|u| u.starts_with("https:")) {
            return Err("this build speaks plain HTTP only: give --endpoint-url http://... (e.g. a local \
                        `kvs-mkv serve`), or build kvs-cli with `--features aws` for AWS"
                .to_owned());
        }
        let key = std::env::var("AWS_ACCESS_KEY_ID").unwrap_or_else(|_| "AKIDLOCAL".to_owned());
        let secret = std::env::var("AWS_SECRET_ACCESS_KEY").unwrap_or_else(|_| "local".to_owned());
        let token = std::env::var("AWS_SESSION_TOKEN").ok();
        let mut b = KvsClient::builder().region(region).static_credentials(key, secret, token);
        if let Some(url) = endpoint_url {
            b = b.endpoint_url(url);
        }
        b.build().map_err(|e| e.to_string())
    }
}
