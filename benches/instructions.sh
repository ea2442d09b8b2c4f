#!/usr/bin/env bash
# Instructions per frame of a reader, counted by callgrind (repeatable whatever else the machine
# does): the `profile` driver runs the reader over N and over 2N generated small blocks, and so
# does its `generate-small` mode (the input alone); the reader's difference less the
# generator's, divided by N, is the cost of one frame, without start-up and input generation.
#
#   bash benches/instructions.sh                      # events-small, borrowed-small, tokens-small, walk-small; N = 10000
#   N=20000 bash benches/instructions.sh events-small
#
# Needs valgrind (`apt-get install -y valgrind`). Builds the `profiling` profile (release with
# debug info and symbols; `release` itself carries neither), so callgrind_annotate can name
# functions and lines in $tmp's output if you keep it.
set -euo pipefail
cd "$(dirname "$0")/.."
N="${N:-10000}"
readers=("$@")
[ "${#readers[@]}" -gt 0 ] || readers=(events-small borrowed-small tokens-small walk-small)
command -v valgrind >/dev/null || { echo "instructions.sh: valgrind not found (apt-get install -y valgrind)" >&2; exit 2; }
cargo build --profile profiling -q -p kvs-benches --bin profile
bin="${CARGO_TARGET_DIR:-target}/profiling/profile"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
count() {
  valgrind --tool=callgrind --callgrind-out-file="$tmp/cg" "$bin" "$1" "$2" >/dev/null 2>"$tmp/log"
  sed -n 's/^==[0-9]*== Collected : \([0-9]*\).*/\1/p' "$tmp/log"
}
echo "measured $(date -u +%Y-%m-%d) on commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ':!*.md' 2>/dev/null || echo -dirty), $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)"
ga=$(count generate-small "$N")
gb=$(count generate-small $((2 * N)))
for r in "${readers[@]}"; do
  a=$(count "$r" "$N")
  b=$(count "$r" $((2 * N)))
  echo "$r: $(( ((b - a) - (gb - ga)) / N )) instructions per frame (callgrind totals: $a for $N frames, $b for $((2 * N)); input alone $ga and $gb)"
done
