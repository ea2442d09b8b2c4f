//! `kvs-mkv get-media`: GetMedia through kvs-sdk's consumer, printed as `fragments` prints a
//! file (the same JSON contract with `--json`).

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, ValueEnum};
use futures_util::StreamExt;
use kvs_chunk::{Event, StreamError};
use kvs_sdk::{ConsumerError, ConsumerEvent, ErrorPolicy, KvsClient, MediaConsumer, StartSelector, StreamId};

use crate::summary::Summary;
use crate::{Sink, json, table};

pub const AFTER_HELP: &str = "\
Examples:
  kvs-mkv serve --stream demo=video.mkv &
  kvs-mkv get-media --endpoint-url http://127.0.0.1:4567 --stream-name demo \\
      --start-selector-type EARLIEST --json
  kvs-mkv get-media --stream-name cam --start-selector-type NOW --follow --json

Credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN (any
values do for a local endpoint), or, in a build with the `aws` feature, from the AWS
default chain (profiles, SSO, instance roles). The region comes from --region, AWS_REGION
or AWS_DEFAULT_REGION.

Without --follow the command stops when the service ends the response on a fragment
boundary and says nothing newer exists (a response cut mid-fragment is resumed); an
in-stream error chunk is printed and ends the command with status 1. With --follow it
reads on for ever, resuming after every end, cut, stall or throttle, and prints error
chunks as they come. Each fragment is printed once, in order, when complete.";

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

#[derive(Args)]
pub struct GetMediaArgs {
    /// The stream's name.
    #[arg(long, conflicts_with = "stream_arn", required_unless_present = "stream_arn")]
    stream_name: Option<String>,
    /// The stream's ARN.
    #[arg(long)]
    stream_arn: Option<String>,
    /// The control plane's URL (GetDataEndpoint), e.g. a local `kvs-mkv serve`.
    #[arg(long)]
    endpoint_url: Option<String>,
    /// The region (default: AWS_REGION, AWS_DEFAULT_REGION, else us-east-1).
    #[arg(long)]
    region: Option<String>,
    /// Where to start.
    #[arg(long, value_enum)]
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
    /// Print one JSON object per line (the contract of `fragments --json`).
    #[arg(long)]
    json: bool,
    /// Read on for ever, resuming after every end of a response.
    #[arg(long)]
    follow: bool,
    /// Seconds without a byte after which a response is dropped and resumed.
    #[arg(long, default_value_t = 30)]
    idle_timeout: u64,
}

impl GetMediaArgs {
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
}

/// The client: the AWS default chain with the `aws` feature, else credentials from the
/// environment (placeholders for a local endpoint).
async fn client(args: &GetMediaArgs) -> Result<KvsClient, String> {
    #[cfg(feature = "aws")]
    {
        use aws_config::BehaviorVersion;
        let mut loader =
            aws_config::defaults(BehaviorVersion::latest()).region(aws_config::Region::new(args.region()));
        if let Some(h) = kvs_sdk::default_http_client() {
            loader = loader.http_client(h);
        }
        if let Some(url) = &args.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let sdk = loader.load().await;
        KvsClient::new(&sdk).map_err(|e| e.to_string())
    }
    #[cfg(not(feature = "aws"))]
    {
        if args.endpoint_url.as_deref().is_none_or(|u| u.starts_with("https:")) {
            return Err("this build speaks plain HTTP only: give --endpoint-url http://... (e.g. a local \
                        `kvs-mkv serve`), or build kvs-cli with `--features aws` for AWS"
                .to_owned());
        }
        let key = std::env::var("AWS_ACCESS_KEY_ID").unwrap_or_else(|_| "AKIDLOCAL".to_owned());
        let secret = std::env::var("AWS_SECRET_ACCESS_KEY").unwrap_or_else(|_| "local".to_owned());
        let token = std::env::var("AWS_SESSION_TOKEN").ok();
        let mut b = KvsClient::builder().region(args.region()).static_credentials(key, secret, token);
        if let Some(url) = &args.endpoint_url {
            b = b.endpoint_url(url);
        }
        b.build().map_err(|e| e.to_string())
    }
}

/// Numbers documents across connections: `index` counts the fragments printed, `offset` is
/// the offset in the concatenation of the delivered documents (what saving each delivered
/// document would give), so a run without reconnections prints what `fragments` prints
/// for the saved payload.
#[derive(Default)]
struct Renumber {
    index: u64,
    offset: u64,
}

