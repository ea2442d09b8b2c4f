//! Differential tests against the `matroska-demuxer` crate (0.8), a peer Matroska reader that
//! shares no code with kvs-chunk.
//!
//! Every input is split into its EBML documents (EBML header + Segment; in GetMedia output one
//! per fragment) at the offsets kvs-chunk reports, and each document is given to the peer on
//! its own, as the standalone Matroska file it is. Per document the two must agree on:
//! - the tracks: number, UID, type, CodecID, CodecPrivate bytes, name, language,
//!   DefaultDuration, video pixel and display sizes, audio sampling frequency, channels and
//!   bit depth (the peer's defaults stand in where kvs-chunk reports none);
//! - every frame, in order: track, timestamp, keyframe/discardable flags (SimpleBlocks; the
//!   peer reports none for a BlockGroup's Block), invisible flag, BlockDuration (where the
//!   peer reports it) and bytes;
//! - the tags of every Segment-level Tags element: each top-level SimpleTag's name, value,
//!   language and default flag; the service's own `AWS_KINESISVIDEO_*` tags, which kvs-chunk
//!   reports as fragment metadata, fragment ends and stream errors instead of tags, by value
//!   (timestamps parsed here with string arithmetic).
//!
//! Every input must be compared: a document the peer cannot read, or reads differently, is
//! listed below with the peer's error (or the difference) and the reason; the test fails when
//! a document is neither compared nor listed, and when a listed one stops failing the way the
//! list says (so the list stays honest).
//!
//! The peer reports timestamps in TimestampScale units, every frame of a lace with the lace's
//! timestamp, and a negative timestamp clamped at 0; kvs-chunk reports nanoseconds and steps a
//! lace's frames by the track's DefaultDuration; the comparison undoes that step.
//!
//! The service's tags: kvs-chunk reports one value of each kind per document, the first (a
//! document is one fragment); the peer's first value of each kind must be it. Only
//! OutputSegmentMerger's output (several fragments in one document) has later values.
//!
//! The peer reads one Tags element per file (the one its SeekHead names, else the last one).
//! To show it every Segment-level Tags element, each is read in a view of the document where
//! the SeekHeads and the other Tags elements are Void elements of the same length (no byte
//! moves). Other rewrites let the peer open what it refuses, and leave what is compared as it
//! was (see [`for_the_peer`]; the test prints how often each was needed): unknown sizes made
//! known, and mandatory elements the peer requires written out with their defaults where a
//! file omits them (the yacchi-ebml fixtures have no DocTypeVersion, MuxingApp or TrackUID;
//! error chunks have no Tracks or Cluster). GetMedia's documents keep the producer's SeekHead,
//! whose Cues entry points past the document's end: when the peer cannot open a document with
//! its SeekHeads, they are voided and the peer scans the top level itself.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Cursor;
use std::ops::Range;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use kvs_chunk::{
    ErrorChunk, Event, Events, FragmentEnd, FragmentMetadata, Frame, SliceEvents, Tag, TagValue, Track,
    TrackType,
};
use matroska_demuxer::{Frame as PeerFrame, MatroskaFile, SimpleTag, TrackEntry};

// ---------------------------------------------------------------------------------------------
// kvs-chunk's side
// ---------------------------------------------------------------------------------------------

/// What kvs-chunk reports for one document.
#[derive(Default)]
struct OurDocument {
    index: u64,
    /// Its bytes within the input.
    range: Range<usize>,
    tracks: Vec<Vec<Track>>,
    scales: Vec<u64>,
    frames: Vec<Frame>,
    tags: Vec<Tag>,
    metadata: Vec<FragmentMetadata>,
    ends: Vec<FragmentEnd>,
    /// A FragmentStart came: the next Tracks repeats the document's.
    repeat_tracks: bool,
    stream_errors: Vec<ErrorChunk>,
    errors: Vec<kvs_chunk::Error>,
}

/// The documents of `input` as kvs-chunk splits it, and the input bytes that lie in none
/// (before the first document, or after a fatal error stopped the decoder).
fn our_documents(input: &Bytes) -> (Vec<OurDocument>, Vec<Range<usize>>, Vec<String>) {
    let mut docs: Vec<OurDocument> = Vec::new();
    let mut stray_errors = Vec::new();
    let items: Vec<_> = Events::new(input.clone()).collect();
    // The borrowed reader reads the same input to the same events: what is compared with
    // the peer below holds for both.
    let borrowed: Vec<_> = SliceEvents::new(input).collect();
    assert_eq!(items.len(), borrowed.len(), "SliceEvents gives another number of items");
    for (i, (a, b)) in items.iter().zip(borrowed).enumerate() {
        let b = b.map(|e| e.map_data(|d| Bytes::copy_from_slice(&d)));
        let same = match (a, &b) {
            (Ok(a), Ok(b)) => a == b,
            (Err(a), Err(b)) => a.to_string() == b.to_string(),
            _ => false,
        };
        assert!(same, "item {i}: Events gave {a:?}, SliceEvents {b:?}");
    }
    for item in items {
        let e = match item {
            Ok(e) => e,
            Err(e) => {
                match docs.last_mut() {
                    Some(d) => d.errors.push(e),
                    None => stray_errors.push(e.to_string()),
                }
                continue;
            }
        };
        if let Event::DocumentStart { index, offset } = e {
            let start = offset as usize;
            docs.push(OurDocument { index, range: start..start, ..OurDocument::default() });
            continue;
        }
        let Some(d) = docs.last_mut() else {
            stray_errors.push(format!("event before any document: {e:?}"));
            continue;
        };
        match e {
            // A merged document's later fragments repeat its Tracks: compared once.
            Event::FragmentStart { .. } => d.repeat_tracks = true,
            Event::Tracks(_) if d.repeat_tracks => d.repeat_tracks = false,
            Event::Tracks(t) => d.tracks.push(t),
            Event::Cluster { timestamp_scale, .. } => d.scales.push(timestamp_scale),
            Event::Frame(f) => d.frames.push(f),
            Event::Tag(t) => d.tags.push(*t),
            Event::FragmentMetadata(m) => d.metadata.push(m),
            Event::FragmentEnd(f) => d.ends.push(f),
            Event::ErrorChunk(s) => d.stream_errors.push(s),
            _ => {}
        }
    }
    // A document runs to the next one (or the end of input): a document cut short, or one
    // kvs-chunk stopped reading, goes to the peer whole.
    let starts: Vec<usize> = docs.iter().map(|d| d.range.start).collect();
    for (i, d) in docs.iter_mut().enumerate() {
        d.range.end = starts.get(i + 1).copied().unwrap_or(input.len());
    }
    let mut uncovered = Vec::new();
    let mut at = 0;
    for d in &docs {
        if d.range.start > at {
            uncovered.push(at..d.range.start);
        }
        at = at.max(d.range.end);
    }
    if at < input.len() {
        uncovered.push(at..input.len());
    }
    (docs, uncovered, stray_errors)
}

