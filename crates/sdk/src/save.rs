//! Saving what a [`MediaConsumer`](crate::MediaConsumer) delivers as one GetMedia payload, as
//! the AWS CLI's `get-media OUTFILE` saves it: the raw MKV of every complete fragment, byte
//! for byte as the service sent it, in order, each once
//! ([`raw_documents`](crate::MediaConsumerBuilder::raw_documents) gives them as
//! [`ConsumerEvent::Document`](crate::ConsumerEvent::Document)).
//!
//! - [`PayloadWriter`] writes the documents and counts them.
//! - [`Renumber`] numbers the events of documents read over several connections as the
//!   decoder numbers them in the saved file, so a listing of the live stream and one of the
//!   saved file agree.
//! - [`EndGate`] stops before the first fragment at or after an end time, holding a
//!   fragment's first events until its metadata says when it is.

use std::io::{self, Write};

use kvs_chunk::{ErrorChunk, Event, Fragment, FragmentMetadata};

use crate::selector::StartSelector;

/// Writes raw documents one after the other, flushing after each (a reader of the file, or of
/// a pipe, sees every complete fragment as soon as it is written).
///
/// ```
/// let mut w = kvs_sdk::save::PayloadWriter::new(Vec::new());
/// w.write_document(b"\x1a\x45\xdf\xa3...").unwrap();
/// assert_eq!((w.documents(), w.bytes()), (1, 7));
/// assert_eq!(w.into_inner(), b"\x1a\x45\xdf\xa3...");
/// ```
#[derive(Debug)]
pub struct PayloadWriter<W> {
    out: W,
    documents: u64,
    bytes: u64,
}

impl<W: Write> PayloadWriter<W> {
    /// A writer into `out`, nothing written yet.
    pub fn new(out: W) -> Self {
        PayloadWriter { out, documents: 0, bytes: 0 }
    }

    /// Writes one document whole and flushes; it is counted only when both succeeded.
    ///
    /// # Errors
    ///
    /// What writing or flushing `out` gave (a broken pipe included).
    pub fn write_document(&mut self, document: &[u8]) -> io::Result<()> {
        self.out.write_all(document)?;
        self.out.flush()?;
        self.documents = self.documents.saturating_add(1);
        self.bytes = self.bytes.saturating_add(u64::try_from(document.len()).unwrap_or(u64::MAX));
        Ok(())
    }

    /// Flushes `out`.
    ///
    /// # Errors
    ///
    /// What flushing gave.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// The documents (fragments) written.
    #[must_use]
    pub fn documents(&self) -> u64 {
        self.documents
    }

    /// The bytes written.
    #[must_use]
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The writer.
    pub fn into_inner(self) -> W {
        self.out
    }
}

/// Numbers documents across connections: the document index counts the documents delivered
/// (and the in-stream error chunks, each a document of its own), the offsets are those in the
/// concatenation of the delivered documents (what [`PayloadWriter`] writes). Each connection's
/// decoder numbers from 0 again; these numbers go on.
#[derive(Debug, Default, Clone)]
pub struct Renumber {
    index: u64,
    offset: u64,
    /// The current document's offset as the decoder gave it (to place a merged document's
    /// further fragments at the same distance from `offset`).
    doc_offset: u64,
}

impl Renumber {
    /// Numbering from document 0 at offset 0.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// `event` with its document index and offsets as in the saved payload.
    #[must_use]
    pub fn map(&mut self, event: Event) -> Event {
        match event {
            Event::DocumentStart { offset, .. } => {
                self.doc_offset = offset;
                Event::DocumentStart { index: self.index, offset: self.offset }
            }
            Event::FragmentStart { fragment, offset, .. } => Event::FragmentStart {
                index: self.index,
                fragment,
                offset: self.offset.saturating_add(offset.saturating_sub(self.doc_offset)),
            },
            Event::FragmentEnd(mut end) => {
                end.index = self.index;
                Event::FragmentEnd(end)
            }
            Event::DocumentEnd { offset, end, .. } => {
                let start = self.offset;
                self.offset = self.offset.saturating_add(end.saturating_sub(offset));
                let index = self.index;
                self.index = self.index.saturating_add(1);
                Event::DocumentEnd { index, offset: start, end: self.offset }
            }
            other => other,
        }
    }

