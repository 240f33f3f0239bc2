#!/usr/bin/env bash
# Reproducible measurement of the embedded pgpool lab: `lab up` time and the
# single-fault suite's failover and downtime, N repetitions each.
#   bash bench/failover.sh [N]        (default N=5; needs a built ./build/haverify)
# Prints a table; the figures in docs/benchmarks.md come from this command.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-5}
bin=./build/haverify
out=runs/bench/$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
trap '$bin lab down >/dev/null 2>&1 || true' EXIT

echo "lab up (stack pgpool), $n times:"
for i in $(seq "$n"); do
  s=$(date +%s.%N)
  $bin lab up --stack pgpool >/dev/null
  e=$(date +%s.%N)
  awk -v s="$s" -v e="$e" 'BEGIN { printf "%.3f\n", e - s }'
done >"$out/lab-up.txt"
sort -n "$out/lab-up.txt" | awk '{a[NR]=$1} END {printf "  min %.2f s, median %.2f s, max %.2f s\n", a[1], a[int((NR+1)/2)], a[NR]}'

$bin run scenarios/single-fault --repeat "$n" --seed 1 --out "$out/suite" >"$out/run.log" 2>&1 || true
# results.csv is read by column name (see docs/metrics.md).
python3 - "$out/suite/results.csv" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
by = {}
for r in rows:
    by.setdefault(r["scenario"], []).append(r)
print(f"{'scenario':<26} {'n':>2} {'pass':>4} {'failover_s min/median/max':>27} {'downtime_s median':>18} {'lost':>5} {'acked':>8}")
for sc, rs in sorted(by.items()):
    f = sorted(float(r["failover_s"]) for r in rs if r["failover_s"])
    d = sorted(float(r["downtime_s"]) for r in rs if r["downtime_s"])
    lost = sum(int(r["lost_acked"] or 0) for r in rs)
    acked = sum(int(r["acked_total"]) for r in rs)
    ok = sum(r["verdict"] == "pass" for r in rs)
    fs = f"{f[0]:.2f} / {statistics.median(f):.2f} / {f[-1]:.2f}" if f else "-"
    ds = f"{statistics.median(d):.2f}" if d else "-"
    print(f"{sc:<26} {len(rs):>2} {ok:>4} {fs:>27} {ds:>18} {lost:>5} {acked:>8}")
PY
echo "raw: $out"
