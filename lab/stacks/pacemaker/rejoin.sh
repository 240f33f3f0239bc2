#!/bin/bash
# Brings a failed node of a Pacemaker PostgreSQL cluster back into the
# cluster, from inside the node (pushed over SSH by haverify's pacemaker
# driver, or run by `haverify-lab rejoin`).
#   replication (pgrex): a crashed or fenced primary keeps PGSQL.lock and
#     must be re-seeded before it may run again (lab notes): remove the lock,
#     pg_basebackup from the replication VIP, start the cluster services, and
#     wait until it streams synchronously.
#   shared-disk: start the cluster services and wait until the node is online.
# Usage: rejoin.sh MODEL NODE PGDATA PGBIN REPL_HOST PORT TMPDIR DEADLINE_S START_CMD...
# Env: REJOIN_RESEED always (default) | if-locked: replication only; with
#      if-locked (the planned start of a cleanly stopped node) the data is
#      kept unless the agent left PGSQL.lock (the node was the primary when
#      it stopped while a standby still ran: its data may be ahead).
set -euo pipefail
cd /
model=$1 node=$2 pgdata=$3 pgbin=$4 repl_host=$5 port=$6 tmpdir=$7 deadline=$8
shift 8
reseed=${REJOIN_RESEED:-always}
case $reseed in
    always | if-locked) ;;
    *) echo "rejoin[$node]: REJOIN_RESEED must be always or if-locked, not '$reseed'" >&2; exit 2 ;;
esac
end=$(($(date +%s) + deadline))
left() { local l=$((end - $(date +%s))); ((l > 1)) && echo "$l" || echo 1; }
say() { echo "rejoin[$node]: $*" >&2; }

if [[ $model == replication && $reseed == if-locked && ! -e $tmpdir/PGSQL.lock && -f $pgdata/PG_VERSION ]]; then
    say "no PGSQL.lock: starting with the data as it is"
elif [[ $model == replication ]]; then
    # Pacemaker may still be acting on this node: right after a switchover the
    # demoted instance's monitor fails and the DC stops it. Wiping the data
    # directory under that stop makes the pgsql agent's configuration check
    # fail, its stop then retries an attribute update forever, and the DC's
    # transition hangs (nothing else starts). Wait until the cluster settles.
    if pgrep -x pacemakerd >/dev/null && ! crm_resource --wait --timeout "$(left)s" >&2; then
        say "the cluster did not settle within ${deadline}s (an action is still running): not touching $pgdata"
        exit 1
    fi
    if pgrep -u postgres -x postgres >/dev/null; then
        say "PostgreSQL is running outside the cluster; stop it first"; exit 1
    fi
    rm -f "$tmpdir/PGSQL.lock"
    say "re-seeding $pgdata from $repl_host:$port"
    # The data directory itself may be a mount point: empty it, keep it.
    # The replication VIP may still be moving (right after a switchover): retry.
    until find "$pgdata" -mindepth 1 -delete &&
        timeout "$(left)" runuser -u postgres -- "$pgbin/pg_basebackup" -D "$pgdata" -X stream -c fast \
            -d "host=$repl_host port=$port user=postgres application_name=$node connect_timeout=5"; do
        (($(date +%s) < end)) || { say "pg_basebackup from $repl_host failed until the deadline"; exit 1; }
        sleep 1
    done
fi
say "starting the cluster services: $*"
"$@"
# Clear the failures that kept the resources off this node (fail counts of
# the crash or the demote); repeated below until the node serves again.
cleanup() { crm_resource --cleanup --node "$node" >&2 || true; }
cleanup
until crm_mon -1 2>/dev/null | grep -Eq "^ *\* Online: \[.*\b$node\b"; do
    (($(date +%s) < end)) || { say "not online in crm_mon after ${deadline}s"; exit 1; }
    sleep 0.2
done
polls=0
if [[ $model == replication ]]; then
    until [[ $(psql "host=$repl_host port=$port user=postgres dbname=postgres connect_timeout=2" -X -At -c \
        "select count(*) from pg_stat_replication where application_name = '$node' and state = 'streaming' and sync_state = 'sync'" \
        2>/dev/null) == 1 ]]; do
        (($(date +%s) < end)) || { say "not streaming (sync) after ${deadline}s"; exit 1; }
        sleep 0.5
        if ((++polls % 20 == 0)) && ! pgrep -u postgres -x postgres >/dev/null; then
            say "PostgreSQL still not started by Pacemaker: cleaning up again"
            cleanup
        fi
    done
fi
say "rejoined"
