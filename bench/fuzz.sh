#!/usr/bin/env bash
# Fuzzes haverify's file readers with libFuzzer + ASan + UBSan (tests/fuzz):
#   bash bench/fuzz.sh [--runs N] [--seconds S] [--timeout S] [--build DIR] [READER...]
# READER: scenario inventory plan_csv results_csv ledger (default: all five,
# one after the other). Each runs until N executions (--runs) or S seconds
# (--seconds; default 60); give both and it stops at the first reached.
# Builds the harnesses in DIR (default build-fuzz: clang, -DHAVERIFY_FUZZ=ON).
# Seeds: the shipped scenarios (scenarios/, tests/lab/scenarios/) or
# tests/fuzz/seeds/READER/, and the regression corpus
# tests/fuzz/corpus-regress/READER/; the inputs it finds go to
# DIR/fuzz-corpus/READER/ (kept between runs), a finding (crash, leak,
# hang over --timeout s (default 10), OOM over 2 GiB, UB) to
# DIR/fuzz-findings/READER/TIME/ and
# the log to DIR/fuzz-logs/READER-TIME.log. Minimise a finding and keep it in
# tests/fuzz/corpus-regress/READER/ (its README).
# Prints one line per reader: executions, seconds, exec/s, corpus size,
# findings. Exits 1 if a reader found anything (tests/run.sh runs it short).
set -euo pipefail
cd "$(dirname "$0")/.."
all=(scenario inventory plan_csv results_csv ledger)
runs=
seconds=
build="build-fuzz"
hang=10
readers=()
usage() {
  echo "usage: bash bench/fuzz.sh [--runs N] [--seconds S] [--timeout S] [--build DIR] [${all[*]}]" >&2
  exit 2
}
while [ $# -gt 0 ]; do
  case $1 in
    --runs) [ $# -ge 2 ] || usage; runs=$2; shift 2 ;;
    --seconds) [ $# -ge 2 ] || usage; seconds=$2; shift 2 ;;
    --build) [ $# -ge 2 ] || usage; build=$2; shift 2 ;;
    --timeout) [ $# -ge 2 ] || usage; hang=$2; shift 2 ;;
    -h | --help) usage ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; usage ;;
    *)
      [[ " ${all[*]} " == *" $1 "* ]] || { echo "fuzz.sh: no reader $1 (readers: ${all[*]})" >&2; exit 2; }
      readers+=("$1"); shift ;;
  esac
done
for n in "$runs" "$seconds" "$hang"; do
  [[ -z $n || $n =~ ^[1-9][0-9]*$ ]] || { echo "fuzz.sh: --runs, --seconds and --timeout take a whole number > 0, not '$n'" >&2; exit 2; }
done
[ -n "$runs" ] || [ -n "$seconds" ] || seconds=60
[ "${#readers[@]}" -gt 0 ] || readers=("${all[@]}")

command -v clang++ >/dev/null || { echo "fuzz.sh: clang++ is not installed (bash lab/install-deps.sh)" >&2; exit 2; }
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHAVERIFY_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++ >/dev/null
cmake --build "$build" --target fuzzers -j "$(nproc)" >/dev/null

# --timeout: one input's wall-clock limit. On a machine shared with a lab or
# builds, a fuzzer at a low priority can wait longer than 10 s for a core
# (a session's setsid makes its own scheduling group, where nice counts
# only inside it): give long runs beside other work --timeout 120, and
# re-run a timeout's input alone (`build-fuzz/tests/fuzz/fuzz_READER FILE`)
# before calling it a hang.
limits=(-timeout="$hang" -rss_limit_mb=2048 -max_len=4096 -print_final_stats=1)
[ -z "$runs" ] || limits+=("-runs=$runs")
[ -z "$seconds" ] || limits+=("-max_total_time=$seconds")
found=0
printf '%-12s %12s %9s %8s %7s %s\n' reader executions seconds exec/s corpus findings
for r in "${readers[@]}"; do
  stamp=$(date -u +%Y%m%dT%H%M%SZ)
  corpus=$build/fuzz-corpus/$r findings=$build/fuzz-findings/$r/$stamp log=$build/fuzz-logs/$r-$stamp.log
  mkdir -p "$corpus" "$findings" "$(dirname "$log")"
  if [ "$r" = scenario ]; then seeds=(scenarios tests/lab/scenarios); else seeds=("tests/fuzz/seeds/$r"); fi
  start=$(date +%s%N)
  rc=0
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$build/tests/fuzz/fuzz_$r" "${limits[@]}" -artifact_prefix="$findings/" \
    "$corpus" "${seeds[@]}" "tests/fuzz/corpus-regress/$r" >"$log" 2>&1 || rc=$?
  secs=$(( ($(date +%s%N) - start) / 1000000000 ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  n_findings=$(find "$findings" -type f | wc -l)
  printf '%-12s %12s %9s %8s %7s %s\n' "$r" "${execs:-?}" "$secs" "${rate:-?}" "$(find "$corpus" -type f | wc -l)" \
    "$n_findings"
  if [ "$rc" -ne 0 ] || [ "$n_findings" -gt 0 ]; then
    found=1
    echo "fuzz.sh: $r: libFuzzer exited $rc; findings in $findings/, log $log:" >&2
    grep -E -m 5 'ERROR: |runtime error|SUMMARY|Test unit written' "$log" >&2 || tail -20 "$log" >&2
  fi
done
exit "$found"
