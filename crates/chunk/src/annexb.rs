//! H.264 and H.265 in Matroska: the decoder configuration records of CodecPrivate (AVCC for
//! `V_MPEG4/ISO/AVC`, HVCC for `V_MPEGH/ISO/HEVC`) and length-prefixed NAL units rewritten
//! as an Annex B byte stream (start codes).
//!
//! Every read is checked: malformed input gives `None` or [`Truncated`], never a panic. A NAL
//! length prefix is 1, 2 or 4 bytes (ISO/IEC 14496-15 allows no other size): a record that
//! declares 3 is rejected, and [`nal_units`] and [`annexb_frame`] refuse any other size.
//!
//! A CodecPrivate that does not parse is an error to report (or a reason to write the frames
//! as they are), not something to replace with a default:
//!
//! ```
//! use kvs_chunk::annexb::{ParameterSets, annexb_frame};
//!
//! // An AVCDecoderConfigurationRecord with 4-byte lengths, one SPS and one PPS.
//! let cp = [1, 0x64, 0, 0x1F, 0xFF, 0xE1, 0, 2, 0x67, 1, 1, 0, 2, 0x68, 2];
//! let ps = ParameterSets::from_avcc(&cp).ok_or("malformed AVC CodecPrivate")?;
//! assert_eq!(ps.length_size, 4);
//! let mut out = Vec::new();
//! annexb_frame(&ps, &[0, 0, 0, 1, 0x65], true, &mut out).ok_or("a NAL length runs past the frame")?;
//! assert_eq!(out, [0, 0, 0, 1, 0x67, 1, 0, 0, 0, 1, 0x68, 2, 0, 0, 0, 1, 0x65]);
//!
//! // A record cut short is not a configuration.
//! assert!(ParameterSets::from_avcc(&cp[..7]).is_none());
//! # Ok::<(), &str>(())
//! ```

/// The four-byte Annex B start code written before each NAL unit.
pub const START_CODE: [u8; 4] = [0, 0, 0, 1];

/// The NAL unit length prefix sizes ISO/IEC 14496-15 allows (lengthSizeMinusOne 0, 1 or 3).
pub const LENGTH_SIZES: [usize; 3] = [1, 2, 4];

/// Whether `length_size` is one of [`LENGTH_SIZES`].
#[must_use]
pub fn is_valid_length_size(length_size: usize) -> bool {
    LENGTH_SIZES.contains(&length_size)
}

/// How NAL units are delimited in a track's frames, and the parameter sets of its
/// CodecPrivate.
///
/// The default is H.264 with 4-byte lengths and no parameter sets (what a track without
/// CodecPrivate usually carries, its parameter sets in-band).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParameterSets {
    /// Bytes in each NAL unit's length prefix: 1, 2 or 4 (see [`LENGTH_SIZES`]). The parsers
    /// give only these; with any other value [`annexb_frame`] converts nothing.
    pub length_size: usize,
    /// The parameter-set NAL units in record order (VPS, SPS, PPS, ...), without start codes.
    pub nals: Vec<Vec<u8>>,
    /// H.265 (NAL type in bits 1..7 of the first byte) rather than H.264.
    pub hevc: bool,
}

impl Default for ParameterSets {
    fn default() -> Self {
        Self { length_size: 4, nals: Vec::new(), hevc: false }
    }
}

/// A cursor over a byte slice whose reads fail instead of panicking.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1)?.first().copied()
    }

    fn u16(&mut self) -> Option<usize> {
        let b = self.take(2)?;
        Some(usize::from(u16::from_be_bytes([*b.first()?, *b.get(1)?])))
    }
}

impl ParameterSets {
    /// Parses an AVCDecoderConfigurationRecord (ISO/IEC 14496-15 5.3.3.1). The
    /// configurationVersion byte is not checked (see [`configuration_version`]); `None` if
    /// the record ends early or declares 3-byte lengths (lengthSizeMinusOne 2, not allowed).
    #[must_use]
    pub fn from_avcc(cp: &[u8]) -> Option<Self> {
        let mut c = Cursor(cp);
        let header = c.take(5)?; // version, profile, compatibility, level, lengthSizeMinusOne
        let length_size =
            usize::from(header.get(4)? & 0x03).checked_add(1).filter(|&n| is_valid_length_size(n))?;
        let mut nals = Vec::new();
        let sps = c.u8()? & 0x1F;
        for _ in 0..sps {
            let n = c.u16()?;
            nals.push(c.take(n)?.to_vec());
        }
        let pps = c.u8()?;
        for _ in 0..pps {
            let n = c.u16()?;
            nals.push(c.take(n)?.to_vec());
        }
        Some(Self { length_size, nals, hevc: false })
    }

