//! One track's elementary stream from events, written through as frames come (`kvs-mkv
//! extract`): [`TrackExtractor`] chooses a track and writes it as Annex B, raw payloads, ADTS
//! or WAV; [`connect_event`] drives a [`ConnectWriter`] (Amazon Connect's call audio as WAV
//! files per contact).
//!
//! Each Tracks event replaces the track list (the last one wins, and when a list repeats a
//! track number the last entry is used). Frames that come before any Tracks of their document
//! cannot be extracted: they are counted ([`TrackExtractor::orphans`]).
//!
//! ```
//! use kvs_chunk::Events;
//! use kvs_mux::extract::{ExtractFormat, Output, TrackExtractor};
//!
//! let input = bytes::Bytes::from_static(include_bytes!("../../../testdata/getmedia_basic.mkv"));
//! let out = std::env::temp_dir().join(format!("kvs-mux-extract-doc-{}.bin", std::process::id()));
//! let mut x = TrackExtractor::new(None, Some(ExtractFormat::Raw), Output::Path(out.clone()));
//! for event in Events::new(input) {
//!     x.event(&event?)?;
//! }
//! let summary = x.finish()?;
//! assert!(summary.frames > 0);
//! assert_eq!(std::fs::metadata(&out)?.len(), summary.bytes);
//! # std::fs::remove_file(&out)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use kvs_chunk::{Event, Frame, Track, TrackType};

use crate::adts::{Adts, adts, adts_header};
use crate::annexb::{AnnexB, parameter_sets};
use crate::connect::ConnectWriter;
use crate::wav::{WavError, WavFile, is_connect, parse_mime, pcm, pcm_with};

/// What a track is written as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExtractFormat {
    /// H.264/H.265 with start codes, the CodecPrivate's parameter sets before every keyframe
    /// that lacks its own.
    AnnexB,
    /// The frame payloads as stored.
    Raw,
    /// PCM audio (and Connect's call audio) in a RIFF/WAVE file.
    Wav,
    /// AAC with a 7-byte ADTS header before each frame.
    Adts,
}

impl ExtractFormat {
    /// The format a track is written as by default: Annex B for H.264/H.265, ADTS for AAC,
    /// WAV for PCM and Connect audio, raw otherwise.
    #[must_use]
    pub fn for_track(track: &Track) -> Self {
        if parameter_sets(track).is_some() {
            Self::AnnexB
        } else if adts(track).is_some() {
            Self::Adts
        } else if pcm(track).is_some() {
            Self::Wav
        } else {
            Self::Raw
        }
    }
}

/// Where the stream goes.
pub enum Output {
    /// A file, created when a track is first chosen (a WAV file: at its first frame).
    Path(PathBuf),
    /// A stream (standard output, ...), named `name` in errors. WAV cannot go to a stream.
    Writer {
        /// What to call it in errors.
        name: PathBuf,
        /// The stream.
        writer: Box<dyn Write>,
    },
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Path(p) => f.debug_tuple("Path").field(p).finish(),
            Self::Writer { name, .. } => f.debug_struct("Writer").field("name", name).finish_non_exhaustive(),
        }
    }
}

/// Why extraction stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExtractError {
    /// No track of the first Tracks matches the selector (or, without one, none is video or
    /// audio).
    #[error("no track {} in the document", selector.as_deref().unwrap_or("of video or audio"))]
    NoTrack {
        /// The track asked for.
        selector: Option<String>,
        /// The document's tracks.
        tracks: Vec<Track>,
    },
    /// The track's ContentEncoding cannot be undone: its frames are not the codec's bytes.
    #[error("track {} is stored with {why}, which cannot be undone", track.number)]
    UnsupportedEncoding {
        /// The track.
        track: Box<Track>,
        /// The encoding.
        why: String,
    },
    /// Annex B asked for a track that is not H.264/H.265 with a readable CodecPrivate.
    #[error("track {} is not H.264 or H.265 with a readable CodecPrivate", .0.number)]
    NotAnnexB(Box<Track>),
    /// WAV asked for a track that is not PCM audio.
    #[error("track {} is not PCM audio", .0.number)]
    NotPcm(Box<Track>),
    /// ADTS asked for a track that is not AAC with an AudioSpecificConfig ADTS can carry.
    #[error("track {} is not AAC that ADTS can carry", .0.number)]
    NotAdts(Box<Track>),
    /// WAV asked for with an [`Output::Writer`]: its sizes are patched at the end.
    #[error("WAV needs a file to patch its sizes into")]
    WavNeedsFile,
    /// The output could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The output.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The WAV file could not be finished.
    #[error("cannot write {path}: {source}")]
    Wav {
        /// The output.
        path: PathBuf,
        /// Why.
        source: WavError,
    },
    /// Nothing was extracted: every frame came before the Tracks of its document.
    #[error("nothing extracted: every frame came before the Tracks of its document")]
    NothingExtracted,
    /// A track was chosen but none of its frames came (the track: the one chosen last, if
    /// the last document had it).
    #[error("no frames: nothing written")]
    NoFrames(Option<Box<Track>>),
    /// The input had no Tracks.
    #[error("the input has no tracks: nothing written")]
    NoTracks,
}