// ---------------------------------------------------------------------------------------------
// A minimal EBML walk of the test's own, to find what to rewrite for the peer
// ---------------------------------------------------------------------------------------------

const EBML: u32 = 0x1A45_DFA3;
const SEGMENT: u32 = 0x1853_8067;
const SEEK_HEAD: u32 = 0x114D_9B74;
const INFO: u32 = 0x1549_A966;
const TRACKS: u32 = 0x1654_AE6B;
const CLUSTER: u32 = 0x1F43_B675;
const TAGS: u32 = 0x1254_C367;
const TIMESTAMP: u32 = 0xE7;
const TRACK_ENTRY: u32 = 0xAE;
const TRACK_NUMBER: u32 = 0xD7;
const TRACK_UID: u32 = 0x73C5;
const MUXING_APP: u32 = 0x4D80;
const WRITING_APP: u32 = 0x5741;
const DOC_TYPE_VERSION: u32 = 0x4287;
const DOC_TYPE_READ_VERSION: u32 = 0x4285;
/// The ids that may follow an unknown-size Cluster at Segment level (and so end it).
const SEGMENT_LEVEL: [u32; 10] =
    [EBML, SEGMENT, SEEK_HEAD, INFO, TRACKS, CLUSTER, 0x1C53_BB6B, 0x1941_A469, 0x1043_A770, TAGS];

/// An element header at `at`: id, where its data starts, its size (`None`: unknown).
fn element_header(b: &[u8], at: usize) -> Option<(u32, usize, Option<u64>)> {
    let first = *b.get(at)?;
    let id_len = first.leading_zeros() as usize + 1;
    if id_len > 4 {
        return None;
    }
    let id = b.get(at..at + id_len)?.iter().fold(0u32, |a, &x| (a << 8) | u32::from(x));
    let s = at + id_len;
    let first = *b.get(s)?;
    let len = first.leading_zeros() as usize + 1;
    if len > 8 {
        return None;
    }
    let mut size = u64::from(first) & (0xFF >> len);
    for &x in b.get(s + 1..s + len)? {
        size = (size << 8) | u64::from(x);
    }
    let unknown = size == (1u64 << (7 * len)) - 1;
    Some((id, s + len, (!unknown).then_some(size)))
}

/// The children of the master whose data is `data`: id, whole element, its data.
fn children(data: &[u8]) -> Vec<(u32, Range<usize>, Range<usize>)> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some((id, d, Some(s))) = element_header(data, at) {
        let end = d.saturating_add(s as usize).min(data.len());
        out.push((id, at..end, d..end));
        at = end;
    }
    out
}

/// The ids of the children of the master whose data is `data`.
fn child_ids(data: &[u8]) -> Vec<u32> {
    children(data).into_iter().map(|c| c.0).collect()
}

/// Tracks with a TrackUID (mandatory, no default) written out where a TrackEntry lacks one
/// (its TrackNumber serves), or `None` when every TrackEntry has one.
fn tracks_with_uids(body: &[u8]) -> Option<Vec<u8>> {
    let mut changed = false;
    let mut out = Vec::new();
    for (id, whole, data) in children(body) {
        let entry = &body[data.clone()];
        let fields = children(entry);
        if id != TRACK_ENTRY || fields.iter().any(|f| f.0 == TRACK_UID) {
            out.extend_from_slice(&body[whole]);
            continue;
        }
        let number = fields
            .iter()
            .find(|f| f.0 == TRACK_NUMBER)
            .map_or(1, |f| entry[f.2.clone()].iter().fold(0u64, |a, &x| (a << 8) | u64::from(x)).max(1));
        out.extend(element(TRACK_ENTRY, &[entry, &element(TRACK_UID, &number.to_be_bytes())].concat()));
        changed = true;
    }
    changed.then_some(out)
}

/// A Segment-level element.
struct Child {
    id: u32,
    /// The whole element (an unknown-size Cluster runs to the next Segment-level id).
    range: Range<usize>,
    data: usize,
    unknown_size: bool,
}

/// Where a document's EBML header, Segment and Segment-level elements lie.
struct Layout {
    header_data: Range<usize>,
    segment_data: usize,
    segment_end: usize,
    segment_unknown_size: bool,
    children: Vec<Child>,
    /// Whether the walk reached the Segment's end (else nothing is written out).
    complete: bool,
}

impl Layout {
    fn of(doc: &[u8]) -> Option<Self> {
        let (id, data, size) = element_header(doc, 0)?;
        if id != EBML {
            return None;
        }
        let header_data = data..data.checked_add(size? as usize)?;
        let (id, segment_data, seg_size) = element_header(doc, header_data.end)?;
        if id != SEGMENT {
            return None;
        }
        let segment_end = seg_size.map_or(doc.len(), |s| (segment_data + s as usize).min(doc.len()));
        let mut children = Vec::new();
        let mut at = segment_data;
        while at < segment_end {
            let Some((id, data, size)) = element_header(doc, at) else { break };
            let end = match size {
                Some(s) => (data.saturating_add(s as usize)).min(segment_end),
                None if id == CLUSTER => {
                    let mut c = data;
                    while c < segment_end {
                        match element_header(doc, c) {
                            Some((cid, cdata, Some(cs))) if !SEGMENT_LEVEL.contains(&cid) => {
                                c = (cdata.saturating_add(cs as usize)).min(segment_end);
                            }
                            _ => break,
                        }
                    }
                    c
                }
                None => segment_end,
            };
            children.push(Child { id, range: at..end, data, unknown_size: size.is_none() });
            at = end;
        }
        Some(Layout {
            header_data,
            segment_data,
            segment_end,
            segment_unknown_size: seg_size.is_none(),
            children,
            complete: at >= segment_end,
        })
    }

