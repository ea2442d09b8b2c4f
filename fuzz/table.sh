#!/usr/bin/env bash
# Prints fuzz/README.md's "Runs" tables from the log fuzz/runs.tsv that fuzz/run.sh appends to:
# one row per run, then one row per target and build flags with the totals.
#
#   fuzz/table.sh [LOG]     (default: fuzz/runs.tsv)
set -euo pipefail

log=${1:-"$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/runs.tsv"}
if [[ ! -s $log ]]; then
    echo "no runs logged in $log (fuzz/run.sh TARGET RUNS appends to it)" >&2
    exit 1
fi

awk -F '\t' '
function thousands(n,    s, r) {
    if (n !~ /^[0-9]+$/) return n
    s = n ""; r = ""
    while (length(s) > 3) { r = "," substr(s, length(s) - 2) r; s = substr(s, 1, length(s) - 3) }
    return s r
}
function duration(t,    m) {
    if (t !~ /^[0-9]+$/) return t
    if (t < 120) return t " s"
    m = int(t / 60 + 0.5)
    return m " min"
}
NR == 1 {
    for (i = 1; i <= NF; i++) col[$i] = i
    split("date commit machine toolchain target args executions seconds exec_per_s cov ft corpus_before corpus_after finds exit", req, " ")
    for (i in req) if (!(req[i] in col)) { print "runs.tsv has no column " req[i] > "/dev/stderr"; exit 1 }
    print "| date (UTC) | commit | machine | toolchain, build | target | libFuzzer arguments | executions | time | exec/s | coverage (cov, ft) | corpus | finds |"
    print "|---|---|---|---|---|---|---|---|---|---|---|---|"
    next
}
{
    t = $col["target"]
    finds = $col["finds"]
    if ($col["exit"] != 0) finds = finds " (exit " $col["exit"] ")"
    printf "| %s | `%s` | %s | %s | `%s` | `%s` | %s | %s | %s | %s, %s | %s → %s | %s |\n", \
        $col["date"], $col["commit"], $col["machine"], $col["toolchain"], t, $col["args"], \
        thousands($col["executions"]), duration($col["seconds"]), thousands($col["exec_per_s"]), \
        thousands($col["cov"]), thousands($col["ft"]), $col["corpus_before"], $col["corpus_after"], finds
    # Totals per target and build flags (coverage counts differ between builds).
    b = $col["toolchain"]; sub(/.*fuzz build /, "", b); sub(/, git archive HEAD$/, "", b)
    k = t SUBSEP b
    if (!(k in runs)) { order[++n] = k; tname[k] = t; bname[k] = b }
    runs[k]++
    execs[k] += $col["executions"]
    secs[k] += $col["seconds"]
    if ($col["cov"] + 0 > maxcov[k]) maxcov[k] = $col["cov"] + 0
    if (finds != "none") found[k] = found[k] (found[k] == "" ? "" : ", ") finds
    if (index(" " commits[k] " ", " " $col["commit"] " ") == 0) commits[k] = commits[k] (commits[k] == "" ? "" : " ") $col["commit"]
}
END {
    if (NR < 2) exit
    print ""
    print "| target | build | runs | executions | time | highest coverage (cov) | commits | finds |"
    print "|---|---|---|---|---|---|---|---|"
    for (i = 1; i <= n; i++) {
        k = order[i]
        c = commits[k]; gsub(/ /, "`, `", c)
        printf "| `%s` | `%s` | %d | %s | %s | %s | `%s` | %s |\n", tname[k], bname[k], runs[k], \
            thousands(execs[k]), duration(secs[k]), thousands(maxcov[k]), c, (k in found) ? found[k] : "none"
    }
}
' "$log"
