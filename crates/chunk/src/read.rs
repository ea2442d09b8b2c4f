//! Synchronous sources: an in-memory buffer and any [`std::io::Read`].

use std::io::{ErrorKind, Read};

use bytes::{Buf, Bytes, BytesMut};

use kvs_ebml::BytesTokenizer;

use crate::decoder::Core;
use crate::{Error, Event, EventDecoder, Options};

/// The default read size of [`ReadEvents`]: 256 KiB.
///
/// Large enough that few frames span two reads (a frame that does is gathered, a second copy)
/// and that a read is a few system calls per megabyte; small enough to stay in a core's L2
/// cache while it is decoded.
///
/// The size matters less than where the reads land. A read from a file is the kernel copying
/// the page cache into the buffer, and on some CPUs that copy is up to four times slower when
/// the destination sits a few bytes (1 to 16) past the source within a page. A 256 KiB buffer
/// from the C allocator is above glibc's mmap threshold, so it is a fresh mapping whose data
/// starts 16 bytes into a page, exactly that distance from a file read at a page boundary (or
/// 4 bytes past one, after a caller sniffed the magic). Measured on an AMD EPYC (family 25,
/// model 17, Linux 6.18, glibc 2.36), `kvs-mkv fragments` on a 500 MB file took 0.18 s with
/// 128, 256 or 512 KiB reads into such buffers against 0.05 s for `cat`; with the buffers
/// page-aligned and the reads ending on page boundaries, as [`ReadEvents`] now does, it takes
/// 0.058, 0.050 and 0.046 s, whatever the allocator does.
pub const DEFAULT_READ_SIZE: usize = 256 * 1024;

/// How many of its recent chunks [`ReadEvents`] keeps to read into again once nothing else
/// refers to them.
const POOL: usize = 4;

/// The alignment of [`ReadEvents`]' buffers and of where its reads end in the stream: a page.
const PAGE: usize = 4096;

/// Events from one in-memory buffer; frames are zero-copy slices of it.
///
/// ```
/// use bytes::Bytes;
/// use kvs_chunk::{Event, Events};
///
/// let input = Bytes::from_static(b"\x1A\x45\xDF\xA3\x80\x18\x53\x80\x67\xFF");
/// let events: Vec<Event> = Events::new(input).collect::<Result<_, _>>()?;
/// assert!(matches!(events[0], Event::DocumentStart { index: 0, offset: 0 }));
/// # Ok::<(), kvs_chunk::Error>(())
/// ```
pub struct Events {
    core: Core<BytesTokenizer>,
}

impl Events {
    /// Events from `input` with default options.
    #[must_use]
    pub fn new(input: Bytes) -> Self {
        Self::with_options(input, Options::default())
    }

    /// Events from `input` with the given options.
    #[must_use]
    pub fn with_options(input: Bytes, opts: Options) -> Self {
        let mut core = Core::new(BytesTokenizer::with_options(input.clone(), opts), opts);
        core.take_head(&input);
        core.set_finished();
        Self { core }
    }
}

impl Iterator for Events {
    type Item = Result<Event, Error>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.core.next_item()
    }
}

/// Events from any [`Read`] (a file, stdin, a socket), read in chunks of
/// [`DEFAULT_READ_SIZE`] bytes. Frames are slices of the chunks read.
///
/// The buffers are recycled: the last few chunks (at most four) are kept, and a chunk no
/// frame refers to any more is read into again, without zero-filling or new pages. Memory is
/// therefore at most four read sizes (and a page each) plus the chunks the caller still holds
/// frames of.
///
/// With a read size of two pages or more (the default is 64 pages), each buffer starts on a
/// page boundary, and a read that follows one that left the stream off a page boundary asks
/// for less, so that it ends on one: from then on a file's reads copy whole pages to
/// page-aligned memory, the layout the kernel copies fastest on every CPU (see
/// [`DEFAULT_READ_SIZE`] for the case it avoids).
///
/// The iterator yields recoverable errors (a bad block) and goes on; after a fatal error it
/// ends.
pub struct ReadEvents<R> {
    reader: R,
    decoder: EventDecoder,
    /// Recent chunks, oldest first, to read into again once they are unique.
    pool: Vec<Bytes>,
    read_size: usize,
    /// How many bytes have been read so far (modulo [`PAGE`] is what matters).
    read_total: u64,
    eof: bool,
    failed: bool,
}

impl<R: Read> ReadEvents<R> {
    /// Events from `reader` with default options.
    pub fn new(reader: R) -> Self {
        Self::with_options(reader, Options::default())
    }

    /// Events from `reader` with the given options.
    pub fn with_options(reader: R, opts: Options) -> Self {
        Self {
            reader,
            decoder: EventDecoder::with_options(opts),
            pool: Vec::with_capacity(POOL),
            read_size: DEFAULT_READ_SIZE,
            read_total: 0,
            eof: false,
            failed: false,
        }
    }

    /// Sets the read size (at least 1 byte).
    #[must_use]
    pub fn read_size(mut self, n: usize) -> Self {
        self.read_size = n.max(1);
        self
    }

    /// The absolute offset of the next byte to decode.
    pub fn offset(&self) -> u64 {
        self.decoder.offset()
    }

