//! The writer of KVS-shaped payloads: fragments in the exact layout GetMedia sends them
//! (see `GETMEDIA-WIRE.md`), for a server (kvs-local serves with it) or for a test that
//! needs a payload the service would send:
//!
//! ```text
//! EBML header              DocType "matroska"
//! Segment                  8-byte unknown size 01 FF FF FF FF FF FF FF
//!   Info                   TimestampScale, MuxingApp, WritingApp
//!   Tracks
//!   Tags (producer)        the producer's tags from before the cluster, if any
//!   Tags (service)         FRAGMENT_NUMBER, SERVER_TIMESTAMP, PRODUCER_TIMESTAMP (4-byte sizes)
//!   Cluster                known size: Timestamp, SimpleBlocks
//!   Tags (producer)        the producer's tags from after the cluster, if any
//!   Tags (service)         MILLIS_BEHIND_NOW, CONTINUATION_TOKEN (4-byte sizes)
//! ```
//!
//! [`fragment_head`] writes everything up to the producer tags after the cluster (rendered
//! once per fragment when a server starts), [`fragment_end`] the closing service tags, which
//! depend on the moment they are sent, and [`error_chunk`] an in-stream error chunk.
//!
//! GetMediaForFragmentList sends the same chunks with other names for the timestamp tags
//! (`AWS_KINESISVIDEO_SERVER_SIDE_TIMESTAMP`, `AWS_KINESISVIDEO_PRODUCER_SIDE_TIMESTAMP`) and no
//! closing tags: [`fragment_head_with`] and [`TagNames::FragmentList`] write them (the head
//! also says where its service tags are, so that a server can swap in [`fragment_tags`] of
//! either API), and [`exception_chunk`] that API's in-stream exception.
//!
//! ```
//! use kvs_chunk::{Event, Events, FragmentNumber};
//! use kvs_mux::getmedia::{FragmentParts, fragment_end, fragment_head};
//!
//! let number = FragmentNumber::new("91343852333181432392682062607743920146159169392");
//! let parts = FragmentParts { cluster_timestamp: 0, ..FragmentParts::new(&number) };
//! let mut payload = fragment_head(&parts, 1_700_000_000_000, 1_700_000_000_000)?;
//! payload.extend(fragment_end(0, number.as_str())?);
//!
//! let meta = Events::new(payload.into()).find_map(|e| match e {
//!     Ok(Event::FragmentMetadata(m)) => Some(m),
//!     _ => None,
//! });
//! assert_eq!(meta.and_then(|m| m.fragment_number), Some(number));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use kvs_chunk::{FragmentNumber, Frame, Track};
use kvs_ebml::ids;
use kvs_ebml::writer::{MasterSize, SizeWidth, WriteError, Writer};

use crate::elements::{
    SimpleTag, TrackEntryOptions, block_flags, write_block_header, write_ebml_header, write_simple_tag,
    write_simple_tag_sized, write_tracks,
};

/// The size fields of service-written Tags, Tag, SimpleTag, TagName and TagString: 4 bytes.
const SERVICE_WIDTH: SizeWidth = SizeWidth::Fixed(4);
/// A service-written master element.
const SERVICE: MasterSize = MasterSize::Known(SERVICE_WIDTH);
/// Every other master element: the shortest size field.
const KNOWN: MasterSize = MasterSize::Known(SizeWidth::Minimal);

