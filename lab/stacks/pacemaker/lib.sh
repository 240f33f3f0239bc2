# shellcheck shell=bash
# Pacemaker stacks of the haverify lab (sourced by lab/haverify-lab):
#   pgrex        2 nodes, Corosync 3 (knet) on the interconnect LAN, Pacemaker 2.1,
#                ocf:heartbeat:pgsql rep_mode=sync as a promotable clone, a
#                service VIP and a replication VIP (IPaddr2), lab fencing.
#   shared-disk  2 nodes, a group Filesystem (bind of one host directory that
#                only the active node mounts) + pgsql + service VIP, lab fencing.

PCMK_DIR="$LAB_DIR/stacks/pacemaker"
VIP_SVC=198.18.1.100
VIP_REPL=198.18.2.100
PG_TMPDIR=/var/lib/postgresql/tmp # pgsql RA tmpdir (PGSQL.lock, rep_mode.conf)
SHARED_PGDATA_REL=shared/pgdata   # the "shared disk", under $STATE

pcmk_token() { if [[ $1 == fast ]]; then echo 1000; else echo 3000; fi; }
# priority-fencing-delay: the surviving standby waits this long before it
# fences a lost primary, so that in a split the primary's side wins.
pcmk_pfd() { if [[ $1 == fast ]]; then echo 2s; else echo 5s; fi; }

pcmk_write_common() { # host-side files shared by all nodes
    local profile=$1
    mkdir -p "$STATE/pacemaker/sbin" "$STATE/power/requests" "$STATE/power/replies"
    # The fixed ocf-shellfuncs (lab notes: -p is mis-parsed by crm_attribute 2.1.5).
    sed 's|crm_attribute -p \$@|crm_attribute --promotion $@|' /usr/lib/ocf/lib/heartbeat/ocf-shellfuncs \
        >"$STATE/pacemaker/ocf-shellfuncs"
    grep -q 'crm_attribute --promotion' "$STATE/pacemaker/ocf-shellfuncs" ||
        die "cannot patch ocf-shellfuncs (has resource-agents changed?)"
    sed -e "s|@STATE@|$STATE|" -e "s|@NODES@|${DB_NODES[*]}|" "$PCMK_DIR/fence_hvlab" >"$STATE/pacemaker/sbin/fence_hvlab"
    chmod 755 "$STATE/pacemaker/sbin/fence_hvlab"
    local n
    for n in "${DB_NODES[@]}"; do pcmk_write_node "$n" "$profile"; done
}

corosync_conf() {
    local profile=$1 i=1 m
    echo "# haverify lab ($STACK, profile $profile): Corosync 3 / knet on the interconnect LAN."
    echo "totem {"
    echo "    version: 2"
    echo "    cluster_name: hvlab"
    echo "    transport: knet"
    echo "    token: $(pcmk_token "$profile")"
    echo "    crypto_cipher: none"
    echo "    crypto_hash: none"
    echo "}"
    echo "nodelist {"
    for m in "${DB_NODES[@]}"; do
        printf '    node {\n        ring0_addr: %s\n        name: %s\n        nodeid: %d\n    }\n' "$(addr "$m" ic)" "$m" "$i"
        i=$((i + 1))
    done
    echo "}"
    echo "quorum {"
    echo "    provider: corosync_votequorum"
    echo "    two_node: 1"
    echo "}"
    echo "logging {"
    echo "    to_logfile: yes"
    echo "    logfile: /var/log/corosync/corosync.log"
    echo "    to_stderr: no"
    echo "    to_syslog: no"
    echo "    timestamp: hires"
    echo "}"
}

