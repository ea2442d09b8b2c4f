//! Inputs for the benchmarks, generated with [`kvs_ebml::Writer`] so that every bench (and
//! every later one) runs on the same, reproducible bytes without shipping media files.
//!
//! - [`many_small_blocks`]: a long recording of small frames, as an audio track or a low
//!   bit-rate camera produces: the tokenizer's per-element cost dominates.
//! - [`large_frames`]: large frames in GetMedia-style unknown-size Clusters: the cost of
//!   moving (or not copying) payload bytes dominates.
//!
//! ```
//! let input = kvs_benches::many_small_blocks(&kvs_benches::SmallBlocks { blocks: 120, ..Default::default() })?;
//! let tokens = kvs_ebml::SliceTokenizer::new(&input).count();
//! assert!(tokens > 120);
//! # Ok::<(), kvs_ebml::writer::WriteError>(())
//! ```

pub mod hostile;

/// What `program args` printed on stdout (trimmed), if it ran and succeeded.
fn command_output(program: &str, args: &[&str]) -> Option<String> {
    std::process::Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
}

/// Where a figure was measured, as one line: the date, the commit (`git rev-parse --short
/// HEAD`, with `-dirty` when tracked files other than Markdown have changes), the build profile, the number of
/// cores and the CPU model. Every command that prints a figure for the README prints this
/// line with it.
pub fn provenance() -> String {
    let commit =
        command_output("git", &["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".to_owned());
    // Markdown (the README the figure goes into) does not make a measurement dirty.
    let dirty =
        command_output("git", &["status", "--porcelain", "--untracked-files=no", "--", ".", ":!*.md"])
            .is_some_and(|s| !s.is_empty());
    let date = command_output("date", &["-u", "+%Y-%m-%d"]).unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let profile = if cfg!(debug_assertions) { "debug" } else { "release" };
    format!(
        "measured {date} on commit {commit}{}, {profile} build, {cores} cores, {cpu}",
        if dirty { "-dirty" } else { "" }
    )
}

/// The machine a figure was measured on, as Markdown list lines: the CPU model (family and
/// model numbers, and whether it has the `erms`/`fsrm` fast string copies the kernel's reads
/// use) and how many cores are online, the caches of the first core (level, type and size, from
/// `/sys/devices/system/cpu/cpu0/cache`), the kernel (`uname -r`), the C library (`ldd
/// --version`), the transparent huge pages setting, any `GLIBC_TUNABLES` in force and the load
/// average when it was asked. A figure that depends on the machine (a whole process reading a
/// file: its system calls, page faults and the kernel's copies) prints this with it, so that
/// a README figure says where it came from.
pub fn machine() -> String {
    let read = |path: &str| std::fs::read_to_string(path).ok().map(|s| s.trim().to_owned());
    let cpuinfo = read("/proc/cpuinfo").unwrap_or_default();
    // The first processor's `name : value` lines.
    let field = |name: &str| {
        cpuinfo
            .lines()
            .find(|l| l.split(':').next().is_some_and(|k| k.trim() == name))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_owned())
    };
    let mut cpu = field("model name").unwrap_or_else(|| "unknown CPU".to_owned());
    if let (Some(family), Some(model)) = (field("cpu family"), field("model")) {
        cpu = format!("{cpu} (family {family}, model {model})");
    }
    // The flags that choose how the kernel copies a read into user memory (`rep movsb`).
    let flags = field("flags").unwrap_or_default();
    let copy: Vec<&str> = flags.split_whitespace().filter(|f| matches!(*f, "erms" | "fsrm")).collect();
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    // index0 .. index3 are L1d, L1i, L2 and L3 on common x86 and Arm parts; read them all.
    let caches: Vec<String> = (0..8)
        .filter_map(|i| {
            let dir = format!("/sys/devices/system/cpu/cpu0/cache/index{i}");
            let level = read(&format!("{dir}/level"))?;
            let kind = read(&format!("{dir}/type")).unwrap_or_default();
            let size = read(&format!("{dir}/size"))?;
            let suffix = match kind.as_str() {
                "Data" => "d",
                "Instruction" => "i",
                _ => "",
            };
            Some(format!("L{level}{suffix} {}", cache_size(&size)))
        })
        .collect();
    let kernel = command_output("uname", &["-r"]).unwrap_or_else(|| "unknown".to_owned());
    let libc = command_output("ldd", &["--version"])
        .and_then(|v| v.lines().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned());
    // `always [madvise] never`: the bracketed word is the setting.
    let thp = read("/sys/kernel/mm/transparent_hugepage/enabled").map_or_else(
        || "unknown".to_owned(),
        |s| {
            s.split_whitespace()
                .find(|w| w.starts_with('['))
                .map_or(s.clone(), |w| w.trim_matches(|c| c == '[' || c == ']').to_owned())
        },
    );
    let tunables = std::env::var("GLIBC_TUNABLES").unwrap_or_else(|_| "unset".to_owned());
    let load = read("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    format!(
        "- CPU: {cpu}, {cores} cores online, copy flags: {}\n- caches (cpu0): {}\n- kernel: {kernel}\n- C library: {libc}\n- transparent huge pages: {thp}; GLIBC_TUNABLES: {tunables}\n- load average: {load}",
        if copy.is_empty() { "none".to_owned() } else { copy.join(" ") },
        if caches.is_empty() { "unknown".to_owned() } else { caches.join(", ") }
    )
}

