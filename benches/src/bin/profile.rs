//! One reader over one generated input, for a profiler:
//!
//! ```sh
//! cargo build --profile profiling -p kvs-benches --bin profile
//! valgrind --tool=callgrind target/profiling/profile events-small 5000
//! ```
//!
//! (The `profiling` profile is `release` with debug info and symbols; `release` has neither.)
//!
//! Readers: `events-small N` (kvs-chunk `Events` over N small blocks in memory),
//! `borrowed-small N` (kvs-chunk `SliceEvents` over the same),
//! `tokens-small N` (the kvs-ebml `SliceTokenizer` over the same), `walk-small N` (the
//! bare walker of the comparison, `kvs_benches::walk`, over the same), `generate-small N` (only
//! the input, for `benches/instructions.sh` to subtract), `chunked-large MB`
//! (kvs-chunk fed 64 KiB chunks of large frames), `chunked-getmedia MB`; a third argument
//! repeats the chunked readers' pass (`chunked-getmedia 300 20`).

// A profiling driver may crash on a bad argument.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::arithmetic_side_effects, clippy::panic)]

use std::hint::black_box;

use bytes::Bytes;
use kvs_benches::{
    GetMediaShape, LargeFrames, SmallBlocks, getmedia_payload, large_frames, many_small_blocks,
};
use kvs_chunk::{Event, EventDecoder, Events};

fn chunked(data: &Bytes) -> u64 {
    let mut frames = 0;
    let mut decoder = EventDecoder::new();
    let mut at = 0;
    while at < data.len() {
        let end = data.len().min(at + (64 << 10));
        decoder.feed(data.slice(at..end));
        at = end;
        while let Some(e) = decoder.next_event().unwrap() {
            if let Event::Frame(f) = e {
                frames += 1;
                black_box(f);
            }
        }
    }
    decoder.finish();
    while decoder.next_event().unwrap().is_some() {}
    frames
}

fn main() {
    let mut args = std::env::args().skip(1);
    let what = args.next().unwrap_or_else(|| "events-small".into());
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(5000);
    // Passes over the input once generated (so that a profile is about reading, not writing).
    let passes: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(1).max(1);
    let frames = match what.as_str() {
        "events-small" | "borrowed-small" | "tokens-small" | "walk-small" | "generate-small" => {
            let data =
                Bytes::from(many_small_blocks(&SmallBlocks { blocks: n, ..SmallBlocks::default() }).unwrap());
            match what.as_str() {
                "events-small" => (0..passes)
                    .map(|_| {
                        Events::new(data.clone()).filter(|e| matches!(e, Ok(Event::Frame(_)))).count() as u64
                    })
                    .sum(),
                "borrowed-small" => (0..passes)
                    .map(|_| {
                        kvs_chunk::SliceEvents::new(&data)
                            .filter(|e| matches!(e, Ok(Event::Frame(_))))
                            .count() as u64
                    })
                    .sum(),
                "tokens-small" => kvs_ebml::SliceTokenizer::new(&data).count() as u64,
                "walk-small" => kvs_benches::walk(&data, |payload| {
                    black_box(payload);
                }) as u64,
                // Only the input: `benches/instructions.sh` subtracts this from the readers.
                _ => black_box(data).len() as u64,
            }
        }
        "chunked-large" => {
            let shape = LargeFrames { total: n << 20, ..LargeFrames::default() };
            let data = Bytes::from(large_frames(&shape).unwrap());
            (0..passes).map(|_| chunked(&data)).sum()
        }
        "chunked-getmedia" => {
            let shape = GetMediaShape::default();
            let fragments = ((n << 20) / (shape.frames * shape.frame_len)).max(1) as u64;
            let data = Bytes::from(getmedia_payload(fragments, &shape).unwrap());
            (0..passes).map(|_| chunked(&data)).sum()
        }
        other => panic!("unknown reader {other}"),
    };
    println!("{what}: {frames}");
}
