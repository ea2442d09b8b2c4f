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

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::ValueEnum;
use kvs_chunk::{Event, Frame, Track, TrackType};
use kvs_mux::adts::{ADTS_MAX_PAYLOAD, Adts, adts, adts_header};
use kvs_mux::annexb::{AnnexB, parameter_sets};
use kvs_mux::connect::ConnectWriter;
use kvs_mux::wav::{WavFile, is_connect, parse_mime, pcm, pcm_with};

use crate::progress::{Input, each_event, exit_status};
use kvs_mux::text::escape;

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

pub const AFTER_HELP: &str = "\
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
Damaged input (junk, a malformed or over-long element) is skipped: each skip is
reported on stderr with its offset and size, and the exit status is 1; --strict stops at
the first error instead. Input that is not Matroska/EBML is refused (status 1); a missing
file or a directory gives status 2.";

/// Where the output goes.
enum Sink {
    Stream(Box<dyn Write>),
    Wav(WavFile),
}

/// The state of a single-track extraction.
struct Extractor {
    selector: Option<String>,
    format: Option<Format>,
    output: PathBuf,
    track: Option<Track>,
    /// The Annex B writer (parameter sets), for `--format annexb`.
    annexb: Option<AnnexB>,
    /// The ADTS fields, for `--format adts`.
    adts: Option<Adts>,
    /// AAC frames too large for an ADTS header (not written).
    too_large: u64,
    sink: Option<Sink>,
    frames: u64,
    bytes: u64,
    /// Rate and channels from a MimeType tag.
    mime: Option<(u32, u16)>,
    /// Whether the current document has had a Tracks event.
    doc_tracks: bool,
    /// Whether any Tracks event chose a track.
    ever_chosen: bool,
    /// Frames that came before any Tracks of their document.
    orphans: u64,
}

/// Why extraction stopped.
#[derive(Debug)]
struct Stop(String);

