//! Writing EBML: element headers, leaf values and master elements into an owned buffer.
//!
//! [`Writer`] appends elements to a `Vec<u8>`. A master element is opened with
//! [`Writer::start_master`] and closed with [`Writer::end_master`] (or both at once with
//! [`Writer::master`]); a master of known size gets its size patched in when it is closed,
//! so children can be written without knowing their total length in advance. A master of
//! unknown size gets the unknown-size marker, as Kinesis Video Streams writes its Segments
//! and Clusters.
//!
//! Every size field can be written at its shortest width ([`SizeWidth::Minimal`]) or at a
//! fixed width ([`SizeWidth::Fixed`]), as many producers do (e.g. 8-byte sizes). Raw bytes
//! can be appended with [`Writer::raw`] to build malformed input on purpose, and
//! [`write_header`] writes a lone element header, e.g. in front of a payload copied as is.
//!
//! ```
//! use kvs_ebml::ElementId;
//! use kvs_ebml::writer::{MasterSize, SizeWidth, WriteError, Writer};
//!
//! # fn main() -> Result<(), WriteError> {
//! let mut w = Writer::new();
//! // The EBML header.
//! w.master(ElementId(0x1A45_DFA3), MasterSize::Known(SizeWidth::Minimal), |w| {
//!     w.unsigned(ElementId(0x4286), 1)?; // EBMLVersion
//!     w.unsigned(ElementId(0x42F7), 1)?; // EBMLReadVersion
//!     w.unsigned(ElementId(0x42F2), 4)?; // EBMLMaxIDLength
//!     w.unsigned(ElementId(0x42F3), 8)?; // EBMLMaxSizeLength
//!     w.string(ElementId(0x4282), "matroska")?; // DocType
//!     w.unsigned(ElementId(0x4287), 4)?; // DocTypeVersion
//!     w.unsigned(ElementId(0x4285), 2) // DocTypeReadVersion
//! })?;
//! // A Segment of unknown size (8-byte marker) holding an Info with its TimestampScale.
//! w.start_master(ElementId(0x1853_8067), MasterSize::Unknown(8))?;
//! w.master(ElementId(0x1549_A966), MasterSize::Known(SizeWidth::Minimal), |w| {
//!     w.unsigned(ElementId(0x2A_D7B1), 1_000_000)
//! })?;
//! w.end_master()?;
//! let bytes = w.finish()?;
//!
//! assert!(bytes.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]));
//! // The EBML header's payload is 35 bytes, so its size is the one byte 0xA3.
//! assert_eq!(bytes.get(4), Some(&0xA3));
//! // The Segment follows the 40-byte EBML header.
//! assert_eq!(
//!     bytes.get(40..52),
//!     Some(&[0x18, 0x53, 0x80, 0x67, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF][..])
//! );
//! # Ok(())
//! # }
//! ```

use crate::ElementId;
use crate::Size;
use crate::vint::{self, MAX_HEADER_LEN, MAX_VINT_WIDTH};

/// How many bytes an element's size field (a VINT) takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SizeWidth {
    /// The shortest width that holds the size (an unknown size is then the one byte `0xFF`).
    #[default]
    Minimal,
    /// Exactly this many bytes, 1 to 8; writing fails if the size does not fit.
    Fixed(u8),
}

/// The size field of a master element opened with [`Writer::start_master`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MasterSize {
    /// The real payload size, patched in by [`Writer::end_master`] at this width.
    Known(SizeWidth),
    /// The unknown-size marker, at this width in bytes (1 to 8): `8` writes
    /// `01 FF FF FF FF FF FF FF`.
    Unknown(u8),
}

/// Why an element could not be written.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    /// The size does not fit the requested size-field width (a known size may not use the
    /// all-ones pattern, which is the unknown-size marker).
    #[error("element {id}: size {size} does not fit a {width}-byte size field")]
    SizeTooLarge {
        /// The element being written.
        id: ElementId,
        /// Its payload size.
        size: u64,
        /// The width of the size field, in bytes.
        width: u8,
    },
    /// [`Writer::end_master`] was called with no master element open.
    #[error("no master element is open")]
    NoOpenMaster,
    /// [`Writer::finish`] was called while this master element (the innermost) was open.
    #[error("master element {0} was never closed")]
    UnclosedMaster(ElementId),
    /// A VINT width outside 1 to 8.
    #[error("invalid VINT width {0}: must be 1 to 8")]
    InvalidWidth(u8),
    /// A value written as a VINT (such as a block's track number) is larger than the
    /// largest an 8-byte VINT holds, 2^56-2 (the all-ones pattern is reserved).
    #[error("value {0} does not fit in an 8-byte VINT (max 2^56-2)")]
    VintTooLarge(u64),
    /// An integer does not fit the value length it was forced to.
    #[error("element {id}: value {value} does not fit in {len} bytes")]
    ValueTooLarge {
        /// The element being written.
        id: ElementId,
        /// The value.
        value: u64,
        /// The forced value length, in bytes.
        len: usize,
    },
}

