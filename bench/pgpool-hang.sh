#!/bin/bash
# The pgpool hang after a primary power-off (issue 18 item 6): power off the
# primary of a fenced `--stack pgpool` lab again and again, and when pgpool
# stops accepting connections for longer than a failover takes, capture what
# its processes are doing (process titles, kernel stacks, syscalls, sockets)
# before the powered-off node comes back. docs/benchmarks.md ("The pgpool
# hang") has what it found.
#
# Usage (as root, a lab up: haverify lab up --stack pgpool, or --stack pgpool-wd):
#   bash bench/pgpool-hang.sh [-n RUNS] [--seed N] [--after S] [--unstick] [--out DIR]
#   -n RUNS    power-offs of the primary (default 20; stops at the first failed run)
#   --after S  seconds without a connection through pgpool that count as a hang (default 20)
#   --unstick  after the capture, SIGTERM pgpool's sr_check worker (a process
#              this lab started) and time how long until pgpool accepts again:
#              the decisive test of the lock held by a blocked worker
# Output: DIR/run (the haverify suite), DIR/hang-*.txt (one per hang seen),
# DIR/pgpool.log (pgpool's log of the runs), a summary on stdout.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HAVERIFY=${HAVERIFY:-$ROOT/build/haverify}
STATE=${HAVERIFY_LAB_STATE:-/var/lib/haverify-lab}
runs=20 seed=1 after=20 unstick=0 out=
while [[ $# -gt 0 ]]; do
    case $1 in
        -n) runs=$2; shift 2 ;;
        --seed) seed=$2; shift 2 ;;
        --after) after=$2; shift 2 ;;
        --unstick) unstick=1; shift ;;
        --out) out=$2; shift 2 ;;
        *) echo "usage: $0 [-n RUNS] [--seed N] [--after S] [--unstick] [--out DIR]" >&2; exit 2 ;;
    esac
done
out=${out:-$ROOT/runs/bench/pgpool-hang-$(date -u +%Y%m%dT%H%M%S)}
[[ -r $STATE/lab.env ]] || { echo "no lab is up ($STATE/lab.env)" >&2; exit 2; }
# shellcheck disable=SC1091  # written by haverify-lab up
. "$STATE/lab.env"
case ${STACK:-} in
    pgpool) conf=$STATE/pool/pgpool.conf key=listen_addresses ;;
    pgpool-wd) conf=$STATE/pgpool-wd/pgpool.conf key=delegate_IP ;;
    *) echo "this needs a lab up with --stack pgpool or pgpool-wd (it is ${STACK:-none})" >&2; exit 2 ;;
esac
svc=$(sed -n "s/^$key = .\([0-9.]*\).*/\1/p" "$conf")
[[ -n $svc ]] || { echo "cannot read pgpool's address ($key) from $conf" >&2; exit 2; }
mkdir -p "$out"

pgpool_logs() { # the pgpool logs of the lab: the pool node's, or each node's (pgpool-wd)
    if [[ $STACK == pgpool ]]; then echo "$STATE/pool/pgpool.log"; else ls "$STATE"/nodes/node*/varlog/pgpool.log; fi
}

accepts() { # pgpool answers a query within 2 s
    timeout 3 psql "host=$svc port=9999 user=postgres dbname=postgres connect_timeout=2" -XAtqc 'select 1' \
        >/dev/null 2>&1 </dev/null
}

pgpool_pids() { pgrep -x pgpool || true; }

capture() { # capture FILE: what every pgpool process is doing, and its sockets
    local f=$1 p title
    {
        echo "# captured $(date -u +%FT%T.%3NZ): no connection through $svc:9999 for $after s"
        ps -o pid,ppid,stat,wchan:32,args -p "$(pgpool_pids | paste -sd,)" 2>&1
        for p in $(pgpool_pids); do
            title=$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null || true)
            [[ $title == *"wait for connection request"* ]] && continue # idle children (none while hung)
            echo
            echo "## pid $p ($(ip netns identify "$p" 2>/dev/null)): $title"
            echo "### /proc/$p/stack"
            cat "/proc/$p/stack" 2>&1 || true
            echo "### strace 3 s"
            timeout 3 strace -tt -p "$p" 2>&1 | head -n 20 || true
        done
        echo
        local d
        for d in "$STATE"/nodes/*/; do
            [[ -r $d/init.pid ]] || continue
            echo "## sockets of node $(basename "$d") (ss -tnpoi)"
            nsenter -t "$(cat "$d/init.pid")" -n ss -tnpoi 2>&1 || true
        done
    } >"$f"
}

unstick_worker() { # SIGTERM the sr_check worker; seconds until pgpool accepts again
    local w t0
    w=$(pgrep -f '^pgpool: worker process' | head -n 1 || true)
    [[ -n $w ]] || { echo "no worker process"; return; }
    t0=$(date +%s.%N)
    kill -TERM "$w"
    for _ in $(seq 40); do
        if accepts; then
            echo "SIGTERM to the worker (pid $w): pgpool accepts again after $(echo "$(date +%s.%N) - $t0" | bc) s"
            return
        fi
        sleep 0.25
    done
    echo "SIGTERM to the worker (pid $w): pgpool still refuses 10 s later"
}

watch_pool() { # runs in the background while the suite runs
    local down_since=0 n=0 now
    while :; do
        now=$(date +%s)
        if accepts; then
            down_since=0
        elif [[ $down_since == 0 ]]; then
            down_since=$now
        elif ((now - down_since >= after)); then
            n=$((n + 1))
            capture "$out/hang-$n.txt"
            echo "hang $n captured: $out/hang-$n.txt" >&2
            if ((unstick)); then unstick_worker >>"$out/hang-$n.txt" 2>&1; fi
            while ! accepts; do sleep 0.5; done # one capture per hang
            echo "# pgpool accepts again at $(date -u +%FT%T.%3NZ)" >>"$out/hang-$n.txt"
            down_since=0
        fi
        sleep 0.5
    done
}

watch_pool &
watcher=$!
trap 'kill "$watcher" 2>/dev/null || true' EXIT
rc=0
"$HAVERIFY" run "$ROOT/scenarios/single-fault/power-off-primary.yaml" --repeat "$runs" --stop-after-fail \
    --seed "$seed" --out "$out/run" || rc=$?
kill "$watcher" 2>/dev/null || true
for l in $(pgpool_logs); do
    n=$(echo "$l" | sed -n 's|.*/nodes/\([^/]*\)/.*|\1|p')
    cp "$l" "$out/pgpool-${n:-pool}.log"
done
cat "$out"/pgpool-*.log >"$out/pgpool.log"
cp "$STATE/pool/failover.log" "$out/failover.log" 2>/dev/null || true
cat "$STATE"/nodes/node*/varlog/pgpool-failover.log >"$out/failover.log" 2>/dev/null || true

echo "suite exit $rc; runs: $(($(wc -l <"$out/run/results.csv") - 1)); hangs captured: $(find "$out" -name 'hang-*.txt' | wc -l)"
cut -d, -f1,20,22,32 "$out/run/results.csv" | column -t -s,
echo "the worker's read errors (pgpool.log):"
grep -E "worker|sr_check" "$out/pgpool.log" | grep -iE "unable to read|EOF|reset|timed out" | head -n 10 || true
