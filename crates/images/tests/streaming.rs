// Tests may unwrap, index and do plain arithmetic: a panic here is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

//! The streaming sampler (`sample_reader`, `StreamingSampler`): the same answer as the
//! in-memory `Timeline` for every fixture and request shape, reading stops shortly after the
//! window, and what is held stays bounded however long the stream is.

use std::io::{Cursor, Read};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use kvs_chunk::{Event, Events};
use kvs_images::{
    ImageFormat, ImageSelector, ImagesRequest, SampleOptions, StreamLimits, StreamingSampler, Timeline,
    sample_reader,
};

/// The producer timestamp of every fixture's first fragment.
const BASE: i64 = 1_700_000_000_000;

fn testdata(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/images").join(name)
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(testdata(name)).unwrap()
}

/// A reader that counts the bytes it gives.
struct Counting<R> {
    inner: R,
    read: Arc<AtomicUsize>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n, Ordering::Relaxed);
        Ok(n)
    }
}

/// `copies` copies of the 4 s H.264 GetMedia fixture one after the other, each copy's
/// producer and server timestamps (`17000000SS.mmm` tag strings) moved 4 s later than the
/// one before: a time-ordered stream of `4 * copies` one-second fragments.
fn long_stream(copies: usize) -> Vec<u8> {
    let base = fixture("h264.mkv");
    let mut out = Vec::with_capacity(base.len() * copies);
    for k in 0..copies {
        let mut copy = base.clone();
        let mut i = 0;
        while i + 14 <= copy.len() {
            if copy[i..].starts_with(b"17000000") && copy[i + 10] == b'.' {
                let digits = std::str::from_utf8(&copy[i..i + 10]).unwrap();
                let secs: u64 = digits.parse().unwrap();
                let moved = format!("{}", secs + 4 * k as u64);
                assert_eq!(moved.len(), 10);
                copy[i..i + 10].copy_from_slice(moved.as_bytes());
                i += 14;
            } else {
                i += 1;
            }
        }
        out.extend_from_slice(&copy);
    }
    out
}

/// The frames of the H.264 fixture written again as one plain Matroska document (no
/// service tags: one fragment, the frames' own timestamps), `copies` times over in one
/// cluster: a single fragment with a keyframe every second.
fn plain_single_fragment(copies: usize) -> Vec<u8> {
    use kvs_fixtures::{Block, Cluster, Fragment, Lacing, Track, TrackKind};
    let events: Vec<Event> = Events::new(Bytes::from(fixture("h264.mkv"))).map(|e| e.unwrap()).collect();
    let track = events
        .iter()
        .find_map(|e| match e {
            Event::Tracks(t) => Some(t[0].clone()),
            _ => None,
        })
        .unwrap();
    let frames: Vec<&kvs_chunk::Frame> = events
        .iter()
        .filter_map(|e| match e {
            Event::Frame(f) => Some(f),
            _ => None,
        })
        .collect();
    let first = frames.iter().map(|f| f.timestamp_ns).min().unwrap();
    let mut blocks = Vec::new();
    for k in 0..copies {
        for f in &frames {
            let ms = (f.timestamp_ns - first) / 1_000_000 + 4000 * k as i64;
            blocks.push(Block::Simple {
                track: 1,
                rel_ts: i16::try_from(ms).unwrap(),
                keyframe: f.keyframe,
                invisible: false,
                discardable: false,
                lacing: Lacing::None,
                frames: vec![f.data.to_vec()],
            });
        }
    }
    let fragment = Fragment {
        tracks: vec![Track {
            number: 1,
            uid: 1,
            kind: TrackKind::Video { width: 320, height: 240 },
            codec_id: track.codec_id.clone().unwrap(),
            codec_private: track.codec_private.as_ref().map(|b| b.to_vec()),
            name: None,
            default_duration_ns: None,
        }],
        cluster: Some(Cluster {
            timestamp: 0,
            known_size: false,
            block_size_width: kvs_ebml::writer::SizeWidth::Minimal,
            blocks,
        }),
        ..Fragment::default()
    };
    kvs_fixtures::payload(&[fragment]).unwrap()
}

