//! VP8 and VP9 frames no later frame depends on, read from their frame headers.
//!
//! Unlike H.264, leaving a VP8 or VP9 frame out can change later frames even when it updates
//! no reference buffer: both codecs carry state from frame to frame besides the reference
//! pictures. A frame is left out here only when, in addition, none of that state can differ
//! for the frames decoded after it:
//!
//! - **VP8** (RFC 6386, section 9): a VP8 frame's lasting effects other than its reference
//!   updates (probability, segment data and loop-filter delta updates) are all in its frame
//!   header; FFmpeg's decoder reads the header of a frame it is asked to skip
//!   (`skip_frame=nonref`) and leaves out only its macroblocks. So an inter frame that
//!   refreshes none of the last, golden and alternate references and copies nothing into
//!   them is sent *header only* ([`Vp8Action::HeaderOnly`]), unless it rewrites the
//!   segmentation map (which its macroblocks carry), or has segmentation off while the next
//!   decoded frame takes its map from the frame before it (decoders differ in what an
//!   unsegmented frame leaves behind).
//! - **VP9** (the VP9 bitstream specification, section 6.2): a frame (every frame of a
//!   superframe) with `refresh_frame_flags` 0 that is not a `show_existing_frame`, and whose
//!   next decoded frame is a key frame or error resilient. VP9 carries the previous frame's
//!   motion vectors, segmentation map, loop-filter deltas and saved probability contexts into
//!   the next frame unless that frame resets them (`setup_past_independence`), so a
//!   non-reference frame followed by an ordinary inter frame is decoded anyway.
//!
//! A frame header that cannot be read keeps its frame.

use std::collections::BTreeSet;

/// MSB-first bits of a byte slice (VP9's uncompressed header).
struct Bits<'a> {
    data: &'a [u8],
    at: usize,
}

impl Bits<'_> {
    fn bit(&mut self) -> Option<u8> {
        let byte = self.data.get(self.at.checked_shr(3)?)?;
        let shift = 7u32.checked_sub(u32::try_from(self.at & 7).ok()?)?;
        self.at = self.at.checked_add(1)?;
        Some((byte >> shift) & 1)
    }

    fn bits(&mut self, n: u32) -> Option<u32> {
        let mut v = 0u32;
        for _ in 0..n {
            v = (v << 1) | u32::from(self.bit()?);
        }
        Some(v)
    }
}

/// RFC 6386's boolean entropy decoder (section 7.3), for VP8's frame header.
struct BoolDecoder<'a> {
    data: &'a [u8],
    at: usize,
    value: u32,
    range: u32,
    bit_count: u32,
}

impl<'a> BoolDecoder<'a> {
    fn new(data: &'a [u8]) -> Option<Self> {
        let (&b0, &b1) = (data.first()?, data.get(1)?);
        Some(Self { data, at: 2, value: (u32::from(b0) << 8) | u32::from(b1), range: 255, bit_count: 0 })
    }

    fn read(&mut self, prob: u32) -> Option<bool> {
        let split = self.range.checked_sub(1)?.checked_mul(prob)?.checked_shr(8)?.checked_add(1)?;
        let big_split = split.checked_shl(8)?;
        let bit = if self.value >= big_split {
            self.range = self.range.checked_sub(split)?;
            self.value = self.value.checked_sub(big_split)?;
            true
        } else {
            self.range = split;
            false
        };
        while self.range < 128 {
            self.value = (self.value << 1) & 0xFFFF;
            self.range <<= 1;
            self.bit_count = self.bit_count.checked_add(1)?;
            if self.bit_count == 8 {
                self.bit_count = 0;
                // Past the end the decoder reads zeros (RFC 6386's reference decoder).
                self.value |= u32::from(self.data.get(self.at).copied().unwrap_or(0));
                self.at = self.at.checked_add(1)?;
            }
        }
        Some(bit)
    }

    fn flag(&mut self) -> Option<bool> {
        self.read(128)
    }

    fn literal(&mut self, n: u32) -> Option<u32> {
        let mut v = 0u32;
        for _ in 0..n {
            v = (v << 1) | u32::from(self.flag()?);
        }
        Some(v)
    }

    /// An optional signed value: a flag, then `n` bits and a sign when set.
    fn skip_optional_signed(&mut self, n: u32) -> Option<()> {
        if self.flag()? {
            self.literal(n)?;
            self.flag()?;
        }
        Some(())
    }
}

