//! `kvs-mkv archive`: a time range of a stream through kvs-sdk's archive reader, every
//! fragment once and in order, saved as the raw payload, one file per fragment (kvs-mux's
//! Splitter), one merged MKV (kvs-mux's Merger) or JSON lines; resumable from a state file.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use clap::{Args, ValueEnum};
use futures_util::StreamExt;
use kvs_chunk::{ErrorChunk, Fragment, FragmentAssembler};
use kvs_mux::Merger;
use kvs_mux::split::{Outcome, Splitter};
use kvs_sdk::{
    ArchiveItem, ArchivePosition, ArchiveReader, ConsumerEvent, FragmentClock, FragmentInfo,
    FragmentSelector, StreamId,
};
use serde::{Deserialize, Serialize};

use crate::progress::{self, Progress};
use crate::stream_args::AwsArgs;

pub const AFTER_HELP: &str = "\
Every fragment whose start lies in T1..=T2 on the selector's clock (producer timestamps by
default), in that order (then by fragment number), each exactly once: listed with
ListFragments, fetched with GetMediaForFragmentList in batches (--batch-fragments, at most
--max-in-flight calls at once, 5 calls a second of each API), a failed, throttled or cut
call retried from its first fragment not yet complete. T is epoch seconds (with a fraction
if wanted) or ISO 8601 (2024-05-01T14:00:00Z; without a zone it is UTC). Without
--end-timestamp the range ends now (with --follow: never).

Where it goes (one of these, --json may be added to the others):
  OUTFILE           the raw payload: each fragment's MKV document byte for byte, as
                    get-media-for-fragment-list would save them (`-`: standard output);
                    what `kvs-mkv fragments`, ffprobe or a player reads
  OUTFILE --merge   one playable MKV instead (the job of `kvs-mkv merge`: one Segment,
                    continuous timestamps from 0, tags kept; a change of tracks continues
                    in OUTFILE-1.mkv, ...)
  --output-dir DIR  one playable MKV per fragment, named as `kvs-mkv split` names them
  --json            one JSON line per fragment (the contract of `fragments --json`, index
                    and offset those of the raw payload), on standard output (standard
                    error when OUTFILE is `-`)

--resume STATEFILE makes the run resumable: after each fragment is written (and flushed)
the reader's position (the stream, the range, the last fragment written) and the length of
OUTFILE are saved to STATEFILE (a temporary file renamed over it). A run given an existing
STATEFILE checks it is for the same stream and range, cuts OUTFILE back to the length
saved (dropping a fragment that was being written when the run stopped), appends to it,
and continues after the last fragment written: an interrupted run, run again, gives the
same file as one uninterrupted run. Not with --merge (a merged file cannot be appended
to) or OUTFILE `-`.

--follow: when the range ends in the future (or --end-timestamp is not given), after the
last archived fragment the live stream is read on (GetMedia after that fragment) until a
fragment starts after T2: no gap, no fragment twice.

A fragment the service sends as an exception chunk (listed, but not found) is reported on
stderr and skipped, and the exit status is 1 at the end. --max-fragments N stops after N
fragments. Give-up rule: --max-retries calls in a row without a new fragment (default 5;
none with --follow; 0: never) end the run with one line and status 1. Ctrl-C stops after
the current fragment (status 130). On a terminal a progress bar shows the fragments and
bytes written out of those listed.

Examples:
  kvs-mkv archive --stream-name cam --start-timestamp 2024-05-01T14:00:00Z \\
      --end-timestamp 2024-05-01T14:20:00Z incident.mkv
  kvs-mkv archive --stream-name cam --start-timestamp 2024-05-01T14:00:00Z \\
      --end-timestamp 2024-05-01T14:20:00Z --merge incident-merged.mkv
  kvs-mkv archive --stream-name cam --start-timestamp 1714572000 --end-timestamp 1714573200 \\
      --fragment-selector-type SERVER_TIMESTAMP --output-dir fragments/
  kvs-mkv archive --stream-name cam --start-timestamp 2024-05-01 --end-timestamp 2024-05-08 \\
      --resume week.state week.mkv       (run it again after a stop: it continues)
  kvs-mkv archive --stream-name cam --start-timestamp 2024-05-01T14:00:00Z --follow --json
  kvs-mkv archive --endpoint-url http://127.0.0.1:4567 --stream-name demo \\
      --start-timestamp 0 --end-timestamp 4000000000 --max-in-flight 4 - | kvs-mkv fragments -

