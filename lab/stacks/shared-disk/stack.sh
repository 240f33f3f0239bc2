# shellcheck shell=bash
# Stack shared-disk of the haverify lab (sourced by lab/lib/stack.sh): 2
# nodes, Pacemaker (lab/stacks/pacemaker/lib.sh) running one group:
# Filesystem (one host directory, the "shared disk", that only the active node
# mounts: a bind, or with --disk the lab disk like a SAN LUN) + ocf:heartbeat:pgsql + the service VIP; lab fencing.

# shellcheck source=../pacemaker/lib.sh
. "$LAB_DIR/stacks/pacemaker/lib.sh"

SHARED_PGDATA_REL='shared/pgdata' # the "shared disk", under $STATE
PCMK_MODEL='shared-disk'
PCMK_RESOURCE='pg-group'
PCMK_HEALTHY_WHAT="service VIP $VIP_SVC answering as primary"

pcmk_seed() { # initdb on the host, into the shared disk; Pacemaker starts it
    log "initdb on the shared disk $STATE/$SHARED_PGDATA_REL"
    local shared="$STATE/$SHARED_PGDATA_REL" n
    install -d -o postgres -g postgres -m 700 "$STATE/shared" "$shared"
    for n in "${DB_NODES[@]}"; do install -d -o postgres -g postgres -m 700 "$(ndir "$n")/varlib/15/main"; done
    runuser -u postgres -- "$PG_BIN/initdb" -D "$shared" -k -N -U "$PG_USER" \
        --auth=trust -E UTF8 --locale=C.UTF-8 >"$STATE/initdb.log" 2>&1 ||
        die "initdb failed for the shared disk (see $STATE/initdb.log)"
    {
        pcmk_pg_config
        echo "synchronous_standby_names = ''   # shared disk: no standby"
        user_config --pg-set "${PG_SET[@]}"
    } >>"$shared/postgresql.conf"
    pg_hba >"$shared/pg_hba.conf"
}

pcmk_pgsql_attrs() { :; }

pcmk_resources() { # pcmk_resources PG_ATTRS
    echo '<group id="pg-group"><meta_attributes id="pg-group-meta">'
    nv pg-group priority 10
    echo '</meta_attributes>'
    echo '<primitive id="pgdata-fs" class="ocf" provider="heartbeat" type="Filesystem"><instance_attributes id="pgdata-fs-ia">'
    nv pgdata-fs device "$STATE/$SHARED_PGDATA_REL"
    nv pgdata-fs directory "$PG_DATA"
    if [[ ${DISK:-tmpfs} == tmpfs ]]; then
        nv pgdata-fs fstype none
        nv pgdata-fs options bind
    else # like a SAN LUN: one backing store, served by the lab disk of the node that mounts it
        nv pgdata-fs fstype fuse.haverify-lab-disk
        nv pgdata-fs options "daemon,profile=$DISK,log=$STATE/shared/disk.log"
    fi
    echo '</instance_attributes><operations>'
    op pgdata-fs start 0s 60s
    op pgdata-fs monitor 10s 40s
    op pgdata-fs stop 0s 60s 'on-fail="fence"'
    echo '</operations></primitive>'
    echo "<primitive id=\"pgsql\" class=\"ocf\" provider=\"heartbeat\" type=\"pgsql\"><instance_attributes id=\"pgsql-ia\">$1</instance_attributes><operations>"
    op pgsql start 0s 300s 'on-fail="restart"'
    op pgsql monitor 4s 60s 'on-fail="restart"'
    op pgsql stop 0s 300s 'on-fail="fence"'
    echo '</operations></primitive>'
    ipaddr2 vip-svc "$VIP_SVC" svc0
    echo '</group>'
}

pcmk_constraints() {
    echo "<rsc_location id=\"l-pg-pref\" rsc=\"pg-group\" node=\"${DB_NODES[0]}\" score=\"100\"/>"
    ping_location l-pg-ping pg-group
}

pcmk_healthy_rows() { [[ ${1%%|*} == f ]]; } # the primary answers on the VIP
