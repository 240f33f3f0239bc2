#!/usr/bin/env bash
# Crash safety of a suite (issue 14, item 8): kill -9 of haverify at N points
# of suites on the pgpool lab, each followed by `haverify heal` and
# `haverify run --resume DIR`, until every suite has finished. Most points
# are at a random time after the (re)start; every 4th waits for the reports
# of the next run (its checkers.txt) and kills at once (phase report-writing,
# or report-row-written when the suite had already written the run's row). Each point records
# the phase the suite was in, that results.csv held only whole rows, and
# what heal undid; each finished suite, that every plan row is in
# results.csv once, that the exit status matches the verdicts, that the
# ledger is empty and that the plan sheet agrees with results.csv.
#   bash bench/crash-resume.sh [N] [SEED]   (default 20 1; needs ./build/haverify, the lab down)
# Prints one line per point and per suite; the tables are in
# runs/bench/crash-resume-<time>/{points,suites}.csv.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-20}
RANDOM=${2:-1}
bin=$PWD/build/haverify
out=$PWD/runs/bench/crash-resume-$(date -u +%Y%m%dT%H%M%SZ)
ledger=$out/ledger.json
mkdir -p "$out"
export HAVERIFY_LEDGER=$ledger
pid=
cleanup() {
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" || true; fi
    "$bin" heal --ledger "$ledger" >/dev/null 2>&1 || true
    "$bin" lab down >/dev/null 2>&1 || true
}
trap cleanup EXIT
"$bin" lab up --stack pgpool >"$out/lab-up.log"
echo "point,suite,trigger,delay_s,phase,rows_before,rows_after,whole,healed" >"$out/points.csv"
echo "suite,kills,exit,expected_exit,rows,each_once,ledger_empty,plan_agrees" >"$out/suites.csv"

# The results.csv rows (python's csv reader); "torn" if a row is not whole.
rows() {
    python3 - "$1" <<'PY'
import csv, sys
try:
    text = open(sys.argv[1], newline="").read()
except FileNotFoundError:
    print(0); sys.exit()
if text and not text.endswith("\r\n"):
    print("torn"); sys.exit()
rows = list(csv.reader(text.splitlines()))
print("torn" if any(len(r) != len(rows[0]) for r in rows) else max(len(rows) - 1, 0))
PY
}

# What the running suite is doing now, from what it leaves on disk.
phase() {
    local suite=$1 d last
    if [[ -s $ledger ]]; then echo "fault-in-place"; return; fi
    d=$(find "$suite" -maxdepth 1 -name '[0-9][0-9]-*' | sort | tail -1)
    if [[ -z $d ]]; then echo "suite-setup"; return; fi
    if grep -qF ",$d," "$suite/results.csv" 2>/dev/null; then echo "between-runs"; return; fi
    if [[ -e $d/checkers.txt ]]; then echo "report-writing"; return; fi
    if [[ ! -s $d/events.csv ]]; then echo "run-setup"; return; fi
    last=$(awk -F, '$3 == "runner" || $3 == "nemesis" { f = $5 " " $6 } END { print f }' "$d/events.csv")
    case $last in
    *recover* | *rejoin* | *converge* | *power-on* | *restore*) echo "recover" ;;
    *heal*) echo "heal" ;;
    *inject* | *verify*) echo "inject" ;;
    *setup*) echo "run-setup" ;;
    *) echo "steps" ;;
    esac
}