AWS access as in `get-media --help`.";

/// The selector's clock.
#[derive(Clone, Copy, ValueEnum)]
#[value(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ClockArg {
    ProducerTimestamp,
    ServerTimestamp,
}

impl ClockArg {
    pub fn clock(self) -> FragmentClock {
        match self {
            ClockArg::ProducerTimestamp => FragmentClock::Producer,
            ClockArg::ServerTimestamp => FragmentClock::Server,
        }
    }
}

#[derive(Args)]
pub struct ArchiveArgs {
    /// The stream's name.
    #[arg(long, conflicts_with = "stream_arn")]
    stream_name: Option<String>,
    /// The stream's ARN.
    #[arg(long)]
    stream_arn: Option<String>,
    /// The range's start (epoch seconds or ISO 8601).
    #[arg(long, value_name = "T1")]
    start_timestamp: String,
    /// The range's end, included (epoch seconds or ISO 8601) [default: now; with --follow,
    /// none].
    #[arg(long, value_name = "T2")]
    end_timestamp: Option<String>,
    /// The clock of the range.
    #[arg(long, value_enum, default_value = "PRODUCER_TIMESTAMP")]
    fragment_selector_type: ClockArg,
    /// Save the raw payload here (`-`: standard output); with --merge, one playable MKV.
    #[arg(value_name = "OUTFILE", conflicts_with = "output_dir")]
    outfile: Option<PathBuf>,
    /// Write one playable MKV per fragment into this directory (created if missing).
    #[arg(long, short = 'o', value_name = "DIR")]
    output_dir: Option<PathBuf>,
    /// Print one JSON line per fragment (the contract of `fragments --json`).
    #[arg(long)]
    json: bool,
    /// Merge the fragments into one playable MKV at OUTFILE instead of the raw payload.
    #[arg(long, requires = "outfile", conflicts_with = "resume")]
    merge: bool,
    /// Save the position here after each fragment, and continue from it when it exists.
    #[arg(long, value_name = "STATEFILE")]
    resume: Option<PathBuf>,
    /// Continue with the live stream after the range when it ends in the future.
    #[arg(long)]
    follow: bool,
    /// GetMediaForFragmentList calls in flight at once.
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=64))]
    max_in_flight: u64,
    /// Fragments per GetMediaForFragmentList call (1 to 1000).
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=1000))]
    batch_fragments: u64,
    /// Stop after N fragments.
    #[arg(long, value_name = "N")]
    max_fragments: Option<u64>,
    /// Give up after this many calls in a row bring no new fragment (default 5; none with
    /// --follow; 0: never).
    #[arg(long, value_name = "N")]
    max_retries: Option<u32>,
    /// Where the service is and which credentials, region and certificates to use.
    #[command(flatten)]
    aws: AwsArgs,
}

/// A range of a stream for `split --stream-name ...`: the stream, the range and the AWS
/// access options.
#[derive(Args)]
pub struct RangeArgs {
    /// Split a range of this stream's archive instead of a file (with --start-timestamp).
    #[arg(long, conflicts_with = "stream_arn", requires = "start_timestamp", help_heading = "Archive")]
    pub stream_name: Option<String>,
    /// The stream's ARN (instead of --stream-name).
    #[arg(long, requires = "start_timestamp", help_heading = "Archive")]
    pub stream_arn: Option<String>,
    /// The range's start (epoch seconds or ISO 8601).
    #[arg(long, value_name = "T1", help_heading = "Archive")]
    pub start_timestamp: Option<String>,
    /// The range's end, included [default: now].
    #[arg(long, value_name = "T2", requires = "start_timestamp", help_heading = "Archive")]
    pub end_timestamp: Option<String>,
    /// The clock of the range.
    #[arg(long, value_enum, default_value = "PRODUCER_TIMESTAMP", help_heading = "Archive")]
    pub fragment_selector_type: ClockArg,
    /// Where the service is and which credentials, region and certificates to use.
    #[command(flatten)]
    pub aws: AwsArgs,
}

