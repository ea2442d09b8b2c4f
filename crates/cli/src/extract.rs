//! `kvs-mkv extract`: one track's elementary stream.
//!
//! - `annexb` (H.264 `V_MPEG4/ISO/AVC`, H.265 `V_MPEGH/ISO/HEVC`): each length-prefixed NAL
//!   unit (the length size from the CodecPrivate's lengthSizeMinusOne) gets a start code, and
//!   the parameter sets from the CodecPrivate (SPS/PPS; VPS/SPS/PPS for H.265) go before
//!   every keyframe that does not carry its own, so any keyframe is a starting point.
//! - `raw`: the frame payloads one after another, as stored.
//! - `adts`: AAC (`A_AAC` with an AudioSpecificConfig, or `A_AAC/MPEG*/*` with an Audio
//!   element) with a 7-byte ADTS header before each frame: profile = object type - 1 (the
//!   core's for HE-AAC), the sampling frequency index, the channel configuration, the frame
//!   length counting the header.
//! - `wav`: PCM audio in a RIFF/WAVE file (`A_PCM/INT/LIT`, `A_PCM/INT/BIG` byte-swapped,
//!   `A_PCM/FLOAT/IEEE`), and Amazon Connect's call audio: tracks named
//!   `AUDIO_FROM_CUSTOMER` / `AUDIO_TO_CUSTOMER`, declared `A_AAC` but carrying 16-bit
//!   little-endian PCM, at the Audio element's rate and channels when present, else those of
//!   a `MimeType` tag (`audio/L16;rate=8000;channels=1`), else 8000 Hz mono.
//! - `--connect --output-dir DIR`: both Connect tracks as WAV files named after the
//!   `ContactId` tag, `<ContactId>_<track name>.wav`. When a contact comes back later in the
//!   stream (A, B, A), its files are reopened and its audio appended (the WAV sizes
//!   patched): a file written earlier in the run is never truncated. Two tracks of one
//!   contact with the same name get distinct files (`-<track number>` added to the second),
//!   and every path is used for one (contact, track) only. Each file written is listed once
//!   on stdout with its total audio.
//!
//! Each Tracks event replaces the track list (the last one wins, and when a list repeats a
//! track number the last entry is used). Frames are written through as they come (Annex B
//! conversion and byte swapping work in place or in small pieces), so memory stays within
//! a small multiple of the largest frame. Frames that come before any Tracks of their
//! document cannot be extracted: they are counted and reported, and when nothing at all
//! could be extracted the exit status is 1.

use std::io;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::ValueEnum;
use kvs_chunk::Track;
use kvs_mux::adts::ADTS_MAX_PAYLOAD;
use kvs_mux::connect::ConnectWriter;
use kvs_mux::extract::{
    ConnectError, ExtractError, ExtractFormat, Notice, Output, TrackExtractor, connect_event,
};
use kvs_mux::text::escape;

use crate::progress::{Input, each_event, exit_status};

/// The output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// H.264/H.265 with start codes and in-band parameter sets.
    Annexb,
    /// The frame payloads as stored.
    Raw,
    /// PCM audio in a RIFF/WAVE file.
    Wav,
    /// AAC with an ADTS header before each frame (what ffmpeg, ffplay and players read as
    /// `.aac`), from the track's AudioSpecificConfig.
    Adts,
}

/// `kvs-mkv extract` on the command line.
#[derive(clap::Args)]
pub struct ExtractArgs {
    /// The input file, or `-` for standard input.
    input: PathBuf,
    /// The track: its number, or its name (e.g. AUDIO_FROM_CUSTOMER). Default: the first
    /// video track, else the first audio track.
    #[arg(long, short = 't')]
    track: Option<String>,
    /// The output format. Default: annexb for H.264/H.265, adts for AAC, wav for PCM and
    /// Connect audio, raw otherwise.
    #[arg(long, short = 'f', value_enum)]
    format: Option<Format>,
    /// The output file (`-` for standard output, except for wav, which needs a file).
    #[arg(long, short = 'o', required_unless_present = "connect")]
    output: Option<PathBuf>,
    /// Amazon Connect call audio: both AUDIO_FROM_CUSTOMER and AUDIO_TO_CUSTOMER as WAV files
    /// in --output-dir, named <ContactId>_<track name>.wav.
    #[arg(long, requires = "output_dir", conflicts_with_all = ["track", "format", "output"])]
    connect: bool,
    /// The directory for --connect.
    #[arg(long)]
    output_dir: Option<PathBuf>,
    #[command(flatten)]
    read: crate::ReadArgs,
}

