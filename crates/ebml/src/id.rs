//! [`ElementId`]: an EBML element id as it appears in the file.

/// An EBML element id, marker bits included, as it appears in the file (`0x1A45DFA3`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ElementId(pub u32);

impl ElementId {
    /// The id's width in bytes (1..=4), from its marker bit.
    #[inline]
    #[must_use]
    pub const fn width(self) -> usize {
        if self.0 > 0x00FF_FFFF {
            4
        } else if self.0 > 0xFFFF {
            3
        } else if self.0 > 0xFF {
            2
        } else {
            1
        }
    }
}

impl std::fmt::Debug for ElementId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ElementId({:#X})", self.0)
    }
}

impl std::fmt::Display for ElementId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#X}", self.0)
    }
}
