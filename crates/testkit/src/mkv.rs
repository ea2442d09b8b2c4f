//! Small hand-built EBML for tests that need inputs a conforming writer would not make
//! (endless streams, repeated or unknown-size elements): each function returns the bytes.

/// An unknown-size VINT (8 bytes): a master that runs until its parent or the input ends.
pub const UNKNOWN: &[u8] = &[0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];

/// An element: its id bytes, a minimal-width size VINT, its body.
#[must_use]
pub fn el(id: &[u8], body: &[u8]) -> Vec<u8> {
    let n = body.len() as u64;
    // Width w holds 7w bits, all ones meaning "unknown".
    let bits = |w: u32| w.saturating_mul(7);
    let width = (1..=8u32).find(|&w| n < (1u64 << bits(w)).saturating_sub(1)).unwrap_or(8);
    let size = (n | (1u64 << bits(width))).to_be_bytes();
    let skip = 8usize.saturating_sub(width as usize);
    [id, size.get(skip..).unwrap_or_default(), body].concat()
}

/// An EBML header (DocType `matroska`) and the header of an unknown-size Segment.
#[must_use]
pub fn doc_start() -> Vec<u8> {
    [
        el(&[0x1A, 0x45, 0xDF, 0xA3], &el(&[0x42, 0x82], b"matroska")),
        vec![0x18, 0x53, 0x80, 0x67],
        UNKNOWN.to_vec(),
    ]
    .concat()
}

/// A SimpleTag with a TagName and a TagString.
#[must_use]
pub fn simple_tag(name: &str, value: &str) -> Vec<u8> {
    el(&[0x67, 0xC8], &[el(&[0x45, 0xA3], name.as_bytes()), el(&[0x44, 0x87], value.as_bytes())].concat())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_minimal_vints() {
        assert_eq!(el(&[0xE7], &[0]), [0xE7, 0x81, 0]);
        assert_eq!(el(&[0xA3], &[0; 127]).get(..3), Some(&[0xA3, 0x40, 0x7F][..]));
        assert_eq!(doc_start().get(..4), Some(&[0x1A, 0x45, 0xDF, 0xA3][..]));
    }
}