/// Encodes an element header (id, then size) into a fixed buffer.
///
/// Returns the buffer and how many of its bytes are used. A known size is written at
/// `width`; an unknown size writes the unknown-size marker at `width` (one byte `0xFF` for
/// [`SizeWidth::Minimal`]).
///
/// # Errors
///
/// [`WriteError::InvalidWidth`] for a fixed width outside 1 to 8, and
/// [`WriteError::SizeTooLarge`] if a known size does not fit the width.
pub fn encode_header(
    id: ElementId,
    size: Size,
    width: SizeWidth,
) -> Result<([u8; MAX_HEADER_LEN], usize), WriteError> {
    let (id_bytes, id_len) = vint::encode_id(id);
    let (size_bytes, size_len) = encode_size_field(id, size, width)?;
    let mut out = [0u8; MAX_HEADER_LEN];
    let used = id_len.saturating_add(size_len);
    let parts = id_bytes.iter().take(id_len).chain(size_bytes.iter().take(size_len));
    for (dst, src) in out.iter_mut().zip(parts) {
        *dst = *src;
    }
    Ok((out, used))
}

/// Appends an element header (id, then size) to `out`; see [`encode_header`].
///
/// Nothing is appended if it fails.
///
/// # Errors
///
/// As [`encode_header`].
pub fn write_header(
    out: &mut Vec<u8>,
    id: ElementId,
    size: Size,
    width: SizeWidth,
) -> Result<(), WriteError> {
    let (bytes, len) = encode_header(id, size, width)?;
    out.extend(bytes.iter().take(len));
    Ok(())
}

/// Encodes a size field: a known size at `width`, or the unknown-size marker.
fn encode_size_field(
    id: ElementId,
    size: Size,
    width: SizeWidth,
) -> Result<([u8; MAX_VINT_WIDTH], usize), WriteError> {
    match (size, width) {
        (Size::Known(n), SizeWidth::Minimal) => vint::size_width(n)
            .and_then(|w| vint::encode_size(n, w))
            .ok_or(WriteError::SizeTooLarge { id, size: n, width: 8 }),
        (Size::Known(n), SizeWidth::Fixed(w)) => {
            let w_usize = checked_width(w)?;
            vint::encode_size(n, w_usize).ok_or(WriteError::SizeTooLarge { id, size: n, width: w })
        }
        (Size::Unknown, SizeWidth::Minimal) => {
            vint::encode_unknown_size(1).ok_or(WriteError::InvalidWidth(1))
        }
        (Size::Unknown, SizeWidth::Fixed(w)) => {
            vint::encode_unknown_size(checked_width(w)?).ok_or(WriteError::InvalidWidth(w))
        }
    }
}

/// A VINT width as `usize`, if it is 1 to 8.
fn checked_width(w: u8) -> Result<usize, WriteError> {
    let w_usize = usize::from(w);
    if (1..=MAX_VINT_WIDTH).contains(&w_usize) { Ok(w_usize) } else { Err(WriteError::InvalidWidth(w)) }
}

/// A buffer length as an EBML size (`usize` always fits `u64` on supported targets).
fn len_u64(len: usize) -> u64 {
    u64::try_from(len).unwrap_or(u64::MAX)
}

/// The shortest big-endian form of `v`: one byte for zero, up to eight.
fn minimal_unsigned(v: u64) -> ([u8; 8], usize) {
    let be = v.to_be_bytes();
    let skip = be.iter().take(7).take_while(|&&b| b == 0).count();
    let mut out = [0u8; 8];
    let len = 8usize.saturating_sub(skip);
    for (dst, src) in out.iter_mut().zip(be.iter().skip(skip)) {
        *dst = *src;
    }
    (out, len)
}

/// The shortest two's complement big-endian form of `v`: one byte for -128..=127, up to eight.
fn minimal_signed(v: i64) -> ([u8; 8], usize) {
    let be = v.to_be_bytes();
    // A leading byte is redundant if it only repeats the sign bit of the byte after it.
    let skip = be
        .windows(2)
        .take_while(|pair| match pair {
            [0x00, next] => next & 0x80 == 0,
            [0xFF, next] => next & 0x80 != 0,
            _ => false,
        })
        .count();
    let mut out = [0u8; 8];
    let len = 8usize.saturating_sub(skip);
    for (dst, src) in out.iter_mut().zip(be.iter().skip(skip)) {
        *dst = *src;
    }
    (out, len)
}

