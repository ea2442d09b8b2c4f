//! The options that name a Kinesis Video stream and where to start reading it, shared by
//! `get-media` and `inspect --stream-name`, and the AWS access options shared with `images`;
//! the client they give is kvs-sdk's [`AwsSettings`]: the AWS default credential and region
//! chains, HTTPS with rustls, credentials resolved once before the first request.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use kvs_sdk::{AwsSettings, ConsumerError, KvsClient, StartSelector, StreamId};

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

    /// `--start-timestamp`, as given.
    pub fn start_timestamp(&self) -> Option<&str> {
        self.start_timestamp.as_deref()
    }

    /// The clock of an archive range: the server's with `--start-selector-type
    /// SERVER_TIMESTAMP`, else the producer's.
    pub fn archive_clock(&self) -> kvs_sdk::FragmentClock {
        match self.start_selector_type {
            SelectorType::ServerTimestamp => kvs_sdk::FragmentClock::Server,
            _ => kvs_sdk::FragmentClock::Producer,
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

impl AwsArgs {
    /// A client: the AWS default credential chain and region chain (see `get-media --help`),
    /// HTTPS with the trust these options give (kvs-sdk's [`AwsSettings`]).
    pub async fn client(&self) -> Result<KvsClient, String> {
        let settings = AwsSettings {
            endpoint_url: self.endpoint_url.clone(),
            region: self.region.clone(),
            profile: self.profile.clone(),
            ca_bundle: self.ca_bundle.clone(),
            no_verify_ssl: self.no_verify_ssl,
        };
        settings.load().await.map_err(|e| e.to_string())
    }
}