    fn all(&self, id: u32) -> impl Iterator<Item = &Child> {
        self.children.iter().filter(move |c| c.id == id)
    }
}

/// Overwrites `range` with a Void element of the same length (at least 2 bytes).
fn void(v: &mut [u8], range: Range<usize>) {
    let len = range.len();
    assert!(len >= 2);
    let head: Vec<u8> = if len - 2 < 127 {
        vec![0xEC, 0x80 | (len - 2) as u8]
    } else {
        let mut h = vec![0xEC, 0x01];
        h.extend_from_slice(&((len - 9) as u64).to_be_bytes()[1..]);
        h
    };
    v[range.clone()].fill(0);
    v[range.start..range.start + head.len()].copy_from_slice(&head);
}

/// An EBML element with an 8-byte size.
fn element(id: u32, body: &[u8]) -> Vec<u8> {
    let mut v: Vec<u8> = id.to_be_bytes().iter().copied().skip_while(|&b| b == 0).collect();
    v.push(0x01);
    v.extend_from_slice(&(body.len() as u64).to_be_bytes()[1..]);
    v.extend_from_slice(body);
    v
}

/// The document as the peer gets it, with `voids` (whole Segment-level elements) made Void,
/// and the rewrites made. Each rewrite leaves what is compared as it was:
/// - a missing DocTypeVersion or DocTypeReadVersion is written out with its default, 1;
/// - an unknown Segment size becomes the known size (the peer cannot open it otherwise);
/// - an unknown-size Cluster gets its known size in the same width (the peer reads a wider
///   than 1-byte unknown size as a number and stops scanning the top level there);
/// - an Info without its mandatory MuxingApp and WritingApp (or no Info at all: its
///   TimestampScale defaults to 1 ms) is voided and written out again, with the two as empty
///   strings, at the end of the Segment; likewise an empty Tracks and an empty Cluster where
///   there is none (the peer cannot open a Segment without them), and Tracks whose
///   TrackEntries lack their mandatory TrackUID (their TrackNumber serves; TrackUID is then
///   not compared). Then the SeekHeads, whose offsets no longer hold, are voided too.
fn for_the_peer(doc: &[u8], layout: Option<&Layout>, voids: &[Range<usize>]) -> (Vec<u8>, Vec<&'static str>) {
    let mut v = doc.to_vec();
    let mut rewrites = Vec::new();
    let Some(l) = layout else { return (v, rewrites) };
    let mut voids = voids.to_vec();
    let mut appended = Vec::new();
    match l.all(INFO).next() {
        _ if !l.complete => {}
        None => {
            appended.extend(element(INFO, &[element(MUXING_APP, b""), element(WRITING_APP, b"")].concat()));
            rewrites.push("Info written out");
        }
        Some(info) => {
            let mut body = doc[info.data..info.range.end].to_vec();
            let ids = child_ids(&body);
            if !(ids.contains(&MUXING_APP) && ids.contains(&WRITING_APP)) {
                for id in [MUXING_APP, WRITING_APP] {
                    if !ids.contains(&id) {
                        body.extend(element(id, b""));
                    }
                }
                appended.extend(element(INFO, &body));
                voids.push(info.range.clone());
                rewrites.push("MuxingApp/WritingApp written out");
            }
        }
    }
    match l.all(TRACKS).next() {
        _ if !l.complete => {}
        None => {
            appended.extend(element(TRACKS, &[]));
            rewrites.push("empty Tracks written out");
        }
        Some(tracks) => {
            if let Some(body) = tracks_with_uids(&doc[tracks.data..tracks.range.end]) {
                appended.extend(element(TRACKS, &body));
                voids.push(tracks.range.clone());
                rewrites.push("TrackUID written out");
            }
        }
    }
    if l.complete && l.all(CLUSTER).next().is_none() {
        appended.extend(element(CLUSTER, &element(TIMESTAMP, &[0])));
        rewrites.push("empty Cluster written out");
    }
    if !appended.is_empty() {
        voids.extend(l.all(SEEK_HEAD).map(|c| c.range.clone()));
    }
    voids.sort_by_key(|r| r.start);
    voids.dedup();
    for r in voids {
        void(&mut v, r);
    }
    for c in l.all(CLUSTER).filter(|c| c.unknown_size) {
        let size = (c.range.end - c.data) as u64;
        let width = c.data - c.range.start - 4;
        if width == 8 || size < (1u64 << (7 * width)) - 1 {
            let mut field = size.to_be_bytes()[8 - width..].to_vec();
            field[0] |= 0x80 >> (width - 1);
            v[c.data - width..c.data].copy_from_slice(&field);
            rewrites.push("unknown Cluster size made known");
        }
    }
    let mut out = Vec::with_capacity(v.len() + appended.len() + 64);
    let header = &v[l.header_data.clone()];
    let ids = child_ids(header);
    let mut missing = Vec::new();
    for id in [DOC_TYPE_VERSION, DOC_TYPE_READ_VERSION] {
        if !ids.contains(&id) {
            missing.extend(element(id, &[1]));
        }
    }
    if missing.is_empty() {
        out.extend_from_slice(&v[..l.header_data.end]);
    } else {
        out.extend(element(EBML, &[header, &missing].concat()));
        rewrites.push("DocTypeVersion/DocTypeReadVersion written out");
    }
    if l.segment_unknown_size || !appended.is_empty() {
        let body = [&v[l.segment_data..l.segment_end], &appended].concat();
        out.extend(element(SEGMENT, &body));
        if l.segment_unknown_size {
            rewrites.push("unknown Segment size made known");
        }
    } else {
        out.extend_from_slice(&v[l.header_data.end..l.segment_end]);
    }
    out.extend_from_slice(&v[l.segment_end..]);
    rewrites.sort_unstable();
    rewrites.dedup();
    (out, rewrites)
}

// ---------------------------------------------------------------------------------------------
// The peer's side
// ---------------------------------------------------------------------------------------------

