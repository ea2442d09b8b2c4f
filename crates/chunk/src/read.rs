//! Synchronous sources: an in-memory buffer and any [`std::io::Read`].

use std::io::{ErrorKind, Read};

use bytes::{Bytes, BytesMut};

use crate::{Error, Event, EventDecoder, Options};

/// The default read size of [`ReadEvents`]: 256 KiB.
///
/// Large enough that few frames span two reads (a frame that does is gathered, a second copy)
/// and that a read is a few system calls per megabyte; small enough to stay in a core's L2
/// cache while it is decoded.
pub const DEFAULT_READ_SIZE: usize = 256 * 1024;

/// How many of its recent chunks [`ReadEvents`] keeps to read into again once nothing else
/// refers to them.
const POOL: usize = 4;

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
    decoder: EventDecoder,
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
        let mut decoder = EventDecoder::with_options(opts);
        decoder.feed(input);
        decoder.finish();
        Self { decoder }
    }
}

impl Iterator for Events {
    type Item = Result<Event, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        self.decoder.next_event().transpose()
    }
}

/// Events from any [`Read`] (a file, stdin, a socket), read in chunks of
/// [`DEFAULT_READ_SIZE`] bytes. Frames are slices of the chunks read.
///
/// The buffers are recycled: the last few chunks (at most four) are kept, and a chunk no
/// frame refers to any more is read into again, without zero-filling or new pages. Memory is
/// therefore at most four read sizes plus the chunks the caller still holds frames of.
///
/// The iterator yields recoverable errors (a bad block) and goes on; after a fatal error it
/// ends.
pub struct ReadEvents<R> {
    reader: R,
    decoder: EventDecoder,
    /// Recent chunks, oldest first, to read into again once they are unique.
    pool: Vec<Bytes>,
    read_size: usize,
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

    /// A buffer of `read_size` initialised bytes: a pooled chunk nothing else refers to any
    /// more (its bytes are stale, which is fine: `read` overwrites what it reports), or a new
    /// zeroed one.
    fn take_buffer(&mut self) -> BytesMut {
        let free = self.pool.iter().position(|c| c.len() == self.read_size && c.is_unique());
        if let Some(chunk) = free.map(|i| self.pool.remove(i))
            && let Ok(buf) = chunk.try_into_mut()
        {
            return buf;
        }
        BytesMut::zeroed(self.read_size)
    }

    /// Reads one chunk and feeds it to the decoder (or finishes the decoder at the end).
    fn fill(&mut self) -> Result<(), std::io::Error> {
        let mut buf = self.take_buffer();
        loop {
            match self.reader.read(&mut buf) {
                Ok(0) => {
                    self.eof = true;
                    self.pool.clear();
                    self.decoder.finish();
                    return Ok(());
                }
                Ok(n) => {
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
