// Tests may unwrap, index and do plain arithmetic: a panic here is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

//! `ImagePool`: several `LiveImages` streams of one kvs-local server sampled at once through
//! one shared pool (of 1 and of 2 threads) give exactly the images each stream gives alone
//! (and what kvs-images computes from the file), and the pool never runs more jobs (or
//! threads) at once than its size.

mod common;

use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use bytes::Bytes;
use common::client;
use kvs_local::{LocalKvs, RunningServer, Source};
use kvs_sdk::kvs_images::{
    Image, ImageFormat, ImageSelector, ImagesRequest, LiveSampler, SampleOptions, Timeline,
};
use kvs_sdk::{ImagePool, LiveImages, MediaConsumer, StartSelector, StreamId};

const BASE: i64 = 1_700_000_000_000;

/// Stream name and backing file; `h264` twice, under two names.
const STREAMS: [(&str, &str); 4] =
    [("h264", "h264.mkv"), ("h265", "h265.mkv"), ("gap", "h264_gap.mkv"), ("h264-again", "h264.mkv")];

fn testdata(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/images").join(name)
}

async fn server() -> RunningServer {
    let mut b = LocalKvs::builder();
    for (name, file) in STREAMS {
        b = b.stream(name, Source::file(testdata(file)).unwrap());
    }
    b.bind("127.0.0.1:0").await.unwrap()
}

/// Every 200 ms over the 4 s files (and past their ends: NO_MEDIA), 48 px high JPEGs.
fn request() -> ImagesRequest {
    ImagesRequest::new(ImageSelector::ProducerTimestamp, BASE - 100, BASE + 4300, 200, ImageFormat::Jpeg)
        .height_pixels(48)
}

fn direct(file: &str) -> Vec<Image> {
    let timeline = Timeline::from_bytes(Bytes::from(std::fs::read(testdata(file)).unwrap())).unwrap();
    let r = request().max_results(100);
    timeline.get_images(&r, &SampleOptions::default()).unwrap().images
}

async fn drain(mut live: LiveImages) -> Vec<Image> {
    let mut got = Vec::new();
    while let Some(image) = live.next().await {
        got.push(image.unwrap());
    }
    got
}

/// A stream's images through `LiveImages::new` on `pool`; with `fragments`, over a consumer
/// in fragment mode (`with_consumer`) instead of the default event mode.
fn live(server: &RunningServer, stream: &str, pool: &ImagePool, fragments: bool) -> LiveImages {
    let request = request();
    let images = if fragments {
        let sampler = LiveSampler::new(&request, &SampleOptions::default()).unwrap();
        let start = StartSelector::producer_timestamp_ms(sampler.next_time_ms().unwrap());
        let consumer = MediaConsumer::builder(client(server), StreamId::name(stream))
            .start(start)
            .fragments_only(true)
            .reconnect_on_end(false)
            .build();
        LiveImages::with_consumer(consumer, sampler)
    } else {
        LiveImages::new(client(server), StreamId::name(stream), &request, &SampleOptions::default(), false)
            .unwrap()
    };
    images.with_pool(pool.clone())
}

