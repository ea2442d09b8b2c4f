//! Tokenizer throughput on two generated inputs (see `kvs_benches`): many small blocks, and
//! large frames. For each: the `SliceTokenizer` over the whole buffer, the streaming
//! `Tokenizer` fed one `Bytes`, the same fed 64 KiB chunks, and a bare hand-rolled EBML walker
//! (reads id and size, descends into Segment and Cluster, skips everything else, counts
//! SimpleBlocks): the practical speed limit of any EBML reader on this input.
//!
//! Run: `cargo bench -p kvs-benches` (a few minutes). Token counts per pass are printed first,
//! so that tokens per second can be derived from the times.

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
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use kvs_benches::{LargeFrames, SmallBlocks, large_frames, many_small_blocks, walk};
use kvs_ebml::{SliceTokenizer, Token, Tokenizer, ids};

const CHUNK: usize = 64 << 10;

/// Counts tokens and SimpleBlocks with the slice tokenizer.
fn slice_tokens(data: &[u8]) -> (usize, usize) {
    let (mut tokens, mut blocks) = (0, 0);
    for t in SliceTokenizer::new(data) {
        let t = t.unwrap();
        tokens += 1;
        if matches!(t, Token::Leaf { header, .. } if header.id == ids::SIMPLE_BLOCK) {
            blocks += 1;
        }
    }
    (tokens, blocks)
}

/// Counts tokens and SimpleBlocks with the streaming tokenizer fed `chunks`.
fn stream_tokens<'a>(chunks: impl IntoIterator<Item = &'a Bytes>) -> (usize, usize) {
    let (mut tokens, mut blocks) = (0, 0);
    let mut tokenizer = Tokenizer::new();
    let mut pull = |tokenizer: &mut Tokenizer| {
        while let Some(t) = tokenizer.next_token().unwrap() {
            tokens += 1;
            if let Token::Leaf { header, value } = t
                && header.id == ids::SIMPLE_BLOCK
            {
                black_box(value);
                blocks += 1;
            }
        }
    };
    for chunk in chunks {
        tokenizer.feed(chunk.clone());
        pull(&mut tokenizer);
    }
    tokenizer.finish();
    pull(&mut tokenizer);
    (tokens, blocks)
}

fn bench_input(c: &mut Criterion, name: &str, data: Vec<u8>) {
    let data = Bytes::from(data);
    let chunks: Vec<Bytes> =
        (0..data.len()).step_by(CHUNK).map(|at| data.slice(at..(at + CHUNK).min(data.len()))).collect();
    let (tokens, blocks) = slice_tokens(&data);
    assert_eq!(stream_tokens([&data]), (tokens, blocks));
    assert_eq!(stream_tokens(&chunks), (tokens, blocks));
    assert_eq!(walk(&data, |_| {}), blocks);
    println!("{name}: {} bytes, {tokens} tokens, {blocks} SimpleBlocks per pass", data.len());

    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Bytes(data.len() as u64));
    group.bench_function(BenchmarkId::new("slice_tokenizer", "whole"), |b| {
        b.iter(|| black_box(slice_tokens(black_box(&data))));
    });
    group.bench_function(BenchmarkId::new("tokenizer", "one_bytes"), |b| {
        b.iter(|| black_box(stream_tokens([black_box(&data)])));
    });
    group.bench_function(BenchmarkId::new("tokenizer", "64KiB_chunks"), |b| {
        b.iter(|| black_box(stream_tokens(black_box(&chunks))));
    });
    group.bench_function(BenchmarkId::new("bare_walker", "whole"), |b| {
        b.iter(|| black_box(walk(black_box(&data), |_| {})));
    });
    group.finish();
}

fn tokenizer(c: &mut Criterion) {
    bench_input(c, "many_small_blocks", many_small_blocks(&SmallBlocks::default()).unwrap());
    bench_input(c, "large_frames", large_frames(&LargeFrames::default()).unwrap());
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = tokenizer
}
criterion_main!(benches);
