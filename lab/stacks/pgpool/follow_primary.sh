#!/bin/bash
# pgpool-II follow_primary_command for the haverify embedded lab (template;
# copied by `haverify-lab up` next to its lab.env: $STATE/pool/ for stack
# pgpool, $STATE/pgpool-wd/ for stack pgpool-wd). It runs on the pgpool that
# executed the failover (with the watchdog: the leader's node), and attaches
# nodes through PCP_HOST, that same pgpool (lab.env).
#
# pgpool.conf: follow_primary_command = '<dir>/follow_primary.sh %d %h %p %D %m %H %M %P %r %R %N %S'
#
# After a primary failover pgpool 4.3 detaches every node but the new primary
# and runs this once per detached node, dead ones included (quirk). So:
# - the old primary (%P) is skipped at once: it just failed and is rejoined
#   later by the operator/driver (pg_rewind), never here;
# - a node that does not answer, or is not in recovery, is skipped (logged);
# - a live standby is re-pointed over the replication LAN with
#   ALTER SYSTEM SET primary_conninfo + pg_reload_conf() (PG 15 restarts the
#   WAL receiver; recovery_target_timeline = latest follows the new timeline,
#   which works because the promoted node was the most advanced). No
#   pg_rewind on a server holding standby.signal, no restart, no CHECKPOINT
#   trap. Once it streams: pcp_attach_node.
# - If it does not stream within FOLLOW_TIMEOUT, fall back to the full rejoin
#   (pg-rejoin.sh over SSH: rewind or re-seed), then attach. A standby is
#   never left down on purpose.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=/dev/null
. "$here/lab.env"

node_id=${1:-} new_id=${5:-} old_primary_id=${8:-}

log() { printf '%s follow[%d]: %s\n' "$(date '+%F %T.%3N')" "$$" "$*" >>"$LOG"; }
q() { # q HOST SQL
    psql "host=$1 port=$PG_PORT user=$PG_USER dbname=postgres connect_timeout=2" -X -At -c "$2" </dev/null
}

log "called: node $node_id, new primary $new_id, old primary $old_primary_id; args: $*"

if [[ $node_id == "$old_primary_id" ]]; then
    log "node $node_id is the failed old primary: skipped (rejoin is the driver's job)"
    exit 0
fi

# Which node is the primary now? Trust %m only if it says so itself.
primary=
if [[ -n $new_id && -n ${BACKEND_SVC[$new_id]:-} && $(q "${BACKEND_SVC[$new_id]}" 'select pg_is_in_recovery()' 2>/dev/null) == f ]]; then
    primary=$new_id
else
    for i in "${!BACKEND_SVC[@]}"; do
        [[ $i == "$node_id" || $i == "$old_primary_id" ]] && continue
        if [[ $(q "${BACKEND_SVC[$i]}" 'select pg_is_in_recovery()' 2>/dev/null) == f ]]; then
            primary=$i
            break
        fi
    done
fi
if [[ -z $primary ]]; then
    log "no primary found: leaving node $node_id alone"
    exit 0
fi
if [[ $node_id == "$primary" ]]; then
    log "node $node_id is the new primary: nothing to do"
    exit 0
fi

svc=${BACKEND_SVC[$node_id]} name=${BACKEND_NAME[$node_id]}
prepl=${BACKEND_REPL[$primary]}
if ! rec=$(q "$svc" 'select pg_is_in_recovery()' 2>&1); then
    log "node $node_id ($name) does not answer: skipped ($rec)"
    exit 0
fi
if [[ $rec != t ]]; then
    log "node $node_id ($name) is not in recovery (a primary?): not touching it"
    exit 0
fi

attach() {
    local out
    if out=$(PCPPASSFILE=$PCPPASSFILE pcp_attach_node -h "$PCP_HOST" -p "$PCP_PORT" -U "$PCP_USER" -w -n "$node_id" 2>&1); then
        log "pcp_attach_node $node_id: $out"
    else
        log "pcp_attach_node $node_id FAILED: $out"
    fi
}

conninfo="host=$prepl port=$PG_PORT user=$PG_USER application_name=$name"
log "re-pointing node $node_id ($name) to node $primary ($prepl)"
out=$(q "$svc" "ALTER SYSTEM SET primary_conninfo = '$conninfo'" 2>&1 && q "$svc" 'select pg_reload_conf()' 2>&1)
log "alter/reload: $(echo "$out" | tr '\n' ' ')"

# Streaming is not enough: a standby that received WAL from the old primary
# past the new primary's fork point (a split brain keeps the old primary
# running) connects, fails with "new timeline forked off ... before current
# recovery point" and retries forever. It must be on the new primary's
# timeline.
ptli=$(q "${BACKEND_SVC[$primary]}" "select ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int" 2>/dev/null)
deadline=$((SECONDS + FOLLOW_TIMEOUT))
st=
while ((SECONDS < deadline)); do
    st=$(q "$svc" "select status || ' ' || coalesce(sender_host, '') || ' ' || received_tli from pg_stat_wal_receiver" 2>/dev/null)
    if [[ -n $ptli && $st == "streaming $prepl $ptli" ]]; then
        log "node $node_id ($name) streams from $prepl on timeline $ptli"
        attach
        exit 0
    fi
    sleep 0.2
done

log "node $node_id ($name) not streaming after ${FOLLOW_TIMEOUT}s (last: '$st'): full rejoin over SSH"
if out=$(ssh -i "$SSH_KEY" -o UserKnownHostsFile="$KNOWN_HOSTS" -o StrictHostKeyChecking=yes \
        -o BatchMode=yes -o ConnectTimeout=3 "root@${BACKEND_MGMT[$node_id]}" \
        bash -s -- "$PG_DATA" "$PG_BIN" "$prepl" "$PG_PORT" "$name" postgres "$PG_USER" 60 \
        <"$REJOIN_SCRIPT" 2>&1); then
    log "rejoin of node $node_id: $(echo "$out" | tr '\n' ' ')"
    attach
else
    log "rejoin of node $node_id FAILED: $(echo "$out" | tr '\n' ' ')"
fi
exit 0