/// What [`TrackExtractor::event`] has to say about a frame it wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Notice {
    /// An H.264/H.265 frame whose NAL lengths run past its end: written as it is.
    NalPastEnd {
        /// The frame's timestamp, ms.
        timestamp_ms: i64,
        /// The offset of its block.
        block_offset: u64,
    },
}

/// What was extracted.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// The track last chosen.
    pub track: Option<Track>,
    /// Frames written.
    pub frames: u64,
    /// Bytes written (headers and start codes included, a WAV header not).
    pub bytes: u64,
}

enum Sink {
    Stream(Box<dyn Write>),
    Wav(WavFile),
}

/// A single-track extraction: give it events in order, then [`finish`](Self::finish) it.
pub struct TrackExtractor {
    selector: Option<String>,
    format: Option<ExtractFormat>,
    path: PathBuf,
    /// The stream of an [`Output::Writer`], until it becomes the sink.
    pending: Option<Box<dyn Write>>,
    track: Option<Track>,
    annexb: Option<AnnexB>,
    adts: Option<Adts>,
    too_large: u64,
    sink: Option<Sink>,
    frames: u64,
    bytes: u64,
    mime: Option<(u32, u16)>,
    doc_tracks: bool,
    ever_chosen: bool,
    orphans: u64,
}

impl std::fmt::Debug for TrackExtractor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrackExtractor")
            .field("path", &self.path)
            .field("track", &self.track.as_ref().map(|t| t.number))
            .field("frames", &self.frames)
            .finish_non_exhaustive()
    }
}

/// The track `selector` names (number or name), else the first video track, else the first
/// audio track. When the list repeats a number or name, the last entry is used: it is the
/// latest definition of that track.
#[must_use]
pub fn choose<'a>(tracks: &'a [Track], selector: Option<&str>) -> Option<&'a Track> {
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

fn len64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

impl TrackExtractor {
    /// An extraction of the track `selector` names (a number or a TrackName; `None`: the
    /// first video track, else the first audio track) as `format` (`None`: as
    /// [`ExtractFormat::for_track`] says) to `output`.
    #[must_use]
    pub fn new(selector: Option<String>, format: Option<ExtractFormat>, output: Output) -> Self {
        let (path, pending) = match output {
            Output::Path(p) => (p, None),
            Output::Writer { name, writer } => (name, Some(writer)),
        };
        Self {
            selector,
            format,
            path,
            pending,
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
        }
    }

    /// Whether the current document has had no Tracks yet (a caller that can read ahead
    /// may push them with [`tracks`](Self::tracks) before a cluster).
    #[must_use]
    pub fn needs_tracks(&self) -> bool {
        !self.doc_tracks
    }

    /// Frames that came before any Tracks of their document (not extracted).
    #[must_use]
    pub fn orphans(&self) -> u64 {
        self.orphans
    }

    /// AAC frames larger than an ADTS header can describe (not written).
    #[must_use]
    pub fn too_large(&self) -> u64 {
        self.too_large
    }

    /// Takes one event.
    ///
    /// # Errors
    /// As [`tracks`](Self::tracks) and [`frame`](Self::frame).
    pub fn event(&mut self, event: &Event) -> Result<Option<Notice>, ExtractError> {
        match event {
            Event::DocumentStart { .. } | Event::FragmentStart { .. } => {
                self.doc_tracks = false;
                self.track = None;
            }
            Event::Tracks(tracks) => self.tracks(tracks)?,
            Event::Frame(f) => return self.frame(f),
            Event::Tag(t) if t.name == "MimeType" => {
                self.mime = t.value.as_text().and_then(|m| parse_mime(&m));
            }
            _ => {}
        }
        Ok(None)
    }

