#!/usr/bin/env bash
# Peak memory (RSS) of a run's history processing, before and after the
# streaming History, for a synthetic history of N ops (default 5,000,000):
#   bash bench/history-memory.sh [N]
# Builds bench/history_memory.cpp (target haverify_bench_history) and runs it
# once per mode; needs no lab. Prints mode, ops, peak RSS (MiB), seconds and
# the size of the history.jsonl written (MiB).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-5000000}
cmake --build build --target haverify_bench_history >/dev/null
out=$(mktemp -d /tmp/haverify-bench-history-XXXXXX)
trap 'rm -rf "$out"' EXIT
printf '%-6s %9s %13s %8s %10s\n' mode ops peak_rss_mib seconds jsonl_mib
for mode in before after; do
  read -r m ops rss secs mib _ < <(./build/haverify_bench_history "$mode" "$n" "$out" 2>/dev/null)
  printf '%-6s %9s %13s %8s %10s\n' "$m" "$ops" "$rss" "$secs" "$mib"
done
cmp -s "$out/history-before.jsonl" "$out/history-after.jsonl" && echo "history.jsonl identical in both modes" ||
  echo "history.jsonl DIFFERS between the modes"