impl RangeArgs {
    /// Whether a stream was named.
    pub fn is_stream(&self) -> bool {
        self.stream_name.is_some() || self.stream_arn.is_some()
    }
}

/// `split --stream-name ...`: `archive --output-dir DIR` of the range.
pub fn split(range: &RangeArgs, output_dir: &Path) -> ExitCode {
    let _ = COMMAND.set("split");
    let args = ArchiveArgs {
        stream_name: range.stream_name.clone(),
        stream_arn: range.stream_arn.clone(),
        start_timestamp: range.start_timestamp.clone().unwrap_or_default(),
        end_timestamp: range.end_timestamp.clone(),
        fragment_selector_type: range.fragment_selector_type,
        outfile: None,
        output_dir: Some(output_dir.to_path_buf()),
        json: false,
        merge: false,
        resume: None,
        follow: false,
        max_in_flight: 2,
        batch_fragments: 100,
        max_fragments: None,
        max_retries: None,
        aws: range.aws.clone(),
    };
    run(&args)
}

/// What `--resume` saves after each fragment.
#[derive(Debug, Serialize, Deserialize)]
struct State {
    /// The reader's position: the stream, the range and the last fragment written.
    position: ArchivePosition,
    /// Fragments (and exception chunks) written: the next JSON line's index.
    fragments: u64,
    /// The raw payload's length so far (OUTFILE's, when it is the raw payload).
    bytes: u64,
}

impl State {
    fn load(path: &Path) -> Result<Option<Self>, String> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                format!("--resume {}: not a state file of kvs-mkv archive: {e}", path.display())
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("--resume {}: {e}", path.display())),
        }
    }

    /// Written to a temporary file beside `path`, then renamed over it.
    fn save(&self, path: &Path) -> io::Result<()> {
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let mut f = File::create(&tmp)?;
        serde_json::to_writer(&mut f, self)?;
        f.write_all(b"\n")?;
        f.sync_data()?;
        drop(f);
        std::fs::rename(&tmp, path)
    }
}

/// Where the media goes.
enum Media {
    /// Nothing but the JSON lines.
    None,
    Raw(Box<dyn Write>),
    Split(Splitter),
    Merge(Merger),
}

/// Writes what the reader delivers, one document at a time.
struct Out {
    media: Media,
    /// The JSON lines' destination.
    json: Option<Box<dyn Write>>,
    /// Where `split`-style file lines go (stdout, or stderr with --json).
    to_stderr: bool,
    /// The next document's index and offset in the raw payload.
    index: u64,
    offset: u64,
    /// This run's fragments written, exception chunks, files that could not be written,
    /// and problems decoding a document.
    written: u64,
    missing: u64,
    failed: u64,
    damaged: u64,
}

impl Out {
    fn document(&mut self, doc: &Bytes, progress: &Progress) -> Result<(), String> {
        if let Media::Raw(out) = &mut self.media {
            out.write_all(doc).and_then(|()| out.flush()).map_err(|e| {
                // A closed pipe (`| head`) ends the run quietly.
                if e.kind() == io::ErrorKind::BrokenPipe {
                    String::new()
                } else {
                    format!("cannot write the payload: {e}")
                }
            })?;
        }
        if self.json.is_some() || matches!(self.media, Media::Split(_) | Media::Merge(_)) {
            let mut fragments = FragmentAssembler::without_frames();
            for item in kvs_chunk::Events::new(doc.clone()) {
                let event = match item {
                    Ok(e) => e,
                    Err(e) => {
                        self.damaged = self.damaged.saturating_add(1);
                        progress.suspend(|| eprintln!("kvs-mkv {}: document {}: {e}", cmd(), self.index));
                        break;
                    }
                };
                if self.json.is_some()
                    && let Some(f) = fragments.push(event.clone())
                {
                    self.json_line(f)?;
                }
                match &mut self.media {
                    Media::Split(s) => match s.event(event).map_err(|e| e.to_string())? {
                        Some(Outcome::Written { stats, .. }) => {
                            let line = format!("{}\t{} frames", stats.path.display(), stats.frames);
                            progress.suspend(|| {
                                if self.to_stderr {
                                    eprintln!("{line}");
                                } else {
                                    println!("{line}");
                                }
                            });
                        }
                        Some(Outcome::Failed { index, error }) => {
                            self.failed = self.failed.saturating_add(1);
                            progress
                                .suspend(|| eprintln!("kvs-mkv {}: fragment {index} lost: {error}", cmd()));
                        }
                        Some(Outcome::Skipped { .. }) | None => {}
                    },
                    Media::Merge(m) => m.event(event).map_err(|e| e.to_string())?,
                    Media::None | Media::Raw(_) => {}
                }
            }
            if let Some(f) = fragments.finish() {
                self.json_line(f)?;
            }
        }
        self.index = self.index.saturating_add(1);
        self.offset = self.offset.saturating_add(u64::try_from(doc.len()).unwrap_or(u64::MAX));
        self.written = self.written.saturating_add(1);
        Ok(())
    }

