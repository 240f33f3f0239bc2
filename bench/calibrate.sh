#!/usr/bin/env bash
# Calibration of haverify's downtime measurement against a known outage:
# process_pause freezes the primary's postmaster and all its children
# (SIGSTOP), sleeps exactly D on the node, then SIGCONT. The ledger workload's
# measured downtime_s (longest gap between acknowledged writes) must match D.
#   bash bench/calibrate.sh [RUNS] [D_MS...]     (default: 20 runs of 100 300 1000 ms)
# Brings up the embedded pgpool lab (and tears it down). Prints, per D: the
# median, p95 and max of |downtime_s - D| in ms.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}
shift || true
ds=("$@")
[ ${#ds[@]} -gt 0 ] || ds=(100 300 1000)
bin=./build/haverify
out=runs/calibrate/$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
trap '$bin lab down >/dev/null 2>&1 || true' EXIT
$bin lab up --stack pgpool >/dev/null 2>&1
for d in "${ds[@]}"; do
  cat >"$out/pause-$d.yaml" <<YAML
name: pause-primary-${d}ms
kind: switchover-timing
description: Freeze the primary's postmaster and backends for exactly ${d} ms (calibration).
workload:
  ledger: {clients: 4, commit_deadline: 5s}
steps:
  - start: ledger
  - wait: 2s
  - inject: {fault: process_pause, process: postmaster, pause: ${d}ms, target: primary}
  - wait: 1s
  - stop: ledger
checks:
  lost_acked: {max: 0}
YAML
  $bin run "$out/pause-$d.yaml" --repeat "$runs" --seed 1 --out "$out/d$d" >"$out/d$d.log" 2>&1 || true
done
python3 - "$out" "${ds[@]}" <<'PY'
import csv, statistics, sys
out, ds = sys.argv[1], sys.argv[2:]
print(f"{'D ms':>6} {'runs':>4} {'median |err| ms':>16} {'p95 |err| ms':>13} {'max |err| ms':>13} {'median downtime ms':>19}")
for d in ds:
    rows = list(csv.DictReader(open(f"{out}/d{d}/results.csv", newline="")))
    dt = [float(r["downtime_s"]) * 1000 for r in rows if r["downtime_s"] and r["verdict"] == "pass"]
    err = sorted(abs(x - float(d)) for x in dt)
    if not err:
        print(f"{d:>6} {0:>4} (no valid run; see {out}/d{d}.log)")
        continue
    p95 = err[min(len(err) - 1, int(round(0.95 * (len(err) - 1))))]
    print(f"{d:>6} {len(err):>4} {statistics.median(err):>16.1f} {p95:>13.1f} {err[-1]:>13.1f} {statistics.median(dt):>19.1f}")
PY
echo "raw: $out"
