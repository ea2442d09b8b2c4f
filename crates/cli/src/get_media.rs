//! `kvs-mkv get-media`: GetMedia through kvs-sdk's consumer, printed as `fragments` prints a
//! file (the same JSON contract with `--json`).

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use futures_util::StreamExt;
use kvs_chunk::{Event, StreamError};
use kvs_sdk::{ConsumerError, ConsumerEvent, ErrorPolicy, MediaConsumer};

use crate::stream_args::StreamArgs;
use crate::summary::Summary;
use crate::{Sink, json, table};

pub const AFTER_HELP: &str = "\
Examples:
  kvs-mkv serve --stream demo=video.mkv &
  kvs-mkv get-media --endpoint-url http://127.0.0.1:4567 --stream-name demo \\
      --start-selector-type EARLIEST --json
  kvs-mkv get-media --stream-name cam --start-selector-type NOW --follow --json

AWS access: HTTPS (rustls) to the region's endpoint, or --endpoint-url (https:// or
http://). Credentials come from the AWS default chain, as in the AWS CLI: AWS_ACCESS_KEY_ID /
AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, then the profile (--profile, else AWS_PROFILE, else
`default`) of ~/.aws/credentials and ~/.aws/config (keys, role_arn with source_profile,
credential_process, SSO after `aws sso login`), web identity (AWS_WEB_IDENTITY_TOKEN_FILE),
the container role (ECS, EKS) and the instance role (IMDS). The region comes from --region,
then AWS_REGION / AWS_DEFAULT_REGION, then the profile's `region`, else us-east-1. Against a
loopback --endpoint-url (127.0.0.1, localhost, [::1]: a local `kvs-mkv serve`) the instance
and container roles are not asked, and placeholder credentials stand in when neither the
environment nor a named profile gives any. --ca-bundle FILE (or AWS_CA_BUNDLE) trusts the
CAs of a PEM file instead of the system's; --no-verify-ssl checks no certificate.

Without --follow the command stops when the service ends the response on a fragment
boundary and says nothing newer exists (a response cut mid-fragment is resumed); an
in-stream error chunk is printed and ends the command with status 1. With --follow it
reads on for ever, resuming after every end, cut, stall or throttle, and prints error
chunks as they come. Each fragment is printed once, in order, when complete.";

#[derive(Args)]
pub struct GetMediaArgs {
    /// The stream and where to start.
    #[command(flatten)]
    stream: StreamArgs,
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
    if args.stream.label().is_none() {
        eprintln!("kvs-mkv get-media: give the stream with --stream-name NAME or --stream-arn ARN");
        return ExitCode::from(2);
    }
    let selector = match args.stream.selector() {
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
        let client = match args.stream.client().await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("kvs-mkv get-media: {e}");
                return ExitCode::from(2);
            }
        };
        let consumer = MediaConsumer::builder(client, args.stream.stream())
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
            crate::escape::escape(e.and_then(|e| e.code.as_deref()).unwrap_or(""))
        )
    }
}