    fn missing(&mut self, error: ErrorChunk) -> Result<(), String> {
        self.missing = self.missing.saturating_add(1);
        let mut f = Fragment::of_error_chunk(error);
        f.index = 0;
        f.offset = 0;
        self.json_line(f)?;
        self.index = self.index.saturating_add(1);
        Ok(())
    }

    /// A fragment of the current document as a JSON line, numbered as in the raw payload.
    fn json_line(&mut self, mut f: Fragment) -> Result<(), String> {
        let Some(out) = &mut self.json else { return Ok(()) };
        f.index = self.index;
        f.offset = self.offset.saturating_add(f.offset);
        serde_json::to_writer(&mut *out, &crate::json::fragment(&f))
            .map_err(io::Error::other)
            .and_then(|()| out.write_all(b"\n"))
            .and_then(|()| out.flush())
            .map_err(|e| {
                if e.kind() == io::ErrorKind::BrokenPipe {
                    String::new()
                } else {
                    format!("cannot write output: {e}")
                }
            })
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The command in messages: `archive`, or the command that reads a range through it.
static COMMAND: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();

fn cmd() -> &'static str {
    COMMAND.get().copied().unwrap_or("archive")
}

/// The end of a range without --end-timestamp, with --follow: 9999-12-31T23:59:59.999Z.
const NO_END_MS: i64 = 253_402_300_799_999;

/// The range of `--start-timestamp T1` and `--end-timestamp T2` (epoch seconds or ISO
/// 8601) on `clock`; without T2 the range ends now, or never with `follow`.
///
/// # Errors
///
/// A one-line message for a timestamp that does not parse or a range that ends before it
/// starts.
pub fn range(
    clock: FragmentClock,
    start: &str,
    end: Option<&str>,
    follow: bool,
) -> Result<FragmentSelector, String> {
    let Some(start_ms) = crate::list_fragments::parse_time(start) else {
        return Err(format!("--start-timestamp {start:?} is neither epoch seconds nor ISO 8601"));
    };
    let end_ms = match end {
        Some(t) => crate::list_fragments::parse_time(t)
            .ok_or_else(|| format!("--end-timestamp {t:?} is neither epoch seconds nor ISO 8601"))?,
        None if follow => NO_END_MS,
        None => now_ms(),
    };
    FragmentSelector::new(clock, start_ms, end_ms).map_err(|e| e.to_string())
}

/// The default of --max-retries without --follow.
const DEFAULT_MAX_RETRIES: u32 = 5;

pub fn run(args: &ArchiveArgs) -> ExitCode {
    let usage = |m: &str| {
        eprintln!("kvs-mkv {}: {m}", cmd());
        ExitCode::from(2)
    };
    let stream = match (&args.stream_name, &args.stream_arn) {
        (Some(n), _) => StreamId::name(n),
        (None, Some(a)) => StreamId::arn(a),
        (None, None) => return usage("give the stream with --stream-name NAME or --stream-arn ARN"),
    };
    if args.outfile.is_none() && args.output_dir.is_none() && !args.json {
        return usage("say where the fragments go: OUTFILE, --output-dir DIR or --json");
    }
    let to_stdout = args.outfile.as_deref().is_some_and(|p| p.as_os_str() == "-");
    if to_stdout && (args.merge || args.resume.is_some()) {
        return usage("--merge and --resume need an OUTFILE other than `-`");
    }
    let clock = args.fragment_selector_type.clock();
    let selector = match range(clock, &args.start_timestamp, args.end_timestamp.as_deref(), args.follow) {
        Ok(s) => s,
        Err(e) => return usage(&e),
    };
    let (start, end) = (selector.start_ms(), selector.end_ms());
    // A saved state: the same stream and range, or nothing.
    let state = match args.resume.as_deref().map(State::load).transpose() {
        Ok(s) => s.flatten(),
        Err(e) => return usage(&e),
    };
    if let Some(s) = &state {
        let p = &s.position;
        if p.stream != stream.as_str() || p.clock != clock || p.start_ms != start || p.end_ms != end {
            return usage(&format!(
                "--resume: the state file is for {} {} {}..={}, not this stream and range",
                p.stream, p.clock, p.start_ms, p.end_ms
            ));
        }
    }
    let (index, offset) = state.as_ref().map_or((0, 0), |s| (s.fragments, s.bytes));
    let media = match open_media(args, to_stdout, state.as_ref().map(|s| s.bytes)) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("kvs-mkv {}: {e}", cmd());
            return ExitCode::FAILURE;
        }
    };
    let json: Option<Box<dyn Write>> = args.json.then(|| -> Box<dyn Write> {
        if to_stdout {
            Box::new(BufWriter::new(io::stderr()))
        } else {
            Box::new(BufWriter::new(io::stdout()))
        }
    });
    let to_stderr = args.json;
    let mut out =
        Out { media, json, to_stderr, index, offset, written: 0, missing: 0, failed: 0, damaged: 0 };
    let give_up = match args.max_retries {
        Some(0) => None,
        Some(n) => Some(n),
        None if args.follow => None,
        None => Some(DEFAULT_MAX_RETRIES),
    };
    progress::catch_ctrl_c();
    let Some(runtime) = progress::runtime("archive") else { return ExitCode::FAILURE };
    runtime.block_on(async move {
        let client = match args.aws.client().await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("kvs-mkv {}: {e}", cmd());
                return ExitCode::from(2);
            }
        };
        let mut builder = ArchiveReader::builder(client, stream, selector)
            .max_in_flight(usize::try_from(args.max_in_flight).unwrap_or(1))
            .batch_fragments(usize::try_from(args.batch_fragments).unwrap_or(1))
            .raw_documents(true)
            .frames(false)
            .follow(args.follow)
            .max_retries(give_up);
        if let Some(s) = state {
            builder = builder.resume(s.position);
        }
        let reader = builder.build();
        read(args, reader, &mut out).await
    })
}