/// What the peer reads from one document.
struct PeerDocument {
    scale: u64,
    tracks: Vec<TrackEntry>,
    frames: Vec<PeerFrame>,
    /// The error that ended its frames, if one did.
    frame_error: Option<String>,
    /// The top-level SimpleTags of each Segment-level Tags element, with its range.
    tags: Vec<(Range<usize>, Vec<SimpleTag>)>,
    rewrites: Vec<&'static str>,
}

fn open(v: Vec<u8>) -> Result<MatroskaFile<Cursor<Vec<u8>>>, String> {
    MatroskaFile::open(Cursor::new(v)).map_err(|e| format!("open: {e:?}"))
}

fn peer_document(doc: &[u8]) -> Result<PeerDocument, String> {
    let layout = Layout::of(doc);
    let l = layout.as_ref();
    let seek_heads: Vec<Range<usize>> =
        l.map(|l| l.all(SEEK_HEAD).map(|c| c.range.clone()).collect()).unwrap_or_default();
    let (v, mut rewrites) = for_the_peer(doc, l, &[]);
    let mut file = match open(v) {
        Ok(f) => f,
        Err(e) if !seek_heads.is_empty() => {
            rewrites.push("SeekHead voided");
            open(for_the_peer(doc, l, &seek_heads).0).map_err(|e2| format!("{e}; without SeekHead: {e2}"))?
        }
        Err(e) => return Err(e),
    };
    let scale = file.info().timestamp_scale().get();
    let tracks = file.tracks().to_vec();
    let mut frames = Vec::new();
    let mut frame = PeerFrame::default();
    let frame_error = loop {
        match file.next_frame(&mut frame) {
            Ok(true) => frames.push(frame.clone()),
            Ok(false) => break None,
            Err(e) => break Some(format!("frame {}: {e:?}", frames.len())),
        }
    };
    let mut tags = Vec::new();
    let all_tags: Vec<Range<usize>> =
        l.map(|l| l.all(TAGS).map(|c| c.range.clone()).collect()).unwrap_or_default();
    for (k, keep) in all_tags.iter().enumerate() {
        let mut voids = seek_heads.clone();
        voids.extend(all_tags.iter().filter(|r| *r != keep).cloned());
        let file = open(for_the_peer(doc, l, &voids).0).map_err(|e| format!("Tags element {k}: {e}"))?;
        let simple: Vec<SimpleTag> =
            file.tags().unwrap_or_default().iter().flat_map(|t| t.simple_tags().iter().cloned()).collect();
        tags.push((keep.clone(), simple));
    }
    Ok(PeerDocument { scale, tracks, frames, frame_error, tags, rewrites })
}

// ---------------------------------------------------------------------------------------------
// The comparison
// ---------------------------------------------------------------------------------------------

/// What one document's comparison covered.
#[derive(Default, Debug, Clone, Copy)]
struct Counts {
    documents: usize,
    tracks: usize,
    codec_privates: usize,
    frames: usize,
    tags: usize,
    service_tags: usize,
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, o: Self) {
        self.documents += o.documents;
        self.tracks += o.tracks;
        self.codec_privates += o.codec_privates;
        self.frames += o.frames;
        self.tags += o.tags;
        self.service_tags += o.service_tags;
    }
}

macro_rules! same {
    ($a:expr, $b:expr, $($ctx:tt)*) => {{
        let (a, b) = (&$a, &$b);
        if a != b {
            return Err(format!("{}: {:?} vs the peer's {:?}", format!($($ctx)*), a, b));
        }
    }};
}

/// kvs-chunk's track type as the Matroska TrackType number the peer reads, written here from
/// the specification (not `kvs_chunk::TrackType::number`: the test must not borrow the
/// mapping it checks).
fn track_type_value(t: TrackType) -> Option<u64> {
    Some(match t {
        TrackType::Video => 1,
        TrackType::Audio => 2,
        TrackType::Complex => 3,
        TrackType::Logo => 16,
        TrackType::Subtitle => 17,
        TrackType::Buttons => 18,
        TrackType::Control => 32,
        TrackType::Metadata => 33,
        TrackType::Other(v) => v,
        _ => return None,
    })
}

fn peer_track_type_value(t: matroska_demuxer::TrackType) -> Option<u64> {
    use matroska_demuxer::TrackType as P;
    Some(match t {
        P::Video => 1,
        P::Audio => 2,
        P::Complex => 3,
        P::Logo => 16,
        P::Subtitle => 17,
        P::Buttons => 18,
        P::Control => 32,
        P::Metadata => 33,
        P::Unknown => return None,
    })
}

fn compare_tracks(ours: &[Track], theirs: &PeerDocument, n: &mut Counts) -> Result<(), String> {
    let uids_written = theirs.rewrites.contains(&"TrackUID written out");
    let theirs = &theirs.tracks;
    same!(ours.len(), theirs.len(), "track count");
    for (a, b) in ours.iter().zip(theirs) {
        let t = a.number;
        same!(a.number, b.track_number().get(), "track number");
        if a.uid.is_some() || !uids_written {
            same!(a.uid, Some(b.track_uid().get()), "track {t}: TrackUID");
        }
        match peer_track_type_value(b.track_type()) {
            Some(v) => same!(track_type_value(a.kind), Some(v), "track {t}: TrackType"),
            // The peer maps every value it does not name to Unknown.
            None => same!(
                matches!(a.kind, TrackType::Other(_) | TrackType::Unknown),
                true,
                "track {t}: TrackType {:?} (the peer: unknown)",
                a.kind
            ),
        }
        same!(a.codec_id.as_deref(), Some(b.codec_id().trim_end_matches('\0')), "track {t}: CodecID");
        same!(a.codec_private.as_deref(), b.codec_private(), "track {t}: CodecPrivate");
        // Strings may be padded with NULs (RFC 8794 §7.3); the peer keeps them.
        same!(a.name.as_deref(), b.name().map(|x| x.trim_end_matches('\0')), "track {t}: Name");
        same!(a.language.as_deref(), b.language().map(|x| x.trim_end_matches('\0')), "track {t}: Language");
        same!(a.default_duration_ns, b.default_duration().map(|d| d.get()), "track {t}: DefaultDuration");
        match (a.video, b.video()) {
            (None, None) => {}
            (Some(v), Some(p)) => {
                same!(v.width, Some(p.pixel_width().get()), "track {t}: PixelWidth");
                same!(v.height, Some(p.pixel_height().get()), "track {t}: PixelHeight");
                same!(v.display_width, p.display_width().map(|x| x.get()), "track {t}: DisplayWidth");
                same!(v.display_height, p.display_height().map(|x| x.get()), "track {t}: DisplayHeight");
            }
            (a, b) => return Err(format!("track {t}: Video {a:?} vs the peer's {b:?}")),
        }
        match (a.audio, b.audio()) {
            (None, None) => {}
            (Some(x), Some(p)) => {
                // The peer gives the defaults (8000 Hz, 1 channel) where the file has none.
                same!(
                    x.sampling_frequency.unwrap_or(8000.0),
                    p.sampling_frequency(),
                    "track {t}: SamplingFrequency"
                );
                same!(x.channels.unwrap_or(1), p.channels().get(), "track {t}: Channels");
                same!(x.bit_depth, p.bit_depth().map(|x| x.get()), "track {t}: BitDepth");
            }
            (a, b) => return Err(format!("track {t}: Audio {a:?} vs the peer's {b:?}")),
        }
        n.tracks += 1;
        n.codec_privates += usize::from(a.codec_private.is_some());
    }
    Ok(())
}

