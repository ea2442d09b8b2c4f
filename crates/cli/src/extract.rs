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
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::ValueEnum;
use kvs_chunk::annexb::{ParameterSets, START_CODE, configuration_version, is_parameter_set, nal_units};
use kvs_chunk::{Event, Frame, Track, TrackType};

use crate::escape::escape;
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

/// Parses an AVCDecoderConfigurationRecord (ISO/IEC 14496-15 5.3.3.1), version 1 only.
pub fn parse_avcc(cp: &[u8]) -> Option<ParameterSets> {
    if configuration_version(cp)? != 1 {
        return None;
    }
    ParameterSets::from_avcc(cp)
}

/// Parses an HEVCDecoderConfigurationRecord (ISO/IEC 14496-15 8.3.3.1), version 1 only.
pub fn parse_hvcc(cp: &[u8]) -> Option<ParameterSets> {
    if configuration_version(cp)? != 1 {
        return None;
    }
    ParameterSets::from_hvcc(cp)
}

/// The parameter sets of a track, if it is H.264 or H.265 with a usable CodecPrivate.
pub fn parameter_sets(track: &Track) -> Option<ParameterSets> {
    let cp = track.codec_private.as_deref()?;
    match track.codec_id.as_deref()? {
        "V_MPEG4/ISO/AVC" => parse_avcc(cp),
        "V_MPEGH/ISO/HEVC" => parse_hvcc(cp),
        _ => None,
    }
}

/// The fields of an ADTS header, from an AAC track's AudioSpecificConfig (ISO/IEC 14496-3
/// 1.6.2.1) or, without one, from a Matroska A_AAC/MPEG*/* codec id and its Audio element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Adts {
    /// The ADTS profile: the (core) audio object type minus one (0 Main, 1 LC, 2 SSR, 3 LTP).
    pub profile: u8,
    /// The sampling frequency index (of the core AAC stream: for HE-AAC, half the output
    /// rate).
    pub sampling_index: u8,
    /// The channel configuration, 1 to 7.
    pub channels: u8,
}

/// The ADTS sampling frequencies, by index.
const ADTS_RATES: [u32; 13] =
    [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];

/// Reads big-endian bit fields.
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Bits<'_> {
    fn read(&mut self, n: u32) -> Option<u32> {
        let mut v = 0u32;
        for _ in 0..n {
            let byte = *self.data.get(self.pos / 8)?;
            let shift = 7usize.saturating_sub(self.pos.checked_rem(8).unwrap_or(0));
            let bit = byte.checked_shr(u32::try_from(shift).unwrap_or(0)).unwrap_or(0) & 1;
            v = v.checked_shl(1).unwrap_or(0) | u32::from(bit);
            self.pos = self.pos.checked_add(1)?;
        }
        Some(v)
    }

    fn object_type(&mut self) -> Option<u32> {
        let t = self.read(5)?;
        if t == 31 { self.read(6).map(|e| e.saturating_add(32)) } else { Some(t) }
    }

    fn rate_index(&mut self) -> Option<u8> {
        let i = self.read(4)?;
        if i == 15 {
            let rate = self.read(24)?;
            return ADTS_RATES.iter().position(|r| *r == rate).and_then(|p| u8::try_from(p).ok());
        }
        u8::try_from(i).ok().filter(|i| usize::from(*i) < ADTS_RATES.len())
    }
}

/// The ADTS fields of an AudioSpecificConfig, if ADTS can carry its stream (object types 1
/// to 4, also as the core of HE-AAC (5) and HE-AACv2 (29); channel configurations 1 to 7).
pub fn parse_asc(asc: &[u8]) -> Option<Adts> {
    let mut b = Bits { data: asc, pos: 0 };
    let mut object = b.object_type()?;
    let sampling_index = b.rate_index()?;
    let channels = u8::try_from(b.read(4)?).ok()?;
    if object == 5 || object == 29 {
        // Explicit SBR/PS: the extension rate, then the core object type.
        b.rate_index()?;
        object = b.object_type()?;
    }
    if !(1..=4).contains(&object) || !(1..=7).contains(&channels) {
        return None;
    }
    Some(Adts { profile: u8::try_from(object.checked_sub(1)?).ok()?, sampling_index, channels })
}