/// What a VP8 frame is to the frames after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Vp8Frame {
    /// An inter frame that updates no reference buffer and writes no segmentation map: its
    /// macroblocks matter to no later frame (its header still may).
    pub(crate) non_reference: bool,
    /// Segmentation is on without a map update: its segment map is the previous frame's.
    pub(crate) reads_previous_segment_map: bool,
    /// Segmentation is off in this frame.
    pub(crate) segmentation_off: bool,
}

/// A VP8 frame as a later frame sees it; `None` when its header cannot be read (or it is
/// not VP8): decoded.
pub(crate) fn vp8(frame: &[u8]) -> Option<Vp8Frame> {
    let (&t0, &t1, &t2) = (frame.first()?, frame.get(1)?, frame.get(2)?);
    let tag = u32::from(t0) | (u32::from(t1) << 8) | (u32::from(t2) << 16);
    let key = tag & 1 == 0;
    let first_partition = usize::try_from(tag >> 5).ok()?;
    let header_at: usize = if key { 10 } else { 3 };
    let end = header_at.checked_add(first_partition)?;
    let mut d = BoolDecoder::new(frame.get(header_at..end.min(frame.len()))?)?;
    if key {
        // color_space, clamping_type.
        d.literal(2)?;
    }
    let segmentation = d.flag()?;
    let mut update_map = false;
    if segmentation {
        update_map = d.flag()?;
        if d.flag()? {
            // update_segment_feature_data: segment_feature_mode, quantizer and loop-filter
            // values of four segments.
            d.flag()?;
            for _ in 0..4 {
                d.skip_optional_signed(7)?;
            }
            for _ in 0..4 {
                d.skip_optional_signed(6)?;
            }
        }
        if update_map {
            for _ in 0..3 {
                if d.flag()? {
                    d.literal(8)?;
                }
            }
        }
    }
    // filter_type, loop_filter_level, sharpness_level.
    d.literal(1 + 6 + 3)?;
    // loop_filter_adj_enable, mode_ref_lf_delta_update and its eight deltas.
    if d.flag()? && d.flag()? {
        for _ in 0..8 {
            d.skip_optional_signed(6)?;
        }
    }
    // log2_nbr_of_dct_partitions, y_ac_qi and five optional quantizer deltas.
    d.literal(2 + 7)?;
    for _ in 0..5 {
        d.skip_optional_signed(4)?;
    }
    let mut non_reference = false;
    if !key {
        let refresh_golden = d.flag()?;
        let refresh_alternate = d.flag()?;
        let copy_golden = if refresh_golden { 0 } else { d.literal(2)? };
        let copy_alternate = if refresh_alternate { 0 } else { d.literal(2)? };
        // sign_bias_golden, sign_bias_alternate, refresh_entropy_probs (in the header).
        d.literal(3)?;
        let refresh_last = d.flag()?;
        non_reference = !refresh_golden
            && !refresh_alternate
            && copy_golden == 0
            && copy_alternate == 0
            && !refresh_last
            && !update_map;
    }
    Some(Vp8Frame {
        non_reference,
        reads_previous_segment_map: segmentation && !update_map,
        segmentation_off: !segmentation,
    })
}

/// How a VP8 frame of a decoding run is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Vp8Action {
    /// Decoded.
    Decode,
    /// Its header read, its macroblocks left out (FFmpeg's `skip_frame=nonref`).
    HeaderOnly,
}

/// The VP8 frames of a decoding run: which are decoded, which header only (the module's
/// rules; the next decoded frame is the next one not header only, as the run is walked from
/// its end).
pub(crate) fn vp8_actions(units: &[(usize, Vec<u8>)], wanted: &BTreeSet<usize>) -> Vec<Vp8Action> {
    let mut actions = vec![Vp8Action::Decode; units.len()];
    // Whether the next decoded frame takes its segment map from the frame before it.
    let mut next_reads_map = false;
    for ((id, frame), action) in units.iter().zip(actions.iter_mut()).rev() {
        let Some(info) = vp8(frame) else {
            next_reads_map = true;
            continue;
        };
        let skippable = info.non_reference && !(info.segmentation_off && next_reads_map);
        if skippable && !wanted.contains(id) {
            *action = Vp8Action::HeaderOnly;
        } else {
            next_reads_map = info.reads_previous_segment_map;
        }
    }
    actions
}

