//! Synchronous sources: an in-memory buffer and any [`std::io::Read`].

use std::io::{ErrorKind, Read};

use bytes::{Bytes, BytesMut};

use crate::{Error, Event, EventDecoder, Options};

/// The default read size of [`ReadEvents`]: 64 KiB.
pub const DEFAULT_READ_SIZE: usize = 64 * 1024;

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
/// [`DEFAULT_READ_SIZE`] bytes. Frames are slices of the chunks read; nothing else is kept.
///
/// The iterator yields recoverable errors (a bad block) and goes on; after a fatal error it
/// ends.
pub struct ReadEvents<R> {
    reader: R,
    decoder: EventDecoder,
    buf: BytesMut,
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
            buf: BytesMut::new(),
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

    /// Reads one chunk; false at the end of input.
    fn fill(&mut self) -> Result<(), std::io::Error> {
        if self.buf.capacity() < self.read_size {
            self.buf.reserve(self.read_size.saturating_mul(4));
        }
        self.buf.resize(self.read_size, 0);
        loop {
            match self.reader.read(&mut self.buf) {
                Ok(0) => {
                    self.buf.clear();
                    self.eof = true;
                    self.decoder.finish();
                    return Ok(());
                }
                Ok(n) => {
                    self.buf.truncate(n);
                    self.decoder.feed(self.buf.split().freeze());
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
