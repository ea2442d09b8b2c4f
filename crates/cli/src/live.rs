//! Live streams for `inspect --stream-name`: GetMedia through kvs-sdk's consumer (resumed
//! after cuts), with a spinner on stderr and Ctrl-C ending with the summary.

use std::io::{self, Write};
use std::process::ExitCode;
use std::time::Duration;

use futures_util::StreamExt;
use kvs_sdk::{ConsumerEvent, ErrorPolicy, MediaConsumer};

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
}

/// `inspect --stream-name`: the report of a live stream, row by row as fragments complete.
pub fn inspect(args: &LiveArgs, color: bool) -> ExitCode {
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
        let mut inspector = Inspector::new(name.clone(), color);
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
                    progress.suspend(|| eprintln!("kvs-mkv inspect: {e}"));
                    status = ExitCode::FAILURE;
                    ended.errors = ended.errors.saturating_add(1);
                    ended.input_errors = true;
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
