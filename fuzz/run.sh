#!/usr/bin/env bash
# Runs one fuzz target and appends one summary line to fuzz/runs.tsv (the log that
# fuzz/README.md's "Runs" table is printed from, by fuzz/table.sh).
#
#   fuzz/run.sh TARGET RUNS [extra libFuzzer args...]
#   fuzz/run.sh block 12000000
#   fuzz/run.sh decoder 2000000 -max_total_time=600
#
# - Builds TARGET once, without a sanitizer and with debug assertions
#   (`cargo +nightly fuzz build -s none -a TARGET`; without a nightly toolchain,
#   `RUSTC_BOOTSTRAP=1 cargo fuzz build ...` on stable), then runs a copy of the binary, so
#   edits to the crates during the run neither rebuild nor restart it. FUZZ_BUILD_FLAGS
#   replaces `-s none -a` (e.g. FUZZ_BUILD_FLAGS="-a" for AddressSanitizer); the log says
#   which flags were used. FUZZ_FROM_HEAD=1 builds from a clean export of HEAD
#   (`git archive`, in fuzz/target/head-src/, built in fuzz/target/head-build/) instead of the
#   working tree, so that others' uncommitted edits are not in the binary.
# - Seeds the local corpus fuzz/corpus/TARGET/ (ignored by git) from fuzz/regressions/TARGET/;
#   a corpus left by earlier runs is kept and continued (the log says how large it was).
# - Runs a single worker with `-runs=RUNS -print_final_stats=1 -max_len=4096` and
#   `-artifact_prefix=artifacts/TARGET/`; extra arguments go after those (libFuzzer takes the
#   last value of a flag).
# - Appends to fuzz/runs.tsv: date (UTC), commit (`git rev-parse --short HEAD`, "-dirty" when a
#   file the target is built from differs from HEAD), machine (nproc and CPU model), load
#   average at the start, toolchain and build flags, target, libFuzzer arguments, executions
#   (libFuzzer's stat::number_of_executed_units), wall time of the run in seconds, executions
#   per second, coverage (cov: of the last status line), features (ft:), corpus size before and
#   after, finds (crash/timeout/oom/leak artifacts written by this run), libFuzzer exit code.
#   The full libFuzzer output is kept in fuzz/target/run-logs/ (not committed).
#   FUZZ_RUNS_LOG=FILE logs to FILE instead of fuzz/runs.tsv (for trying the script out).
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`). Run one at a time: the project's
# machine has 2 cores shared with other builds.
set -euo pipefail

if [[ $# -lt 2 ]]; then
    echo "usage: $0 TARGET RUNS [extra libFuzzer args...]" >&2
    exit 2
fi
target=$1
runs=$2
shift 2

fuzz_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$fuzz_dir/.." && pwd)
cd "$fuzz_dir"

if [[ ! -f "fuzz_targets/$target.rs" ]]; then
    echo "no fuzz target $target (fuzz_targets/$target.rs)" >&2
    exit 2
fi
if ! [[ $runs =~ ^[0-9]+$ ]]; then
    echo "RUNS must be a number, not $runs" >&2
    exit 2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz is not installed: cargo install cargo-fuzz --locked" >&2
    exit 2
fi

# Build once: in the working tree, or (FUZZ_FROM_HEAD=1) in a clean export of HEAD.
read -r -a build_flags <<<"${FUZZ_BUILD_FLAGS--s none -a}"
commit=$(git -C "$repo" rev-parse --short HEAD)
if [[ ${FUZZ_FROM_HEAD:-0} == 1 ]]; then
    src="$fuzz_dir/target/head-src"
    target_dir="$fuzz_dir/target/head-build"
    rm -rf "$src"
    mkdir -p "$src"
    git -C "$repo" archive "$commit" | tar -x -C "$src"
    where=", git archive HEAD"
else
    src=$repo
    target_dir="$fuzz_dir/target"
    where=""
fi
if rustup run nightly rustc --version >/dev/null 2>&1; then
    toolchain="$(rustup run nightly rustc --version | sed 's/^rustc //'), cargo +nightly fuzz build"
    (cd "$src/fuzz" && cargo +nightly fuzz build --target-dir "$target_dir" \
        ${build_flags[@]+"${build_flags[@]}"} "$target")
else
    toolchain="$(rustc --version | sed 's/^rustc //'), RUSTC_BOOTSTRAP=1 cargo fuzz build"
    (cd "$src/fuzz" && RUSTC_BOOTSTRAP=1 cargo fuzz build --target-dir "$target_dir" \
        ${build_flags[@]+"${build_flags[@]}"} "$target")
fi
toolchain="$toolchain ${build_flags[*]:-(no flags)}$where"
host=$(rustc -vV | sed -n 's/^host: //p')
built="$target_dir/$host/release/$target"

# Whether a file the binary was built from differs from the commit. Cargo's dep-info lists
# the sources; the manifests and lock files are added by hand.
if [[ $src == "$repo" ]]; then
    sources=()
    while IFS= read -r f; do
        case $f in
            "$repo"/*) sources+=("${f#"$repo"/}") ;;
        esac
    done < <(sed 's/^[^:]*://; s/\\$//' "$built.d" | tr ' ' '\n' | grep -v '^$' | sort -u)
    if [[ ${#sources[@]} -lt 3 ]]; then
        echo "could not read the sources of $target from $built.d" >&2
        exit 1
    fi
    for c in $(printf '%s\n' "${sources[@]}" | sed -n 's|^\(crates/[^/]*\)/.*|\1|p' | sort -u); do
        sources+=("$c/Cargo.toml")
    done
    sources+=(Cargo.toml fuzz/Cargo.toml fuzz/Cargo.lock)
    if [[ -n "$(git -C "$repo" status --porcelain -- "${sources[@]}")" ]]; then
        commit="$commit-dirty"
        echo "note: files $target is built from differ from HEAD; logged as $commit:" >&2
        git -C "$repo" status --porcelain -- "${sources[@]}" >&2
        echo "(FUZZ_FROM_HEAD=1 builds a clean export of HEAD instead)" >&2
    fi
fi

stamp=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p target/run-bin target/run-logs "corpus/$target" "artifacts/$target"
bin="target/run-bin/$target-$stamp"
cp "$built" "$bin"

# Seed the corpus from the committed regression inputs.
for f in "regressions/$target"/*; do
    [[ -f $f ]] || continue
    cp -n "$f" "corpus/$target/$(basename "$f")"
done
corpus_before=$(find "corpus/$target" -maxdepth 1 -type f | wc -l)
artifacts_before=$(find "artifacts/$target" -maxdepth 1 -type f | sort)

ncpu=$(nproc)
model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
machine="$ncpu x ${model:-unknown CPU}"
load=$(cut -d ' ' -f 1 /proc/loadavg)

args=(-runs="$runs" -print_final_stats=1 -max_len=4096 "$@")
log="target/run-logs/$target-$stamp.log"
echo "fuzzing $target: $bin corpus/$target ${args[*]} (output in fuzz/$log)" >&2
start_date=$(date -u +%Y-%m-%dT%H:%MZ)
start=$(date +%s.%N)
set +e
"$bin" "corpus/$target" -artifact_prefix="artifacts/$target/" "${args[@]}" >"$log" 2>&1
status=$?
set -e
end=$(date +%s.%N)
rm -f "$bin"

executions=$(sed -n 's/^stat::number_of_executed_units:[[:space:]]*//p' "$log" | tail -n 1)
status_line=$(grep -E '^#[0-9]+.* cov: ' "$log" | tail -n 1 || true)
cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$status_line")
ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$status_line")
corpus_after=$(find "corpus/$target" -maxdepth 1 -type f | wc -l)
seconds=$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.0f", e - s }')
per_second=$(awk -v n="${executions:-0}" -v s="$start" -v e="$end" 'BEGIN { printf "%.0f", n / (e - s) }')
new_artifacts=$(comm -13 <(echo "$artifacts_before") <(find "artifacts/$target" -maxdepth 1 -type f | sort) \
    | xargs -r -n 1 basename | paste -sd ' ' -)
finds=${new_artifacts:-none}

log_file=${FUZZ_RUNS_LOG:-"$fuzz_dir/runs.tsv"}
if [[ ! -s $log_file ]]; then
    printf '%s\n' "$(printf '%s\t' date commit machine load toolchain target args executions seconds \
        exec_per_s cov ft corpus_before corpus_after finds exit | sed 's/\t$//')" >"$log_file"
fi
printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
    "$start_date" "$commit" "$machine" "$load" "$toolchain" "$target" "${args[*]}" \
    "${executions:-?}" "$seconds" "$per_second" "${cov:-?}" "${ft:-?}" "$corpus_before" "$corpus_after" \
    "$finds" "$status" >>"$log_file"
tail -n 1 "$log_file"
if [[ $status -ne 0 ]]; then
    echo "libFuzzer exited with $status: see fuzz/$log and artifacts/$target/" >&2
fi
exit "$status"
