//! `kvs-mkv split`: each fragment (document) as a standalone, playable MKV file, with
//! [`kvs_mux::Splitter`] (names by fragment number and producer time). This file reads the
//! arguments, runs the event loop (reading a document's Tracks ahead when its clusters come
//! first), prints one line per file and what was left out, and gives the exit status.

use std::path::PathBuf;

use kvs_chunk::Event;
use kvs_mux::OutError;
use kvs_mux::split::{Outcome, Splitter};

/// `kvs-mkv split` on the command line.
#[derive(clap::Args)]
pub struct SplitArgs {
    /// The input file, or `-` for standard input (or --stream-name for an archived range).
    #[arg(required_unless_present_any = ["stream_name", "stream_arn"], conflicts_with_all = ["stream_name", "stream_arn"])]
    input: Option<PathBuf>,
    /// The directory to write the files to (created if missing).
    #[arg(long, short = 'o')]
    output_dir: PathBuf,
    #[command(flatten)]
    read: crate::ReadArgs,
    #[command(flatten)]
    range: crate::archive::RangeArgs,
}

pub const AFTER_HELP: &str = concat!(
    "\
Each fragment (one document of a GetMedia payload; one Segment of a plain MKV file) becomes
a standalone MKV file in the output directory, named <fragment number>_<producer time>.mkv
(e.g. 91343852333181432392682062607743920146159169392_20171128T065508.513Z.mkv), with its
tracks, frames, timestamps and tags (the service's and the producer's) as they were. One
line per file is printed on stdout. A fragment with no frames (an in-stream error chunk)
writes no file. Ctrl-C finishes the file being written and stops. So that every file reads
back: tracks numbered 0 or above 2^56-2, a repeated track number (the first entry is
",
    crate::left_out_help!(),
    "\n",
    crate::damaged_input_help!(),
    "

Examples:
  kvs-mkv split testdata/getmedia_basic.mkv --output-dir fragments/
  aws kinesis-video-media get-media ... /dev/stdout | kvs-mkv split - -o fragments/
  kvs-mkv split --stream-name cam --start-timestamp 2024-05-01T14:00:00Z \\
      --end-timestamp 2024-05-01T14:20:00Z -o fragments/

With --stream-name (or --stream-arn) and --start-timestamp, the fragments of that range of
the stream's archive are split, each once and in order, as `kvs-mkv archive --output-dir`
does it (ListFragments and GetMediaForFragmentList; --end-timestamp defaults to now;
--fragment-selector-type picks the clock; AWS access as in `get-media --help`)."
);

pub fn run(args: &SplitArgs) -> std::process::ExitCode {
    use std::process::ExitCode;
    let Some(path) = args.input.as_deref().filter(|_| !args.range.is_stream()) else {
        return crate::archive::split(&args.range, &args.output_dir);
    };
    let input = match crate::progress::Input::open(path) {
        Ok(i) => i,
        Err(refused) => return refused.report("split"),
    };
    if let Err(e) = std::fs::create_dir_all(&args.output_dir) {
        eprintln!("kvs-mkv split: cannot create the directory {}: {e}", args.output_dir.display());
        return ExitCode::from(2);
    }
    crate::progress::catch_ctrl_c();
    let mut splitter = Splitter::new(&args.output_dir);
    // Tracks read ahead for a document whose clusters come before them.
    let mut late = crate::progress::LateTracks::new(&input, args.read.options());
    let mut written = 0u64;
    let mut failed = 0u64;
    let opts = args.read.options();
    // Problems in the input when the current document began: a file whose document saw
    // more is marked damaged.
    let mut problems_before = 0u64;
    let mut problems_now = 0u64;
    let result = crate::progress::each_event("split", input, opts, |event, progress| {
        problems_now = progress.problems();
        if event.starts_fragment() {
            problems_before = problems_now;
        }
        if let Some(tracks) = late.before(&event, splitter.needs_tracks()) {
            // The document's Tracks come after its clusters: read ahead in the file.
            splitter.event(Event::Tracks(tracks))?;
        }
        match splitter.event(event)? {
            Some(Outcome::Written { stats, kvs, complete }) => {
                written = written.saturating_add(1);
                let damaged = problems_now > problems_before;
                progress.suspend(|| {
                    println!(
                        "{}\t{} frames{}{}",
                        stats.path.display(),
                        stats.frames,
                        if kvs && !complete { "\tincomplete" } else { "" },
                        if damaged { "\tdamaged: part of it was unreadable or skipped" } else { "" }
                    );
                });
            }
            Some(Outcome::Failed { index, error }) => {
                failed = failed.saturating_add(1);
                progress.suspend(|| eprintln!("kvs-mkv split: document {index} lost: {error}"));
            }
            Some(Outcome::Skipped { index, reason }) => {
                progress
                    .suspend(|| eprintln!("kvs-mkv split: document {index} has {reason}: no file written"));
            }
            None => {}
        }
        Ok::<(), OutError>(())
    });
    let (last, dropped) = splitter.finish();
    for line in dropped.lines() {
        eprintln!("kvs-mkv split: {line}");
    }
    let ended = match (result, last) {
        (Err(e), _) | (Ok(_), Err(e)) => {
            eprintln!("kvs-mkv split: {e}");
            return ExitCode::FAILURE;
        }
        (Ok(ended), Ok(last)) => {
            if let Some(stats) = last {
                written = written.saturating_add(1);
                println!(
                    "{}\t{} frames\tcut: the input stopped inside it",
                    stats.path.display(),
                    stats.frames
                );
            }
            ended
        }
    };
    let files = if written == 1 { "file" } else { "files" };
    eprintln!("kvs-mkv split: {written} {files} in {}", args.output_dir.display());
    if let Some(line) = ended.caveat("split") {
        eprintln!("{line}");
    }
    if failed > 0 && !ended.interrupted {
        let docs = if failed == 1 { "document" } else { "documents" };
        eprintln!("kvs-mkv split: {failed} {docs} could not be written");
        return ExitCode::FAILURE;
    }
    crate::progress::exit_status(ended)
}
