//! Many live streams in one process: kvs-sdk's `StreamSet` over N live streams of a local
//! kvs-local server (a separate process), every fragment timed, with the CPU and memory the
//! consumer process takes per stream.
//!
//! ```sh
//! cargo run --release -p kvs-benches --bin stream-set-bench                         # N = 0, 1, 100, 500, 1000
//! cargo run --release -p kvs-benches --bin stream-set-bench -- --streams 0,10 --secs 10
//! cargo run --release -p kvs-benches --bin stream-set-bench -- --kvs-mkv target/release/kvs-mkv
//! ```
//!
//! Options: `--streams LIST` (default `0,1,100,500,1000`), `--secs T` measured window per N
//! (default 30), `--warmup S` before it (default 10: every stream connected), `--queue Q`
//! the set's per-stream queue (default 16), `--on-time-ms` (1000), `--clip-secs` (90),
//! `--bitrate` (1M), `--kvs-mkv PATH` to serve with `kvs-mkv serve --live` (default: this
//! binary serves, see below), `--idle` (idle streams: each has one small fragment at the
//! start and the next 10 minutes later, so the window measures open connections that carry
//! no media), `--max-read-buf KIB` (kvs-sdk's HTTP client with each connection's read
//! buffer capped at KIB instead of its default 16), `--stock-client` (the AWS SDK's own
//! HTTP client instead, whose hyper read buffers grow to about 400 KiB), `--verbose`.
//!
//! The clip: ffmpeg's `testsrc2` at 640x360, 25 fps, H.264 (libx264 `veryfast`, no B-frames,
//! a keyframe every second, `--bitrate` capped), in Matroska with one cluster per keyframe,
//! cached in the temporary directory: one fragment a second of about 125 KiB at 1 Mbit/s.
//! Every stream is that file under another name (`cam0`, `cam1`, ...), started at the same
//! instant; in live mode the server sends each fragment whole when the wall clock reaches
//! its (shifted) server timestamp.
//!
//! The server: by default this binary in another process (`--serve`), the kvs-local server
//! of `kvs-mkv serve --live` (one tokio thread, as `serve` runs it) with the clip loaded once
//! and shared by every stream; with `--kvs-mkv PATH`, `kvs-mkv serve --live --stream camI=CLIP
//! ...` itself (which loads the file once per stream). Either way `--max-connections` is
//! 2N + 64 (the GetDataEndpoint calls of the start open connections of their own).
//!
//! The consumer: each N runs in a child process (this binary with `--child`), so that its
//! CPU time and resident memory are the set's alone: one multi-threaded tokio runtime, one
//! `KvsClient`, one `StreamSet` (fragments only, queue Q) with every stream added from NOW;
//! the loop takes each item and drops it. N = 0 is the baseline (runtime, client, empty set).
//! After the warm-up, for T seconds: the CPU time (`/proc/self/stat`), the resident set
//! (`VmRSS`, sampled every 100 ms: the median is "steady", the peak `VmHWM`), the server's
//! CPU time (`/proc/PID/stat`), and for each fragment the wall-clock time the set yielded it.
//! **Lateness** = that time minus the fragment's server timestamp (when kvs-local sends it,
//! whole; a real fragment completes at its server timestamp plus its duration, so this is the
//! stricter clock). A fragment is **on time** within `--on-time-ms`. Expected: every
//! fragment of every stream whose server timestamp is in the window, less its last
//! `--on-time-ms`. Per stream: (steady RSS with N - steady RSS with 0) / N, and CPU / N.

// A benchmark driver may stop on a bad argument or a missing tool.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_possible_wrap
)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use kvs_benches::flags::{arg, num};
use kvs_benches::proc::now_ms;
use kvs_benches::proc::{cpu_seconds, cpu_seconds_of, peak_kib};
use kvs_sdk::{ConsumerEvent, FragmentClock, FragmentSelector, StartSelector, StreamId, StreamSet};

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU", |(_, m)| m.trim())
        .to_owned();
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mem = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse::<u64>().ok()))
        .map_or(String::new(), |kib| format!(", {:.1} GiB RAM", kib as f64 / 1024.0 / 1024.0));
    format!("{model}, {cores} cores available{mem}, Linux {}", kernel.trim())
}