/// `32K` (as sysfs writes a cache size) as `32 KiB`, `1024K` as `1 MiB`.
fn cache_size(s: &str) -> String {
    match s.strip_suffix('K').and_then(|k| k.parse::<u64>().ok()) {
        Some(k) if k >= 1024 && k % 1024 == 0 => format!("{} MiB", k / 1024),
        Some(k) => format!("{k} KiB"),
        None => s.to_owned(),
    }
}

use kvs_ebml::writer::{MasterSize, SizeWidth, WriteError};
use kvs_ebml::{Writer, ids};

/// The shape of [`many_small_blocks`]'s input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmallBlocks {
    /// How many SimpleBlocks in all.
    pub blocks: usize,
    /// The size of each SimpleBlock's payload (4-byte block header included), in bytes.
    pub block_len: usize,
    /// How many SimpleBlocks per (known-size) Cluster.
    pub per_cluster: usize,
}

impl Default for SmallBlocks {
    /// 46,000 blocks of 600 bytes in Clusters of 60: about 28 MB.
    fn default() -> Self {
        Self { blocks: 46_000, block_len: 600, per_cluster: 60 }
    }
}

/// The shape of [`large_frames`]'s input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LargeFrames {
    /// How many bytes of frames in all (rounded up to whole frames).
    pub total: usize,
    /// The size of each SimpleBlock's payload, in bytes.
    pub frame_len: usize,
    /// How many SimpleBlocks per (unknown-size) Cluster.
    pub per_cluster: usize,
}

impl Default for LargeFrames {
    /// 64 MiB of 200 KB frames, 30 per Cluster.
    fn default() -> Self {
        Self { total: 64 << 20, frame_len: 200_000, per_cluster: 30 }
    }
}

/// Writes a Matroska EBML header, as ffmpeg and the KVS producer SDK write it (the one
/// [`kvs_mux::elements::write_ebml_header`] writes).
///
/// # Errors
///
/// Never in practice (as [`Writer::master`]).
pub fn write_ebml_header(w: &mut Writer) -> Result<(), WriteError> {
    kvs_mux::elements::write_ebml_header(w, "matroska")
}