/// What one VP9 frame (of a superframe) is to the frames after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Vp9Frame {
    /// `refresh_frame_flags` 0 and not a `show_existing_frame`.
    pub(crate) non_reference: bool,
    /// A key frame or an error-resilient frame: nothing from the frames before it but the
    /// reference buffers matters to it or after it.
    pub(crate) resets: bool,
}

/// The frames of a VP9 block: one, or those of a superframe (its index at the end).
fn vp9_frames(block: &[u8]) -> Option<Vec<&[u8]>> {
    let &marker = block.last()?;
    if marker & 0xE0 != 0xC0 {
        return Some(vec![block]);
    }
    let count = usize::from(marker & 7).checked_add(1)?;
    let size_bytes = usize::from((marker >> 3) & 3).checked_add(1)?;
    let index_len = size_bytes.checked_mul(count)?.checked_add(2)?;
    let index_at = block.len().checked_sub(index_len)?;
    if block.get(index_at) != Some(&marker) {
        return Some(vec![block]);
    }
    let sizes = block.get(index_at.checked_add(1)?..)?;
    let mut frames = Vec::with_capacity(count);
    let mut at = 0usize;
    for i in 0..count {
        let mut size = 0usize;
        for b in 0..size_bytes {
            let byte = *sizes.get(i.checked_mul(size_bytes)?.checked_add(b)?)?;
            size |= usize::from(byte).checked_shl(u32::try_from(b.checked_mul(8)?).ok()?)?;
        }
        let end = at.checked_add(size)?;
        if end > index_at {
            return None;
        }
        frames.push(block.get(at..end)?);
        at = end;
    }
    Some(frames)
}

/// One VP9 frame's uncompressed header, as far as `refresh_frame_flags`.
fn vp9_frame(frame: &[u8]) -> Option<Vp9Frame> {
    let mut b = Bits { data: frame, at: 0 };
    if b.bits(2)? != 2 {
        return None;
    }
    let profile = b.bit()? | (b.bit()? << 1);
    if profile == 3 {
        b.bit()?;
    }
    if b.bit()? == 1 {
        // show_existing_frame: shows a reference buffer; kept.
        return Some(Vp9Frame { non_reference: false, resets: false });
    }
    let key = b.bit()? == 0;
    let show_frame = b.bit()? == 1;
    let error_resilient = b.bit()? == 1;
    if key {
        return Some(Vp9Frame { non_reference: false, resets: true });
    }
    let intra_only = !show_frame && b.bit()? == 1;
    if !error_resilient {
        // reset_frame_context.
        b.bits(2)?;
    }
    if intra_only {
        if b.bits(24)? != 0x49_83_42 {
            return None;
        }
        if profile > 0 {
            if profile >= 2 {
                // ten_or_twelve_bit.
                b.bit()?;
            }
            let color_space = b.bits(3)?;
            if color_space != 7 {
                // color_range, and subsampling_x, subsampling_y, reserved_zero.
                b.bits(if profile == 1 || profile == 3 { 4 } else { 1 })?;
            } else if profile == 1 || profile == 3 {
                b.bit()?;
            }
        }
    }
    let refresh = b.bits(8)?;
    Some(Vp9Frame { non_reference: refresh == 0, resets: error_resilient })
}

/// The frames of a VP9 block, each as later frames see it; `None` when one cannot be read.
pub(crate) fn vp9(block: &[u8]) -> Option<Vec<Vp9Frame>> {
    vp9_frames(block)?.into_iter().map(vp9_frame).collect()
}

