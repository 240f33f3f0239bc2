#!/usr/bin/env bash
# The cost of the lab disk (issue 15, docs/benchmarks.md "Lab disk profiles"):
# for each --disk, on one stack: lab up, 20 s of ledger writes with no fault
# (writes/s = acked_total / 20 s), then N power-offs of the primary under load
# (failover_s), lab down. Same machine, same run, one disk after the other:
#   bash bench/lab-disk-cost.sh [--stack pgrex] [-n 3] [DISK...]
# DISK: tmpfs ram ssd hdd san (default: all five; tmpfs is today's lab, the
# baseline of the ratios). Needs a built ./build/haverify; leaves no lab up.
set -euo pipefail
cd "$(dirname "$0")/.."
stack=pgrex
n=3
disks=()
while [ $# -gt 0 ]; do
  case $1 in
    --stack) stack=${2:?--stack needs a value}; shift 2 ;;
    -n) n=${2:?-n needs a value}; shift 2 ;;
    -*) echo "usage: bash bench/lab-disk-cost.sh [--stack STACK] [-n N] [DISK...]" >&2; exit 2 ;;
    *) disks+=("$1"); shift ;;
  esac
done
[ "${#disks[@]}" -gt 0 ] || disks=(tmpfs ram ssd hdd san)
bin=./build/haverify
out=runs/bench/lab-disk-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
trap '$bin lab down >/dev/null 2>&1 || true' EXIT
for d in "${disks[@]}"; do
  echo "== $stack on --disk $d" >&2
  if ! $bin lab up --stack "$stack" --profile fast --disk "$d" >"$out/lab-up-$d.log" 2>&1; then
    echo "   lab up failed (see $out/lab-up-$d.log); next disk" >&2
    continue
  fi
  $bin run bench/lab-disk/steady-writes.yaml --seed 1 --out "$out/$d-steady" >"$out/$d-steady.log" 2>&1 || true
  $bin run scenarios/single-fault/power-off-primary.yaml --repeat "$n" --seed 1 --out "$out/$d-power-off" \
    >"$out/$d-power-off.log" 2>&1 || true
  $bin lab down >/dev/null
done
# results.csv is read by column name (docs/metrics.md).
python3 - "$out" "${disks[@]}" <<'PY'
import csv, statistics, sys, os
out, disks = sys.argv[1], sys.argv[2:]
def rows(d, what):
    p = os.path.join(out, f"{d}-{what}", "results.csv")
    return list(csv.DictReader(open(p, newline=""))) if os.path.exists(p) else []
base = None
print(f"{'disk':<6} {'writes/s':>9} {'ratio':>6} {'failover_s median (n)':>22} {'ratio':>6} {'lost':>5} {'pass':>5}")
for d in disks:
    s = rows(d, "steady")
    wps = int(s[0]["acked_total"]) / 20.0 if s and s[0]["acked_total"] else None
    p = rows(d, "power-off")
    f = [float(r["failover_s"]) for r in p if r["failover_s"]]
    fm = statistics.median(f) if f else None
    lost = sum(int(r["lost_acked"] or 0) for r in p)
    ok = sum(r["verdict"] == "pass" for r in p)
    if base is None: base = (wps, fm)
    r1 = f"{wps / base[0]:.2f}" if wps and base[0] else "-"
    r2 = f"{fm / base[1]:.2f}" if fm and base[1] else "-"
    print(f"{d:<6} {wps if wps is None else round(wps):>9} {r1:>6} {(f'{fm:.3f} ({len(f)})' if fm else '-'):>22} {r2:>6} {lost:>5} {ok:>3}/{len(p)}")
print(f"raw: {out}")
PY