/// The bare walker: no schema, no limits, no tokens, the practical speed limit of any EBML
/// reader. Reads an id (1..4 bytes) and a size VINT; Segment and Cluster are entered (their
/// children follow, whatever their size), every other element is skipped by its size; each
/// SimpleBlock's payload (cut at the end of `data`) goes to `on_block`. Stops at the first
/// header it cannot read. Returns the number of SimpleBlocks.
// The walker is deliberately the unchecked baseline: every index is bounds-checked by the
// comparisons just before it (a failed one ends the walk), and positions only grow within
// `data`, so neither indexing nor arithmetic can fail; checked forms would slow the baseline.
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
#[inline]
pub fn walk(data: &[u8], mut on_block: impl FnMut(&[u8])) -> usize {
    let (segment, cluster, block) = (ids::SEGMENT.0, ids::CLUSTER.0, ids::SIMPLE_BLOCK.0);
    let mut pos = 0usize;
    let mut blocks = 0usize;
    while pos < data.len() {
        let first = data[pos];
        let id_len = first.leading_zeros() as usize + 1;
        if id_len > 4 || pos + id_len >= data.len() {
            break;
        }
        let mut id = 0u32;
        for &b in &data[pos..pos + id_len] {
            id = (id << 8) | u32::from(b);
        }
        pos += id_len;
        let lead = data[pos];
        let size_len = lead.leading_zeros() as usize + 1;
        if size_len > 8 || pos + size_len > data.len() {
            break;
        }
        let mut size = u64::from(lead) & (0xFF >> size_len);
        let mut all_ones = size == 0xFF >> size_len;
        for &b in &data[pos + 1..pos + size_len] {
            size = (size << 8) | u64::from(b);
            all_ones &= b == 0xFF;
        }
        pos += size_len;
        if id == segment || id == cluster {
            continue;
        }
        if all_ones {
            break;
        }
        let end = pos.saturating_add(usize::try_from(size).unwrap_or(usize::MAX)).min(data.len());
        if id == block {
            on_block(&data[pos..end]);
            blocks += 1;
        }
        pos = end;
    }
    blocks
}

/// Writes the Segment's Info and one video track (H.264, 640x360).
///
/// # Errors
///
/// Never in practice (as [`Writer::master`]).
pub fn write_info_and_tracks(w: &mut Writer) -> Result<(), WriteError> {
    w.master(ids::INFO, MasterSize::Known(SizeWidth::Minimal), |w| {
        w.unsigned(ids::TIMESTAMP_SCALE, 1_000_000)?;
        w.utf8(ids::MUXING_APP, "kvs-benches")?;
        w.utf8(ids::WRITING_APP, "kvs-benches")
    })?;
    w.master(ids::TRACKS, MasterSize::Known(SizeWidth::Minimal), |w| {
        w.master(ids::TRACK_ENTRY, MasterSize::Known(SizeWidth::Minimal), |w| {
            w.unsigned(ids::TRACK_NUMBER, 1)?;
            w.unsigned(ids::TRACK_UID, 1)?;
            w.unsigned(ids::TRACK_TYPE, 1)?;
            w.string(ids::CODEC_ID, "V_MPEG4/ISO/AVC")?;
            w.binary(ids::CODEC_PRIVATE, &[0x01, 0x4D, 0x40, 0x1E, 0x03, 0x01, 0x00, 0x27])?;
            w.master(ids::VIDEO, MasterSize::Known(SizeWidth::Minimal), |w| {
                w.unsigned(ids::PIXEL_WIDTH, 640)?;
                w.unsigned(ids::PIXEL_HEIGHT, 360)
            })
        })
    })
}

/// A SimpleBlock payload of `len` bytes (at least the 4-byte block header): track 1, the
/// given relative timestamp, keyframe flag on the first block of a Cluster, then filler.
#[must_use]
pub fn simple_block(len: usize, relative_timestamp: i16, keyframe: bool) -> Vec<u8> {
    let mut block = Vec::with_capacity(len.max(4));
    block.push(0x81);
    block.extend_from_slice(&relative_timestamp.to_be_bytes());
    block.push(if keyframe { 0x80 } else { 0x00 });
    // Filler that is not all zeros (so nothing can take a shortcut on it).
    let mut x: u32 = 0x1234_5678;
    while block.len() < len {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        block.extend_from_slice(&x.to_le_bytes());
    }
    block.truncate(len.max(4));
    block
}

