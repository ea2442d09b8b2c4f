//! The comparison harness of "Images at FFmpeg speed or better": `kvs-mkv images` (the
//! pure-Rust default build and the `--features ffmpeg` build) against `ffmpeg` writing JPEGs
//! of the same samples, side by side in one run, on inputs ffmpeg generates once.
//!
//! ```sh
//! benches/images-compare.sh                                   # everything: 9 inputs x 3 samplings
//! benches/images-compare.sh --seconds 6 --inputs h264-720p --modes 1s,key   # a quick subset
//! # or by hand, with two kvs-mkv binaries built beforehand:
//! cargo run --release -p kvs-benches --bin images-compare -- \
//!     --kvs-mkv /work/target-cmp/release/kvs-mkv --kvs-mkv-ffmpeg /work/target-cmp-ff/release/kvs-mkv
//! ```
//!
//! Options (all optional):
//! - `--kvs-mkv PATH`, `--kvs-mkv-ffmpeg PATH`: the default (pure-Rust) build and the
//!   `--features ffmpeg` build of kvs-mkv; the rows of a binary not given are left out.
//! - `--seconds N` (default 60, at most 300): the length of the generated inputs.
//! - `--inputs a,b`: inputs by name or prefix (`h264` = the four H.264 inputs, `h265-1080p` =
//!   its two); the names: h264-720p, h264-720p-b, h264-1080p, h264-1080p-b, the same in
//!   h265, and vp9-720p (`-b`: 3 B-frames; otherwise none).
//! - `--modes 1s,3s,key`: sampling every 1 s, every 3 s, keyframes only (every 2 s, the GOP).
//! - `--runners kvs1,kvs2,ff1,ff2,ffmpeg1,ffmpeg`: which rows (`kvs`: the pure-Rust build,
//!   `ff`: the FFmpeg-backend build, on 1 or 2 cores; `ffmpeg1`: `ffmpeg -threads 1`, pinned;
//!   `ffmpeg`: ffmpeg with its default threads, on cores 0 and 1).
//! - `--runs K` (default 1): each run K times; the table gives the median wall and CPU time
//!   and the largest peak RSS.
//! - `--height H`: images H pixels high (width keeping the aspect ratio); default full size.
//! - `--quality Q` (default 80): kvs-mkv's `JPEGQuality`.
//! - `--qv N`: ffmpeg's `-q:v`; default `auto`: calibrated at the start of the run (below).
//! - `--cache DIR` (default `$TMPDIR/kvs-images-compare`): where the inputs are kept between
//!   runs (named by their parameters, so a change of parameters makes new ones).
//!
//! What runs, per input and sampling (all with `/usr/bin/time`, which gives wall time, user
//! and system CPU time and peak RSS):
//! - kvs-mkv on one core: `taskset -c 0 kvs-mkv images F ... --threads 1`;
//! - kvs-mkv on two cores: `taskset -c 0,1 kvs-mkv images F ... --threads 2`;
//! - `taskset -c 0 ffmpeg -threads 1 -i F -threads 1 -vf fps=1 -q:v Q out%04d.jpg` (the
//!   decoder and the encoder each on one thread, on one core);
//! - `taskset -c 0,1 ffmpeg -i F -vf fps=1 -q:v Q out%04d.jpg` with its default threads (which
//!   ffmpeg sizes to the cores it may use: on a 2-core machine, exactly plain `ffmpeg`; on a
//!   bigger one, the same two cores kvs-mkv's 2-core runs get, so the goals compare like with
//!   like).
//!
//! Keyframes only: `kvs-mkv images --keyframes-only --sampling-interval 2000` against
//! `ffmpeg -skip_frame nokey -i F -fps_mode vfr -q:v Q out%04d.jpg` (`-vsync vfr` where
//! ffmpeg has no `-fps_mode`). ffmpeg's VP9 decoder ignores `-skip_frame` and returns every
//! frame: for VP9 ffmpeg also gets `-vf select=eq(pict_type\,I)` (it still decodes every frame).
//!
//! Every run must write the images expected of it (kvs-mkv: exactly one per sample; ffmpeg:
//! the same number, give or take one at the end of the clip); a run that does not is an
//! error in its row and the harness exits with status 1 after the tables.
//!
//! Same JPEG quality: kvs-mkv's `JPEGQuality` and ffmpeg's `-q:v` are different scales. With
//! `--qv auto` the harness calibrates on the first input: the frames of one sampling pass are
//! extracted losslessly (PNG) as the reference; kvs-mkv writes its JPEGs; ffmpeg writes JPEGs
//! of the same frames at every `-q:v` from 2 to 10; the `-q:v` whose average PSNR against the
//! PNG frames (ffmpeg's `psnr` filter) is nearest kvs-mkv's is used (the nearest average file
//! size where there is no PSNR), and the table of sizes and PSNR is printed so the choice can
//! be checked. kvs-mkv writes 4:4:4 JPEGs and ffmpeg 4:2:0, so equal PSNR is not equal size.
//! `--qv N` skips the calibration.
//!
//! Same frames: ffmpeg's `fps` filter rounds to the nearest tick by default, which samples the
//! frame about half an interval before each tick; `fps=...:round=up` samples the frame at each
//! tick, the one kvs-mkv shows (the frame at or before the sample time), and writes as many.
//!
//! Time (2-core AMD EPYC VM, other builds running): one 60 s input (h264-720p-b, all samplings
//! and runners) took 105 s: 20 s to generate it, about 25 s of calibration, 60 s of runs. The
//! whole matrix (9 inputs x 3 samplings x 6 runners, one run each) is estimated at 20 minutes
//! of runs (1080p and the pure-Rust H.265 decoder take the longest) plus 10 to 15 minutes to
//! generate the inputs the first time (x265 at 1080p is the slow one); `--seconds 6` runs the
//! whole matrix in 2 to 3 minutes. Run it on a quiet machine: the load average at the start is
//! printed.

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

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

