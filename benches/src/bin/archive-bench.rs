//! The archive read of an hour: kvs-sdk's `ArchiveReader` (1, 2 and 4 GetMediaForFragmentList
//! calls in flight) against the Java parser library's sequential example-worker pattern
//! emulated here (ListFragments, every page; then one GetMediaForFragmentList per batch of
//! 100 fragments, strictly one call at a time, each response parsed to its end before the
//! next call), over the same kvs-local server in this process.
//!
//! The stream: 3,600 one-second fragments (25 frames of 1,000 bytes, a synthetic H.264-labelled
//! track: 90 MB). Every GetMediaForFragmentList response waits `--latency-ms` (default 100)
//! before its first body byte (kvs-local's stall fault at byte 0), as a first-byte latency of
//! the archive; ListFragments answers at once. Each variant runs in a child process (this
//! binary with `--child`), which reports its time and its peak resident memory (`VmHWM` of
//! `/proc/self/status`).
//!
//! ```sh
//! cargo run --release -p kvs-benches --bin archive-bench             # about a minute
//! cargo run --release -p kvs-benches --bin archive-bench -- --quick  # 600 fragments
//! cargo run --release -p kvs-benches --bin archive-bench -- --latency-ms 200
//! ```

// A benchmark binary may crash on failure, like a test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::cast_precision_loss
)]

use std::process::Command;

use kvs_benches::flags::arg;
use kvs_benches::proc::{local_client, peak_kib};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use kvs_chunk::{EventDecoder, FragmentAssembler};
use kvs_local::synthetic::SyntheticSpec;
use kvs_local::{Faults, LoadOptions, LocalKvs, Source};
use kvs_sdk::{
    ArchiveItem, ArchiveReader, FragmentClock, FragmentInfo, FragmentSelector, ListFragmentsRequest, StreamId,
};

/// What a child measured.
#[derive(Debug, Clone, Copy, Default)]
struct Measured {
    fragments: u64,
    frames: u64,
    bytes: u64,
    secs: f64,
    peak_kib: Option<u64>,
}

/// The Java example workers' pattern: every ListFragments page, then one
/// GetMediaForFragmentList per batch, one at a time, each response parsed to its end.
async fn java_sequential(url: &str, selector: FragmentSelector, batch: usize) -> Measured {
    let kvs = local_client(url).unwrap();
    let stream = StreamId::name("cam");
    let mut listed: Vec<FragmentInfo> = Vec::new();
    let mut request = ListFragmentsRequest::new(selector).max_results(1000);
    loop {
        let page = kvs.list_fragments_page(&stream, &request).await.unwrap();
        listed.extend(page.fragments);
        match page.next_token {
            Some(t) => request = request.next_token(t),
            None => break,
        }
    }
    kvs_sdk::sort_fragments(&mut listed, selector.clock());
    let mut m = Measured::default();
    for chunk in listed.chunks(batch) {
        let numbers: Vec<_> = chunk.iter().map(|f| f.fragment_number.clone()).collect();
        let mut payload = kvs.get_media_for_fragment_list(&stream, &numbers).await.unwrap();
        let mut decoder = EventDecoder::new();
        let mut assembler = FragmentAssembler::new();
        let mut pull = |d: &mut EventDecoder, m: &mut Measured| {
            while let Some(e) = d.next_event().unwrap() {
                if let Some(f) = assembler.push(e) {
                    m.fragments += 1;
                    m.frames += f.frames.len() as u64;
                }
            }
        };
        while let Some(bytes) = payload.next_chunk().await.unwrap() {
            m.bytes += bytes.len() as u64;
            decoder.feed(bytes);
            pull(&mut decoder, &mut m);
        }
        decoder.finish();
        pull(&mut decoder, &mut m);
    }
    m
}

/// kvs-sdk's reader.
async fn reader(url: &str, selector: FragmentSelector, in_flight: usize, interval: Duration) -> Measured {
    let mut r = ArchiveReader::builder(local_client(url).unwrap(), StreamId::name("cam"), selector)
        .max_in_flight(in_flight)
        .call_interval(interval)
        .max_retries(Some(3))
        .build();
    let mut m = Measured::default();
    while let Some(item) = r.next().await {
        if let ArchiveItem::Fragment { fragment, .. } = item.unwrap() {
            m.fragments += 1;
            m.frames += fragment.frames.len() as u64;
        }
    }
    m.bytes = r.metrics().bytes();
    m
}

