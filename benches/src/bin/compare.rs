//! The side-by-side comparison: kvs-chunk (full typed events, frames as `Bytes` from `Events`
//! and `EventDecoder`, as borrowed slices from `SliceEvents`) against
//! matroska-demuxer, webm-iterable, a bare hand-rolled EBML walker and ffprobe (when
//! installed), in one run, on the same generated inputs:
//!
//! 1. many small blocks (46,000 SimpleBlocks of 600 bytes), in memory: frames per second;
//! 2. large frames (300 MB of 200 KB frames, 1080p-sized, in unknown-size Clusters), in memory
//!    and fed in 64 KiB chunks: GB/s;
//! 3. a GetMedia-shaped payload (concatenated fragments of 60 frames of 40 KB), fed in 64 KiB
//!    chunks: GB/s;
//! 4. the whole `kvs-mkv fragments` process on a 500 MB GetMedia payload file against
//!    `cat FILE > /dev/null` and `dd if=FILE of=/dev/null bs=128k`: each reader run several
//!    times (`--runs K`, default 5), each run a fresh process, min and median reported. A
//!    fresh process is what a user runs, and where the cost of new memory (page faults, the
//!    allocator's first large buffers) shows; a figure of later runs inside one process hides it.
//!    Run through cargo, the harness builds the `kvs-mkv` it times (same profile) first.
//!
//! ```sh
//! cargo run --release -p kvs-benches --bin compare            # about 3 minutes on 2 cores
//! cargo run --release -p kvs-benches --bin compare -- --quick # inputs a tenth of the size
//! cargo run --release -p kvs-benches --bin compare -- --case 2,3 # only those cases
//! cargo run --release -p kvs-benches --bin compare -- --case 4 --runs 9
//! cargo run --release -p kvs-benches --bin compare -- --case 3 --rounds 10
//! ```
//!
//! Every reader must report the same number of frames as kvs-chunk, else its row says so.
//! Times of cases 1 to 3 are the best of several passes (at least one second in all), taken
//! in interleaved rounds (`--rounds R`, default 3: every reader of the case in turn, then
//! again), so that a slow spell of the machine does not fall on one reader only. Those
//! readers share one process and its heap: a reader that leaves the heap fragmented slows the
//! readers timed after it (a gather buffer that kvs-ebml once shrank in place left holes the
//! walker's buffers no longer fitted, and the walker's times, not kvs-chunk's, made the
//! ratio), so a change to allocation is judged by each row's absolute time. Every table is
//! printed with the machine it was measured on ([`kvs_benches::machine`]: CPU, caches,
//! kernel, C library, transparent huge pages).
//!
//! The bare walker is the practical limit of "just read the headers": no schema, no limits,
//! no error handling beyond stopping; it enters Segment and Cluster and skips every other
//! element by its size. In memory it hands out each SimpleBlock's payload as a `&[u8]`; fed
//! chunks, it hands out each payload as `Bytes` under the same contract as kvs-chunk (a slice
//! of the chunk when the payload lies inside one, gathered once into one buffer otherwise), so
//! that both do the same unavoidable copying.

// A benchmark binary may crash on failure, like a test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::cast_precision_loss
)]

use std::hint::black_box;
use std::io::{Cursor, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kvs_benches::{
    GetMediaShape, LargeFrames, SmallBlocks, getmedia_fragment, large_frames, many_small_blocks,
};
use kvs_chunk::{Event, EventDecoder, Events, SliceEvents};
use kvs_ebml::ids;

const CHUNK: usize = 64 << 10;

// ---------------------------------------------------------------------------------------------
// Measuring.

/// What one pass of a reader counted: frames and frame bytes (so nothing is optimised away).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Count {
    frames: u64,
    bytes: u64,
}

/// The best time of several passes (at least `min_runs`, and at least `min_total` in all).
fn best_of(min_runs: usize, min_total: Duration, mut pass: impl FnMut() -> Count) -> (Duration, Count) {
    let mut best = Duration::MAX;
    let mut count = Count::default();
    let started = Instant::now();
    let mut runs = 0;
    while runs < min_runs || started.elapsed() < min_total {
        let t = Instant::now();
        count = black_box(pass());
        best = best.min(t.elapsed());
        runs += 1;
        if runs >= 50 {
            break;
        }
    }
    (best, count)
}

// ---------------------------------------------------------------------------------------------
// The readers.

