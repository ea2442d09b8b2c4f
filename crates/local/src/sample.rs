//! A small synthetic stream, for tests and demos: a plain Matroska file (no service tags)
//! with one H.264-labelled video track whose frames are deterministic filler bytes.
//!
//! ```
//! use kvs_local::synthetic::SyntheticSpec;
//! use kvs_local::{LoadOptions, Source};
//!
//! let mkv = SyntheticSpec { clusters: 3, ..SyntheticSpec::default() }.plain_mkv()?;
//! let source = Source::from_bytes(mkv, &LoadOptions::default())?;
//! assert_eq!(source.fragments().len(), 3);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use kvs_chunk::mux::write_ebml_header;
use kvs_ebml::ids;
use kvs_ebml::writer::{MasterSize, SizeWidth, WriteError, Writer};

/// The shape of a synthetic stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyntheticSpec {
    /// Clusters (each becomes one fragment).
    pub clusters: usize,
    /// Frames per cluster; the first of each cluster is a keyframe.
    pub frames_per_cluster: usize,
    /// Milliseconds between frames.
    pub frame_interval_ms: u64,
    /// The time of the first cluster, in ms (TimestampScale is 1 ms).
    pub first_cluster_ms: u64,
    /// Bytes per frame.
    pub frame_size: usize,
}

impl Default for SyntheticSpec {
    fn default() -> Self {
        Self {
            clusters: 5,
            frames_per_cluster: 10,
            frame_interval_ms: 40,
            first_cluster_ms: 0,
            frame_size: 200,
        }
    }
}

impl SyntheticSpec {
    /// How long one cluster lasts, in ms.
    #[must_use]
    pub fn cluster_ms(&self) -> u64 {
        self.frame_interval_ms.saturating_mul(u64::try_from(self.frames_per_cluster).unwrap_or(u64::MAX))
    }

    /// The payload of frame `frame` of cluster `cluster`: bytes that differ from frame to
    /// frame, so that a reader can tell them apart.
    #[must_use]
    pub fn frame_payload(&self, cluster: usize, frame: usize) -> Vec<u8> {
        let seed = cluster.wrapping_mul(131).wrapping_add(frame.wrapping_mul(7));
        (0..self.frame_size).map(|i| (seed.wrapping_add(i) % 251) as u8).collect()
    }

    /// The whole file: EBML header, a Segment of unknown size with Info, Tracks, a producer
    /// Tags (`ENCODER`) and the clusters.
    ///
    /// # Errors
    ///
    /// [`WriteError`] if an element cannot be written (a frame offset beyond 32767 ms).
    pub fn plain_mkv(&self) -> Result<Vec<u8>, WriteError> {
        let known = MasterSize::Known(SizeWidth::Minimal);
        let mut w = Writer::new();
        write_ebml_header(&mut w, "matroska")?;
        w.start_master(ids::SEGMENT, MasterSize::Unknown(8))?;
        w.master(ids::INFO, known, |w| {
            w.unsigned(ids::TIMESTAMP_SCALE, 1_000_000)?;
            w.utf8(ids::MUXING_APP, "kvs-local sample")?;
            w.utf8(ids::WRITING_APP, "kvs-local sample")
        })?;
        w.master(ids::TRACKS, known, |w| {
            w.master(ids::TRACK_ENTRY, known, |w| {
                w.unsigned(ids::TRACK_NUMBER, 1)?;
                w.unsigned(ids::TRACK_UID, 1)?;
                w.unsigned(ids::TRACK_TYPE, 1)?;
                w.string(ids::CODEC_ID, "V_MPEG4/ISO/AVC")?;
                w.binary(ids::CODEC_PRIVATE, &[0x01, 0x42, 0xC0, 0x1E, 0xFF, 0xE0, 0x00])?;
                w.master(ids::VIDEO, known, |w| {
                    w.unsigned(ids::PIXEL_WIDTH, 640)?;
                    w.unsigned(ids::PIXEL_HEIGHT, 360)
                })
            })
        })?;
        w.master(ids::TAGS, known, |w| {
            w.master(ids::TAG, known, |w| {
                w.master(ids::SIMPLE_TAG, known, |w| {
                    w.utf8(ids::TAG_NAME, "ENCODER")?;
                    w.utf8(ids::TAG_STRING, "kvs-local sample")
                })
            })
        })?;
        for c in 0..self.clusters {
            let start = self
                .first_cluster_ms
                .saturating_add(self.cluster_ms().saturating_mul(u64::try_from(c).unwrap_or(u64::MAX)));
            w.master(ids::CLUSTER, known, |w| {
                w.unsigned(ids::TIMESTAMP, start)?;
                for f in 0..self.frames_per_cluster {
                    let offset = self.frame_interval_ms.saturating_mul(u64::try_from(f).unwrap_or(u64::MAX));
                    let offset = i16::try_from(offset).map_err(|_| WriteError::ValueTooLarge {
                        id: ids::SIMPLE_BLOCK,
                        value: offset,
                        len: 2,
                    })?;
                    let mut block = vec![0x81];
                    block.extend_from_slice(&offset.to_be_bytes());
                    block.push(if f == 0 { 0x80 } else { 0x00 });
                    block.extend_from_slice(&self.frame_payload(c, f));
                    w.binary(ids::SIMPLE_BLOCK, &block)?;
                }
                Ok(())
            })?;
        }
        w.end_master()?;
        w.finish()
    }
}
