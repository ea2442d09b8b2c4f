//! Live GetImages at scale: one process samples one image every 3 s from N live 720p
//! streams of a local `kvs-mkv serve --live` (a separate process), every stream through
//! kvs-sdk's `LiveImages` on one shared `ImagePool`, and this finds the largest N that keeps
//! every sample on time, with the CPU and memory it takes per stream.
//!
//! ```sh
//! cargo run --release -p kvs-benches --bin images-live-bench                    # N = 1, 2, 4, 8, ... until late
//! cargo run --release -p kvs-benches --bin images-live-bench -- --streams 1,2 --secs 12
//! cargo run --release -p kvs-benches --bin images-live-bench -- --streams 8 --pool 2 --keep-going
//! ```
//!
//! Options: `--streams LIST` (default `1,2,4,8,16,32,64`; the ramp stops after the first N
//! with a late or missing sample unless `--keep-going`), `--secs T` sampling time per N
//! (default 30), `--interval-ms` (3000), `--pool P` decode threads of the shared pool (default
//! 0: one per core), `--on-time-ms` (1000), `--clip-secs` (60), `--gop-secs` (2),
//! `--bitrate` (2M), `--kvs-mkv PATH` (default: the `kvs-mkv` next to this binary, built with
//! cargo if it is missing), `--verbose` (every sample).
//!
//! The clip: ffmpeg's `testsrc2` at 1280x720, 25 fps, H.264 (libx264 `veryfast`, no
//! B-frames, a keyframe every `--gop-secs`, `--bitrate` constant-ish), `--clip-secs` long, in
//! Matroska with one cluster per keyframe, cached in the temporary directory under its
//! parameters. `serve` takes a plain Matroska file as one fragment per cluster: KVS-shaped
//! fragments of one group of pictures each. Every stream is the same file under another name
//! (`cam0`, `cam1`, ...); the server starts them all at once and sends each fragment when the
//! wall clock reaches its (shifted) server timestamp, as a live producer would.
//!
//! Each N runs in a child process (this binary with `--child`), so the CPU time (utime and
//! stime of `/proc/self/stat`) and the peak resident memory (`VmHWM` of `/proc/self/status`)
//! are the consumer's alone: N `LiveImages` (PRODUCER_TIMESTAMP, JPEG at the source size,
//! from "now" for T seconds, following the live stream), each on its own tokio task, all on
//! one `ImagePool`. Per stream is the process's figure divided by N (the process's own
//! baseline, a few MiB, included). CPU % is of one core, over the sampling time. The
//! server runs on the same machine and competes for its cores: its CPU (% of one core over
//! the run, from `/proc/PID/stat`) is the table's last column, not counted in the
//! consumer's. The decoder is kvs-images' default (the pure-Rust one), or FFmpeg's with this
//! package's `ffmpeg` feature (`cargo run --release -p kvs-benches --features ffmpeg --bin
//! images-live-bench`); the first line names it.
//!
//! **Lateness and "on time".** A sample at time `s` can be settled only when a fragment that
//! starts after `s` arrives (before that, a later frame could still be the one at `s`). The
//! earliest an image for `s` can exist is therefore the moment that fragment — the first whose
//! producer timestamp is after `s` — is sent: kvs-local sends it when the wall clock reaches
//! its server timestamp, which ListFragments reports (on the same shifted clock) after the
//! run. Lateness = the wall-clock time `LiveImages::next` returned the image minus that
//! moment; it includes the transfer over loopback (milliseconds), the wait for a pool permit,
//! the decoding of the group of pictures up to `s`, and the JPEG encoding. A sample is **on
//! time** when its lateness is at most `--on-time-ms` (1 s by default): one 2 s group of
//! pictures of 720p decodes and encodes in a fraction of a second on one core, so a second
//! leaves room for that and for scheduling, while a consumer that cannot keep up falls
//! further behind with every 3 s sample and crosses it within a few samples of T = 30 s. A
//! sample that never arrives (T + 30 s) counts as late. N is sustained when every sample of
//! every stream is on time.
//!
//! **A worst case for bursts.** Every stream is the same file started at the same instant,
//! and every request has the same sample times, so the N fragments that settle a sample
//! arrive together and their N decodes queue on the pool at once: the last one waits for
//! about N / pool-size decodes. Real cameras are not aligned like that, so the average CPU
//! per stream (the table) says more about throughput, and the lateness about the burst.

