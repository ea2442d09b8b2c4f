//! Variable-size integers (RFC 8794 section 4) and element ids (section 5).
//!
//! A VINT is a length marker (`VINT_WIDTH` leading zero bits and a one bit) followed by
//! `VINT_DATA`. Widths 1 to 8 are legal; a first byte of `0x00` is not. An element size whose
//! data bits are all ones is the *unknown size* marker, at every width.

// Every computation below is on a width proven to be 1..=8 by `width()` (or 1..=4 for ids)
// before it is used, so no shift or product can overflow; checked forms would only add
// branches to the hottest code of the crate.
#![allow(clippy::arithmetic_side_effects)]

use crate::ElementId;

/// The longest VINT this crate reads or writes, in bytes.
pub const MAX_VINT_WIDTH: usize = 8;
/// The longest element id, in bytes (Matroska's `EBMLMaxIDLength`).
pub const MAX_ID_WIDTH: usize = 4;
/// The longest element header (id plus size), in bytes.
pub const MAX_HEADER_LEN: usize = MAX_ID_WIDTH + MAX_VINT_WIDTH;

/// Why a VINT or an id could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VintError {
    /// More bytes are needed; the value says how many the VINT occupies in total.
    Incomplete(usize),
    /// The first byte is `0x00`: no length marker in the first eight bits.
    ZeroLeadByte,
    /// An id longer than [`MAX_ID_WIDTH`].
    IdTooLong(usize),
    /// An id whose data bits are all zeros or all ones, or that is not in its shortest form.
    InvalidId(u32),
}

/// The width in bytes (1..=8) announced by a VINT's first byte, or `None` for `0x00`.
#[inline]
#[must_use]
pub fn width(first: u8) -> Option<usize> {
    if first == 0 { None } else { Some(first.leading_zeros() as usize + 1) }
}

/// A decoded element size: known, or the unknown-size marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Size {
    /// The payload has this many bytes.
    Known(u64),
    /// The unknown-size marker (all data bits set): the element ends where the schema says.
    Unknown,
}

impl Size {
    /// The known size, or `None` for an unknown size.
    #[inline]
    #[must_use]
    pub fn known(self) -> Option<u64> {
        match self {
            Size::Known(n) => Some(n),
            Size::Unknown => None,
        }
    }
}

/// Reads a VINT from the start of `buf` as a plain number: the data bits with the marker
/// removed, the all-ones pattern included (an EBML lace size or a block's track number, where
/// it is a value and not the unknown-size marker).
///
/// Returns the value and the number of bytes it occupied.
#[inline]
pub fn read_value(buf: &[u8]) -> Result<(u64, usize), VintError> {
    let first = *buf.first().ok_or(VintError::Incomplete(1))?;
    let w = width(first).ok_or(VintError::ZeroLeadByte)?;
    let bytes = buf.get(..w).ok_or(VintError::Incomplete(w))?;
    // Strip the marker bit from the first byte: w <= 8, so the shift is in range.
    let mut value = u64::from(first) & (0xFFu64 >> w);
    for &b in bytes.iter().skip(1) {
        value = (value << 8) | u64::from(b);
    }
    Ok((value, w))
}

/// Reads a VINT element size from the start of `buf`.
///
/// Returns the size and the number of bytes it occupied.
#[inline]
pub fn read_size(buf: &[u8]) -> Result<(Size, usize), VintError> {
    let (value, w) = read_value(buf)?;
    // All data bits set (7 per byte, w <= 8 so the shift is in range): the unknown size.
    if value == u64::MAX >> (64 - 7 * w) { Ok((Size::Unknown, w)) } else { Ok((Size::Known(value), w)) }
}

/// Reads an element id from the start of `buf`, with its marker bits, as Matroska writes ids.
///
/// Rejects ids longer than four bytes, ids whose data bits are all zeros or all ones, and
/// ids not written in their shortest form (RFC 8794 section 5).
#[inline]
pub fn read_id(buf: &[u8]) -> Result<(ElementId, usize), VintError> {
    let first = *buf.first().ok_or(VintError::Incomplete(1))?;
    let w = width(first).ok_or(VintError::ZeroLeadByte)?;
    if w > MAX_ID_WIDTH {
        return Err(VintError::IdTooLong(w));
    }
    let bytes = buf.get(..w).ok_or(VintError::Incomplete(w))?;
    let mut raw = 0u32;
    for &b in bytes {
        raw = (raw << 8) | u32::from(b);
    }
    if !id_is_valid(raw, w) {
        return Err(VintError::InvalidId(raw));
    }
    Ok((ElementId(raw), w))
}

