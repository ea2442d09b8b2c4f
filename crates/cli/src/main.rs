//! `kvs-mkv`: read Kinesis Video Streams GetMedia payloads and Matroska files.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use kvs_chunk::{Event, Options, ReadEvents};

mod diag;
mod escape;
mod extract;
mod get_media;
mod images;
mod inspect;
mod json;
mod live;
mod merge;
mod mkvout;
mod progress;
mod serve;
mod split;
mod stream_args;
mod summary;
mod table;

const TOUR: &str = "\
Examples:
  kvs-mkv inspect payload.mkv                       what is in it, what looks wrong
  kvs-mkv fragments --json payload.mkv              one JSON object per fragment
  kvs-mkv split payload.mkv --output-dir frags/     one playable MKV per fragment
  kvs-mkv merge payload.mkv --output merged.mkv     one playable MKV
  kvs-mkv extract payload.mkv --track 1 --output video.h264
  kvs-mkv completions bash > ~/.local/share/bash-completion/completions/kvs-mkv

FILE may be `-` for standard input. `kvs-mkv help COMMAND` shows each command's examples.";

/// Read Kinesis Video Streams GetMedia payloads and Matroska/WebM files.
#[derive(Parser)]
#[command(name = "kvs-mkv", version, about, long_about = None, after_help = TOUR)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// A readable summary: tracks, a table of fragments, gaps, timestamp jumps and
    /// incomplete fragments pointed out (a file, stdin or a live stream).
    #[command(after_help = inspect::AFTER_HELP)]
    Inspect(inspect::InspectArgs),
    /// One line per fragment (document): fragment number, timestamps, frames, tags.
    #[command(
        after_help = "Examples:\n  kvs-mkv fragments testdata/getmedia_basic.mkv\n  kvs-mkv fragments --json - < payload.mkv\n  \
                      aws kinesis-video-media get-media ... /dev/stdout | kvs-mkv fragments --json -"
    )]
    Fragments(InputArgs),
    /// One line per event: documents, tracks, metadata, frames (with CRC-32), tags, ends.
    #[command(
        after_help = "Examples:\n  kvs-mkv events --json testdata/getmedia_basic.mkv\n  kvs-mkv events - < payload.mkv"
    )]
    Events(InputArgs),
    /// Serve files as Kinesis Video Streams streams: GetDataEndpoint, DescribeStream and
    /// GetMedia over HTTP, with every StartSelector, live pacing and fault injection.
    #[command(after_help = serve::AFTER_HELP)]
    Serve(serve::ServeArgs),
    /// GetMedia from Kinesis Video Streams (or a local `serve`), resumed after cuts, one line
    /// per complete fragment as `fragments` prints them.
    #[command(after_help = get_media::AFTER_HELP)]
    GetMedia(get_media::GetMediaArgs),
    /// GetImages: images sampled from media at a fixed interval (JPEG or PNG, resized), from a
    /// file, the GetImages API (AWS or a local `serve`) or a GetMedia stream.
    #[command(after_help = images::AFTER_HELP)]
    Images(images::ImagesArgs),
    /// Each fragment as a standalone, playable MKV file named by fragment number and time.
    #[command(after_help = split::AFTER_HELP)]
    Split(split::SplitArgs),
    /// Fragments into one playable MKV (continuous timestamps, tags kept), like the Java
    /// library's OutputSegmentMerger; a change of tracks starts a new file.
    #[command(after_help = merge::AFTER_HELP)]
    Merge(merge::MergeArgs),
    /// One track's elementary stream: H.264/H.265 as Annex B, audio raw or as WAV (Amazon
    /// Connect call audio included).
    #[command(after_help = extract::AFTER_HELP)]
    Extract(extract::ExtractArgs),
    /// Shell completions: `kvs-mkv completions bash > /etc/bash_completion.d/kvs-mkv`.
    #[command(
        after_help = "Examples:\n  kvs-mkv completions bash > ~/.local/share/bash-completion/completions/kvs-mkv\n  \
                      kvs-mkv completions zsh > ~/.zfunc/_kvs-mkv\n  kvs-mkv completions fish > ~/.config/fish/completions/kvs-mkv.fish"
    )]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Args)]