    /// Parses an HEVCDecoderConfigurationRecord (ISO/IEC 14496-15 8.3.3.1): the NAL units of
    /// all its arrays, in order. The configurationVersion byte is not checked (see
    /// [`configuration_version`]); `None` if the record ends early or declares 3-byte
    /// lengths (lengthSizeMinusOne 2, not allowed).
    #[must_use]
    pub fn from_hvcc(cp: &[u8]) -> Option<Self> {
        let mut c = Cursor(cp);
        // version, profile, tier, level, constraint flags, ... up to lengthSizeMinusOne.
        let header = c.take(22)?;
        let length_size =
            usize::from(header.get(21)? & 0x03).checked_add(1).filter(|&n| is_valid_length_size(n))?;
        let arrays = c.u8()?;
        let mut nals = Vec::new();
        for _ in 0..arrays {
            c.u8()?; // array_completeness, NAL unit type
            let count = c.u16()?;
            for _ in 0..count {
                let n = c.u16()?;
                nals.push(c.take(n)?.to_vec());
            }
        }
        Some(Self { length_size, nals, hevc: true })
    }

    /// The parameter sets as Annex B: each NAL unit after a start code.
    #[must_use]
    pub fn to_annexb(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_annexb(&mut out);
        out
    }

    /// Appends the parameter sets to `out` as Annex B.
    pub fn write_annexb(&self, out: &mut Vec<u8>) {
        for p in &self.nals {
            out.extend_from_slice(&START_CODE);
            out.extend_from_slice(p);
        }
    }
}

/// The profile and level an H.264 CodecPrivate (AVCDecoderConfigurationRecord) declares:
/// the profile's name (`Baseline`, `Main`, `Extended`, `High`, `High 10`, `High 4:2:2`,
/// `High 4:4:4`) and `level_idc` (31 for level 3.1); `None` when the record is too short or
/// names another profile.
///
/// ```
/// let avcc = [1, 100, 0, 31, 0xFF];
/// assert_eq!(kvs_chunk::annexb::avc_profile_level(&avcc), Some(("High", 31)));
/// assert_eq!(kvs_chunk::annexb::avc_profile_level(&[1, 100]), None);
/// ```
#[must_use]
pub fn avc_profile_level(cp: &[u8]) -> Option<(&'static str, u8)> {
    let profile = match cp.get(1)? {
        66 => "Baseline",
        77 => "Main",
        88 => "Extended",
        100 => "High",
        110 => "High 10",
        122 => "High 4:2:2",
        244 => "High 4:4:4",
        _ => return None,
    };
    Some((profile, *cp.get(3)?))
}

/// The configurationVersion of an AVC or HEVC decoder configuration record (its first byte;
/// 1 in every published version of ISO/IEC 14496-15).
#[must_use]
pub fn configuration_version(cp: &[u8]) -> Option<u8> {
    cp.first().copied()
}

/// Whether a NAL unit is a parameter set: SPS or PPS for H.264, VPS, SPS or PPS for H.265.
#[must_use]
pub fn is_parameter_set(nal: &[u8], hevc: bool) -> bool {
    let Some(&b) = nal.first() else { return false };
    if hevc { matches!((b >> 1) & 0x3F, 32..=34) } else { matches!(b & 0x1F, 7 | 8) }
}

/// A length prefix or NAL unit ran past the end of the frame, or the frame cannot be split
/// at all because the length size is not 1, 2 or 4 (see [`nal_units`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Truncated;

impl std::fmt::Display for Truncated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a NAL unit length runs past the end of the frame")
    }
}

impl std::error::Error for Truncated {}

/// The NAL units of a frame of length-prefixed NAL units; see [`nal_units`].
#[derive(Debug, Clone)]
pub struct NalUnits<'a> {
    rest: &'a [u8],
    length_size: usize,
}

