//! Matroska block headers and lacing (RFC 9559 sections 10.1 to 10.3).

use bytes::Bytes;

/// How a block packs several frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lacing {
    /// One frame.
    None,
    /// Xiph lacing: sizes as runs of 255.
    Xiph,
    /// Fixed-size lacing: equal sizes.
    Fixed,
    /// EBML lacing: a VINT size, then signed VINT differences.
    Ebml,
}

/// Why a block could not be read. The block is skipped; the stream stays readable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BlockError {
    /// The block ends inside its header (track number, timestamp, flags).
    #[error("block too short for its header")]
    Truncated,
    /// The track-number VINT starts with `0x00`.
    #[error("invalid track number")]
    InvalidTrackNumber,
    /// The lace sizes do not fit in the block, or overflow.
    #[error("lace sizes exceed the block")]
    LaceOverflow,
    /// A lace size VINT is invalid.
    #[error("invalid lace size")]
    InvalidLaceSize,
    /// Fixed-size lacing whose data does not divide evenly.
    #[error("fixed-size lacing does not divide the data evenly")]
    UnevenFixedLacing,
}

/// The header of a SimpleBlock or Block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockHeader {
    /// The track number.
    pub track: u64,
    /// The timestamp relative to the cluster's, in TimestampScale units.
    pub relative_timestamp: i16,
    /// The flags byte.
    pub flags: u8,
    /// The lacing the flags announce.
    pub lacing: Lacing,
    /// The header's length in bytes (track VINT + 2 + 1).
    pub len: usize,
}

impl BlockHeader {
    /// SimpleBlock's keyframe flag (0x80). Always false for a Block inside a BlockGroup.
    #[must_use]
    pub const fn keyframe(&self) -> bool {
        self.flags & 0x80 != 0
    }

    /// The invisible flag (0x08).
    #[must_use]
    pub const fn invisible(&self) -> bool {
        self.flags & 0x08 != 0
    }

    /// SimpleBlock's discardable flag (0x01).
    #[must_use]
    pub const fn discardable(&self) -> bool {
        self.flags & 0x01 != 0
    }
}

/// Reads a block header from the start of a SimpleBlock or Block payload.
#[inline]
pub fn parse_header(data: &[u8]) -> Result<BlockHeader, BlockError> {
    // The common case: a track number below 127 (a one-byte VINT) and the header whole.
    if let Some(&[lead, t0, t1, flags]) = data.first_chunk::<4>()
        && lead >= 0x80
    {
        return Ok(BlockHeader {
            track: u64::from(lead & 0x7F),
            relative_timestamp: i16::from_be_bytes([t0, t1]),
            flags,
            lacing: lacing_of(flags),
            len: 4,
        });
    }
    parse_header_general(data)
}

fn lacing_of(flags: u8) -> Lacing {
    match (flags >> 1) & 0x03 {
        0 => Lacing::None,
        1 => Lacing::Xiph,
        2 => Lacing::Fixed,
        _ => Lacing::Ebml,
    }
}

fn parse_header_general(data: &[u8]) -> Result<BlockHeader, BlockError> {
    let (track, w) = read_vint(data).map_err(|e| match e {
        VintFail::Short => BlockError::Truncated,
        VintFail::Invalid => BlockError::InvalidTrackNumber,
    })?;
    let ts = data.get(w..w.checked_add(2).ok_or(BlockError::Truncated)?).ok_or(BlockError::Truncated)?;
    let relative_timestamp = i16::from_be_bytes([
        *ts.first().ok_or(BlockError::Truncated)?,
        *ts.get(1).ok_or(BlockError::Truncated)?,
    ]);
    let flags_at = w.checked_add(2).ok_or(BlockError::Truncated)?;
    let flags = *data.get(flags_at).ok_or(BlockError::Truncated)?;
    Ok(BlockHeader {
        track,
        relative_timestamp,
        flags,
        lacing: lacing_of(flags),
        len: flags_at.saturating_add(1),
    })
}

enum VintFail {
    Short,
    Invalid,
}

/// A VINT value (marker removed; the all-ones pattern is a value here, not "unknown").
fn read_vint(data: &[u8]) -> Result<(u64, usize), VintFail> {
    kvs_ebml::vint::read_value(data).map_err(|e| match e {
        kvs_ebml::vint::VintError::Incomplete(_) => VintFail::Short,
        _ => VintFail::Invalid,
    })
}