/// One EBML header and an unknown-size Segment with Info, Tracks and `shape.blocks`
/// SimpleBlocks in known-size Clusters (8-byte size fields, as ffmpeg writes them).
///
/// # Errors
///
/// Never in practice (as [`Writer::master`]).
pub fn many_small_blocks(shape: &SmallBlocks) -> Result<Vec<u8>, WriteError> {
    let per_cluster = shape.per_cluster.max(1);
    let approx = shape.blocks.saturating_mul(shape.block_len.saturating_add(4));
    let mut w = Writer::with_capacity(approx.saturating_add(1 << 16));
    write_ebml_header(&mut w)?;
    w.start_master(ids::SEGMENT, MasterSize::Unknown(8))?;
    write_info_and_tracks(&mut w)?;
    let block = simple_block(shape.block_len, 0, false);
    let keyframe = simple_block(shape.block_len, 0, true);
    let mut written = 0usize;
    let mut cluster_time = 0u64;
    while written < shape.blocks {
        let in_cluster = per_cluster.min(shape.blocks.saturating_sub(written));
        w.master(ids::CLUSTER, MasterSize::Known(SizeWidth::Fixed(8)), |w| {
            w.unsigned(ids::TIMESTAMP, cluster_time)?;
            for i in 0..in_cluster {
                w.binary(ids::SIMPLE_BLOCK, if i == 0 { &keyframe } else { &block })?;
            }
            Ok(())
        })?;
        written = written.saturating_add(in_cluster);
        cluster_time = cluster_time.saturating_add(2000);
    }
    w.end_master()?;
    w.finish()
}

/// One EBML header and an unknown-size Segment with Info, Tracks and frames of
/// `shape.frame_len` bytes in unknown-size Clusters (8-byte markers, as Kinesis Video Streams
/// writes them), until `shape.total` bytes of frames.
///
/// # Errors
///
/// Never in practice (as [`Writer::master`]).
pub fn large_frames(shape: &LargeFrames) -> Result<Vec<u8>, WriteError> {
    let frame_len = shape.frame_len.max(4);
    let frames = shape.total.div_ceil(frame_len);
    let per_cluster = shape.per_cluster.max(1);
    let mut w =
        Writer::with_capacity(frames.saturating_mul(frame_len.saturating_add(16)).saturating_add(1 << 16));
    write_ebml_header(&mut w)?;
    w.start_master(ids::SEGMENT, MasterSize::Unknown(8))?;
    write_info_and_tracks(&mut w)?;
    let frame = simple_block(frame_len, 0, false);
    let keyframe = simple_block(frame_len, 0, true);
    let mut cluster_time = 0u64;
    let mut in_cluster = per_cluster;
    for _ in 0..frames {
        let starts_cluster = in_cluster == per_cluster;
        if starts_cluster {
            if cluster_time > 0 {
                w.end_master()?;
            }
            w.start_master(ids::CLUSTER, MasterSize::Unknown(8))?;
            w.unsigned(ids::TIMESTAMP, cluster_time)?;
            cluster_time = cluster_time.saturating_add(1000);
            in_cluster = 0;
        }
        w.binary(ids::SIMPLE_BLOCK, if starts_cluster { &keyframe } else { &frame })?;
        in_cluster = in_cluster.saturating_add(1);
    }
    if frames > 0 {
        w.end_master()?;
    }
    w.end_master()?;
    w.finish()
}

/// The shape of [`getmedia_fragment`]'s output and of a GetMedia payload made of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GetMediaShape {
    /// Frames per fragment (one unknown-size Cluster per fragment, as KVS writes it).
    pub frames: usize,
    /// The size of each SimpleBlock's payload, in bytes.
    pub frame_len: usize,
}

impl Default for GetMediaShape {
    /// 60 frames of 40 KB per fragment (2 s of 30 fps video at about 10 Mbit/s): 2.4 MB.
    fn default() -> Self {
        Self { frames: 60, frame_len: 40_000 }
    }
}

/// A 47-digit fragment number for fragment `index`, increasing with it.
#[must_use]
pub fn fragment_number(index: u64) -> String {
    format!("9134385233318143239268206260774392014{:010}", index)
}

/// One SimpleTag (name, string value).
fn simple_tag(w: &mut Writer, name: &str, value: &str) -> Result<(), WriteError> {
    w.master(ids::SIMPLE_TAG, MasterSize::Known(SizeWidth::Minimal), |w| {
        w.utf8(ids::TAG_NAME, name)?;
        w.utf8(ids::TAG_STRING, value)
    })
}