    /// The document index and offset of an in-stream error chunk delivered on its own (a
    /// document of its own in a listing): the next index, taken, at the current offset.
    pub fn error_chunk(&mut self) -> (u64, u64) {
        let index = self.index;
        self.index = self.index.saturating_add(1);
        (index, self.offset)
    }

    /// An in-stream error chunk delivered on its own as the [`Fragment`] of a listing: a
    /// document of its own, numbered by [`Renumber::error_chunk`].
    #[must_use]
    pub fn error_fragment(&mut self, chunk: ErrorChunk) -> Fragment {
        let (index, offset) = self.error_chunk();
        let mut f = Fragment::of_error_chunk(chunk);
        (f.index, f.offset) = (index, offset);
        f
    }
}

/// Which fragment timestamp an end time is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// `AWS_KINESISVIDEO_PRODUCER_TIMESTAMP`.
    Producer,
    /// `AWS_KINESISVIDEO_SERVER_TIMESTAMP`.
    Server,
}

impl Clock {
    /// The selector's clock: the producer's for `PRODUCER_TIMESTAMP`, else the server's.
    #[must_use]
    pub fn of(selector: &StartSelector) -> Self {
        if matches!(selector, StartSelector::ProducerTimestamp { .. }) {
            Clock::Producer
        } else {
            Clock::Server
        }
    }
}

/// An end time: fragments at or after it are past the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndTime {
    /// Epoch milliseconds (or the producer's milliseconds).
    pub ms: i64,
    /// Which timestamp it is compared with.
    pub clock: Clock,
}

impl EndTime {
    /// The end time `text` (epoch seconds, with a fraction if wanted, or ISO 8601, as
    /// [`StartSelector::parse_timestamp_ms`] reads it) on the clock of `selector`
    /// ([`Clock::of`]); `None` when `text` is neither.
    #[must_use]
    pub fn parse(text: &str, selector: &StartSelector) -> Option<Self> {
        StartSelector::parse_timestamp_ms(text).map(|ms| Self { ms, clock: Clock::of(selector) })
    }

    /// Whether a fragment with this metadata is at or after the end (one without that
    /// timestamp is not).
    #[must_use]
    pub fn is_past(&self, m: &FragmentMetadata) -> bool {
        let at = match self.clock {
            Clock::Producer => m.producer_timestamp_ms,
            Clock::Server => m.server_timestamp_ms,
        };
        at.is_some_and(|t| t >= self.ms)
    }
}

/// What [`EndGate::push`] says.
#[derive(Debug, Clone, PartialEq)]
pub enum Gate {
    /// These events (none while a fragment's start is held) go on, in order.
    Release(Vec<Event>),
    /// The held fragment is at or after the end: stop before it (its held events dropped).
    Past,
}

/// Holds a fragment's first events (its start, tracks, tags, warnings) until its
/// `FragmentMetadata` says whether it is before an [`EndTime`]; without an end time every
/// event goes straight through.
#[derive(Debug, Clone)]
pub struct EndGate {
    end: Option<EndTime>,
    held: Option<Vec<Event>>,
}

impl EndGate {
    /// A gate for this end, or a pass-through for `None`.
    #[must_use]
    pub fn new(end: Option<EndTime>) -> Self {
        EndGate { end, held: None }
    }