pub const AFTER_HELP: &str = concat!(
    "\
Examples:
  kvs-mkv extract camera.mkv --track 1 --format annexb --output camera.h264
  ffplay camera.h264
  kvs-mkv extract call.mkv --track AUDIO_FROM_CUSTOMER --format wav --output customer.wav
  kvs-mkv extract call.mkv --connect --output-dir calls/
  aws kinesis-video-media get-media ... /dev/stdout | kvs-mkv extract - -t 1 -o - | ffplay -

H.264/H.265 become Annex B byte streams (start codes; SPS/PPS, and VPS for H.265, from the
CodecPrivate before every keyframe), which ffmpeg and ffplay read as they are. Audio is
written raw (the frames as stored: Opus packets, ...), AAC as ADTS (a 7-byte header from the
CodecPrivate's AudioSpecificConfig before each frame: an .aac file ffmpeg plays) and PCM as
WAV. Amazon Connect's call audio (tracks AUDIO_FROM_CUSTOMER and AUDIO_TO_CUSTOMER,
declared A_AAC but carrying 8 kHz 16-bit little-endian PCM) becomes correct WAV files;
with --connect, a contact that comes back later in the stream is appended to its files
(never truncated), and each file written is listed once on stdout with its audio size.
Gaps between fragments are not filled: the output is the frames one after another. Frames
that come before the Tracks of their document cannot be extracted: they are counted on
stderr, and the exit status is 1 when nothing could be extracted.
",
    crate::damaged_input_help!(),
);

impl From<Format> for ExtractFormat {
    fn from(f: Format) -> Self {
        match f {
            Format::Annexb => Self::AnnexB,
            Format::Raw => Self::Raw,
            Format::Wav => Self::Wav,
            Format::Adts => Self::Adts,
        }
    }
}

fn describe_track(t: &Track) -> String {
    let codec = escape(t.codec_id.as_deref().unwrap_or("no codec id"));
    let mut s = format!("track {} ({codec}", t.number);
    if let Some(n) = &t.name {
        s.push_str(", ");
        s.push_str(&escape(n));
    }
    s.push(')');
    s
}

/// What an extraction error says on stderr (with the options that would help).
fn message(e: &ExtractError) -> String {
    match e {
        ExtractError::NoTrack { selector, tracks } => {
            let list: Vec<String> = tracks.iter().map(describe_track).collect();
            format!(
                "no track {} in this document (it has {}): give --track with one of those",
                selector.as_deref().unwrap_or("of video or audio"),
                if list.is_empty() { "none".to_owned() } else { list.join(", ") }
            )
        }
        ExtractError::UnsupportedEncoding { track, why } => format!(
            "{} is stored with {}, which kvs-mkv cannot undo: its frames are not the codec's own bytes, \
             so it is not extracted",
            describe_track(track),
            escape(why)
        ),
        ExtractError::NotAnnexB(t) => {
            format!(
                "{} is not H.264 or H.265 with a readable CodecPrivate: use --format raw",
                describe_track(t)
            )
        }
        ExtractError::NotPcm(t) => {
            format!("{} is not PCM audio, so it cannot be WAV: use --format raw", describe_track(t))
        }
        ExtractError::NotAdts(t) => format!(
            "{} is not AAC with an AudioSpecificConfig ADTS can carry (object type 1 to 4, \
             1 to 7 channels, a standard rate): use --format raw",
            describe_track(t)
        ),
        ExtractError::WavNeedsFile => {
            "WAV needs a file to patch its sizes into: give --output FILE.wav".to_owned()
        }
        ExtractError::NoFrames(t) => {
            format!("{}: no frames: nothing written", t.as_deref().map(describe_track).unwrap_or_default())
        }
        other => other.to_string(),
    }
}

/// The counts of frames not extracted, on stderr.
fn report_skipped(x: &TrackExtractor) {
    if x.orphans() > 0 {
        eprintln!(
            "kvs-mkv extract: {} came before any Tracks of their document: not extracted",
            if x.orphans() == 1 { "1 frame".to_owned() } else { format!("{} frames", x.orphans()) }
        );
    }
    if x.too_large() > 0 {
        eprintln!(
            "kvs-mkv extract: {} larger than ADTS allows ({ADTS_MAX_PAYLOAD} bytes): not written",
            if x.too_large() == 1 {
                "1 frame is".to_owned()
            } else {
                format!("{} frames are", x.too_large())
            }
        );
    }
}