/// The ADTS fields of an AAC track: from its CodecPrivate, else from a Matroska
/// `A_AAC/MPEG2/LC`-style codec id with the Audio element's rate and channels.
pub fn adts(track: &Track) -> Option<Adts> {
    let codec = track.codec_id.as_deref()?;
    if !codec.starts_with("A_AAC") || is_connect(track) {
        return None;
    }
    if let Some(cp) = track.codec_private.as_deref().filter(|c| !c.is_empty()) {
        return parse_asc(cp);
    }
    let profile = match codec.rsplit('/').find(|p| !p.is_empty() && *p != "SBR")? {
        "MAIN" => 0,
        "LC" => 1,
        "SSR" => 2,
        "LTP" => 3,
        _ => return None,
    };
    let audio = track.audio?;
    let mut rate = audio.sampling_frequency.filter(|r| r.is_finite())?;
    if codec.ends_with("/SBR") {
        rate /= 2.0;
    }
    let sampling_index =
        u8::try_from(ADTS_RATES.iter().position(|r| (f64::from(*r) - rate).abs() < 0.5)?).ok()?;
    let channels = u8::try_from(audio.channels.unwrap_or(1)).ok().filter(|c| (1..=7).contains(c))?;
    Some(Adts { profile, sampling_index, channels })
}

/// The largest AAC frame an ADTS header can describe (13-bit frame length, header
/// included).
pub const ADTS_MAX_PAYLOAD: usize = 8191 - 7;

/// The 7-byte ADTS header (MPEG-4, no CRC, one raw data block) for a `payload_len`-byte
/// frame, or `None` when the frame is too large for ADTS.
pub fn adts_header(a: Adts, payload_len: usize) -> Option<[u8; 7]> {
    if payload_len > ADTS_MAX_PAYLOAD {
        return None;
    }
    let len = u16::try_from(payload_len.checked_add(7)?).ok()?;
    let [hi, lo] = len.to_be_bytes();
    Some([
        0xFF,
        0xF1,
        (a.profile & 3) << 6 | (a.sampling_index & 0xF) << 2 | (a.channels >> 2) & 1,
        (a.channels & 3) << 6 | (hi >> 3) & 3,
        (hi << 5) | (lo >> 3),
        (lo & 7) << 5 | 0x1F,
        0xFC,
    ])
}

/// The PCM layout of a track written as WAV.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pcm {
    pub rate: u32,
    pub channels: u16,
    pub bits: u16,
    /// IEEE float samples (WAVE format 3) rather than integers (format 1).
    pub float: bool,
    /// Big-endian samples in the input (swapped when written).
    pub big_endian: bool,
}

/// Whether a track is Amazon Connect call audio.
pub fn is_connect(track: &Track) -> bool {
    matches!(track.name.as_deref(), Some("AUDIO_FROM_CUSTOMER" | "AUDIO_TO_CUSTOMER"))
}

/// Rate and channels from a MimeType tag such as Connect's `audio/L16;rate=8000;channels=1`.
pub fn parse_mime(mime: &str) -> Option<(u32, u16)> {
    let mut parts = mime.trim_end_matches('\0').split(';').map(str::trim);
    if !parts.next()?.eq_ignore_ascii_case("audio/L16") {
        return None;
    }
    let (mut rate, mut channels) = (8000, 1);
    for p in parts {
        match p.split_once('=') {
            Some(("rate", v)) => rate = v.parse().ok().filter(|r| *r > 0)?,
            Some(("channels", v)) => channels = v.parse().ok().filter(|c| *c > 0)?,
            _ => {}
        }
    }
    Some((rate, channels))
}

/// The PCM layout of a track, if it carries PCM (or Connect's PCM-in-A_AAC): from its Audio
/// element, else from a MimeType tag (`mime`), else 8000 Hz mono.
pub fn pcm_with(track: &Track, mime: Option<(u32, u16)>) -> Option<Pcm> {
    let mut p = pcm(track)?;
    if let (None, Some((rate, channels))) = (track.audio, mime) {
        p.rate = rate;
        p.channels = channels;
    }
    Some(p)
}