/// OUTFILE (cut back to `resume_bytes` and appended to when resuming), the Splitter or the
/// Merger.
fn open_media(args: &ArchiveArgs, to_stdout: bool, resume_bytes: Option<u64>) -> Result<Media, String> {
    if let Some(dir) = &args.output_dir {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create the directory {}: {e}", dir.display()))?;
        return Ok(Media::Split(Splitter::new(dir)));
    }
    let Some(path) = &args.outfile else { return Ok(Media::None) };
    if args.merge {
        return Ok(Media::Merge(Merger::new(path)));
    }
    if to_stdout {
        return Ok(Media::Raw(Box::new(io::stdout())));
    }
    let name = path.display();
    let file = match resume_bytes {
        None => File::create(path).map_err(|e| format!("cannot create {name}: {e}"))?,
        Some(len) => {
            let mut f = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)
                .map_err(|e| format!("cannot open {name}: {e}"))?;
            let have = f.metadata().map_err(|e| format!("cannot read {name}: {e}"))?.len();
            if have < len {
                return Err(format!(
                    "{name} holds {have} bytes, fewer than the {len} the state file says were written: \
                     it is not the file of that run"
                ));
            }
            // A fragment being written when the run stopped is dropped, and written again.
            f.set_len(len).map_err(|e| format!("cannot cut {name} back to {len} bytes: {e}"))?;
            f.seek(SeekFrom::End(0)).map_err(|e| format!("cannot seek in {name}: {e}"))?;
            f
        }
    };
    Ok(Media::Raw(Box::new(BufWriter::with_capacity(1 << 16, file))))
}

