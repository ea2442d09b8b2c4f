//! `kvs-mkv inspect`: a readable summary of a file, stdin or a live stream: the tracks, a
//! table of fragments, and what looks wrong (gaps in producer time, timestamp jumps,
//! incomplete fragments, in-stream errors).
//!
//! This module is the command (its arguments, file or stdin input); the report itself is
//! [`crate::inspector`], a live stream's input [`crate::live`].

use std::io::{self, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::ValueEnum;

use crate::inspector::Inspector;
use crate::progress::{Input, each_event, exit_status};

pub const AFTER_HELP: &str = concat!(
    "\
Prints the tracks (codec, size, frame or sample rate), then one row per fragment: its
number (shortened: first and last six digits), producer and server time (UTC), media
duration, frames, keyframes, bytes of frame data and lag (millis-behind-now), then what
looks wrong: a gap in producer time before a fragment, media timestamps that jump or go
back, an incomplete fragment (no continuation token: the stream was cut), an in-stream
error. Colour when stdout is a terminal (--color to choose).
A plain Matroska/WebM file (no KVS fragment tags) is reported as such.
With --html REPORT.html the table is still printed, and a self-contained HTML page is
written when the input ends (with --follow: at Ctrl-C): a timeline of the fragments on the
producer and server clocks (gaps, timestamp restarts, incomplete fragments and errors
marked; hover a fragment for its number, times, size, frames and tags), millis-behind-now,
bitrate and frame sizes per track, keyframe intervals, the producer-to-server clock offset,
and thumbnails (GetImages of one keyframe at least --thumbnails-every seconds apart, 1 by
default, at most --max-thumbnails, 200 by default, thinned evenly as the input grows). It
opens offline (no request leaves the page) and shows the numbers of the table.
",
    crate::damaged_input_help!(),
    "

Examples:
  kvs-mkv inspect testdata/getmedia_basic.mkv
  kvs-mkv inspect - < payload.mkv
  kvs-mkv inspect --html report.html payload.mkv                          # and a web page
  kvs-mkv inspect --stream-name cam --endpoint-url http://127.0.0.1:4567 --start-selector-type EARLIEST
  kvs-mkv inspect --stream-name cam --start-selector-type NOW --follow    # Ctrl-C to stop
  kvs-mkv inspect --stream-name cam --start-timestamp 2024-05-01T14:00:00Z \\
      --end-timestamp 2024-05-01T14:20:00Z                                 # the archive

With --stream-name the stream is read live with GetMedia from --start-selector-type, or,
when --end-timestamp (or --archive) is given, a range of its archive is read as `kvs-mkv
archive` reads it (ListFragments, GetMediaForFragmentList; every fragment of the range
once, in order): from --start-timestamp to --end-timestamp (without it: to now, or with
--follow on into the live stream), on the server's clock with --start-selector-type
SERVER_TIMESTAMP, else on the producer's."
);

/// When to colour the output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// When stdout is a terminal and NO_COLOR is not set.
    Auto,
    Always,
    Never,
}

/// `kvs-mkv inspect` on the command line.
#[derive(clap::Args)]
pub struct InspectArgs {
    /// The input file, or `-` for standard input (or --stream-name for a live stream).
    #[arg(required_unless_present_any = ["stream_name", "stream_arn"], conflicts_with_all = ["stream_name", "stream_arn"])]
    input: Option<PathBuf>,
    #[command(flatten)]
    live: crate::live::LiveArgs,
    /// Colour the output.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
    #[command(flatten)]
    report: crate::report::ReportArgs,
    #[command(flatten)]
    read: crate::ReadArgs,
}

/// Whether to colour stdout.
pub fn use_color(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        }
    }
}

pub fn run(args: &InspectArgs) -> ExitCode {
    let color = use_color(args.color);
    let Some(path) = &args.input else {
        return crate::live::inspect(&args.live, color, &args.report);
    };
    let input = match Input::open(path) {
        Ok(i) => i,
        Err(refused) => return refused.report("inspect"),
    };
    crate::progress::catch_ctrl_c();
    let name = if path.as_os_str() == "-" {
        "stdin".to_owned()
    } else {
        path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
    };
    let mut inspector = Inspector::new(name, color).with_report(&args.report);
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let opts = args.read.options();
    let result = each_event("inspect", input, opts, |event, progress| {
        inspector.problems = progress.problems();
        progress.suspend(|| inspector.event(&mut out, event))
    });
    let result = result.and_then(|ended| inspector.finish(&mut out, &ended).map(|()| ended));
    match result {
        Ok(ended) => exit_status(ended),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kvs-mkv inspect: cannot write output: {e}");
            ExitCode::FAILURE
        }
    }
}