/// The PCM layout of a track, if it carries PCM (or Connect's PCM-in-A_AAC).
pub fn pcm(track: &Track) -> Option<Pcm> {
    let codec = track.codec_id.as_deref().unwrap_or("");
    let (float, big_endian, default_bits) = match codec {
        "A_PCM/INT/LIT" => (false, false, 16),
        "A_PCM/INT/BIG" => (false, true, 16),
        "A_PCM/FLOAT/IEEE" => (true, false, 32),
        _ if is_connect(track) => (false, false, 16),
        _ => return None,
    };
    let audio = track.audio.unwrap_or_default();
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let rate = audio
        .sampling_frequency
        .filter(|r| r.is_finite() && *r >= 1.0 && *r < 1e7)
        .map_or(8000, |r| r as u32);
    let channels = audio.channels.and_then(|c| u16::try_from(c).ok()).filter(|c| *c > 0).unwrap_or(1);
    let bits = audio
        .bit_depth
        .and_then(|b| u16::try_from(b).ok())
        .filter(|b| b % 8 == 0 && *b > 0)
        .unwrap_or(default_bits);
    Some(Pcm { rate, channels, bits, float, big_endian })
}

/// A WAV file whose sizes are patched when it is finished.
pub struct WavFile {
    path: PathBuf,
    out: BufWriter<File>,
    pcm: Pcm,
    data_bytes: u64,
}

/// The 44-byte RIFF/WAVE header for `data_bytes` of `pcm` samples.
pub fn wav_header(pcm: Pcm, data_bytes: u32) -> [u8; 44] {
    let block_align = pcm.channels.saturating_mul(pcm.bits / 8);
    let byte_rate = pcm.rate.saturating_mul(u32::from(block_align));
    let mut h = [0u8; 44];
    let parts: [&[u8]; 13] = [
        b"RIFF",
        // The RIFF size counts the pad byte that follows odd-sized data.
        &data_bytes.saturating_add(36).saturating_add(data_bytes & 1).to_le_bytes(),
        b"WAVE",
        b"fmt ",
        &16u32.to_le_bytes(),
        &(if pcm.float { 3u16 } else { 1u16 }).to_le_bytes(),
        &pcm.channels.to_le_bytes(),
        &pcm.rate.to_le_bytes(),
        &byte_rate.to_le_bytes(),
        &block_align.to_le_bytes(),
        &pcm.bits.to_le_bytes(),
        b"data",
        &data_bytes.to_le_bytes(),
    ];
    for (dst, src) in h.iter_mut().zip(parts.iter().flat_map(|p| p.iter())) {
        *dst = *src;
    }
    h
}

/// Bytes byte-swapped at a time (a multiple of every sample width).
const SWAP_CHUNK: usize = 64 * 1024;

impl WavFile {
    pub fn create(path: &Path, pcm: Pcm) -> io::Result<Self> {
        let mut out = BufWriter::new(File::create(path)?);
        out.write_all(&wav_header(pcm, 0))?;
        Ok(Self { path: path.to_path_buf(), out, pcm, data_bytes: 0 })
    }

    /// Reopens a WAV file this run wrote and finished with `data_bytes` of `pcm` audio, to
    /// append to it: nothing in it is lost (the pad byte after odd-sized data is
    /// overwritten, and written again by [`WavFile::finish`] if needed).
    pub fn reopen(path: &Path, pcm: Pcm, data_bytes: u64) -> io::Result<Self> {
        let mut file = std::fs::OpenOptions::new().write(true).open(path)?;
        file.seek(SeekFrom::Start(data_bytes.saturating_add(44)))?;
        Ok(Self { path: path.to_path_buf(), out: BufWriter::new(file), pcm, data_bytes })
    }

    pub fn write(&mut self, data: &[u8]) -> io::Result<()> {
        let width = usize::from(self.pcm.bits / 8).max(1);
        if self.pcm.big_endian && width > 1 {
            // In pieces: a frame is never copied whole.
            let piece = SWAP_CHUNK.saturating_sub(SWAP_CHUNK.checked_rem(width).unwrap_or(0)).max(width);
            let mut swapped = Vec::with_capacity(piece.min(data.len()));
            for part in data.chunks(piece) {
                swapped.clear();
                swapped.extend_from_slice(part);
                for sample in swapped.chunks_exact_mut(width) {
                    sample.reverse();
                }
                self.out.write_all(&swapped)?;
            }
        } else {
            self.out.write_all(data)?;
        }
        self.data_bytes = self.data_bytes.saturating_add(u64::try_from(data.len()).unwrap_or(u64::MAX));
        Ok(())
    }