async fn read(args: &ArchiveArgs, mut reader: ArchiveReader, out: &mut Out) -> ExitCode {
    let progress = Progress::fragments("archive");
    let mut status = ExitCode::SUCCESS;
    let mut listed_bytes = 0u64;
    let mut interrupted = false;
    let mut limit_reached = false;
    let mut ended = false;
    let mut bytes_written = 0u64;
    let limit = args.max_fragments;
    if limit == Some(0) {
        limit_reached = true;
    }
    while !limit_reached {
        // Wake up now and then to notice Ctrl-C while waiting (a quiet live stream).
        let Ok(item) = tokio::time::timeout(Duration::from_millis(250), reader.next()).await else {
            if progress::interrupted() {
                interrupted = true;
                break;
            }
            continue;
        };
        let Some(item) = item else { break };
        let mut wrote = false;
        let result = match item {
            Ok(ArchiveItem::Listed { fragments, bytes, .. }) => {
                progress.set_length(fragments);
                listed_bytes = bytes;
                Ok(())
            }
            Ok(ArchiveItem::Fragment { info, document, .. }) => match document {
                Some(doc) => {
                    wrote = true;
                    bytes_written =
                        bytes_written.saturating_add(u64::try_from(doc.len()).unwrap_or(u64::MAX));
                    out.document(&doc, &progress)
                }
                None => Err(format!("fragment {}: the reader gave no document", info.fragment_number)),
            },
            Ok(ArchiveItem::Missing { info, error }) => {
                progress.suspend(|| eprintln!("kvs-mkv {}: {}", cmd(), missing_line(&info, &error)));
                wrote = true;
                out.missing(error)
            }
            Ok(ArchiveItem::Retrying { attempt, reason, delay }) => {
                let reason = reason.replace(['\n', '\r'], " ");
                progress.suspend(|| {
                    eprintln!(
                        "kvs-mkv {}: {reason}; retrying (#{attempt}) in {} ms",
                        cmd(),
                        delay.as_millis()
                    );
                });
                Ok(())
            }
            Ok(ArchiveItem::ArchiveEnd { .. }) => {
                ended = true;
                if args.follow {
                    progress.set_message("the range's archive is read; following the live stream".to_owned());
                }
                Ok(())
            }
            Ok(ArchiveItem::Live(ConsumerEvent::Document { bytes })) => {
                wrote = true;
                bytes_written = bytes_written.saturating_add(u64::try_from(bytes.len()).unwrap_or(u64::MAX));
                out.document(&bytes, &progress)
            }
            Ok(ArchiveItem::Live(ConsumerEvent::ErrorChunk(e))) => {
                progress.suspend(|| {
                    eprintln!("kvs-mkv {}: live: {}", cmd(), crate::fragment_list::describe_error_chunk(&e));
                });
                out.missing = out.missing.saturating_add(1);
                Ok(())
            }
            Ok(ArchiveItem::Live(ConsumerEvent::Reconnecting { attempt, reason, delay })) => {
                let reason = reason.to_string().replace(['\n', '\r'], " ");
                progress.suspend(|| {
                    eprintln!(
                        "kvs-mkv {}: live: {reason}; reconnecting (#{attempt}) in {} ms",
                        cmd(),
                        delay.as_millis()
                    );
                });
                Ok(())
            }
            Ok(_) => Ok(()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = result {
            // Empty: the reader of the output went away (a closed pipe): stop quietly.
            if !e.is_empty() {
                progress.suspend(|| eprintln!("kvs-mkv {}: {}", cmd(), e.replace(['\n', '\r'], " ")));
                status = ExitCode::FAILURE;
            }
            break;
        }
        if wrote {
            if let Some(path) = &args.resume {
                let state = State { position: reader.position(), fragments: out.index, bytes: out.offset };
                if let Err(e) = state.save(path) {
                    progress.suspend(|| eprintln!("kvs-mkv {}: cannot save {}: {e}", cmd(), path.display()));
                    status = ExitCode::FAILURE;
                    break;
                }
            }
            progress.set_position(out.written.saturating_add(out.missing));
            progress.set_message(format!(
                "{} of {}",
                indicatif::HumanBytes(bytes_written),
                indicatif::HumanBytes(listed_bytes)
            ));
            limit_reached = limit.is_some_and(|n| out.written.saturating_add(out.missing) >= n);
        }
        if progress::interrupted() {
            interrupted = true;
            break;
        }
    }
    progress.finish();
    finish(args, out, status, interrupted, ended || limit_reached)
}

fn missing_line(info: &FragmentInfo, error: &ErrorChunk) -> String {
    format!(
        "{} (listed at producer time {}): skipped",
        crate::fragment_list::describe_error_chunk(error),
        kvs_mux::text::iso_ms(info.producer_timestamp_ms)
    )
}

/// Closes the files, prints what was written, gives the exit status.
fn finish(
    args: &ArchiveArgs,
    out: &mut Out,
    mut status: ExitCode,
    interrupted: bool,
    whole: bool,
) -> ExitCode {
    let media = std::mem::replace(&mut out.media, Media::None);
    let print = |line: String| {
        if out.to_stderr {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    };
    match media {
        Media::Raw(mut w) => {
            if let Err(e) = w.flush() {
                eprintln!("kvs-mkv {}: cannot write the payload: {e}", cmd());
                status = ExitCode::FAILURE;
            }
            if let Some(p) = args.outfile.as_ref().filter(|p| p.as_os_str() != "-") {
                eprintln!(
                    "kvs-mkv {}: wrote {} fragment(s) to {}, {} bytes in all",
                    cmd(),
                    out.written,
                    p.display(),
                    out.offset
                );
            }
        }
        Media::Split(s) => {
            let (last, dropped) = s.finish();
            for line in dropped.lines() {
                eprintln!("kvs-mkv {}: {line}", cmd());
            }
            match last {
                Ok(Some(stats)) => print(format!("{}\t{} frames", stats.path.display(), stats.frames)),
                Ok(None) => {}
                Err(e) => {
                    eprintln!("kvs-mkv {}: {e}", cmd());
                    status = ExitCode::FAILURE;
                }
            }
            if let Some(dir) = &args.output_dir {
                eprintln!("kvs-mkv {}: {} fragment(s) in {}", cmd(), out.written, dir.display());
            }
        }
        Media::Merge(m) => {
            let (files, dropped) = m.finish();
            for line in dropped.lines() {
                eprintln!("kvs-mkv {}: {line}", cmd());
            }
            match files {
                Ok(files) if files.is_empty() => {
                    eprintln!("kvs-mkv {}: the range has no frames: nothing written", cmd());
                    status = ExitCode::FAILURE;
                }
                Ok(files) => {
                    for f in &files {
                        print(format!(
                            "{}\t{} frames\t{} clusters\t{:.3} s",
                            f.path.display(),
                            f.frames,
                            f.clusters,
                            Duration::from_nanos(f.duration_ns).as_secs_f64()
                        ));
                    }
                }
                Err(e) => {
                    eprintln!("kvs-mkv {}: {e}", cmd());
                    status = ExitCode::FAILURE;
                }
            }
        }
        Media::None => {}
    }
    if let Some(j) = &mut out.json
        && let Err(e) = j.flush()
        && e.kind() != io::ErrorKind::BrokenPipe
    {
        eprintln!("kvs-mkv {}: cannot write output: {e}", cmd());
        status = ExitCode::FAILURE;
    }
    if out.missing > 0 {
        eprintln!("kvs-mkv {}: {} fragment(s) could not be read (exception chunks)", cmd(), out.missing);
        status = ExitCode::FAILURE;
    }
    if out.failed > 0 || out.damaged > 0 {
        status = ExitCode::FAILURE;
    }
    if interrupted {
        match &args.resume {
            Some(p) => eprintln!(
                "kvs-mkv {}: interrupted after {} fragment(s); run again with --resume {} to continue",
                cmd(),
                out.written,
                p.display()
            ),
            None => eprintln!("kvs-mkv {}: interrupted after {} fragment(s)", cmd(), out.written),
        }
        return ExitCode::from(130);
    }
    if whole && out.written == 0 && out.missing == 0 && out.index == 0 {
        eprintln!("kvs-mkv {}: no fragment in the range", cmd());
    }
    status
}
