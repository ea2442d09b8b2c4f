//! Asynchronous sources (feature `tokio`, on by default): a [`tokio_util::codec::Decoder`]
//! for `FramedRead` over any `AsyncRead`, and a [`Stream`] adapter over any stream of
//! `Bytes` chunks (an HTTP body, the AWS SDK's `ByteStream`).

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use tokio::io::AsyncRead;
use tokio_util::codec::FramedRead;

use crate::{Error, Event, EventDecoder, Fragment, FragmentAssembler, Options};

/// A `tokio_util` codec decoding events. Each call takes everything buffered in `src`
/// (without copying: `split().freeze()`), so frames are slices of what was read.
#[derive(Default)]
pub struct MkvCodec {
    decoder: EventDecoder,
}

impl MkvCodec {
    /// A codec with default options.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A codec with the given options.
    #[must_use]
    pub fn with_options(opts: Options) -> Self {
        Self { decoder: EventDecoder::with_options(opts) }
    }
}

impl tokio_util::codec::Decoder for MkvCodec {
    type Item = Event;
    type Error = Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Event>, Error> {
        if !src.is_empty() {
            self.decoder.feed(src.split().freeze());
        }
        self.decoder.next_event()
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Event>, Error> {
        if !src.is_empty() {
            self.decoder.feed(src.split().freeze());
        }
        self.decoder.finish();
        self.decoder.next_event()
    }
}

/// Events from any `AsyncRead` (a file, a TCP stream, stdin).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), kvs_chunk::Error> {
/// use futures_util::StreamExt;
/// use kvs_chunk::{Event, read_events};
///
/// let input: &[u8] = b"\x1A\x45\xDF\xA3\x80\x18\x53\x80\x67\xFF";
/// let mut events = read_events(input);
/// let mut n = 0;
/// while let Some(event) = events.next().await {
///     event?;
///     n += 1;
/// }
/// assert!(n > 0);
/// # Ok(())
/// # }
/// ```
pub fn read_events<R: AsyncRead>(reader: R) -> FramedRead<R, MkvCodec> {
    FramedRead::new(reader, MkvCodec::new())
}

/// Events from a stream of `Bytes` chunks.
pub struct EventStream<S> {
    inner: Option<S>,
    decoder: EventDecoder,
}

impl<S> EventStream<S> {
    /// Events from `inner` with default options.
    pub fn new(inner: S) -> Self {
        Self::with_options(inner, Options::default())
    }

    /// Events from `inner` with the given options.
    pub fn with_options(inner: S, opts: Options) -> Self {
        Self { inner: Some(inner), decoder: EventDecoder::with_options(opts) }
    }

    /// The absolute offset of the next byte to decode.
    pub fn offset(&self) -> u64 {
        self.decoder.offset()
    }
}

impl<S, E> Stream for EventStream<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Item = Result<Event, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            match this.decoder.next_event() {
                Ok(Some(e)) => return Poll::Ready(Some(Ok(e))),
                Err(e) => return Poll::Ready(Some(Err(e))),
                Ok(None) => {}
            }
            if this.decoder.is_done() {
                return Poll::Ready(None);
            }
            let Some(inner) = this.inner.as_mut() else { return Poll::Ready(None) };
            match Pin::new(inner).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(chunk))) => this.decoder.feed(chunk),
                Poll::Ready(Some(Err(e))) => {
                    this.inner = None;
                    return Poll::Ready(Some(Err(Error::Transport(e.into()))));
                }
                Poll::Ready(None) => {
                    this.inner = None;
                    this.decoder.finish();
                }
            }
        }
    }
}

/// Whole fragments from any stream of events.
pub struct FragmentStream<S> {
    inner: S,
    assembler: FragmentAssembler,
}

impl<S> FragmentStream<S> {
    /// Fragments over `inner`.
    pub fn new(inner: S) -> Self {
        Self { inner, assembler: FragmentAssembler::new() }
    }
}

impl<S: Stream<Item = Result<Event, Error>> + Unpin> Stream for FragmentStream<S> {
    type Item = Result<Fragment, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            match Pin::new(&mut this.inner).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(Some(Ok(event))) => {
                    if let Some(f) = this.assembler.push(event) {
                        return Poll::Ready(Some(Ok(f)));
                    }
                }
            }
        }
    }
}
