//! Live streams for `inspect --stream-name`: GetMedia through kvs-sdk's consumer (resumed
//! after cuts), with a spinner on stderr and Ctrl-C ending with the summary.

use std::io::{self, Write};
use std::process::ExitCode;
use std::time::Duration;

use futures_util::StreamExt;
use kvs_sdk::save::Renumber;
use kvs_sdk::{ArchiveItem, ArchiveReader, ConsumerEvent, ErrorPolicy, MediaConsumer};

use crate::inspector::Inspector;
use crate::progress::{Progress, catch_ctrl_c, interrupted};
use crate::stream_args::StreamArgs;

/// Where a live stream is read from.
#[derive(clap::Args)]
pub struct LiveArgs {
    /// The stream (instead of a file) and where to start.
    #[command(flatten)]
    pub stream: StreamArgs,
    /// Read on until Ctrl-C, resuming after every end of a response.
    #[arg(long)]
    follow: bool,
    /// Stop after this many fragments.
    #[arg(long)]
    max_fragments: Option<u64>,
    /// Read a range of the archive (ListFragments and GetMediaForFragmentList, as `kvs-mkv
    /// archive`) from --start-timestamp to this time (epoch seconds or ISO 8601), on the
    /// clock of --start-selector-type (SERVER_TIMESTAMP, else producer timestamps).
    #[arg(long, value_name = "T2")]
    end_timestamp: Option<String>,
    /// Read the archive from --start-timestamp to --end-timestamp (or to now; with --follow
    /// on into the live stream) instead of GetMedia.
    #[arg(long)]
    archive: bool,
}

/// `inspect --stream-name`: the report of a live stream, row by row as fragments complete.
pub fn inspect(args: &LiveArgs, color: bool, report: &crate::report::ReportArgs) -> ExitCode {
    if args.archive || args.end_timestamp.is_some() {
        return inspect_archive(args, color, report);
    }
    let selector = match args.stream.selector() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("kvs-mkv inspect: {e}");
            return ExitCode::from(2);
        }
    };
    let Some(runtime) = crate::progress::runtime("inspect") else { return ExitCode::FAILURE };
    catch_ctrl_c();
    let name = args.stream.label().unwrap_or_default().to_owned();
    runtime.block_on(async move {
        let client = match args.stream.client().await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("kvs-mkv inspect: {e}");
                return ExitCode::from(2);
            }
        };
        let mut consumer = MediaConsumer::builder(client, args.stream.stream())
            .start(selector)
            .reconnect_on_end(args.follow)
            .error_policy(ErrorPolicy::Surface)
            .build();
        let mut inspector = Inspector::new(name.clone(), color).with_report(report);
        let progress = Progress::new(None, &format!("inspect {name}"));
        let stdout = io::stdout();
        let mut out = io::BufWriter::new(stdout.lock());
        let mut status = ExitCode::SUCCESS;
        let mut fragments = 0u64;
        let mut ended = crate::progress::Ended::default();
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
                Ok(ConsumerEvent::ErrorChunk(e)) => progress.suspend(|| inspector.stream_error(&mut out, e)),
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
                    read_failed(&progress, &e, &mut ended);
                    status = ExitCode::FAILURE;
                    break;
                }
            };
            if r.is_err() {
                break;
            }
        }
        progress.finish();
        ended.interrupted = interrupted();
        ended.documents = fragments;
        let _ = inspector.finish(&mut out, &ended).and_then(|()| out.flush());
        status
    })
}