pcmk_write_node() {
    local n=$1 profile=$2 d
    d=$(ndir "$n")
    mkdir -p "$d/etc-corosync" "$d/varlib-corosync" "$d/varlog-corosync" \
        "$d/varlib-pacemaker/cib" "$d/varlib-pacemaker/pengine" "$d/varlib-pacemaker/blackbox" \
        "$d/varlib-pacemaker/cores" "$d/varlog-pacemaker"
    chown -R hacluster:haclient "$d/varlib-pacemaker" "$d/varlog-pacemaker"
    chmod 750 "$d/varlib-pacemaker"/*
    chmod 770 "$d/varlog-pacemaker"
    corosync_conf "$profile" >"$d/etc-corosync/corosync.conf"
    pcmk_cib "$profile" >"$d/varlib-pacemaker/cib/cib.xml"
    chown hacluster:haclient "$d/varlib-pacemaker/cib/cib.xml"
    chmod 600 "$d/varlib-pacemaker/cib/cib.xml"
}

nv() { printf '<nvpair id="%s-%s" name="%s" value="%s"/>' "$1" "$2" "$2" "$3"; }
op() { # op RSC NAME INTERVAL TIMEOUT [extra attrs]
    printf '<op id="%s-%s-%s%s" name="%s" interval="%s" timeout="%s" %s/>' "$1" "$2" "$3" "${6:-}" "$2" "$3" "$4" "${5:-}"
}
ipaddr2() { # ipaddr2 ID IP NIC
    printf '<primitive id="%s" class="ocf" provider="heartbeat" type="IPaddr2"><instance_attributes id="%s-ia">%s%s%s</instance_attributes><operations>%s%s%s</operations></primitive>\n' \
        "$1" "$1" "$(nv "$1" ip "$2")" "$(nv "$1" nic "$3")" "$(nv "$1" cidr_netmask 24)" \
        "$(op "$1" start 0s 20s)" "$(op "$1" monitor 10s 20s)" "$(op "$1" stop 0s 20s)"
}

fence_primitives() {
    local n
    for n in "${DB_NODES[@]}"; do
        printf '<primitive id="fence-%s" class="stonith" type="fence_hvlab"><instance_attributes id="fence-%s-ia">%s</instance_attributes><operations>%s</operations></primitive>\n' \
            "$n" "$n" "$(nv "fence-$n" pcmk_host_list "$n")" "$(op "fence-$n" monitor 60s 20s)"
    done
}
# The service-LAN check, as PG-REX and most Pacemaker database setups have
# one: ocf:pacemaker:ping on every node pings the service LAN's gateway (the
# host's address on it) and sets the node attribute ping-svc (100 reachable,
# 0 not); the primary may only run where it is 100. fast: checked every 2 s.
ping_primitive() { # ping_primitive PROFILE
    local interval=10s timeout=2 dampen=5s
    [[ $1 == fast ]] && interval=2s timeout=1 dampen=1s
    echo '<clone id="ping-svc-clone"><primitive id="ping-svc" class="ocf" provider="pacemaker" type="ping"><instance_attributes id="ping-svc-ia">'
    nv ping-svc name ping-svc
    nv ping-svc host_list "${HOST_ADDR[svc]}"
    nv ping-svc multiplier 100
    nv ping-svc attempts 2
    nv ping-svc timeout "$timeout"
    nv ping-svc dampen "$dampen"
    echo '</instance_attributes><operations>'
    op ping-svc start 0s 60s
    op ping-svc monitor "$interval" 60s
    op ping-svc stop 0s 60s
    echo '</operations></primitive></clone>'
}
ping_location() { # ping_location ID RSC [ROLE]
    # The role belongs on the rule: Pacemaker ignores an rsc_location's role
    # when the location has a rule (the ban then covered every role).
    printf '<rsc_location id="%s" rsc="%s"><rule id="%s-rule" score="-INFINITY" boolean-op="or"%s>' \
        "$1" "$2" "$1" "${3:+ role=\"$3\"}"
    printf '<expression id="%s-undef" attribute="ping-svc" operation="not_defined"/>' "$1"
    printf '<expression id="%s-lt" attribute="ping-svc" operation="lt" value="100" type="integer"/>' "$1"
    echo '</rule></rsc_location>'
}

fence_locations() {
    local n
    for n in "${DB_NODES[@]}"; do
        printf '<rsc_location id="l-fence-%s" rsc="fence-%s" node="%s" score="-INFINITY"/>\n' "$n" "$n" "$n"
    done
}

pcmk_cib() { # the initial CIB (written before Pacemaker starts)
    local profile=$1 dcd=20s
    [[ $profile == fast ]] && dcd=5s
    # The installed Pacemaker's own feature set and schema (an empty CIB's root).
    cibadmin --empty | head -1
    echo '<configuration>'
    echo '<crm_config><cluster_property_set id="cib-bootstrap-options">'
    nv o stonith-enabled true
    nv o stonith-action off
    nv o stonith-timeout 30s
    nv o priority-fencing-delay "$(pcmk_pfd "$profile")"
    nv o no-quorum-policy ignore
    nv o dc-deadtime "$dcd"
    nv o cluster-recheck-interval 60s
    nv o cluster-name hvlab
    echo '</cluster_property_set></crm_config>'
    echo '<nodes/>'
    echo '<resources>'
    fence_primitives
    ping_primitive "$profile"
    local pg
    pg="$(nv pgsql pgctl "$PG_BIN/pg_ctl")$(nv pgsql psql /usr/bin/psql)$(nv pgsql pgdata "$PG_DATA")"
    pg+="$(nv pgsql config "$PG_DATA/postgresql.conf")$(nv pgsql pgport "$PG_PORT")$(nv pgsql pgdba postgres)"
    pg+="$(nv pgsql socketdir /run/postgresql)$(nv pgsql logfile "$PG_LOG")$(nv pgsql stop_escalate 5)"
    if [[ $STACK == pgrex ]]; then
        pg+="$(nv pgsql rep_mode sync)$(nv pgsql node_list "${DB_NODES[*]}")$(nv pgsql master_ip "$VIP_REPL")"
        pg+="$(nv pgsql repuser postgres)$(nv pgsql tmpdir "$PG_TMPDIR")$(nv pgsql restart_on_promote false)"
        pg+="$(nv pgsql primary_conninfo_opt 'keepalives_idle=10 keepalives_interval=2 keepalives_count=3')"
        pg+="$(nv pgsql check_wal_receiver true)$(nv pgsql xlog_check_count 3)"
        echo '<clone id="pgsql-clone"><meta_attributes id="pgsql-clone-meta">'
        nv pgsql-clone promotable true
        nv pgsql-clone promoted-max 1
        nv pgsql-clone promoted-node-max 1
        nv pgsql-clone clone-max 2
        nv pgsql-clone clone-node-max 1
        nv pgsql-clone notify true
        nv pgsql-clone priority 10
        echo '</meta_attributes>'
        echo "<primitive id=\"pgsql\" class=\"ocf\" provider=\"heartbeat\" type=\"pgsql\"><instance_attributes id=\"pgsql-ia\">$pg</instance_attributes><operations>"
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
        echo '</resources><constraints>'
        fence_locations
        echo "<rsc_location id=\"l-pgsql-pref\" rsc=\"pgsql-clone\" role=\"Promoted\" node=\"${DB_NODES[0]}\" score=\"100\"/>"
        ping_location l-pgsql-ping pgsql-clone Promoted
        echo '<rsc_colocation id="c-vip-with-promoted" rsc="vip-group" with-rsc="pgsql-clone" with-rsc-role="Promoted" score="INFINITY"/>'
        # Optional (score 0), as in the pgsql agent's reference configuration:
        # a Mandatory demote->stop order blocks the VIPs' stop when the
        # demote ran in an earlier transition (a shutdown of the last node
        # then hangs: "Cannot shut down node1 because of vip-svc: blocked").
        echo '<rsc_order id="o-promote-then-vip" first="pgsql-clone" first-action="promote" then="vip-group" then-action="start" symmetrical="false" kind="Optional"/>'
        echo '<rsc_order id="o-demote-then-stop-vip" first="pgsql-clone" first-action="demote" then="vip-group" then-action="stop" symmetrical="false" kind="Optional"/>'
        echo '</constraints>'
    else
        echo '<group id="pg-group"><meta_attributes id="pg-group-meta">'
        nv pg-group priority 10
        echo '</meta_attributes>'
        echo '<primitive id="pgdata-fs" class="ocf" provider="heartbeat" type="Filesystem"><instance_attributes id="pgdata-fs-ia">'
        nv pgdata-fs device "$STATE/$SHARED_PGDATA_REL"
        nv pgdata-fs directory "$PG_DATA"
        nv pgdata-fs fstype none
        nv pgdata-fs options bind
        echo '</instance_attributes><operations>'
        op pgdata-fs start 0s 60s
        op pgdata-fs monitor 10s 40s
        op pgdata-fs stop 0s 60s 'on-fail="fence"'
        echo '</operations></primitive>'
        echo "<primitive id=\"pgsql\" class=\"ocf\" provider=\"heartbeat\" type=\"pgsql\"><instance_attributes id=\"pgsql-ia\">$pg</instance_attributes><operations>"
        op pgsql start 0s 300s 'on-fail="restart"'
        op pgsql monitor 4s 60s 'on-fail="restart"'
        op pgsql stop 0s 300s 'on-fail="fence"'
        echo '</operations></primitive>'
        ipaddr2 vip-svc "$VIP_SVC" svc0
        echo '</group>'
        echo '</resources><constraints>'
        fence_locations
        echo "<rsc_location id=\"l-pg-pref\" rsc=\"pg-group\" node=\"${DB_NODES[0]}\" score=\"100\"/>"
        ping_location l-pg-ping pg-group
        echo '</constraints>'
    fi
    echo '<rsc_defaults><meta_attributes id="rsc-options">'
    nv rsc resource-stickiness INFINITY
    nv rsc migration-threshold 1
    echo '</meta_attributes></rsc_defaults>'
    echo '</configuration>'
    echo '<status/>'
    echo '</cib>'
}

pcmk_pg_config() {
    pg_config
    echo "# Pacemaker restarts PostgreSQL, not PostgreSQL itself (PG-REX practice)."
    echo "restart_after_crash = off"
}

pcmk_cluster() { # pcmk_cluster NODE start|stop
    node_exec "$1" /bin/bash "$PCMK_DIR/cluster.sh" "$2" 60 || die "cluster $2 failed on $1"
}

start_power_controller() {
    setsid "$LAB_DIR/power-controller.sh" "$SCRIPT" "$STATE" </dev/null >>"$STATE/power/controller.log" 2>&1 9<&- &
    echo $! >"$STATE/power/controller.pid"
}

setup_pgrex() {
    local n d
    d="$(ndir node1)/varlib/15/main"
    for n in "${DB_NODES[@]}"; do install -d -o postgres -g postgres -m 700 "$(ndir "$n")/varlib/tmp"; done
    node_exec node1 runuser -u postgres -- "$PG_BIN/initdb" -D "$PG_DATA" -k -N -U "$PG_USER" \
        --auth=trust -E UTF8 --locale=C.UTF-8 >"$(ndir node1)/initdb.log" 2>&1 ||
        die "initdb failed on node1 (see $(ndir node1)/initdb.log)"
    pcmk_pg_config >>"$d/postgresql.conf"
    pg_hba >"$d/pg_hba.conf"
    pg_start node1 || die "PostgreSQL did not start on node1"
    log "pg_basebackup node2 (the pgsql agent writes its recovery settings itself)"
    node_exec node2 runuser -u postgres -- "$PG_BIN/pg_basebackup" -D "$PG_DATA" -X stream -c fast \
        -d "host=$(addr node1 repl) port=$PG_PORT user=$PG_USER" >"$(ndir node2)/basebackup.log" 2>&1 ||
        die "pg_basebackup failed on node2 (see $(ndir node2)/basebackup.log)"
    node_exec node1 runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null ||
        die "cannot stop the seed PostgreSQL on node1"
}

setup_shared_disk() {
    local shared="$STATE/$SHARED_PGDATA_REL" n
    install -d -o postgres -g postgres -m 700 "$STATE/shared" "$shared"
    for n in "${DB_NODES[@]}"; do install -d -o postgres -g postgres -m 700 "$(ndir "$n")/varlib/15/main"; done
    runuser -u postgres -- "$PG_BIN/initdb" -D "$shared" -k -N -U "$PG_USER" \
        --auth=trust -E UTF8 --locale=C.UTF-8 >"$STATE/initdb.log" 2>&1 ||
        die "initdb failed for the shared disk (see $STATE/initdb.log)"
    pcmk_pg_config >>"$shared/postgresql.conf"
    echo "synchronous_standby_names = ''   # shared disk: no standby" >>"$shared/postgresql.conf"
    pg_hba >"$shared/pg_hba.conf"
}

# Healthy = what haverify needs before a scenario: the service VIP answers as
# a writable primary, and (pgrex) the other node streams synchronously.
pcmk_healthy() {
    local r
    r=$(psql "host=$VIP_SVC port=$PG_PORT user=$PG_USER dbname=postgres connect_timeout=2" -X -At -c \
        "select pg_is_in_recovery(), (select count(*) from pg_stat_replication where state = 'streaming' and sync_state = 'sync')" \
        </dev/null 2>/dev/null) || return 1
    if [[ $STACK == pgrex ]]; then [[ $r == 'f|1' ]]; else [[ ${r%%|*} == f ]]; fi
}

up_pacemaker() {
    local n
    if [[ $STACK == pgrex ]]; then
        log "initdb node1, seed node2"
        setup_pgrex
    else
        log "initdb on the shared disk $STATE/$SHARED_PGDATA_REL"
        setup_shared_disk
    fi
    start_power_controller
    log "starting corosync + pacemaker on ${DB_NODES[*]}"
    each_node_parallel "cluster start" pcmk_cluster start -- "${DB_NODES[@]}"
    local what="service VIP $VIP_SVC answering as primary"
    [[ $STACK == pgrex ]] && what+=" with node2 streaming sync"
    wait_until 120 "$what" pcmk_healthy
}

status_pacemaker() {
    local n pid
    for n in "${DB_NODES[@]}"; do
        pid=$(init_pid "$n") || continue
        if nsenter -t "$pid" -n -m -u -i -p -- crm_mon -1 -A 2>/dev/null; then return 0; fi
    done
    echo "crm_mon: no node answers"
}

rejoin_pacemaker() {
    local n=$1 model=replication
    [[ $STACK == shared-disk ]] && model=shared-disk
    init_pid "$n" >/dev/null || die "$n is powered off (run: haverify-lab power-on $n)"
    log "rejoining $n ($STACK)"
    ssh_node "$n" bash -s -- "$model" "$n" "$PG_DATA" "$PG_BIN" "$VIP_REPL" "$PG_PORT" "$PG_TMPDIR" 120 \
        /bin/bash "$PCMK_DIR/cluster.sh" start 60 <"$PCMK_DIR/rejoin.sh" || die "rejoin of $n failed"
    log "$n rejoined"
}

inventory_pacemaker() {
    local model=replication resource=pgsql-clone
    [[ $STACK == shared-disk ]] && model=shared-disk resource=pg-group
    cat <<EOF

endpoint:
  kind: vip
  host: $VIP_SVC
  port: $PG_PORT
  user: $PG_USER
  database: postgres

driver:
  type: pacemaker
  model: $model
  resource: $resource
  repl_host: $VIP_REPL
  tmpdir: $PG_TMPDIR
  rejoin_script: $PCMK_DIR/rejoin.sh
  start_command: /bin/bash $PCMK_DIR/cluster.sh start 60
  stop_command: /bin/bash $PCMK_DIR/cluster.sh stop 60
  detect_log: /var/log/corosync/corosync.log
EOF
}
