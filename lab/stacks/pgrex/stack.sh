# shellcheck shell=bash
# Stack pgrex of the haverify lab (sourced by lab/lib/stack.sh): 2 nodes,
# Pacemaker (lab/stacks/pacemaker/lib.sh) running ocf:heartbeat:pgsql with
# rep_mode=sync as a promotable clone, a service VIP and a replication VIP
# (IPaddr2) with the Promoted instance, lab fencing. PG-REX style.

# shellcheck source=../pacemaker/lib.sh
. "$LAB_DIR/stacks/pacemaker/lib.sh"

PCMK_MODEL=replication
PCMK_RESOURCE=pgsql-clone
PCMK_HEALTHY_WHAT="service VIP $VIP_SVC answering as primary with node2 streaming sync"

pcmk_seed() { # initdb on node1, pg_basebackup to node2; both start under Pacemaker
    log "initdb node1, seed node2"
    local n
    for n in "${DB_NODES[@]}"; do install -d -o postgres -g postgres -m 700 "$(ndir "$n")/varlib/tmp"; done
    pg_initdb node1
    { pcmk_pg_config; user_config --pg-set "${PG_SET[@]}"; } | node_append node1 "$PG_DATA/postgresql.conf"
    pg_hba | node_write node1 "$PG_DATA/pg_hba.conf"
    pg_start node1 || die "PostgreSQL did not start on node1"
    log "pg_basebackup node2 (the pgsql agent writes its recovery settings itself)"
    node_exec node2 runuser -u postgres -- "$PG_BIN/pg_basebackup" -D "$PG_DATA" -X stream -c fast \
        -d "host=$(addr node1 repl) port=$PG_PORT user=$PG_USER" >"$(ndir node2)/basebackup.log" 2>&1 ||
        die "pg_basebackup failed on node2 (see $(ndir node2)/basebackup.log)"
    node_exec node1 runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null ||
        die "cannot stop the seed PostgreSQL on node1"
}

pcmk_pgsql_attrs() {
    nv pgsql rep_mode sync
    nv pgsql node_list "${DB_NODES[*]}"
    nv pgsql master_ip "$VIP_REPL"
    nv pgsql repuser postgres
    nv pgsql tmpdir "$PG_TMPDIR"
    nv pgsql restart_on_promote false
    nv pgsql primary_conninfo_opt 'keepalives_idle=10 keepalives_interval=2 keepalives_count=3'
    nv pgsql check_wal_receiver true
    nv pgsql xlog_check_count 3
}

pcmk_resources() { # pcmk_resources PG_ATTRS
    echo '<clone id="pgsql-clone"><meta_attributes id="pgsql-clone-meta">'
    nv pgsql-clone promotable true
    nv pgsql-clone promoted-max 1
    nv pgsql-clone promoted-node-max 1
    nv pgsql-clone clone-max 2
    nv pgsql-clone clone-node-max 1
    nv pgsql-clone notify true
    nv pgsql-clone priority 10
    echo '</meta_attributes>'
    echo "<primitive id=\"pgsql\" class=\"ocf\" provider=\"heartbeat\" type=\"pgsql\"><instance_attributes id=\"pgsql-ia\">$1</instance_attributes><operations>"
    op pgsql start 0s 300s 'on-fail="restart"'
    op pgsql monitor 4s 60s 'on-fail="restart"'
    op pgsql monitor 3s 60s 'role="Promoted" on-fail="restart"' -promoted
    op pgsql promote 0s 300s 'on-fail="restart"'
    op pgsql demote 0s 300s 'on-fail="fence"'
    op pgsql stop 0s 300s 'on-fail="fence"'
    op pgsql notify 0s 60s
    echo '</operations></primitive></clone>'
    echo '<group id="vip-group">'
    ipaddr2 vip-svc "$VIP_SVC" svc0
    ipaddr2 vip-repl "$VIP_REPL" repl0
    echo '</group>'
}

pcmk_constraints() {
    echo "<rsc_location id=\"l-pgsql-pref\" rsc=\"pgsql-clone\" role=\"Promoted\" node=\"${DB_NODES[0]}\" score=\"100\"/>"
    ping_location l-pgsql-ping pgsql-clone Promoted
    echo '<rsc_colocation id="c-vip-with-promoted" rsc="vip-group" with-rsc="pgsql-clone" with-rsc-role="Promoted" score="INFINITY"/>'
    # Optional (score 0), as in the pgsql agent's reference configuration:
    # a Mandatory demote->stop order blocks the VIPs' stop when the
    # demote ran in an earlier transition (a shutdown of the last node
    # then hangs: "Cannot shut down node1 because of vip-svc: blocked").
    echo '<rsc_order id="o-promote-then-vip" first="pgsql-clone" first-action="promote" then="vip-group" then-action="start" symmetrical="false" kind="Optional"/>'
    echo '<rsc_order id="o-demote-then-stop-vip" first="pgsql-clone" first-action="demote" then="vip-group" then-action="stop" symmetrical="false" kind="Optional"/>'
}

pcmk_healthy_rows() { [[ $1 == 'f|1' ]]; } # primary, one sync standby streaming
