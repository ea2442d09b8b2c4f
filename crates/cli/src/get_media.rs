//! `kvs-mkv get-media`: GetMedia through kvs-sdk's consumer, printed as `fragments` prints a
//! file (the same JSON contract with `--json`), and saved, as the AWS CLI saves it, to an
//! outfile: the raw MKV of every complete fragment, each once.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use futures_util::StreamExt;
use kvs_chunk::{Event, Fragment};
use kvs_sdk::save::{EndGate, EndTime, Gate, PayloadWriter, Renumber};
use kvs_sdk::{ConsumerError, ConsumerEvent, ErrorPolicy, MediaConsumer, StartSelector};

use crate::stream_args::StreamArgs;
use crate::{Sink, json, table};

pub const AFTER_HELP: &str = "\
Examples:
  kvs-mkv serve --stream demo=video.mkv &
  kvs-mkv get-media --endpoint-url http://127.0.0.1:4567 --stream-name demo \\
      --start-selector-type EARLIEST --json
  kvs-mkv get-media --stream-name cam --start-selector StartSelectorType=EARLIEST out.mkv
  kvs-mkv get-media --stream-name cam \\
      --start-selector 'StartSelectorType=PRODUCER_TIMESTAMP,StartTimestamp=2024-05-01T12:00:00Z' \\
      --end-timestamp 2024-05-01T12:05:00Z - | ffplay -
  kvs-mkv get-media --stream-name cam --start-selector-type NOW --follow --json
  aws kinesis-video-media get-media --endpoint-url URL --stream-name cam \\
      --start-selector StartSelectorType=EARLIEST /dev/stdout | kvs-mkv fragments -
(Every reading command ignores the JSON response the AWS CLI prints after the payload.
Pipe it, or give the AWS CLI a file name: with `/dev/stdout > FILE` its response
overwrites the first bytes of the payload in FILE.)

The start selector: either the AWS CLI's --start-selector, in its shorthand
  StartSelectorType=NOW | EARLIEST
  StartSelectorType=FRAGMENT_NUMBER,AfterFragmentNumber=NUMBER
  StartSelectorType=SERVER_TIMESTAMP,StartTimestamp=T   (or PRODUCER_TIMESTAMP)
  StartSelectorType=CONTINUATION_TOKEN,ContinuationToken=TOKEN
or its JSON form ('{\"StartSelectorType\":\"FRAGMENT_NUMBER\",\"AfterFragmentNumber\":\"...\"}'),
or the separate --start-selector-type, --after-fragment-number, --start-timestamp and
--continuation-token. A timestamp T is what the AWS CLI takes: epoch seconds, with a
fraction if wanted (1511852109.126), or ISO 8601 (2017-11-28T06:55:09.126Z,
2017-11-28T08:55:09+02:00; without a zone it is UTC).

The outfile (as the AWS CLI's, `-` for standard output) receives the raw MKV of every
complete fragment, byte for byte as the service sent it, in order, each once: a fragment
cut by a broken response is not written until it has come again whole, and one sent
again after a resume is not written twice. The file is what `kvs-mkv fragments`, ffprobe
or a player reads. With an outfile the fragment listing (a table, or JSON lines with
--json) still goes to standard output, or to standard error when the outfile is `-`.

--max-fragments N stops after N fragments; --end-timestamp T stops before the first
fragment at or after T, on the selector's clock (the producer timestamp for
PRODUCER_TIMESTAMP, the server timestamp otherwise).

Give-up rule: when --max-retries calls in a row (the first call or a resume) complete no
new fragment, the command ends with a one-line error and status 1; the outfile then holds
every fragment completed before. A call that fails, is throttled, stalls, or is cut
before a fragment ends counts; a complete new fragment starts the count again. The default
is 5 (none with --follow, where an idle live stream is waited for; 0 never gives up).

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
CAs of a PEM file instead of the system's; --no-verify-ssl checks no certificate. An unknown
profile, or a chain that gives no credentials, is reported in one line before any request.

