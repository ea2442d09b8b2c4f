//! `kvs-mkv`: read Kinesis Video Streams GetMedia payloads and Matroska files.
// The doc comments of the argument structs are the `--help` text, printed as written:
// `<ContactId>` there is a placeholder for the user, not an HTML tag.
#![allow(rustdoc::invalid_html_tags)]

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use kvs_chunk::{Event, Options, ReadEvents};

/// The paragraph of a reading command's help on damaged and refused input.
macro_rules! damaged_input_help {
    () => {
        "Damaged input (junk, a malformed or over-long element) is skipped: each skip is
reported on stderr with its offset and size, and the exit status is 1; --strict stops at
the first error instead. Input that is not Matroska/EBML is refused (status 1); a missing
file or a directory gives status 2."
    };
}
pub(crate) use damaged_input_help;

/// The end of the MKV writers' (`split`, `merge`) help sentence on what is left out so that
/// every file reads back, and on Tracks read ahead.
macro_rules! left_out_help {
    () => {
        "kept), frames of tracks that Tracks does not declare, and tags larger than kvs-mkv reads
are left out, with one warning line per kind on stderr. A document whose Tracks come after
its clusters (valid Matroska: players find them through the SeekHead) has them read ahead
when the input is a regular file (not standard input).
"
    };
}
pub(crate) use left_out_help;

mod archive;
mod diag;
mod extract;
mod fleet;
mod fragment_list;
mod get_media;
mod images;
mod inspect;
mod inspector;
mod json;
mod list_fragments;
mod list_streams;
mod live;
mod merge;
mod progress;
mod report;
mod serve;
mod split;
mod stream_args;
mod table;

const TOUR: &str = "\
Examples:
  kvs-mkv inspect payload.mkv                       what is in it, what looks wrong
  kvs-mkv fragments --json payload.mkv              one JSON object per fragment
  kvs-mkv split payload.mkv --output-dir frags/     one playable MKV per fragment
  kvs-mkv merge payload.mkv --output merged.mkv     one playable MKV
  kvs-mkv extract payload.mkv --track 1 --output video.h264
  kvs-mkv archive --stream-name cam --start-timestamp T1 --end-timestamp T2 range.mkv
  kvs-mkv completions bash > ~/.local/share/bash-completion/completions/kvs-mkv

FILE may be `-` for standard input. `kvs-mkv help COMMAND` shows each command's examples.";

/// `--version`: the version and the GetImages decoder backend this build uses.
fn long_version() -> &'static str {
    static TEXT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TEXT.get_or_init(|| {
        format!("{}\nimages decoder: {}", env!("CARGO_PKG_VERSION"), kvs_images::decoder_backend())
    })
}

/// Read Kinesis Video Streams GetMedia payloads and Matroska/WebM files.
#[derive(Parser)]
#[command(name = "kvs-mkv", version, long_version = long_version(), about, long_about = None, after_help = TOUR)]
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
    /// ListFragments: the fragments of a time range, with the AWS CLI's flags, pagination
    /// and JSON output.
    #[command(after_help = list_fragments::AFTER_HELP)]
    ListFragments(list_fragments::ListFragmentsArgs),
    /// ListStreams: the streams (all, or those whose name begins with a prefix), with the AWS
    /// CLI's flags, pagination and JSON output.
    #[command(after_help = list_streams::AFTER_HELP)]
    ListStreams(list_streams::ListStreamsArgs),
    /// GetMediaForFragmentList: named fragments as one payload to an outfile, with the AWS
    /// CLI's flags and output.
    #[command(after_help = fragment_list::AFTER_HELP)]
    GetMediaForFragmentList(fragment_list::FragmentListArgs),
    /// A time range of a stream's archive, every fragment once and in order: the raw payload,
    /// one MKV per fragment, one merged MKV or JSON lines; resumable, and live after the range.
    #[command(after_help = archive::AFTER_HELP)]
    Archive(archive::ArchiveArgs),
    /// GetImages: images sampled from media at a fixed interval (JPEG or PNG, resized), from a
    /// file, the GetImages API (AWS or a local `serve`) or a GetMedia stream.
    #[command(after_help = images::after_help())]
    Images(images::ImagesArgs),
    /// Workers sharing many streams through leases and checkpoints in SQLite or PostgreSQL:
    /// `fleet run` archives its share of the streams, `fleet status` shows who holds what.
    #[command(after_help = fleet::AFTER_HELP)]
    Fleet(fleet::FleetArgs),
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
    fn options(&self) -> Options {
        Options::default().resync(self.resync).verify_crc(self.verify_crc)
    }
}