fn request(start: i64, end: i64, interval: i64) -> ImagesRequest {
    ImagesRequest::new(ImageSelector::ProducerTimestamp, start, end, interval, ImageFormat::Jpeg)
        .height_pixels(48)
        .jpeg_quality(50)
}

fn options(keyframes_only: bool) -> SampleOptions {
    SampleOptions { keyframes_only, ..SampleOptions::default() }
}

/// Both paths over `bytes`; returns the bytes the streaming one read.
fn same_answer(bytes: &[u8], r: &ImagesRequest, o: &SampleOptions) -> usize {
    let expected = Timeline::from_bytes(Bytes::copy_from_slice(bytes)).unwrap().get_images(r, o).unwrap();
    let read = Arc::new(AtomicUsize::new(0));
    let reader = Counting { inner: Cursor::new(bytes), read: Arc::clone(&read) };
    let got = sample_reader(reader, r, o).unwrap();
    assert_eq!(got, expected, "request {r:?}, keyframes only {}", o.keyframes_only);
    read.load(Ordering::Relaxed)
}

#[test]
fn every_fixture_and_request_shape_gives_the_timeline_answer() {
    let windows = [
        (BASE - 1500, BASE + 5000, 500),
        (BASE, BASE + 4000, 250),
        (BASE + 950, BASE + 1050, 200),
        (BASE + 3800, BASE + 6000, 200),
        (BASE + 10_000, BASE + 12_000, 1000),
    ];
    for name in ["h264.mkv", "h265.mkv", "h264_gap.mkv", "audio_only.mkv"] {
        let bytes = fixture(name);
        for (start, end, interval) in windows {
            for keyframes_only in [false, true] {
                for selector in [ImageSelector::ProducerTimestamp, ImageSelector::ServerTimestamp] {
                    let mut r = request(start, end, interval);
                    r.image_selector = selector;
                    same_answer(&bytes, &r, &options(keyframes_only));
                }
            }
        }
        // Pages: each page streamed on its own is the timeline's page.
        let mut token = None;
        loop {
            let r = request(BASE - 500, BASE + 4500, 200).max_results(7).next_token(token.clone());
            same_answer(&bytes, &r, &options(false));
            token = Timeline::from_bytes(Bytes::from(bytes.clone()))
                .unwrap()
                .get_images(&r, &options(false))
                .unwrap()
                .next_token;
            if token.is_none() {
                break;
            }
        }
    }
}

#[test]
fn reading_stops_shortly_after_the_window() {
    let stream = long_stream(200); // 800 one-second fragments, about 20 MB
    for keyframes_only in [false, true] {
        let read = same_answer(&stream, &request(BASE + 500, BASE + 3000, 500), &options(keyframes_only));
        assert!(read < 1024 * 1024, "read {read} of {} bytes for a 3 s window", stream.len());
    }
    // A window in the middle: read up to it and a little more, not to the end.
    let read = same_answer(&stream, &request(BASE + 300_000, BASE + 310_000, 1000), &options(false));
    assert!(read < stream.len() / 2, "read {read} of {}", stream.len());
}

#[test]
fn a_single_fragment_plain_file_streams_by_keyframes() {
    let file = plain_single_fragment(8); // one fragment, 32 s, a keyframe every second
    // The plain file's clock is the frames' own timestamps, from 0.
    for keyframes_only in [false, true] {
        let read = same_answer(&file, &request(0, 2000, 200), &options(keyframes_only));
        assert!(read < file.len() / 2, "read {read} of {}", file.len());
        same_answer(&file, &request(15_000, 18_000, 300), &options(keyframes_only));
        same_answer(&file, &request(30_000, 33_000, 300), &options(keyframes_only));
    }
}

/// Pushes every event of `bytes` into a sampler; returns its peak held bytes.
fn peak_held(bytes: &[u8], r: &ImagesRequest, keyframes_only: bool) -> (usize, usize) {
    let o = options(keyframes_only);
    let plan = r.plan(&o.limits).unwrap();
    let times: Vec<i64> = plan.page().map(|i| plan.sample_time(i)).collect();
    let mut sampler = StreamingSampler::new(plan, &times, &o, StreamLimits::default());
    let mut most_fragments = 0;
    for event in kvs_chunk::ReadEvents::new(Cursor::new(bytes)) {
        sampler.push_event(event.unwrap());
        most_fragments = most_fragments.max(sampler.held_fragments());
        if sampler.is_done() {
            break;
        }
    }
    assert!(!sampler.degraded());
    let peak = sampler.peak_held_bytes();
    let expected = Timeline::from_bytes(Bytes::copy_from_slice(bytes)).unwrap().get_images(r, &o).unwrap();
    assert_eq!(sampler.finish(), expected.images);
    (peak, most_fragments)
}