/// What one GetMedia chunk holds: the fragment's number, clock, tracks, frames and producer
/// tags, borrowed from wherever the caller keeps them.
#[derive(Debug, Clone, Copy)]
pub struct FragmentParts<'a> {
    /// `AWS_KINESISVIDEO_FRAGMENT_NUMBER`.
    pub fragment_number: &'a FragmentNumber,
    /// The TimestampScale (nanoseconds per unit; 0 is taken as 1 ms).
    pub timestamp_scale: u64,
    /// The Cluster's Timestamp, in TimestampScale units.
    pub cluster_timestamp: u64,
    /// The Tracks (none: no Tracks element).
    pub tracks: &'a [Track],
    /// The frames in stream order, with their absolute timestamps; the frames of one lace
    /// (consecutive, indexes 0 to n-1 of n) are written back as one Xiph-laced block.
    pub frames: &'a [Frame],
    /// Producer tags before the cluster.
    pub tags_before: &'a [SimpleTag],
    /// Producer tags after the cluster.
    pub tags_after: &'a [SimpleTag],
}

impl<'a> FragmentParts<'a> {
    /// A fragment with no tracks, frames or tags, TimestampScale 1 ms, cluster time 0.
    #[must_use]
    pub const fn new(fragment_number: &'a FragmentNumber) -> Self {
        Self {
            fragment_number,
            timestamp_scale: 1_000_000,
            cluster_timestamp: 0,
            tracks: &[],
            frames: &[],
            tags_before: &[],
            tags_after: &[],
        }
    }
}

/// Why a fragment could not be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RenderError {
    /// The EBML writer refused an element.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// A frame's timestamp cannot be expressed in a Cluster (negative or out of range).
    #[error("frame timestamp out of range")]
    TimestampOutOfRange,
    /// A track number does not fit a VINT.
    #[error("invalid track number {0}")]
    InvalidTrackNumber(u64),
}

/// Formats epoch milliseconds as the service does: decimal seconds with exactly three
/// fractional digits.
///
/// ```
/// assert_eq!(kvs_mux::getmedia::format_timestamp(1_511_852_109_126), "1511852109.126");
/// assert_eq!(kvs_mux::getmedia::format_timestamp(5), "0.005");
/// assert_eq!(kvs_mux::getmedia::format_timestamp(-1_500), "-1.500");
/// ```
#[must_use]
pub fn format_timestamp(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let abs = ms.unsigned_abs();
    format!("{sign}{}.{:03}", abs / 1000, abs % 1000)
}

/// One service `Tags` element: one `Tag` holding a `SimpleTag` per pair, 4-byte sizes.
fn service_tags(w: &mut Writer, pairs: &[(&str, &str)]) -> Result<(), WriteError> {
    w.master(ids::TAGS, SERVICE, |w| {
        w.master(ids::TAG, SERVICE, |w| {
            for (name, value) in pairs {
                write_simple_tag_sized(w, &SimpleTag::text(name, *value), SERVICE_WIDTH)?;
            }
            Ok(())
        })
    })
}

/// One producer `Tags` element holding one `Tag` with the tags as SimpleTags.
fn producer_tags(w: &mut Writer, tags: &[SimpleTag]) -> Result<(), WriteError> {
    if tags.is_empty() {
        return Ok(());
    }
    w.master(ids::TAGS, KNOWN, |w| {
        w.master(ids::TAG, KNOWN, |w| {
            for tag in tags {
                write_simple_tag(w, tag)?;
            }
            Ok(())
        })
    })
}

/// A frame's index in its lace and the lace's frame count (the one place that reads them).
fn lace_of(f: &Frame) -> (usize, usize) {
    (usize::from(f.lace_index), usize::from(f.lace_count))
}

/// How many frames from the start of `frames` form one lace (1 for an unlaced frame).
fn lace_len(frames: &[Frame]) -> usize {
    let Some(first) = frames.first() else { return 0 };
    let (index, n) = lace_of(first);
    if index != 0 || !(2..=256).contains(&n) || frames.len() < n {
        return 1;
    }
    let whole =
        frames.iter().take(n).enumerate().all(|(i, f)| lace_of(f) == (i, n) && f.track == first.track);
    if whole { n } else { 1 }
}

