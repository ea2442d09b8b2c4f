//! The I/O shells around the one decoder give what the in-memory `Events` gives: the tokio
//! codec (`codec::read_events`) over `&[u8]` and over a small-buffered `tokio::io::BufReader`,
//! `EventStream` over streams of `Bytes` chunks (64 KiB and odd sizes), `FragmentStream`
//! versus `Fragments`, and the sync `ReadEvents` over a reader that returns one byte at a time
//! and is interrupted. A failing chunk stream surfaces as `Error::Transport`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod common;

use std::io::{ErrorKind, Read};

use bytes::Bytes;
use common::{Item, items, read};
use futures_util::{StreamExt, stream};
use kvs_chunk::{Error, Event, Events, Fragment, Fragments, ReadEvents};
use kvs_chunk::{EventStream, FragmentStream, read_events};

/// Every conformance file and every `testdata/*.mkv`, with the in-memory reader's items.
fn corpus() -> Vec<(String, Bytes, Vec<Item>)> {
    let mut paths = Vec::new();
    // Without ../shared the committed files are still checked (the skip is recorded, or the
    // test fails under CI).
    if common::conformance_dir().is_some() {
        for sub in ["kvs-java", "yacchi-ebml/fixtures/kvs"] {
            if let Some(dir) = common::conformance_path(sub) {
                paths.extend(common::mkv_files(&dir));
            }
        }
    }
    paths.extend(common::testdata_mkv_files());
    paths
        .iter()
        .map(|p| {
            let input = read(p);
            let expected = items(Events::new(input.clone()));
            (common::name(p), input, expected)
        })
        .collect()
}

fn chunks(input: &Bytes, size: usize) -> Vec<Result<Bytes, std::io::Error>> {
    (0..input.len()).step_by(size).map(|at| Ok(input.slice(at..(at + size).min(input.len())))).collect()
}

async fn collect<S: futures_util::Stream<Item = Result<Event, Error>> + Unpin>(mut s: S) -> Vec<Item> {
    let mut out = Vec::new();
    while let Some(item) = s.next().await {
        out.push(item.map_err(|e| e.to_string()));
    }
    out
}

fn fragment_items(input: &Bytes) -> Vec<Result<Fragment, String>> {
    Fragments::new(Events::new(input.clone())).map(|r| r.map_err(|e| e.to_string())).collect()
}