/// One Tags element holding one Tag with the given SimpleTags.
fn tags(w: &mut Writer, pairs: &[(&str, &str)]) -> Result<(), WriteError> {
    w.master(ids::TAGS, MasterSize::Known(SizeWidth::Minimal), |w| {
        w.master(ids::TAG, MasterSize::Known(SizeWidth::Minimal), |w| {
            w.master(ids::TARGETS, MasterSize::Known(SizeWidth::Minimal), |_| Ok(()))?;
            pairs.iter().try_for_each(|(n, v)| simple_tag(w, n, v))
        })
    })
}

/// One GetMedia fragment as Kinesis Video Streams sends it: an EBML header, an unknown-size
/// Segment with Info, Tracks, the service's Tags (fragment number, server and producer
/// timestamps), one unknown-size Cluster of `shape.frames` SimpleBlocks (the first a
/// keyframe, 33 ms apart), and the closing Tags (millis-behind-now, continuation token).
///
/// # Errors
///
/// Never in practice (as [`Writer::master`]).
pub fn getmedia_fragment(index: u64, shape: &GetMediaShape) -> Result<Vec<u8>, WriteError> {
    let frame_len = shape.frame_len.max(4);
    let mut w = Writer::with_capacity(
        shape.frames.saturating_mul(frame_len.saturating_add(12)).saturating_add(1 << 10),
    );
    write_ebml_header(&mut w)?;
    w.start_master(ids::SEGMENT, MasterSize::Unknown(8))?;
    write_info_and_tracks(&mut w)?;
    let number = fragment_number(index);
    let start_ms = 1_700_000_000_000u64.saturating_add(index.saturating_mul(2000));
    let server = format!("{}.{:03}", start_ms / 1000, start_ms % 1000);
    let producer =
        format!("{}.{:03}", start_ms.saturating_sub(500) / 1000, start_ms.saturating_sub(500) % 1000);
    tags(
        &mut w,
        &[
            ("AWS_KINESISVIDEO_FRAGMENT_NUMBER", &number),
            ("AWS_KINESISVIDEO_SERVER_TIMESTAMP", &server),
            ("AWS_KINESISVIDEO_PRODUCER_TIMESTAMP", &producer),
        ],
    )?;
    w.start_master(ids::CLUSTER, MasterSize::Unknown(8))?;
    w.unsigned(ids::TIMESTAMP, start_ms)?;
    let keyframe = simple_block(frame_len, 0, true);
    let mut frame = simple_block(frame_len, 0, false);
    for i in 0..shape.frames {
        if i == 0 {
            w.binary(ids::SIMPLE_BLOCK, &keyframe)?;
        } else {
            let ts = i16::try_from(i.saturating_mul(33)).unwrap_or(i16::MAX).to_be_bytes();
            if let Some(slot) = frame.get_mut(1..3) {
                slot.copy_from_slice(&ts);
            }
            w.binary(ids::SIMPLE_BLOCK, &frame)?;
        }
    }
    w.end_master()?;
    tags(
        &mut w,
        &[("AWS_KINESISVIDEO_MILLIS_BEHIND_NOW", "1500"), ("AWS_KINESISVIDEO_CONTINUATION_TOKEN", &number)],
    )?;
    w.end_master()?;
    w.finish()
}