impl<'a> Iterator for NalUnits<'a> {
    type Item = Result<&'a [u8], Truncated>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        if !is_valid_length_size(self.length_size) {
            // A length size of 0 would read empty units for ever without consuming a byte.
            self.rest = &[];
            return Some(Err(Truncated));
        }
        let mut c = Cursor(self.rest);
        let nal = c.take(self.length_size).and_then(|prefix| {
            let len =
                prefix.iter().fold(0usize, |n, b| n.checked_shl(8).unwrap_or(usize::MAX) | usize::from(*b));
            c.take(len)
        });
        match nal {
            Some(nal) => {
                self.rest = c.0;
                Some(Ok(nal))
            }
            None => {
                self.rest = &[];
                Some(Err(Truncated))
            }
        }
    }
}

/// The NAL units of `data`, each preceded by a big-endian length of `length_size` bytes.
/// A unit that runs past the end gives one [`Truncated`], and then the iterator ends. With a
/// `length_size` other than 1, 2 or 4 no unit can be read: non-empty `data` gives one
/// [`Truncated`] at once, and the iterator ends.
#[must_use]
pub fn nal_units(data: &[u8], length_size: usize) -> NalUnits<'_> {
    NalUnits { rest: data, length_size }
}

/// One frame as Annex B, appended to `out`: start codes instead of length prefixes, and the
/// parameter sets first when it is a keyframe that carries none of its own. `None`, with
/// nothing appended, if a length prefix runs past the frame or `ps.length_size` is not 1, 2
/// or 4.
pub fn annexb_frame(ps: &ParameterSets, data: &[u8], keyframe: bool, out: &mut Vec<u8>) -> Option<()> {
    if !is_valid_length_size(ps.length_size) {
        return None;
    }
    let nals = nal_units(data, ps.length_size).collect::<Result<Vec<_>, _>>().ok()?;
    if keyframe && !nals.iter().any(|n| is_parameter_set(n, ps.hevc)) {
        ps.write_annexb(out);
    }
    for n in nals {
        out.extend_from_slice(&START_CODE);
        out.extend_from_slice(n);
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avc_profiles_and_levels() {
        assert_eq!(avc_profile_level(&[1, 66, 0xC0, 30]), Some(("Baseline", 30)));
        assert_eq!(avc_profile_level(&[1, 244, 0, 52, 0xFF]), Some(("High 4:4:4", 52)));
        assert_eq!(avc_profile_level(&[1, 77, 0]), None);
        assert_eq!(avc_profile_level(&[1, 1, 0, 31]), None);
        assert_eq!(avc_profile_level(&[]), None);
    }

    #[test]
    fn avcc() {
        let cp = [1, 0x64, 0, 0x1F, 0xFF, 0xE1, 0, 3, 0x67, 1, 2, 1, 0, 2, 0x68, 9];
        let ps = ParameterSets::from_avcc(&cp).expect("a valid record");
        assert_eq!(ps.length_size, 4);
        assert_eq!(ps.nals, [vec![0x67, 1, 2], vec![0x68, 9]]);
        assert!(!ps.hevc);
        assert_eq!(ps.to_annexb(), [0, 0, 0, 1, 0x67, 1, 2, 0, 0, 0, 1, 0x68, 9]);
        for n in 0..cp.len() {
            assert!(ParameterSets::from_avcc(cp.get(..n).unwrap_or_default()).is_none(), "{n} bytes");
        }
        assert_eq!(configuration_version(&cp), Some(1));
        assert_eq!(configuration_version(&[]), None);
    }

    #[test]
    fn hvcc() {
        let mut cp = vec![1; 21];
        cp.push(0xF1); // lengthSizeMinusOne = 1
        cp.extend_from_slice(&[2, 0x20, 0, 1, 0, 2, 0x40, 1, 0x21, 0, 2, 0, 2, 0x42, 1, 0, 1, 0x42]);
        let ps = ParameterSets::from_hvcc(&cp).expect("a valid record");
        assert_eq!(ps.length_size, 2);
        assert!(ps.hevc);
        assert_eq!(ps.nals, [vec![0x40, 1], vec![0x42, 1], vec![0x42]]);
        for n in 0..cp.len() {
            assert!(ParameterSets::from_hvcc(cp.get(..n).unwrap_or_default()).is_none(), "{n} bytes");
        }
    }

    #[test]
    fn length_sizes() {
        // lengthSizeMinusOne 0, 1 and 3 give 1, 2 and 4 bytes; 2 (3 bytes) is not allowed.
        let mut avc = vec![1, 0x64, 0, 0x1F, 0xFC, 0xE0, 0];
        let mut hevc = vec![1; 21];
        hevc.extend_from_slice(&[0xFC, 0]);
        for (minus_one, size) in [(0, Some(1)), (1, Some(2)), (2, None), (3, Some(4))] {
            avc[4] = 0xFC | minus_one;
            hevc[21] = 0xFC | minus_one;
            assert_eq!(ParameterSets::from_avcc(&avc).map(|p| p.length_size), size, "{minus_one}");
            assert_eq!(ParameterSets::from_hvcc(&hevc).map(|p| p.length_size), size, "{minus_one}");
        }
        assert_eq!(ParameterSets::default().length_size, 4);
        assert!(LENGTH_SIZES.iter().all(|&n| is_valid_length_size(n)));
        for n in [0, 3, 5, 8, 9, usize::MAX] {
            assert!(!is_valid_length_size(n), "{n}");
        }
    }

    #[test]
    fn invalid_length_sizes_end_the_iteration() {
        for n in [0, 3, 5, 8, 9, usize::MAX] {
            // Bounded, so that a regression fails instead of looping for ever.
            let units: Vec<_> = nal_units(&[0, 0, 0, 1, 0x65], n).take(3).collect();
            assert_eq!(units, [Err(Truncated)], "length size {n}");
            assert_eq!(nal_units(&[], n).take(3).count(), 0, "length size {n}");
            let ps = ParameterSets { length_size: n, nals: vec![vec![0x67, 1]], hevc: false };
            let mut out = Vec::new();
            assert!(annexb_frame(&ps, &[0, 0, 0, 1, 0x65], true, &mut out).is_none(), "length size {n}");
            assert!(annexb_frame(&ps, &[], true, &mut out).is_none(), "length size {n}");
            assert!(out.is_empty());
        }
    }

    #[test]
    fn parameter_set_types() {
        assert!(is_parameter_set(&[0x67], false));
        assert!(is_parameter_set(&[0x68], false));
        assert!(!is_parameter_set(&[0x65], false));
        assert!(!is_parameter_set(&[], false));
        assert!(is_parameter_set(&[0x40, 1], true));
        assert!(is_parameter_set(&[0x44, 1], true));
        assert!(!is_parameter_set(&[0x26, 1], true));
    }

    #[test]
    fn nal_unit_iteration() {
        let units: Vec<_> = nal_units(&[0, 2, 0x65, 9, 0, 1, 6], 2).collect();
        assert_eq!(units, [Ok(&[0x65, 9][..]), Ok(&[6][..])]);
        let units: Vec<_> = nal_units(&[0, 1, 6, 0, 5, 1], 2).collect();
        assert_eq!(units, [Ok(&[6][..]), Err(Truncated)]);
        let units: Vec<_> = nal_units(&[0, 1, 6, 0], 2).collect();
        assert_eq!(units, [Ok(&[6][..]), Err(Truncated)]);
        assert_eq!(nal_units(&[], 4).count(), 0);
    }

    #[test]
    fn frames() {
        let ps = ParameterSets { length_size: 2, nals: vec![vec![0x67, 1], vec![0x68, 2]], hevc: false };
        let mut out = Vec::new();
        assert!(annexb_frame(&ps, &[0, 2, 0x65, 9, 0, 1, 0x06], true, &mut out).is_some());
        assert_eq!(out, [0, 0, 0, 1, 0x67, 1, 0, 0, 0, 1, 0x68, 2, 0, 0, 0, 1, 0x65, 9, 0, 0, 0, 1, 0x06]);
        out.clear();
        // A keyframe with its own SPS gets no others.
        assert!(annexb_frame(&ps, &[0, 1, 0x67, 0, 1, 0x65], true, &mut out).is_some());
        assert_eq!(out, [0, 0, 0, 1, 0x67, 0, 0, 0, 1, 0x65]);
        out.clear();
        assert!(annexb_frame(&ps, &[0, 1, 0x41], false, &mut out).is_some());
        assert_eq!(out, [0, 0, 0, 1, 0x41]);
        out.clear();
        assert!(annexb_frame(&ps, &[0, 1, 0x41, 0, 5, 1], true, &mut out).is_none());
        assert!(out.is_empty());
    }
}