/// The track `selector` names (number or name), else the first video track, else the first
/// audio track. When the list repeats a number or name, the last entry is used: it is the
/// latest definition of that track.
fn choose<'a>(tracks: &'a [Track], selector: Option<&str>) -> Option<&'a Track> {
    match selector {
        Some(s) => match s.parse::<u64>() {
            Ok(n) => tracks.iter().rfind(|t| t.number == n),
            Err(_) => tracks.iter().rfind(|t| t.name.as_deref() == Some(s)),
        },
        None => {
            let first = tracks
                .iter()
                .find(|t| t.kind == TrackType::Video)
                .or_else(|| tracks.iter().find(|t| t.kind == TrackType::Audio))?;
            tracks.iter().rfind(|t| t.number == first.number)
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

fn len64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

impl Extractor {
    fn default_format(track: &Track) -> Format {
        if parameter_sets(track).is_some() {
            Format::Annexb
        } else if adts(track).is_some() {
            Format::Adts
        } else if pcm(track).is_some() {
            Format::Wav
        } else {
            Format::Raw
        }
    }

    fn document_start(&mut self) {
        self.doc_tracks = false;
        self.track = None;
    }

    fn tracks(&mut self, tracks: &[Track]) -> Result<(), Stop> {
        self.doc_tracks = true;
        let Some(t) = choose(tracks, self.selector.as_deref()) else {
            if !self.ever_chosen {
                let list: Vec<String> = tracks.iter().map(describe_track).collect();
                return Err(Stop(format!(
                    "no track {} in this document (it has {}): give --track with one of those",
                    self.selector.as_deref().unwrap_or("of video or audio"),
                    if list.is_empty() { "none".to_owned() } else { list.join(", ") }
                )));
            }
            // This document lacks the track: none of its frames are extracted.
            self.track = None;
            return Ok(());
        };
        if let Some(why) = &t.unsupported_encoding {
            return Err(Stop(format!(
                "{} is stored with {}, which kvs-mkv cannot undo: its frames are not the codec's own bytes, \
                 so it is not extracted",
                describe_track(t),
                kvs_mux::text::escape(why)
            )));
        }
        let format = *self.format.get_or_insert_with(|| Self::default_format(t));
        match format {
            Format::Annexb => {
                let ps = parameter_sets(t).ok_or_else(|| {
                    Stop(format!(
                        "{} is not H.264 or H.265 with a readable CodecPrivate: use --format raw",
                        describe_track(t)
                    ))
                })?;
                self.annexb = Some(AnnexB::new(ps));
            }
            Format::Wav => {
                // The file is created at the first frame, with the latest Tracks and MimeType.
                if pcm(t).is_none() {
                    return Err(Stop(format!(
                        "{} is not PCM audio, so it cannot be WAV: use --format raw",
                        describe_track(t)
                    )));
                }
                if self.output.as_os_str() == "-" {
                    return Err(Stop(
                        "WAV needs a file to patch its sizes into: give --output FILE.wav".to_owned(),
                    ));
                }
            }
            Format::Adts => {
                self.adts = Some(adts(t).ok_or_else(|| {
                    Stop(format!(
                        "{} is not AAC with an AudioSpecificConfig ADTS can carry (object type 1 to 4, \
                         1 to 7 channels, a standard rate): use --format raw",
                        describe_track(t)
                    ))
                })?);
            }
            Format::Raw => {}
        }
        if self.sink.is_none() && format != Format::Wav {
            let w: Box<dyn Write> = if self.output.as_os_str() == "-" {
                Box::new(io::stdout().lock())
            } else {
                Box::new(
                    File::create(&self.output)
                        .map_err(|e| Stop(format!("cannot write {}: {e}", self.output.display())))?,
                )
            };
            self.sink = Some(Sink::Stream(Box::new(BufWriter::with_capacity(256 * 1024, w))));
        }
        self.track = Some(t.clone());
        self.ever_chosen = true;
        Ok(())
    }

    fn frame(&mut self, f: &Frame) -> Result<(), Stop> {
        if !self.doc_tracks {
            self.orphans = self.orphans.saturating_add(1);
            return Ok(());
        }
        let Some(track) = &self.track else { return Ok(()) };
        if f.track != track.number {
            return Ok(());
        }
        let stop = |e: io::Error| Stop(format!("cannot write {}: {e}", self.output.display()));
        if let (None, Some(Format::Wav), Some(p)) = (&self.sink, self.format, pcm_with(track, self.mime)) {
            self.sink = Some(Sink::Wav(WavFile::create(&self.output, p).map_err(stop)?));
        }
        let written = match (&mut self.sink, &self.annexb, self.format) {
            (Some(Sink::Stream(w)), Some(annexb), Some(Format::Annexb)) => {
                match annexb.write_frame(&f.data, f.keyframe, w).map_err(stop)? {
                    Some(n) => n,
                    None => {
                        eprintln!(
                            "kvs-mkv extract: the frame at {} ms (block at byte {}) has a NAL length past its end; written as it is",
                            f.timestamp_ms(),
                            f.block_offset
                        );
                        w.write_all(&f.data).map_err(stop)?;
                        len64(f.data.len())
                    }
                }
            }
            (Some(Sink::Stream(w)), _, Some(Format::Adts)) => {
                let Some(header) = self.adts.and_then(|a| adts_header(a, f.data.len())) else {
                    self.too_large = self.too_large.saturating_add(1);
                    return Ok(());
                };
                w.write_all(&header).map_err(stop)?;
                w.write_all(&f.data).map_err(stop)?;
                len64(f.data.len()).saturating_add(7)
            }
            (Some(Sink::Stream(w)), _, _) => {
                w.write_all(&f.data).map_err(stop)?;
                len64(f.data.len())
            }
            (Some(Sink::Wav(w)), _, _) => {
                w.write(&f.data).map_err(stop)?;
                len64(f.data.len())
            }
            (None, _, _) => return Ok(()),
        };
        self.frames = self.frames.saturating_add(1);
        self.bytes = self.bytes.saturating_add(written);
        Ok(())
    }

    fn finish(self) -> Result<String, Stop> {
        let what = self.track.as_ref().map(describe_track).unwrap_or_default();
        let err = |e: io::Error| Stop(format!("cannot write {}: {e}", self.output.display()));
        if self.orphans > 0 {
            eprintln!(
                "kvs-mkv extract: {} came before any Tracks of their document: not extracted",
                if self.orphans == 1 { "1 frame".to_owned() } else { format!("{} frames", self.orphans) }
            );
        }
        if self.too_large > 0 {
            eprintln!(
                "kvs-mkv extract: {} larger than ADTS allows ({ADTS_MAX_PAYLOAD} bytes): not written",
                if self.too_large == 1 {
                    "1 frame is".to_owned()
                } else {
                    format!("{} frames are", self.too_large)
                }
            );
        }
        if self.frames == 0 && self.orphans > 0 {
            if let Some(Sink::Stream(mut w)) = self.sink {
                let _ = w.flush();
            }
            return Err(Stop(
                "nothing extracted: every frame came before the Tracks of its document".to_owned(),
            ));
        }
        match self.sink {
            Some(Sink::Stream(mut w)) => match w.flush() {
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
                other => other.map_err(err)?,
            },
            Some(Sink::Wav(w)) => {
                w.finish().map_err(|e| Stop(format!("cannot write {}: {e}", self.output.display())))?;
            }
            None if self.ever_chosen => {
                return Err(Stop(format!("{what}: no frames: nothing written")));
            }
            None => return Err(Stop("the input has no tracks: nothing written".to_owned())),
        }
        Ok(format!("{what}: {} frames, {} bytes to {}", self.frames, self.bytes, self.output.display()))
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
    let mut x = Extractor {
        selector: args.track.clone(),
        format: args.format,
        output: args.output.clone().unwrap_or_else(|| PathBuf::from("-")),
        track: None,
        annexb: None,
        adts: None,
        too_large: 0,
        sink: None,
        frames: 0,
        bytes: 0,
        mime: None,
        doc_tracks: false,
        ever_chosen: false,
        orphans: 0,
    };
    let mut late = crate::progress::LateTracks::new(&input, opts);
    let result = each_event("extract", input, opts, |event, _| {
        if let Some(tracks) = late.before(&event, !x.doc_tracks) {
            // The document's Tracks come after its clusters: read ahead in the file.
            x.tracks(&tracks)?;
        }
        match event {
            Event::DocumentStart { .. } | Event::FragmentStart { .. } => {
                x.document_start();
                Ok(())
            }
            Event::Tracks(tracks) => x.tracks(&tracks),
            Event::Frame(f) => x.frame(&f),
            Event::Tag(t) if t.name == "MimeType" => {
                x.mime = t.value.as_text().and_then(|m| parse_mime(&m));
                Ok(())
            }
            _ => Ok(()),
        }
    });
    let ended = match result {
        Ok(ended) => ended,
        Err(Stop(msg)) => {
            let _ = x.finish();
            eprintln!("kvs-mkv extract: {msg}");
            return ExitCode::FAILURE;
        }
    };
    let too_large = x.too_large > 0;
    match x.finish() {
        Ok(summary) => {
            eprintln!("kvs-mkv extract: {summary}");
            if let Some(line) = ended.caveat("extract") {
                eprintln!("{line}");
            }
            if too_large && ended.read_whole() {
                return ExitCode::FAILURE;
            }
            exit_status(ended)
        }
        Err(Stop(msg)) => {
            eprintln!("kvs-mkv extract: {msg}");
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
    let result = each_event("extract", input, opts, |event, _| match event {
        Event::DocumentStart { .. } | Event::FragmentStart { .. } => {
            c.document_start();
            Ok(())
        }
        Event::Tracks(tracks) => {
            if !tracks.iter().any(is_connect) {
                return Err(
                    "this document has no AUDIO_FROM_CUSTOMER or AUDIO_TO_CUSTOMER track: it is not Amazon \
                     Connect audio; use --track and --format instead"
                        .to_owned(),
                );
            }
            if let Some(t) = tracks.iter().find(|t| is_connect(t) && t.unsupported_encoding.is_some()) {
                return Err(format!(
                    "{} is stored with {}, which kvs-mkv cannot undo: not extracted",
                    describe_track(t),
                    kvs_mux::text::escape(t.unsupported_encoding.as_deref().unwrap_or_default())
                ));
            }
            c.set_tracks(tracks).map_err(|e| e.to_string())
        }
        Event::Tag(t) if t.name == "ContactId" => {
            c.set_contact(t.value.as_text().as_deref());
            Ok(())
        }
        Event::Tag(t) if t.name == "MimeType" => {
            c.set_mime(t.value.as_text().and_then(|m| parse_mime(&m)));
            Ok(())
        }
        Event::Frame(f) => c.frame(&f).map_err(|e| e.to_string()),
        _ => Ok(()),
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
