#!/bin/bash
# Starts, stops or checks pgpool-II on one pgpool-wd lab node, from inside the
# node (boot.sh at power-on, the harness's restart over SSH, `haverify-lab up`
# through nsenter), like `systemctl start pgpool2` on a server.
# Usage: pgpool.sh start [--discard-status] | stop | status
#   start   if no pgpool runs: remove a delegate IP left on an interface by a
#           pgpool that was killed (a new pgpool never releases it: its
#           escalation state lived in the dead one's shared memory), then
#           start pgpool -n with /etc/pgpool2/{pgpool.conf,pcp.conf,pool_hba.conf},
#           stderr to /var/log/postgresql/pgpool.log; waits until it runs
#           (5 s). --discard-status: pgpool -D (forget pgpool_status: the
#           first start of a lab).
#   stop    pgpool -m fast stop (it releases the delegate IP if it holds it)
#   status  exit 0 if a pgpool runs on this node, 3 if not
set -uo pipefail
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
conf_dir=/etc/pgpool2
conf=$conf_dir/pgpool.conf
log=/var/log/postgresql/pgpool.log
cmd=${1:-}

running() { pgrep -x pgpool >/dev/null; }

case $cmd in
    start)
        discard=()
        [[ ${2:-} == --discard-status ]] && discard=(-D)
        if running; then
            echo "pgpool already runs"
            exit 0
        fi
        [[ -r $conf ]] || { echo "pgpool.sh: no $conf" >&2; exit 1; }
        vip=$(sed -n "s/^delegate_IP *= *'\([^']*\)'.*/\1/p" "$conf")
        if [[ -n $vip ]]; then
            ip -o -4 addr show to "$vip/32" | awk '{print $2, $4}' | while read -r dev cidr; do
                ip addr del "$cidr" dev "$dev" && echo "pgpool.sh: removed a stale delegate IP $cidr from $dev"
            done
        fi
        mkdir -p /var/log/postgresql/pgpool /run/pgpool
        rm -f /run/pgpool/pgpool.pid # no pgpool runs (checked above): a killed one's
        hvl_state=
        if [[ -r $conf_dir/haverify.env ]]; then
            hvl_state=$(sed -n 's/^HVL_STATE=//p' "$conf_dir/haverify.env")
        fi
        # HVL_STATE marks the lab's pgpool processes (tests/lab/check-clean.sh).
        HVL_STATE=$hvl_state setsid /usr/sbin/pgpool -n "${discard[@]}" -f "$conf" -F "$conf_dir/pcp.conf" \
            -a "$conf_dir/pool_hba.conf" </dev/null >>"$log" 2>&1 &
        for _ in $(seq 50); do
            if running; then
                echo "pgpool started"
                exit 0
            fi
            sleep 0.1
        done
        echo "pgpool.sh: pgpool did not start; the end of $log:" >&2
        tail -n 20 "$log" >&2
        exit 1
        ;;
    stop)
        running || exit 0
        /usr/sbin/pgpool -f "$conf" -m fast stop >>"$log" 2>&1
        for _ in $(seq 100); do
            running || exit 0
            sleep 0.1
        done
        echo "pgpool.sh: pgpool still runs after 10 s" >&2
        exit 1
        ;;
    status)
        if running; then exit 0; fi
        exit 3
        ;;
    *)
        echo "usage: pgpool.sh start [--discard-status] | stop | status" >&2
        exit 2
        ;;
esac