/// One block holding the frames of one lace (Xiph lacing) or one frame: a SimpleBlock, or a
/// BlockGroup (Block, BlockDuration, ReferenceBlocks) when the frames came with a duration or
/// references.
fn block(w: &mut Writer, lace: &[Frame], relative: i16, scale: u64) -> Result<(), RenderError> {
    let Some(first) = lace.first() else { return Ok(()) };
    let group = first.duration_ns.is_some() || !first.references.is_empty();
    let data_len: usize = lace.iter().map(|f| f.data.len()).sum();
    let mut payload =
        Vec::with_capacity(data_len.saturating_add(16).saturating_add(lace.len().saturating_mul(4)));
    let mut flags = block_flags(first.keyframe, first.invisible, first.discardable, group);
    if lace.len() > 1 {
        flags |= 0x02; // Xiph lacing
    }
    write_block_header(&mut payload, first.track, relative, flags)
        .ok_or(RenderError::InvalidTrackNumber(first.track))?;
    if let Some((_, sized)) = lace.split_last().filter(|_| lace.len() > 1) {
        payload.push(u8::try_from(sized.len()).map_err(|_| RenderError::TimestampOutOfRange)?);
        for f in sized {
            let mut size = f.data.len();
            while size >= 255 {
                payload.push(255);
                size = size.saturating_sub(255);
            }
            payload.push(u8::try_from(size).unwrap_or(0));
        }
    }
    for f in lace {
        payload.extend_from_slice(&f.data);
    }
    if group {
        w.master(ids::BLOCK_GROUP, KNOWN, |w| {
            w.binary(ids::BLOCK, &payload)?;
            if let Some(d) = first.duration_ns {
                w.unsigned(ids::BLOCK_DURATION, d.checked_div(scale).unwrap_or(d))?;
            }
            for r in first.references.iter() {
                w.signed(ids::REFERENCE_BLOCK, *r)?;
            }
            Ok(())
        })?;
    } else {
        w.binary(ids::SIMPLE_BLOCK, &payload)?;
    }
    Ok(())
}

/// The fragment's Cluster(s): normally one; a new cluster starts where a block's offset from
/// the cluster's Timestamp would not fit 16 bits.
fn clusters(w: &mut Writer, f: &FragmentParts<'_>) -> Result<(), RenderError> {
    let scale_u64 = if f.timestamp_scale == 0 { 1_000_000 } else { f.timestamp_scale };
    let scale = i128::from(scale_u64);
    let mut base = i128::from(f.cluster_timestamp);
    let mut open = false;
    let mut rest: &[Frame] = f.frames;
    while let Some(frame) = rest.first() {
        let (lace, after) = rest.split_at(lace_len(rest).clamp(1, rest.len()));
        rest = after;
        let units = i128::from(frame.timestamp_ns).div_euclid(scale);
        let mut relative = units.checked_sub(base).and_then(|r| i16::try_from(r).ok());
        if relative.is_none() || !open {
            if relative.is_none() {
                base = units;
                relative = Some(0);
            }
            if open {
                w.end_master()?;
            }
            let ts = u64::try_from(base).map_err(|_| RenderError::TimestampOutOfRange)?;
            w.start_master(ids::CLUSTER, KNOWN)?;
            w.unsigned(ids::TIMESTAMP, ts)?;
            open = true;
        }
        block(w, lace, relative.unwrap_or(0), scale_u64)?;
    }
    if open {
        w.end_master()?;
    } else {
        // A fragment without frames still has its (empty) cluster.
        w.master(ids::CLUSTER, KNOWN, |w| w.unsigned(ids::TIMESTAMP, f.cluster_timestamp))?;
    }
    Ok(())
}