fn compare_frames(ours: &OurDocument, theirs: &PeerDocument, n: &mut Counts) -> Result<(), String> {
    same!(ours.frames.len(), theirs.frames.len(), "frame count");
    if let Some(&scale) = ours.scales.first() {
        same!(scale, theirs.scale, "TimestampScale");
    }
    let scale = theirs.scale;
    let default_durations: BTreeMap<u64, u64> =
        ours.tracks.iter().flatten().filter_map(|t| t.default_duration_ns.map(|d| (t.number, d))).collect();
    for (i, (a, b)) in ours.frames.iter().zip(&theirs.frames).enumerate() {
        let ctx = format!("frame {i} (block at {})", a.block_offset);
        same!(a.track, b.track, "{ctx}: track");
        let step = default_durations.get(&a.track).copied().unwrap_or(0) * u64::from(a.lace_index);
        let lace_ns = a.timestamp_ns - step as i64;
        if lace_ns >= 0 {
            same!(lace_ns, (b.timestamp * scale) as i64, "{ctx}: timestamp (ns)");
        } else {
            // The peer clamps a negative timestamp at 0.
            same!(0, b.timestamp, "{ctx}: negative timestamp {lace_ns} ns");
        }
        if let Some(k) = b.is_keyframe {
            same!(a.keyframe, k, "{ctx}: keyframe");
        }
        if let Some(d) = b.is_discardable {
            same!(a.discardable, d, "{ctx}: discardable");
        }
        same!(a.invisible, b.is_invisible, "{ctx}: invisible");
        if let Some(d) = b.duration {
            same!(a.duration_ns, Some(d * scale), "{ctx}: BlockDuration (ns)");
        }
        // The peer gives a frame as stored; kvs-chunk undoes the track's ContentEncodings.
        let encodings = ours
            .tracks
            .last()
            .and_then(|t| t.iter().find(|t| t.number == a.track))
            .filter(|t| t.unsupported_encoding.is_none())
            .map(|t| t.content_encodings.as_slice())
            .unwrap_or_default();
        let theirs_decoded = undo_encodings(encodings, &b.data);
        if a.data[..] != theirs_decoded[..] {
            return Err(format!("{ctx}: bytes differ ({} vs the peer's {})", a.data.len(), b.data.len()));
        }
    }
    n.frames += ours.frames.len();
    Ok(())
}

/// A stored frame with its ContentEncodings undone (header stripping, zlib), as a test
/// oracle independent of kvs-chunk's own code.
fn undo_encodings(encodings: &[kvs_chunk::ContentEncoding], stored: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut data = stored.to_vec();
    for e in encodings.iter().filter(|e| e.applies_to_frames()) {
        data = match e.comp_algo.unwrap_or(0) {
            3 => [e.comp_settings.as_deref().unwrap_or_default(), &data].concat(),
            _ => {
                let mut out = Vec::new();
                flate2::read::ZlibDecoder::new(&data[..]).read_to_end(&mut out).unwrap();
                out
            }
        };
    }
    data
}

/// Decimal seconds with up to three fraction digits to milliseconds, by string arithmetic.
fn decimal_ms(s: &str) -> Option<i64> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    format!("{int}{frac:0<3}").parse().ok()
}

/// The service's own tags (`AWS_KINESISVIDEO_*`, both spellings, as the KVS documentation
/// names them): the kind of value each carries.
fn service_kind(name: &str) -> Option<&'static str> {
    Some(match name.strip_prefix("AWS_KINESISVIDEO_")? {
        "FRAGMENT_NUMBER" => "fragment number",
        "SERVER_TIMESTAMP" | "SERVER_SIDE_TIMESTAMP" => "server timestamp",
        "PRODUCER_TIMESTAMP" | "PRODUCER_SIDE_TIMESTAMP" => "producer timestamp",
        "MILLIS_BEHIND_NOW" => "millis behind now",
        "CONTINUATION_TOKEN" => "continuation token",
        "ERROR_ID" | "EXCEPTION_ERROR_CODE" => "error id",
        "ERROR_CODE" | "EXCEPTION_MESSAGE" => "error text",
        _ => return None,
    })
}

/// A service tag's value as compared: timestamps in milliseconds, numbers as numbers.
fn normalised(kind: &str, value: &str) -> String {
    match kind {
        "server timestamp" | "producer timestamp" => {
            decimal_ms(value).map_or_else(|| format!("not a timestamp: {value:?}"), |ms| ms.to_string())
        }
        "millis behind now" | "error id" => {
            value.parse::<u64>().map_or_else(|_| value.to_owned(), |v| v.to_string())
        }
        _ => value.to_owned(),
    }
}

