#!/usr/bin/env bash
# Memory stays flat on long streams: a generated GetMedia payload (default 1 GiB: about 440
# fragments of 60 frames of 40 KB) is piped, as it is made, into `kvs-mkv fragments -` (stdin),
# and the command's peak resident memory is measured with `/usr/bin/time -v`. Nothing is stored
# on disk. Fails if the peak is above the bound (default 16 MiB), or if the number of fragments
# listed complete differs from the number the generator says it wrote (or any is incomplete).
#
#   bash benches/memory.sh                 # 1 GiB, bound 16 MiB
#   BYTES=100000000 bash benches/memory.sh # smaller
#
# Needs GNU time: `apt-get install -y time` on Debian/Ubuntu if /usr/bin/time is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
BYTES="${BYTES:-1073741824}"
BOUND_KIB="${BOUND_KIB:-16384}"
if [ ! -x /usr/bin/time ]; then
  echo "memory.sh: /usr/bin/time not found (apt-get install -y time)" >&2
  exit 2
fi
cargo build --release -q -p kvs-benches --bin getmedia-gen
cargo build --release -q -p kvs-cli --bin kvs-mkv
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s%N)
target/release/getmedia-gen --bytes "$BYTES" 2> "$tmp/gen" \
  | /usr/bin/time -v target/release/kvs-mkv fragments - > "$tmp/out" 2> "$tmp/time"
end=$(date +%s%N)
peak=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$tmp/time")
written=$(sed -n 's/^getmedia-gen: wrote \([0-9]*\) fragments.*/\1/p' "$tmp/gen")
if [ -z "$written" ]; then
  echo "FAIL: getmedia-gen did not say how many fragments it wrote:" >&2
  cat "$tmp/gen" >&2
  exit 1
fi
fragments=$(grep -c ' complete$' "$tmp/out" || true)
incomplete=$(grep -c -E 'INCOMPLETE$|error [^ ]*$' "$tmp/out" || true)
echo "measured $(date -u +%Y-%m-%d) on commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- . ':!*.md' 2>/dev/null || echo -dirty), $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)"
echo "streamed $BYTES bytes through 'kvs-mkv fragments -' in $(( (end - start) / 1000000 )) ms"
echo "fragments written by getmedia-gen: $written; listed complete: $fragments; incomplete or errored: $incomplete"
echo "peak resident memory (kvs-mkv): $peak KiB (bound $BOUND_KIB KiB)"
grep -E 'Elapsed|Maximum resident|Minor' "$tmp/time" | sed 's/^\s*/  /'
if [ "$peak" -gt "$BOUND_KIB" ]; then
  echo "FAIL: peak above the bound" >&2
  exit 1
fi
if [ "$fragments" -ne "$written" ] || [ "$incomplete" -ne 0 ]; then
  echo "FAIL: $written fragments written, $fragments listed complete, $incomplete incomplete" >&2
  exit 1
fi
echo "OK"