/// Which API's spelling of the service tags a chunk carries before its cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TagNames {
    /// GetMedia: `AWS_KINESISVIDEO_FRAGMENT_NUMBER`, `AWS_KINESISVIDEO_SERVER_TIMESTAMP`,
    /// `AWS_KINESISVIDEO_PRODUCER_TIMESTAMP`.
    #[default]
    GetMedia,
    /// GetMediaForFragmentList: `AWS_KINESISVIDEO_FRAGMENT_NUMBER`,
    /// `AWS_KINESISVIDEO_SERVER_SIDE_TIMESTAMP`, `AWS_KINESISVIDEO_PRODUCER_SIDE_TIMESTAMP`
    /// (the names of the SDK's `GetMediaForFragmentListOutput::payload` documentation).
    FragmentList,
}

impl TagNames {
    /// The server and producer timestamp tag names.
    #[must_use]
    pub const fn timestamp_names(self) -> (&'static str, &'static str) {
        match self {
            Self::GetMedia => ("AWS_KINESISVIDEO_SERVER_TIMESTAMP", "AWS_KINESISVIDEO_PRODUCER_TIMESTAMP"),
            Self::FragmentList => {
                ("AWS_KINESISVIDEO_SERVER_SIDE_TIMESTAMP", "AWS_KINESISVIDEO_PRODUCER_SIDE_TIMESTAMP")
            }
        }
    }
}

/// A fragment's chunk up to the closing service tags, and where in it the service Tags
/// element before the cluster lies, so that a server can send the same bytes with the other
/// API's tags in its place ([`fragment_tags`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FragmentHead {
    /// The bytes.
    pub bytes: Vec<u8>,
    /// The service Tags element (fragment number and timestamps) within `bytes`.
    pub service_tags: std::ops::Range<usize>,
}

/// Writes a fragment's chunk up to (not including) the closing service tags.
///
/// # Errors
///
/// [`RenderError`] if an element cannot be written.
pub fn fragment_head(
    f: &FragmentParts<'_>,
    server_timestamp_ms: i64,
    producer_timestamp_ms: i64,
) -> Result<Vec<u8>, RenderError> {
    fragment_head_with(f, TagNames::GetMedia, server_timestamp_ms, producer_timestamp_ms).map(|h| h.bytes)
}

/// The service Tags element written before a fragment's cluster: the fragment number and the
/// server and producer timestamps, spelled as `names` says, with 4-byte sizes.
///
/// # Errors
///
/// [`RenderError`] if an element cannot be written.
pub fn fragment_tags(
    names: TagNames,
    fragment_number: &str,
    server_timestamp_ms: i64,
    producer_timestamp_ms: i64,
) -> Result<Vec<u8>, RenderError> {
    let mut w = Writer::with_capacity(192);
    write_fragment_tags(&mut w, names, fragment_number, server_timestamp_ms, producer_timestamp_ms)?;
    Ok(w.finish()?)
}

fn write_fragment_tags(
    w: &mut Writer,
    names: TagNames,
    fragment_number: &str,
    server_timestamp_ms: i64,
    producer_timestamp_ms: i64,
) -> Result<(), WriteError> {
    let server = format_timestamp(server_timestamp_ms);
    let producer = format_timestamp(producer_timestamp_ms);
    let (server_name, producer_name) = names.timestamp_names();
    service_tags(
        w,
        &[
            ("AWS_KINESISVIDEO_FRAGMENT_NUMBER", fragment_number),
            (server_name, &server),
            (producer_name, &producer),
        ],
    )
}

