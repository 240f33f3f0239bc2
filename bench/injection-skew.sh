#!/usr/bin/env bash
# Injection skew of simultaneous faults: the spread (max - min) of the send
# times of the actions of one inject step, released at one barrier
# (results.csv column injection_skew_ms). Runs the named multi-fault
# combination svc-primary_x_repl-both (the primary's service LAN and, at the
# same instant, the replication LAN of every node: 3 actions on pgrex's two
# nodes, 4 on pgpool's three) from `haverify plan multi-fault`, N times, on a
# fresh lab of STACK, and prints min / median / p95 / max.
#   bash bench/injection-skew.sh [STACK] [N]   (default pgrex 5; needs a built ./build/haverify)
set -euo pipefail
cd "$(dirname "$0")/.."
stack=${1:-pgrex}
n=${2:-5}
bin=./build/haverify
out=runs/bench/skew-$stack-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
trap '$bin lab down >/dev/null 2>&1 || true' EXIT

$bin lab up --stack "$stack" --profile fast >"$out/lab-up.log"
$bin plan multi-fault --out "$out/plan" >"$out/plan.log"
{ head -1 "$out/plan/plan.csv"; grep '^svc-primary_x_repl-both,' "$out/plan/plan.csv"; } >"$out/plan/named.csv"
# The verdict depends on the stack (an outage, a split brain or a failover); the skew is what is measured.
$bin run --plan "$out/plan/named.csv" --repeat "$n" --seed 1 --out "$out/suite" >"$out/run.log" 2>&1 || true
python3 - "$out/suite/results.csv" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
v = sorted(float(r["injection_skew_ms"]) for r in rows if r["injection_skew_ms"])
if not v:
    sys.exit("no run recorded an injection skew")
h = 0.95 * (len(v) - 1)  # type 7 quantile, as haverify's reports
p95 = v[int(h)] + (h - int(h)) * (v[min(int(h) + 1, len(v) - 1)] - v[int(h)])
print(f"svc-primary_x_repl-both: n={len(v)} skew ms min {v[0]:.3f} median {statistics.median(v):.3f} "
      f"p95 {p95:.3f} max {v[-1]:.3f}; verdicts {sorted(set(r['verdict'] for r in rows))}")
PY
echo "runs: $out/suite"