fn child(args: &[String]) {
    let url = arg(args, "--url").unwrap().to_owned();
    let start: i64 = arg(args, "--start").unwrap().parse().unwrap();
    let end: i64 = arg(args, "--end").unwrap().parse().unwrap();
    let variant = arg(args, "--child").unwrap().to_owned();
    let selector = FragmentSelector::new(FragmentClock::Server, start, end).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let t = Instant::now();
    let mut m = rt.block_on(async {
        match variant.as_str() {
            "java" => java_sequential(&url, selector, 100).await,
            v => {
                // reader-N-MS: N calls in flight, MS ms between calls.
                let mut parts = v.strip_prefix("reader-").unwrap().split('-');
                let n: usize = parts.next().unwrap().parse().unwrap();
                let ms: u64 = parts.next().unwrap().parse().unwrap();
                reader(&url, selector, n, Duration::from_millis(ms)).await
            }
        }
    });
    m.secs = t.elapsed().as_secs_f64();
    m.peak_kib = peak_kib();
    println!(
        "RESULT {} {} {} {} {}",
        m.fragments,
        m.frames,
        m.bytes,
        m.secs,
        m.peak_kib.map_or("-".into(), |k| k.to_string())
    );
}

fn run_child(variant: &str, url: &str, start: i64, end: i64) -> Result<Measured, String> {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--child", variant, "--url", url, "--start", &start.to_string(), "--end", &end.to_string()])
        .output()
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with("RESULT ")).ok_or_else(|| {
        format!("no result ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim())
    })?;
    let v: Vec<&str> = line.split_whitespace().skip(1).collect();
    Ok(Measured {
        fragments: v[0].parse().unwrap(),
        frames: v[1].parse().unwrap(),
        bytes: v[2].parse().unwrap(),
        secs: v[3].parse().unwrap(),
        peak_kib: v[4].parse().ok(),
    })
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if arg(&args, "--child").is_some() {
        child(&args);
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let latency_ms: u64 = arg(&args, "--latency-ms").map_or(100, |v| v.parse().unwrap());
    let fragments = if quick { 600 } else { 3600 };
    let spec = SyntheticSpec {
        clusters: fragments,
        frames_per_cluster: 25,
        frame_interval_ms: 40,
        first_cluster_ms: 0,
        frame_size: 1000,
    };
    let source = Source::from_bytes(spec.plain_mkv().unwrap(), &LoadOptions::default()).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let faults = Faults {
        stall: (latency_ms > 0).then(|| Duration::from_millis(latency_ms)),
        stall_after_bytes: Some(0),
        ..Faults::default()
    };
    let server =
        rt.block_on(LocalKvs::builder().stream("cam", source).faults(faults).bind("127.0.0.1:0")).unwrap();
    let served = server.fragments("cam").unwrap();
    let (start, end) = (served[0].server_timestamp_ms, served[served.len() - 1].server_timestamp_ms);
    let url = server.url().to_owned();
    eprintln!(
        "{fragments} fragments of 1 s (25 frames of 1000 bytes) at {url}; {latency_ms} ms to the first byte"
    );
    let variants = [
        ("java", "Java example pattern (sequential)", "1", "none"),
        ("reader-1-0", "kvs-sdk ArchiveReader", "1", "none"),
        ("reader-2-0", "kvs-sdk ArchiveReader", "2", "none"),
        ("reader-4-0", "kvs-sdk ArchiveReader", "4", "none"),
        ("reader-4-200", "kvs-sdk ArchiveReader", "4", "200 ms (default)"),
    ];
    let mut rows = Vec::new();
    for (variant, name, in_flight, spacing) in variants {
        eprintln!("{variant} ...");
        let m = run_child(variant, &url, start, end);
        if let Ok(m) = &m {
            assert_eq!(m.fragments, fragments as u64, "{variant}: every fragment");
            assert_eq!(m.frames, fragments as u64 * 25, "{variant}: every frame");
        }
        rows.push((name, in_flight, spacing, m));
    }
    drop(server);
    println!("{}", kvs_benches::provenance());
    println!();
    println!(
        "Archive read of {fragments} one-second fragments ({} batches of 100), {latency_ms} ms first-byte latency per GetMediaForFragmentList, kvs-local in-process on loopback:",
        fragments.div_ceil(100)
    );
    println!();
    println!("| reader | calls in flight | call spacing | seconds | fragments/s | MB/s | peak RSS |");
    println!("|---|---|---|---|---|---|---|");
    for (name, in_flight, spacing, m) in rows {
        match m {
            Ok(m) => println!(
                "| {name} | {in_flight} | {spacing} | {:.2} | {:.0} | {:.1} | {} |",
                m.secs,
                m.fragments as f64 / m.secs,
                m.bytes as f64 / 1e6 / m.secs,
                m.peak_kib.map_or("n/a".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0))
            ),
            Err(e) => println!("| {name} | {in_flight} | {spacing} | failed: {e} | | | |"),
        }
    }
}
