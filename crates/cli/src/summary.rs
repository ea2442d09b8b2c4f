//! Per-fragment summaries built from events without keeping frame data.

use std::collections::BTreeMap;

use kvs_chunk::{Event, FragmentEnd, FragmentMetadata, ErrorChunk, TagValue, Track};

/// The most track numbers counted one by one in a fragment.
pub const MAX_COUNTED_TRACKS: usize = 128;

/// What `fragments` reports for one document.
#[derive(Debug, Default)]
pub struct Summary {
    pub index: u64,
    /// The fragment's position in its document (0; 1, 2 ... in a merged document).
    pub fragment: u64,
    pub offset: u64,
    pub metadata: FragmentMetadata,
    pub end: FragmentEnd,
    pub tracks: Vec<Track>,
    /// Frames per track number, for the first [`MAX_COUNTED_TRACKS`] track numbers seen.
    pub frames: BTreeMap<u64, u64>,
    pub keyframes: BTreeMap<u64, u64>,
    /// Frames on further track numbers (a producer can write a new one in every block).
    pub other_frames: u64,
    pub bytes: u64,
    pub first_ms: Option<i64>,
    pub last_ms: Option<i64>,
    pub tags: Vec<(String, TagValue)>,
    pub error: Option<ErrorChunk>,
}

/// Builds summaries; `push` returns one when its fragment ends.
#[derive(Debug, Default)]
pub struct Summaries {
    current: Option<Summary>,
}

impl Summaries {
    pub fn push(&mut self, event: Event) -> Option<Summary> {
        match event {
            Event::DocumentStart { index, offset } => {
                self.current = Some(Summary { index, offset, ..Summary::default() });
            }
            Event::FragmentStart { index, fragment, offset } => {
                self.current = Some(Summary { index, fragment, offset, ..Summary::default() });
            }
            Event::Tracks(tracks) => {
                if let Some(s) = &mut self.current {
                    s.tracks = tracks;
                }
            }
            Event::FragmentMetadata(m) => {
                if let Some(s) = &mut self.current {
                    s.metadata = m;
                }
            }
            Event::Frame(f) => {
                if let Some(s) = &mut self.current {
                    if s.frames.len() < MAX_COUNTED_TRACKS || s.frames.contains_key(&f.track) {
                        let n = s.frames.entry(f.track).or_insert(0);
                        *n = n.saturating_add(1);
                        if f.keyframe {
                            let k = s.keyframes.entry(f.track).or_insert(0);
                            *k = k.saturating_add(1);
                        }
                    } else {
                        s.other_frames = s.other_frames.saturating_add(1);
                    }
                    s.bytes = s.bytes.saturating_add(u64::try_from(f.data.len()).unwrap_or(u64::MAX));
                    let ms = f.timestamp_ms();
                    s.first_ms = Some(s.first_ms.map_or(ms, |v| v.min(ms)));
                    s.last_ms = Some(s.last_ms.map_or(ms, |v| v.max(ms)));
                }
            }
            Event::Tag(t) => {
                if let Some(s) = &mut self.current {
                    s.tags.push((t.name, t.value));
                }
            }
            Event::ErrorChunk(e) => {
                if let Some(s) = &mut self.current {
                    s.error.get_or_insert(e);
                }
            }
            Event::FragmentEnd(end) => {
                let mut s = self.current.take()?;
                s.end = end;
                return Some(s);
            }
            _ => {}
        }
        None
    }
}
