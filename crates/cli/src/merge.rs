//! `kvs-mkv merge`: GetMedia fragments into one playable MKV, with [`kvs_mux::Merger`] (the
//! job of the Java parser library's `OutputSegmentMerger`). This file reads the arguments,
//! runs the event loop (reading a document's Tracks ahead when its clusters come first),
//! prints the files written and what was left out, and gives the exit status.

use std::path::PathBuf;

use kvs_chunk::Event;
use kvs_mux::Merger;

/// `kvs-mkv merge` on the command line.
#[derive(clap::Args)]
pub struct MergeArgs {
    /// The input file, or `-` for standard input.
    input: PathBuf,
    /// The output file; a change of tracks continues in OUT-1.mkv, OUT-2.mkv, ...
    #[arg(long, short = 'o')]
    output: PathBuf,
    #[command(flatten)]
    read: crate::ReadArgs,
}

pub const AFTER_HELP: &str = concat!(
    "\
Merges the fragments of a GetMedia payload into one playable MKV file: one EBML header,
one Segment, one Tracks, the clusters with their timestamps rewritten to one continuous
timeline starting at 0 (gaps between fragments and timestamps that go back are removed),
every tag kept (the service's AWS_KINESISVIDEO_* tags and the producer's, per fragment),
and Cues for seeking. Each frame is written as its own block (lacing is not kept). When
the tracks change (codec, codec private data, size, audio format) the current file is
finished and the merge continues in OUT-1.mkv, then OUT-2.mkv, ... The files written are
printed on stdout. Ctrl-C finishes the current file cleanly and stops. So that every file
reads back: tracks numbered 0 or above 2^56-2, a repeated track number (the first entry is
",
    crate::left_out_help!(),
    "\n",
    crate::damaged_input_help!(),
    "

Examples:
  kvs-mkv merge testdata/getmedia_basic.mkv --output merged.mkv
  aws kinesis-video-media get-media ... /dev/stdout | kvs-mkv merge - -o merged.mkv
  ffprobe merged.mkv"
);

pub fn run(args: &MergeArgs) -> std::process::ExitCode {
    use std::process::ExitCode;
    let input = match crate::progress::Input::open(&args.input) {
        Ok(i) => i,
        Err(refused) => return refused.report("merge"),
    };
    crate::progress::catch_ctrl_c();
    let mut merger = Merger::new(&args.output);
    // Tracks read ahead for a document whose clusters come before them.
    let mut late = crate::progress::LateTracks::new(&input, args.read.options());
    let opts = args.read.options();
    let result = crate::progress::each_event("merge", input, opts, |event, _| {
        if let Some(tracks) = late.before(&event, merger.needs_tracks()) {
            // The document's Tracks come after its clusters: read ahead in the file.
            merger.event(Event::Tracks(tracks))?;
        }
        merger.event(event)
    });
    let (files, dropped) = merger.finish();
    for line in dropped.lines() {
        eprintln!("kvs-mkv merge: {line}");
    }
    match (result, files) {
        (Err(e), _) | (Ok(_), Err(e)) => {
            eprintln!("kvs-mkv merge: {e}");
            ExitCode::FAILURE
        }
        (Ok(ended), Ok(files)) => {
            if files.is_empty() {
                if ended.read_whole() {
                    eprintln!("kvs-mkv merge: the input has no frames: nothing written");
                } else {
                    eprintln!("kvs-mkv merge: no frames could be read: nothing written");
                }
                return ExitCode::FAILURE;
            }
            for f in &files {
                println!(
                    "{}\t{} frames\t{} clusters\t{:.3} s",
                    f.path.display(),
                    f.frames,
                    f.clusters,
                    seconds(f.duration_ns)
                );
            }
            if let Some(line) = ended.caveat("merge") {
                eprintln!("{line}");
            }
            crate::progress::exit_status(ended)
        }
    }
}

/// Nanoseconds as seconds, for display.
#[allow(clippy::cast_precision_loss)]
fn seconds(ns: u64) -> f64 {
    ns as f64 / 1e9
}