#[test]
fn what_is_held_stays_bounded_however_long_the_stream() {
    // The window at the end of the stream: everything before it passes through.
    for keyframes_only in [false, true] {
        let mut peaks = Vec::new();
        for copies in [25, 100] {
            let stream = long_stream(copies);
            let end = BASE + 4000 * copies as i64;
            let (peak, fragments) = peak_held(&stream, &request(end - 3000, end, 500), keyframes_only);
            eprintln!(
                "{copies} copies, keyframes only {keyframes_only}: peak {peak} bytes, {fragments} fragments"
            );
            assert!(peak < 1024 * 1024, "{copies} copies: {peak} bytes held");
            assert!(fragments <= 16, "{copies} copies: {fragments} fragments held");
            peaks.push(peak);
        }
        // Four times the stream, not more held.
        assert!(peaks[1] <= peaks[0] + 64 * 1024, "{peaks:?}");
    }
    // A single fragment: frame data goes by groups of pictures.
    let file = plain_single_fragment(8);
    let (peak, _) = peak_held(&file, &request(29_000, 31_000, 500), false);
    eprintln!("single fragment: peak {peak} of {} bytes", file.len());
    assert!(peak < file.len() / 2, "{peak} of {} bytes held", file.len());
}

#[test]
fn over_the_limit_the_sampler_degrades_instead_of_growing() {
    let stream = long_stream(10);
    let r = request(BASE, BASE + 40_000, 1000);
    let o = options(false);
    let plan = r.plan(&o.limits).unwrap();
    let times: Vec<i64> = plan.page().map(|i| plan.sample_time(i)).collect();
    let limit = 16 * 1024;
    let mut sampler = StreamingSampler::new(plan, &times, &o, StreamLimits { max_held_bytes: limit });
    for event in Events::new(Bytes::from(stream)) {
        sampler.push_event(event.unwrap());
        assert!(sampler.held_bytes() <= limit + 64 * 1024);
    }
    let images = sampler.finish();
    assert_eq!(images.len(), times.len());
}

#[test]
fn media_going_back_in_time_does_not_change_settled_samples() {
    // The H.264 fixture, then the H.265 one over the same four seconds (producer timestamps
    // going back): the in-memory path shows the later (H.265) fragments, the streaming one
    // has settled the first seconds from the H.264 fragments before the H.265 ones arrive.
    let mut stream = fixture("h264.mkv");
    stream.extend(fixture("h265.mkv"));
    let r = request(BASE, BASE + 2500, 500);
    let o = options(false);
    let streamed = sample_reader(Cursor::new(&stream), &r, &o).unwrap();
    let h264_alone = sample_reader(Cursor::new(fixture("h264.mkv")), &r, &o).unwrap();
    let in_memory = Timeline::from_bytes(Bytes::from(stream)).unwrap().get_images(&r, &o).unwrap();
    assert_eq!(streamed, h264_alone);
    assert_ne!(streamed, in_memory);
    assert!(streamed.images.iter().all(|i| i.content.is_some()));
}

#[test]
fn random_windows_give_the_timeline_answer() {
    let inputs = [(long_stream(10), BASE), (plain_single_fragment(8), 0)];
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = |n: u64| {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) % n
    };
    for (bytes, origin) in &inputs {
        for _ in 0..12 {
            let start = origin - 2000 + next(44_000) as i64;
            let interval = 200 + next(2800) as i64;
            let end = start + next(12_000) as i64;
            let mut r = request(start, end, interval);
            if next(2) == 0 {
                r = r.max_results(1 + next(20) as i64);
            }
            same_answer(bytes, &r, &options(next(3) == 0));
        }
    }
}
