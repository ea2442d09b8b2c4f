//! What the tokenizer needs to know about a document type: which ids exist, their value
//! types, who is whose parent, and which ids are global.
//!
//! A schema is data: a table of [`ElementInfo`] rows. The Matroska table lives in
//! [`crate::matroska`]; any other EBML document type can supply its own table through
//! [`TableSchema`] or implement [`Schema`] directly.

use crate::ElementId;

/// The value type of an element, as RFC 8794 section 7 names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ElementType {
    /// A master element: its payload is a sequence of child elements.
    Master,
    /// Unsigned integer, 0 to 8 bytes big-endian.
    Unsigned,
    /// Signed integer, 0 to 8 bytes big-endian two's complement.
    Signed,
    /// IEEE 754 float of 0, 4 or 8 bytes.
    Float,
    /// Printable ASCII string (kept raw, NUL padding included).
    String,
    /// UTF-8 string (kept raw, NUL padding included).
    Utf8,
    /// Date: nanoseconds since 2001-01-01T00:00:00 UTC, 0 or 8 bytes signed.
    Date,
    /// Binary data.
    Binary,
}

/// Where an element may appear.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Parent {
    /// A root element of the document (EBML header, Segment).
    Root,
    /// A global element: valid anywhere (Void, CRC-32).
    Global,
    /// A child of this master.
    Element(ElementId),
}

/// One row of a schema table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ElementInfo {
    /// The id, marker bits included (e.g. `0x1A45DFA3`).
    pub id: ElementId,
    /// The element's name in the specification (e.g. `"SimpleBlock"`).
    pub name: &'static str,
    /// Its value type.
    pub ty: ElementType,
    /// Its parent.
    pub parent: Parent,
    /// Whether the element may contain itself (Matroska's `SimpleTag`, `ChapterAtom`).
    pub recursive: bool,
}

impl ElementInfo {
    /// A row with the given fields, not recursive.
    #[must_use]
    pub const fn new(id: u32, name: &'static str, ty: ElementType, parent: Parent) -> Self {
        Self { id: ElementId(id), name, ty, parent, recursive: false }
    }

    /// The same row, marked recursive.
    #[must_use]
    pub const fn recursive(mut self) -> Self {
        self.recursive = true;
        self
    }
}

/// The deepest parent chain [`Schema::is_descendant`] follows before it gives up.
pub const MAX_SCHEMA_DEPTH: usize = 32;

/// A document type's elements, as the tokenizer needs them.
pub trait Schema {
    /// The row for `id`, or `None` for an id the schema does not know.
    fn lookup(&self, id: ElementId) -> Option<&ElementInfo>;

    /// Whether `id` may start resynchronisation after malformed input: a 4-byte id of a
    /// root or top-level element (EBML header, Segment, Cluster, Tags, Cues, ...).
    fn is_resync_anchor(&self, id: ElementId) -> bool;

    /// Whether an element `id` met inside the unknown-size master `ancestor` belongs to it,
    /// so that it does not end `ancestor`.
    ///
    /// Unknown ids and global ids always belong (they never end an unknown-size master); a
    /// known id belongs when `ancestor` is on its parent chain (RFC 8794 section 6.2).
    fn is_descendant(&self, id: ElementId, ancestor: ElementId) -> bool {
        let Some(info) = self.lookup(id) else { return true };
        if info.recursive && id == ancestor {
            return true;
        }
        let mut parent = info.parent;
        for _ in 0..MAX_SCHEMA_DEPTH {
            match parent {
                Parent::Global => return true,
                Parent::Root => return false,
                Parent::Element(p) => {
                    if p == ancestor {
                        return true;
                    }
                    match self.lookup(p) {
                        Some(pi) => parent = pi.parent,
                        None => return false,
                    }
                }
            }
        }
        false
    }
}