/// The service values kvs-chunk reports for a document, by kind, without repeats.
fn our_service_values(d: &OurDocument) -> BTreeMap<&'static str, Vec<String>> {
    let mut out: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    let mut add = |kind: &'static str, v: Option<String>| {
        if let Some(v) = v {
            let list = out.entry(kind).or_default();
            if !list.contains(&v) {
                list.push(v);
            }
        }
    };
    for m in &d.metadata {
        add("fragment number", m.fragment_number.as_ref().map(|f| f.as_str().to_owned()));
        add("server timestamp", m.server_timestamp_ms.map(|v| v.to_string()));
        add("producer timestamp", m.producer_timestamp_ms.map(|v| v.to_string()));
    }
    for e in &d.ends {
        add("millis behind now", e.millis_behind_now.map(|v| v.to_string()));
        add("continuation token", e.continuation_token.as_ref().map(ToString::to_string));
    }
    for s in &d.stream_errors {
        add("fragment number", s.fragment_number.as_ref().map(|f| f.as_str().to_owned()));
        add("error id", s.raw_id.clone().or_else(|| s.id.map(|id| id.code().to_string())));
        add("error text", s.code.clone());
    }
    out
}

fn compare_tags(ours: &OurDocument, theirs: &PeerDocument, n: &mut Counts) -> Result<(), String> {
    let base = ours.range.start;
    let mut ours_matched = 0;
    let mut service: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    for (k, (range, simple)) in theirs.tags.iter().enumerate() {
        let at = range.start + base;
        let mut mine =
            ours.tags.iter().filter(|t| t.parents.is_empty() && range.contains(&(t.offset as usize - base)));
        for b in simple {
            let ctx = format!("Tags element {k} (at {at}): SimpleTag {:?}", b.name());
            if let Some(kind) = service_kind(b.name()) {
                service.entry(kind).or_default().push(normalised(kind, b.string().unwrap_or_default()));
                continue;
            }
            let Some(a) = mine.next() else { return Err(format!("{ctx}: kvs-chunk has no such tag")) };
            same!(a.name.as_str(), b.name(), "{ctx}: name");
            match &a.value {
                TagValue::String(s) => same!(Some(&s[..]), b.string().map(str::as_bytes), "{ctx}: TagString"),
                TagValue::Binary(s) => same!(Some(&s[..]), b.binary(), "{ctx}: TagBinary"),
                _ => same!((None, None), (b.string(), b.binary()), "{ctx}: value"),
            }
            same!(a.language.as_deref(), b.language(), "{ctx}: TagLanguage");
            same!(a.default, b.default(), "{ctx}: TagDefault");
            n.tags += 1;
            ours_matched += 1;
        }
        if let Some(a) = mine.next() {
            return Err(format!("Tags element {k} (at {at}): the peer lacks kvs-chunk's tag {:?}", a.name));
        }
    }
    let top_level = ours.tags.iter().filter(|t| t.parents.is_empty()).count();
    same!(top_level, ours_matched, "top-level tags, counting those outside the Segment-level Tags elements");
    // The service's tags: kvs-chunk reports one value of each kind per fragment (a merged
    // document, such as OutputSegmentMerger's output, holds several fragments, each with
    // its own values, see conformance_kvs_java.rs).
    let mine = our_service_values(ours);
    for kind in mine.keys().chain(service.keys()) {
        let theirs = service.get(kind).map(Vec::as_slice).unwrap_or_default();
        let all: Vec<String> = theirs.to_vec();
        same!(mine.get(kind).cloned().unwrap_or_default(), all, "the {kind} (the peer's {theirs:?})");
        n.service_tags += theirs.len();
    }
    Ok(())
}

fn cut_short(ours: &OurDocument) -> bool {
    matches!(
        ours.errors.as_slice(),
        [kvs_chunk::Error::Ebml(kvs_ebml::Error { kind: kvs_ebml::ErrorKind::UnexpectedEof { .. }, .. })]
    )
}

fn compare(ours: &OurDocument, theirs: &PeerDocument) -> Result<Counts, String> {
    let mut n = Counts { documents: 1, ..Counts::default() };
    // A document cut short is compared as far as it goes: the peer stops at the incomplete
    // frame (with an error, or as at the end of a file), kvs-chunk with its one error.
    if !ours.errors.is_empty() && !cut_short(ours) {
        let errors: Vec<String> = ours.errors.iter().map(ToString::to_string).collect();
        return Err(format!("kvs-chunk reports errors: {errors:?}"));
    }
    if let (Some(e), false) = (&theirs.frame_error, cut_short(ours)) {
        return Err(format!("the peer's frames end with an error kvs-chunk does not report: {e}"));
    }
    let tracks = match ours.tracks.as_slice() {
        [] => &[][..],
        [t] => t.as_slice(),
        more => return Err(format!("{} Tracks events", more.len())),
    };
    compare_tracks(tracks, theirs, &mut n).map_err(|e| format!("tracks: {e}"))?;
    compare_frames(ours, theirs, &mut n).map_err(|e| format!("frames: {e}"))?;
    compare_tags(ours, theirs, &mut n).map_err(|e| format!("tags: {e}"))?;
    Ok(n)
}

// ---------------------------------------------------------------------------------------------
// Inputs, the list of documents not compared, and the tests
// ---------------------------------------------------------------------------------------------

/// A document that is not compared: the peer cannot read it, or reads it differently.
struct Listed {
    /// The input, relative to its folder (`testdata/`, `../shared/conformance/`).
    input: &'static str,
    /// The document's index in the input.
    document: u64,
    /// Text the failure contains (`peer: ...` or `differs: ...`).
    failure: &'static str,
    /// Why.
    why: &'static str,
}