    fn output_error(&self) -> impl Fn(io::Error) -> ExtractError + '_ {
        |source| ExtractError::Io { path: self.path.clone(), source }
    }

    /// Takes a document's track list and chooses the track.
    ///
    /// # Errors
    /// [`ExtractError::NoTrack`] when no track was ever chosen and this list has none to
    /// choose; [`ExtractError::UnsupportedEncoding`], and `NotAnnexB`, `NotPcm`,
    /// `WavNeedsFile` or `NotAdts` when the track cannot be written as the format;
    /// [`ExtractError::Io`] when the output cannot be created.
    pub fn tracks(&mut self, tracks: &[Track]) -> Result<(), ExtractError> {
        self.doc_tracks = true;
        let Some(t) = choose(tracks, self.selector.as_deref()) else {
            if !self.ever_chosen {
                return Err(ExtractError::NoTrack {
                    selector: self.selector.clone(),
                    tracks: tracks.to_vec(),
                });
            }
            // This document lacks the track: none of its frames are extracted.
            self.track = None;
            return Ok(());
        };
        if let Some(why) = &t.unsupported_encoding {
            return Err(ExtractError::UnsupportedEncoding { track: Box::new(t.clone()), why: why.clone() });
        }
        let format = *self.format.get_or_insert_with(|| ExtractFormat::for_track(t));
        match format {
            ExtractFormat::AnnexB => {
                let ps = parameter_sets(t).ok_or_else(|| ExtractError::NotAnnexB(Box::new(t.clone())))?;
                self.annexb = Some(AnnexB::new(ps));
            }
            ExtractFormat::Wav => {
                // The file is created at the first frame, with the latest Tracks and MimeType.
                if pcm(t).is_none() {
                    return Err(ExtractError::NotPcm(Box::new(t.clone())));
                }
                if self.pending.is_some() {
                    return Err(ExtractError::WavNeedsFile);
                }
            }
            ExtractFormat::Adts => {
                self.adts = Some(adts(t).ok_or_else(|| ExtractError::NotAdts(Box::new(t.clone())))?);
            }
            ExtractFormat::Raw => {}
        }
        if self.sink.is_none() && format != ExtractFormat::Wav {
            let w = match self.pending.take() {
                Some(w) => w,
                None => Box::new(File::create(&self.path).map_err(self.output_error())?),
            };
            self.sink = Some(Sink::Stream(Box::new(BufWriter::with_capacity(256 * 1024, w))));
        }
        self.track = Some(t.clone());
        self.ever_chosen = true;
        Ok(())
    }

    /// Writes a frame of the chosen track (others are skipped).
    ///
    /// # Errors
    /// [`ExtractError::Io`] when the output cannot be written.
    pub fn frame(&mut self, f: &Frame) -> Result<Option<Notice>, ExtractError> {
        if !self.doc_tracks {
            self.orphans = self.orphans.saturating_add(1);
            return Ok(None);
        }
        let Some(track) = &self.track else { return Ok(None) };
        if f.track != track.number {
            return Ok(None);
        }
        let path = self.path.clone();
        let stop = |source: io::Error| ExtractError::Io { path: path.clone(), source };
        if let (None, Some(ExtractFormat::Wav), Some(p)) =
            (&self.sink, self.format, pcm_with(track, self.mime))
        {
            self.sink = Some(Sink::Wav(WavFile::create(&self.path, p).map_err(stop)?));
        }
        let mut notice = None;
        let written = match (&mut self.sink, &self.annexb, self.format) {
            (Some(Sink::Stream(w)), Some(annexb), Some(ExtractFormat::AnnexB)) => {
                match annexb.write_frame(&f.data, f.keyframe, w).map_err(stop)? {
                    Some(n) => n,
                    None => {
                        notice = Some(Notice::NalPastEnd {
                            timestamp_ms: f.timestamp_ms(),
                            block_offset: f.block_offset,
                        });
                        w.write_all(&f.data).map_err(stop)?;
                        len64(f.data.len())
                    }
                }
            }
            (Some(Sink::Stream(w)), _, Some(ExtractFormat::Adts)) => {
                let Some(header) = self.adts.and_then(|a| adts_header(a, f.data.len())) else {
                    self.too_large = self.too_large.saturating_add(1);
                    return Ok(None);
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
            (None, _, _) => return Ok(None),
        };
        self.frames = self.frames.saturating_add(1);
        self.bytes = self.bytes.saturating_add(written);
        Ok(notice)
    }

    /// Flushes the stream (a closed pipe is not an error) or patches the WAV sizes.
    ///
    /// # Errors
    /// [`ExtractError::NothingExtracted`] when every frame came before its Tracks,
    /// [`ExtractError::NoFrames`] or [`ExtractError::NoTracks`] when nothing was written,
    /// [`ExtractError::Io`] when the output cannot be finished.
    pub fn finish(self) -> Result<Summary, ExtractError> {
        let path = self.path;
        let err = |source: io::Error| ExtractError::Io { path: path.clone(), source };
        if self.frames == 0 && self.orphans > 0 {
            if let Some(Sink::Stream(mut w)) = self.sink {
                let _ = w.flush();
            }
            return Err(ExtractError::NothingExtracted);
        }
        match self.sink {
            Some(Sink::Stream(mut w)) => match w.flush() {
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
                other => other.map_err(err)?,
            },
            Some(Sink::Wav(w)) => {
                w.finish().map_err(|source| ExtractError::Wav { path: path.clone(), source })?;
            }
            None => {
                return Err(if self.ever_chosen {
                    ExtractError::NoFrames(self.track.map(Box::new))
                } else {
                    ExtractError::NoTracks
                });
            }
        }
        Ok(Summary { track: self.track, frames: self.frames, bytes: self.bytes })
    }
}

/// Why [`connect_event`] stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// A document has neither AUDIO_FROM_CUSTOMER nor AUDIO_TO_CUSTOMER.
    #[error("this document has no AUDIO_FROM_CUSTOMER or AUDIO_TO_CUSTOMER track")]
    NotConnect,
    /// A Connect track's ContentEncoding cannot be undone.
    #[error("track {} is stored with {why}, which cannot be undone", track.number)]
    UnsupportedEncoding {
        /// The track.
        track: Box<Track>,
        /// The encoding.
        why: String,
    },
    /// A WAV file could not be written.
    #[error(transparent)]
    Wav(#[from] WavError),
}

/// Gives one event to a [`ConnectWriter`]: document starts, Tracks (which must have a
/// Connect track), the `ContactId` and `MimeType` tags, frames.
///
/// # Errors
/// [`ConnectError`].
pub fn connect_event(c: &mut ConnectWriter, event: Event) -> Result<(), ConnectError> {
    match event {
        Event::DocumentStart { .. } | Event::FragmentStart { .. } => c.document_start(),
        Event::Tracks(tracks) => {
            if !tracks.iter().any(is_connect) {
                return Err(ConnectError::NotConnect);
            }
            if let Some(t) = tracks.iter().find(|t| is_connect(t) && t.unsupported_encoding.is_some()) {
                let why = t.unsupported_encoding.clone().unwrap_or_default();
                return Err(ConnectError::UnsupportedEncoding { track: Box::new(t.clone()), why });
            }
            c.set_tracks(tracks)?;
        }
        Event::Tag(t) if t.name == "ContactId" => c.set_contact(t.value.as_text().as_deref()),
        Event::Tag(t) if t.name == "MimeType" => c.set_mime(t.value.as_text().and_then(|m| parse_mime(&m))),
        Event::Frame(f) => c.frame(&f)?,
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    // Fields are assigned after `default()`: kvs-chunk's event structs are built that way
    // outside kvs-chunk (no struct literals).
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::field_reassign_with_default)]
    use std::path::Path;

    use bytes::Bytes;
    use kvs_chunk::{AudioSettings, Tag, TagValue};

    use super::*;

    /// The one place the tests build a frame.
    fn frame(track: u64, data: &'static [u8], keyframe: bool) -> Event {
        let mut f = Frame::new(track, 0, Bytes::from_static(data));
        f.keyframe = keyframe;
        Event::Frame(f)
    }

    fn track(number: u64, codec: &str, private: Option<&[u8]>) -> Track {
        let mut t = Track::default();
        t.number = number;
        t.kind = if codec.starts_with('V') { TrackType::Video } else { TrackType::Audio };
        t.codec_id = Some(codec.to_owned());
        t.codec_private = private.map(Bytes::copy_from_slice);
        t
    }

    fn pcm_track(number: u64, codec: &str, name: Option<&str>) -> Track {
        let mut t = track(number, codec, None);
        t.name = name.map(str::to_owned);
        let mut a = AudioSettings::default();
        a.sampling_frequency = Some(8000.0);
        a.channels = Some(1);
        a.bit_depth = Some(16);
        t.audio = Some(a);
        t
    }

    fn tag(name: &str, value: &str) -> Event {
        let mut t = Tag::default();
        t.name = name.to_owned();
        t.value = TagValue::String(Bytes::copy_from_slice(value.as_bytes()));
        Event::Tag(Box::new(t))
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("kvs-mux-extract-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Runs `events` through an extractor writing to `path`.
    fn extract(
        path: &Path,
        format: Option<ExtractFormat>,
        events: &[Event],
    ) -> Result<Summary, ExtractError> {
        let mut x = TrackExtractor::new(None, format, Output::Path(path.to_owned()));
        for e in events {
            x.event(e)?;
        }
        x.finish()
    }

    #[test]
    fn raw_payloads_of_the_chosen_track_only() {
        let dir = temp_dir("raw");
        let out = dir.join("out.bin");
        let tracks = Event::Tracks(vec![track(1, "V_VP8", None), track(2, "A_OPUS", None)]);
        let events = [tracks, frame(2, b"zz", true), frame(1, b"ab", true), frame(1, b"cde", false)];
        let s = extract(&out, None, &events).unwrap();
        assert_eq!((s.frames, s.bytes, s.track.map(|t| t.number)), (2, 5, Some(1)));
        assert_eq!(std::fs::read(&out).unwrap(), b"abcde");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn annexb_gets_start_codes_and_parameter_sets() {
        let dir = temp_dir("annexb");
        let out = dir.join("out.h264");
        // avcC: 4-byte lengths, one SPS (67 42), one PPS (68 CE).
        let avcc = [1, 0x42, 0xC0, 0x1E, 0xFF, 0xE1, 0, 2, 0x67, 0x42, 1, 0, 2, 0x68, 0xCE];
        let t = track(1, "V_MPEG4/ISO/AVC", Some(&avcc));
        assert_eq!(ExtractFormat::for_track(&t), ExtractFormat::AnnexB);
        let events = [Event::Tracks(vec![t]), frame(1, &[0, 0, 0, 2, 0x65, 0x88], true)];
        let s = extract(&out, None, &events).unwrap();
        let want = [0, 0, 0, 1, 0x67, 0x42, 0, 0, 0, 1, 0x68, 0xCE, 0, 0, 0, 1, 0x65, 0x88];
        assert_eq!(std::fs::read(&out).unwrap(), want);
        assert_eq!((s.frames, s.bytes), (1, 18));
        // A frame whose NAL length runs past its end is written as it is, with a notice.
        let mut x = TrackExtractor::new(None, None, Output::Path(dir.join("bad.h264")));
        x.event(&Event::Tracks(vec![track(1, "V_MPEG4/ISO/AVC", Some(&avcc))])).unwrap();
        let notice = x.event(&frame(1, &[0, 0, 0, 9, 0x65], false)).unwrap();
        assert_eq!(notice, Some(Notice::NalPastEnd { timestamp_ms: 0, block_offset: 0 }));
        assert_eq!(x.finish().unwrap().bytes, 5);
        // Annex B of a track that is not H.264/H.265 is refused.
        let err = extract(
            &dir.join("vp8"),
            Some(ExtractFormat::AnnexB),
            &[Event::Tracks(vec![track(1, "V_VP8", None)])],
        );
        assert!(matches!(err, Err(ExtractError::NotAnnexB(t)) if t.number == 1));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn adts_header_before_each_frame() {
        let dir = temp_dir("adts");
        let out = dir.join("out.aac");
        // AudioSpecificConfig: AAC LC, 44100 Hz (index 4), 2 channels.
        let t = track(1, "A_AAC", Some(&[0x12, 0x10]));
        assert_eq!(ExtractFormat::for_track(&t), ExtractFormat::Adts);
        let s = extract(&out, None, &[Event::Tracks(vec![t]), frame(1, &[9; 10], true)]).unwrap();
        let b = std::fs::read(&out).unwrap();
        assert_eq!((s.bytes, b.len()), (17, 17));
        assert_eq!(b[..2], [0xFF, 0xF1]);
        // Profile LC (1), sampling index 4, channel configuration 2, frame length 17.
        assert_eq!(b[2] >> 6, 1);
        assert_eq!((b[2] >> 2) & 0x0F, 4);
        assert_eq!(((b[2] & 1) << 2) | (b[3] >> 6), 2);
        let len = (u32::from(b[3] & 3) << 11) | (u32::from(b[4]) << 3) | (u32::from(b[5]) >> 5);
        assert_eq!(len, 17);
        assert_eq!(b[7..], [9; 10]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn wav_file_with_patched_sizes() {
        let dir = temp_dir("wav");
        let out = dir.join("out.wav");
        let t = pcm_track(1, "A_PCM/INT/LIT", None);
        assert_eq!(ExtractFormat::for_track(&t), ExtractFormat::Wav);
        let events = [Event::Tracks(vec![t.clone()]), frame(1, &[1, 2, 3, 4], true), frame(1, &[5, 6], true)];
        let s = extract(&out, None, &events).unwrap();
        assert_eq!((s.frames, s.bytes), (2, 6));
        let b = std::fs::read(&out).unwrap();
        assert_eq!(b.len(), 50);
        assert_eq!(&b[..4], b"RIFF");
        assert_eq!(u32::from_le_bytes([b[4], b[5], b[6], b[7]]), 42);
        assert_eq!(u32::from_le_bytes([b[24], b[25], b[26], b[27]]), 8000);
        assert_eq!(u32::from_le_bytes([b[40], b[41], b[42], b[43]]), 6);
        assert_eq!(b[44..], [1, 2, 3, 4, 5, 6]);
        // WAV cannot go to a stream.
        let mut x = TrackExtractor::new(
            None,
            None,
            Output::Writer { name: PathBuf::from("-"), writer: Box::new(io::sink()) },
        );
        assert!(matches!(x.event(&Event::Tracks(vec![t])), Err(ExtractError::WavNeedsFile)));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn frames_before_tracks_are_counted_not_written() {
        let dir = temp_dir("orphans");
        let out = dir.join("out.bin");
        let mut x = TrackExtractor::new(Some("1".to_owned()), None, Output::Path(out.clone()));
        assert!(x.needs_tracks());
        x.event(&Event::DocumentStart { index: 0, offset: 0 }).unwrap();
        x.event(&frame(1, b"early", true)).unwrap();
        x.event(&frame(1, b"early", true)).unwrap();
        assert_eq!(x.orphans(), 2);
        x.event(&Event::Tracks(vec![track(1, "V_VP8", None)])).unwrap();
        assert!(!x.needs_tracks());
        assert!(matches!(x.finish(), Err(ExtractError::NothingExtracted)));
        // No track of the selector in the first Tracks: refused with the list.
        let mut x = TrackExtractor::new(Some("7".to_owned()), None, Output::Path(out));
        let err = x.event(&Event::Tracks(vec![track(1, "V_VP8", None)]));
        assert!(matches!(err, Err(ExtractError::NoTrack { tracks, .. }) if tracks.len() == 1));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn connect_contact_that_comes_back_is_appended() {
        let dir = temp_dir("connect");
        let mut c = ConnectWriter::new(&dir);
        let tracks = || Event::Tracks(vec![pcm_track(1, "A_AAC", Some("AUDIO_FROM_CUSTOMER"))]);
        let doc = || Event::DocumentStart { index: 0, offset: 0 };
        let contacts: [(&str, &'static [u8]); 3] = [("A", &[1, 1]), ("B", &[2, 2, 2, 2]), ("A", &[3, 3])];
        for (contact, audio) in contacts {
            for e in [doc(), tracks(), tag("ContactId", contact), frame(1, audio, true)] {
                connect_event(&mut c, e).unwrap();
            }
        }
        c.close().unwrap();
        let written: Vec<(String, u64)> = c
            .written()
            .iter()
            .map(|w| (w.path.file_name().unwrap().to_string_lossy().into_owned(), w.bytes))
            .collect();
        assert_eq!(
            written,
            [("A_AUDIO_FROM_CUSTOMER.wav".to_owned(), 4), ("B_AUDIO_FROM_CUSTOMER.wav".to_owned(), 4)]
        );
        let a = std::fs::read(dir.join("A_AUDIO_FROM_CUSTOMER.wav")).unwrap();
        assert_eq!(a[44..], [1, 1, 3, 3]);
        assert_eq!(u32::from_le_bytes([a[40], a[41], a[42], a[43]]), 4);
        // A document without a Connect track is refused.
        let err = connect_event(&mut c, Event::Tracks(vec![track(1, "V_VP8", None)]));
        assert!(matches!(err, Err(ConnectError::NotConnect)));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