    /// Patches the RIFF and data sizes; returns the path and the data size.
    pub fn finish(mut self) -> io::Result<(PathBuf, u64)> {
        let size = u32::try_from(self.data_bytes).map_err(|_| {
            io::Error::other(format!("{} bytes of audio do not fit a WAV file (4 GiB)", self.data_bytes))
        })?;
        // An odd-sized data chunk is followed by a pad byte.
        if size % 2 == 1 {
            self.out.write_all(&[0])?;
        }
        self.out.seek(SeekFrom::Start(0))?;
        self.out.write_all(&wav_header(self.pcm, size))?;
        self.out.flush()?;
        Ok((self.path, self.data_bytes))
    }
}

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
    ps: Option<ParameterSets>,
    /// The parameter sets as Annex B, written before keyframes that carry none.
    ps_annexb: Vec<u8>,
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

/// Writes one length-prefixed frame as Annex B to `out`, NAL unit by NAL unit (nothing is
/// copied): the parameter sets `ps_annexb` first when it is a keyframe that carries none.
/// Returns the bytes written, or `None` with nothing written when a NAL length runs past
/// the end of the frame.
fn write_annexb(
    ps: &ParameterSets,
    ps_annexb: &[u8],
    data: &[u8],
    keyframe: bool,
    out: &mut dyn Write,
) -> io::Result<Option<u64>> {
    let mut carries_ps = false;
    for nal in nal_units(data, ps.length_size) {
        match nal {
            Ok(n) => carries_ps |= is_parameter_set(n, ps.hevc),
            Err(_) => return Ok(None),
        }
    }
    let mut bytes = 0u64;
    if keyframe && !carries_ps {
        out.write_all(ps_annexb)?;
        bytes = bytes.saturating_add(len64(ps_annexb.len()));
    }
    for n in nal_units(data, ps.length_size).flatten() {
        out.write_all(&START_CODE)?;
        out.write_all(n)?;
        bytes = bytes.saturating_add(len64(n.len())).saturating_add(4);
    }
    Ok(Some(bytes))
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
                crate::escape::escape(why)
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
                self.ps_annexb = ps.to_annexb();
                self.ps = Some(ps);
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
        let written = match (&mut self.sink, &self.ps, self.format) {
            (Some(Sink::Stream(w)), Some(ps), Some(Format::Annexb)) => {
                match write_annexb(ps, &self.ps_annexb, &f.data, f.keyframe, w).map_err(stop)? {
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
                w.finish().map_err(err)?;
            }
            None if self.ever_chosen => {
                return Err(Stop(format!("{what}: no frames: nothing written")));
            }
            None => return Err(Stop("the input has no tracks: nothing written".to_owned())),
        }
        Ok(format!("{what}: {} frames, {} bytes to {}", self.frames, self.bytes, self.output.display()))
    }
}

/// A WAV file written in connect mode: where, its layout, its audio so far.
struct Written {
    path: PathBuf,
    pcm: Pcm,
    bytes: u64,
}

/// The longest ContactId kept whole in a file name; a longer one keeps its first
/// [`KEPT_CONTACT_CHARS`] characters and the CRC-32 of the whole id.
const MAX_CONTACT_CHARS: usize = 64;
const KEPT_CONTACT_CHARS: usize = 48;

/// A ContactId, reduced to what connect mode keeps of it (both bounded, whatever its size).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Contact {
    /// Tells contacts apart: the id itself up to 256 bytes, else its first 128 characters,
    /// its length and two hashes of the whole.
    key: String,
    /// Its part of a file name: `[0-9A-Za-z._-]` (others and a leading `.` become `_`), at
    /// most [`MAX_CONTACT_CHARS`] (a longer one keeps [`KEPT_CONTACT_CHARS`] and `-h` with
    /// the CRC-32 of the whole id).
    safe: String,
}