/// kvs-chunk over one in-memory `Bytes`: every event, frames as zero-copy slices.
fn kvs_whole(data: &Bytes) -> Count {
    let mut c = Count::default();
    for e in Events::new(data.clone()) {
        if let Event::Frame(f) = e.unwrap() {
            c.frames += 1;
            c.bytes += f.data.len() as u64;
        }
    }
    c
}

/// kvs-chunk's borrowed reader over one `&[u8]`: every event, frames as borrowed slices.
fn kvs_borrowed(data: &[u8]) -> Count {
    let mut c = Count::default();
    for e in SliceEvents::new(data) {
        if let Event::Frame(f) = e.unwrap() {
            c.frames += 1;
            c.bytes += f.data.len() as u64;
        }
    }
    c
}

/// kvs-chunk's `EventDecoder` fed the input as 64 KiB `Bytes` chunks.
fn kvs_chunked(chunks: &[Bytes]) -> Count {
    let mut c = Count::default();
    let mut decoder = EventDecoder::new();
    let pull = |d: &mut EventDecoder, c: &mut Count| {
        while let Some(e) = d.next_event().unwrap() {
            if let Event::Frame(f) = e {
                c.frames += 1;
                c.bytes += f.data.len() as u64;
            }
        }
    };
    for chunk in chunks {
        decoder.feed(chunk.clone());
        pull(&mut decoder, &mut c);
    }
    decoder.finish();
    pull(&mut decoder, &mut c);
    c
}

/// The bare walker in memory (`kvs_benches::walk`), counting frames and frame bytes.
fn walk(data: &[u8]) -> Count {
    let mut c = Count::default();
    kvs_benches::walk(data, |payload| {
        let payload = black_box(payload);
        c.frames += 1;
        c.bytes += payload.len().saturating_sub(4) as u64;
    });
    c
}

/// The bare walker fed 64 KiB chunks: the same walk, resumable at any byte; payloads leave as
/// `Bytes` (a slice of the chunk, or gathered once when they span chunks).
#[derive(Default)]
struct ChunkedWalker {
    /// Bytes of an element header that spans chunks.
    header: Vec<u8>,
    /// Payload bytes still to skip.
    skip: u64,
    /// A SimpleBlock payload being gathered, and how many bytes it still needs.
    gathering: Option<(BytesMut, usize)>,
    count: Count,
}

impl ChunkedWalker {
    fn feed(&mut self, chunk: &Bytes) {
        let mut pos = 0usize;
        let len = chunk.len();
        while pos < len {
            if let Some((buf, need)) = &mut self.gathering {
                let n = (*need).min(len - pos);
                buf.extend_from_slice(&chunk[pos..pos + n]);
                *need -= n;
                pos += n;
                if *need == 0 {
                    let (buf, _) = self.gathering.take().unwrap();
                    self.emit(&buf.freeze());
                }
                continue;
            }
            if self.skip > 0 {
                let n = (self.skip.min((len - pos) as u64)) as usize;
                self.skip -= n as u64;
                pos += n;
                continue;
            }
            // An element header: from the chunk directly, or through the small buffer.
            let avail: &[u8] = if self.header.is_empty() { &chunk[pos..] } else { &self.header };
            let Some((id, size, header_len)) = parse_header(avail) else {
                // Incomplete: keep the bytes (at most 12) and wait.
                let take = (12 - self.header.len()).min(len - pos);
                self.header.extend_from_slice(&chunk[pos..pos + take]);
                pos += take;
                if let Some((id, size, header_len)) = parse_header(&self.header) {
                    // The header is complete now: give back what it did not use.
                    let unused = self.header.len() - header_len;
                    pos -= unused;
                    self.header.clear();
                    if !self.element(id, size) {
                        return;
                    }
                    self.start_payload(id, size, chunk, &mut pos);
                } else if take == 0 {
                    return;
                }
                continue;
            };
            pos += header_len;
            if !self.element(id, size) {
                return;
            }
            self.start_payload(id, size, chunk, &mut pos);
        }
    }

    /// Decides what to do with an element; false to stop.
    fn element(&mut self, id: u32, size: Option<u64>) -> bool {
        if id == ids::SEGMENT.0 || id == ids::CLUSTER.0 {
            return true;
        }
        size.is_some()
    }

    fn start_payload(&mut self, id: u32, size: Option<u64>, chunk: &Bytes, pos: &mut usize) {
        if id == ids::SEGMENT.0 || id == ids::CLUSTER.0 {
            return;
        }
        let size = size.unwrap_or(0);
        if id != ids::SIMPLE_BLOCK.0 {
            self.skip = size;
            return;
        }
        let size = size as usize;
        if chunk.len() - *pos >= size {
            let payload = chunk.slice(*pos..*pos + size);
            *pos += size;
            self.emit(&payload);
        } else {
            let mut buf = BytesMut::with_capacity(size);
            buf.extend_from_slice(&chunk[*pos..]);
            let need = size - (chunk.len() - *pos);
            *pos = chunk.len();
            self.gathering = Some((buf, need));
        }
    }