// A benchmark driver may stop on a bad argument or a missing tool.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]

use std::io::{BufRead, BufReader};

use kvs_benches::flags::{arg, num};
use kvs_benches::proc::now_ms;
use kvs_benches::proc::{cpu_seconds, cpu_seconds_of, local_client, peak_kib};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kvs_sdk::kvs_images::{ImageFormat, ImageSelector, ImagesRequest, SampleOptions};
use kvs_sdk::{FragmentClock, FragmentInfo, FragmentSelector, ImagePool, LiveImages, StreamId};

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
    format!(
        "{model}, {cores} cores available{mem}, Linux {}, decoder {}",
        kernel.trim(),
        kvs_sdk::kvs_images::decoder_backend()
    )
}

/// The clip (cached): 1280x720 H.264 at 25 fps, one Matroska cluster per keyframe.
fn clip(secs: u32, gop_secs: u32, bitrate: &str) -> PathBuf {
    let dir = std::env::temp_dir().join("kvs-images-live-bench");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("testsrc2-720p25-{secs}s-gop{gop_secs}-{bitrate}.mkv"));
    if path.exists() {
        return path;
    }
    let partial = dir.join(format!("partial-{}.mkv", std::process::id()));
    let gop = (25 * gop_secs).to_string();
    let started = Instant::now();
    let status = Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc2=size=1280x720:rate=25")
        .args(["-t", &secs.to_string(), "-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "veryfast"])
        .args(["-g", &gop, "-keyint_min", &gop, "-sc_threshold", "0", "-bf", "0"])
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

/// The `kvs-mkv` binary: `--kvs-mkv`, or the one next to this binary (built if missing).
fn kvs_mkv(args: &[String]) -> PathBuf {
    if let Some(p) = arg(args, "--kvs-mkv") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap();
    let path = dir.join("kvs-mkv");
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "-p", "kvs-cli", "--bin", "kvs-mkv"]);
        if dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        println!("building kvs-mkv: {cmd:?}");
        assert!(cmd.status().unwrap().success(), "cannot build kvs-mkv; pass --kvs-mkv PATH");
    }
    assert!(path.exists(), "no {}; pass --kvs-mkv PATH", path.display());
    path
}