impl Contact {
    fn of(id: &str) -> Self {
        let mut safe: String = id
            .chars()
            .take(MAX_CONTACT_CHARS.saturating_add(1))
            .map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' })
            .collect();
        if safe.starts_with('.') {
            safe.replace_range(..1, "_");
        }
        if safe.len() > MAX_CONTACT_CHARS {
            // All ASCII now, so any byte index is a character boundary.
            safe.truncate(KEPT_CONTACT_CHARS);
            safe.push_str(&format!("-h{:08x}", crc32fast::hash(id.as_bytes())));
        }
        let key = if id.len() <= 256 {
            id.to_owned()
        } else {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            id.hash(&mut h);
            let head: String = id.chars().take(128).collect();
            format!("{head}#{}#{:08x}#{:016x}", id.len(), crc32fast::hash(id.as_bytes()), h.finish())
        };
        Self { key, safe }
    }
}

/// Connect mode: both call-audio tracks per ContactId.
struct Connect {
    dir: PathBuf,
    contact: Option<Contact>,
    /// The contact the open files belong to.
    open_contact: Option<Contact>,
    tracks: Vec<Track>,
    /// The open files: track number and index into `written`.
    files: Vec<(u64, usize, WavFile)>,
    /// Every file of this run, in the order they were created.
    written: Vec<Written>,
    /// (ContactId, track number) to its index in `written`.
    by_key: std::collections::HashMap<(Contact, u64), usize>,
    /// Every file name used in this run, with the last `-<n>` added to it.
    names: std::collections::HashMap<String, u64>,
    mime: Option<(u32, u16)>,
    /// Whether the current document has had a Tracks event.
    doc_tracks: bool,
    frames: u64,
    orphans: u64,
}

