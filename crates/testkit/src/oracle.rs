//! Independent readers for the bytes a server, the SDK or the CLI returns: FFmpeg (`ffprobe`,
//! `ffmpeg`) and MKVToolNix (`mkvinfo`). Their answers are the oracles of the tests that use
//! them: nothing here goes through kvs-chunk, kvs-ebml or kvs-images. Get the tools' paths
//! with [`crate::ffmpeg`] and [`crate::mkvinfo`] (which fail the test under CI when missing).
//!
//! Every function here panics (fails the test) when a tool fails or prints what it should not.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation
)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// One packet (one frame of one track) as `ffprobe -show_entries packet` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// ffprobe's stream index (0 for the first track).
    pub stream: u64,
    /// Presentation time in milliseconds (ffprobe prints seconds with 6 decimals).
    pub pts_ms: i64,
    /// Payload size in bytes.
    pub size: u64,
    /// ffprobe's `K` flag.
    pub key: bool,
}

/// Writes `bytes` to a fresh file under the temporary directory, named after `name` and this
/// process.
pub fn temp_file(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kvs-oracle-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// Every packet of `file`, in file order, as ffprobe reads it.
pub fn ffprobe_packets(ffprobe: &Path, file: &Path) -> Vec<Packet> {
    let out = run(Command::new(ffprobe)
        .args(["-v", "quiet", "-show_entries", "packet=stream_index,pts_time,size,flags", "-of", "json"])
        .arg(file));
    let v: Value = serde_json::from_slice(&out).unwrap();
    v["packets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| Packet {
            stream: p["stream_index"].as_u64().unwrap(),
            pts_ms: (p["pts_time"].as_str().unwrap().parse::<f64>().unwrap() * 1000.0).round() as i64,
            size: p["size"].as_str().unwrap().parse().unwrap(),
            key: p["flags"].as_str().unwrap().starts_with('K'),
        })
        .collect()
}

/// `(codec_type, codec_name, width, height)` of each stream ffprobe finds in `file`.
pub fn ffprobe_streams(ffprobe: &Path, file: &Path) -> Vec<(String, String, u64, u64)> {
    let out = run(Command::new(ffprobe)
        .args(["-v", "quiet", "-show_entries", "stream=codec_type,codec_name,width,height", "-of", "json"])
        .arg(file));
    let v: Value = serde_json::from_slice(&out).unwrap();
    v["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["codec_type"].as_str().unwrap_or("").to_owned(),
                s["codec_name"].as_str().unwrap_or("").to_owned(),
                s["width"].as_u64().unwrap_or(0),
                s["height"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

/// Every SimpleTag with a string value in `file`, `(name, value)` in file order, as
/// `mkvinfo -v` prints them (it walks every EBML document of a GetMedia payload).
pub fn mkvinfo_tags(mkvinfo: &Path, file: &Path) -> Vec<(String, String)> {
    mkvinfo_lines(mkvinfo, file)
        .windows(2)
        .filter_map(|w| {
            let name = w[0].strip_prefix("Name: ")?;
            let value = w[1].strip_prefix("String: ")?;
            Some((name.to_owned(), value.to_owned()))
        })
        .collect()
}

/// The lines of `mkvinfo -v file`, without the tree drawing (`|`, `+` and indentation).
///
/// mkvinfo reads a GetMedia payload (one EBML document per fragment) as one Segment of
/// unknown size: at each following EBML header it warns, resynchronises on the next level-1
/// element (the next document's Info) and exits with status 1. Those warnings are the only
/// ones accepted.
pub fn mkvinfo_lines(mkvinfo: &Path, file: &Path) -> Vec<String> {
    let out = Command::new(mkvinfo).arg("-v").arg(file).env("LC_ALL", "C").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let resync_only = stderr.lines().all(|l| {
        l.starts_with("Warning: Resyncing successful")
            || l.starts_with("Warning: ") && l.ends_with("Resyncing to the next level 1 element.")
    });
    assert!(
        out.status.success() || out.status.code() == Some(1) && resync_only,
        "mkvinfo {}: {:?}\n{stderr}",
        file.display(),
        out.status
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim_start_matches(['|', ' ', '+']).to_owned())
        .collect()
}

/// The values of tag `name` in `tags`, in order.
pub fn tag_values(tags: &[(String, String)], name: &str) -> Vec<String> {
    tags.iter().filter(|(n, _)| n == name).map(|(_, v)| v.clone()).collect()
}

/// Each picture FFmpeg decodes from `file` (a video or one image), in presentation order, as
/// an 8x6 RGB thumbnail: 40x40-pixel box averages of a 320x240 picture, the shape of
/// `testdata/images/testsrc2_8x6.rgb`.
pub fn thumbnails(ffmpeg: &Path, file: &Path) -> Vec<Vec<f64>> {
    let out = run(Command::new(ffmpeg)
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(file)
        .args(["-fps_mode", "passthrough", "-vf", "format=rgb24,scale=8:6:flags=area"])
        .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"]));
    assert!(!out.is_empty() && out.len().is_multiple_of(144), "{} bytes", out.len());
    out.chunks_exact(144).map(|c| c.iter().map(|&b| f64::from(b)).collect()).collect()
}

/// Mean squared difference of two thumbnails.
pub fn mse(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f64>() / a.len() as f64
}

/// The index of the thumbnail in `frames` closest to `t`, and its distance.
pub fn closest(t: &[f64], frames: &[Vec<f64>]) -> (usize, f64) {
    frames.iter().enumerate().map(|(i, f)| (i, mse(t, f))).min_by(|a, b| a.1.total_cmp(&b.1)).unwrap()
}

/// Standard base64 (with padding), as the service's JSON carries ImageContent.
pub fn base64_decode(s: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes().filter(|&c| c != b'=') {
        acc = (acc << 6) | u32::from(value(c));
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}
