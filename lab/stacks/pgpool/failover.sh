#!/bin/bash
# pgpool-II failover_command for the haverify embedded lab (template; copied
# by `haverify-lab up` next to its lab.env: $STATE/pool/ for stack pgpool,
# $STATE/pgpool-wd/ for stack pgpool-wd). It runs on the pgpool that
# executes the failover: the pool node, or with the watchdog (pgpool-wd)
# the leader pgpool's node; lab.env sets PCP_HOST to that pgpool.
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
# - The "failed" primary still answers as a primary: a planned switchover
#   (pcp_promote_node -s -n %m) or a planned detach (pcp_detach_node). Stop it
#   first (pg_ctl stop -m fast over SSH: its walsenders send the standbys all
#   of its WAL before it exits, so no acknowledged write is left behind and
#   there are never two primaries), then promote %m if it is among the most
#   advanced standbys (else the most advanced). The old primary stays down
#   for the driver's rejoin. With no live standby it is left running.
# - Fencing (FENCE=on in lab.env, `lab up --fence on`, the default): a failed
#   primary that does not answer (an unplanned failover: power-off, crash,
#   service-LAN cut) may still be running and taking writes from clients
#   that reach it some other way. Before anything is promoted it is fenced:
#   0. the lab's power controller says its node is off: fenced already;
#   1. else over SSH on the management LAN (or right here, when the failed
#      server is on this node): scripts/pg-stop-hard.sh stops it with
#      `pg_ctl stop -m immediate`, SIGKILLs what is left and confirms that
#      no process of that server runs;
#   2. else (SSH failed: the node hangs or its management LAN is cut too)
#      the power controller powers the node off (fence_hvlab, as Pacemaker's
#      stonith does), and the off state is confirmed.
#   If all of that fails, nothing is promoted and the log says why: no
#   primary for a while, never two. Then the most advanced standby is asked
#   again (the fenced server's last WAL may have reached them meanwhile).
#   FENCE=off (`--fence off`) keeps the unfenced behaviour, a planted
#   defect: after a service-LAN cut the old primary stays writable (split
#   brain), which haverify must catch.
# - A failed standby, or a failed primary that does not answer (DROP_STALE=on
#   in lab.env, the default): this pgpool's own TCP connections to the
#   failed backend are aborted (`ss -K`), and on pgpool-wd every other
#   pgpool node's too, over the management LAN. A workaround for
#   a pgpool-II 4.3 defect (docs/benchmarks.md, "The pgpool hang"): its
#   sr_check worker may be blocked reading an answer the powered-off server
#   never sends (its query was acknowledged by the server's kernel; pgpool
#   sets no keepalive, so the socket has no timer and waits forever) while
#   it holds the follow-primary lock, which pgpool's main process then waits
#   for after this script (find_primary_node): no client is served until the
#   worker dies. In the field: the same line with sudo (CAP_NET_ADMIN).
# Always exits 0: a non-zero exit changes nothing in pgpool 4.3 and the log
# says what happened.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=/dev/null
. "$here/lab.env"   # BACKEND_NAME/BACKEND_SVC/BACKEND_REPL arrays, PG_*, LOG, FENCE, ...

failed_id=${1:-} failed_host=${2:-} new_main_id=${5:-} old_primary_id=${8:-}

log() { printf '%s failover[%d]: %s\n' "$(date '+%F %T.%3N')" "$$" "$*" >>"$LOG"; }

log "called: failed node $failed_id ($failed_host), new main $new_main_id, old primary $old_primary_id; args: $*"

# The workaround for pgpool 4.3's hang (header): a failed backend that does
# not answer may hold one of this pgpool's reads forever. (Not for a planned
# switchover: that server still answers, and its walsenders must finish.)
drop_stale() {
    [[ ${DROP_STALE:-on} == on && -n $failed_host ]] || return 0
    local dropped
    dropped=$(ss -K -tn dst "$failed_host" dport = ":$PG_PORT" 2>&1 | tail -n +2 | wc -l)
    log "aborted $dropped TCP connection(s) of this node to $failed_host:$PG_PORT (DROP_STALE=on)"
    drop_stale_peers
}