/// Writes a fragment's chunk up to (not including) the closing service tags, with the service
/// tags of `names`. For [`TagNames::FragmentList`] the result is a whole
/// GetMediaForFragmentList chunk (that API sends no closing tags).
///
/// # Errors
///
/// [`RenderError`] if an element cannot be written.
pub fn fragment_head_with(
    f: &FragmentParts<'_>,
    names: TagNames,
    server_timestamp_ms: i64,
    producer_timestamp_ms: i64,
) -> Result<FragmentHead, RenderError> {
    let payload: usize = f.frames.iter().map(|fr| fr.data.len().saturating_add(16)).sum();
    let mut w = Writer::with_capacity(payload.saturating_add(1024));
    write_ebml_header(&mut w, "matroska")?;
    w.start_master(ids::SEGMENT, MasterSize::Unknown(8))?;
    w.master(ids::INFO, KNOWN, |w| {
        w.unsigned(ids::TIMESTAMP_SCALE, if f.timestamp_scale == 0 { 1_000_000 } else { f.timestamp_scale })?;
        w.utf8(ids::MUXING_APP, "kvs-local")?;
        w.utf8(ids::WRITING_APP, "kvs-local")
    })?;
    if !f.tracks.is_empty() {
        write_tracks(&mut w, f.tracks, TrackEntryOptions::AS_DECODED)?;
    }
    producer_tags(&mut w, f.tags_before)?;
    let tags_start = w.len();
    write_fragment_tags(
        &mut w,
        names,
        f.fragment_number.as_str(),
        server_timestamp_ms,
        producer_timestamp_ms,
    )?;
    let tags_end = w.len();
    clusters(&mut w, f)?;
    producer_tags(&mut w, f.tags_after)?;
    // The Segment has an unknown size: the closing tags are appended when sent.
    Ok(FragmentHead { bytes: w.into_inner(), service_tags: tags_start..tags_end })
}

/// Writes the closing service tags of a chunk: millis-behind-now, then the continuation
/// token (the last tag of every chunk).
///
/// # Errors
///
/// [`RenderError`] if an element cannot be written.
pub fn fragment_end(millis_behind_now: u64, continuation_token: &str) -> Result<Vec<u8>, RenderError> {
    let mut w = Writer::with_capacity(160);
    let behind = millis_behind_now.to_string();
    service_tags(
        &mut w,
        &[
            ("AWS_KINESISVIDEO_MILLIS_BEHIND_NOW", &behind),
            ("AWS_KINESISVIDEO_CONTINUATION_TOKEN", continuation_token),
        ],
    )?;
    Ok(w.finish()?)
}

/// The text GetMedia documents for an in-stream error id ("Internal error" for others).
#[must_use]
pub fn error_description(id: u64) -> &'static str {
    match id {
        3002 => "Error writing to the stream",
        4000 => "Requested fragment is not found",
        4500 => "Access denied for the stream's KMS key",
        4501 => "Stream's KMS key is disabled",
        4502 => "Validation error on the stream's KMS key",
        4503 => "KMS key specified in the stream is unavailable",
        4504 => "Invalid usage of the KMS key specified in the stream",
        4505 => "Invalid state of the KMS key specified in the stream",
        4506 => "Unable to find the KMS key specified in the stream",
        _ => "Internal error",
    }
}

/// Writes an in-stream error chunk: EBML header, Segment, and one service Tags with
/// `AWS_KINESISVIDEO_ERROR_CODE`, `AWS_KINESISVIDEO_ERROR_ID` and (if given)
/// `AWS_KINESISVIDEO_FRAGMENT_NUMBER`, the order seen in a real capture; no media.
///
/// # Errors
///
/// [`RenderError`] if an element cannot be written.
pub fn error_chunk(fragment_number: Option<&str>, id: u64, code: &str) -> Result<Vec<u8>, RenderError> {
    let mut w = Writer::with_capacity(256);
    write_ebml_header(&mut w, "matroska")?;
    w.start_master(ids::SEGMENT, MasterSize::Unknown(8))?;
    let id_text = id.to_string();
    let mut pairs =
        vec![("AWS_KINESISVIDEO_ERROR_CODE", code), ("AWS_KINESISVIDEO_ERROR_ID", id_text.as_str())];
    if let Some(n) = fragment_number {
        pairs.push(("AWS_KINESISVIDEO_FRAGMENT_NUMBER", n));
    }
    service_tags(&mut w, &pairs)?;
    Ok(w.into_inner())
}