impl Connect {
    fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            contact: None,
            open_contact: None,
            tracks: Vec::new(),
            files: Vec::new(),
            written: Vec::new(),
            by_key: std::collections::HashMap::new(),
            names: std::collections::HashMap::new(),
            mime: None,
            doc_tracks: false,
            frames: 0,
            orphans: 0,
        }
    }

    /// Finishes the open files (they can be reopened to append).
    fn close(&mut self) -> io::Result<()> {
        for (_, i, f) in self.files.drain(..) {
            let (_, bytes) = f.finish()?;
            if let Some(w) = self.written.get_mut(i) {
                w.bytes = bytes;
            }
        }
        self.open_contact = None;
        Ok(())
    }

    fn set_tracks(&mut self, tracks: Vec<Track>) -> io::Result<()> {
        self.doc_tracks = true;
        if tracks != self.tracks {
            // The open files were made for the previous list.
            self.close()?;
            self.tracks = tracks;
        }
        Ok(())
    }

    /// A file name for `contact`'s `track` not used yet in this run:
    /// `<contact>_<name>.wav`; when that is taken, `-<track number>` is added (then
    /// `-<track number>-<n>`, counted in the map: no linear probe).
    fn new_name(&mut self, contact: &Contact, track: &Track) -> String {
        let name = track.name.as_deref().unwrap_or("AUDIO");
        let plain = format!("{}_{name}", contact.safe);
        if !self.names.contains_key(&plain) {
            self.names.insert(plain.clone(), 1);
            return plain;
        }
        let base = format!("{plain}-{}", track.number);
        let Some(&last) = self.names.get(&base) else {
            self.names.insert(base.clone(), 1);
            return base;
        };
        let mut n = last;
        let name = loop {
            n = n.saturating_add(1);
            let candidate = format!("{base}-{n}");
            if !self.names.contains_key(&candidate) || n == u64::MAX {
                break candidate;
            }
        };
        self.names.insert(base, n);
        self.names.insert(name.clone(), 1);
        name
    }

    /// The open file for track `number` of the current contact, opened (created, or
    /// reopened to append when this contact's track was written before) if need be.
    fn file_for(&mut self, number: u64) -> io::Result<Option<&mut WavFile>> {
        if let Some(pos) = self.files.iter().position(|(n, _, _)| *n == number) {
            return Ok(self.files.get_mut(pos).map(|(_, _, f)| f));
        }
        let Some(track) = self.tracks.iter().rfind(|t| t.number == number && is_connect(t)).cloned() else {
            return Ok(None);
        };
        let Some(pcm) = pcm_with(&track, self.mime) else { return Ok(None) };
        let contact = self.contact.clone().unwrap_or_else(|| Contact::of("no-contact-id"));
        let key = (contact.clone(), number);
        match self.by_key.get(&key).and_then(|&i| Some((i, self.written.get(i)?))) {
            Some((i, w)) if w.pcm == pcm => {
                self.files.push((number, i, WavFile::reopen(&w.path, pcm, w.bytes)?));
            }
            // New, or its audio format changed: a file of its own.
            _ => {
                let name = self.new_name(&contact, &track);
                let path = self.dir.join(format!("{name}.wav"));
                let file = WavFile::create(&path, pcm)?;
                let i = self.written.len();
                self.written.push(Written { path, pcm, bytes: 0 });
                self.by_key.insert(key, i);
                self.files.push((number, i, file));
            }
        }
        Ok(self.files.last_mut().map(|(_, _, f)| f))
    }

    fn frame(&mut self, f: &Frame) -> io::Result<()> {
        if !self.doc_tracks {
            self.orphans = self.orphans.saturating_add(1);
            return Ok(());
        }
        if self.open_contact != self.contact {
            self.close()?;
            self.open_contact = self.contact.clone();
        }
        if let Some(w) = self.file_for(f.track)? {
            w.write(&f.data)?;
            self.frames = self.frames.saturating_add(1);
        }
        Ok(())
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
        ps: None,
        ps_annexb: Vec::new(),
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
    let result = each_event("extract", input, opts, |event, _| match event {
        Event::DocumentStart { offset, .. } => {
            x.document_start();
            late.document(offset);
            Ok(())
        }
        Event::FragmentStart { .. } => {
            x.document_start();
            Ok(())
        }
        Event::Tracks(tracks) => x.tracks(&tracks),
        Event::Frame(f) => {
            if !x.doc_tracks
                && let Some(tracks) = late.fetch()
            {
                // The document's Tracks come after its frames: read ahead in the file.
                x.tracks(&tracks)?;
            }
            x.frame(&f)
        }
        Event::Tag(t) if t.name == "MimeType" => {
            x.mime = t.value.as_text().and_then(|m| parse_mime(&m));
            Ok(())
        }
        _ => Ok(()),
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
    let mut c = Connect::new(dir);
    let result = each_event("extract", input, opts, |event, _| match event {
        Event::DocumentStart { .. } | Event::FragmentStart { .. } => {
            c.doc_tracks = false;
            Ok(())
        }
        Event::Tracks(tracks) => {
            if !tracks.iter().any(is_connect) {
                return Err(io::Error::other(
                    "this document has no AUDIO_FROM_CUSTOMER or AUDIO_TO_CUSTOMER track: it is not Amazon \
                     Connect audio; use --track and --format instead",
                ));
            }
            if let Some(t) = tracks.iter().find(|t| is_connect(t) && t.unsupported_encoding.is_some()) {
                return Err(io::Error::other(format!(
                    "{} is stored with {}, which kvs-mkv cannot undo: not extracted",
                    describe_track(t),
                    crate::escape::escape(t.unsupported_encoding.as_deref().unwrap_or_default())
                )));
            }
            c.set_tracks(tracks)
        }
        Event::Tag(t) if t.name == "ContactId" => {
            c.contact = t.value.as_text().map(|v| Contact::of(v.trim_end_matches('\0')));
            Ok(())
        }
        Event::Tag(t) if t.name == "MimeType" => {
            c.mime = t.value.as_text().and_then(|m| parse_mime(&m));
            Ok(())
        }
        Event::Frame(f) => c.frame(&f),
        _ => Ok(()),
    });
    let closed = c.close();
    // Every file written, once, with its whole audio: true even when the run stopped.
    for w in &c.written {
        println!("{}\t{} bytes of audio", w.path.display(), w.bytes);
    }
    if c.orphans > 0 {
        let n = if c.orphans == 1 { "1 frame".to_owned() } else { format!("{} frames", c.orphans) };
        eprintln!("kvs-mkv extract: {n} came before any Tracks of their document: not extracted");
    }
    let files = if c.written.len() == 1 { "file" } else { "files" };
    eprintln!("kvs-mkv extract: {} WAV {files} in {}", c.written.len(), c.dir.display());
    match (result, closed) {
        (Err(e), _) | (Ok(_), Err(e)) => {
            eprintln!("kvs-mkv extract: {e}");
            ExitCode::FAILURE
        }
        (Ok(_), Ok(())) if c.frames == 0 && c.orphans > 0 => {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avcc_and_hvcc() {
        // The 54-byte CodecPrivate of the Java library's output_get_media.mkv.
        let cp: Vec<u8> = (0..54)
            .map(|i| {
                let hex = "014d401e03010027274d401eb9101405ff2e02d4040407c0000003004000000f38a0003d090007a13bdee03e1108d401000428fe3c80";
                u8::from_str_radix(hex.get(i * 2..i * 2 + 2).unwrap_or("00"), 16).unwrap_or(0)
            })
            .collect();
        let ps = parse_avcc(&cp).unwrap_or_default();
        assert_eq!(ps.length_size, 4);
        assert_eq!(ps.nals.len(), 2);
        assert_eq!(ps.nals.first().and_then(|n| n.first()).map(|b| b & 0x1F), Some(7));
        assert_eq!(ps.nals.get(1).and_then(|n| n.first()).map(|b| b & 0x1F), Some(8));
        assert!(parse_avcc(&[]).is_none());
        assert!(parse_avcc(&[1, 2, 3]).is_none());
        assert!(parse_hvcc(&[1; 10]).is_none());
    }

    #[test]
    fn annexb_conversion() {
        let ps = ParameterSets { length_size: 2, nals: vec![vec![0x67, 1], vec![0x68, 2]], hevc: false };
        let pa = ps.to_annexb();
        let mut out = Vec::new();
        let n = write_annexb(&ps, &pa, &[0, 2, 0x65, 9, 0, 1, 0x06], true, &mut out).ok().flatten();
        assert_eq!(out, [0, 0, 0, 1, 0x67, 1, 0, 0, 0, 1, 0x68, 2, 0, 0, 0, 1, 0x65, 9, 0, 0, 0, 1, 0x06]);
        assert_eq!(n, Some(23));
        out.clear();
        write_annexb(&ps, &pa, &[0, 1, 0x41], false, &mut out).ok().flatten();
        assert_eq!(out, [0, 0, 0, 1, 0x41]);
        out.clear();
        let r = write_annexb(&ps, &pa, &[0, 5, 1], false, &mut out).ok().flatten();
        assert!(r.is_none() && out.is_empty(), "a length past the end");
        // A keyframe that carries its own SPS gets none added.
        write_annexb(&ps, &pa, &[0, 2, 0x67, 3], true, &mut out).ok().flatten();
        assert_eq!(out, [0, 0, 0, 1, 0x67, 3]);
    }

    #[test]
    fn adts_fields() {
        // AAC-LC 16 kHz mono (0x1408): profile 1, index 8, 1 channel.
        let a = parse_asc(&[0x14, 0x08]);
        assert_eq!(a, Some(Adts { profile: 1, sampling_index: 8, channels: 1 }));
        // AAC-LC 48 kHz stereo (0x1190).
        assert_eq!(parse_asc(&[0x11, 0x90]), Some(Adts { profile: 1, sampling_index: 3, channels: 2 }));
        // HE-AAC (explicit SBR, object type 5): the core LC at 24 kHz, extension 48 kHz.
        // 00101 0110 0010 0011 00010 -> 0x2B 0x11 0x88 (padded).
        assert_eq!(parse_asc(&[0x2B, 0x11, 0x88]), Some(Adts { profile: 1, sampling_index: 6, channels: 2 }));
        // Channel configuration 0 (a PCE) and object type 42 (USAC) cannot be ADTS.
        assert_eq!(parse_asc(&[0x14, 0x00]), None);
        assert_eq!(parse_asc(&[0xF8, 0x50, 0x40]), None);
        assert_eq!(parse_asc(&[]), None);
        let h = adts_header(Adts { profile: 1, sampling_index: 8, channels: 1 }, 100).unwrap_or_default();
        // Sync word, MPEG-4, no CRC.
        assert_eq!(h[0], 0xFF);
        assert_eq!(h[1], 0xF1);
        assert_eq!(h[2] >> 6, 1, "profile");
        assert_eq!((h[2] >> 2) & 0xF, 8, "sampling index");
        assert_eq!(((h[2] & 1) << 2) | (h[3] >> 6), 1, "channels");
        let len = (u32::from(h[3] & 3) << 11) | (u32::from(h[4]) << 3) | u32::from(h[5] >> 5);
        assert_eq!(len, 107, "the frame length counts the header");
        assert_eq!(((u32::from(h[5]) & 0x1F) << 6) | (u32::from(h[6]) >> 2), 0x7FF, "buffer fullness: VBR");
        assert_eq!(h[6] & 3, 0, "one raw data block");
        assert!(adts_header(Adts { profile: 1, sampling_index: 3, channels: 2 }, 8184).is_some());
        assert!(adts_header(Adts { profile: 1, sampling_index: 3, channels: 2 }, 8185).is_none());
    }

    #[test]
    fn wav_header_fields() {
        let h = wav_header(Pcm { rate: 8000, channels: 1, bits: 16, float: false, big_endian: false }, 320);
        assert_eq!(h.get(0..4), Some(&b"RIFF"[..]));
        assert_eq!(h.get(4..8), Some(&356u32.to_le_bytes()[..]));
        assert_eq!(h.get(22..24), Some(&1u16.to_le_bytes()[..]));
        assert_eq!(h.get(24..28), Some(&8000u32.to_le_bytes()[..]));
        assert_eq!(h.get(28..32), Some(&16000u32.to_le_bytes()[..]));
        assert_eq!(h.get(40..44), Some(&320u32.to_le_bytes()[..]));
    }

    #[test]
    fn mime_types() {
        assert_eq!(parse_mime("audio/L16;rate=8000;channels=1"), Some((8000, 1)));
        assert_eq!(parse_mime("audio/L16; rate=16000; channels=2\0"), Some((16000, 2)));
        assert_eq!(parse_mime("audio/L16"), Some((8000, 1)));
        assert_eq!(parse_mime("video/h264"), None);
        assert_eq!(parse_mime("audio/L16;rate=0"), None);
    }

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("kvs-mkv-extract-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_default();
        dir.join(name)
    }

    #[test]
    fn big_endian_samples_are_swapped_across_pieces() {
        let path = temp("be.wav");
        let pcm = Pcm { rate: 8000, channels: 1, bits: 16, float: false, big_endian: true };
        let data: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
        let mut w = WavFile::create(&path, pcm).unwrap_or_else(|e| panic!("{e}"));
        w.write(&data).unwrap_or_default();
        w.finish().unwrap_or_default();
        let out = std::fs::read(&path).unwrap_or_default();
        assert_eq!(out.len(), 44 + data.len());
        let want: Vec<u8> = data.chunks_exact(2).flat_map(|c| [c[1], c[0]]).collect();
        assert!(out.get(44..) == Some(&want[..]));
    }

    #[test]
    fn a_reopened_wav_keeps_its_audio_and_its_sizes_add_up() {
        let path = temp("reopen.wav");
        let pcm = Pcm { rate: 8000, channels: 1, bits: 8, float: false, big_endian: false };
        let mut w = WavFile::create(&path, pcm).unwrap_or_else(|e| panic!("{e}"));
        w.write(&[1, 2, 3]).unwrap_or_default();
        let (_, n) = w.finish().unwrap_or_default();
        assert_eq!(n, 3);
        assert_eq!(std::fs::read(&path).unwrap_or_default().len(), 48, "a pad byte after odd data");
        let mut w = WavFile::reopen(&path, pcm, n).unwrap_or_else(|e| panic!("{e}"));
        w.write(&[4, 5, 6, 7]).unwrap_or_default();
        let (_, n) = w.finish().unwrap_or_default();
        assert_eq!(n, 7);
        let out = std::fs::read(&path).unwrap_or_default();
        assert_eq!(out.get(44..), Some(&[1, 2, 3, 4, 5, 6, 7, 0][..]));
        assert_eq!(out.get(40..44), Some(&7u32.to_le_bytes()[..]));
        assert_eq!(out.get(4..8), Some(&44u32.to_le_bytes()[..]), "file length - 8, pad included");
    }
}