/// Why an input is refused before anything of it is reported.
#[derive(Debug)]
pub enum Refused {
    /// It cannot be opened or read as a file (missing, a directory, no permission): status 2.
    Open(String),
    /// It is not Matroska/EBML at all (a text file, an empty file): status 1.
    NotEbml(String),
}

impl Refused {
    /// Prints the one-line message for `command` (`""`: `kvs-mkv: ...`) and gives the exit
    /// status.
    pub fn report(&self, command: &str) -> ExitCode {
        let prefix = if command.is_empty() { "kvs-mkv".to_owned() } else { format!("kvs-mkv {command}") };
        match self {
            Refused::Open(m) => {
                eprintln!("{prefix}: {m}");
                ExitCode::from(2)
            }
            Refused::NotEbml(m) => {
                eprintln!("{prefix}: {m}");
                ExitCode::FAILURE
            }
        }
    }
}

/// The message for an input that is not EBML (`name`: as shown to the user; `why`: what
/// was found).
pub fn not_ebml(name: &str, why: &str) -> String {
    format!("{}: not Matroska/EBML ({why})", kvs_mux::text::escape(name))
}

/// Opens `path` (`-` is standard input) for reading as Matroska/EBML, with its length when
/// it is a regular file.
///
/// The one place that decides what is refused: a path that cannot be opened, or names a
/// directory, is [`Refused::Open`] (the same for every command); an empty input, or one whose
/// first four bytes cannot begin Matroska (`kvs_chunk::is_stream_start`: a text file, an
/// HTML page) is [`Refused::NotEbml`], as the decoder's `Error::NotEbml` would. The
/// bytes looked at are put back in front of the reader. The other half of the check, an
/// input from which no document at all was read, is [`no_document`].
pub fn open_input(path: &Path) -> Result<(Box<dyn Read>, Option<u64>), Refused> {
    let name = input_name(path);
    let (mut reader, len): (Box<dyn Read>, Option<u64>) = if path.as_os_str() == "-" {
        (Box::new(io::stdin().lock()), None)
    } else {
        let file = File::open(path)
            .map_err(|e| Refused::Open(format!("cannot open {}: {e}", kvs_mux::text::escape(&name))))?;
        let meta = file
            .metadata()
            .map_err(|e| Refused::Open(format!("cannot open {}: {e}", kvs_mux::text::escape(&name))))?;
        if meta.is_dir() {
            return Err(Refused::Open(format!(
                "cannot open {}: it is a directory",
                kvs_mux::text::escape(&name)
            )));
        }
        (Box::new(file), meta.is_file().then_some(meta.len()))
    };
    let mut head = [0u8; 4];
    let mut got = 0usize;
    while let Some(rest) = head.get_mut(got..).filter(|r| !r.is_empty()) {
        match reader.read(rest) {
            Ok(0) => break,
            Ok(n) => got = got.saturating_add(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(Refused::Open(format!("cannot read {}: {e}", kvs_mux::text::escape(&name))));
            }
        }
    }
    let seen = head.get(..got).unwrap_or_default();
    if got == 0 {
        return Err(Refused::NotEbml(not_ebml(&name, "it is empty")));
    }
    // The decoder's own rule (`kvs_chunk::is_stream_start`): the EBML header, or a Segment
    // or top-level element for a capture taken mid-document. A shorter input that begins
    // like one of them is cut short: the decoder reports it as truncated.
    if !kvs_chunk::is_stream_start(seen) {
        let hex: Vec<String> = seen.iter().map(|b| format!("{b:02X}")).collect();
        return Err(Refused::NotEbml(not_ebml(
            &name,
            &format!("it begins with {}, not the EBML magic 1A 45 DF A3", hex.join(" ")),
        )));
    }
    Ok((Box::new(io::Cursor::new(head).chain(reader)), len))
}

/// The message when the input began like EBML but no document at all could be read from it
/// (`None` when at least one was).
pub fn no_document(name: &str, documents: u64) -> Option<String> {
    (documents == 0).then(|| not_ebml(name, "no EBML document could be read from it"))
}

/// `stdin` for `-`, else the path.
pub fn input_name(path: &Path) -> String {
    if path.as_os_str() == "-" { "stdin".to_owned() } else { path.display().to_string() }
}