    /// The next event.
    pub fn push(&mut self, event: Event) -> Gate {
        let Some(end) = self.end else { return Gate::Release(vec![event]) };
        match (&mut self.held, event) {
            (None, e @ (Event::DocumentStart { .. } | Event::FragmentStart { .. })) => {
                self.held = Some(vec![e]);
                Gate::Release(Vec::new())
            }
            (None, e) => Gate::Release(vec![e]),
            (Some(_), Event::FragmentMetadata(m)) => {
                let held = self.held.take().unwrap_or_default();
                if end.is_past(&m) {
                    return Gate::Past;
                }
                let mut events = held;
                events.push(Event::FragmentMetadata(m));
                Gate::Release(events)
            }
            (Some(held), e @ (Event::Tracks(_) | Event::Tag(_) | Event::Warning(_))) => {
                held.push(e);
                Gate::Release(Vec::new())
            }
            (Some(_), e) => {
                let mut events = self.held.take().unwrap_or_default();
                events.push(e);
                Gate::Release(events)
            }
        }
    }

    /// The fragment being read was cut (a `FragmentAborted`): what is held of it is dropped
    /// (it comes again whole).
    pub fn abort(&mut self) {
        self.held = None;
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::field_reassign_with_default
)]
mod tests {
    use kvs_chunk::{FragmentEnd, FragmentNumber};

    use super::*;

    struct FailAfter {
        left: usize,
        written: Vec<u8>,
    }
    impl Write for FailAfter {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.left == 0 {
                return Err(io::ErrorKind::BrokenPipe.into());
            }
            let n = buf.len().min(self.left);
            self.left -= n;
            self.written.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn error_fragments_take_the_next_index_at_the_current_offset() {
        let mut numbers = Renumber::new();
        let _ = numbers.map(Event::DocumentStart { index: 0, offset: 0 });
        let _ = numbers.map(Event::DocumentEnd { index: 0, offset: 0, end: 100 });
        let mut chunk = ErrorChunk::default();
        chunk.code = Some("ACCESS_DENIED".to_owned());
        let f = numbers.error_fragment(chunk.clone());
        assert_eq!((f.index, f.offset), (1, 100));
        assert_eq!(f.error(), Some(&chunk));
        let g = numbers.error_fragment(ErrorChunk::default());
        assert_eq!((g.index, g.offset), (2, 100));
    }

    #[test]
    fn end_times_parse_on_the_selector_clock() {
        let producer = StartSelector::ProducerTimestamp { millis: 0 };
        assert_eq!(
            EndTime::parse("1511852109.126", &producer),
            Some(EndTime { ms: 1_511_852_109_126, clock: Clock::Producer })
        );
        assert_eq!(
            EndTime::parse("2017-11-28T06:55:09.126Z", &StartSelector::Earliest),
            Some(EndTime { ms: 1_511_852_109_126, clock: Clock::Server })
        );
        assert_eq!(EndTime::parse("soon", &StartSelector::Now), None);
    }

    #[test]
    fn payload_writer_counts_only_documents_written_whole() {
        let mut w = PayloadWriter::new(FailAfter { left: 10, written: Vec::new() });
        w.write_document(b"abcdef").unwrap();
        let e = w.write_document(b"ghijkl").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
        assert_eq!((w.documents(), w.bytes()), (1, 6));
        assert_eq!(w.into_inner().written, b"abcdefghij");
    }

    fn end(index: u64, complete: bool) -> Event {
        let mut end = FragmentEnd::default();
        end.index = index;
        end.complete = complete;
        Event::FragmentEnd(end)
    }