/// `kvs-mkv serve --live` with `n` streams of `clip`; its URL.
fn serve(kvs_mkv: &Path, clip: &Path, n: usize) -> (Child, String) {
    let mut cmd = Command::new(kvs_mkv);
    cmd.args(["serve", "--live", "--listen", "127.0.0.1:0"]);
    for i in 0..n {
        cmd.arg("--stream").arg(format!("cam{i}={}", clip.display()));
    }
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = loop {
        let line = lines.next().expect("kvs-mkv serve exited").unwrap();
        if let Some(rest) = line.strip_prefix("kvs-local listening on ") {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    // Keep reading (and dropping) its output so that it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, url)
}

/// One N, as a child measured it.
#[derive(Debug, Default)]
struct Run {
    streams: usize,
    expected: usize,
    samples: usize,
    on_time: usize,
    /// Samples with an error (NO_MEDIA, MEDIA_ERROR) rather than a picture.
    errors: usize,
    worst_ms: i64,
    p50_ms: i64,
    cpu_s: f64,
    wall_s: f64,
    peak_kib: u64,
    pool: String,
    /// The server's CPU over the run, % of one core (it competes for the same cores).
    server_cpu: f64,
}

/// The child: N `LiveImages` on one pool against `url`, for `secs`; prints a `RESULT` line.
fn child(args: &[String]) {
    let n: usize = num(args, "--child", 1);
    let url = arg(args, "--url").unwrap().to_owned();
    let secs: i64 = num(args, "--secs", 30);
    let interval: i64 = num(args, "--interval-ms", 3000);
    let on_time_ms: i64 = num(args, "--on-time-ms", 1000);
    let pool_size: usize = num(args, "--pool", 0);
    let verbose = args.iter().any(|a| a == "--verbose");
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async move {
        let kvs = local_client(&url).unwrap();
        let pool = ImagePool::new(pool_size);
        // From now on: the first sample is now, the last within T.
        let start = now_ms();
        let end = start + secs * 1000 - 1;
        let request =
            ImagesRequest::new(ImageSelector::ProducerTimestamp, start, end, interval, ImageFormat::Jpeg);
        let expected = request.plan(&SampleOptions::default().limits).unwrap().remaining_times().count() * n;
        let (cpu0, wall0) = (cpu_seconds(), Instant::now());
        let mut tasks = Vec::new();
        for i in 0..n {
            let live = LiveImages::new(
                kvs.clone(),
                StreamId::name(format!("cam{i}")),
                &request,
                &SampleOptions::default(),
                true,
            )
            .unwrap()
            .with_pool(pool.clone());
            tasks.push(tokio::spawn(async move {
                let mut live = live;
                let mut got = Vec::new();
                while let Some(image) = live.next().await {
                    let image = image.unwrap();
                    got.push((image.timestamp_ms, now_ms(), image.error.is_some()));
                }
                got
            }));
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs as u64 + 30);
        let mut per_stream = Vec::new();
        for task in tasks {
            match tokio::time::timeout_at(deadline, task).await {
                Ok(got) => per_stream.push(got.unwrap()),
                Err(_) => per_stream.push(Vec::new()),
            }
        }
        let (cpu_s, wall_s) = (cpu_seconds() - cpu0, wall0.elapsed().as_secs_f64());
        let peak = peak_kib().unwrap_or(0);
        // The fragments as sent (every stream is the same file started at the same time).
        let fragments: Vec<FragmentInfo> = kvs
            .list_fragments(
                &StreamId::name("cam0"),
                FragmentSelector::new(FragmentClock::Producer, start - 60_000, end + 60_000).unwrap(),
                None,
            )
            .await
            .unwrap();
        let mut starts: Vec<(i64, i64)> =
            fragments.iter().map(|f| (f.producer_timestamp_ms, f.server_timestamp_ms)).collect();
        starts.sort_unstable();
        let mut lateness = Vec::new();
        let mut errors = 0;
        for (i, got) in per_stream.iter().enumerate() {
            for &(t, at, error) in got {
                errors += usize::from(error);
                // The first fragment starting after the sample settles it.
                let Some(&(_, sent)) = starts.iter().find(|(p, _)| *p > t) else {
                    println!("warning: cam{i} sample {t}: no fragment after it listed");
                    continue;
                };
                lateness.push(at - sent);
                if verbose {
                    println!(
                        "cam{i} sample +{} ms: available {} ms after its earliest",
                        t - start,
                        at - sent
                    );
                }
            }
        }
        lateness.sort_unstable();
        let stats = pool.stats();
        let run = Run {
            streams: n,
            expected,
            samples: per_stream.iter().map(Vec::len).sum(),
            on_time: lateness.iter().filter(|&&l| l <= on_time_ms).count(),
            errors,
            worst_ms: lateness.last().copied().unwrap_or(0),
            p50_ms: lateness.get(lateness.len() / 2).copied().unwrap_or(0),
            cpu_s,
            wall_s,
            peak_kib: peak,
            server_cpu: 0.0,
            pool: format!(
                "{} threads, {} jobs, {:.1} s busy, {:.1} s waited, at most {} at once",
                pool.size(),
                stats.jobs,
                stats.busy.as_secs_f64(),
                stats.waited.as_secs_f64(),
                stats.peak_running
            ),
        };
        println!(
            "RESULT {} {} {} {} {} {} {} {} {} {} {}",
            run.streams,
            run.expected,
            run.samples,
            run.on_time,
            run.errors,
            run.worst_ms,
            run.p50_ms,
            run.cpu_s,
            run.wall_s,
            run.peak_kib,
            run.pool
        );
    });
}

fn parse_result(line: &str) -> Run {
    let mut f = line.split_whitespace().skip(1);
    let mut next = || f.next().unwrap().to_owned();
    let mut run = Run {
        streams: next().parse().unwrap(),
        expected: next().parse().unwrap(),
        samples: next().parse().unwrap(),
        on_time: next().parse().unwrap(),
        errors: next().parse().unwrap(),
        worst_ms: next().parse().unwrap(),
        p50_ms: next().parse().unwrap(),
        cpu_s: next().parse().unwrap(),
        wall_s: next().parse().unwrap(),
        peak_kib: next().parse().unwrap(),
        pool: String::new(),
        server_cpu: 0.0,
    };
    run.pool = line.split_whitespace().skip(11).collect::<Vec<_>>().join(" ");
    run
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if arg(&args, "--child").is_some() {
        child(&args);
        return;
    }
    let streams: Vec<usize> = arg(&args, "--streams")
        .unwrap_or("1,2,4,8,16,32,64")
        .split(',')
        .map(|s| s.trim().parse().expect("--streams: a list of numbers"))
        .collect();
    let secs: u32 = num(&args, "--secs", 30);
    let clip_secs: u32 = num(&args, "--clip-secs", 60);
    let gop_secs: u32 = num(&args, "--gop-secs", 2);
    let on_time_ms: i64 = num(&args, "--on-time-ms", 1000);
    let bitrate = arg(&args, "--bitrate").unwrap_or("2M").to_owned();
    let keep_going = args.iter().any(|a| a == "--keep-going");
    assert!(secs + 2 * gop_secs + 5 <= clip_secs, "--secs must leave the clip 2 GOPs and 5 s of margin");
    println!("machine: {}", machine());
    let clip = clip(clip_secs, gop_secs, &bitrate);
    let fragments = kvs_local::Source::file(&clip).unwrap().fragments().len();
    println!(
        "clip: {} ({} KiB, {fragments} fragments: 1280x720 H.264 at 25 fps, GOP {gop_secs} s, {bitrate}b/s)",
        clip.display(),
        std::fs::metadata(&clip).unwrap().len() / 1024
    );
    let server_bin = kvs_mkv(&args);
    let me = std::env::current_exe().unwrap();
    let mut runs = Vec::new();
    for &n in &streams {
        let (mut server, url) = serve(&server_bin, &clip, n);
        // Let the streams' first fragments go out, so that "now" has media.
        std::thread::sleep(Duration::from_millis(500));
        let mut cmd = Command::new(&me);
        cmd.args(["--child", &n.to_string(), "--url", &url, "--secs", &secs.to_string()]);
        for name in ["--interval-ms", "--on-time-ms", "--pool"] {
            if let Some(v) = arg(&args, name) {
                cmd.args([name, v]);
            }
        }
        if args.iter().any(|a| a == "--verbose") {
            cmd.arg("--verbose");
        }
        let server_cpu0 = cpu_seconds_of(&server.id().to_string());
        let started = Instant::now();
        let out = cmd.stderr(Stdio::inherit()).output().unwrap();
        let server_cpu = (cpu_seconds_of(&server.id().to_string()) - server_cpu0)
            / started.elapsed().as_secs_f64()
            * 100.0;
        server.kill().ok();
        server.wait().ok();
        let stdout = String::from_utf8_lossy(&out.stdout);
        for line in stdout.lines().filter(|l| !l.starts_with("RESULT ")) {
            println!("  {line}");
        }
        let Some(line) = stdout.lines().find(|l| l.starts_with("RESULT ")) else {
            panic!("the child for N = {n} failed ({}): {stdout}", out.status);
        };
        let mut run = parse_result(line);
        run.server_cpu = server_cpu;
        println!(
            "N = {n}: {}/{} samples on time (of {} expected), worst {} ms, median {} ms; pool: {}",
            run.on_time, run.samples, run.expected, run.worst_ms, run.p50_ms, run.pool
        );
        let sustained = run.on_time == run.expected && run.samples == run.expected;
        runs.push(run);
        if !sustained && !keep_going {
            break;
        }
    }
    println!();
    println!(
        "One image every {} ms for {secs} s per stream, JPEG 1280x720, one process, one shared pool; on time = within {on_time_ms} ms of the earliest possible.",
        num(&args, "--interval-ms", 3000)
    );
    println!();
    println!(
        "| N | samples | on time | worst lateness | median lateness | CPU % per stream | RSS per stream | RSS total | server CPU % |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in &runs {
        println!(
            "| {} | {}/{} | {} | {} ms | {} ms | {:.1} % | {:.1} MiB | {:.1} MiB | {:.1} % |",
            r.streams,
            r.samples,
            r.expected,
            r.on_time,
            r.worst_ms,
            r.p50_ms,
            100.0 * r.cpu_s / r.wall_s / r.streams as f64,
            r.peak_kib as f64 / 1024.0 / r.streams as f64,
            r.peak_kib as f64 / 1024.0,
            r.server_cpu
        );
    }
    let best =
        runs.iter().filter(|r| r.on_time == r.expected && r.samples == r.expected).map(|r| r.streams).max();
    println!();
    match best {
        Some(n) => println!("largest N with every sample on time: {n}"),
        None => println!("no N kept every sample on time"),
    }
    let errors: usize = runs.iter().map(|r| r.errors).sum();
    if errors > 0 {
        println!("({errors} samples came back with an error instead of a picture)");
    }
}
