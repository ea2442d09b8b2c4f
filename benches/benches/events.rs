//! kvs-chunk event throughput (full typed events with `Bytes` frames), compared in the same
//! run with a bare kvs-ebml tokenizer pass over the same input:
//!
//! - many small blocks (46,000 SimpleBlocks of 600 bytes), in memory: events per second;
//! - large frames (64 MB of 200 KB frames), fed in 64 KiB chunks: bytes per second.
//!
//! Run: `cargo bench -p kvs-benches --bench events`.

// A bench may crash on failure, like a test: unwraps and indexing are fine here.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    missing_docs
)]

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kvs_benches::{LargeFrames, SmallBlocks, large_frames, many_small_blocks};
use kvs_chunk::{Event, EventDecoder};
use kvs_ebml::Tokenizer;

const CHUNK: usize = 64 << 10;

fn chunks(data: &Bytes) -> Vec<Bytes> {
    (0..data.len()).step_by(CHUNK).map(|i| data.slice(i..(i + CHUNK).min(data.len()))).collect()
}

/// Every event of `input`, frames counted.
fn events(input: &[Bytes]) -> (u64, u64) {
    let (mut events, mut frames) = (0u64, 0u64);
    let mut decoder = EventDecoder::new();
    let mut pull = |d: &mut EventDecoder| {
        while let Some(e) = d.next_event().unwrap() {
            events += 1;
            if let Event::Frame(f) = e {
                frames += 1;
                black_box(f.data);
            }
        }
    };
    for c in input {
        decoder.feed(c.clone());
        pull(&mut decoder);
    }
    decoder.finish();
    pull(&mut decoder);
    (events, frames)
}

/// Every token of `input`, nothing else.
fn tokens(input: &[Bytes]) -> u64 {
    let mut n = 0u64;
    let mut t = Tokenizer::new();
    for c in input {
        t.feed(c.clone());
        while let Some(tok) = t.next_token().unwrap() {
            black_box(tok);
            n += 1;
        }
    }
    t.finish();
    while let Some(tok) = t.next_token().unwrap() {
        black_box(tok);
        n += 1;
    }
    n
}

fn bench(c: &mut Criterion) {
    let small = Bytes::from(many_small_blocks(&SmallBlocks::default()).unwrap());
    let whole = vec![small.clone()];
    let (n_events, n_frames) = events(&whole);
    println!(
        "many small blocks: {} bytes, {n_events} events, {n_frames} frames, {} tokens",
        small.len(),
        tokens(&whole)
    );
    let mut g = c.benchmark_group("events/many_small_blocks");
    g.sample_size(10).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    g.throughput(Throughput::Elements(n_events));
    g.bench_function("kvs-chunk events", |b| b.iter(|| events(&whole)));
    g.bench_function("kvs-ebml tokens", |b| b.iter(|| tokens(&whole)));
    g.finish();

    let large = Bytes::from(large_frames(&LargeFrames::default()).unwrap());
    let pieces = chunks(&large);
    println!("large frames: {} bytes in {} chunks of 64 KiB", large.len(), pieces.len());
    let mut g = c.benchmark_group("events/large_frames_64k_chunks");
    g.sample_size(10).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    g.throughput(Throughput::Bytes(large.len() as u64));
    g.bench_function("kvs-chunk events", |b| b.iter(|| events(&pieces)));
    g.bench_function("kvs-ebml tokens", |b| b.iter(|| tokens(&pieces)));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