/// The most frames one block can lace (the count byte holds count - 1).
pub const MAX_LACED_FRAMES: usize = 256;

/// Splits a block payload into its frames, calling `f(index, count, frame)` for each frame in
/// order. Frames are zero-copy slices of `payload`.
pub fn for_each_frame(
    payload: &Bytes,
    header: &BlockHeader,
    mut f: impl FnMut(usize, usize, Bytes),
) -> Result<(), BlockError> {
    for_each_frame_range(payload, header, |i, count, r| f(i, count, payload.slice(r)))
}

/// [`for_each_frame`] for any buffer: calls `f(index, count, range)` with each frame's byte
/// range in `payload`, in order. The ranges lie within `payload`.
pub fn for_each_frame_range(
    payload: &[u8],
    header: &BlockHeader,
    mut f: impl FnMut(usize, usize, std::ops::Range<usize>),
) -> Result<(), BlockError> {
    let body = header.len;
    if header.lacing == Lacing::None {
        f(0, 1, body.min(payload.len())..payload.len());
        return Ok(());
    }
    let data = payload.get(body..).ok_or(BlockError::Truncated)?;
    let count = usize::from(*data.first().ok_or(BlockError::Truncated)?).saturating_add(1);
    let mut pos = 1usize;
    let mut sizes = [0usize; MAX_LACED_FRAMES];
    match header.lacing {
        Lacing::Xiph => {
            for size in sizes.iter_mut().take(count.saturating_sub(1)) {
                let mut total = 0usize;
                loop {
                    let b = *data.get(pos).ok_or(BlockError::Truncated)?;
                    pos = pos.saturating_add(1);
                    total = total.checked_add(usize::from(b)).ok_or(BlockError::LaceOverflow)?;
                    if b != 255 {
                        break;
                    }
                }
                *size = total;
            }
        }
        Lacing::Ebml => {
            if count > 1 {
                let (first, w) = read_vint(data.get(pos..).unwrap_or_default()).map_err(lace_fail)?;
                pos = pos.saturating_add(w);
                let mut prev = i64::try_from(first).map_err(|_| BlockError::LaceOverflow)?;
                if let Some(s) = sizes.first_mut() {
                    *s = usize::try_from(prev).map_err(|_| BlockError::LaceOverflow)?;
                }
                for size in sizes.iter_mut().take(count.saturating_sub(1)).skip(1) {
                    let (raw, w) = read_vint(data.get(pos..).unwrap_or_default()).map_err(lace_fail)?;
                    pos = pos.saturating_add(w);
                    // Signed VINT: the unsigned value minus (2^(7w-1) - 1).
                    let bits = 7u32.saturating_mul(u32::try_from(w).unwrap_or(8)).saturating_sub(1);
                    let bias = 1i64.checked_shl(bits).unwrap_or(i64::MAX).saturating_sub(1);
                    let diff = i64::try_from(raw)
                        .map_err(|_| BlockError::LaceOverflow)?
                        .checked_sub(bias)
                        .ok_or(BlockError::LaceOverflow)?;
                    prev = prev.checked_add(diff).ok_or(BlockError::LaceOverflow)?;
                    *size = usize::try_from(prev).map_err(|_| BlockError::LaceOverflow)?;
                }
            }
        }
        Lacing::Fixed => {
            let rest = data.len().saturating_sub(pos);
            if rest.checked_rem(count) != Some(0) {
                return Err(BlockError::UnevenFixedLacing);
            }
            let each = rest.checked_div(count).unwrap_or(0);
            for size in sizes.iter_mut().take(count.saturating_sub(1)) {
                *size = each;
            }
        }
        Lacing::None => {}
    }
    // The last frame takes what is left.
    let laced: usize = sizes
        .iter()
        .take(count.saturating_sub(1))
        .try_fold(0usize, |acc, &s| acc.checked_add(s))
        .ok_or(BlockError::LaceOverflow)?;
    let start = body.checked_add(pos).ok_or(BlockError::LaceOverflow)?;
    let end_of_laced = start.checked_add(laced).ok_or(BlockError::LaceOverflow)?;
    if end_of_laced > payload.len() {
        return Err(BlockError::LaceOverflow);
    }
    let last = payload.len().saturating_sub(end_of_laced);
    let mut at = start;
    for (i, &size) in sizes.iter().take(count.saturating_sub(1)).chain(std::iter::once(&last)).enumerate() {
        let end = at.saturating_add(size);
        f(i, count, at..end);
        at = end;
    }
    Ok(())
}