/// A schema backed by a static table, with a lookup index built once.
#[derive(Debug, Clone)]
pub struct TableSchema {
    rows: &'static [ElementInfo],
    /// Row index + 1 for each longer id, at [`slot_of`] its id or the first free slot after
    /// (linear probing), 0 where free: a table of a power of two slots, at least twice as
    /// many as the rows, so a lookup reads one or two slots.
    hashed: Vec<u16>,
    /// Row index + 1 for each one-byte id (`0x80..=0xFE`), 0 where none: the hot path.
    one_byte: [u16; 128],
    anchors: &'static [u32],
}

/// Where the probe for `id` starts in a table of `mask + 1` slots (a power of two): the top
/// bits of a multiplicative hash, so ids that differ in any byte spread out.
#[inline]
fn slot_of(id: u32, mask: usize) -> usize {
    usize::try_from(id.wrapping_mul(0x9E37_79B1) >> 16).unwrap_or(0) & mask
}

impl TableSchema {
    /// Builds the schema over `rows`; `anchors` lists the resynchronisation ids.
    ///
    /// Rows past index 65,534 are ignored (no EBML schema comes near that).
    #[must_use]
    pub fn new(rows: &'static [ElementInfo], anchors: &'static [u32]) -> Self {
        let mut sorted: Vec<u16> = (0..rows.len().min(usize::from(u16::MAX).saturating_sub(1)))
            .filter_map(|i| u16::try_from(i).ok())
            .collect();
        sorted.sort_by_key(|&i| rows.get(usize::from(i)).map_or(0, |r| r.id.0));
        let mut one_byte = [0u16; 128];
        let mut hashed = vec![0u16; sorted.len().saturating_mul(2).next_power_of_two().max(16)];
        let mask = hashed.len().saturating_sub(1);
        for &i in &sorted {
            let Some(row) = rows.get(usize::from(i)) else { continue };
            if (0x80..=0xFF).contains(&row.id.0) {
                if let Some(s) = one_byte.get_mut(usize::try_from(row.id.0 & 0x7F).unwrap_or(0)) {
                    *s = i.saturating_add(1);
                }
                continue;
            }
            // The first free slot from the id's own; a row whose id is already there (a
            // table listing an id twice) replaces it, as the last one-byte row does.
            let mut at = slot_of(row.id.0, mask);
            for _ in 0..hashed.len() {
                let Some(slot) = hashed.get_mut(at) else { break };
                let taken = slot.checked_sub(1).and_then(|j| rows.get(usize::from(j)));
                if taken.is_none_or(|r| r.id == row.id) {
                    *slot = i.saturating_add(1);
                    break;
                }
                at = at.wrapping_add(1) & mask;
            }
        }
        Self { rows, hashed, one_byte, anchors }
    }

    /// All rows of the table.
    #[must_use]
    pub fn rows(&self) -> &'static [ElementInfo] {
        self.rows
    }

    /// The row for the element named `name`, if any.
    #[must_use]
    pub fn by_name(&self, name: &str) -> Option<&'static ElementInfo> {
        self.rows.iter().find(|r| r.name == name)
    }
}

impl Schema for TableSchema {
    #[inline]
    fn lookup(&self, id: ElementId) -> Option<&ElementInfo> {
        if id.0 <= 0xFF {
            let slot = *self.one_byte.get(usize::try_from(id.0 & 0x7F).ok()?)?;
            return self.rows.get(usize::from(slot.checked_sub(1)?));
        }
        let mask = self.hashed.len().wrapping_sub(1);
        let mut at = slot_of(id.0, mask);
        for _ in 0..self.hashed.len() {
            // A free slot ends the probe: the id is not in the table.
            let row = self.rows.get(usize::from(self.hashed.get(at)?.checked_sub(1)?))?;
            if row.id == id {
                return Some(row);
            }
            at = at.wrapping_add(1) & mask;
        }
        None
    }

    fn is_resync_anchor(&self, id: ElementId) -> bool {
        self.anchors.contains(&id.0)
    }
}