const LISTED: &[Listed] = &[
    // libwebm's parser test files that are invalid on purpose (names under `invalid__`).
    Listed {
        input: "matroska-real/libwebm/testing__testdata__invalid__block_ends_beyond_cluster.mkv",
        document: 0,
        failure: "kvs-chunk reports errors: [\"child element ends at 1975156, past its parent's end at 10488",
        why: "a SimpleBlock runs past its Cluster's end: kvs-chunk stops there with an error (as the strict \
              walk of EXPECTED.json does); the peer does not check a child against its parent's end",
    },
    Listed {
        input: "matroska-real/libwebm/testing__testdata__invalid__blockgroup_block_ends_beyond_blockgroup.mkv",
        document: 0,
        failure: "kvs-chunk reports errors: [\"child element ends at 44411826, past its parent's end at 10939",
        why: "a Block runs past its BlockGroup's end: kvs-chunk stops with an error, the peer reads on",
    },
    Listed {
        input: "matroska-real/libwebm/testing__testdata__invalid__chapters_truncated_chapter_string.mkv",
        document: 0,
        failure: "peer: open: ElementNotFound(ChapterUid)",
        why: "a ChapString runs past its parent: the peer parses Chapters when it opens a file and refuses \
              it; kvs-chunk stops with an error there (before any Cluster)",
    },
    Listed {
        input: "matroska-real/libwebm/testing__testdata__invalid__chapters_truncated_chapter_string_2.mkv",
        document: 0,
        failure: "without SeekHead: open: ElementNotFound(ChapterUid)",
        why: "as chapters_truncated_chapter_string.mkv",
    },
    Listed {
        input: "matroska-real/libwebm/testing__testdata__invalid__fixed_lacing_bad_lace_size.mkv",
        document: 0,
        failure: "kvs-chunk reports errors: [\"fixed-size lacing does not divide the data evenly in block at \
                  byte offset 47408",
        why: "a fixed-size lace whose data does not divide evenly: kvs-chunk reports the block as malformed \
              and skips it, the peer splits it anyway",
    },
    Listed {
        input: "matroska-real/libwebm/testing__testdata__invalid__invalid_vp9_bitstream-bug_1416.webm",
        document: 0,
        failure: "peer: open: InvalidEbmlHeader(\"unsupported DocType: 0000\")",
        why: "a fuzzed file whose EBML header ids are overwritten with '0': the peer refuses the header; \
              kvs-chunk does not require a DocType and reads 5 frames before an element overruns its parent",
    },
    Listed {
        input: "matroska-real/libwebm/testing__testdata__invalid__invalid_vp9_bitstream-bug_1417.webm",
        document: 0,
        failure: "peer: open: InvalidEbmlHeader(\"unsupported DocType: 0000\")",
        why: "as invalid_vp9_bitstream-bug_1416.webm (kvs-chunk reads 3 frames)",
    },
    Listed {
        input: "matroska-real/libwebm/testing__testdata__invalid__primarychromaticity_fieldtoolarge.webm",
        document: 0,
        failure: "peer: open: WrongFloatSize(1060912) (kvs-chunk: 0 tracks, 0 frames, errors [\"element of \
                  13563782407139376 bytes exceeds the limit",
        why: "a fuzzed Segment size beyond any limit: kvs-chunk refuses it, the peer fails on a float further in",
    },
    Listed {
        input: "matroska-real/libwebm/testing__testdata__invalid__projection_float_overflow.webm",
        document: 0,
        failure: "peer: open: CantFindCluster (kvs-chunk: 0 tracks, 0 frames, errors [\"element of \
                  70087269200954941 bytes exceeds the limit",
        why: "a fuzzed Segment size beyond any limit: kvs-chunk refuses it, the peer finds no Cluster",
    },
    // The Matroska working group's EBML conformance files, invalid by design, where one of the
    // two readers is lenient.
    Listed {
        input: "matroska-real/matroska-test-files/invalid_ebml__docTypeReadVersion_greaterthan_docTypeVersion.mkv",
        document: 0,
        failure: "InvalidEbmlHeader(\"unsupported DocTypeReadVersion: 5\")",
        why: "the peer refuses a DocTypeReadVersion above 3; kvs-chunk does not check it (18 frames)",
    },
    Listed {
        input: "matroska-real/matroska-test-files/invalid_ebml__empty_DocType.mkv",
        document: 0,
        failure: "InvalidEbmlHeader(\"unsupported DocType: \")",
        why: "the peer refuses an empty DocType; kvs-chunk does not check the DocType (18 frames)",
    },
    Listed {
        input: "matroska-real/matroska-test-files/invalid_ebml__higher_EBMLMaxSizeLength_than_matroska_allows.mkv",
        document: 0,
        failure: "InvalidEbmlHeader(\"unsupported MaxSizeLength: 9\")",
        why: "the peer refuses EBMLMaxSizeLength 9; kvs-chunk reads sizes of up to 8 bytes whatever the \
              header declares, and every size here fits (18 frames)",
    },
    Listed {
        input: "matroska-real/matroska-test-files/invalid_ebml__inefficient_elementid.mkv",
        document: 0,
        failure: "kvs-chunk reports errors: [\"invalid element id 0x200286 at byte offset 12\"]",
        why: "an element id not in its shortest form, which RFC 8794 section 5 forbids: kvs-chunk refuses it, \
              the peer reads it",
    },
    Listed {
        input: "matroska-real/matroska-test-files/invalid_ebml__level_0_crc.mkv",
        document: 0,
        failure: "peer: open: UnexpectedElement((Segment, Void))",
        why: "an element between the EBML header and the Segment: the peer wants the Segment right after \
              the header; kvs-chunk skips it (18 frames)",
    },
    Listed {
        input: "matroska-real/matroska-test-files/invalid_ebml__lower_EBMLMaxSizeLength_than_elements_are_using.mkv",
        document: 0,
        failure: "kvs-chunk reports errors: [\"invalid element id (0x00 lead byte) at byte offset 278\"]",
        why: "kvs-chunk stops at byte 278, where the strict walk of EXPECTED.json stops too; the peer skips \
              zero bytes where it expects an id",
    },
    Listed {
        input: "matroska-real/matroska-test-files/invalid_ebml__no_DocType.mkv",
        document: 0,
        failure: "peer: open: ElementNotFound(DocType)",
        why: "the peer requires a DocType; kvs-chunk does not (18 frames)",
    },
    Listed {
        input: "matroska-real/matroska-test-files/invalid_ebml__really_invalid_EBML_ElementDataSize_in_EBMLHeader.mkv",
        document: 0,
        failure: "peer: open: InvalidEbmlDataSize; without SeekHead: open: InvalidEbmlDataSize (kvs-chunk: 0 \
                  tracks, 0 frames, errors [\"invalid size VINT (0x00 lead byte) at byte offset 28",
        why: "both refuse it",
    },
    Listed {
        input: "matroska-real/matroska-test-files/invalid_ebml__unknown_sized_non_master_element.mkv",
        document: 0,
        failure: "(kvs-chunk: 0 tracks, 0 frames, errors [\"unknown size on a non-master element at byte offset 28",
        why: "both refuse it (the peer: ElementSizeExceedsStream)",
    },
];