/// A master element that has been started and not yet ended.
#[derive(Debug, Clone, Copy)]
struct OpenMaster {
    /// Its id, for error messages.
    id: ElementId,
    /// How its size field is written.
    size: MasterSize,
    /// Where its size field starts in the buffer.
    size_pos: usize,
    /// Where its payload starts (just after the reserved size field).
    payload_start: usize,
}

/// Writes EBML elements into an owned `Vec<u8>`.
///
/// See the [module documentation](self) for an example.
#[derive(Debug, Clone, Default)]
pub struct Writer {
    /// The bytes written so far (size fields of open known-size masters are placeholders).
    buf: Vec<u8>,
    /// The open master elements, outermost first.
    open: Vec<OpenMaster>,
}

impl Writer {
    /// An empty writer.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty writer whose buffer has room for `capacity` bytes.
    #[must_use]
    pub fn with_capacity(capacity: usize) -> Self {
        Self { buf: Vec::with_capacity(capacity), open: Vec::new() }
    }

    /// The bytes written so far, whether or not masters are still open.
    ///
    /// The size fields of open known-size masters are placeholders until they are ended.
    #[must_use]
    pub fn into_inner(self) -> Vec<u8> {
        self.buf
    }

    /// The bytes written so far; see [`Writer::into_inner`].
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// How many bytes have been written.
    #[must_use]
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether nothing has been written yet.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// How many master elements are open.
    #[must_use]
    pub fn depth(&self) -> usize {
        self.open.len()
    }

    /// The written bytes, once every master element is closed.
    ///
    /// # Errors
    ///
    /// [`WriteError::UnclosedMaster`] with the innermost open master.
    pub fn finish(self) -> Result<Vec<u8>, WriteError> {
        match self.open.last() {
            Some(m) => Err(WriteError::UnclosedMaster(m.id)),
            None => Ok(self.buf),
        }
    }

    /// Opens a master element: writes its id and either a placeholder size (patched by
    /// [`Writer::end_master`]) or the unknown-size marker.
    ///
    /// `Known(Minimal)` reserves eight bytes and shrinks them to the shortest width when the
    /// master ends; `Known(Fixed(w))` keeps `w` bytes.
    ///
    /// # Errors
    ///
    /// [`WriteError::InvalidWidth`] for a width outside 1 to 8; nothing is written then.
    pub fn start_master(&mut self, id: ElementId, size: MasterSize) -> Result<(), WriteError> {
        let (id_bytes, id_len) = vint::encode_id(id);
        let (size_bytes, size_len) = match size {
            MasterSize::Known(SizeWidth::Minimal) => {
                encode_size_field(id, Size::Known(0), SizeWidth::Fixed(8))?
            }
            MasterSize::Known(fixed @ SizeWidth::Fixed(_)) => encode_size_field(id, Size::Known(0), fixed)?,
            MasterSize::Unknown(w) => encode_size_field(id, Size::Unknown, SizeWidth::Fixed(w))?,
        };
        self.buf.extend(id_bytes.iter().take(id_len));
        let size_pos = self.buf.len();
        self.buf.extend(size_bytes.iter().take(size_len));
        self.open.push(OpenMaster { id, size, size_pos, payload_start: self.buf.len() });
        Ok(())
    }

    /// Closes the innermost open master element, writing its payload size into its size
    /// field (a master of unknown size is only closed).
    ///
    /// # Errors
    ///
    /// [`WriteError::NoOpenMaster`] if no master is open, and [`WriteError::SizeTooLarge`] if
    /// the payload does not fit the size field's fixed width (or exceeds 2^56 - 2 bytes);
    /// the master then stays open and the buffer unchanged.
    pub fn end_master(&mut self) -> Result<(), WriteError> {
        let m = self.open.pop().ok_or(WriteError::NoOpenMaster)?;
        let width = match m.size {
            MasterSize::Unknown(_) => return Ok(()),
            MasterSize::Known(width) => width,
        };
        let payload_len = len_u64(self.buf.len().saturating_sub(m.payload_start));
        let (size_bytes, size_len) = match encode_size_field(m.id, Size::Known(payload_len), width) {
            Ok(encoded) => encoded,
            Err(e) => {
                self.open.push(m);
                return Err(e);
            }
        };
        // The reserved field is at least as wide as the encoding: eight bytes for Minimal,
        // exactly the width for Fixed.
        let field = self.buf.iter_mut().skip(m.size_pos);
        for (dst, src) in field.zip(size_bytes.iter().take(size_len)) {
            *dst = *src;
        }
        let new_payload_start = m.size_pos.saturating_add(size_len);
        if new_payload_start < m.payload_start {
            // Shift the payload left over the unused part of the reserved field. Every byte
            // after `payload_start` belongs to this master: inner masters are closed first.
            self.buf.drain(new_payload_start..m.payload_start);
        }
        Ok(())
    }