/// A stream's images alone, on a pool of its own, and the decodes it ran there (one per
/// fragment that settles samples, and one at the end: 3 to 5 for these files).
async fn alone_jobs(server: &RunningServer, stream: &str) -> (Vec<Image>, u64) {
    let pool = ImagePool::new(1);
    let got = drain(live(server, stream, &pool, false)).await;
    let jobs = pool.stats().jobs;
    assert!((3..=5).contains(&jobs), "{stream}: {jobs} decodes");
    (got, jobs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_sharing_a_pool_give_the_images_each_gives_alone() {
    let server = server().await;
    // Each stream alone, one after another, on a pool of its own; and the file directly.
    let mut alone = Vec::new();
    let mut jobs = 0;
    for (stream, file) in STREAMS {
        let (got, n) = alone_jobs(&server, stream).await;
        assert_eq!(got.len(), 23, "{stream}");
        assert!(got.iter().any(|i| i.content.is_some()), "{stream}");
        assert_eq!(got, direct(file), "{stream} alone");
        alone.push(got);
        jobs += n;
    }
    for size in [1, 2] {
        for fragments in [false, true] {
            let pool = ImagePool::new(size);
            assert_eq!(pool.size(), size);
            let tasks: Vec<_> = STREAMS
                .iter()
                .map(|(stream, _)| tokio::spawn(drain(live(&server, stream, &pool, fragments))))
                .collect();
            for (task, ((stream, _), expected)) in tasks.into_iter().zip(STREAMS.iter().zip(&alone)) {
                let got = task.await.unwrap();
                assert_eq!(
                    &got, expected,
                    "{stream} with 3 others on a pool of {size} (fragments {fragments})"
                );
            }
            let stats = pool.stats();
            // The same decodes as alone: one per fragment that settles samples, one per end.
            assert_eq!(stats.jobs, jobs, "pool of {size}: {stats:?}");
            assert_eq!(stats.running, 0, "{stats:?}");
            assert!(stats.peak_running >= 1 && stats.peak_running <= size, "pool of {size}: {stats:?}");
        }
    }
    server.shutdown().await;
}

/// Decodes through a pool of 1 from six streams at once never overlap: every job the
/// streams ran is counted (a stream decoding on its own async task would leave the count at
/// 0), and at most one ran at any time.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pool_of_one_never_runs_two_decodes_at_once() {
    let server = server().await;
    let mut jobs = 0;
    for (stream, _) in STREAMS.iter().take(3) {
        jobs += 2 * alone_jobs(&server, stream).await.1;
    }
    let pool = ImagePool::new(1);
    let mut tasks = Vec::new();
    for round in 0..2 {
        for (stream, _) in STREAMS.iter().take(3) {
            tasks.push(tokio::spawn(drain(live(&server, stream, &pool, round == 1))));
        }
    }
    for task in tasks {
        assert_eq!(task.await.unwrap().len(), 23);
    }
    let stats = pool.stats();
    assert_eq!(stats.jobs, jobs, "{stats:?}");
    assert_eq!(stats.peak_running, 1, "{stats:?}");
    assert!(stats.busy > Duration::ZERO, "{stats:?}");
    server.shutdown().await;
}

/// Runs `jobs` jobs of `threads` permits each (the `threads` of job `i` is `weights[i %
/// len]`) on `pool` at once; each waits (up to 2 s) for the permits in use to reach the
/// pool's size, so that a pool admitting too many is caught, and returns the most permits
/// that were in use at once.
async fn most_permits_at_once(pool: &ImagePool, jobs: usize, weights: &[usize]) -> usize {
    let state = Arc::new((Mutex::new((0usize, 0usize)), Condvar::new()));
    let size = pool.size();
    let mut tasks = Vec::new();
    for i in 0..jobs {
        let weight = weights[i % weights.len()];
        let state = Arc::clone(&state);
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            pool.run(weight, move || {
                let (lock, cvar) = &*state;
                let mut g = lock.lock().unwrap();
                g.0 += weight;
                g.1 = g.1.max(g.0);
                cvar.notify_all();
                let (mut g, _) = cvar.wait_timeout_while(g, Duration::from_secs(2), |g| g.0 < size).unwrap();
                // Hold on a little longer so that a pool admitting too many is seen.
                drop(g);
                std::thread::sleep(Duration::from_millis(20));
                g = lock.lock().unwrap();
                g.0 -= weight;
            })
            .await
            .unwrap();
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    state.0.lock().unwrap().1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pool_runs_up_to_its_size_at_once_weighted_by_threads() {
    // One at a time, never two.
    let one = ImagePool::new(1);
    assert_eq!(most_permits_at_once(&one, 6, &[1]).await, 1);
    assert_eq!(one.stats().peak_running, 1);
    assert_eq!(one.stats().jobs, 6);
    // A job asking for more threads than the pool has takes all of it.
    assert_eq!(most_permits_at_once(&one, 3, &[4]).await, 4);
    // Two at a time, and they do run together (the bound is reached, not just kept).
    let two = ImagePool::new(2);
    assert_eq!(most_permits_at_once(&two, 6, &[1]).await, 2);
    assert_eq!(two.stats().peak_running, 2);
    // A job of 2 threads on a pool of 2 runs alone: never 3 permits in use.
    let mixed = ImagePool::new(2);
    assert!(most_permits_at_once(&mixed, 8, &[2, 1, 1]).await <= 2);
    // The default: one per core.
    assert_eq!(
        ImagePool::new(0).size(),
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    );
    assert_eq!(ImagePool::shared().size(), ImagePool::new(0).size());
    // A job that panics is an error, and the pool goes on.
    assert!(one.run(1, || panic!("boom")).await.is_err());
    assert_eq!(one.run(1, || 7).await.unwrap(), 7);
}

/// LiveImages can move between threads (tasks of a multi-threaded runtime).
#[test]
fn live_images_and_the_pool_are_send() {
    fn send<T: Send>() {}
    fn sync<T: Sync>() {}
    send::<LiveImages>();
    send::<ImagePool>();
    sync::<ImagePool>();
    send::<LiveSampler>();
}