/// What each command does with the events.
trait Sink {
    fn event(&mut self, out: &mut dyn Write, event: Event) -> io::Result<()>;
    /// A decoder error, after it was reported on stderr (the JSON output has a line for it).
    fn error(&mut self, _out: &mut dyn Write, _error: &kvs_chunk::Error) -> io::Result<()> {
        Ok(())
    }
    fn finish(&mut self, out: &mut dyn Write) -> io::Result<()>;
}

fn run(command: &str, args: &InputArgs, sink: &mut dyn Sink) -> ExitCode {
    // `fragments` and `events` keep their `kvs-mkv: ` prefix on stderr (scripts read it).
    let (input, _) = match open_input(&args.input) {
        Ok(r) => r,
        Err(refused) => return refused.report(""),
    };
    let name = input_name(&args.input);
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(64 * 1024, stdout.lock());
    let mut status = ExitCode::SUCCESS;
    let mut write_result = Ok(());
    let mut diag = diag::Diagnostics::new("", &name).resyncing(args.resync);
    let mut documents = 0u64;
    for item in ReadEvents::with_options(input, args.options()) {
        match item {
            Ok(event) => {
                match &event {
                    Event::Warning(w) => {
                        if let Some(line) = diag.warning(w) {
                            eprintln!("{line}");
                        }
                    }
                    Event::Resynced { offset, skipped } => {
                        if let Some(line) = diag.resynced(*offset, *skipped) {
                            eprintln!("{line}");
                        }
                        status = ExitCode::FAILURE;
                    }
                    Event::DocumentStart { .. } => documents = documents.saturating_add(1),
                    _ => {}
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
                write_result = sink.error(&mut out, &e);
                if write_result.is_err() {
                    break;
                }
            }
        }
    }
    if write_result.is_ok() {
        write_result = sink.finish(&mut out).and_then(|()| out.flush());
    }
    for line in diag.summary() {
        eprintln!("{line}");
    }
    if write_result.is_ok()
        && let Some(m) = no_document(&name, documents)
    {
        eprintln!("kvs-mkv: {m}");
        status = ExitCode::FAILURE;
    }
    match write_result {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => status,
        Err(e) => {
            eprintln!("kvs-mkv {command}: cannot write output: {e}");
            ExitCode::FAILURE
        }
        Ok(()) => status,
    }
}

/// One plain sentence: what went wrong, where, and what to do (`resync`: whether the
/// reader skips past malformed input; `strict_flag`: the flag that stops at the first
/// error, `--strict`, or `None` where resynchronisation is asked for with `--resync`).
fn describe(e: &kvs_chunk::Error, resync: bool, strict_flag: bool) -> String {
    use kvs_chunk::Hint;
    match e.hint(resync) {
        Some(Hint::Malformed) if strict_flag => {
            format!("{e} ({}; without --strict the rest of it is read past the damage)", Hint::Malformed)
        }
        Some(Hint::Malformed) => format!("{e} ({}; --resync reads on past the damage)", Hint::Malformed),
        Some(hint) => format!("{e} ({hint})"),
        None => e.to_string(),
    }
}

/// Whether to skip past malformed input (the default for the commands people read), or stop
/// at the first error (`--strict`).
#[derive(Args, Clone, Copy, Debug, Default)]
pub struct ReadArgs {
    /// Stop at the first malformed element instead of skipping past it (by default damaged
    /// parts are skipped, reported on stderr with their offset and size, and the exit status
    /// is 1).
    #[arg(long)]
    pub strict: bool,
    /// Skip past malformed input (the default; kept for scripts that pass it).
    #[arg(long, hide = true, conflicts_with = "strict")]
    pub resync: bool,
}

impl ReadArgs {
    /// The decoder options.
    pub fn options(self) -> Options {
        Options::default().resync(!self.strict)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Inspect(args) => inspect::run(&args),
        Command::Fragments(args) => {
            if args.json {
                run("fragments", &args, &mut json::FragmentsJson::default())
            } else {
                run("fragments", &args, &mut table::FragmentsTable::default())
            }
        }
        Command::Events(args) => {
            if args.json {
                run("events", &args, &mut json::EventsJson)
            } else {
                run("events", &args, &mut table::EventsText::default())
            }
        }
        Command::Serve(args) => serve::run(&args),
        Command::GetMedia(args) => get_media::run(&args),
        Command::ListFragments(args) => list_fragments::run(&args),
        Command::ListStreams(args) => list_streams::run(&args),
        Command::GetMediaForFragmentList(args) => fragment_list::run(&args),
        Command::Archive(args) => archive::run(&args),
        Command::Images(args) => images::run(&args),
        Command::Fleet(args) => fleet::run(&args),
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