    /// Writes a whole master element: [`Writer::start_master`], then `f`, then
    /// [`Writer::end_master`].
    ///
    /// # Errors
    ///
    /// Whatever the three steps return; if `f` fails the master is left open.
    pub fn master(
        &mut self,
        id: ElementId,
        size: MasterSize,
        f: impl FnOnce(&mut Self) -> Result<(), WriteError>,
    ) -> Result<(), WriteError> {
        self.start_master(id, size)?;
        f(self)?;
        self.end_master()
    }

    /// Writes an element header alone, e.g. before a payload appended with [`Writer::raw`];
    /// see [`encode_header`].
    ///
    /// # Errors
    ///
    /// As [`encode_header`]; nothing is written then.
    pub fn header(&mut self, id: ElementId, size: Size, width: SizeWidth) -> Result<(), WriteError> {
        write_header(&mut self.buf, id, size, width)
    }

    /// Writes a leaf element: its header, with the size field at `width`, then `payload`.
    ///
    /// # Errors
    ///
    /// As [`encode_header`]; nothing is written then.
    pub fn leaf(&mut self, id: ElementId, payload: &[u8], width: SizeWidth) -> Result<(), WriteError> {
        self.header(id, Size::Known(len_u64(payload.len())), width)?;
        self.buf.extend_from_slice(payload);
        Ok(())
    }

    /// Appends bytes as they are, valid EBML or not.
    ///
    /// # Errors
    ///
    /// None; the `Result` keeps every writing method alike.
    pub fn raw(&mut self, bytes: &[u8]) -> Result<(), WriteError> {
        self.buf.extend_from_slice(bytes);
        Ok(())
    }

    /// Writes an unsigned integer element in its shortest big-endian form (zero is one
    /// `0x00` byte).
    ///
    /// # Errors
    ///
    /// None in practice (as [`Writer::leaf`]).
    pub fn unsigned(&mut self, id: ElementId, value: u64) -> Result<(), WriteError> {
        let (bytes, len) = minimal_unsigned(value);
        self.leaf(id, bytes.get(..len).unwrap_or(&bytes), SizeWidth::Minimal)
    }

    /// Writes an unsigned integer element as exactly `value_len` big-endian bytes, with the
    /// size field at `width`; e.g. an 8-byte Timecode as some producers write it.
    ///
    /// A `value_len` above eight pads with leading zeros (not valid EBML: handy for tests).
    ///
    /// # Errors
    ///
    /// [`WriteError::ValueTooLarge`] if the value needs more than `value_len` bytes, and as
    /// [`Writer::leaf`]; nothing is written then.
    pub fn unsigned_with(
        &mut self,
        id: ElementId,
        value: u64,
        value_len: usize,
        width: SizeWidth,
    ) -> Result<(), WriteError> {
        let needed = if value == 0 { 0 } else { minimal_unsigned(value).1 };
        if needed > value_len {
            return Err(WriteError::ValueTooLarge { id, value, len: value_len });
        }
        self.header(id, Size::Known(len_u64(value_len)), width)?;
        let padding = value_len.saturating_sub(8);
        self.buf.extend(std::iter::repeat_n(0u8, padding));
        let be = value.to_be_bytes();
        let used = value_len.min(8);
        self.buf.extend(be.iter().skip(8usize.saturating_sub(used)));
        Ok(())
    }

    /// Writes a signed integer element in its shortest two's complement big-endian form.
    ///
    /// # Errors
    ///
    /// None in practice (as [`Writer::leaf`]).
    pub fn signed(&mut self, id: ElementId, value: i64) -> Result<(), WriteError> {
        let (bytes, len) = minimal_signed(value);
        self.leaf(id, bytes.get(..len).unwrap_or(&bytes), SizeWidth::Minimal)
    }

    /// Writes an 8-byte float element.
    ///
    /// # Errors
    ///
    /// None in practice (as [`Writer::leaf`]).
    pub fn float(&mut self, id: ElementId, value: f64) -> Result<(), WriteError> {
        self.leaf(id, &value.to_be_bytes(), SizeWidth::Minimal)
    }