/// The clip (cached): 640x360 H.264 at 25 fps, a keyframe a second, one cluster per keyframe.
fn clip(secs: u32, bitrate: &str) -> PathBuf {
    let dir = std::env::temp_dir().join("kvs-stream-set-bench");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("testsrc2-360p25-{secs}s-gop1-{bitrate}.mkv"));
    if path.exists() {
        return path;
    }
    let partial = dir.join(format!("partial-{}.mkv", std::process::id()));
    let started = Instant::now();
    let status = Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc2=size=640x360:rate=25")
        .args(["-t", &secs.to_string(), "-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "veryfast"])
        .args(["-g", "25", "-keyint_min", "25", "-sc_threshold", "0", "-bf", "0"])
        .args(["-b:v", bitrate, "-maxrate", bitrate, "-bufsize", bitrate])
        .args(["-f", "matroska"])
        .arg(&partial)
        .status()
        .expect("ffmpeg on PATH");
    assert!(status.success(), "ffmpeg failed");
    std::fs::rename(&partial, &path).unwrap();
    println!("made {} in {:.1} s", path.display(), started.elapsed().as_secs_f64());
    path
}

/// `--serve N --clip PATH`: the kvs-local server with N live streams sharing one loaded clip.
fn serve_builtin(args: &[String]) {
    let n: usize = num(args, "--serve", 1);
    let clip = PathBuf::from(arg(args, "--clip").unwrap());
    let source = if args.iter().any(|a| a == "--idle") {
        // One small fragment now, the next in 10 minutes: connections open, no media.
        let spec = kvs_local::synthetic::SyntheticSpec {
            clusters: 2,
            frames_per_cluster: 1,
            frame_interval_ms: 600_000,
            frame_size: 1000,
            ..Default::default()
        };
        kvs_local::Source::from_bytes(spec.plain_mkv().unwrap(), &kvs_local::LoadOptions::default()).unwrap()
    } else {
        kvs_local::Source::file(&clip).unwrap()
    };
    let mut builder = kvs_local::LocalKvs::builder().live(true).max_connections(2 * n + 64);
    for i in 0..n {
        builder = builder.stream(format!("cam{i}"), source.clone());
    }
    drop(source);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async move {
        let server = builder.bind("127.0.0.1:0").await.unwrap();
        println!("kvs-local listening on {}", server.url());
        server.wait().await.unwrap();
    });
}

