#!/bin/bash
# Stale reads behind pgpool-II's load balancing, per setting (issue 18 item 4,
# docs/benchmarks.md "Read load balancing"). For each configuration: lab up
# --stack pgpool-wd with its settings (--pool-set / --pg-set), 30 s of the
# reads workload (bench/pgpool-reads/reads.yaml) repeated -n times, lab down;
# then one table: reads, own and other clients' stale reads, worst staleness,
# reads served per node.
#   bash bench/pgpool-reads.sh [-n 3] [--profile fast] [CONFIG...]
# CONFIG names (default: all, in this order):
#   lb-off      load_balance_mode = off (every read on the primary)
#   lb-on       load_balance_mode = on, pgpool's defaults otherwise
#               (disable_load_balance_on_write = 'transaction')
#   lb-trans    ... + disable_load_balance_on_write = 'trans_transaction'
#   lb-always   ... + disable_load_balance_on_write = 'always'
#   lb-dml      ... + disable_load_balance_on_write = 'dml_adaptive'
#   lb-delay    ... + delay_threshold = 1 (bytes of replication delay)
#   lb-apply    ... + synchronous_commit = remote_apply (ANY 1 of the standbys)
#   lb-apply2   ... + remote_apply and synchronous_standby_names = 'ANY 2 (...)'
set -euo pipefail
cd "$(dirname "$0")/.."
n=3 profile=fast configs=()
while (($#)); do
  case $1 in
    -n) n=${2:?-n needs a value}; shift 2 ;;
    --profile) profile=${2:?--profile needs a value}; shift 2 ;;
    -*) echo "usage: bash bench/pgpool-reads.sh [-n N] [--profile fast|default] [CONFIG...]" >&2; exit 2 ;;
    *) configs+=("$1"); shift ;;
  esac
done
[ "${#configs[@]}" -gt 0 ] || configs=(lb-off lb-on lb-trans lb-always lb-dml lb-delay lb-apply lb-apply2)
# args_of CONFIG: its lab up arguments, one per line.
args_of() {
  case $1 in
    lb-off) printf '%s\n' --pool-set load_balance_mode=off; return ;;
    lb-*) printf '%s\n' --pool-set load_balance_mode=on ;;
  esac
  case $1 in
    lb-on) ;;
    lb-trans) printf '%s\n' --pool-set disable_load_balance_on_write=trans_transaction ;;
    lb-always) printf '%s\n' --pool-set disable_load_balance_on_write=always ;;
    lb-dml) printf '%s\n' --pool-set disable_load_balance_on_write=dml_adaptive ;;
    lb-delay) printf '%s\n' --pool-set delay_threshold=1 ;;
    lb-apply) printf '%s\n' --pg-set synchronous_commit=remote_apply ;;
    lb-apply2) printf '%s\n' --pg-set synchronous_commit=remote_apply \
      --pg-set 'synchronous_standby_names=ANY 2 (node1,node2,node3)' ;;
    *) echo "unknown configuration '$1'" >&2; exit 2 ;;
  esac
}
for c in "${configs[@]}"; do args_of "$c" >/dev/null; done # unknown names: exit 2 before any lab
bin=./build/haverify
out=runs/bench/pgpool-reads-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
trap '$bin lab down >/dev/null 2>&1 || true' EXIT
for c in "${configs[@]}"; do
  mapfile -t a < <(args_of "$c")
  echo "== $c: ${a[*]}" >&2
  if ! $bin lab up --stack pgpool-wd --profile "$profile" "${a[@]}" >"$out/lab-up-$c.log" 2>&1; then
    echo "   lab up failed (see $out/lab-up-$c.log); next configuration" >&2
    continue
  fi
  $bin run bench/pgpool-reads/reads.yaml --repeat "$n" --seed 1 --out "$out/$c" >"$out/$c.log" 2>&1 || true
  $bin lab down >/dev/null
done
python3 - "$out" "${configs[@]}" <<'PY'
import csv, json, os, re, sys
out, configs = sys.argv[1], sys.argv[2:]
def figures(run_dir):  # read_your_writes' figures, from the run's run.json
    for c in json.load(open(os.path.join(run_dir, "run.json")))["checkers"] or []:
        if c["checker"] == "read_your_writes":
            return {k: v for k, v in c["figures"].items() if v is not None}
    return {}
print(f"{'config':<10} {'runs':>4} {'reads':>7} {'stale own':>9} {'stale other':>11} {'unseen':>6} {'worst ms':>9}  reads per node (stale)")
for c in configs:
    p = os.path.join(out, c, "results.csv")
    if not os.path.exists(p):
        print(f"{c:<10} (no results)"); continue
    tot, per, worst, runs = {}, {}, 0.0, 0
    for r in csv.DictReader(open(p, newline="")):
        f = figures(r["run_dir"]); runs += 1
        for k in ("reads_ok", "reads_stale", "reads_stale_foreign", "reads_stale_unresolved"):
            tot[k] = tot.get(k, 0) + f.get(k, 0)
        worst = max(worst, f.get("read_staleness_ms", 0))
        for k, v in f.items():
            m = re.match(r"reads_(stale_)?on_(.*)", k)
            if m:
                e = per.setdefault(m.group(2), [0, 0]); e[1 if m.group(1) else 0] += v
    nodes = ", ".join(f"{k} {int(v[0])} ({int(v[1])})" for k, v in sorted(per.items()))
    print(f"{c:<10} {runs:>4} {int(tot['reads_ok']):>7} {int(tot['reads_stale']):>9} {int(tot['reads_stale_foreign']):>11} "
          f"{int(tot['reads_stale_unresolved']):>6} {worst:>9.3f}  {nodes}")
print(f"raw: {out}")
PY