    fn emit(&mut self, payload: &Bytes) {
        black_box(payload);
        self.count.frames += 1;
        self.count.bytes += payload.len().saturating_sub(4) as u64;
    }
}

/// An element header at the start of `b`: (id, size or `None` for unknown, header length).
fn parse_header(b: &[u8]) -> Option<(u32, Option<u64>, usize)> {
    let first = *b.first()?;
    let id_len = first.leading_zeros() as usize + 1;
    if id_len > 4 || b.len() < id_len + 1 {
        return None;
    }
    let mut id = 0u32;
    for &x in &b[..id_len] {
        id = (id << 8) | u32::from(x);
    }
    let lead = b[id_len];
    let size_len = lead.leading_zeros() as usize + 1;
    if size_len > 8 || b.len() < id_len + size_len {
        return None;
    }
    let mut size = u64::from(lead) & (0xFF >> size_len);
    let mut all_ones = size == 0xFF >> size_len;
    for &x in &b[id_len + 1..id_len + size_len] {
        size = (size << 8) | u64::from(x);
        all_ones &= x == 0xFF;
    }
    Some((id, if all_ones { None } else { Some(size) }, id_len + size_len))
}

fn walk_chunked(chunks: &[Bytes]) -> Count {
    let mut w = ChunkedWalker::default();
    for chunk in chunks {
        w.feed(chunk);
    }
    w.count
}

/// A `Read + Seek` over memory that returns at most `max` bytes per read (64 KiB chunks).
struct ChunkedCursor<'a> {
    inner: Cursor<&'a [u8]>,
    max: usize,
}

impl Read for ChunkedCursor<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.max);
        self.inner.read(&mut buf[..n])
    }
}

impl Seek for ChunkedCursor<'_> {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        self.inner.seek(pos)
    }
}

/// matroska-demuxer: every frame (it copies each into its `Frame`'s `Vec`).
fn demuxer<R: Read + Seek>(reader: R) -> Result<Count, String> {
    let mut file = matroska_demuxer::MatroskaFile::open(reader).map_err(|e| format!("open: {e:?}"))?;
    let mut frame = matroska_demuxer::Frame::default();
    let mut c = Count::default();
    loop {
        match file.next_frame(&mut frame) {
            Ok(true) => {
                c.frames += 1;
                c.bytes += frame.data.len() as u64;
            }
            Ok(false) => return Ok(c),
            Err(e) => return Err(format!("after {} frames: {e:?}", c.frames)),
        }
    }
}

/// webm-iterable: every tag; SimpleBlocks counted (their payload is a `Vec` it filled).
fn webm_iterable<R: Read>(reader: R) -> Result<Count, String> {
    use webm_iterable::matroska_spec::MatroskaSpec;
    let mut c = Count::default();
    for tag in webm_iterable::WebmIterator::new(reader, &[]) {
        if let MatroskaSpec::SimpleBlock(data) =
            tag.map_err(|e| format!("after {} frames: {e:?}", c.frames))?
        {
            c.frames += 1;
            c.bytes += data.len().saturating_sub(4) as u64;
        }
    }
    Ok(c)
}

/// matroska-demuxer cannot open an unknown-size Segment: the same bytes with the first
/// Segment's 8-byte unknown size made the known size up to the end (no byte moves).
fn for_demuxer(input: &[u8]) -> Vec<u8> {
    const UNKNOWN_SEGMENT: [u8; 12] =
        [0x18, 0x53, 0x80, 0x67, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];
    let mut v = input.to_vec();
    if let Some(at) = v.windows(12).position(|w| w == UNKNOWN_SEGMENT) {
        let size = (v.len() - at - 12) as u64;
        v[at + 5..at + 12].copy_from_slice(&size.to_be_bytes()[1..]);
    }
    v
}

// ---------------------------------------------------------------------------------------------
// Processes.

/// One command the harness times as a whole process: stdout captured (it is small), stdin
/// from a file or nothing.
struct Process<'a> {
    program: &'a Path,
    args: Vec<String>,
    stdin: Option<&'a Path>,
    /// Stdout straight to /dev/null (as `> /dev/null` would, without a shell) rather than a pipe.
    discard: bool,
}