/// Whether `raw` (with marker bit) is a valid id of width `w` (1..=4).
#[inline]
fn id_is_valid(raw: u32, w: usize) -> bool {
    // w is 1..=4 here, so every shift below is < 32.
    let data_bits = 7 * w as u32;
    let data = raw & ((1u32 << data_bits) - 1);
    let all_ones = (1u32 << data_bits) - 1;
    // All-ones data bits are reserved at every width. All-zero data bits are invalid except
    // for the one-byte id 0x80 (Matroska's ChapterDisplay; RFC 8794 erratum, cellar #407).
    if data == all_ones || (data == 0 && w > 1) {
        return false;
    }
    if w > 1 {
        // Shortest form: a value that fits the next-smaller width (and is not that width's
        // all-ones pattern) must be written at that width.
        let smaller_all_ones = (1u32 << (7 * (w as u32 - 1))) - 1;
        if data < smaller_all_ones {
            return false;
        }
    }
    true
}

/// The number of bytes needed to write `value` as a VINT size (never the unknown marker).
///
/// Returns `None` if the value needs more than eight bytes (it is >= 2^56 - 1).
#[inline]
#[must_use]
pub fn size_width(value: u64) -> Option<usize> {
    (1..=MAX_VINT_WIDTH).find(|&w| value < max_size_for_width(w))
}

/// The exclusive upper bound of known sizes of width `w` (the all-ones value is reserved).
#[inline]
fn max_size_for_width(w: usize) -> u64 {
    // w in 1..=8: 7*w <= 56.
    (1u64 << (7 * w as u32)) - 1
}

/// Encodes `value` as a VINT of exactly `width` bytes into `out`.
///
/// Returns `None` if `width` is not 1..=8 or the value does not fit that width (the all-ones
/// pattern is reserved for the unknown size).
#[must_use]
pub fn encode_size(value: u64, width: usize) -> Option<([u8; MAX_VINT_WIDTH], usize)> {
    if !(1..=MAX_VINT_WIDTH).contains(&width) || value >= max_size_for_width(width) {
        return None;
    }
    let marker = 1u64 << (7 * width as u32);
    let v = value | marker;
    let mut out = [0u8; MAX_VINT_WIDTH];
    let be = v.to_be_bytes();
    let start = MAX_VINT_WIDTH.checked_sub(width)?;
    out.get_mut(..width)?.copy_from_slice(be.get(start..)?);
    Some((out, width))
}

/// Encodes the unknown-size marker at `width` bytes (1..=8), e.g. `01 FF FF FF FF FF FF FF`.
#[must_use]
pub fn encode_unknown_size(width: usize) -> Option<([u8; MAX_VINT_WIDTH], usize)> {
    if !(1..=MAX_VINT_WIDTH).contains(&width) {
        return None;
    }
    let mut out = [0xFFu8; MAX_VINT_WIDTH];
    let shift = u32::try_from(width).ok()?.checked_sub(1)?;
    *out.first_mut()? = 0xFFu8 >> shift;
    Some((out, width))
}