impl Renumber {
    fn map(&mut self, event: Event) -> Event {
        match event {
            Event::DocumentStart { .. } => Event::DocumentStart { index: self.index, offset: self.offset },
            Event::FragmentEnd(mut end) => {
                end.index = self.index;
                Event::FragmentEnd(end)
            }
            Event::DocumentEnd { offset, end, .. } => {
                let start = self.offset;
                self.offset = self.offset.saturating_add(end.saturating_sub(offset));
                let index = self.index;
                self.index = self.index.saturating_add(1);
                Event::DocumentEnd { index, offset: start, end: self.offset }
            }
            other => other,
        }
    }

    /// The line of an in-stream error chunk: a document of its own in the contract.
    fn error_summary(&mut self, e: StreamError) -> Summary {
        let index = self.index;
        self.index = self.index.saturating_add(1);
        let mut s = Summary { index, offset: self.offset, ..Summary::default() };
        s.metadata.fragment_number = e.fragment_number.clone();
        s.error = Some(e);
        s
    }
}

pub fn run(args: &GetMediaArgs) -> ExitCode {
    let selector = match args.selector() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("kvs-mkv get-media: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kvs-mkv get-media: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let client = match client(args).await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("kvs-mkv get-media: {e}");
                return ExitCode::from(2);
            }
        };
        let consumer = MediaConsumer::builder(client, args.stream())
            .start(selector)
            .idle_timeout(Duration::from_secs(args.idle_timeout.max(1)))
            .reconnect_on_end(args.follow)
            .error_policy(if args.follow { ErrorPolicy::Surface } else { ErrorPolicy::Fail })
            .build();
        let mut sink: Box<dyn Sink> = if args.json {
            Box::new(json::FragmentsJson::default())
        } else {
            Box::new(table::FragmentsTable::default())
        };
        consume(consumer, sink.as_mut(), args.json).await
    })
}

async fn consume(mut consumer: MediaConsumer, sink: &mut dyn Sink, json_lines: bool) -> ExitCode {
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut numbers = Renumber::default();
    let mut status = ExitCode::SUCCESS;
    while let Some(item) = consumer.next().await {
        let ok = match item {
            Ok(ConsumerEvent::Event(event)) => {
                let flush = matches!(event, Event::FragmentEnd(_));
                let r = sink.event(&mut out, numbers.map(event));
                if flush { write(&mut out, r) } else { r.is_ok() }
            }
            Ok(ConsumerEvent::StreamError(e)) => {
                let r = error_line(&mut out, numbers.error_summary(e), json_lines);
                write(&mut out, r)
            }
            Ok(ConsumerEvent::Reconnecting { attempt, reason, delay }) => {
                eprintln!(
                    "kvs-mkv get-media: {reason}; reconnecting (#{attempt}) in {} ms",
                    delay.as_millis()
                );
                true
            }
            Ok(_) => true,
            Err(ConsumerError::InStream(e)) => {
                let message = ConsumerError::InStream(e.clone()).to_string();
                let r = error_line(&mut out, numbers.error_summary(e), json_lines);
                write(&mut out, r);
                eprintln!("kvs-mkv get-media: {message}");
                status = ExitCode::FAILURE;
                false
            }
            Err(e) => {
                eprintln!("kvs-mkv get-media: {e}");
                status = ExitCode::FAILURE;
                false
            }
        };
        if !ok {
            break;
        }
    }
    let _ = sink.finish(&mut out).and_then(|()| out.flush());
    status
}

/// Flushes after a complete line (so `--follow` output is live); false to stop.
fn write(out: &mut dyn Write, r: io::Result<()>) -> bool {
    match r.and_then(|()| out.flush()) {
        Ok(()) => true,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => false,
        Err(e) => {
            eprintln!("kvs-mkv get-media: cannot write output: {e}");
            false
        }
    }
}

fn error_line(out: &mut dyn Write, s: Summary, json_lines: bool) -> io::Result<()> {
    if json_lines {
        serde_json::to_writer(&mut *out, &json::fragment(&s))?;
        out.write_all(b"\n")
    } else {
        let e = s.error.as_ref();
        writeln!(
            out,
            "{:>4}  in-stream error {}: {}",
            s.index,
            e.and_then(|e| e.id).map_or_else(|| "?".to_owned(), |i| i.to_string()),
            e.and_then(|e| e.code.as_deref()).unwrap_or("")
        )
    }
}