# Checks a finished suite and appends its line to suites.csv.
check_suite() {
    local suite=$1 kills=$2 rc=$3
    python3 - "$suite" "$kills" "$rc" "$ledger" >>"$out/suites.csv" <<'PY'
import csv, os, sys
suite, kills, rc, ledger = sys.argv[1:5]
rows = list(csv.DictReader(open(f"{suite}/results.csv", newline="")))
plan = list(csv.DictReader(open(f"{suite}/../{os.path.basename(suite)}-plan.csv", newline="")))
ids = [r["scenario"] for r in rows]
once = sorted(ids) == sorted(p["id"] for p in plan)
v = [r["verdict"] for r in rows]
expected = 3 if "error" in v else 1 if ("fail" in v or "unknown" in v) else 0
by_id = {r["scenario"]: r for r in rows}
agrees = all(p["verdict"] == by_id[p["id"]]["verdict"] and p["run_dir"] == by_id[p["id"]]["run_dir"]
             for p in plan if p["id"] in by_id)
print(f"{os.path.basename(suite)},{kills},{rc},{expected},{len(rows)},{once},{not os.path.exists(ledger)},{agrees}")
PY
    tail -1 "$out/suites.csv"
}

point=0 suites=0 suite='' kills=0
while ((point < n)); do
    if [[ -z $suite ]]; then
        suites=$((suites + 1)) kills=0
        suite=$out/suite$suites
        args=(run --plan bench/crash-resume/plan.csv --plan-out "$suite-plan.csv" --out "$suite" --seed "$suites"
            --repair-at-setup)
    else
        args=(run --resume "$suite")
    fi
    point=$((point + 1))
    before=$(rows "$suite/results.csv")
    "$bin" "${args[@]}" >>"$out/suite$suites.log" 2>&1 &
    pid=$!
    ph=
    if ((point % 4 == 0)); then
        # Spins on a glob (no process per poll) and kills at once: the session has
        # written checkers.txt, the suite is writing (or has just written) its row.
        trigger=report
        shopt -s nullglob
        done_runs=("$suite"/[0-9][0-9]-*/checkers.txt)
        seen=${#done_runs[@]}
        t0=$SECONDS
        while kill -0 "$pid" 2>/dev/null; do
            done_runs=("$suite"/[0-9][0-9]-*/checkers.txt)
            if ((${#done_runs[@]} > seen)); then
                kill -9 "$pid"
                ph=report-writing
                d=$(dirname "${done_runs[-1]}")
                if grep -qF ",$d," "$suite/results.csv" 2>/dev/null; then ph=report-row-written; fi
                break
            fi
        done
        shopt -u nullglob
        delay=$((SECONDS - t0))
    else
        trigger=random
        delay=$((1 + RANDOM % 40))
        for ((i = 0; i < delay * 10; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    if [[ -z $ph ]] && ! kill -0 "$pid" 2>/dev/null; then # the suite finished before the point: no kill
        rc=0
        wait "$pid" || rc=$?
        pid=
        point=$((point - 1))
        check_suite "$suite" "$kills" "$rc"
        suite=
        continue
    fi
    if [[ -z $ph ]]; then
        ph=$(phase "$suite")
        kill -9 "$pid"
    fi
    wait "$pid" || true
    pid=
    kills=$((kills + 1))
    after=$(rows "$suite/results.csv")
    whole=yes
    [[ $after != torn ]] || whole=no
    healed=$("$bin" heal --ledger "$ledger" | grep -c '^healed:' || true)
    echo "$point,suite$suites,$trigger,$delay,$ph,$before,$after,$whole,$healed" | tee -a "$out/points.csv"
done
if [[ -n $suite ]]; then # finish the last suite
    rc=0
    "$bin" run --resume "$suite" >>"$out/suite$suites.log" 2>&1 || rc=$?
    check_suite "$suite" "$kills" "$rc"
fi
"$bin" cluster status >"$out/cluster-status.txt" 2>&1 || true
roles() { awk -v r="$1" '$2 == r' "$out/cluster-status.txt" | wc -l; } # "node2 primary pgpool ..." lines only
echo "lab after the last suite: $(roles primary) primary, $(roles standby) standby"
echo "points by phase:"
tail -n +2 "$out/points.csv" | cut -d, -f5 | sort | uniq -c
echo "tables: $out/points.csv $out/suites.csv"