pub fn run(args: &ExtractArgs) -> ExitCode {
    let input = match Input::open(&args.input) {
        Ok(i) => i,
        Err(refused) => return refused.report("extract"),
    };
    crate::progress::catch_ctrl_c();
    let opts = args.read.options();
    if args.connect {
        return run_connect(args, input, opts);
    }
    let path = args.output.clone().unwrap_or_else(|| PathBuf::from("-"));
    let output = if path.as_os_str() == "-" {
        Output::Writer { name: path.clone(), writer: Box::new(io::stdout().lock()) }
    } else {
        Output::Path(path.clone())
    };
    let mut x = TrackExtractor::new(args.track.clone(), args.format.map(ExtractFormat::from), output);
    let mut late = crate::progress::LateTracks::new(&input, opts);
    let result = each_event("extract", input, opts, |event, _| {
        if let Some(tracks) = late.before(&event, x.needs_tracks()) {
            // The document's Tracks come after its clusters: read ahead in the file.
            x.tracks(&tracks)?;
        }
        if let Some(Notice::NalPastEnd { timestamp_ms, block_offset }) = x.event(&event)? {
            eprintln!(
                "kvs-mkv extract: the frame at {timestamp_ms} ms (block at byte {block_offset}) has a NAL length past its end; written as it is"
            );
        }
        Ok::<(), ExtractError>(())
    });
    report_skipped(&x);
    let ended = match result {
        Ok(ended) => ended,
        Err(e) => {
            let _ = x.finish();
            eprintln!("kvs-mkv extract: {}", message(&e));
            return ExitCode::FAILURE;
        }
    };
    let too_large = x.too_large() > 0;
    match x.finish() {
        Ok(s) => {
            let what = s.track.as_ref().map(describe_track).unwrap_or_default();
            eprintln!(
                "kvs-mkv extract: {what}: {} frames, {} bytes to {}",
                s.frames,
                s.bytes,
                path.display()
            );
            if let Some(line) = ended.caveat("extract") {
                eprintln!("{line}");
            }
            if too_large && ended.read_whole() {
                return ExitCode::FAILURE;
            }
            exit_status(ended)
        }
        Err(e) => {
            eprintln!("kvs-mkv extract: {}", message(&e));
            ExitCode::FAILURE
        }
    }
}

fn run_connect(args: &ExtractArgs, input: Input, opts: kvs_chunk::Options) -> ExitCode {
    let dir = args.output_dir.clone().unwrap_or_else(|| PathBuf::from("."));
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("kvs-mkv extract: cannot create the directory {}: {e}", dir.display());
        return ExitCode::from(2);
    }
    let mut c = ConnectWriter::new(&dir);
    let result = each_event("extract", input, opts, |event, _| {
        connect_event(&mut c, event).map_err(|e| match e {
            ConnectError::NotConnect => {
                "this document has no AUDIO_FROM_CUSTOMER or AUDIO_TO_CUSTOMER track: it is \
                                         not Amazon Connect audio; use --track and --format instead"
                    .to_owned()
            }
            ConnectError::UnsupportedEncoding { track, why } => format!(
                "{} is stored with {}, which kvs-mkv cannot undo: not extracted",
                describe_track(&track),
                escape(&why)
            ),
            other => other.to_string(),
        })
    });
    let closed = c.close().map_err(|e| e.to_string());
    // Every file written, once, with its whole audio: true even when the run stopped.
    for w in c.written() {
        println!("{}\t{} bytes of audio", w.path.display(), w.bytes);
    }
    if c.orphans() > 0 {
        let n = if c.orphans() == 1 { "1 frame".to_owned() } else { format!("{} frames", c.orphans()) };
        eprintln!("kvs-mkv extract: {n} came before any Tracks of their document: not extracted");
    }
    let files = if c.written().len() == 1 { "file" } else { "files" };
    eprintln!("kvs-mkv extract: {} WAV {files} in {}", c.written().len(), c.dir().display());
    match (result, closed) {
        (Err(e), _) | (Ok(_), Err(e)) => {
            eprintln!("kvs-mkv extract: {e}");
            ExitCode::FAILURE
        }
        (Ok(_), Ok(())) if c.frames() == 0 && c.orphans() > 0 => {
            eprintln!(
                "kvs-mkv extract: nothing extracted: every frame came before the Tracks of its document"
            );
            ExitCode::FAILURE
        }
        (Ok(ended), Ok(())) => {
            if let Some(line) = ended.caveat("extract") {
                eprintln!("{line}");
            }
            exit_status(ended)
        }
    }
}
