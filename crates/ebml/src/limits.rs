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
    /// Matroska: most ReferenceBlock values kept per BlockGroup (default 16; a frame needs
    /// at most 2). Applied by kvs-chunk's decoder, which reports the rest as dropped.
    pub max_references: usize,
    /// Matroska: most TrackEntries kept per Tracks element (default 128). Applied by
    /// kvs-chunk's decoder.
    pub max_track_entries: usize,
    /// Matroska: most SimpleTags kept per document, that is per GetMedia fragment (default
    /// 1,024). The service's own tags are read past it. Applied by kvs-chunk's decoder.
    pub max_tags: usize,
    /// Matroska: most bytes of SimpleTag names and values kept per document (default 1 MiB;
    /// the tag that crosses it is kept whole). Applied by kvs-chunk's decoder.
    pub max_tag_bytes: u64,
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
        max_references: 16,
        max_track_entries: 128,
        max_tags: 1024,
        max_tag_bytes: 1 << 20,
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

    /// Sets [`Limits::max_references`].
    #[must_use]
    pub const fn max_references(mut self, n: usize) -> Self {
        self.max_references = n;
        self
    }

    /// Sets [`Limits::max_track_entries`].
    #[must_use]
    pub const fn max_track_entries(mut self, n: usize) -> Self {
        self.max_track_entries = n;
        self
    }

    /// Sets [`Limits::max_tags`].
    #[must_use]
    pub const fn max_tags(mut self, n: usize) -> Self {
        self.max_tags = n;
        self
    }

    /// Sets [`Limits::max_tag_bytes`].
    #[must_use]
    pub const fn max_tag_bytes(mut self, n: u64) -> Self {
        self.max_tag_bytes = n;
        self
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}