    /// Writes a 4-byte float element.
    ///
    /// # Errors
    ///
    /// None in practice (as [`Writer::leaf`]).
    pub fn float32(&mut self, id: ElementId, value: f32) -> Result<(), WriteError> {
        self.leaf(id, &value.to_be_bytes(), SizeWidth::Minimal)
    }

    /// Writes a string element (its bytes, without a terminating NUL).
    ///
    /// EBML strings are printable ASCII; the text is written as given, unchecked.
    ///
    /// # Errors
    ///
    /// None in practice (as [`Writer::leaf`]).
    pub fn string(&mut self, id: ElementId, value: &str) -> Result<(), WriteError> {
        self.leaf(id, value.as_bytes(), SizeWidth::Minimal)
    }

    /// Writes a UTF-8 string element (its bytes, without a terminating NUL).
    ///
    /// # Errors
    ///
    /// None in practice (as [`Writer::leaf`]).
    pub fn utf8(&mut self, id: ElementId, value: &str) -> Result<(), WriteError> {
        self.leaf(id, value.as_bytes(), SizeWidth::Minimal)
    }

    /// Writes a binary element.
    ///
    /// # Errors
    ///
    /// None in practice (as [`Writer::leaf`]).
    pub fn binary(&mut self, id: ElementId, value: &[u8]) -> Result<(), WriteError> {
        self.leaf(id, value, SizeWidth::Minimal)
    }