    /// A buffer of `read_size` initialised bytes, starting on a page boundary when
    /// [`Self::aligned`]: a pooled chunk nothing else refers to any more (its bytes are stale,
    /// which is fine: `read` overwrites what it reports), or a new zeroed one.
    fn take_buffer(&mut self) -> BytesMut {
        let free = self.pool.iter().position(|c| c.len() == self.read_size && c.is_unique());
        if let Some(chunk) = free.map(|i| self.pool.remove(i))
            && let Ok(buf) = chunk.try_into_mut()
        {
            return buf;
        }
        if !self.aligned() {
            return BytesMut::zeroed(self.read_size);
        }
        // One page more than needed, then the part that starts on a page boundary.
        let mut buf = BytesMut::zeroed(self.read_size.saturating_add(PAGE));
        let skip = buf.as_ptr().align_offset(PAGE).min(PAGE);
        buf.advance(skip);
        buf.truncate(self.read_size);
        buf
    }

    /// Whether buffers and reads are page-aligned: for read sizes of two pages or more (a
    /// page more per buffer is nothing to them; to a read size of a few bytes it would be).
    fn aligned(&self) -> bool {
        self.read_size >= PAGE.saturating_mul(2)
    }

    /// How many bytes the next read asks for: the read size, less what makes the read end on
    /// a page boundary of the stream when an earlier read left it off one (the 4 bytes a
    /// caller sniffed, a short read). From then on a file's reads start on page boundaries,
    /// into page-aligned buffers. Read sizes under two pages are left as they are.
    fn request_len(&self) -> usize {
        let off = self.read_total.checked_rem(PAGE as u64).and_then(|r| usize::try_from(r).ok()).unwrap_or(0);
        if self.aligned() { self.read_size.saturating_sub(off) } else { self.read_size }
    }

    /// Reads one chunk and feeds it to the decoder (or finishes the decoder at the end).
    fn fill(&mut self) -> Result<(), std::io::Error> {
        let mut buf = self.take_buffer();
        let want = self.request_len();
        loop {
            match self.reader.read(buf.get_mut(..want).unwrap_or_default()) {
                Ok(0) => {
                    self.eof = true;
                    self.pool.clear();
                    self.decoder.finish();
                    return Ok(());
                }
                Ok(n) => {
                    self.read_total = self.read_total.saturating_add(n as u64);
                    // The pool keeps the whole buffer (all of it initialised, whatever `n`);
                    // the decoder gets the bytes read.
                    let whole = buf.freeze();
                    let chunk = whole.slice(..n.min(whole.len()));
                    if self.pool.len() >= POOL {
                        self.pool.remove(0);
                    }
                    self.pool.push(whole);
                    self.decoder.feed(chunk);
                    return Ok(());
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

impl<R: Read> Iterator for ReadEvents<R> {
    type Item = Result<Event, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.failed {
                return None;
            }
            match self.decoder.next_event() {
                Ok(Some(e)) => return Some(Ok(e)),
                Ok(None) => {
                    if self.eof || self.decoder.is_done() {
                        return None;
                    }
                    if let Err(e) = self.fill() {
                        self.failed = true;
                        return Some(Err(Error::Io(e)));
                    }
                }
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::arithmetic_side_effects)]

    use std::io::Read;

    use super::{PAGE, ReadEvents};

    /// A reader over `data` that first returns `first` bytes, then as much as asked, and
    /// records the address (modulo a page) and length of every buffer it is given.
    struct Recording<'a> {
        data: &'a [u8],
        first: usize,
        calls: Vec<(usize, usize)>,
    }

    impl Read for Recording<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.calls.push((buf.as_ptr() as usize % PAGE, buf.len()));
            let n = if self.calls.len() == 1 { self.first } else { buf.len() };
            let n = n.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[test]
    fn reads_land_on_page_boundaries_after_a_short_read() {
        // Not Matroska: the decoder stops at once, so drive the reads by hand.
        let data = vec![0u8; 40 * PAGE];
        let mut events =
            ReadEvents::new(Recording { data: &data, first: 4, calls: Vec::new() }).read_size(8 * PAGE);
        let mut total = 0usize;
        for _ in 0..5 {
            events.fill().unwrap();
            total = usize::try_from(events.read_total).unwrap();
        }
        let calls = &events.reader.calls;
        assert_eq!(calls.len(), 5);
        for &(addr, _) in calls {
            assert_eq!(addr, 0, "every buffer starts on a page boundary: {calls:?}");
        }
        assert_eq!(calls[0].1, 8 * PAGE);
        // After 4 bytes, the next read ends on a page boundary; then whole read sizes.
        assert_eq!(calls[1].1, 8 * PAGE - 4);
        assert!(calls[2..].iter().all(|&(_, len)| len == 8 * PAGE), "{calls:?}");
        assert_eq!(total, 4 + (8 * PAGE - 4) + 3 * 8 * PAGE);
    }

    #[test]
    fn small_read_sizes_are_left_as_they_are() {
        let data = vec![0u8; 64];
        let mut events = ReadEvents::new(Recording { data: &data, first: 3, calls: Vec::new() }).read_size(7);
        for _ in 0..3 {
            events.fill().unwrap();
        }
        assert!(events.reader.calls.iter().all(|&(_, len)| len == 7), "{:?}", events.reader.calls);
    }
}
