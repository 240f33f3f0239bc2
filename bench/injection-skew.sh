#!/usr/bin/env bash
# Injection skew of simultaneous faults on the embedded pgpool lab: the spread
# (max - min) of the send times of the actions of one inject step, released at
# one barrier (results.csv column injection_skew_ms).
#   bash bench/injection-skew.sh [N]   (default N=20; needs a built ./build/haverify)
# The faults are harmless for the pgpool stack: an nft drop on the
# interconnect LAN (unused by pgpool) of every node, healed after 1 s.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-20}
bin=./build/haverify
out=runs/bench/skew-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
trap '$bin lab down >/dev/null 2>&1 || true' EXIT

cat >"$out/skew-3-nodes.yaml" <<'YAML'
name: skew-3-nodes
kind: multi-fault
description: three nft cuts of the interconnect LAN, one per node, released at one barrier
steps:
  - wait: 1s
  - inject:
      - {id: a, fault: lan_cut, lan: interconnect, method: nft, target: primary, duration: 1s}
      - {id: b, fault: lan_cut, lan: interconnect, method: nft, target: "standby:1", duration: 1s}
      - {id: c, fault: lan_cut, lan: interconnect, method: nft, target: "standby:2", duration: 1s}
YAML
cat >"$out/skew-same-node.yaml" <<'YAML'
name: skew-same-node
kind: multi-fault
description: two actions on the primary (two SSH sessions) released at one barrier
steps:
  - wait: 1s
  - inject:
      - {id: a, fault: lan_cut, lan: interconnect, method: nft, direction: in, target: primary, duration: 1s}
      - {id: b, fault: lan_cut, lan: interconnect, method: nft, direction: out, target: primary, duration: 1s}
YAML

$bin lab up --stack pgpool >"$out/lab-up.log"
$bin run "$out/skew-3-nodes.yaml" "$out/skew-same-node.yaml" --repeat "$n" --seed 1 --out "$out/suite" \
  >"$out/run.log" 2>&1 || true
python3 - "$out/suite/results.csv" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
by = {}
for r in rows:
    if r["injection_skew_ms"]:
        by.setdefault(r["scenario"], []).append(float(r["injection_skew_ms"]))
print(f"{'scenario':<16} {'n':>3} {'skew ms min':>11} {'median':>8} {'p95':>8} {'max':>8}")
for sc, v in sorted(by.items()):
    v.sort()
    p95 = v[min(len(v) - 1, int(round(0.95 * (len(v) - 1))))]
    print(f"{sc:<16} {len(v):>3} {v[0]:>11.3f} {statistics.median(v):>8.3f} {p95:>8.3f} {v[-1]:>8.3f}")
PY
echo "runs: $out/suite"
