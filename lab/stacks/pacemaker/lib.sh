# shellcheck shell=bash
# What the Pacemaker stacks of the haverify lab share (sourced by
# lab/stacks/pgrex/stack.sh and lab/stacks/shared-disk/stack.sh): 2 nodes,
# Corosync 3 (knet) on the interconnect LAN, Pacemaker 2.1, lab fencing, the
# service-LAN check, the initial CIB, and the stack verbs.
# The stack that sources it sets PCMK_MODEL (replication | shared-disk, as
# rejoin.sh and haverify's pacemaker driver name it) and PCMK_RESOURCE, and
# defines:
#   pcmk_seed                 the PostgreSQL data before Pacemaker starts
#   pcmk_pgsql_attrs          its own ocf:heartbeat:pgsql instance attributes
#   pcmk_resources PG_ATTRS   its resources (after fencing and ping-svc)
#   pcmk_constraints          its constraints (after the fencing locations)
#   pcmk_healthy_rows ROWS    whether "in_recovery|sync standbys" on the
#                             service VIP is healthy
# and sets PCMK_HEALTHY_WHAT (what `up` waits for).

PCMK_DIR="$LAB_DIR/stacks/pacemaker"
VIP_SVC=198.18.1.100
VIP_REPL=198.18.2.100
PG_TMPDIR=/var/lib/postgresql/tmp # pgsql RA tmpdir (PGSQL.lock, rep_mode.conf)

pcmk_token() { if [[ $1 == fast ]]; then echo 1000; else echo 3000; fi; }
# priority-fencing-delay: the surviving standby waits this long before it
# fences a lost primary, so that in a split the primary's side wins.
pcmk_pfd() { if [[ $1 == fast ]]; then echo 2s; else echo 5s; fi; }

# shellcheck disable=SC2034  # DB_NODES and ALL_NODES are read by lab/lib/*.sh
stack_nodes() { DB_NODES=(node1 node2) ALL_NODES=(node1 node2); }
stack_service_monitored() { true; } # the ping-svc location rule

stack_prepare() { # host-side files shared by all nodes
    local profile=$1
    mkdir -p "$STATE/pacemaker/sbin"
    power_fencing_prepare # lib/power.sh: the controller's spool and fence_hvlab
    # The fixed ocf-shellfuncs (lab notes: -p is mis-parsed by crm_attribute 2.1.5).
    sed 's|crm_attribute -p \$@|crm_attribute --promotion $@|' /usr/lib/ocf/lib/heartbeat/ocf-shellfuncs \
        >"$STATE/pacemaker/ocf-shellfuncs"
    grep -q 'crm_attribute --promotion' "$STATE/pacemaker/ocf-shellfuncs" ||
        die "cannot patch ocf-shellfuncs (has resource-agents changed?)"
    cp -p "$POWER_FENCE_AGENT" "$STATE/pacemaker/sbin/fence_hvlab" # Pacemaker's fencer finds it in /usr/sbin
    # The lab disk as a mount program (mount -t fuse.haverify-lab-disk runs
    # mount.fuse, which runs haverify-lab-disk from PATH), in the nodes only.
    if [[ -n ${DISK_BIN:-} ]]; then ln -sf "$DISK_BIN" "$STATE/pacemaker/sbin/haverify-lab-disk"; fi
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
    pg+=$(pcmk_pgsql_attrs)
    pcmk_resources "$pg"
    echo '</resources><constraints>'
    fence_locations
    pcmk_constraints
    echo '</constraints>'
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

# Healthy = what haverify needs before a scenario: the service VIP answers as
# a writable primary, and (pgrex) the other node streams synchronously.
pcmk_healthy() {
    local r
    r=$(psql "host=$VIP_SVC port=$PG_PORT user=$PG_USER dbname=postgres connect_timeout=2" -X -At -c \
        "select pg_is_in_recovery(), (select count(*) from pg_stat_replication where state = 'streaming' and sync_state = 'sync')" \
        </dev/null 2>/dev/null) || return 1
    pcmk_healthy_rows "$r"
}

stack_up() {
    pcmk_seed
    start_power_controller
    log "starting corosync + pacemaker on ${DB_NODES[*]}"
    each_node_parallel "cluster start" pcmk_cluster start -- "${DB_NODES[@]}"
    wait_until 120 "$PCMK_HEALTHY_WHAT" pcmk_healthy
}

stack_status() {
    local n pid
    for n in "${DB_NODES[@]}"; do
        pid=$(init_pid "$n") || continue
        if nsenter -t "$pid" -n -m -u -i -p -- crm_mon -1 -A 2>/dev/null; then return 0; fi
    done
    echo "crm_mon: no node answers"
}

stack_rejoin() {
    local n=$1
    log "rejoining $n ($STACK)"
    ssh_node "$n" bash -s -- "$PCMK_MODEL" "$n" "$PG_DATA" "$PG_BIN" "$VIP_REPL" "$PG_PORT" "$PG_TMPDIR" 120 \
        /bin/bash "$PCMK_DIR/cluster.sh" start 60 <"$PCMK_DIR/rejoin.sh" || die "rejoin of $n failed"
    log "$n rejoined"
}

stack_inventory() {
    cat <<EOF

endpoint:
  kind: vip
  host: $VIP_SVC
  port: $PG_PORT
  user: $PG_USER
  database: postgres

driver:
  type: pacemaker
  model: $PCMK_MODEL
  resource: $PCMK_RESOURCE
  repl_host: $VIP_REPL
  tmpdir: $PG_TMPDIR
  rejoin_script: $PCMK_DIR/rejoin.sh
  start_command: /bin/bash $PCMK_DIR/cluster.sh start 60
  stop_command: /bin/bash $PCMK_DIR/cluster.sh stop 60
  detect_log: /var/log/corosync/corosync.log
EOF
}