// ---------------------------------------------------------------------------------------------
// Inputs.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Codec {
    H264,
    H265,
    Vp9,
}

#[derive(Debug, Clone, Copy)]
struct Input {
    name: &'static str,
    codec: Codec,
    width: u32,
    height: u32,
    bframes: u32,
}

const INPUTS: [Input; 9] = [
    Input { name: "h264-720p", codec: Codec::H264, width: 1280, height: 720, bframes: 0 },
    Input { name: "h264-720p-b", codec: Codec::H264, width: 1280, height: 720, bframes: 3 },
    Input { name: "h264-1080p", codec: Codec::H264, width: 1920, height: 1080, bframes: 0 },
    Input { name: "h264-1080p-b", codec: Codec::H264, width: 1920, height: 1080, bframes: 3 },
    Input { name: "h265-720p", codec: Codec::H265, width: 1280, height: 720, bframes: 0 },
    Input { name: "h265-720p-b", codec: Codec::H265, width: 1280, height: 720, bframes: 3 },
    Input { name: "h265-1080p", codec: Codec::H265, width: 1920, height: 1080, bframes: 0 },
    Input { name: "h265-1080p-b", codec: Codec::H265, width: 1920, height: 1080, bframes: 3 },
    Input { name: "vp9-720p", codec: Codec::Vp9, width: 1280, height: 720, bframes: 0 },
];

/// Bumped whenever the way inputs are generated changes (it is part of the cached names).
const GENERATION: u32 = 1;

/// The source: testsrc2 (moving, coloured) with temporal noise, so that no block is flat and
/// every frame carries residual, as a camera's sensor noise does.
fn source(input: &Input) -> String {
    format!("testsrc2=size={}x{}:rate=25,noise=alls=10:allf=t", input.width, input.height)
}

/// A camera-like bitrate: 2 Mb/s at 720p, 4 Mb/s at 1080p.
fn bitrate(input: &Input) -> &'static str {
    if input.height >= 1080 { "4M" } else { "2M" }
}

/// The encoder arguments: 25 fps, a keyframe every 2 s exactly (no scene cuts), B-frames or
/// none.
fn encoder_args(input: &Input) -> Vec<String> {
    let b = input.bframes.to_string();
    let v: Vec<String> = match input.codec {
        Codec::H264 => ["-c:v", "libx264", "-preset", "veryfast", "-g", "50", "-keyint_min", "50"]
            .into_iter()
            .map(str::to_owned)
            .chain(["-sc_threshold".into(), "0".into(), "-bf".into(), b])
            .collect(),
        Codec::H265 => vec![
            "-c:v".into(),
            "libx265".into(),
            "-preset".into(),
            "veryfast".into(),
            "-x265-params".into(),
            format!("keyint=50:min-keyint=50:scenecut=0:bframes={b}:log-level=error"),
        ],
        Codec::Vp9 => ["-c:v", "libvpx-vp9", "-g", "50", "-deadline", "realtime", "-cpu-used", "8"]
            .into_iter()
            .map(str::to_owned)
            .chain(["-row-mt".into(), "1".into()])
            .collect(),
    };
    let mut v = v;
    v.extend(["-b:v".into(), bitrate(input).into()]);
    v
}

/// The ffmpeg command that makes an input.
fn generation_command(input: &Input, seconds: u32, out: &Path) -> Command {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg(source(input))
        .args(["-t", &seconds.to_string(), "-pix_fmt", "yuv420p"])
        .args(encoder_args(input))
        .args(["-f", "matroska"])
        .arg(out);
    cmd
}

/// The input's file in the cache, generated (into a temporary name, then renamed) if absent.
fn ensure_input(cache: &Path, input: &Input, seconds: u32) -> PathBuf {
    let file = cache.join(format!("{}-{seconds}s-g{GENERATION}.mkv", input.name));
    if file.exists() {
        return file;
    }
    let partial = file.with_extension("partial.mkv");
    let mut cmd = generation_command(input, seconds, &partial);
    eprintln!("generating {}: {}", file.display(), show(&cmd));
    let started = Instant::now();
    let status = cmd.status().expect("ffmpeg");
    assert!(status.success(), "generating {} failed: {status}", input.name);
    std::fs::rename(&partial, &file).unwrap();
    eprintln!("  {} KiB in {:.1} s", file.metadata().unwrap().len() / 1024, started.elapsed().as_secs_f64());
    file
}

/// The first presentation time of the file's video, in ms (rounded up), by ffprobe.
fn first_pts_ms(file: &Path) -> i64 {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time"])
        .args(["-read_intervals", "%+#16", "-of", "csv=p=0"])
        .arg(file)
        .output()
        .expect("ffprobe");
    assert!(out.status.success(), "ffprobe {}", file.display());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().trim_end_matches(',').parse::<f64>().ok())
        .map(|s| (s * 1000.0).ceil() as i64)
        .min()
        .unwrap_or_else(|| panic!("no video packets in {}", file.display()))
}

// ---------------------------------------------------------------------------------------------
// Samplings and runners.

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Mode {
    Every1s,
    Every3s,
    Keyframes,
}

impl Mode {
    const ALL: [Mode; 3] = [Mode::Every1s, Mode::Every3s, Mode::Keyframes];