/// The server process: this binary (`--serve`) or `kvs-mkv serve --live`; its URL.
fn serve(kvs_mkv: Option<&Path>, clip: &Path, n: usize, idle: bool) -> (Child, String) {
    let n = n.max(1);
    let mut cmd = match kvs_mkv {
        Some(bin) => {
            let mut cmd = Command::new(bin);
            cmd.args(["serve", "--live", "--listen", "127.0.0.1:0"]);
            cmd.args(["--max-connections", &(2 * n + 64).to_string()]);
            for i in 0..n {
                cmd.arg("--stream").arg(format!("cam{i}={}", clip.display()));
            }
            cmd
        }
        None => {
            let mut cmd = Command::new(std::env::current_exe().unwrap());
            cmd.args(["--serve", &n.to_string(), "--clip"]).arg(clip);
            if idle {
                cmd.arg("--idle");
            }
            cmd
        }
    };
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = loop {
        let line = lines.next().expect("the server exited").unwrap();
        if let Some(rest) = line.strip_prefix("kvs-local listening on ") {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    // Keep reading (and dropping) its output so that it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, url)
}

/// One N, as a child measured it.
#[derive(Debug, Default, Clone)]
struct Run {
    streams: usize,
    expected: usize,
    delivered: usize,
    on_time: usize,
    worst_ms: i64,
    p50_ms: i64,
    p99_ms: i64,
    errors: usize,
    cpu_s: f64,
    wall_s: f64,
    rss_median_kib: u64,
    rss_min_kib: u64,
    peak_kib: u64,
    server_cpu_s: f64,
}

/// The child: a StreamSet over N streams of `url`; prints a `RESULT` line.
fn child(args: &[String]) {
    let n: usize = num(args, "--child", 1);
    let url = arg(args, "--url").unwrap().to_owned();
    let secs: u64 = num(args, "--secs", 30);
    let warmup: u64 = num(args, "--warmup", 10);
    let queue: usize = num(args, "--queue", 16);
    let on_time_ms: i64 = num(args, "--on-time-ms", 1000);
    let server_pid = arg(args, "--server-pid").unwrap_or("0").to_owned();
    let verbose = args.iter().any(|a| a == "--verbose");
    let max_read_buf: usize = num(args, "--max-read-buf", 0);
    let stock_client = args.iter().any(|a| a == "--stock-client");
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let run = rt.block_on(async move {
        let builder = || {
            kvs_sdk::KvsClient::builder().endpoint_url(&url).region("us-east-1").static_credentials(
                "AKIDLOCAL",
                "secret",
                None,
            )
        };
        let kvs = match (stock_client, max_read_buf) {
            // The AWS SDK's own client: hyper's read buffers grow as they like.
            (true, _) => {
                builder().http_client(kvs_sdk::sdk::aws_smithy_http_client::Builder::new().build_http())
            }
            // kvs-sdk's default client.
            (false, 0) => builder(),
            (false, kib) => builder().http_client(kvs_sdk::http_client_with_read_buffer(kib * 1024)),
        }
        .build()
        .unwrap();
        let mut set =
            StreamSet::builder(kvs.clone()).queue(queue).configure(|b| b.fragments_only(true)).build();
        let handle = set.handle();
        for i in 0..n {
            assert!(handle.add(StreamId::name(format!("cam{i}")), StartSelector::Now));
        }
        // (stream, server timestamp, yielded at) of every fragment of the window.
        let mut got: Vec<(u32, i64, i64)> = Vec::with_capacity(n * (secs as usize + 2));
        let mut errors = 0;
        let warm_until = tokio::time::Instant::now() + Duration::from_secs(warmup);
        let mut warm_fragments = 0usize;
        while let Ok(Some(item)) = tokio::time::timeout_at(warm_until, set.next()).await {
            if let Err(e) = &item.item {
                println!("warm-up: {}: {e}", item.stream);
                errors += 1;
            }
            warm_fragments += usize::from(item.position.is_some());
        }
        if verbose {
            println!("warm-up: {warm_fragments} fragments, {} streams in the set", handle.len());
        }
        let stop = Arc::new(AtomicBool::new(false));
        let sampler = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut samples = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    samples.push(rss_kib());
                    std::thread::sleep(Duration::from_millis(100));
                }
                samples
            })
        };
        let (cpu0, server0, wall0, start) =
            (cpu_seconds(), cpu_seconds_of(&server_pid), Instant::now(), now_ms());
        let until = tokio::time::Instant::now() + Duration::from_secs(secs);
        while let Ok(Some(item)) = tokio::time::timeout_at(until, set.next()).await {
            let at = now_ms();
            match &item.item {
                Ok(ConsumerEvent::Fragment(_)) => {
                    let ts = item.position.as_ref().and_then(|p| p.last.as_ref()?.server_timestamp_ms);
                    let i: u32 = item.stream.as_str()[3..].parse().unwrap();
                    got.push((i, ts.unwrap_or(0), at));
                }
                Ok(_) => {}
                Err(e) => {
                    println!("{}: {e}", item.stream);
                    errors += 1;
                }
            }
        }
        let (cpu_s, server_cpu_s, wall_s) =
            (cpu_seconds() - cpu0, cpu_seconds_of(&server_pid) - server0, wall0.elapsed().as_secs_f64());
        let end = now_ms();
        stop.store(true, Ordering::Relaxed);
        let mut samples = sampler.join().unwrap();
        samples.sort_unstable();
        let peak = peak_kib().unwrap_or(0);
        drop(set);
        // The fragments sent in the window (every stream has the same timestamps).
        let listed = if n == 0 {
            Vec::new()
        } else {
            kvs.list_fragments(
                &StreamId::name("cam0"),
                FragmentSelector::new(FragmentClock::Server, start, end - on_time_ms).unwrap(),
                None,
            )
            .await
            .unwrap()
        };
        let window: Vec<i64> = listed.iter().map(|f| f.server_timestamp_ms).collect();
        let mut lateness: Vec<i64> =
            got.iter().filter(|(_, ts, _)| window.contains(ts)).map(|(_, ts, at)| at - ts).collect();
        lateness.sort_unstable();
        let pick =
            |q: f64| lateness.get(((lateness.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or(0);
        Run {
            streams: n,
            expected: window.len() * n,
            delivered: lateness.len(),
            on_time: lateness.iter().filter(|&&l| l <= on_time_ms).count(),
            worst_ms: lateness.last().copied().unwrap_or(0),
            p50_ms: pick(0.5),
            p99_ms: pick(0.99),
            errors,
            cpu_s,
            wall_s,
            rss_median_kib: samples.get(samples.len() / 2).copied().unwrap_or(0),
            rss_min_kib: samples.first().copied().unwrap_or(0),
            peak_kib: peak,
            server_cpu_s,
        }
    });
    println!(
        "RESULT {} {} {} {} {} {} {} {} {} {} {} {} {} {}",
        run.streams,
        run.expected,
        run.delivered,
        run.on_time,
        run.worst_ms,
        run.p50_ms,
        run.p99_ms,
        run.errors,
        run.cpu_s,
        run.wall_s,
        run.rss_median_kib,
        run.rss_min_kib,
        run.peak_kib,
        run.server_cpu_s
    );
}

fn parse_result(line: &str) -> Run {
    let f: Vec<&str> = line.split_whitespace().skip(1).collect();
    Run {
        streams: f[0].parse().unwrap(),
        expected: f[1].parse().unwrap(),
        delivered: f[2].parse().unwrap(),
        on_time: f[3].parse().unwrap(),
        worst_ms: f[4].parse().unwrap(),
        p50_ms: f[5].parse().unwrap(),
        p99_ms: f[6].parse().unwrap(),
        errors: f[7].parse().unwrap(),
        cpu_s: f[8].parse().unwrap(),
        wall_s: f[9].parse().unwrap(),
        rss_median_kib: f[10].parse().unwrap(),
        rss_min_kib: f[11].parse().unwrap(),
        peak_kib: f[12].parse().unwrap(),
        server_cpu_s: f[13].parse().unwrap(),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if arg(&args, "--serve").is_some() {
        serve_builtin(&args);
        return;
    }
    if arg(&args, "--child").is_some() {
        child(&args);
        return;
    }
    let streams: Vec<usize> = arg(&args, "--streams")
        .unwrap_or("0,1,100,500,1000")
        .split(',')
        .map(|s| s.trim().parse().expect("--streams: a list of numbers"))
        .collect();
    let secs: u32 = num(&args, "--secs", 30);
    let warmup: u32 = num(&args, "--warmup", 10);
    let clip_secs: u32 = num(&args, "--clip-secs", 90);
    let on_time_ms: i64 = num(&args, "--on-time-ms", 1000);
    let queue: usize = num(&args, "--queue", 16);
    let bitrate = arg(&args, "--bitrate").unwrap_or("1M").to_owned();
    assert!(warmup + secs + 10 <= clip_secs, "--clip-secs must cover the warm-up, the window and 10 s");
    println!("machine: {}", machine());
    let clip = clip(clip_secs, &bitrate);
    let fragments = kvs_local::Source::file(&clip).unwrap().fragments().len();
    println!(
        "clip: {} ({} KiB, {fragments} fragments: 640x360 H.264 at 25 fps, a keyframe a second, {bitrate}b/s)",
        clip.display(),
        std::fs::metadata(&clip).unwrap().len() / 1024
    );
    let kvs_mkv = arg(&args, "--kvs-mkv").map(PathBuf::from);
    let idle = args.iter().any(|a| a == "--idle");
    assert!(!idle || kvs_mkv.is_none(), "--idle is for the built-in server");
    println!(
        "server: {}",
        kvs_mkv.as_ref().map_or(
            "kvs-local in a child process (the clip loaded once)".to_owned(),
            |p| format!("{} serve --live", p.display())
        )
    );
    let me = std::env::current_exe().unwrap();
    let mut runs: Vec<Run> = Vec::new();
    for &n in &streams {
        let (mut server, url) = serve(kvs_mkv.as_deref(), &clip, n, idle);
        std::thread::sleep(Duration::from_millis(500));
        let mut cmd = Command::new(&me);
        cmd.args(["--child", &n.to_string(), "--url", &url, "--server-pid", &server.id().to_string()]);
        cmd.args([
            "--secs",
            &secs.to_string(),
            "--warmup",
            &warmup.to_string(),
            "--queue",
            &queue.to_string(),
        ]);
        cmd.args(["--on-time-ms", &on_time_ms.to_string()]);
        if args.iter().any(|a| a == "--stock-client") {
            cmd.arg("--stock-client");
        }
        if let Some(kib) = arg(&args, "--max-read-buf") {
            cmd.args(["--max-read-buf", kib]);
        }
        if args.iter().any(|a| a == "--verbose") {
            cmd.arg("--verbose");
        }
        let out = cmd.stderr(Stdio::inherit()).output().unwrap();
        server.kill().ok();
        server.wait().ok();
        let stdout = String::from_utf8_lossy(&out.stdout);
        for line in stdout.lines().filter(|l| !l.starts_with("RESULT ")) {
            println!("  {line}");
        }
        let Some(line) = stdout.lines().find(|l| l.starts_with("RESULT ")) else {
            panic!("the child for N = {n} failed ({}): {stdout}", out.status);
        };
        let run = parse_result(line);
        println!(
            "N = {n}: {}/{} fragments, {} on time, worst {} ms, p99 {} ms, CPU {:.1} %, RSS {:.1} MiB steady ({:.1} MiB min), {:.1} MiB peak, server CPU {:.1} %",
            run.delivered,
            run.expected,
            run.on_time,
            run.worst_ms,
            run.p99_ms,
            100.0 * run.cpu_s / run.wall_s,
            run.rss_median_kib as f64 / 1024.0,
            run.rss_min_kib as f64 / 1024.0,
            run.peak_kib as f64 / 1024.0,
            100.0 * run.server_cpu_s / run.wall_s
        );
        runs.push(run);
    }
    let base = runs.iter().find(|r| r.streams == 0).map(|r| (r.rss_median_kib, r.cpu_s / r.wall_s));
    println!();
    println!(
        "StreamSet over N live 1 Mbit/s streams (one fragment a second each), {secs} s window after {warmup} s warm-up, queue {queue}; on time = yielded within {on_time_ms} ms of the fragment's server timestamp (when the server sends it)."
    );
    if let Some((rss, _)) = base {
        println!("Per stream: (steady RSS - the N = 0 steady RSS of {:.1} MiB) / N.", rss as f64 / 1024.0);
    }
    println!();
    println!(
        "| N | fragments | on time | worst lateness | p99 | median | CPU % | CPU % per stream | RSS steady | RSS peak | RSS per stream | server CPU % |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in &runs {
        let cpu = 100.0 * r.cpu_s / r.wall_s;
        let (per_cpu, per_rss) = match (base, r.streams) {
            (_, 0) | (None, _) => ("-".to_owned(), "-".to_owned()),
            (Some((rss, cpu0)), k) => (
                format!("{:.3} %", (cpu - 100.0 * cpu0) / k as f64),
                format!("{:.1} KiB", (r.rss_median_kib as f64 - rss as f64) / k as f64),
            ),
        };
        println!(
            "| {} | {}/{} | {} | {} ms | {} ms | {} ms | {:.1} % | {per_cpu} | {:.1} MiB | {:.1} MiB | {per_rss} | {:.1} % |",
            r.streams,
            r.delivered,
            r.expected,
            r.on_time,
            r.worst_ms,
            r.p99_ms,
            r.p50_ms,
            cpu,
            r.rss_median_kib as f64 / 1024.0,
            r.peak_kib as f64 / 1024.0,
            100.0 * r.server_cpu_s / r.wall_s
        );
    }
    let errors: usize = runs.iter().map(|r| r.errors).sum();
    if errors > 0 {
        println!("({errors} terminal errors)");
    }
}