impl Process<'_> {
    /// Runs the command once, in a fresh process: its wall time (spawn to exit) and stdout.
    fn run(&self) -> Result<(Duration, String), String> {
        let mut cmd = Command::new(self.program);
        cmd.args(&self.args).stderr(Stdio::piped());
        if self.discard {
            cmd.stdout(std::fs::File::create("/dev/null").map_err(|e| e.to_string())?);
        } else {
            cmd.stdout(Stdio::piped());
        }
        match self.stdin {
            Some(p) => cmd.stdin(std::fs::File::open(p).map_err(|e| e.to_string())?),
            None => cmd.stdin(Stdio::null()),
        };
        let t = Instant::now();
        let out = cmd.output().map_err(|e| format!("{}: {e}", self.program.display()))?;
        let elapsed = t.elapsed();
        if !out.status.success() {
            return Err(format!(
                "{} exited {:?}: {}",
                self.program.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok((elapsed, String::from_utf8_lossy(&out.stdout).into_owned()))
    }
}

/// The best wall time of `runs` runs of a command (each a fresh process), and its stdout.
fn time_process(
    runs: usize,
    program: &Path,
    args: &[&str],
    stdin: Option<&Path>,
) -> Result<(Duration, String), String> {
    let p = Process { program, args: args.iter().map(|a| (*a).to_owned()).collect(), stdin, discard: false };
    let mut best = Duration::MAX;
    let mut stdout_text = String::new();
    for _ in 0..runs {
        let (t, out) = p.run()?;
        best = best.min(t);
        stdout_text = out;
    }
    Ok((best, stdout_text))
}

fn ffprobe() -> Option<PathBuf> {
    let ok = Command::new("ffprobe").arg("-version").stdout(Stdio::null()).stderr(Stdio::null()).status();
    ok.is_ok_and(|s| s.success()).then(|| PathBuf::from("ffprobe"))
}

/// ffprobe counting the packets of a file (a whole process, the file in the page cache).
fn ffprobe_count(ffprobe: &Path, file: &Path) -> Result<(Duration, u64), String> {
    let args = ["-v", "error", "-count_packets", "-show_entries", "stream=nb_read_packets", "-of", "csv=p=0"];
    let mut all: Vec<&str> = args.to_vec();
    let f = file.to_str().unwrap();
    all.push(f);
    let (t, out) = time_process(3, ffprobe, &all, None)?;
    let packets = out.lines().filter_map(|l| l.trim().parse::<u64>().ok()).sum();
    Ok((t, packets))
}

// ---------------------------------------------------------------------------------------------
// The table.

struct Row {
    case: &'static str,
    reader: String,
    mode: &'static str,
    /// Frames per second (case 1) or GB/s (cases 2, 3).
    value: Option<f64>,
    note: String,
}

fn chunks_of(data: &Bytes) -> Vec<Bytes> {
    (0..data.len()).step_by(CHUNK).map(|i| data.slice(i..(i + CHUNK).min(data.len()))).collect()
}

fn gbps(bytes: usize, t: Duration) -> f64 {
    bytes as f64 / t.as_secs_f64() / 1e9
}

/// One reader of a case: its row's name, and one pass over the input.
type Reader<'a> = (String, &'static str, Box<dyn FnMut() -> Result<Count, String> + 'a>);

/// One case's rows: what every reader must count, and how a time becomes the row's figure.
/// The readers are timed in `rounds` interleaved rounds (each reader's best of several
/// passes in each, the best of all rounds kept), so that a slow spell of the machine (another
/// tenant, where the input landed) does not fall on one reader only.
struct Case<'r, 'a, F> {
    name: &'static str,
    expected: Count,
    value: F,
    min_total: Duration,
    rounds: usize,
    rows: &'r mut Vec<Row>,
    readers: Vec<Reader<'a>>,
}

impl<'r, 'a, F: Fn(Duration, Count) -> f64> Case<'r, 'a, F> {
    fn new(
        name: &'static str,
        expected: Count,
        value: F,
        min_total: Duration,
        rounds: usize,
        rows: &'r mut Vec<Row>,
    ) -> Self {
        Self { name, expected, value, min_total, rounds, rows, readers: Vec::new() }
    }

    /// Adds a reader, timed by [`Case::run`].
    fn time(&mut self, reader: &str, mode: &'static str, pass: impl FnMut() -> Result<Count, String> + 'a) {
        self.readers.push((reader.to_owned(), mode, Box::new(pass)));
    }

    /// Runs each reader once (a failure becomes its row's note), then times the others in
    /// interleaved rounds, and writes their rows.
    fn run(&mut self) {
        let mut results: Vec<Result<(Duration, Count), String>> =
            self.readers.iter_mut().map(|(_, _, pass)| pass().map(|c| (Duration::MAX, c))).collect();
        let per_round = self.min_total / u32::try_from(self.rounds).unwrap_or(1);
        for _ in 0..self.rounds {
            for ((_, _, pass), result) in self.readers.iter_mut().zip(&mut results) {
                if let Ok((best, count)) = result {
                    let (t, c) = best_of(3, per_round, || pass().unwrap());
                    *best = (*best).min(t);
                    *count = c;
                }
            }
        }
        for ((reader, mode, _), result) in std::mem::take(&mut self.readers).into_iter().zip(results) {
            self.push(&reader, mode, result);
        }
    }

    /// ffprobe counting the packets of `data` written to `file`.
    fn ffprobe(&mut self, ffprobe: &Path, file: &Path, data: &[u8]) {
        std::fs::write(file, data).unwrap();
        let r = ffprobe_count(ffprobe, file).map(|(t, n)| (t, Count { frames: n, bytes: 0 }));
        self.push("ffprobe -count_packets", "process, file", r);
    }

    fn push(&mut self, reader: &str, mode: &'static str, result: Result<(Duration, Count), String>) {
        self.rows.push(row(self.name, reader, mode, self.expected, result, &self.value));
    }
}

/// A reader over `data` that returns at most 64 KiB per read.
fn chunked_cursor(data: &[u8]) -> ChunkedCursor<'_> {
    ChunkedCursor { inner: Cursor::new(data), max: CHUNK }
}

fn row(
    case: &'static str,
    reader: &str,
    mode: &'static str,
    expected: Count,
    result: Result<(Duration, Count), String>,
    value: impl Fn(Duration, Count) -> f64,
) -> Row {
    match result {
        Ok((t, c)) if c.frames == expected.frames => {
            Row { case, reader: reader.into(), mode, value: Some(value(t, c)), note: String::new() }
        }
        Ok((_, c)) => Row {
            case,
            reader: reader.into(),
            mode,
            value: None,
            note: format!("counted {} frames, not {}", c.frames, expected.frames),
        },
        Err(e) => Row { case, reader: reader.into(), mode, value: None, note: e.chars().take(90).collect() },
    }
}

fn print_table(rows: &[Row]) {
    println!();
    println!("| case | reader | input | result | vs bare walker | vs kvs-chunk | note |");
    println!("|---|---|---|---|---|---|---|");
    for r in rows {
        let unit = if r.case == "1 small blocks" { "M frames/s" } else { "GB/s" };
        let shown = |v: f64| if r.case == "1 small blocks" { v / 1e6 } else { v };
        let same = |reader: &str| {
            rows.iter()
                .find(|o| {
                    o.case == r.case
                        && o.reader == reader
                        && (o.mode == r.mode
                            || rows.iter().filter(|x| x.case == r.case && x.reader == reader).count() == 1)
                })
                .and_then(|o| o.value)
        };
        let ratio = |base: Option<f64>| match (r.value, base) {
            (Some(v), Some(b)) => format!("{:.2}x", v / b),
            _ => "-".into(),
        };
        let (walker, kvs) = (same("bare walker"), same("kvs-chunk"));
        println!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            r.case,
            r.reader,
            r.mode,
            r.value.map_or("n/a".into(), |v| format!("{:.2} {unit}", shown(v))),
            ratio(walker),
            ratio(kvs),
            r.note
        );
    }
    println!();
    println!("Ratios are result / baseline: higher is faster.");
}