struct InputArgs {
    /// The input file, or `-` for standard input.
    input: PathBuf,
    /// Print one JSON object per line (the stable machine-readable contract).
    #[arg(long)]
    json: bool,
    /// After malformed input, skip to the next document or cluster instead of stopping.
    #[arg(long)]
    resync: bool,
    /// Verify CRC-32 elements.
    #[arg(long)]
    verify_crc: bool,
}

impl InputArgs {
    fn open(&self) -> io::Result<Box<dyn Read>> {
        if self.input.as_os_str() == "-" {
            Ok(Box::new(io::stdin().lock()))
        } else {
            Ok(Box::new(File::open(&self.input)?))
        }
    }

    fn options(&self) -> Options {
        Options::default().resync(self.resync).verify_crc(self.verify_crc)
    }
}

/// What each command does with the events.
trait Sink {
    fn event(&mut self, out: &mut dyn Write, event: Event) -> io::Result<()>;
    fn finish(&mut self, out: &mut dyn Write) -> io::Result<()>;
}

fn run(args: &InputArgs, sink: &mut dyn Sink) -> ExitCode {
    let input = match args.open() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("kvs-mkv: cannot open {}: {e}", args.input.display());
            return ExitCode::from(2);
        }
    };
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(64 * 1024, stdout.lock());
    let mut status = ExitCode::SUCCESS;
    let mut write_result = Ok(());
    let mut diag = diag::Diagnostics::new("", &args.input.display().to_string());
    for item in ReadEvents::with_options(input, args.options()) {
        match item {
            Ok(event) => {
                if let Event::Warning(w) = &event
                    && let Some(line) = diag.warning(w)
                {
                    eprintln!("{line}");
                }
                write_result = sink.event(&mut out, event);
                if write_result.is_err() {
                    break;
                }
            }
            Err(e) => {
                if let Some(line) = diag.error(&e) {
                    eprintln!("{line}");
                }
                status = ExitCode::FAILURE;
            }
        }
    }
    if write_result.is_ok() {
        write_result = sink.finish(&mut out).and_then(|()| out.flush());
    }
    for line in diag.summary() {
        eprintln!("{line}");
    }
    match write_result {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => status,
        Err(e) => {
            eprintln!("kvs-mkv: cannot write output: {e}");
            ExitCode::FAILURE
        }
        Ok(()) => status,
    }
}

/// One plain sentence: what went wrong, where, and what to do.
fn describe(e: &kvs_chunk::Error) -> String {
    let hint = match e {
        kvs_chunk::Error::Ebml(inner) if inner.is_eof() => {
            " (the input is truncated; everything before it was read)"
        }
        kvs_chunk::Error::Ebml(_) => {
            " (the input is malformed here; try --resync to skip to the next fragment)"
        }
        _ => "",
    };
    format!("{e}{hint}")
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Inspect(args) => inspect::run(&args),
        Command::Fragments(args) => {
            if args.json {
                run(&args, &mut json::FragmentsJson::default())
            } else {
                run(&args, &mut table::FragmentsTable::default())
            }
        }
        Command::Events(args) => {
            if args.json {
                run(&args, &mut json::EventsJson)
            } else {
                run(&args, &mut table::EventsText)
            }
        }
        Command::Serve(args) => serve::run(&args),
        Command::GetMedia(args) => get_media::run(&args),
        Command::Images(args) => images::run(&args),
        Command::Split(args) => split::run(&args),
        Command::Merge(args) => merge::run(&args),
        Command::Extract(args) => extract::run(&args),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "kvs-mkv", &mut io::stdout());
            ExitCode::SUCCESS
        }
    }
}