#[tokio::test(flavor = "current_thread")]
async fn read_events_over_a_slice_and_a_buf_reader() {
    for (name, input, expected) in corpus() {
        let got = collect(read_events(&input[..])).await;
        assert!(got == expected, "{name}: read_events(&[u8])");
        // A BufReader with an odd, small buffer hands the codec short reads.
        let reader = tokio::io::BufReader::with_capacity(1021, &input[..]);
        let got = collect(read_events(reader)).await;
        assert!(got == expected, "{name}: read_events(BufReader)");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn event_stream_over_chunk_streams() {
    for (name, input, expected) in corpus() {
        for size in [64 * 1024, 4093, 777, 13] {
            if size < 1024 && input.len() > 256 * 1024 {
                continue; // tiny chunks of the big captures add time, not coverage
            }
            let got = collect(EventStream::new(stream::iter(chunks(&input, size)))).await;
            assert!(got == expected, "{name}: EventStream, {size}-byte chunks");
        }
        // One chunk, and chunks of growing odd sizes.
        let got = collect(EventStream::new(stream::iter(vec![Ok::<_, std::io::Error>(input.clone())]))).await;
        assert!(got == expected, "{name}: one chunk");
        let mut parts = Vec::new();
        let (mut at, mut size) = (0, 1);
        while at < input.len() {
            let end = (at + size).min(input.len());
            parts.push(Ok::<_, std::io::Error>(input.slice(at..end)));
            at = end;
            size = size * 3 + 1;
        }
        let got = collect(EventStream::new(stream::iter(parts))).await;
        assert!(got == expected, "{name}: growing chunks");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn fragment_stream_matches_fragments() {
    for (name, input, _) in corpus() {
        let expected = fragment_items(&input);
        let events = EventStream::new(stream::iter(chunks(&input, 4093)));
        let mut s = FragmentStream::new(events);
        let mut got = Vec::new();
        while let Some(f) = s.next().await {
            got.push(f.map_err(|e| e.to_string()));
        }
        assert!(got == expected, "{name}: FragmentStream");
        // And over the codec.
        let mut s = FragmentStream::new(read_events(&input[..]));
        let mut got = Vec::new();
        while let Some(f) = s.next().await {
            got.push(f.map_err(|e| e.to_string()));
        }
        assert!(got == expected, "{name}: FragmentStream over read_events");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_transport_error_surfaces_as_transport() {
    let Some(path) = common::conformance_path("kvs-java/output_get_media.mkv") else { return };
    let input = read(&path);
    let expected = items(Events::new(input.clone()));
    // The connection drops after 1 MB.
    let cut = 1_000_000;
    let parts = vec![
        Ok(input.slice(..cut / 2)),
        Ok(input.slice(cut / 2..cut)),
        Err(std::io::Error::new(ErrorKind::ConnectionReset, "connection reset by peer")),
        Ok(input.slice(cut..)),
    ];
    let mut s = EventStream::new(stream::iter(parts));
    let mut got = Vec::new();
    let mut transport = None;
    while let Some(item) = s.next().await {
        match item {
            Ok(e) => got.push(Ok(e)),
            Err(Error::Transport(e)) => {
                transport = Some(e);
                break;
            }
            Err(e) => panic!("{e}"),
        }
    }
    let transport = transport.expect("a transport error");
    assert!(transport.to_string().contains("connection reset"), "{transport}");
    let io = transport.downcast_ref::<std::io::Error>().unwrap();
    assert_eq!(io.kind(), ErrorKind::ConnectionReset);
    // Everything decodable from the first megabyte came before the error, as in the whole
    // file: a strict prefix, ending inside the fragment that was being read.
    assert!(!got.is_empty() && got.len() < expected.len());
    assert!(got[..] == expected[..got.len()]);
    let fragment_ends = got.iter().filter(|e| matches!(e, Ok(Event::FragmentEnd(_)))).count();
    assert_eq!(fragment_ends, 1, "the first fragment ended within the first megabyte");
    // After the error the stream ends.
    assert!(s.next().await.is_none());
}

/// A reader that returns one byte per call and is interrupted before every other byte.
struct Trickle<'a> {
    data: &'a [u8],
    calls: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.calls += 1;
        if self.calls.is_multiple_of(2) {
            return Err(std::io::Error::new(ErrorKind::Interrupted, "signal"));
        }
        let Some((&b, rest)) = self.data.split_first() else { return Ok(0) };
        if buf.is_empty() {
            return Ok(0);
        }
        buf[0] = b;
        self.data = rest;
        Ok(1)
    }
}

#[test]
fn read_events_over_a_one_byte_interrupted_reader() {
    let mut n = 0;
    for (name, input, expected) in corpus() {
        if input.len() > 64 * 1024 {
            continue;
        }
        let got = items(ReadEvents::new(Trickle { data: &input, calls: 0 }).read_size(1));
        assert!(got == expected, "{name}: ReadEvents, one byte at a time, read_size 1");
        let got = items(ReadEvents::new(Trickle { data: &input, calls: 0 }));
        assert!(got == expected, "{name}: ReadEvents, one byte at a time, default read size");
        n += 1;
    }
    println!("{n} files read one byte at a time");
}

#[test]
fn read_events_over_files() {
    for (name, input, expected) in corpus() {
        let got = items(ReadEvents::new(&input[..]));
        assert!(got == expected, "{name}: ReadEvents(&[u8])");
        let got = items(ReadEvents::new(&input[..]).read_size(4093));
        assert!(got == expected, "{name}: ReadEvents read_size 4093");
    }
}

/// A reader over memory that notes how many reads were into a recycled buffer (one that
/// still holds earlier bytes rather than fresh zeros).
struct Buffers<'a> {
    data: &'a [u8],
    /// At most this many bytes per read (a pipe gives less than asked for).
    max: usize,
    recycled: usize,
    reads: usize,
}

impl Read for Buffers<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.recycled += usize::from(buf.iter().any(|&b| b != 0));
        self.reads += 1;
        let n = buf.len().min(self.max);
        self.data.read(&mut buf[..n])
    }
}

/// An event with its frame payload copied out, so the chunk it came from can be recycled.
fn owned(item: Result<Event, Error>) -> Item {
    item.map(|e| match e {
        Event::Frame(mut f) => {
            f.data = Bytes::copy_from_slice(&f.data);
            Event::Frame(f)
        }
        e => e,
    })
    .map_err(|e| e.to_string())
}

/// `ReadEvents` reads into its recent chunks again once no frame refers to them: events must
/// not change when the caller drops every frame at once (buffers recycled at every read), nor
/// when it keeps some (those chunks must stay untouched), and the recycling must happen.
#[test]
fn read_events_recycles_chunks_without_corrupting_frames() {
    for (name, input, expected) in corpus() {
        for size in [61, 4093, 65_536] {
            // Frames copied out and dropped at once: the pool is reused at every read, for
            // full reads and for short ones (the whole buffer is recycled, not what was read).
            for max in [usize::MAX, size / 3 + 1] {
                let mut reader = Buffers { data: &input, max, recycled: 0, reads: 0 };
                let got: Vec<Item> = ReadEvents::new(&mut reader).read_size(size).map(owned).collect();
                assert!(got == expected, "{name}: ReadEvents read_size {size}, frames dropped");
                // Most reads went into a chunk read before (not zero-filled again), once
                // frames mostly fit in a read.
                if size > 61 && reader.reads > 64 {
                    assert!(
                        reader.recycled * 3 >= reader.reads,
                        "{name}: {} of {} reads of {size} (at most {max}) into a recycled buffer",
                        reader.recycled,
                        reader.reads
                    );
                }
            }
            // Every third frame kept until the end: its chunk is never read into again.
            let mut kept = Vec::new();
            let got: Vec<Item> = ReadEvents::new(&input[..])
                .read_size(size)
                .enumerate()
                .map(|(i, item)| {
                    if let Ok(Event::Frame(f)) = &item
                        && i % 3 == 0
                    {
                        kept.push((f.data.clone(), f.data.to_vec()));
                    }
                    owned(item)
                })
                .collect();
            assert!(got == expected, "{name}: ReadEvents read_size {size}, some frames kept");
            for (held, copy) in &kept {
                assert!(held[..] == copy[..], "{name}: a kept frame changed under read_size {size}");
            }
        }
    }
}

#[test]
fn a_read_error_surfaces_as_io_and_ends_the_iterator() {
    struct Failing(usize);
    impl Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0 == 0 {
                return Err(std::io::Error::other("disk on fire"));
            }
            self.0 -= 1;
            // An EBML header and an unknown-size Segment header, then the failure.
            let head = b"\x1A\x45\xDF\xA3\x80\x18\x53\x80\x67\xFF";
            let n = head.len().min(buf.len());
            buf[..n].copy_from_slice(&head[..n]);
            Ok(n)
        }
    }
    let got: Vec<_> = ReadEvents::new(Failing(1)).collect();
    assert!(matches!(got[0], Ok(Event::DocumentStart { index: 0, offset: 0 })));
    let Err(Error::Io(e)) = got.last().unwrap() else { panic!("{got:?}") };
    assert_eq!(e.to_string(), "disk on fire");
    assert_eq!(got.iter().filter(|r| r.is_err()).count(), 1);
}
