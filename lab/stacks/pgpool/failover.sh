#!/bin/bash
# pgpool-II failover_command for the haverify embedded lab (template; copied
# into $STATE/pool/ by `haverify-lab up`, next to its lab.env).
#
# pgpool.conf: failover_command = '<dir>/failover.sh %d %h %p %D %m %H %M %P %r %R %N %S'
#
# - A standby failed: log only. (pgpool detaches it; the driver rejoins it.)
# - The primary failed: promote the MOST ADVANCED live standby, not pgpool's
#   default (lowest live node id, which lost 7,055 acknowledged writes in the
#   lab notes). Each candidate is asked over the service LAN for
#   pg_last_wal_receive_lsn()/pg_last_wal_replay_lsn(); the highest wins, the
#   lowest node id breaks ties. Promotion is SQL `SELECT pg_promote(true, 60)`
#   (waits until the server accepts writes), no SSH needed.
#   pgpool 4.3 then searches the new primary itself with pg_is_in_recovery()
#   (search_primary_node_timeout), so it does not matter that it is not %m.
# Always exits 0: a non-zero exit changes nothing in pgpool 4.3 and the log
# says what happened.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=/dev/null
. "$here/lab.env"   # BACKEND_NAME/BACKEND_SVC/BACKEND_REPL arrays, PG_*, LOG, ...

failed_id=${1:-} failed_host=${2:-} new_main_id=${5:-} old_primary_id=${8:-}

log() { printf '%s failover[%d]: %s\n' "$(date '+%F %T.%3N')" "$$" "$*" >>"$LOG"; }

log "called: failed node $failed_id ($failed_host), new main $new_main_id, old primary $old_primary_id; args: $*"

if [[ $failed_id != "$old_primary_id" ]]; then
    log "node $failed_id was not the primary: nothing to do (pgpool detaches it)"
    exit 0
fi

# Ask every other backend, in parallel (a powered-off node answers nothing
# until connect_timeout).
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for i in "${!BACKEND_SVC[@]}"; do
    [[ $i == "$failed_id" ]] && continue
    (
        psql "host=${BACKEND_SVC[$i]} port=$PG_PORT user=$PG_USER dbname=postgres connect_timeout=2" \
            -X -At -F ' ' -c "select pg_is_in_recovery(), coalesce(pg_last_wal_receive_lsn()::text, '0/0'), coalesce(pg_last_wal_replay_lsn()::text, '0/0')" \
            >"$tmp/$i" 2>"$tmp/$i.err" </dev/null || echo down >"$tmp/$i"
    ) &
done
wait

lsn_num() { # X/Y -> integer
    local hi=${1%/*} lo=${1#*/}
    echo $(((16#$hi << 32) + 16#$lo))
}

best='' best_lsn=-1
for i in "${!BACKEND_SVC[@]}"; do
    [[ $i == "$failed_id" ]] && continue
    read -r rec rcv rpl <"$tmp/$i" || rec=down
    case $rec in
        t)
            r=$(lsn_num "$rcv") p=$(lsn_num "$rpl")
            ((p > r)) && r=$p
            log "candidate node $i (${BACKEND_NAME[$i]}): standby, receive $rcv replay $rpl"
            if ((r > best_lsn)); then
                best=$i best_lsn=$r
            fi
            ;;
        f)
            log "node $i (${BACKEND_NAME[$i]}) is already a primary: not promoting anything else"
            exit 0
            ;;
        *)
            log "node $i (${BACKEND_NAME[$i]}) does not answer: $(tr '\n' ' ' <"$tmp/$i.err" 2>/dev/null)"
            ;;
    esac
done

if [[ -z $best ]]; then
    log "no live standby to promote: the cluster has no primary now"
    exit 0
fi

log "promoting node $best (${BACKEND_NAME[$best]}, most advanced) with pg_promote()"
out=$(psql "host=${BACKEND_SVC[$best]} port=$PG_PORT user=$PG_USER dbname=postgres connect_timeout=2" \
    -X -At -c "select pg_promote(true, 60)" 2>&1 </dev/null)
log "pg_promote on node $best returned: $out"
exit 0