// ---------------------------------------------------------------------------------------------
// Case 4: whole processes.

/// The median of some times (the mean of the middle two for an even count).
fn median(times: &[Duration]) -> Duration {
    let mut t = times.to_vec();
    t.sort();
    match t.len() {
        0 => Duration::ZERO,
        n if n % 2 == 1 => t[n / 2],
        n => (t[n / 2 - 1] + t[n / 2]) / 2,
    }
}

/// The `kvs-mkv` binary case 4 times, and how it was found. Run by cargo (`cargo run ...
/// --bin compare`), the harness has that cargo build `kvs-mkv` first with its own profile
/// and takes the path cargo reports, so that the binary timed is the one of the commit the
/// table names, not one left from an earlier build (`cargo build --bin compare -p kvs-cli`
/// builds no `kvs-mkv`). Run directly, it takes the binary beside itself and says so.
fn kvs_mkv_binary() -> Result<(PathBuf, String), String> {
    let exe = std::env::current_exe().map_err(|e| format!("where is this binary: {e}"))?;
    if let Some(cargo) = std::env::var_os("CARGO") {
        // The profile this binary was built with: its directory's name (`debug` is `dev`).
        let profile = match exe.parent().and_then(Path::file_name).and_then(|n| n.to_str()) {
            Some("debug") => "dev".to_string(),
            Some(dir) => dir.to_string(),
            None => "release".to_string(),
        };
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let out = Command::new(cargo)
            .current_dir(&workspace)
            .args(["build", "--profile", &profile, "-p", "kvs-cli", "--bin", "kvs-mkv"])
            .arg("--message-format=json-render-diagnostics")
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("cargo build of kvs-mkv did not start: {e}"))?;
        if !out.status.success() {
            return Err(format!("cargo build of kvs-mkv failed ({})", out.status));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let built = text
            .lines()
            .filter(|l| l.contains("\"reason\":\"compiler-artifact\""))
            .filter_map(|l| l.split("\"executable\":\"").nth(1)?.split('"').next())
            .next_back()
            .map(PathBuf::from);
        if let Some(path) = built {
            return Ok((path, format!("built from this tree by cargo, profile {profile}")));
        }
        return Err("cargo built kvs-mkv but named no executable".into());
    }
    let beside = exe.with_file_name("kvs-mkv");
    if !beside.exists() {
        return Err(format!(
            "{} not built: cargo build --release -p kvs-cli --bin kvs-mkv",
            beside.display()
        ));
    }
    Ok((beside, "the binary beside compare as found; run through cargo to have it rebuilt".into()))
}

