//! PCM audio as RIFF/WAVE files ([`WavFile`]), and what decides a track's PCM layout:
//! `A_PCM/INT/LIT`, `A_PCM/INT/BIG` (byte-swapped when written), `A_PCM/FLOAT/IEEE`, and
//! Amazon Connect's call audio: tracks named `AUDIO_FROM_CUSTOMER` / `AUDIO_TO_CUSTOMER`,
//! declared `A_AAC` but carrying 16-bit little-endian PCM, at the Audio element's rate and
//! channels when present, else those of a `MimeType` tag (`audio/L16;rate=8000;channels=1`),
//! else 8000 Hz mono.
//!
//! ```
//! use kvs_mux::wav::{Pcm, WavFile};
//!
//! let path = std::env::temp_dir().join(format!("kvs-mux-wav-doc-{}.wav", std::process::id()));
//! let pcm = Pcm { rate: 8000, channels: 1, bits: 16, float: false, big_endian: false };
//! let mut wav = WavFile::create(&path, pcm)?;
//! wav.write(&[0; 320])?; // 20 ms of silence
//! let (path, bytes) = wav.finish()?;
//! assert_eq!(bytes, 320);
//! assert_eq!(std::fs::metadata(&path)?.len(), 44 + 320);
//! # std::fs::remove_file(&path)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fs::File;
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use kvs_chunk::{Codec, PcmKind, Track};

/// What went wrong while writing a WAV file.
#[derive(Debug, thiserror::Error)]
pub enum WavError {
    /// The file system refused.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// More audio than a WAV file's 32-bit sizes can describe.
    #[error("{0} bytes of audio do not fit a WAV file (4 GiB)")]
    TooLarge(u64),
}

/// The PCM layout of a track written as WAV.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pcm {
    /// Samples per second.
    pub rate: u32,
    /// Interleaved channels.
    pub channels: u16,
    /// Bits per sample (a multiple of 8).
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
    let (float, big_endian, default_bits) = match track.codec() {
        Some(Codec::Pcm(PcmKind::IntLittle)) => (false, false, 16),
        Some(Codec::Pcm(PcmKind::IntBig)) => (false, true, 16),
        Some(Codec::Pcm(PcmKind::Float)) => (true, false, 32),
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
#[derive(Debug)]
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
    /// Creates `path` with a header for no audio yet.
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

    /// Appends samples (byte-swapped when `pcm.big_endian`, in pieces: never copied whole).
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
    pub fn finish(mut self) -> Result<(PathBuf, u64), WavError> {
        let size = u32::try_from(self.data_bytes).map_err(|_| WavError::TooLarge(self.data_bytes))?;
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

/// The longest ContactId kept whole in a file name; a longer one keeps its first
/// [`KEPT_CONTACT_CHARS`] characters and the CRC-32 of the whole id.
const MAX_CONTACT_CHARS: usize = 64;
const KEPT_CONTACT_CHARS: usize = 48;

/// An Amazon Connect `ContactId` tag, reduced to what a writer keeps of it (both bounded,
/// whatever its size): a key telling contacts apart, and its part of a file name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Contact {
    /// Tells contacts apart: the id itself up to 256 bytes, else its first 128 characters,
    /// its length and two hashes of the whole.
    key: String,
    /// Its part of a file name: `[0-9A-Za-z._-]` (others and a leading `.` become `_`), at
    /// most [`MAX_CONTACT_CHARS`] (a longer one keeps [`KEPT_CONTACT_CHARS`] and `-h` with
    /// the CRC-32 of the whole id).
    safe: String,
}

impl Contact {
    /// The contact of ContactId `id`.
    pub fn of(id: &str) -> Self {
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

    /// Its part of a file name: `[0-9A-Za-z._-]` only, never starting with `.`, at most 64
    /// characters (a longer id keeps its first 48 and `-h` with the CRC-32 of the whole).
    pub fn file_part(&self) -> &str {
        &self.safe
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let dir = std::env::temp_dir().join(format!("kvs-mux-wav-unit-{}", std::process::id()));
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

    #[test]
    fn pcm_layouts_and_connect_tracks() {
        let mut t = Track::new(1, kvs_chunk::TrackType::Unknown, "A_AAC");
        assert_eq!(pcm(&t), None, "AAC is not PCM");
        t.name = Some("AUDIO_TO_CUSTOMER".into());
        assert!(is_connect(&t));
        let want = Pcm { rate: 8000, channels: 1, bits: 16, float: false, big_endian: false };
        assert_eq!(pcm(&t), Some(want));
        assert_eq!(pcm_with(&t, Some((16000, 2))), Some(Pcm { rate: 16000, channels: 2, ..want }));
        let be = Track::new(2, kvs_chunk::TrackType::Unknown, "A_PCM/INT/BIG");
        assert_eq!(pcm(&be).map(|p| p.big_endian), Some(true));
    }

    #[test]
    fn contact_names_are_safe_and_bounded() {
        assert_eq!(Contact::of(".a/b").file_part(), "_a_b");
        let long = "x".repeat(300);
        let c = Contact::of(&long);
        assert!(c.file_part().starts_with(&"x".repeat(48)) && c.file_part().len() == 58, "{}", c.file_part());
        assert_ne!(c, Contact::of(&"x".repeat(301)));
    }
}
