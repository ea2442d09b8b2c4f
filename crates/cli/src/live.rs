//! Live streams for `inspect --stream-name`: GetMedia through kvs-sdk's consumer (resumed
//! after cuts), with a spinner on stderr and Ctrl-C ending with the summary.

use std::io::{self, Write};
use std::process::ExitCode;
use std::time::Duration;

use futures_util::StreamExt;
use kvs_sdk::{ConsumerError, ConsumerEvent, ErrorPolicy, KvsClient, MediaConsumer, StartSelector, StreamId};

use crate::get_media::SelectorType;
use crate::inspect::Inspector;
use crate::progress::{Progress, catch_ctrl_c, interrupted};

/// Where a live stream is read from.
#[derive(clap::Args)]
pub struct LiveArgs {
    /// Inspect a live Kinesis Video stream by name instead of a file.
    #[arg(long, conflicts_with = "stream_arn")]
    stream_name: Option<String>,
    /// Inspect a live Kinesis Video stream by ARN.
    #[arg(long)]
    stream_arn: Option<String>,
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
    /// For SERVER_TIMESTAMP / PRODUCER_TIMESTAMP: epoch seconds or RFC 3339.
    #[arg(long)]
    start_timestamp: Option<String>,
    /// For CONTINUATION_TOKEN: the token of the last fragment read.
    #[arg(long)]
    continuation_token: Option<String>,
    /// Read on until Ctrl-C, resuming after every end of a response.
    #[arg(long)]
    follow: bool,
    /// Stop after this many fragments.
    #[arg(long)]
    max_fragments: Option<u64>,
}

impl LiveArgs {
    fn stream(&self) -> StreamId {
        match (&self.stream_name, &self.stream_arn) {
            (Some(name), _) => StreamId::name(name),
            (None, Some(arn)) => StreamId::arn(arn),
            (None, None) => StreamId::name(""),
        }
    }

    fn selector(&self) -> Result<StartSelector, ConsumerError> {
        let name = match self.start_selector_type {
            SelectorType::Now => "NOW",
            SelectorType::Earliest => "EARLIEST",
            SelectorType::FragmentNumber => "FRAGMENT_NUMBER",
            SelectorType::ServerTimestamp => "SERVER_TIMESTAMP",
            SelectorType::ProducerTimestamp => "PRODUCER_TIMESTAMP",
            SelectorType::ContinuationToken => "CONTINUATION_TOKEN",
        };
        StartSelector::from_parts(
            name,
            self.after_fragment_number.as_deref(),
            self.start_timestamp.as_deref(),
            self.continuation_token.as_deref(),
        )
    }

    fn region(&self) -> String {
        self.region
            .clone()
            .or_else(|| std::env::var("AWS_REGION").ok())
            .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
            .unwrap_or_else(|| "us-east-1".to_owned())
    }

    /// The client: the AWS default chain with the `aws` feature, else credentials from the
    /// environment (placeholders for a local endpoint).
    async fn client(&self) -> Result<KvsClient, String> {
        #[cfg(feature = "aws")]
        {
            use aws_config::BehaviorVersion;
            let mut loader = aws_config::defaults(BehaviorVersion::latest())
                .region(aws_config::Region::new(self.region()));
            if let Some(h) = kvs_sdk::default_http_client() {
                loader = loader.http_client(h);
            }
            if let Some(url) = &self.endpoint_url {
                loader = loader.endpoint_url(url);
            }
            let sdk = loader.load().await;
            KvsClient::new(&sdk).map_err(|e| e.to_string())
        }
        #[cfg(not(feature = "aws"))]
        {
            if self.endpoint_url.as_deref().is_none_or(|u| u.starts_with("https:")) {
                return Err(
                    "this build speaks plain HTTP only: give --endpoint-url http://... (e.g. a local \
                            `kvs-mkv serve`), or build kvs-cli with `--features aws` for AWS"
                        .to_owned(),
                );
            }
            let key = std::env::var("AWS_ACCESS_KEY_ID").unwrap_or_else(|_| "AKIDLOCAL".to_owned());
            let secret = std::env::var("AWS_SECRET_ACCESS_KEY").unwrap_or_else(|_| "local".to_owned());
            let token = std::env::var("AWS_SESSION_TOKEN").ok();
            let mut b = KvsClient::builder().region(self.region()).static_credentials(key, secret, token);
            if let Some(url) = &self.endpoint_url {
                b = b.endpoint_url(url);
            }
            b.build().map_err(|e| e.to_string())
        }
    }
}

/// `inspect --stream-name`: the report of a live stream, row by row as fragments complete.
pub fn inspect(args: &LiveArgs, color: bool) -> ExitCode {
    let selector = match args.selector() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("kvs-mkv inspect: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kvs-mkv inspect: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    catch_ctrl_c();
    let name = args.stream_name.clone().or_else(|| args.stream_arn.clone()).unwrap_or_default();
    runtime.block_on(async move {
        let client = match args.client().await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("kvs-mkv inspect: {e}");
                return ExitCode::from(2);
            }
        };
        let mut consumer = MediaConsumer::builder(client, args.stream())
            .start(selector)
            .reconnect_on_end(args.follow)
            .error_policy(ErrorPolicy::Surface)
            .build();
        let mut inspector = Inspector::new(name.clone(), color);
        let progress = Progress::new(None, &format!("inspect {name}"));
        let stdout = io::stdout();
        let mut out = io::BufWriter::new(stdout.lock());
        let mut status = ExitCode::SUCCESS;
        let mut fragments = 0u64;
        loop {
            if interrupted() || args.max_fragments.is_some_and(|m| fragments >= m) {
                break;
            }
            // Wake up now and then to notice Ctrl-C on a quiet stream.
            let Ok(item) = tokio::time::timeout(Duration::from_millis(250), consumer.next()).await else {
                continue;
            };
            let Some(item) = item else { break };
            let r = match item {
                Ok(ConsumerEvent::Event(event)) => {
                    if matches!(event, kvs_chunk::Event::FragmentEnd(_)) {
                        fragments = fragments.saturating_add(1);
                        progress.set_message(format!("{fragments} fragments"));
                    }
                    progress.suspend(|| inspector.event(&mut out, event))
                }
                Ok(ConsumerEvent::StreamError(e)) => progress.suspend(|| inspector.stream_error(&mut out, e)),
                Ok(ConsumerEvent::Reconnecting { attempt, reason, delay }) => {
                    progress.suspend(|| {
                        eprintln!(
                            "kvs-mkv inspect: {reason}; reconnecting (#{attempt}) in {} ms",
                            delay.as_millis()
                        );
                    });
                    Ok(())
                }
                Ok(_) => Ok(()),
                Err(e) => {
                    progress.suspend(|| eprintln!("kvs-mkv inspect: {e}"));
                    status = ExitCode::FAILURE;
                    break;
                }
            };
            if r.is_err() {
                break;
            }
        }
        progress.finish();
        let _ = inspector.finish(&mut out).and_then(|()| out.flush());
        status
    })
}
