#!/usr/bin/env bash
# Regenerates the GetImages fixtures of this directory: ffmpeg makes small plain Matroska
# files (testsrc2 320x240, 10 fps, 4 s, a keyframe every second; a 440 Hz sine for the
# audio-only one), then the kvs-images example `getmedia_fixture` re-muxes each into a
# KVS-shaped GetMedia payload (one fragment per keyframe, with the service's tags) with the
# kvs-fixtures writer. Needs ffmpeg with libx264 and libx265 (`apt-get install ffmpeg`).
# The encoders are deterministic for a given ffmpeg build, not across builds: the committed
# files are the reference, and the tests check facts (sizes, counts, times), not bytes.
set -euo pipefail
cd "$(dirname "$0")"
root=../..
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ff() { ffmpeg -nostdin -hide_banner -loglevel error -y "$@"; }
ff -f lavfi -i testsrc2=size=320x240:rate=10 -t 4 -c:v libx264 -pix_fmt yuv420p \
  -g 10 -keyint_min 10 -sc_threshold 0 -bf 2 -threads 1 -fflags +bitexact "$tmp/h264.mkv"
ff -f lavfi -i testsrc2=size=320x240:rate=10 -t 4 -c:v libx265 -pix_fmt yuv420p \
  -x265-params "keyint=10:min-keyint=10:scenecut=0:frame-threads=1:pools=none:log-level=error" \
  -fflags +bitexact "$tmp/h265.mkv"
ff -f lavfi -i sine=frequency=440:sample_rate=16000 -t 4 -c:a aac -b:a 32k -fflags +bitexact "$tmp/audio.mkv"
# The source pictures themselves (before encoding), 8x6 RGB per frame (40x40 box averages): the
# tests check that each image shows the right frame against these.
ff -f lavfi -i testsrc2=size=320x240:rate=10 -t 4 -f rawvideo -pix_fmt rgb24 - | python3 -c '
import sys
w, h, d = 320, 240, sys.stdin.buffer.read()
out = bytearray()
for f in range(len(d) // (w * h * 3)):
    base = f * w * h * 3
    for cy in range(6):
        for cx in range(8):
            for c in range(3):
                s = sum(d[base + ((cy * 40 + y) * w + cx * 40 + x) * 3 + c] for y in range(40) for x in range(40))
                out.append((s + 800) // 1600)
open("testsrc2_8x6.rgb", "wb").write(out)
'
run() { (cd "$root" && cargo run --quiet -p kvs-images --example getmedia_fixture -- "$@"); }
here=testdata/images
run "$tmp/h264.mkv" "$here/h264.mkv"
run "$tmp/h265.mkv" "$here/h265.mkv"
run "$tmp/h264.mkv" "$here/h264_gap.mkv" --gap-after 2 --gap-ms 1500
run "$tmp/audio.mkv" "$here/audio_only.mkv"