    /// Writes a date element: nanoseconds since 2001-01-01T00:00:00 UTC, as 8 signed bytes.
    ///
    /// # Errors
    ///
    /// None in practice (as [`Writer::leaf`]).
    pub fn date(&mut self, id: ElementId, nanos_since_2001: i64) -> Result<(), WriteError> {
        self.leaf(id, &nanos_since_2001.to_be_bytes(), SizeWidth::Minimal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vint::{read_id, read_size};

    const EBML: ElementId = ElementId(0x1A45_DFA3);
    const EBML_VERSION: ElementId = ElementId(0x4286);
    const SEGMENT: ElementId = ElementId(0x1853_8067);
    const INFO: ElementId = ElementId(0x1549_A966);
    const TIMESTAMP_SCALE: ElementId = ElementId(0x2A_D7B1);
    const CLUSTER: ElementId = ElementId(0x1F43_B675);
    const TIMECODE: ElementId = ElementId(0xE7);
    const SIMPLE_BLOCK: ElementId = ElementId(0xA3);
    const VOID: ElementId = ElementId(0xEC);

    fn bytes_of(f: impl FnOnce(&mut Writer) -> Result<(), WriteError>) -> Vec<u8> {
        let mut w = Writer::new();
        f(&mut w).unwrap();
        w.finish().unwrap()
    }

    #[test]
    fn unsigned_minimal() {
        assert_eq!(bytes_of(|w| w.unsigned(EBML_VERSION, 1)), [0x42, 0x86, 0x81, 0x01]);
        assert_eq!(bytes_of(|w| w.unsigned(EBML_VERSION, 0)), [0x42, 0x86, 0x81, 0x00]);
        assert_eq!(bytes_of(|w| w.unsigned(TIMECODE, 0x100)), [0xE7, 0x82, 0x01, 0x00]);
        assert_eq!(
            bytes_of(|w| w.unsigned(TIMESTAMP_SCALE, 1_000_000)),
            [0x2A, 0xD7, 0xB1, 0x83, 0x0F, 0x42, 0x40]
        );
        assert_eq!(
            bytes_of(|w| w.unsigned(TIMECODE, u64::MAX)),
            [0xE7, 0x88, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]
        );
    }

    #[test]
    fn unsigned_forced_width() {
        // An 8-byte Timecode with an 8-byte size field.
        assert_eq!(
            bytes_of(|w| w.unsigned_with(TIMECODE, 5, 8, SizeWidth::Fixed(8))),
            [0xE7, 0x01, 0, 0, 0, 0, 0, 0, 0x08, 0, 0, 0, 0, 0, 0, 0, 0x05]
        );
        assert_eq!(
            bytes_of(|w| w.unsigned_with(TIMECODE, 0x1234, 2, SizeWidth::Minimal)),
            [0xE7, 0x82, 0x12, 0x34]
        );
        // Zero fits zero bytes: an empty payload.
        assert_eq!(bytes_of(|w| w.unsigned_with(TIMECODE, 0, 0, SizeWidth::Minimal)), [0xE7, 0x80]);
        // Longer than eight bytes pads with zeros.
        assert_eq!(
            bytes_of(|w| w.unsigned_with(TIMECODE, 7, 9, SizeWidth::Minimal)),
            [0xE7, 0x89, 0, 0, 0, 0, 0, 0, 0, 0, 7]
        );
        let mut w = Writer::new();
        assert_eq!(
            w.unsigned_with(TIMECODE, 0x100, 1, SizeWidth::Minimal),
            Err(WriteError::ValueTooLarge { id: TIMECODE, value: 0x100, len: 1 })
        );
        assert_eq!(
            w.unsigned_with(TIMECODE, 1, 0, SizeWidth::Minimal),
            Err(WriteError::ValueTooLarge { id: TIMECODE, value: 1, len: 0 })
        );
        assert!(w.is_empty(), "a failed write writes nothing");
    }

    #[test]
    fn signed_minimal() {
        let cases: [(i64, &[u8]); 10] = [
            (0, &[0x00]),
            (-1, &[0xFF]),
            (127, &[0x7F]),
            (-128, &[0x80]),
            (128, &[0x00, 0x80]),
            (-129, &[0xFF, 0x7F]),
            (255, &[0x00, 0xFF]),
            (-32768, &[0x80, 0x00]),
            (i64::MIN, &[0x80, 0, 0, 0, 0, 0, 0, 0]),
            (i64::MAX, &[0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]),
        ];
        for (value, payload) in cases {
            let bytes = bytes_of(|w| w.signed(ElementId(0xFB), value));
            let mut expected = vec![0xFB, 0x80 | u8::try_from(payload.len()).unwrap()];
            expected.extend_from_slice(payload);
            assert_eq!(bytes, expected, "value {value}");
        }
    }

    #[test]
    fn floats_strings_dates_binary() {
        assert_eq!(
            bytes_of(|w| w.float(ElementId(0x4489), 1.0)),
            [0x44, 0x89, 0x88, 0x3F, 0xF0, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(bytes_of(|w| w.float32(ElementId(0xB5), 48000.0)), [0xB5, 0x84, 0x47, 0x3B, 0x80, 0x00]);
        assert_eq!(
            bytes_of(|w| w.string(ElementId(0x4282), "webm")),
            [0x42, 0x82, 0x84, b'w', b'e', b'b', b'm']
        );
        assert_eq!(bytes_of(|w| w.utf8(ElementId(0x4D80), "é")), [0x4D, 0x80, 0x82, 0xC3, 0xA9]);
        assert_eq!(
            bytes_of(|w| w.date(ElementId(0x4461), -1)),
            [0x44, 0x61, 0x88, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]
        );
        assert_eq!(bytes_of(|w| w.binary(SIMPLE_BLOCK, &[1, 2, 3])), [0xA3, 0x83, 1, 2, 3]);
        assert_eq!(bytes_of(|w| w.binary(VOID, &[])), [0xEC, 0x80]);
    }

    #[test]
    fn unknown_size_segment() {
        let bytes = bytes_of(|w| w.master(SEGMENT, MasterSize::Unknown(8), |_| Ok(())));
        assert_eq!(bytes, [0x18, 0x53, 0x80, 0x67, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);
        let bytes = bytes_of(|w| w.master(CLUSTER, MasterSize::Unknown(1), |w| w.unsigned(TIMECODE, 0)));
        assert_eq!(bytes, [0x1F, 0x43, 0xB6, 0x75, 0xFF, 0xE7, 0x81, 0x00]);
    }

    #[test]
    fn fixed_width_masters_and_leaves() {
        let bytes = bytes_of(|w| {
            w.master(INFO, MasterSize::Known(SizeWidth::Fixed(4)), |w| w.unsigned(TIMESTAMP_SCALE, 1_000_000))
        });
        assert_eq!(
            bytes,
            [0x15, 0x49, 0xA9, 0x66, 0x10, 0x00, 0x00, 0x07, 0x2A, 0xD7, 0xB1, 0x83, 0x0F, 0x42, 0x40]
        );
        assert_eq!(
            bytes_of(|w| w.leaf(SIMPLE_BLOCK, &[9], SizeWidth::Fixed(4))),
            [0xA3, 0x10, 0x00, 0x00, 0x01, 9]
        );
        // A fixed-width master with an empty payload.
        assert_eq!(
            bytes_of(|w| w.master(VOID, MasterSize::Known(SizeWidth::Fixed(2)), |_| Ok(()))),
            [0xEC, 0x40, 0x00]
        );
    }

    #[test]
    fn minimal_masters_shrink_their_size_fields() {
        let bytes = bytes_of(|w| {
            w.master(SEGMENT, MasterSize::Known(SizeWidth::Minimal), |w| {
                w.master(INFO, MasterSize::Known(SizeWidth::Minimal), |w| {
                    w.unsigned(TIMESTAMP_SCALE, 1_000_000)
                })?;
                w.master(CLUSTER, MasterSize::Known(SizeWidth::Minimal), |w| {
                    w.unsigned(TIMECODE, 0)?;
                    w.binary(SIMPLE_BLOCK, &[0x81, 0, 0, 0x80, 0xAA])
                })
            })
        });
        let expected = [
            0x18, 0x53, 0x80, 0x67, 0x9B, // Segment, 27 bytes
            0x15, 0x49, 0xA9, 0x66, 0x87, // Info, 7 bytes
            0x2A, 0xD7, 0xB1, 0x83, 0x0F, 0x42, 0x40, // TimestampScale
            0x1F, 0x43, 0xB6, 0x75, 0x8A, // Cluster, 10 bytes
            0xE7, 0x81, 0x00, // Timecode
            0xA3, 0x85, 0x81, 0, 0, 0x80, 0xAA, // SimpleBlock
        ];
        assert_eq!(bytes, expected);
    }

    #[test]
    fn minimal_master_picks_a_two_byte_size_when_needed() {
        // 127 is the one-byte all-ones pattern, so a 127-byte payload needs two bytes.
        for (payload_len, size_field) in [(126usize, &[0xFEu8][..]), (127, &[0x40, 0x7F])] {
            let leaf_payload = vec![0x55; payload_len - 2];
            let bytes = bytes_of(|w| {
                w.master(CLUSTER, MasterSize::Known(SizeWidth::Minimal), |w| w.binary(VOID, &leaf_payload))
            });
            assert_eq!(&bytes[..4], &[0x1F, 0x43, 0xB6, 0x75]);
            assert_eq!(&bytes[4..4 + size_field.len()], size_field);
            assert_eq!(bytes.len(), 4 + size_field.len() + payload_len);
            let (size, n) = read_size(&bytes[4..]).unwrap();
            assert_eq!(size, Size::Known(payload_len as u64));
            assert_eq!(n, size_field.len());
        }
    }

    #[test]
    fn mixed_nesting_inside_unknown_and_fixed() {
        let bytes = bytes_of(|w| {
            w.master(SEGMENT, MasterSize::Unknown(8), |w| {
                w.master(CLUSTER, MasterSize::Known(SizeWidth::Fixed(8)), |w| {
                    w.master(INFO, MasterSize::Known(SizeWidth::Minimal), |w| w.unsigned(TIMECODE, 1))
                })
            })
        });
        let expected = [
            0x18, 0x53, 0x80, 0x67, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, // Segment
            0x1F, 0x43, 0xB6, 0x75, 0x01, 0, 0, 0, 0, 0, 0, 0x08, // Cluster, 8 bytes
            0x15, 0x49, 0xA9, 0x66, 0x83, // Info, 3 bytes
            0xE7, 0x81, 0x01,
        ];
        assert_eq!(bytes, expected);
    }

    #[test]
    fn written_bytes_parse_back() {
        let bytes = bytes_of(|w| {
            w.master(EBML, MasterSize::Known(SizeWidth::Minimal), |w| {
                w.unsigned(EBML_VERSION, 1)?;
                w.string(ElementId(0x4282), "matroska")
            })
        });
        let (id, n) = read_id(&bytes).unwrap();
        assert_eq!(id, EBML);
        let (size, m) = read_size(&bytes[n..]).unwrap();
        assert_eq!(size, Size::Known((bytes.len() - n - m) as u64));
        let (id, k) = read_id(&bytes[n + m..]).unwrap();
        assert_eq!((id, k), (EBML_VERSION, 2));
    }

    #[test]
    fn oversize_fixed_width_is_an_error() {
        let mut w = Writer::new();
        // 127 would be the one-byte unknown-size marker.
        assert_eq!(
            w.leaf(VOID, &[0; 127], SizeWidth::Fixed(1)),
            Err(WriteError::SizeTooLarge { id: VOID, size: 127, width: 1 })
        );
        assert!(w.is_empty());
        w.leaf(VOID, &[0; 126], SizeWidth::Fixed(1)).unwrap();
        assert_eq!(w.len(), 128);

        let mut w = Writer::new();
        w.start_master(CLUSTER, MasterSize::Known(SizeWidth::Fixed(1))).unwrap();
        w.binary(SIMPLE_BLOCK, &[0; 200]).unwrap();
        let before = w.as_bytes().to_vec();
        assert_eq!(w.end_master(), Err(WriteError::SizeTooLarge { id: CLUSTER, size: 203, width: 1 }));
        assert_eq!(w.as_bytes(), &before[..], "the buffer is unchanged");
        assert_eq!(w.depth(), 1, "the master stays open");
        assert_eq!(w.finish(), Err(WriteError::UnclosedMaster(CLUSTER)));
    }

    #[test]
    fn invalid_widths() {
        let mut w = Writer::new();
        assert_eq!(w.start_master(SEGMENT, MasterSize::Unknown(0)), Err(WriteError::InvalidWidth(0)));
        assert_eq!(w.start_master(SEGMENT, MasterSize::Unknown(9)), Err(WriteError::InvalidWidth(9)));
        assert_eq!(
            w.start_master(SEGMENT, MasterSize::Known(SizeWidth::Fixed(0))),
            Err(WriteError::InvalidWidth(0))
        );
        assert_eq!(w.leaf(VOID, &[], SizeWidth::Fixed(9)), Err(WriteError::InvalidWidth(9)));
        assert!(w.is_empty());
        assert_eq!(w.depth(), 0);
    }

    #[test]
    fn unbalanced_masters() {
        let mut w = Writer::new();
        assert_eq!(w.end_master(), Err(WriteError::NoOpenMaster));

        let mut w = Writer::new();
        w.start_master(SEGMENT, MasterSize::Unknown(8)).unwrap();
        w.start_master(CLUSTER, MasterSize::Known(SizeWidth::Minimal)).unwrap();
        assert_eq!(w.clone().finish(), Err(WriteError::UnclosedMaster(CLUSTER)));
        w.end_master().unwrap();
        assert_eq!(w.clone().finish(), Err(WriteError::UnclosedMaster(SEGMENT)));
        w.end_master().unwrap();
        assert_eq!(w.end_master(), Err(WriteError::NoOpenMaster));
        assert!(w.finish().is_ok());
    }

    #[test]
    fn standalone_headers() {
        let mut out = Vec::new();
        write_header(&mut out, SIMPLE_BLOCK, Size::Known(5), SizeWidth::Minimal).unwrap();
        write_header(&mut out, CLUSTER, Size::Unknown, SizeWidth::Minimal).unwrap();
        write_header(&mut out, SEGMENT, Size::Unknown, SizeWidth::Fixed(8)).unwrap();
        write_header(&mut out, TIMECODE, Size::Known(1), SizeWidth::Fixed(2)).unwrap();
        assert_eq!(
            out,
            [
                0xA3, 0x85, // SimpleBlock, 5
                0x1F, 0x43, 0xB6, 0x75, 0xFF, // Cluster, unknown
                0x18, 0x53, 0x80, 0x67, // Segment
                0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, // unknown size
                0xE7, 0x40, 0x01, // Timecode, 1 at two bytes
            ]
        );
        assert_eq!(
            write_header(&mut out, VOID, Size::Known(1 << 56), SizeWidth::Minimal),
            Err(WriteError::SizeTooLarge { id: VOID, size: 1 << 56, width: 8 })
        );
        let (bytes, len) = encode_header(SEGMENT, Size::Known(0), SizeWidth::Fixed(8)).unwrap();
        assert_eq!(len, 12);
        assert_eq!(bytes, [0x18, 0x53, 0x80, 0x67, 0x01, 0, 0, 0, 0, 0, 0, 0]);

        let mut w = Writer::with_capacity(16);
        w.header(SIMPLE_BLOCK, Size::Known(2), SizeWidth::Minimal).unwrap();
        w.raw(&[0xAB, 0xCD]).unwrap();
        assert_eq!(w.into_inner(), [0xA3, 0x82, 0xAB, 0xCD]);
    }

    #[test]
    fn raw_bytes_and_accessors() {
        let mut w = Writer::new();
        assert!(w.is_empty());
        w.raw(&[0x00, 0x01]).unwrap();
        assert_eq!(w.len(), 2);
        assert_eq!(w.as_bytes(), &[0x00, 0x01]);
        assert_eq!(w.finish().unwrap(), [0x00, 0x01]);
    }

    #[test]
    fn errors_display() {
        assert_eq!(
            WriteError::UnclosedMaster(SEGMENT).to_string(),
            "master element 0x18538067 was never closed"
        );
        assert_eq!(
            WriteError::SizeTooLarge { id: VOID, size: 300, width: 1 }.to_string(),
            "element 0xEC: size 300 does not fit a 1-byte size field"
        );
    }

    #[test]
    fn a_vint_too_large_says_what_is_wrong() {
        let e = WriteError::VintTooLarge(u64::MAX);
        assert_eq!(e.to_string(), "value 18446744073709551615 does not fit in an 8-byte VINT (max 2^56-2)");
    }
}