Without --follow the command stops when the service ends the response on a fragment
boundary and says nothing newer exists (a response cut mid-fragment is resumed); an
in-stream error chunk is printed and ends the command with status 1. With --follow it
reads on (for ever, unless --max-retries is given), resuming after every end, cut, stall or throttle, and prints error
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
    /// Where to start, as the AWS CLI takes it: shorthand
    /// (`StartSelectorType=FRAGMENT_NUMBER,AfterFragmentNumber=...`) or JSON; replaces
    /// --start-selector-type and its value flags.
    #[arg(
        long,
        value_name = "SELECTOR",
        conflicts_with_all = ["start_selector_type", "after_fragment_number", "start_timestamp", "continuation_token"]
    )]
    start_selector: Option<String>,
    /// Stop after this many fragments.
    #[arg(long, value_name = "N")]
    max_fragments: Option<u64>,
    /// Stop before the first fragment at or after this time (epoch seconds or ISO 8601), on
    /// the selector's clock: producer timestamps for PRODUCER_TIMESTAMP, else server ones.
    #[arg(long, value_name = "T")]
    end_timestamp: Option<String>,
    /// Give up after this many calls in a row complete no new fragment (default 5; without
    /// limit with --follow; 0: never).
    #[arg(long, value_name = "N")]
    max_retries: Option<u32>,
    /// Save the raw MKV of every complete fragment here, each once (`-`: standard output).
    #[arg(value_name = "OUTFILE")]
    outfile: Option<PathBuf>,
}