/// Writes a GetMediaForFragmentList exception chunk: EBML header, Segment, and one service
/// Tags with `AWS_KINESISVIDEO_FRAGMENT_NUMBER` (the fragment that threw it),
/// `AWS_KINESISVIDEO_EXCEPTION_ERROR_CODE` (the integer code) and
/// `AWS_KINESISVIDEO_EXCEPTION_MESSAGE` (its text), the tags the SDK's
/// `GetMediaForFragmentListOutput::payload` documentation lists; no media.
///
/// # Errors
///
/// [`RenderError`] if an element cannot be written.
pub fn exception_chunk(fragment_number: &str, code: u64, message: &str) -> Result<Vec<u8>, RenderError> {
    let mut w = Writer::with_capacity(256);
    write_ebml_header(&mut w, "matroska")?;
    w.start_master(ids::SEGMENT, MasterSize::Unknown(8))?;
    let code_text = code.to_string();
    service_tags(
        &mut w,
        &[
            ("AWS_KINESISVIDEO_FRAGMENT_NUMBER", fragment_number),
            ("AWS_KINESISVIDEO_EXCEPTION_ERROR_CODE", code_text.as_str()),
            ("AWS_KINESISVIDEO_EXCEPTION_MESSAGE", message),
        ],
    )?;
    Ok(w.into_inner())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use kvs_chunk::{Event, Events};

    #[test]
    fn fragment_list_chunks_carry_the_side_tags_in_the_same_place() {
        let number = FragmentNumber::new("91343852333181432392682062607743920146159169392");
        let parts = FragmentParts::new(&number);
        let media =
            fragment_head_with(&parts, TagNames::GetMedia, 1_700_000_000_123, 1_700_000_000_001).unwrap();
        assert_eq!(media.bytes, fragment_head(&parts, 1_700_000_000_123, 1_700_000_000_001).unwrap());
        let list =
            fragment_head_with(&parts, TagNames::FragmentList, 1_700_000_000_123, 1_700_000_000_001).unwrap();
        // The GetMedia head with its service tags swapped is the GetMediaForFragmentList chunk.
        let tags =
            fragment_tags(TagNames::FragmentList, number.as_str(), 1_700_000_000_123, 1_700_000_000_001)
                .unwrap();
        let mut spliced = media.bytes[..media.service_tags.start].to_vec();
        spliced.extend_from_slice(&tags);
        spliced.extend_from_slice(&media.bytes[media.service_tags.end..]);
        assert_eq!(spliced, list.bytes);
        assert_eq!(&list.bytes[list.service_tags.clone()], tags.as_slice());
        let text = String::from_utf8_lossy(&list.bytes);
        assert!(text.contains("AWS_KINESISVIDEO_SERVER_SIDE_TIMESTAMP"));
        assert!(text.contains("AWS_KINESISVIDEO_PRODUCER_SIDE_TIMESTAMP"));

        let meta = Events::new(list.bytes.into())
            .find_map(|e| match e {
                Ok(Event::FragmentMetadata(m)) => Some(m),
                _ => None,
            })
            .unwrap();
        assert_eq!(meta.fragment_number, Some(number));
        assert_eq!(meta.server_timestamp_ms, Some(1_700_000_000_123));
        assert_eq!(meta.producer_timestamp_ms, Some(1_700_000_000_001));
    }

    #[test]
    fn exception_chunks_decode_as_error_chunks() {
        let chunk = exception_chunk("123", 4000, "Requested fragment is not found").unwrap();
        let error = Events::new(chunk.into())
            .find_map(|e| match e {
                Ok(Event::ErrorChunk(c)) => Some(c),
                _ => None,
            })
            .unwrap();
        assert_eq!(error.fragment_number, Some(FragmentNumber::new("123")));
        assert_eq!(error.id, Some(kvs_chunk::ErrorId::from_u64(4000)));
        assert_eq!(error.code.as_deref(), Some("Requested fragment is not found"));
    }
}