/// A compared document's counts and the rewrites its peer input needed, or why it was not
/// compared.
type Outcome = Result<(Counts, Vec<&'static str>), String>;

/// Compares every document of every input under `root` (`files` relative to it) and checks
/// the outcome against [`LISTED`]; panics naming every document that is neither compared
/// nor listed and every listed one that no longer fails as listed.
fn check_inputs(root: &Path, group: &str, files: &[PathBuf]) -> Counts {
    assert!(!files.is_empty(), "no inputs under {}", root.display());
    let mut total = Counts::default();
    let mut problems = String::new();
    let mut listed_seen = 0;
    let mut rewrites: BTreeMap<&'static str, usize> = BTreeMap::new();
    for path in files {
        let rel = path.strip_prefix(root).unwrap().display().to_string();
        let input = common::read(path);
        let (docs, uncovered, stray) = our_documents(&input);
        let mut outcomes: Vec<(u64, Outcome)> = Vec::new();
        for d in &docs {
            let outcome = match peer_document(&input[d.range.clone()]) {
                Ok(p) => compare(d, &p).map(|n| (n, p.rewrites)).map_err(|e| format!("differs: {e}")),
                Err(e) => Err(format!("peer: {e} (kvs-chunk: {})", summary(d))),
            };
            outcomes.push((d.index, outcome));
        }
        // Bytes in no document (kvs-chunk stopped, or found no document at all): the peer gets
        // them too, as a document kvs-chunk reports nothing for.
        for r in &uncovered {
            let index = docs.len() as u64;
            let outcome = match peer_document(&input[r.clone()]) {
                Ok(p) => Err(format!(
                    "differs: bytes {r:?} are in no kvs-chunk document (errors {stray:?}, {:?}) but the peer \
                     reads {} tracks and {} frames from them",
                    docs.last().map(|d| &d.errors),
                    p.tracks.len(),
                    p.frames.len()
                )),
                Err(e) => Err(format!("peer: bytes {r:?} in no kvs-chunk document: {e}")),
            };
            outcomes.push((index, outcome));
        }
        for (index, outcome) in outcomes {
            let listed = LISTED.iter().find(|l| l.input == rel && l.document == index);
            match (outcome, listed) {
                (Ok((n, done)), None) => {
                    total += n;
                    for r in done {
                        *rewrites.entry(r).or_default() += 1;
                    }
                }
                (Ok(_), Some(l)) => {
                    let _ = writeln!(problems, "{rel} document {index}: listed ({}) but now agrees", l.why);
                }
                (Err(e), None) => {
                    let _ = writeln!(problems, "{rel} document {index}: not compared: {e}");
                }
                (Err(e), Some(l)) if e.contains(l.failure) => listed_seen += 1,
                (Err(e), Some(l)) => {
                    let _ = writeln!(problems, "{rel} document {index}: listed as {:?} but: {e}", l.failure);
                }
            }
        }
    }
    let expected_listed = LISTED.iter().filter(|l| l.input.starts_with(group)).count();
    if listed_seen != expected_listed {
        let _ = writeln!(problems, "{expected_listed} listed under {group}, {listed_seen} met as listed");
    }
    assert!(problems.is_empty(), "{group}:\n{problems}");
    eprintln!(
        "{group}: {} inputs, {} documents compared ({} tracks, {} with CodecPrivate, {} frames, {} tags, \
         {} service tags), {expected_listed} listed; peer rewrites {rewrites:?}",
        files.len(),
        total.documents,
        total.tracks,
        total.codec_privates,
        total.frames,
        total.tags,
        total.service_tags
    );
    total
}

/// What kvs-chunk made of a document, in a few words.
fn summary(d: &OurDocument) -> String {
    let errors: Vec<String> = d.errors.iter().map(ToString::to_string).collect();
    let tracks = d.tracks.iter().map(Vec::len).sum::<usize>();
    format!("{tracks} tracks, {} frames, errors {errors:?}", d.frames.len())
}

/// The Matroska files under `dir`, its subfolders included, sorted.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = common::mkv_files(dir);
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_under(&p));
        }
    }
    out.sort();
    out
}

#[test]
fn testdata_documents_match_the_peer() {
    // Committed files: their absence is a failure, not a skip.
    let dir = common::testdata_dir();
    let n = check_inputs(dir.parent().unwrap(), "testdata/", &common::testdata_mkv_files());
    assert!(n.frames > 0 && n.tags > 0 && n.service_tags > 0, "{n:?}");
}

#[test]
fn kvs_java_documents_match_the_peer() {
    let Some(dir) = common::conformance_path("kvs-java") else { return };
    let root = dir.parent().unwrap().to_path_buf();
    let n = check_inputs(&root, "kvs-java/", &common::mkv_files(&dir));
    assert!(n.frames > 0 && n.codec_privates > 0 && n.tags > 0 && n.service_tags > 0, "{n:?}");
}

#[test]
fn yacchi_ebml_documents_match_the_peer() {
    let Some(dir) = common::conformance_path("yacchi-ebml/fixtures/kvs") else { return };
    let root = dir.ancestors().nth(3).unwrap().to_path_buf();
    let n = check_inputs(&root, "yacchi-ebml/", &common::mkv_files(&dir));
    assert!(n.frames > 0 && n.tags > 0 && n.service_tags > 0, "{n:?}");
}

#[test]
fn matroska_real_files_match_the_peer() {
    let Some(dir) = common::conformance_path("matroska-real") else { return };
    let files = files_under(&dir);
    // Every file EXPECTED.json describes is an input here.
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("EXPECTED.json")).unwrap()).unwrap();
    let described: Vec<PathBuf> =
        expected.as_array().unwrap().iter().map(|e| dir.join(e["file"].as_str().unwrap())).collect();
    assert_eq!(described.len(), 69);
    for p in &described {
        assert!(files.contains(p), "{} is not an input", p.display());
    }
    assert_eq!(files.len(), described.len());
    let root = dir.parent().unwrap().to_path_buf();
    let n = check_inputs(&root, "matroska-real/", &files);
    assert!(n.frames > 0 && n.codec_privates > 0 && n.tags > 0, "{n:?}");
}