/// Which VP9 blocks of a decoding run to decode (`true`): a block goes when it is not wanted
/// and leaving it out cannot change a block decoded after it (the module's rules; the next
/// decoded block is the next one kept, as the run is walked from its end).
pub(crate) fn vp9_needed(units: &[(usize, Vec<u8>)], wanted: &BTreeSet<usize>) -> Vec<bool> {
    let mut keep = vec![true; units.len()];
    // Whether the next decoded frame resets the state a frame leaves behind (`true` past the
    // run's end: nothing is decoded after it).
    let mut next_resets = true;
    for ((id, block), keep) in units.iter().zip(keep.iter_mut()).rev() {
        let Some(frames) = vp9(block) else {
            next_resets = false;
            continue;
        };
        // Every frame of the block must be droppable before the frame after it.
        let mut droppable = true;
        let mut after_resets = next_resets;
        for frame in frames.iter().rev() {
            droppable &= frame.non_reference && after_resets;
            after_resets = frame.resets;
        }
        if droppable && !wanted.contains(id) {
            *keep = false;
        } else {
            next_resets = frames.first().is_some_and(|f| f.resets);
        }
    }
    keep
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )]
    use std::path::Path;
    use std::process::Command;

    use super::*;

    /// MSB-first bits into bytes.
    fn pack(bits: &[(u32, u32)]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut n = 0usize;
        for &(value, width) in bits {
            for i in (0..width).rev() {
                if n.is_multiple_of(8) {
                    out.push(0);
                }
                *out.last_mut().unwrap() |= (((value >> i) & 1) as u8) << (7 - n % 8);
                n += 1;
            }
        }
        out.extend([0; 8]);
        out
    }

    /// A profile 0 VP9 inter frame's uncompressed header as far as `refresh_frame_flags`.
    fn vp9_inter(error_resilient: bool, refresh: u32) -> Vec<u8> {
        let mut bits = vec![(2, 2), (0, 2), (0, 1), (1, 1), (1, 1), (u32::from(error_resilient), 1)];
        if !error_resilient {
            bits.push((0, 2));
        }
        bits.push((refresh, 8));
        pack(&bits)
    }

    fn vp9_key() -> Vec<u8> {
        pack(&[(2, 2), (0, 2), (0, 1), (0, 1), (1, 1), (0, 1), (0x49_83_42, 24)])
    }

    #[test]
    fn vp9_headers() {
        assert_eq!(vp9(&vp9_key()).unwrap(), [Vp9Frame { non_reference: false, resets: true }]);
        assert_eq!(vp9(&vp9_inter(false, 0)).unwrap(), [Vp9Frame { non_reference: true, resets: false }]);
        assert_eq!(vp9(&vp9_inter(true, 0)).unwrap(), [Vp9Frame { non_reference: true, resets: true }]);
        assert_eq!(vp9(&vp9_inter(false, 1)).unwrap(), [Vp9Frame { non_reference: false, resets: false }]);
        // show_existing_frame, a bad frame marker, an empty block.
        assert!(!vp9(&pack(&[(2, 2), (0, 2), (1, 1), (0, 3)])).unwrap()[0].non_reference);
        assert_eq!(vp9(&pack(&[(1, 2), (0, 6)])), None);
        assert_eq!(vp9(&[]), None);
    }

    #[test]
    fn vp9_superframes() {
        let (a, b) = (vp9_inter(true, 0), vp9_inter(false, 4));
        let mut block = [a.as_slice(), b.as_slice()].concat();
        let marker = 0xC0 | 1; // two frames, one byte per size
        block.extend([marker, a.len() as u8, b.len() as u8, marker]);
        assert_eq!(
            vp9(&block).unwrap(),
            [
                Vp9Frame { non_reference: true, resets: true },
                Vp9Frame { non_reference: false, resets: false }
            ]
        );
        // Sizes past the index: unreadable.
        let mut bad = block.clone();
        let len = bad.len();
        bad[len - 2] = 200;
        assert_eq!(vp9(&bad), None);
    }

    fn run(blocks: Vec<Vec<u8>>) -> Vec<(usize, Vec<u8>)> {
        blocks.into_iter().enumerate().collect()
    }

    #[test]
    fn vp9_drops_only_before_a_reset() {
        let (key, er_ref, er_non, non, r) =
            (vp9_key(), vp9_inter(true, 1), vp9_inter(true, 0), vp9_inter(false, 0), vp9_inter(false, 1));
        let blocks =
            run(vec![key, er_non.clone(), er_ref, non.clone(), r.clone(), er_non.clone(), non, er_non, r]);
        // 1 goes (an error-resilient frame follows); 3 stays (the next frame reads its
        // motion vectors); 6 and then 5 go (7 resets); 7 stays (an ordinary frame follows).
        let none = BTreeSet::new();
        assert_eq!(vp9_needed(&blocks, &none), [true, false, true, true, true, false, false, true, true]);
        // Wanting 3 (error resilient): 2 goes, and then 1, which now comes before it.
        let blocks2 = run(vec![vp9_key(), vp9_inter(false, 0), vp9_inter(true, 0), vp9_inter(true, 0)]);
        assert_eq!(vp9_needed(&blocks2, &[3].into()), [true, false, false, true]);
        // A wanted frame is always kept; an unreadable block keeps the one before it.
        assert_eq!(vp9_needed(&blocks2, &[1, 2, 3].into()), [true; 4]);
        let blocks3 = run(vec![vp9_key(), vp9_inter(true, 0), vec![1, 2, 3]]);
        assert_eq!(vp9_needed(&blocks3, &none), [true, true, true]);
    }

    /// The frames of track 1 of a WebM file.
    fn frames(file: &Path) -> Vec<Vec<u8>> {
        let mut decoder = kvs_chunk::EventDecoder::new();
        decoder.feed(bytes::Bytes::from(std::fs::read(file).unwrap()));
        decoder.finish();
        let mut out = Vec::new();
        while let Some(event) = decoder.next_event().unwrap() {
            if let kvs_chunk::Event::Frame(frame) = event {
                out.push(frame.data.to_vec());
            }
        }
        out
    }

    /// libvpx's two temporal layers (`ts_layering_mode=2`): every other frame updates no
    /// reference. Which of them can go is what the headers say; the images stay the same
    /// (`tests/other_codecs.rs`, with the `ffmpeg` feature).
    fn encode_layers(ffmpeg: &Path, name: &str, args: &[&str]) -> Vec<Vec<u8>> {
        let dir = std::env::temp_dir().join(format!("kvs-images-vpx-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.webm"));
        let out = Command::new(ffmpeg)
            .args(["-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=10:duration=4"])
            .args(["-pix_fmt", "yuv420p", "-g", "10", "-b:v", "1M"])
            .args(args)
            .args([
                "-ts-parameters",
                "ts_number_layers=2:ts_target_bitrate=500,1000:ts_rate_decimator=2,1:ts_periodicity=2:ts_layer_id=0,1:ts_layering_mode=2",
            ])
            .arg(&path)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        frames(&path)
    }

    #[test]
    fn libvpx_temporal_layers_leave_frames_out() {
        let Some((ffmpeg, _)) = kvs_testkit::ffmpeg() else { return };
        let vp8 = run(encode_layers(&ffmpeg, "vp8", &["-c:v", "libvpx"]));
        assert_eq!(vp8.len(), 40);
        let actions = vp8_actions(&vp8, &BTreeSet::new());
        let header_only: Vec<usize> = actions
            .iter()
            .enumerate()
            .filter(|(_, a)| **a == Vp8Action::HeaderOnly)
            .map(|(i, _)| i)
            .collect();
        // Only the enhancement layer (odd frames) goes header only (their probability updates
        // last: libvpx leaves refresh_entropy_probs on), most of it (libvpx refreshes the
        // golden frame from some of them).
        assert!(header_only.iter().all(|i| !i.is_multiple_of(2)), "VP8: {header_only:?}");
        assert!(header_only.len() >= 12, "VP8: {header_only:?}");
        // A wanted one is decoded.
        assert_eq!(vp8_actions(&vp8, &[3].into())[3], Vp8Action::Decode);
        for (i, (_, frame)) in vp8.iter().enumerate() {
            let info = super::vp8(frame).unwrap();
            assert_eq!(info.non_reference, header_only.contains(&i), "VP8 frame {i}: {info:?}");
        }

        // VP9, error resilient (as for lossy links): every enhancement frame is followed by
        // a frame that resets what it could leave behind.
        let vp9_er = run(encode_layers(
            &ffmpeg,
            "vp9-er",
            &["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-error-resilient", "1"],
        ));
        assert_eq!(vp9_er.len(), 40);
        let keep = vp9_needed(&vp9_er, &BTreeSet::new());
        let dropped: Vec<usize> = keep.iter().enumerate().filter(|(_, k)| !**k).map(|(i, _)| i).collect();
        assert_eq!(dropped, (1..40).step_by(2).collect::<Vec<_>>(), "VP9 error resilient");

        // VP9 without error resilience: the next frame reads the enhancement frame's motion
        // vectors, so only those before a key frame (or at the run's end) go.
        let vp9 = run(encode_layers(
            &ffmpeg,
            "vp9",
            &["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8"],
        ));
        let non_reference =
            vp9.iter().filter(|(_, f)| super::vp9(f).unwrap().iter().all(|f| f.non_reference)).count();
        assert!(non_reference >= 19, "VP9: {non_reference} non-reference frames");
        let keep = vp9_needed(&vp9, &BTreeSet::new());
        let dropped: Vec<usize> = keep.iter().enumerate().filter(|(_, k)| !**k).map(|(i, _)| i).collect();
        // Only the non-reference frames just before a key frame (every 10th) or at the end.
        assert_eq!(dropped, [9, 19, 29, 39], "VP9");
    }
}
