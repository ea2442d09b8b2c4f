#!/usr/bin/env bash
# The comparison harness of "Images at FFmpeg speed or better": builds the two kvs-mkv
# binaries (the default, pure-Rust one and the `--features ffmpeg` one, in separate target
# directories so neither overwrites the other) and runs benches/src/bin/images-compare.rs
# with their paths. Every argument is passed on to the harness.
#
#   benches/images-compare.sh                      # the whole matrix: 9 inputs of 60 s x 3 samplings x 6 runners
#   benches/images-compare.sh --seconds 6 --inputs h264-720p --modes 1s,key     # a quick subset
#   benches/images-compare.sh --inputs h265-1080p --runners ff1,ff2,ffmpeg1,ffmpeg --runs 3
#
# Options (see the top of benches/src/bin/images-compare.rs): --seconds N (60), --inputs
# a,b (names or prefixes: h264, h264-720p, h265-1080p-b, vp9-720p, ...), --modes 1s,3s,key,
# --runners kvs1,kvs2,ff1,ff2,ffmpeg1,ffmpeg, --runs K (1), --height H, --quality Q (80),
# --qv N|auto, --cache DIR.
#
# Needs: ffmpeg and ffprobe (with libx264, libx265, libvpx), taskset, GNU /usr/bin/time, and
# for the FFmpeg-backend build pkg-config, clang and FFmpeg's -dev libraries:
#   apt-get install -y pkg-config clang libavcodec-dev libavformat-dev libswscale-dev \
#       libavutil-dev libavdevice-dev libavfilter-dev
# Environment: TARGET (default target) and TARGET_FF (FFmpeg-backend build) directories;
# SKIP_FFMPEG_BUILD=1 leaves the FFmpeg-backend build out (its rows are then omitted).
# The generated inputs are kept in $TMPDIR/kvs-images-compare (or --cache DIR) for next time.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=${TARGET:-${CARGO_TARGET_DIR:-target}}
TARGET_FF=${TARGET_FF:-${TARGET}-ffmpeg}
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}

for tool in ffmpeg ffprobe taskset /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "images-compare: $tool is required" >&2; exit 1; }
done

CARGO_TARGET_DIR=$TARGET cargo build --release -p kvs-cli --bin kvs-mkv
CARGO_TARGET_DIR=$TARGET cargo build --release -p kvs-benches --bin images-compare
args=(--kvs-mkv "$TARGET/release/kvs-mkv")
if [ "${SKIP_FFMPEG_BUILD:-0}" != 1 ]; then
    CARGO_TARGET_DIR=$TARGET_FF cargo build --release -p kvs-cli --bin kvs-mkv --features ffmpeg
    args+=(--kvs-mkv-ffmpeg "$TARGET_FF/release/kvs-mkv")
fi
exec "$TARGET/release/images-compare" "${args[@]}" "$@"