/// A GetMedia payload of `fragments` concatenated [`getmedia_fragment`]s.
///
/// # Errors
///
/// Never in practice (as [`Writer::master`]).
pub fn getmedia_payload(fragments: u64, shape: &GetMediaShape) -> Result<Vec<u8>, WriteError> {
    let mut out = Vec::new();
    for index in 0..fragments {
        out.extend_from_slice(&getmedia_fragment(index, shape)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)] // tests may crash on failure

    use kvs_ebml::{SliceTokenizer, Token, ids};

    use super::*;

    fn count(data: &[u8], id: kvs_ebml::ElementId) -> usize {
        SliceTokenizer::new(data)
            .map(|t| t.unwrap())
            .filter(|t| matches!(t, Token::MasterStart(h) | Token::Leaf { header: h, .. } if h.id == id))
            .count()
    }

    #[test]
    fn small_blocks_input_has_the_asked_shape() {
        let shape = SmallBlocks { blocks: 130, block_len: 600, per_cluster: 60 };
        let data = many_small_blocks(&shape).unwrap();
        assert_eq!(count(&data, ids::SIMPLE_BLOCK), 130);
        assert_eq!(count(&data, ids::CLUSTER), 3);
        assert!(data.len() > 130 * 600);
    }

    #[test]
    fn getmedia_payload_decodes_into_complete_fragments() {
        let shape = GetMediaShape { frames: 7, frame_len: 1000 };
        let data = getmedia_payload(3, &shape).unwrap();
        let fragments: Vec<_> =
            kvs_chunk::Fragments::new(kvs_chunk::Events::new(data.into())).collect::<Result<_, _>>().unwrap();
        assert_eq!(fragments.len(), 3);
        for (i, f) in fragments.iter().enumerate() {
            assert!(f.is_complete());
            assert_eq!(f.frames.len(), 7);
            assert!(f.frames[0].keyframe && !f.frames[1].keyframe);
            assert_eq!(f.fragment_number().unwrap().as_str(), fragment_number(i as u64));
            let m = f.metadata.as_ref().unwrap();
            assert_eq!(m.server_timestamp_ms, Some(1_700_000_000_000 + 2000 * i as i64));
            assert_eq!(f.frames[6].timestamp_ms(), 1_700_000_000_000 + 2000 * i as i64 + 6 * 33);
        }
    }

    #[test]
    fn large_frames_input_has_the_asked_shape() {
        let shape = LargeFrames { total: 1 << 20, frame_len: 200_000, per_cluster: 2 };
        let data = large_frames(&shape).unwrap();
        assert_eq!(count(&data, ids::SIMPLE_BLOCK), 6);
        assert_eq!(count(&data, ids::CLUSTER), 3);
    }
}

/// The benchmark drivers' command-line flags: `--name value` pairs.
pub mod flags {
    /// The value after `name`, if given.
    #[must_use]
    pub fn arg<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
        args.iter().position(|a| a == name).and_then(|i| args.get(i.saturating_add(1))).map(String::as_str)
    }

    /// The number after `name`, else `default`; a value that is not a number ends the
    /// program with a message.
    #[must_use]
    pub fn num<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
        match arg(args, name) {
            None => default,
            Some(v) => v.parse().unwrap_or_else(|_| {
                eprintln!("{name}: not a number: {v}");
                std::process::exit(2)
            }),
        }
    }
}

/// What the benchmark drivers measure of a process, from Linux's `/proc`, the wall clock, and
/// the client they point at a local `kvs-mkv serve`.
pub mod proc {
    /// The wall clock, epoch milliseconds.
    #[must_use]
    pub fn now_ms() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }

    /// The CPU time (user and system, every thread) process `pid` (or `"self"`) has used,
    /// seconds (clock ticks of 10 ms); 0 where it is unknown.
    #[must_use]
    pub fn cpu_seconds_of(pid: &str) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<&str> = after.split_whitespace().collect();
        let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
        // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
        (ticks(11) + ticks(12)) / 100.0
    }

    /// The CPU time this process has used, seconds.
    #[must_use]
    pub fn cpu_seconds() -> f64 {
        cpu_seconds_of("self")
    }

    /// The peak resident set of this process (`VmHWM`), KiB; `None` off Linux.
    #[must_use]
    pub fn peak_kib() -> Option<u64> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// A kvs-sdk client for a local `kvs-mkv serve` at `url` (any credentials do).
    ///
    /// # Errors
    ///
    /// The builder's, for a URL it does not take.
    pub fn local_client(url: &str) -> Result<kvs_sdk::KvsClient, kvs_sdk::ConsumerError> {
        kvs_sdk::KvsClient::builder()
            .endpoint_url(url)
            .region("us-east-1")
            .static_credentials("AKIDLOCAL", "secret", None)
            .build()
    }
}