/// The bytes of an id as written in a file (marker included), and its width.
#[must_use]
pub fn encode_id(id: ElementId) -> ([u8; MAX_ID_WIDTH], usize) {
    let w = id.width();
    let be = id.0.to_be_bytes();
    let mut out = [0u8; MAX_ID_WIDTH];
    let start = MAX_ID_WIDTH.saturating_sub(w);
    if let (Some(dst), Some(src)) = (out.get_mut(..w), be.get(start..)) {
        dst.copy_from_slice(src);
    }
    (out, w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_of_every_width() {
        assert_eq!(read_size(&[0x81]), Ok((Size::Known(1), 1)));
        assert_eq!(read_size(&[0x40, 0x02]), Ok((Size::Known(2), 2)));
        assert_eq!(read_size(&[0x10, 0, 0, 5]), Ok((Size::Known(5), 4)));
        assert_eq!(read_size(&[0x01, 0, 0, 0, 0, 0, 0, 9]), Ok((Size::Known(9), 8)));
        assert_eq!(
            read_size(&[0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE]),
            Ok((Size::Known((1 << 56) - 2), 8))
        );
    }

    #[test]
    fn unknown_size_at_every_width() {
        for w in 1..=8 {
            let (bytes, n) = encode_unknown_size(w).unwrap();
            assert_eq!(read_size(&bytes[..n]), Ok((Size::Unknown, w)), "width {w}");
        }
        assert_eq!(read_size(&[0xFF]), Ok((Size::Unknown, 1)));
        assert_eq!(read_size(&[0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]), Ok((Size::Unknown, 8)));
    }

    #[test]
    fn zero_lead_byte_and_truncation() {
        assert_eq!(read_size(&[0x00, 1, 2]), Err(VintError::ZeroLeadByte));
        assert_eq!(read_size(&[]), Err(VintError::Incomplete(1)));
        assert_eq!(read_size(&[0x10, 0]), Err(VintError::Incomplete(4)));
        assert_eq!(read_id(&[0x00]), Err(VintError::ZeroLeadByte));
        assert_eq!(read_id(&[0x1A, 0x45]), Err(VintError::Incomplete(4)));
    }

    #[test]
    fn ids() {
        assert_eq!(read_id(&[0x1A, 0x45, 0xDF, 0xA3]), Ok((ElementId(0x1A45_DFA3), 4)));
        assert_eq!(read_id(&[0xA3, 0x00]), Ok((ElementId(0xA3), 1)));
        assert_eq!(read_id(&[0xEC]), Ok((ElementId(0xEC), 1)));
        assert_eq!(read_id(&[0xBF]), Ok((ElementId(0xBF), 1)));
        // 5- to 8-byte ids are longer than EBMLMaxIDLength.
        assert_eq!(read_id(&[0x08, 0, 0, 0, 1]), Err(VintError::IdTooLong(5)));
        assert_eq!(read_id(&[0x01, 0, 0, 0, 0, 0, 0, 1]), Err(VintError::IdTooLong(8)));
        // All-zero and all-one data bits are reserved.
        assert_eq!(read_id(&[0x80]), Ok((ElementId(0x80), 1)), "ChapterDisplay");
        assert_eq!(read_id(&[0x40, 0x00]), Err(VintError::InvalidId(0x4000)));
        assert_eq!(read_id(&[0xFF]), Err(VintError::InvalidId(0xFF)));
        assert_eq!(read_id(&[0x7F, 0xFF]), Err(VintError::InvalidId(0x7FFF)));
        // Not the shortest form: 0x40 0x01 encodes 1, which fits in one byte.
        assert_eq!(read_id(&[0x40, 0x01]), Err(VintError::InvalidId(0x4001)));
        // 0x407F encodes 127, the one-byte all-ones pattern: legal at two bytes.
        assert_eq!(read_id(&[0x40, 0x7F]), Ok((ElementId(0x407F), 2)));
    }

    #[test]
    fn size_encoding_round_trips() {
        for &v in &[0u64, 1, 126, 127, 16382, 16383, (1 << 56) - 2] {
            let w = size_width(v).unwrap();
            for width in w..=8 {
                let (bytes, n) = encode_size(v, width).unwrap();
                assert_eq!(read_size(&bytes[..n]), Ok((Size::Known(v), width)));
            }
            if w > 1 {
                assert!(encode_size(v, w - 1).is_none());
            }
        }
        assert!(size_width((1 << 56) - 1).is_none());
        assert!(encode_size(127, 1).is_none(), "0xFF is the unknown marker");
        assert!(encode_size(0, 0).is_none());
        assert!(encode_size(0, 9).is_none());
    }

    #[test]
    fn id_encoding_round_trips() {
        for raw in [0xA3u32, 0x4286, 0x2A_D7B1, 0x1A45_DFA3] {
            let (bytes, n) = encode_id(ElementId(raw));
            assert_eq!(read_id(&bytes[..n]), Ok((ElementId(raw), n)));
        }
    }
}