/// Case 4: writes a 500 MB GetMedia payload file (a tenth with `--quick`), then times `cat`,
/// `dd bs=128k` and `kvs-mkv fragments` on it, each `runs` times in a fresh process. The
/// readers take turns (one run of each, then the next round) after one untimed round that
/// puts the file and the programs in the page cache, so that a drift of the machine falls on
/// all of them alike. Returns the table (Markdown), with min and median of the runs.
fn case_4(tmp: &Path, shape: &GetMediaShape, scale: usize, runs: usize) -> String {
    use std::fmt::Write as _;
    let (kvs_mkv, provenance) = match kvs_mkv_binary() {
        Ok(found) => found,
        Err(e) => return format!("case 4: {e}\n"),
    };
    eprintln!("case 4: {} ({provenance})", kvs_mkv.display());
    let file = tmp.join("payload.mkv");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
    let mut written = 0usize;
    let mut fragments = 0u64;
    while written < 500_000_000 / scale {
        let f = getmedia_fragment(fragments, shape).unwrap();
        out.write_all(&f).unwrap();
        written += f.len();
        fragments += 1;
    }
    // On disk before anything is timed: no writeback runs under the readers.
    out.into_inner().unwrap().sync_all().unwrap();
    eprintln!("case 4: {written} bytes, {fragments} fragments in {}", file.display());
    let f = file.to_str().unwrap();
    let (cat, dd) = (Path::new("cat"), Path::new("dd"));
    let readers: Vec<(&str, Process)> = vec![
        ("cat FILE > /dev/null", Process { program: cat, args: vec![f.into()], stdin: None, discard: true }),
        (
            "dd if=FILE of=/dev/null bs=128k",
            Process {
                program: dd,
                args: vec![format!("if={f}"), "of=/dev/null".into(), "bs=128k".into()],
                stdin: None,
                discard: true,
            },
        ),
        (
            "kvs-mkv fragments FILE",
            Process {
                program: &kvs_mkv,
                args: vec!["fragments".into(), f.into()],
                stdin: None,
                discard: false,
            },
        ),
        (
            "kvs-mkv fragments - < FILE",
            Process {
                program: &kvs_mkv,
                args: vec!["fragments".into(), "-".into()],
                stdin: Some(&file),
                discard: false,
            },
        ),
    ];
    // Per reader: its times, its last stdout, or the error that stopped it.
    let mut results: Vec<Result<(Vec<Duration>, String), String>> =
        readers.iter().map(|_| Ok((Vec::new(), String::new()))).collect();
    for round in 0..=runs {
        for ((_, p), result) in readers.iter().zip(&mut results) {
            let Ok((times, stdout)) = result else { continue };
            match p.run() {
                // Round 0 is the untimed warm-up.
                Ok((t, out)) => {
                    if round > 0 {
                        times.push(t);
                    }
                    *stdout = out;
                }
                Err(e) => *result = Err(e),
            }
        }
    }
    let stats = |r: &Result<(Vec<Duration>, String), String>| {
        r.as_ref().ok().map(|(t, _)| (t.iter().min().copied().unwrap_or_default(), median(t)))
    };
    let (cat_t, dd_t) = (stats(&results[0]), stats(&results[1]));
    let ratio = |v: Duration, base: Option<Duration>| {
        base.map_or("-".to_owned(), |b| format!("{:.2}x", v.as_secs_f64() / b.as_secs_f64()))
    };
    let mut s = String::new();
    writeln!(s).unwrap();
    writeln!(
        s,
        "Case 4: a {written}-byte GetMedia payload file ({fragments} fragments) in the page cache; each reader run {runs} times, each run a fresh process (spawn to exit, wall time), the readers taking turns after one untimed round. kvs-mkv: {provenance}."
    )
    .unwrap();
    writeln!(s).unwrap();
    writeln!(
        s,
        "| reader | min | median | min vs cat | min vs dd | median vs cat | median vs dd | runs (s) | note |"
    )
    .unwrap();
    writeln!(s, "|---|---|---|---|---|---|---|---|---|").unwrap();
    for ((name, _), result) in readers.iter().zip(&results) {
        match result {
            Ok((times, out)) => {
                let (min, med) = (times.iter().min().copied().unwrap_or_default(), median(times));
                let all: Vec<String> = times.iter().map(|t| format!("{:.3}", t.as_secs_f64())).collect();
                let mut note = format!("{:.2} GB/s at the min", gbps(written, min));
                if name.starts_with("kvs") {
                    let complete = out.lines().filter(|l| l.ends_with("complete")).count() as u64;
                    note = if complete == fragments {
                        format!("{complete} fragments listed complete; {note}")
                    } else {
                        format!("{complete} fragments listed complete, not {fragments}; {note}")
                    };
                }
                writeln!(
                    s,
                    "| {name} | {:.3} s | {:.3} s | {} | {} | {} | {} | {} | {note} |",
                    min.as_secs_f64(),
                    med.as_secs_f64(),
                    ratio(min, cat_t.map(|c| c.0)),
                    ratio(min, dd_t.map(|d| d.0)),
                    ratio(med, cat_t.map(|c| c.1)),
                    ratio(med, dd_t.map(|d| d.1)),
                    all.join(" ")
                )
                .unwrap();
            }
            Err(e) => {
                let e: String = e.chars().take(90).collect();
                writeln!(s, "| {name} | n/a | n/a | - | - | - | - | - | {e} |").unwrap();
            }
        }
    }
    writeln!(s).unwrap();
    writeln!(s, "Ratios are time / baseline time: lower is faster.").unwrap();
    s
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    // `--case 2,3`: only those cases (default: all four).
    let only: Vec<u32> = args
        .iter()
        .position(|a| a == "--case")
        .and_then(|i| args.get(i + 1))
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_default();
    let wants = |n: u32| only.is_empty() || only.contains(&n);
    // A positive count given as `FLAG N`, else `default`.
    let count = |flag: &str, default: usize| -> usize {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .filter(|&k| k > 0)
            .unwrap_or(default)
    };
    // `--runs K`: how many fresh processes of each reader case 4 times (default 5).
    let runs = count("--runs", 5);
    // `--rounds R`: in how many interleaved rounds cases 1 to 3 time their readers (default 3).
    let rounds = count("--rounds", 3);
    // The GetMedia fragments of cases 3 and 4.
    let shape = GetMediaShape::default();
    let rate = |n: usize| move |t: Duration, _c: Count| gbps(n, t);
    let scale = if quick { 10 } else { 1 };
    let min_total = Duration::from_millis(if quick { 300 } else { 1000 });
    let ffprobe = ffprobe();
    let tmp = std::env::temp_dir().join(format!("kvs-compare-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let mut rows = Vec::new();

    if wants(1) {
        // 1. Many small blocks, in memory.
        let shape = SmallBlocks { blocks: 46_000 / scale, ..SmallBlocks::default() };
        let data = Bytes::from(many_small_blocks(&shape).unwrap());
        eprintln!("case 1: {} bytes, {} SimpleBlocks of {} bytes", data.len(), shape.blocks, shape.block_len);
        let expected = kvs_whole(&data);
        assert_eq!(expected.frames, shape.blocks as u64);
        let fps = |t: Duration, c: Count| c.frames as f64 / t.as_secs_f64();
        let peer = for_demuxer(&data);
        let mut c = Case::new("1 small blocks", expected, fps, min_total, rounds, &mut rows);
        c.time("kvs-chunk", "in memory", || Ok(kvs_whole(&data)));
        c.time("kvs-chunk borrowed", "in memory", || Ok(kvs_borrowed(&data)));
        c.time("bare walker", "in memory", || Ok(walk(&data)));
        c.time("matroska-demuxer", "in memory", || demuxer(Cursor::new(&peer[..])));
        c.time("webm-iterable", "in memory", || webm_iterable(Cursor::new(&data[..])));
        c.run();
        if let Some(ff) = &ffprobe {
            c.ffprobe(ff, &tmp.join("small.mkv"), &data);
            if let Some(r) = c.rows.last_mut() {
                r.note = format!("{} (a whole process: includes its start-up)", r.note).trim().to_owned();
            }
        }
    }
    if wants(2) {
        // 2. Large frames, in memory and in 64 KiB chunks.
        let shape = LargeFrames { total: 300_000_000 / scale, frame_len: 200_000, per_cluster: 30 };
        let data = Bytes::from(large_frames(&shape).unwrap());
        let chunks = chunks_of(&data);
        eprintln!("case 2: {} bytes, frames of {} bytes", data.len(), shape.frame_len);
        let expected = kvs_whole(&data);
        let value = rate(data.len());
        let peer = for_demuxer(&data);
        let mut c = Case::new("2 large frames", expected, value, min_total, rounds, &mut rows);
        c.time("kvs-chunk", "in memory", || Ok(kvs_whole(&data)));
        c.time("kvs-chunk borrowed", "in memory", || Ok(kvs_borrowed(&data)));
        c.time("bare walker", "in memory", || Ok(walk(&data)));
        c.time("kvs-chunk", "64 KiB chunks", || Ok(kvs_chunked(&chunks)));
        c.time("bare walker", "64 KiB chunks", || Ok(walk_chunked(&chunks)));
        c.time("matroska-demuxer", "in memory", || demuxer(Cursor::new(&peer[..])));
        c.time("matroska-demuxer", "64 KiB chunks", || demuxer(chunked_cursor(&peer)));
        c.time("webm-iterable", "in memory", || webm_iterable(Cursor::new(&data[..])));
        c.time("webm-iterable", "64 KiB chunks", || webm_iterable(chunked_cursor(&data)));
        c.run();
        if let Some(ff) = &ffprobe {
            c.ffprobe(ff, &tmp.join("large.mkv"), &data);
        }
    }
    if wants(3) {
        // 3. A GetMedia payload, in 64 KiB chunks.
        let fragments = (300_000_000 / scale / (shape.frames * shape.frame_len)) as u64;
        let mut payload = Vec::new();
        for i in 0..fragments {
            payload.extend_from_slice(&getmedia_fragment(i, &shape).unwrap());
        }
        let data = Bytes::from(payload);
        let chunks = chunks_of(&data);
        eprintln!("case 3: {} bytes, {fragments} fragments", data.len());
        let expected = kvs_chunked(&chunks);
        let value = rate(data.len());
        let mut c = Case::new("3 GetMedia", expected, value, min_total, rounds, &mut rows);
        c.time("kvs-chunk", "64 KiB chunks", || Ok(kvs_chunked(&chunks)));
        c.time("bare walker", "64 KiB chunks", || Ok(walk_chunked(&chunks)));
        c.time("webm-iterable", "64 KiB chunks", || webm_iterable(chunked_cursor(&data)));
        c.run();
        c.rows.push(Row {
            case: c.name,
            reader: "matroska-demuxer".into(),
            mode: "64 KiB chunks",
            value: None,
            note: "reads one Segment per file: a GetMedia payload is many".into(),
        });
        if let Some(ff) = &ffprobe {
            c.ffprobe(ff, &tmp.join("getmedia.mkv"), &data);
        }
    }
    // 4. The whole kvs-mkv process on a 500 MB payload file, against cat and dd.
    let process_table = wants(4).then(|| case_4(&tmp, &shape, scale, runs));
    let _ = std::fs::remove_dir_all(&tmp);
    if !rows.is_empty() {
        println!("{}", kvs_benches::provenance());
        println!("{}", kvs_benches::machine());
        print_table(&rows);
    }
    if let Some(table) = process_table {
        if !rows.is_empty() {
            println!();
        }
        println!("{}", kvs_benches::provenance());
        println!("{}", kvs_benches::machine());
        print!("{table}");
    }
}
