//! Resource limits, checked before a byte is buffered.

/// Bounds on what the tokenizer accepts and holds.
///
/// Every size claim is checked against these limits as soon as the element header has been
/// read, before any of its payload is buffered: a claim of 2^56 bytes costs nothing.
/// [`Limits::default`] suits untrusted network input such as a GetMedia response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest String or UTF-8 payload, in bytes (default 1 MiB).
    pub max_string_size: u64,
    /// Largest Binary payload (a frame, CodecPrivate), in bytes (default 32 MiB).
    pub max_binary_size: u64,
    /// Largest known-size master, in bytes (default 2^50: masters are never buffered).
    pub max_master_size: u64,
    /// Deepest nesting of master elements (default 32; Matroska needs about 8).
    pub max_depth: usize,
    /// Most bytes held while waiting for one element to complete (default 40 MiB).
    pub max_buffered: u64,
    /// Most bytes scanned while looking for the next top-level element after an error
    /// (default 16 MiB).
    pub max_resync_scan: u64,
}

impl Limits {
    /// The defaults: safe for untrusted input.
    pub const DEFAULT: Limits = Limits {
        max_string_size: 1 << 20,
        max_binary_size: 32 << 20,
        max_master_size: 1 << 50,
        max_depth: 32,
        max_buffered: 40 << 20,
        max_resync_scan: 16 << 20,
    };

    /// Sets [`Limits::max_string_size`].
    #[must_use]
    pub const fn max_string_size(mut self, n: u64) -> Self {
        self.max_string_size = n;
        self
    }

    /// Sets [`Limits::max_binary_size`].
    #[must_use]
    pub const fn max_binary_size(mut self, n: u64) -> Self {
        self.max_binary_size = n;
        self
    }

    /// Sets [`Limits::max_master_size`].
    #[must_use]
    pub const fn max_master_size(mut self, n: u64) -> Self {
        self.max_master_size = n;
        self
    }

    /// Sets [`Limits::max_depth`].
    #[must_use]
    pub const fn max_depth(mut self, n: usize) -> Self {
        self.max_depth = n;
        self
    }

    /// Sets [`Limits::max_buffered`].
    #[must_use]
    pub const fn max_buffered(mut self, n: u64) -> Self {
        self.max_buffered = n;
        self
    }

    /// Sets [`Limits::max_resync_scan`].
    #[must_use]
    pub const fn max_resync_scan(mut self, n: u64) -> Self {
        self.max_resync_scan = n;
        self
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}
