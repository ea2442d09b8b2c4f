//! `kvs-mkv get-media-for-fragment-list`: GetMediaForFragmentList in the AWS CLI's shape:
//! the named fragments' payload, byte for byte, to a positional outfile, and the AWS CLI's
//! response JSON (or, with `--json`, one line per fragment as `fragments --json` prints them).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use futures_util::StreamExt;
use kvs_chunk::{ErrorChunk, Event, EventDecoder, FragmentNumber};
use kvs_sdk::StreamId;
use serde_json::json;

use crate::stream_args::AwsArgs;
use crate::{Sink, json};

pub const AFTER_HELP: &str = "\
One GetMediaForFragmentList call: the named fragments (1 to 1000, as ListFragments gives
their numbers) as one payload, in the order named, saved byte for byte to OUTFILE (`-`:
standard output). Then, as the AWS CLI does, the response's JSON on standard output
({\"ContentType\": \"video/webm\"}); with --json, one JSON line per fragment instead (the
contract of `fragments --json`, offsets those of OUTFILE). When OUTFILE is `-` what would go
to standard output goes to standard error.

A fragment the service cannot send (a number that does not exist) comes in the payload as
an exception chunk (AWS_KINESISVIDEO_EXCEPTION_ERROR_CODE, e.g. 4000) in its place: it is
saved as sent, reported on stderr, and the exit status is 1. A response that breaks off is
reported (status 1) with OUTFILE holding what arrived; the call is not retried (`archive`
retries).

--fragments takes every following word: put OUTFILE before it, or after `--`.

Examples:
  kvs-mkv get-media-for-fragment-list --endpoint-url http://127.0.0.1:4567 --stream-name demo \\
      out.mkv --fragments 91343852333181500000000000000000000000000000001
  kvs-mkv get-media-for-fragment-list --stream-name cam --fragments N1 N2 N3 -- out.mkv
  kvs-mkv get-media-for-fragment-list --stream-name cam --json --fragments N1 N2 -- - | ffplay -
  kvs-mkv list-fragments --stream-name cam --fragment-selector SELECTOR --sorted \\
      | jq -r '.Fragments[].FragmentNumber' | xargs kvs-mkv get-media-for-fragment-list \\
      --stream-name cam out.mkv --fragments

AWS access as in `get-media --help`.";

#[derive(Args)]
pub struct FragmentListArgs {
    /// The stream's name.
    #[arg(long, conflicts_with = "stream_arn")]
    stream_name: Option<String>,
    /// The stream's ARN.
    #[arg(long)]
    stream_arn: Option<String>,
    /// The fragment numbers, in the order wanted (1 to 1000; also comma-separated).
    #[arg(long, value_name = "NUMBER", num_args = 1.., value_delimiter = ',', required = true)]
    fragments: Vec<String>,
    /// Print one JSON line per fragment (the contract of `fragments --json`) instead of the
    /// response JSON.
    #[arg(long)]
    json: bool,
    /// Where the payload is saved (`-`: standard output).
    #[arg(value_name = "OUTFILE")]
    outfile: PathBuf,
    /// Where the service is and which credentials, region and certificates to use.
    #[command(flatten)]
    aws: AwsArgs,
}

/// One line for an exception chunk (escaped: the text comes from the service).
pub fn describe_error_chunk(e: &ErrorChunk) -> String {
    let number = e.fragment_number.as_ref().map_or_else(|| "?".to_owned(), ToString::to_string);
    let id = match (&e.id, &e.raw_id) {
        (Some(id), _) => id.to_string(),
        (None, Some(raw)) => raw.clone(),
        (None, None) => "?".to_owned(),
    };
    kvs_mux::text::escape(&format!(
        "fragment {number}: the service sent an exception chunk, error {id}: {}",
        e.code.as_deref().unwrap_or("")
    ))
    .into_owned()
}

pub fn run(args: &FragmentListArgs) -> ExitCode {
    let stream = match (&args.stream_name, &args.stream_arn) {
        (Some(n), _) => StreamId::name(n),
        (None, Some(a)) => StreamId::arn(a),
        (None, None) => {
            eprintln!(
                "kvs-mkv get-media-for-fragment-list: give the stream with --stream-name NAME or --stream-arn ARN"
            );
            return ExitCode::from(2);
        }
    };
    let numbers: Vec<FragmentNumber> =
        args.fragments.iter().map(|n| n.trim()).filter(|n| !n.is_empty()).map(FragmentNumber::new).collect();
    let to_stdout = args.outfile.as_os_str() == "-";
    let mut save: Box<dyn Write> = if to_stdout {
        Box::new(io::stdout().lock())
    } else {
        match File::create(&args.outfile) {
            Ok(f) => Box::new(BufWriter::with_capacity(1 << 16, f)),
            Err(e) => {
                eprintln!(
                    "kvs-mkv get-media-for-fragment-list: cannot create {}: {e}",
                    args.outfile.display()
                );
                return ExitCode::FAILURE;
            }
        }
    };
    let mut report: Box<dyn Write> =
        if to_stdout { Box::new(io::stderr().lock()) } else { Box::new(BufWriter::new(io::stdout().lock())) };
    let Some(runtime) = crate::progress::runtime("get-media-for-fragment-list") else {
        return ExitCode::FAILURE;
    };
    runtime.block_on(async move {
        let fail = |m: String| {
            eprintln!("kvs-mkv get-media-for-fragment-list: {}", m.replace(['\n', '\r'], " "));
            ExitCode::FAILURE
        };
        let client = match args.aws.client().await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("kvs-mkv get-media-for-fragment-list: {e}");
                return ExitCode::from(2);
            }
        };
        let mut payload = match client.get_media_for_fragment_list(&stream, &numbers).await {
            Ok(p) => p,
            Err(e) => return fail(e.to_string()),
        };
        let content_type = payload.content_type().map(str::to_owned);
        let mut decoder = EventDecoder::new();
        let mut sink = json::FragmentsJson::default();
        let mut status = ExitCode::SUCCESS;
        let mut saved = 0u64;
        let mut errors = 0u64;
        let mut broke = None;
        let mut each_event = |decoder: &mut EventDecoder, report: &mut dyn Write| -> io::Result<()> {
            loop {
                match decoder.next_event() {
                    Ok(Some(event)) => {
                        if let Event::ErrorChunk(e) = &event {
                            errors = errors.saturating_add(1);
                            eprintln!("kvs-mkv get-media-for-fragment-list: {}", describe_error_chunk(e));
                        }
                        if args.json {
                            sink.event(report, event)?;
                        }
                    }
                    Ok(None) => return Ok(()),
                    Err(e) => {
                        eprintln!("kvs-mkv get-media-for-fragment-list: the payload: {e}");
                        errors = errors.saturating_add(1);
                        return Ok(());
                    }
                }
            }
        };
        loop {
            match payload.next().await {
                Some(Ok(chunk)) => {
                    if let Err(e) = save.write_all(&chunk) {
                        if e.kind() != io::ErrorKind::BrokenPipe {
                            status = fail(format!("cannot write {}: {e}", args.outfile.display()));
                        }
                        return status;
                    }
                    saved = saved.saturating_add(u64::try_from(chunk.len()).unwrap_or(u64::MAX));
                    decoder.feed(chunk);
                    if let Err(e) = each_event(&mut decoder, report.as_mut()) {
                        return fail(format!("cannot write output: {e}"));
                    }
                }
                Some(Err(e)) => {
                    broke = Some(e.to_string());
                    break;
                }
                None => break,
            }
        }
        decoder.finish();
        let r = each_event(&mut decoder, report.as_mut()).and_then(|()| save.flush());
        if let Err(e) = r {
            return fail(format!("cannot write {}: {e}", args.outfile.display()));
        }
        if let Some(why) = broke {
            status = fail(format!(
                "the response broke off after {saved} bytes ({why}); {} holds what arrived",
                args.outfile.display()
            ));
        }
        if errors > 0 {
            status = ExitCode::FAILURE;
        }
        let r = if args.json {
            report.flush()
        } else {
            crate::list_fragments::print_aws_json(report.as_mut(), &json!({ "ContentType": content_type }))
        };
        match r {
            Ok(()) => status,
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => status,
            Err(e) => fail(format!("cannot write output: {e}")),
        }
    })
}