    #[test]
    fn renumber_goes_on_across_connections() {
        let mut r = Renumber::new();
        // Connection 1: one document of 100 bytes at decoder offset 0.
        assert_eq!(
            r.map(Event::DocumentStart { index: 0, offset: 0 }),
            Event::DocumentStart { index: 0, offset: 0 }
        );
        assert_eq!(r.map(end(0, true)), end(0, true));
        assert_eq!(
            r.map(Event::DocumentEnd { index: 0, offset: 0, end: 100 }),
            Event::DocumentEnd { index: 0, offset: 0, end: 100 }
        );
        // An error chunk takes index 1 at offset 100.
        assert_eq!(r.error_chunk(), (1, 100));
        // Connection 2: the decoder starts from 0 again; a merged document of 80 bytes whose
        // second fragment starts 50 bytes in.
        assert_eq!(
            r.map(Event::DocumentStart { index: 0, offset: 0 }),
            Event::DocumentStart { index: 2, offset: 100 }
        );
        assert_eq!(
            r.map(Event::FragmentStart { index: 0, fragment: 1, offset: 50 }),
            Event::FragmentStart { index: 2, fragment: 1, offset: 150 }
        );
        assert_eq!(r.map(end(0, true)), end(2, true));
        assert_eq!(
            r.map(Event::DocumentEnd { index: 0, offset: 0, end: 80 }),
            Event::DocumentEnd { index: 2, offset: 100, end: 180 }
        );
        // Other events pass unchanged.
        let m = Event::FragmentMetadata(FragmentMetadata::default());
        assert_eq!(r.map(m.clone()), m);
    }

    fn metadata(server: i64, producer: i64) -> Event {
        let mut m = FragmentMetadata::default();
        m.fragment_number = Some(FragmentNumber::new("91343852333181432392682062607743920146264440000"));
        m.server_timestamp_ms = Some(server);
        m.producer_timestamp_ms = Some(producer);
        Event::FragmentMetadata(m)
    }

    #[test]
    fn clock_follows_the_selector() {
        assert_eq!(Clock::of(&StartSelector::Earliest), Clock::Server);
        assert_eq!(Clock::of(&StartSelector::ProducerTimestamp { millis: 5 }), Clock::Producer);
        let mut m = FragmentMetadata::default();
        m.server_timestamp_ms = Some(10);
        m.producer_timestamp_ms = Some(20);
        assert!(EndTime { ms: 20, clock: Clock::Producer }.is_past(&m));
        assert!(!EndTime { ms: 20, clock: Clock::Server }.is_past(&m));
        assert!(!EndTime { ms: 0, clock: Clock::Server }.is_past(&FragmentMetadata::default()));
    }

    #[test]
    fn gate_without_end_passes_everything() {
        let mut g = EndGate::new(None);
        let start = Event::DocumentStart { index: 0, offset: 0 };
        assert_eq!(g.push(start.clone()), Gate::Release(vec![start]));
        assert_eq!(g.push(metadata(i64::MAX, 0)), Gate::Release(vec![metadata(i64::MAX, 0)]));
    }

    #[test]
    fn gate_holds_until_the_metadata_then_releases_or_stops() {
        let mut g = EndGate::new(Some(EndTime { ms: 1000, clock: Clock::Server }));
        let start = Event::DocumentStart { index: 0, offset: 0 };
        let tracks = Event::Tracks(Vec::new());
        assert_eq!(g.push(start.clone()), Gate::Release(Vec::new()));
        assert_eq!(g.push(tracks.clone()), Gate::Release(Vec::new()));
        assert_eq!(
            g.push(metadata(999, 5000)),
            Gate::Release(vec![start.clone(), tracks.clone(), metadata(999, 5000)])
        );
        // After the metadata, events pass.
        assert_eq!(g.push(end(0, true)), Gate::Release(vec![end(0, true)]));
        // A cut fragment's held events are dropped.
        assert_eq!(g.push(start.clone()), Gate::Release(Vec::new()));
        g.abort();
        assert_eq!(g.push(end(0, false)), Gate::Release(vec![end(0, false)]));
        // A fragment without metadata is released at its first other event.
        assert_eq!(g.push(start.clone()), Gate::Release(Vec::new()));
        assert_eq!(g.push(end(0, false)), Gate::Release(vec![start.clone(), end(0, false)]));
        // At the end time: stop.
        assert_eq!(g.push(start), Gate::Release(Vec::new()));
        assert_eq!(g.push(metadata(1000, 0)), Gate::Past);
    }
}
