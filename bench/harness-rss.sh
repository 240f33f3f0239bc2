#!/usr/bin/env bash
# The harness's memory over a long run: the ledger bench (bench/ledger_load.cpp,
# the run's full streaming History) against a throwaway PostgreSQL 15 on
# 127.0.0.1 for `minutes`, its RSS (VmRSS) sampled every 10 s; prints the
# least-squares slope in MB/h over the samples after the first `warmup`
# seconds, and the bytes per acknowledged write it amounts to:
#   bash bench/harness-rss.sh [minutes=25] [clients=4] [warmup_s=60]
# The samples are kept in $HAVERIFY_RSS_OUT (default /tmp/haverify-harness-rss.tsv):
# t_s rss_kb. HAVERIFY_BENCH_PASSES=0 leaves the metrics pass and the checker
# feed out (the workload and the writers alone); HAVERIFY_BENCH_LEDGER=<binary>
# measures another build (see load-vs-pgbench.sh). history.jsonl goes to a file in the server's temp directory and
# is removed with it.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-25}
clients=${2:-4}
warmup=${3:-60}
samples=${HAVERIFY_RSS_OUT:-/tmp/haverify-harness-rss.tsv}
source bench/bench-pg.sh
bench_ledger_binary
bench_pg_start fsync=off synchronous_commit=off
work="$BENCH_PG_DIR/bench"
mkdir -p "$work"
"$BENCH_BIN" 127.0.0.1 "$BENCH_PG_PORT" "$clients" $((minutes * 60)) "$work" >"$work/result.txt" &
pid=$!
t0=$(date +%s)
: >"$samples"
while kill -0 "$pid" 2>/dev/null; do
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
  [ -n "$rss" ] && printf '%s\t%s\n' $(($(date +%s) - t0)) "$rss" >>"$samples"
  sleep 10
done
wait "$pid"
read -r _ acked _ secs _ <"$work/result.txt"
awk -v warm="$warmup" -v acked="$acked" -v secs="$secs" '
  $1 >= warm { n++; x = $1 / 3600; y = $2 / 1024; sx += x; sy += y; sxx += x * x; sxy += x * y
               if (n == 1) first = y; last = y; if (y > max) max = y }
  END {
    if (n < 3) { print "too few samples"; exit 1 }
    slope = (n * sxy - sx * sy) / (n * sxx - sx * sx)
    per_ack = slope * 1024 * 1024 / (acked / secs * 3600)
    printf "rss: %d samples after %d s; first %.1f MiB, last %.1f MiB, max %.1f MiB\n", n, warm, first, last, max
    printf "slope %.2f MB/h (MiB/h); %d acked writes in %.0f s (%.0f/s): %.1f bytes per acked write\n",
           slope, acked, secs, acked / secs, per_ack
  }' "$samples"
