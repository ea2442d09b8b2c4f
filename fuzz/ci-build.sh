#!/usr/bin/env bash
# CI: builds every fuzz target on the stable toolchain, without cargo-fuzz or nightly flags, so
# the targets cannot rot while nobody fuzzes; then runs each built target once over its
# committed regression inputs (fuzz/regressions/TARGET/), through libFuzzer's own main.
#
#   fuzz/ci-build.sh
#
# The binaries have no coverage instrumentation (that needs cargo-fuzz's nightly flags), so
# this proves that the targets compile, link with libFuzzer (built from C++ by libfuzzer-sys)
# and pass their seeds, not that they fuzz well: fuzz/run.sh does the fuzzing. Uses
# fuzz/Cargo.lock (--locked) and its own target directory, fuzz/target/ (cargo-fuzz's builds
# go to fuzz/target/<host triple>/, these to fuzz/target/release/), or $CARGO_TARGET_DIR where
# that is set. Network: crates.io only, on the first build.
set -euo pipefail

fuzz_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$fuzz_dir"

targets=$(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^kvs-mkv-fuzz$')
if [[ -z $targets ]]; then
    echo "no [[bin]] targets in fuzz/Cargo.toml" >&2
    exit 1
fi

echo "fuzz/ci-build.sh: $(cargo --version), $(rustc --version)"
cargo build --manifest-path Cargo.toml --release --bins --locked
bin_dir="${CARGO_TARGET_DIR:-target}/release"

for t in $targets; do
    inputs=(regressions/"$t"/*)
    if [[ ! -f ${inputs[0]} ]]; then
        echo "fuzz target $t has no regression inputs in fuzz/regressions/$t/" >&2
        exit 1
    fi
    # Files (not a directory) as arguments: libFuzzer runs each once and exits.
    if ! out=$("$bin_dir/$t" "${inputs[@]}" 2>&1); then
        echo "$out" >&2
        echo "fuzz target $t fails on its regression inputs" >&2
        exit 1
    fi
    ran=$(grep -c '^Executed ' <<<"$out" || true)
    if [[ $ran -ne ${#inputs[@]} ]]; then
        echo "$out" >&2
        echo "fuzz target $t ran $ran of its ${#inputs[@]} regression inputs" >&2
        exit 1
    fi
    echo "fuzz target $t: built, ran its ${#inputs[@]} regression inputs"
done
echo "fuzz/ci-build.sh: done in ${SECONDS} s"