pub fn run(args: &GetMediaArgs) -> ExitCode {
    if args.stream.label().is_none() {
        eprintln!("kvs-mkv get-media: give the stream with --stream-name NAME or --stream-arn ARN");
        return ExitCode::from(2);
    }
    let selector = match &args.start_selector {
        Some(text) => StartSelector::parse_aws_cli(text),
        None => args.stream.selector(),
    };
    let selector = match selector {
        Ok(s) => s,
        Err(e) => {
            eprintln!("kvs-mkv get-media: {e}");
            return ExitCode::from(2);
        }
    };
    let end = match &args.end_timestamp {
        None => None,
        Some(text) => match EndTime::parse(text, &selector) {
            Some(end) => Some(end),
            None => {
                eprintln!(
                    "kvs-mkv get-media: --end-timestamp {text:?} is neither epoch seconds nor ISO 8601"
                );
                return ExitCode::from(2);
            }
        },
    };
    let give_up = match args.max_retries {
        Some(0) => None,
        Some(n) => Some(n),
        None if args.follow => None,
        None => Some(DEFAULT_MAX_RETRIES),
    };
    let to_stdout = args.outfile.as_deref().is_some_and(|p| p.as_os_str() == "-");
    let save: Option<Box<dyn Write>> = match &args.outfile {
        None => None,
        Some(_) if to_stdout => Some(Box::new(io::stdout().lock())),
        Some(path) => match File::create(path) {
            Ok(f) => Some(Box::new(BufWriter::with_capacity(1 << 16, f))),
            Err(e) => {
                eprintln!("kvs-mkv get-media: cannot create {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        },
    };
    let Some(runtime) = crate::progress::runtime("get-media") else { return ExitCode::FAILURE };
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
            .max_attempts_without_progress(give_up)
            .raw_documents(save.is_some())
            .build();
        let mut sink: Box<dyn Sink> = if args.json {
            Box::new(json::FragmentsJson::default())
        } else {
            Box::new(table::FragmentsTable::default())
        };
        let listing: Box<dyn Write> = if to_stdout {
            Box::new(BufWriter::new(io::stderr().lock()))
        } else {
            Box::new(BufWriter::new(io::stdout().lock()))
        };
        let saving = save.map(|out| Saving { out: PayloadWriter::new(out), name: args.outfile.clone() });
        let gate = EndGate::new(end);
        consume(consumer, sink.as_mut(), args.json, listing, saving, gate, args.max_fragments).await
    })
}

/// The default of --max-retries without --follow.
const DEFAULT_MAX_RETRIES: u32 = 5;

/// The outfile and its name.
struct Saving {
    out: PayloadWriter<Box<dyn Write>>,
    name: Option<PathBuf>,
}

async fn consume(
    mut consumer: MediaConsumer,
    sink: &mut dyn Sink,
    json_lines: bool,
    mut out: Box<dyn Write>,
    mut saving: Option<Saving>,
    mut gate: EndGate,
    max_fragments: Option<u64>,
) -> ExitCode {
    let mut numbers = Renumber::new();
    let mut status = ExitCode::SUCCESS;
    let mut completed: u64 = 0;
    let limit_reached = |n: u64| max_fragments.is_some_and(|max| n >= max);
    if max_fragments == Some(0) {
        let _ = sink.finish(&mut out).and_then(|()| out.flush());
        return status;
    }
    while let Some(item) = consumer.next().await {
        let ok = match item {
            Ok(ConsumerEvent::Event(event)) => {
                // --end-timestamp: a document's first events are held until its metadata.
                let Gate::Release(events) = gate.push(event) else { break };
                let mut ok = true;
                let mut last = false;
                for event in events {
                    let end = matches!(&event, Event::FragmentEnd(f) if f.complete);
                    let r = sink.event(&mut out, numbers.map(event));
                    if end {
                        completed = completed.saturating_add(1);
                        ok = write(&mut out, r);
                        // Without an outfile the fragment is done once printed; with one, at
                        // its document (which follows).
                        last = saving.is_none() && limit_reached(completed);
                    } else {
                        ok = r.is_ok();
                    }
                    if !ok || last {
                        break;
                    }
                }
                ok && !last
            }
            Ok(ConsumerEvent::Document { bytes }) => match &mut saving {
                Some(save) => match save.out.write_document(&bytes) {
                    Ok(()) => !limit_reached(save.out.documents()),
                    Err(e) if e.kind() == io::ErrorKind::BrokenPipe => false,
                    Err(e) => {
                        let name = save.name.as_ref().map_or_else(String::new, |p| p.display().to_string());
                        eprintln!("kvs-mkv get-media: cannot write {name}: {e}");
                        status = ExitCode::FAILURE;
                        false
                    }
                },
                None => true,
            },
            Ok(ConsumerEvent::FragmentAborted { .. }) => {
                gate.abort();
                true
            }
            Ok(ConsumerEvent::ErrorChunk(e)) => {
                let r = error_line(&mut out, numbers.error_fragment(e), json_lines);
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
                let r = error_line(&mut out, numbers.error_fragment(e), json_lines);
                write(&mut out, r);
                eprintln!("kvs-mkv get-media: {message}");
                status = ExitCode::FAILURE;
                false
            }
            Err(e) => {
                let _ = out.flush();
                // One line, whatever the underlying error's text holds.
                let message = e.to_string().replace(['\n', '\r'], " ");
                eprintln!("kvs-mkv get-media: {message}");
                status = ExitCode::FAILURE;
                false
            }
        };
        if !ok {
            break;
        }
    }
    let _ = sink.finish(&mut out).and_then(|()| out.flush());
    if let Some(mut save) = saving {
        let _ = save.out.flush();
        if let Some(name) = save.name.filter(|p| p.as_os_str() != "-") {
            eprintln!(
                "kvs-mkv get-media: wrote {} fragment(s), {} bytes, to {}",
                save.out.documents(),
                save.out.bytes(),
                name.display()
            );
        }
    }
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

fn error_line(out: &mut dyn Write, s: Fragment, json_lines: bool) -> io::Result<()> {
    if json_lines {
        serde_json::to_writer(&mut *out, &json::fragment(&s))?;
        out.write_all(b"\n")
    } else {
        let e = s.error();
        writeln!(
            out,
            "{:>4}  in-stream error {}: {}",
            s.index,
            e.and_then(|e| e.id).map_or_else(|| "?".to_owned(), |i| i.to_string()),
            kvs_mux::text::escape(e.and_then(|e| e.code.as_deref()).unwrap_or(""))
        )
    }
}