    fn key(self) -> &'static str {
        match self {
            Mode::Every1s => "1s",
            Mode::Every3s => "3s",
            Mode::Keyframes => "key",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Mode::Every1s => "every 1 s",
            Mode::Every3s => "every 3 s",
            Mode::Keyframes => "keyframes",
        }
    }

    /// kvs-mkv's `--sampling-interval` (keyframes only: the GOP, 2 s).
    fn interval_ms(self) -> i64 {
        match self {
            Mode::Every1s => 1000,
            Mode::Every3s => 3000,
            Mode::Keyframes => 2000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Runner {
    /// kvs-mkv, default (pure-Rust) build, on this many cores.
    Kvs(u32),
    /// kvs-mkv, `--features ffmpeg` build, on this many cores.
    KvsFf(u32),
    /// `ffmpeg -threads 1`, pinned to one core.
    Ffmpeg1,
    /// `ffmpeg` with its default threads, pinned to the same two cores as kvs-mkv's 2-core
    /// runs (ffmpeg counts the cores it may run on: on a 2-core machine this is plain
    /// `ffmpeg`).
    Ffmpeg,
}

impl Runner {
    const ALL: [Runner; 6] =
        [Runner::Kvs(1), Runner::Kvs(2), Runner::KvsFf(1), Runner::KvsFf(2), Runner::Ffmpeg1, Runner::Ffmpeg];

    fn key(self) -> String {
        match self {
            Runner::Kvs(n) => format!("kvs{n}"),
            Runner::KvsFf(n) => format!("ff{n}"),
            Runner::Ffmpeg1 => "ffmpeg1".into(),
            Runner::Ffmpeg => "ffmpeg".into(),
        }
    }

    fn label(self) -> String {
        match self {
            Runner::Kvs(n) => format!("kvs-mkv pure Rust, {n} core{}", if n == 1 { "" } else { "s" }),
            Runner::KvsFf(n) => format!("kvs-mkv FFmpeg backend, {n} core{}", if n == 1 { "" } else { "s" }),
            Runner::Ffmpeg1 => "ffmpeg -threads 1, 1 core".into(),
            Runner::Ffmpeg => "ffmpeg default threads, 2 cores".into(),
        }
    }
}

struct Opts {
    kvs: Option<PathBuf>,
    kvs_ff: Option<PathBuf>,
    seconds: u32,
    inputs: Vec<Input>,
    modes: Vec<Mode>,
    runners: Vec<Runner>,
    runs: usize,
    height: Option<u32>,
    quality: u32,
    qv: Option<u32>,
    cache: PathBuf,
    /// `-fps_mode vfr` or, on an ffmpeg without it, `-vsync vfr`.
    vfr: [&'static str; 2],
}

fn parse_args() -> Opts {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut values: BTreeMap<String, String> = BTreeMap::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        let known = [
            "--kvs-mkv",
            "--kvs-mkv-ffmpeg",
            "--seconds",
            "--inputs",
            "--modes",
            "--runners",
            "--runs",
            "--height",
            "--quality",
            "--qv",
            "--cache",
        ];
        if a == "-h" || a == "--help" {
            println!("see the top of benches/src/bin/images-compare.rs or run benches/images-compare.sh");
            std::process::exit(0);
        }
        assert!(known.contains(&a.as_str()), "unknown option {a} (known: {})", known.join(", "));
        let v = args.get(i + 1).unwrap_or_else(|| panic!("{a} needs a value"));
        values.insert(a.clone(), v.clone());
        i += 2;
    }
    let list = |key: &str| -> Option<Vec<String>> {
        values.get(key).map(|v| v.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect())
    };
    let binary = |key: &str| {
        values.get(key).map(|p| {
            let p = PathBuf::from(p);
            assert!(p.is_file(), "{key} {}: no such file", p.display());
            p
        })
    };
    let seconds: u32 = values.get("--seconds").map_or(60, |s| s.parse().expect("--seconds N"));
    assert!((3..=300).contains(&seconds), "--seconds must be 3 to 300 (GetImages spans at most 300 s)");
    let inputs: Vec<Input> = match list("--inputs") {
        None => INPUTS.to_vec(),
        Some(filters) => {
            for f in &filters {
                assert!(
                    INPUTS.iter().any(|i| matches_name(i.name, f)),
                    "--inputs {f}: no such input (names: {})",
                    INPUTS.map(|i| i.name).join(", ")
                );
            }
            INPUTS.into_iter().filter(|i| filters.iter().any(|f| matches_name(i.name, f))).collect()
        }
    };
    let modes: Vec<Mode> = match list("--modes") {
        None => Mode::ALL.to_vec(),
        Some(keys) => keys
            .iter()
            .map(|k| {
                *Mode::ALL
                    .iter()
                    .find(|m| m.key() == k)
                    .unwrap_or_else(|| panic!("--modes {k}: one of 1s, 3s, key"))
            })
            .collect(),
    };
    let runners: Vec<Runner> = match list("--runners") {
        None => Runner::ALL.to_vec(),
        Some(keys) => {
            keys.iter()
                .map(|k| {
                    *Runner::ALL.iter().find(|r| r.key() == *k).unwrap_or_else(|| {
                        panic!("--runners {k}: one of kvs1, kvs2, ff1, ff2, ffmpeg1, ffmpeg")
                    })
                })
                .collect()
        }
    };
    let qv = match values.get("--qv").map(String::as_str) {
        None | Some("auto") => None,
        Some(v) => Some(v.parse().expect("--qv N (2 to 31) or auto")),
    };
    let cache =
        values.get("--cache").map_or_else(|| std::env::temp_dir().join("kvs-images-compare"), PathBuf::from);
    Opts {
        kvs: binary("--kvs-mkv"),
        kvs_ff: binary("--kvs-mkv-ffmpeg"),
        seconds,
        inputs,
        modes,
        runners,
        runs: values.get("--runs").map_or(1, |s| s.parse().expect("--runs K")),
        height: values.get("--height").map(|s| s.parse().expect("--height H")),
        quality: values.get("--quality").map_or(80, |s| s.parse().expect("--quality Q")),
        qv,
        cache,
        vfr: ["-fps_mode", "vfr"],
    }
}

/// `h264` matches h264-720p and h264-720p-b ...; `h264-720p` matches h264-720p and h264-720p-b.
fn matches_name(name: &str, filter: &str) -> bool {
    name == filter || name.strip_prefix(filter).is_some_and(|rest| rest.starts_with('-'))
}

// ---------------------------------------------------------------------------------------------
// Running and measuring.

/// A command line as a shell would take it.
fn show(cmd: &Command) -> String {
    let quote = |s: &str| {
        if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./,=:%+".contains(c)) {
            s.to_owned()
        } else {
            format!("'{}'", s.replace('\'', "'\\''"))
        }
    };
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|s| quote(&s.to_string_lossy()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// One run's figures.
#[derive(Debug, Clone, Copy, Default)]
struct Measure {
    wall: f64,
    cpu: f64,
    rss_kib: u64,
    images: usize,
    mean_bytes: f64,
}

/// One row: the runner, what it measured (or why not), and its command.
struct Row {
    input: &'static str,
    mode: Mode,
    runner: Runner,
    result: Result<Measure, String>,
    command: String,
}

/// The JPEG files in `dir`, sorted by name.
fn jpegs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
        .collect();
    v.sort();
    v
}

/// Runs `cmd` (pinned to `cpus` if given) under `/usr/bin/time` with a fresh `out` directory,
/// and counts the JPEGs it wrote there. The directory is left for the caller.
fn measure(cmd: &Command, cpus: Option<&str>, out: &Path, timing: &Path) -> Result<Measure, String> {
    let _ = std::fs::remove_dir_all(out);
    std::fs::create_dir_all(out).unwrap();
    let mut full = Command::new("/usr/bin/time");
    full.args(["-f", "%e %U %S %M", "-o"]).arg(timing);
    if let Some(c) = cpus {
        full.args(["taskset", "-c", c]);
    }
    full.arg(cmd.get_program()).args(cmd.get_args()).stdin(Stdio::null());
    let output = full.output().map_err(|e| format!("{}: {e}", show(&full)))?;
    if !output.status.success() {
        let err = String::from_utf8_lossy(&output.stderr);
        let last = err.lines().rfind(|l| !l.trim().is_empty() && !l.contains("exited with non-zero"));
        return Err(format!("exit {}: {}", output.status, last.unwrap_or("")));
    }
    let t = std::fs::read_to_string(timing).unwrap();
    let f: Vec<&str> = t.lines().last().unwrap_or("").split_whitespace().collect();
    let num =
        |i: usize| f.get(i).and_then(|s| s.parse::<f64>().ok()).ok_or(format!("/usr/bin/time said {t:?}"));
    let files = jpegs(out);
    let bytes: u64 = files.iter().map(|p| p.metadata().unwrap().len()).sum();
    Ok(Measure {
        wall: num(0)?,
        cpu: num(1)? + num(2)?,
        rss_kib: num(3)? as u64,
        images: files.len(),
        mean_bytes: if files.is_empty() { 0.0 } else { bytes as f64 / files.len() as f64 },
    })
}

/// Epoch seconds with milliseconds, as kvs-mkv takes them.
fn secs(ms: i64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// Where the samples of an input are: its first time and the last sample time, ms.
#[derive(Clone, Copy)]
struct Span {
    start: i64,
    end: i64,
}

impl Span {
    fn samples(self, mode: Mode) -> usize {
        ((self.end - self.start) / mode.interval_ms() + 1) as usize
    }
}

/// The kvs-mkv command for a sampling.
fn kvs_command(
    bin: &Path,
    file: &Path,
    span: Span,
    mode: Mode,
    threads: u32,
    opts: &Opts,
    out: &Path,
) -> Command {
    let mut c = Command::new(bin);
    c.arg("images").arg(file).args(["--image-selector-type", "PRODUCER_TIMESTAMP"]);
    c.args(["--start-timestamp", &secs(span.start), "--end-timestamp", &secs(span.end)]);
    c.args(["--sampling-interval", &mode.interval_ms().to_string(), "--format", "JPEG"]);
    c.args(["--format-config", &format!("JPEGQuality={}", opts.quality)]);
    if let Some(h) = opts.height {
        c.args(["--height-pixels", &h.to_string()]);
    }
    if mode == Mode::Keyframes {
        c.arg("--keyframes-only");
    }
    c.args(["--threads", &threads.to_string(), "--output-dir"]).arg(out);
    c
}

/// The ffmpeg command for a sampling (`single`: `-threads 1` for the decoder and the encoder).
///
/// Keyframes only: `-skip_frame nokey`; ffmpeg's VP9 decoder ignores it (it decodes and returns
/// every frame), so for VP9 a `select=eq(pict_type\,I)` filter keeps only the keyframes.
fn ffmpeg_command(
    file: &Path,
    codec: Codec,
    mode: Mode,
    single: bool,
    qv: u32,
    opts: &Opts,
    out: &Path,
) -> Command {
    let mut c = Command::new("ffmpeg");
    c.args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y"]);
    if single {
        c.args(["-threads", "1"]);
    }
    if mode == Mode::Keyframes {
        c.args(["-skip_frame", "nokey"]);
    }
    c.arg("-i").arg(file);
    if single {
        c.args(["-threads", "1"]);
    }
    let scale = opts.height.map(|h| format!("scale=-2:{h}"));
    let filters: Vec<String> = match mode {
        Mode::Keyframes if codec == Codec::Vp9 => {
            std::iter::once("select=eq(pict_type\\,I)".to_owned()).chain(scale).collect()
        }
        Mode::Keyframes => scale.into_iter().collect(),
        _ => std::iter::once(format!("fps=1000/{}:round=up", mode.interval_ms())).chain(scale).collect(),
    };
    if mode == Mode::Keyframes {
        c.args(opts.vfr);
    }
    if !filters.is_empty() {
        c.args(["-vf", &filters.join(",")]);
    }
    c.args(["-q:v", &qv.to_string()]).arg(out.join("%04d.jpg"));
    c
}

/// Runs one runner on one sampling `runs` times: median wall and CPU time, largest RSS.
#[allow(clippy::too_many_arguments)]
fn run_row(
    input: &Input,
    file: &Path,
    span: Span,
    mode: Mode,
    runner: Runner,
    qv: u32,
    opts: &Opts,
    work: &Path,
) -> Option<Row> {
    let out = work.join("out");
    let timing = work.join("time.txt");
    let expected = span.samples(mode);
    let (cmd, cpus, exact) = match runner {
        Runner::Kvs(n) | Runner::KvsFf(n) => {
            let bin = if matches!(runner, Runner::Kvs(_)) { opts.kvs.as_ref() } else { opts.kvs_ff.as_ref() };
            let bin = bin?;
            if matches!(runner, Runner::Kvs(_)) && input.codec == Codec::Vp9 {
                return Some(Row {
                    input: input.name,
                    mode,
                    runner,
                    result: Err("not run: the pure-Rust backend decodes H.264 and H.265 only".into()),
                    command: String::new(),
                });
            }
            let cpus = if n == 1 { "0" } else { "0,1" };
            (kvs_command(bin, file, span, mode, n, opts, &out), Some(cpus), true)
        }
        Runner::Ffmpeg1 => (ffmpeg_command(file, input.codec, mode, true, qv, opts, &out), Some("0"), false),
        Runner::Ffmpeg => {
            (ffmpeg_command(file, input.codec, mode, false, qv, opts, &out), Some("0,1"), false)
        }
    };
    eprintln!("{} {} {}", input.name, mode.label(), runner.label());
    let command = match cpus {
        Some(c) => format!("taskset -c {c} {}", show(&cmd)),
        None => show(&cmd),
    };
    let mut all = Vec::new();
    let mut result = Ok(Measure::default());
    for _ in 0..opts.runs {
        match measure(&cmd, cpus, &out, &timing) {
            Ok(m) => {
                let ok = if exact { m.images == expected } else { m.images.abs_diff(expected) <= 1 };
                if !ok {
                    result = Err(format!("wrote {} images, expected {expected}", m.images));
                    break;
                }
                all.push(m);
            }
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    let _ = std::fs::remove_dir_all(&out);
    if result.is_ok() {
        let median = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        result = Ok(Measure {
            wall: median(all.iter().map(|m| m.wall).collect()),
            cpu: median(all.iter().map(|m| m.cpu).collect()),
            rss_kib: all.iter().map(|m| m.rss_kib).max().unwrap_or(0),
            images: all[0].images,
            mean_bytes: all[0].mean_bytes,
        });
    }
    if let Err(e) = &result {
        eprintln!("  {} {} {}: {e}", input.name, mode.label(), runner.label());
    }
    Some(Row { input: input.name, mode, runner, result, command })
}

// ---------------------------------------------------------------------------------------------
// Calibrating ffmpeg's -q:v against kvs-mkv's JPEGQuality.

/// The average PSNR (dB, ffmpeg's `psnr` filter) of the numbered JPEGs in `jpg` against the
/// numbered PNGs in `png`.
fn psnr(png: &Path, jpg: &Path) -> Option<f64> {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-nostats", "-i"])
        .arg(png.join("%04d.png"))
        .arg("-i")
        .arg(jpg.join("%04d.jpg"))
        .args(["-lavfi", "[1:v][0:v]psnr", "-f", "null", "-"])
        .output()
        .ok()?;
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err.lines().rfind(|l| l.contains("PSNR") && l.contains("average:"))?;
    line.split("average:").nth(1)?.split_whitespace().next()?.parse().ok()
}

/// Renames the JPEGs of `dir` (sorted by name: kvs-mkv names them by time) to 0001.jpg ...
fn renumber(dir: &Path) {
    for (i, p) in jpegs(dir).into_iter().enumerate() {
        std::fs::rename(&p, dir.join(format!("{:04}.jpg", i + 1))).unwrap();
    }
}

/// Chooses ffmpeg's `-q:v`: the one whose average PSNR is nearest kvs-mkv's at `JPEGQuality`,
/// over the same frames (else the nearest average size); says how it was chosen. Returns the value and the
/// lines to print.
fn calibrate(opts: &Opts, input: &Input, file: &Path, span: Span, work: &Path) -> (u32, String) {
    let bin = opts.kvs_ff.as_ref().or(opts.kvs.as_ref()).expect("a kvs-mkv binary to calibrate against");
    // Every 3 s if that gives 10 frames or more, else every 1 s.
    let mode = if span.samples(Mode::Every3s) >= 10 { Mode::Every3s } else { Mode::Every1s };
    let timing = work.join("time.txt");
    let reference = work.join("cal-ref");
    let _ = std::fs::remove_dir_all(&reference);
    std::fs::create_dir_all(&reference).unwrap();
    let mut png = Command::new("ffmpeg");
    png.args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i"]).arg(file);
    let mut vf = format!("fps=1000/{}:round=up", mode.interval_ms());
    if let Some(h) = opts.height {
        write!(vf, ",scale=-2:{h}").unwrap();
    }
    png.args(["-vf", &vf]).arg(reference.join("%04d.png"));
    assert!(png.status().unwrap().success(), "{}", show(&png));
    let kvs_dir = work.join("cal-kvs");
    let kvs = kvs_command(bin, file, span, mode, 2, opts, &kvs_dir);
    let k = measure(&kvs, None, &kvs_dir, &timing).unwrap_or_else(|e| panic!("{}: {e}", show(&kvs)));
    assert!(k.images > 0, "calibration: kvs-mkv wrote no images: {}", show(&kvs));
    renumber(&kvs_dir);
    let kvs_psnr = psnr(&reference, &kvs_dir);
    let mut text = String::new();
    let fmt_psnr = |p: Option<f64>| p.map_or_else(|| "?".to_owned(), |p| format!("{p:.2}"));
    writeln!(
        text,
        "JPEG quality: ffmpeg's -q:v chosen on {} ({}, {} frames) as the one whose average PSNR is nearest \
         kvs-mkv's at JPEGQuality={} ({}); PSNR is against the same frames extracted losslessly (PNG):\n",
        input.name,
        mode.label(),
        k.images,
        opts.quality,
        bin.display()
    )
    .unwrap();
    writeln!(text, "| encoder | average JPEG bytes | PSNR dB |\n|---|---:|---:|").unwrap();
    writeln!(text, "| kvs-mkv JPEGQuality={} | {:.0} | {} |", opts.quality, k.mean_bytes, fmt_psnr(kvs_psnr))
        .unwrap();
    let ff_dir = work.join("cal-ff");
    let (mut by_psnr, mut by_size) = ((f64::MAX, 0), (f64::MAX, 0));
    // The PSNR at -q:v 2.
    let mut finest = None;
    for q in 2..=10 {
        let cmd = ffmpeg_command(file, input.codec, mode, false, q, opts, &ff_dir);
        let m = measure(&cmd, None, &ff_dir, &timing).unwrap_or_else(|e| panic!("{}: {e}", show(&cmd)));
        let p = psnr(&reference, &ff_dir);
        if q == 2 {
            finest = p;
        }
        writeln!(text, "| ffmpeg -q:v {q} | {:.0} | {} |", m.mean_bytes, fmt_psnr(p)).unwrap();
        let size = (m.mean_bytes / k.mean_bytes).ln().abs();
        if size < by_size.0 {
            by_size = (size, q);
        }
        if let (Some(p), Some(kp)) = (p, kvs_psnr)
            && (p - kp).abs() < by_psnr.0
        {
            by_psnr = ((p - kp).abs(), q);
        }
    }
    let chosen = if by_psnr.1 > 0 { by_psnr.1 } else { by_size.1 };
    let above = if chosen == 2 && kvs_psnr.zip(finest).is_some_and(|(kp, fp)| kp > fp + 0.3) {
        " kvs-mkv's PSNR is not reached by ffmpeg's finest default quantiser (-q:v 2, its -qmin): \
         ffmpeg writes images of slightly lower PSNR here."
    } else {
        ""
    };
    for d in [&reference, &kvs_dir, &ff_dir] {
        let _ = std::fs::remove_dir_all(d);
    }
    writeln!(
        text,
        "\nChosen: -q:v {chosen} ({}; by average size it would be -q:v {}). kvs-mkv's JPEGs are \
         4:4:4 (no chroma subsampling), ffmpeg's 4:2:0.{above}",
        if by_psnr.1 > 0 { "the PSNR nearest kvs-mkv's" } else { "no PSNR: the nearest average size" },
        by_size.1
    )
    .unwrap();
    (chosen, text)
}

// ---------------------------------------------------------------------------------------------
// The machine.

fn output_of(program: &str, args: &[&str]) -> Option<String> {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
}

/// Fails loudly when a tool the harness needs is missing.
fn require_tools() {
    for (tool, args) in
        [("ffmpeg", &["-version"][..]), ("ffprobe", &["-version"]), ("taskset", &["--version"])]
    {
        assert!(output_of(tool, args).is_some(), "{tool} is required (not found or not working)");
    }
    assert!(
        Path::new("/usr/bin/time").is_file(),
        "/usr/bin/time (GNU time, package `time`) is required for CPU time and peak RSS"
    );
}

fn machine(opts: &Opts) -> String {
    let mut s = String::new();
    let lscpu = output_of("lscpu", &[]).unwrap_or_default();
    let field = |name: &str| {
        lscpu
            .lines()
            .find(|l| l.trim_start().starts_with(name))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_owned())
    };
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = field("Model name").or_else(|| {
        cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, m)| m.trim().to_owned())
    });
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    writeln!(s, "- CPU: {}, {cores} CPUs online", model.unwrap_or_else(|| "unknown".into())).unwrap();
    let caches: Vec<String> = ["L1d cache", "L2 cache", "L3 cache"]
        .iter()
        .filter_map(|c| field(c).map(|v| format!("{}: {v}", c.trim_end_matches(" cache"))))
        .collect();
    if !caches.is_empty() {
        writeln!(s, "- caches: {}", caches.join(", ")).unwrap();
    }
    if let Some(t) = field("Thread(s) per core") {
        writeln!(s, "- threads per core: {t}").unwrap();
    }
    writeln!(s, "- kernel: {}", output_of("uname", &["-r"]).unwrap_or_default()).unwrap();
    let ffv = output_of("ffmpeg", &["-hide_banner", "-version"]).unwrap_or_default();
    writeln!(s, "- {}", ffv.lines().next().unwrap_or("ffmpeg: unknown")).unwrap();
    if let Some(l) = ffv.lines().find(|l| l.starts_with("libavcodec")) {
        writeln!(s, "- ffmpeg's {}", l.split_whitespace().collect::<Vec<_>>().join(" ")).unwrap();
    }
    for (label, bin) in [("default build", &opts.kvs), ("FFmpeg-backend build", &opts.kvs_ff)] {
        let Some(bin) = bin else { continue };
        let v = output_of(bin.to_str().unwrap(), &["--version"]).unwrap_or_default().replace('\n', "; ");
        write!(s, "- kvs-mkv {label}: {} ({v})", bin.display()).unwrap();
        let ldd = output_of("ldd", &[bin.to_str().unwrap()]).unwrap_or_default();
        if let Some(l) = ldd.lines().find(|l| l.contains("libavcodec")) {
            write!(s, ", links {}", l.split_whitespace().nth(2).unwrap_or(l.trim())).unwrap();
        }
        s.push('\n');
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    writeln!(
        s,
        "- load average at the start: {}",
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    )
    .unwrap();
    writeln!(s, "- {}", kvs_benches::provenance()).unwrap();
    s
}

// ---------------------------------------------------------------------------------------------
// Reporting.

fn find<'a>(rows: &'a [Row], input: &str, mode: Mode, runner: Runner) -> Option<&'a Measure> {
    rows.iter()
        .find(|r| r.input == input && r.mode == mode && r.runner == runner)
        .and_then(|r| r.result.as_ref().ok())
}

fn rate(m: &Measure) -> f64 {
    m.images as f64 / m.wall.max(0.001)
}

fn print_input_table(input: &Input, file: &Path, seconds: u32, rows: &[Row]) {
    let size = file.metadata().map_or(0, |m| m.len());
    println!(
        "\n### {}: {}x{} {:?}, {} B-frames, {} b/s, {:.1} MiB\n",
        input.name,
        input.width,
        input.height,
        input.codec,
        input.bframes,
        bitrate(input),
        size as f64 / 1_048_576.0
    );
    println!(
        "| sampling | runner | images | wall s | images/s | CPU s | peak RSS MiB | avg JPEG KiB | vs ffmpeg -threads 1 | vs ffmpeg default |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows.iter().filter(|r| r.input == input.name) {
        match &r.result {
            Ok(m) => {
                let ratio = |base: Runner| {
                    find(rows, r.input, r.mode, base)
                        .map_or_else(|| "-".into(), |b| format!("{:.2}x", rate(m) / rate(b)))
                };
                println!(
                    "| {} | {} | {} | {:.2} | {:.1} | {:.2} | {:.0} | {:.1} | {} | {} |",
                    r.mode.label(),
                    r.runner.label(),
                    m.images,
                    m.wall,
                    rate(m),
                    m.cpu,
                    m.rss_kib as f64 / 1024.0,
                    m.mean_bytes / 1024.0,
                    ratio(Runner::Ffmpeg1),
                    ratio(Runner::Ffmpeg)
                );
            }
            Err(e) => {
                println!(
                    "| {} | {} | {} | | | | | | | |",
                    r.mode.label(),
                    r.runner.label(),
                    e.replace('|', "/")
                )
            }
        }
    }
    println!("\n<details><summary>commands</summary>\n\n```sh");
    println!("# the input (generated once, kept in the cache)");
    println!("{}", show(&generation_command(input, seconds, file)));
    for r in rows.iter().filter(|r| r.input == input.name && !r.command.is_empty()) {
        println!("{}", r.command);
    }
    println!("```\n</details>");
}

/// One goal: `runner`'s images per second over `base`'s must be at least `target` (strictly
/// more when `strict`), on the samplings `modes`.
struct Goal {
    text: &'static str,
    runner: Runner,
    base: Runner,
    target: f64,
    strict: bool,
    modes: &'static [Mode],
}

fn print_goals(opts: &Opts, rows: &[Row]) {
    let goals = [
        Goal {
            text: "FFmpeg backend on 1 core >= 1.0x `ffmpeg -threads 1`",
            runner: Runner::KvsFf(1),
            base: Runner::Ffmpeg1,
            target: 1.0,
            strict: false,
            modes: &Mode::ALL,
        },
        Goal {
            text: "FFmpeg backend on 2 cores >= 1.7x `ffmpeg -threads 1`",
            runner: Runner::KvsFf(2),
            base: Runner::Ffmpeg1,
            target: 1.7,
            strict: false,
            modes: &Mode::ALL,
        },
        Goal {
            text: "FFmpeg backend on 2 cores faster than `ffmpeg` with its default threads at 3 s sampling",
            runner: Runner::KvsFf(2),
            base: Runner::Ffmpeg,
            target: 1.0,
            strict: true,
            modes: &[Mode::Every3s],
        },
        Goal {
            text: "pure-Rust default on 2 cores >= 0.5x `ffmpeg -threads 1`",
            runner: Runner::Kvs(2),
            base: Runner::Ffmpeg1,
            target: 0.5,
            strict: false,
            modes: &Mode::ALL,
        },
    ];
    println!("\n## Goals\n");
    println!(
        "Each cell: images per second of the runner over the baseline's, on the same input and sampling; \
         met, or missed by how much (the shortfall as a share of the target).\n"
    );
    for g in &goals {
        let modes: Vec<Mode> = g.modes.iter().copied().filter(|m| opts.modes.contains(m)).collect();
        if modes.is_empty() || !opts.runners.contains(&g.runner) || !opts.runners.contains(&g.base) {
            println!("### {}\n\nnot measured in this run\n", g.text);
            continue;
        }
        let (mut met, mut missed, mut worst) = (0, 0, f64::MAX);
        println!("### {}\n", g.text);
        println!("| input | {} |", modes.iter().map(|m| m.label()).collect::<Vec<_>>().join(" | "));
        println!("|---|{}", "---|".repeat(modes.len()));
        for input in &opts.inputs {
            let cells: Vec<String> = modes
                .iter()
                .map(|&mode| {
                    match (find(rows, input.name, mode, g.runner), find(rows, input.name, mode, g.base)) {
                        (Some(r), Some(b)) => {
                            let x = rate(r) / rate(b);
                            worst = worst.min(x / g.target);
                            let ok = if g.strict { x > g.target } else { x >= g.target };
                            if ok {
                                met += 1;
                                format!("{x:.2}x met")
                            } else {
                                missed += 1;
                                format!("{x:.2}x **missed by {:.0}%**", (1.0 - x / g.target) * 100.0)
                            }
                        }
                        _ => "-".into(),
                    }
                })
                .collect();
            println!("| {} | {} |", input.name, cells.join(" | "));
        }
        let verdict = if missed == 0 && met > 0 {
            "met everywhere measured".to_owned()
        } else if met + missed == 0 {
            "nothing measured".to_owned()
        } else {
            format!(
                "missed in {missed} of {} cases; the worst is {:.0}% short of the target",
                met + missed,
                (1.0 - worst) * 100.0
            )
        };
        println!("\n{verdict}.\n");
    }
}

fn main() {
    let started = Instant::now();
    let mut opts = parse_args();
    require_tools();
    assert!(
        opts.kvs.is_some() || opts.kvs_ff.is_some(),
        "give --kvs-mkv and/or --kvs-mkv-ffmpeg (benches/images-compare.sh builds both)"
    );
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    if cores < 2 {
        eprintln!("one CPU only: the 2-core rows (and ffmpeg with its default threads) are left out");
        opts.runners.retain(|r| !matches!(r, Runner::Kvs(2) | Runner::KvsFf(2) | Runner::Ffmpeg));
    }
    let help = output_of("ffmpeg", &["-hide_banner", "-h", "long"]).unwrap_or_default();
    if !help.contains("-fps_mode") {
        opts.vfr = ["-vsync", "vfr"];
    }
    std::fs::create_dir_all(&opts.cache).unwrap();
    let work = std::env::temp_dir().join(format!("kvs-images-compare-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();

    println!("# kvs-mkv images against ffmpeg\n");
    print!("{}", machine(&opts));
    println!(
        "- inputs: {} s, 25 fps, a keyframe every 2 s; samplings: {}; runs per cell: {}; images: {}",
        opts.seconds,
        opts.modes.iter().map(|m| m.label()).collect::<Vec<_>>().join(", "),
        opts.runs,
        opts.height.map_or_else(|| "full size".to_owned(), |h| format!("{h} pixels high"))
    );

    // Inputs first (generation is not timed), then the calibration, then the matrix.
    let files: Vec<(Input, PathBuf, Span)> = opts
        .inputs
        .iter()
        .map(|input| {
            let file = ensure_input(&opts.cache, input, opts.seconds);
            let start = first_pts_ms(&file);
            (*input, file, Span { start, end: start + i64::from(opts.seconds) * 1000 - 1 })
        })
        .collect();
    let qv = match opts.qv {
        Some(q) => {
            println!("- ffmpeg -q:v {q} (given with --qv)");
            q
        }
        None => {
            let (input, file, span) =
                files.iter().find(|(i, _, _)| i.codec != Codec::Vp9).unwrap_or(&files[0]);
            let (q, text) = calibrate(&opts, input, file, *span, &work);
            println!("\n{text}");
            q
        }
    };
    println!(
        "kvs-mkv: JPEGQuality={}; ffmpeg: -q:v {qv}. Ratios are images per second over the baseline's \
         (higher: faster). Pinned runs use `taskset -c 0` (1 core) or `taskset -c 0,1` (2 cores).",
        opts.quality
    );

    let mut rows = Vec::new();
    let mut failures = 0;
    for (input, file, span) in &files {
        let before = rows.len();
        for &mode in &opts.modes {
            for &runner in &opts.runners {
                if let Some(row) = run_row(input, file, *span, mode, runner, qv, &opts, &work) {
                    if row.result.is_err() && !row.command.is_empty() {
                        failures += 1;
                    }
                    rows.push(row);
                }
            }
        }
        print_input_table(input, file, opts.seconds, &rows[before..]);
    }
    print_goals(&opts, &rows);
    let _ = std::fs::remove_dir_all(&work);
    println!("\nWhole run (generation and calibration included): {:.0} s.", started.elapsed().as_secs_f64());
    if failures > 0 {
        eprintln!("{failures} runs failed (see their rows)");
        std::process::exit(1);
    }
}