fn lace_fail(e: VintFail) -> BlockError {
    match e {
        VintFail::Short => BlockError::Truncated,
        VintFail::Invalid => BlockError::InvalidLaceSize,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(block: &[u8]) -> Result<Vec<Vec<u8>>, BlockError> {
        let payload = Bytes::copy_from_slice(block);
        let h = parse_header(&payload)?;
        let mut out = Vec::new();
        for_each_frame(&payload, &h, |_, _, f| out.push(f.to_vec()))?;
        Ok(out)
    }

    #[test]
    fn header() {
        let h = parse_header(&[0x81, 0xFF, 0xEC, 0x89]).unwrap();
        assert_eq!(h.track, 1);
        assert_eq!(h.relative_timestamp, -20);
        assert!(h.keyframe() && h.invisible() && h.discardable());
        assert_eq!(h.lacing, Lacing::None);
        assert_eq!(h.len, 4);
        let h = parse_header(&[0x40, 0x02, 0x00, 0x10, 0x00]).unwrap();
        assert_eq!((h.track, h.relative_timestamp, h.len), (2, 16, 5));
        assert_eq!(parse_header(&[0x81, 0x00]), Err(BlockError::Truncated));
        assert_eq!(parse_header(&[0x00, 0, 0, 0]), Err(BlockError::InvalidTrackNumber));
    }

    #[test]
    fn no_lacing() {
        assert_eq!(frames(&[0x81, 0, 0, 0x80, 1, 2, 3]).unwrap(), vec![vec![1, 2, 3]]);
        assert_eq!(frames(&[0x81, 0, 0, 0x80]).unwrap(), vec![Vec::<u8>::new()]);
    }

    #[test]
    fn xiph_lacing() {
        // 3 frames: sizes 255 (FF 00), 2 (02), rest 1.
        let mut b = vec![0x81, 0, 0, 0x02, 2, 0xFF, 0x00, 0x02];
        b.extend(std::iter::repeat_n(7u8, 255));
        b.extend([8, 8, 9]);
        let f = frames(&b).unwrap();
        assert_eq!(f.iter().map(Vec::len).collect::<Vec<_>>(), [255, 2, 1]);
        assert_eq!(f[2], [9]);
    }

    #[test]
    fn ebml_lacing() {
        // 3 frames: 4, 4 + (-1) = 3, rest 2. Signed 1-byte VINT: value - 63; -1 => 62 => 0xBE.
        let b = [0x81, 0, 0, 0x06, 2, 0x84, 0xBE, 1, 1, 1, 1, 2, 2, 2, 3, 3];
        let f = frames(&b).unwrap();
        assert_eq!(f, vec![vec![1, 1, 1, 1], vec![2, 2, 2], vec![3, 3]]);
    }

    #[test]
    fn fixed_lacing() {
        let b = [0x81, 0, 0, 0x04, 2, 1, 1, 2, 2, 3, 3];
        assert_eq!(frames(&b).unwrap(), vec![vec![1, 1], vec![2, 2], vec![3, 3]]);
        assert_eq!(frames(&[0x81, 0, 0, 0x04, 1, 1, 2, 3]), Err(BlockError::UnevenFixedLacing));
    }

    #[test]
    fn bad_lacing() {
        assert_eq!(frames(&[0x81, 0, 0, 0x02]), Err(BlockError::Truncated));
        assert_eq!(frames(&[0x81, 0, 0, 0x02, 1, 0xFF, 0xFF]), Err(BlockError::Truncated));
        assert_eq!(frames(&[0x81, 0, 0, 0x02, 1, 10, 1]), Err(BlockError::LaceOverflow));
        assert_eq!(frames(&[0x81, 0, 0, 0x06, 1, 0x00]), Err(BlockError::InvalidLaceSize));
        assert_eq!(frames(&[0x81, 0, 0, 0x06, 2, 0x81, 0x80, 1]), Err(BlockError::LaceOverflow));
    }
}