/// `inspect --stream-name ... --start-timestamp T1 --end-timestamp T2`: the report of an
/// archived range read with kvs-sdk's archive reader, each fragment once and in order.
fn inspect_archive(args: &LiveArgs, color: bool, report: &crate::report::ReportArgs) -> ExitCode {
    let Some(start) = args.stream.start_timestamp() else {
        eprintln!("kvs-mkv inspect: an archive range needs --start-timestamp T1");
        return ExitCode::from(2);
    };
    let selector = match crate::archive::range(
        args.stream.archive_clock(),
        start,
        args.end_timestamp.as_deref(),
        args.follow,
    ) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("kvs-mkv inspect: {e}");
            return ExitCode::from(2);
        }
    };
    let Some(runtime) = crate::progress::runtime("inspect") else { return ExitCode::FAILURE };
    catch_ctrl_c();
    let name = args.stream.label().unwrap_or_default().to_owned();
    runtime.block_on(async move {
        let client = match args.stream.client().await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("kvs-mkv inspect: {e}");
                return ExitCode::from(2);
            }
        };
        let mut reader = ArchiveReader::builder(client, args.stream.stream(), selector)
            .raw_documents(true)
            .frames(false)
            .follow(args.follow)
            .max_retries(if args.follow { None } else { Some(5) })
            .build();
        let mut inspector = Inspector::new(name.clone(), color).with_report(report);
        let progress = Progress::fragments(&format!("inspect {name}"));
        let stdout = io::stdout();
        let mut out = io::BufWriter::new(stdout.lock());
        let mut status = ExitCode::SUCCESS;
        let mut numbers = Renumber::new();
        let mut fragments = 0u64;
        let mut ended = crate::progress::Ended::default();
        loop {
            if interrupted() || args.max_fragments.is_some_and(|m| fragments >= m) {
                break;
            }
            // Wake up now and then to notice Ctrl-C on a quiet stream.
            let Ok(item) = tokio::time::timeout(Duration::from_millis(250), reader.next()).await else {
                continue;
            };
            let Some(item) = item else { break };
            let r = match item {
                Ok(ArchiveItem::Listed { fragments, .. }) => {
                    progress.set_length(fragments);
                    Ok(())
                }
                Ok(
                    ArchiveItem::Fragment { document: Some(doc), .. }
                    | ArchiveItem::Live(ConsumerEvent::Document { bytes: doc }),
                ) => {
                    fragments = fragments.saturating_add(1);
                    progress.set_position(fragments);
                    let mut r = Ok(());
                    for event in kvs_chunk::Events::new(doc) {
                        match event {
                            Ok(event) => {
                                r = progress.suspend(|| inspector.event(&mut out, numbers.map(event)))
                            }
                            Err(e) => {
                                read_failed(&progress, &e, &mut ended);
                                break;
                            }
                        }
                        if r.is_err() {
                            break;
                        }
                    }
                    r
                }
                Ok(
                    ArchiveItem::Missing { error, .. } | ArchiveItem::Live(ConsumerEvent::ErrorChunk(error)),
                ) => {
                    fragments = fragments.saturating_add(1);
                    status = ExitCode::FAILURE;
                    let _ = numbers.error_chunk();
                    progress.suspend(|| inspector.stream_error(&mut out, error))
                }
                Ok(ArchiveItem::Retrying { attempt, reason, delay }) => {
                    progress.suspend(|| {
                        eprintln!(
                            "kvs-mkv inspect: {reason}; retrying (#{attempt}) in {} ms",
                            delay.as_millis()
                        );
                    });
                    Ok(())
                }
                Ok(_) => Ok(()),
                Err(e) => {
                    read_failed(&progress, &e, &mut ended);
                    status = ExitCode::FAILURE;
                    break;
                }
            };
            if r.is_err() {
                break;
            }
        }
        progress.finish();
        ended.interrupted = interrupted();
        ended.documents = fragments;
        let _ = inspector.finish(&mut out, &ended).and_then(|()| out.flush());
        if ended.interrupted {
            return ExitCode::from(130);
        }
        status
    })
}

/// A read that ended in an error: said on stderr (around the progress bar) and counted in
/// the summary as an input error.
fn read_failed(progress: &Progress, e: &dyn std::fmt::Display, ended: &mut crate::progress::Ended) {
    progress.suspend(|| eprintln!("kvs-mkv inspect: {e}"));
    ended.errors = ended.errors.saturating_add(1);
    ended.input_errors = true;
}