# pgpool-wd (lab.env's POOL_PCP_HOST: every node's pgpool): the other
# pgpools' workers may be blocked on the same backend too, harmless until
# that pgpool becomes the leader and needs the follow-primary lock at its
# next failover or failback (docs/benchmarks.md, the pgpool-wd sheet). Their
# connections are aborted over the management LAN, all at once, each within
# 10 s; the failed node itself is skipped (it may be powered off).
drop_stale_peers() {
    [[ $(declare -p POOL_PCP_HOST 2>/dev/null) == "declare -A"* ]] || return 0
    local self n pids=()
    self=$(uname -n)
    for n in "${!POOL_PCP_HOST[@]}"; do
        [[ $n == "$self" || $n == "${BACKEND_NAME[$failed_id]:-}" ]] && continue
        (
            out=$(timeout 10 ssh -i "$SSH_KEY" -o UserKnownHostsFile="$KNOWN_HOSTS" -o StrictHostKeyChecking=yes \
                -o BatchMode=yes -o ConnectTimeout=3 "root@${POOL_PCP_HOST[$n]}" \
                "ss -K -tn dst $failed_host dport = :$PG_PORT | tail -n +2 | wc -l" 2>&1)
            log "aborted ${out:-?} TCP connection(s) of $n's pgpool to $failed_host:$PG_PORT (DROP_STALE=on)"
        ) &
        pids+=($!)
    done
    ((${#pids[@]} == 0)) || wait "${pids[@]}"
}

if [[ $failed_id != "$old_primary_id" ]]; then
    drop_stale
    log "node $failed_id was not the primary: nothing to do (pgpool detaches it)"
    exit 0
fi

q() { # q NODE_ID SQL: ask a backend over the service LAN
    psql "host=${BACKEND_SVC[$1]} port=$PG_PORT user=$PG_USER dbname=postgres connect_timeout=2" -X -At -F ' ' -c "$2" </dev/null
}

lsn_num() { # X/Y -> integer
    local hi=${1%/*} lo=${1#*/}
    echo $(((16#$hi << 32) + 16#$lo))
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Sets best (node id, '' if none) and best_lsn (and lsn_<id> per standby):
# the most advanced live standby other than the failed node; exits 0 if one
# is already a primary. Every other backend is asked at once (a powered-off
# node answers nothing until connect_timeout).
find_best() {
    local i rec rcv rpl r p pids=()
    for i in "${!BACKEND_SVC[@]}"; do
        [[ $i == "$failed_id" ]] && continue
        (q "$i" "select pg_is_in_recovery(), coalesce(pg_last_wal_receive_lsn()::text, '0/0'), coalesce(pg_last_wal_replay_lsn()::text, '0/0')" \
            >"$tmp/$i" 2>"$tmp/$i.err" || echo down >"$tmp/$i") &
        pids+=($!)
    done
    wait "${pids[@]}"
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
                printf -v "lsn_$i" '%s' "$r"
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
}

# Is the "failed" primary alive (a planned switchover or detach)? Asked at
# the same time as the standbys and waited for until twice the time they took
# (at least 100 ms): a live primary on the same LAN answers about as fast as
# they do, and a dead one must not slow an unplanned failover down (it would
# hold us until connect_timeout).
# fence_old_primary: returns 0 once the failed primary cannot acknowledge
# another write (see the header), 1 if that could not be made sure of.
fence_old_primary() {
    local name=${BACKEND_NAME[$failed_id]} out rc
    if [[ -x ${FENCE_AGENT:-} ]]; then
        "$FENCE_AGENT" --action=status --plug="$name" --power-timeout=2 </dev/null >/dev/null 2>&1
        rc=$?
        if ((rc == 2)); then
            log "fence: $name is powered off (power controller): fenced"
            return 0
        fi
        ((rc == 0)) || log "fence: power status of $name unknown (rc $rc)"
    fi
    if [[ $(uname -n) == "$name" ]]; then
        out=$(timeout 30 bash "$STOP_SCRIPT" "$PG_DATA" "$PG_BIN" postgres 2 2>&1)
    else
        out=$(timeout 30 ssh -i "$SSH_KEY" -o UserKnownHostsFile="$KNOWN_HOSTS" -o StrictHostKeyChecking=yes \
            -o BatchMode=yes -o ConnectTimeout=3 "root@${BACKEND_MGMT[$failed_id]}" \
            bash -s -- "$PG_DATA" "$PG_BIN" postgres 2 <"$STOP_SCRIPT" 2>&1)
    fi
    rc=$?
    if ((rc == 0)); then
        log "fence: $name stopped: $(echo "$out" | tr '\n' ' ')"
        return 0
    fi
    log "fence: stopping $name over SSH failed (rc $rc): $(echo "$out" | tr '\n' ' ')"
    if [[ ! -x ${FENCE_AGENT:-} ]]; then
        log "fence: no fence agent (${FENCE_AGENT:-unset}): cannot power $name off"
        return 1
    fi
    log "fence: powering $name off through the lab's power controller"
    out=$("$FENCE_AGENT" --action=off --plug="$name" --power-timeout=20 </dev/null 2>&1)
    rc=$?
    if ((rc != 0)); then
        log "fence: power-off of $name failed (rc $rc): $(echo "$out" | tr '\n' ' ')"
        return 1
    fi
    "$FENCE_AGENT" --action=status --plug="$name" --power-timeout=5 </dev/null >/dev/null 2>&1
    rc=$?
    if ((rc == 2)); then
        log "fence: $name powered off: fenced"
        return 0
    fi
    log "fence: $name not confirmed off after its power-off (status rc $rc)"
    return 1
}

t0=${EPOCHREALTIME/./}
# (The answer may come after this script has exited and removed $tmp: quietly dropped.)
(r=$(q "$failed_id" 'select pg_is_in_recovery()' 2>/dev/null); { echo "$r" >"$tmp/old.part" && mv "$tmp/old.part" "$tmp/old"; } 2>/dev/null) &
find_best
t1=${EPOCHREALTIME/./}
limit=$((t0 + 2 * (t1 - t0)))
((limit < t0 + 100000)) && limit=$((t0 + 100000))
while [[ ! -e $tmp/old ]] && ((${EPOCHREALTIME/./} < limit)); do sleep 0.01; done
planned=no
if [[ $(cat "$tmp/old" 2>/dev/null) == f ]]; then
    planned=yes
    log "node $failed_id still answers as a primary: a planned switchover or detach"
    if [[ -z $best ]]; then
        log "no live standby: leaving node $failed_id running"
        exit 0
    fi
    log "stopping the old primary node $failed_id (${BACKEND_NAME[$failed_id]}) with pg_ctl stop -m fast"
    if ! out=$(ssh -i "$SSH_KEY" -o UserKnownHostsFile="$KNOWN_HOSTS" -o StrictHostKeyChecking=yes \
            -o BatchMode=yes -o ConnectTimeout=3 "root@${BACKEND_MGMT[$failed_id]}" \
            runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DATA" stop -m fast -w -t 60 2>&1); then
        log "stopping node $failed_id FAILED, promoting nothing (two primaries otherwise): $(echo "$out" | tr '\n' ' ')"
        exit 0
    fi
    # Its last WAL (the shutdown checkpoint) has reached the standbys now: ask again.
    find_best
    want=lsn_none
    [[ $new_main_id =~ ^[0-9]+$ ]] && want=lsn_$new_main_id
    if [[ $new_main_id != "$failed_id" && ${!want:-} == "$best_lsn" ]]; then
        best=$new_main_id
    else
        log "the requested new main node ${new_main_id:-none} is not among the most advanced live standbys"
    fi
fi

if [[ -z $best ]]; then
    log "no live standby to promote: the cluster has no primary now"
    exit 0
fi

if [[ $planned == no ]]; then
    drop_stale
    if [[ ${FENCE:-off} != on ]]; then
        log "fencing is off (lab up --fence off): node $failed_id (${BACKEND_NAME[$failed_id]}) is not stopped before the promotion"
    elif ! fence_old_primary; then
        log "FENCING node $failed_id (${BACKEND_NAME[$failed_id]}) FAILED: promoting nothing (it may still take writes: two primaries otherwise)"
        exit 0
    else
        # Whatever the fenced server sent before it stopped has reached the
        # standbys now (or never will): ask them again.
        find_best
        if [[ -z $best ]]; then
            log "no live standby to promote after the fence: the cluster has no primary now"
            exit 0
        fi
    fi
fi

log "promoting node $best (${BACKEND_NAME[$best]}) with pg_promote()"
out=$(q "$best" "select pg_promote(true, 60)" 2>&1)
log "pg_promote on node $best returned: $out"
exit 0
