# shellcheck shell=bash
# Stack patroni of the haverify lab (sourced by lab/lib/stack.sh): 3 nodes,
# each with etcd (one 3-member cluster on the interconnect LAN), Patroni 3
# and PostgreSQL 15, synchronous_mode on. Clients reach the primary through
# a host list of the service addresses with target_session_attrs=read-write.

PATRONI_DIR="$LAB_DIR/stacks/patroni"
PATRONI_SCOPE=hvlab
PATRONI_LOG=/var/log/postgresql/patroni.log # inside a node (private bind mount)
REST_PORT=8008

# The --pg-set settings as Patroni's local postgresql.parameters (YAML).
patroni_user_parameters() { settings_lines "    %s: '%s'\n" "${PG_SET[@]}"; }

# shellcheck disable=SC2034  # DB_NODES and ALL_NODES are read by lab/lib/*.sh
stack_nodes() { DB_NODES=(node1 node2 node3) ALL_NODES=(node1 node2 node3); }

# ttl / loop_wait / retry_timeout: the product defaults, or short ones for CI.
patroni_timing() { if [[ $1 == fast ]]; then echo "10 2 4"; else echo "30 10 10"; fi; }

etcd_cluster() {
    local n out=
    for n in "${DB_NODES[@]}"; do out+="${out:+,}$n=http://$(addr "$n" ic):2380"; done
    echo "$out"
}

stack_prepare() { # etcd.env and config.yml of every node (mounted at /etc/patroni)
    local profile=$1 n d ttl loop retry
    read -r ttl loop retry <<<"$(patroni_timing "$profile")"
    for n in "${DB_NODES[@]}"; do
        d=$(ndir "$n")
        mkdir -p "$d/etc-patroni" "$d/varlib-etcd"
        chmod 700 "$d/varlib-etcd"
        cat >"$d/etc-patroni/etcd.env" <<EOF
# etcd of lab node $n (read by stacks/patroni/node.sh)
ETCD_NAME=$n
ETCD_DATA_DIR=/var/lib/etcd/$n
ETCD_LISTEN_PEER_URLS=http://$(addr "$n" ic):2380
ETCD_INITIAL_ADVERTISE_PEER_URLS=http://$(addr "$n" ic):2380
ETCD_LISTEN_CLIENT_URLS=http://$(addr "$n" ic):2379,http://127.0.0.1:2379
ETCD_ADVERTISE_CLIENT_URLS=http://$(addr "$n" ic):2379
ETCD_INITIAL_CLUSTER=$(etcd_cluster)
ETCD_INITIAL_CLUSTER_TOKEN=hvlab
ETCD_ENABLE_V2=true
EOF
        cat >"$d/etc-patroni/config.yml" <<EOF
# haverify lab: Patroni on $n (stack patroni, profile $profile)
scope: $PATRONI_SCOPE
name: $n
log:
  level: INFO
  dir: /var/log/postgresql
  file_num: 2
  file_size: 50000000
restapi:
  listen: $(addr "$n" mgmt):$REST_PORT
  connect_address: $(addr "$n" mgmt):$REST_PORT
etcd:
  hosts: $(addr node1 ic):2379,$(addr node2 ic):2379,$(addr node3 ic):2379
bootstrap:
  dcs:
    ttl: $ttl
    loop_wait: $loop
    retry_timeout: $retry
    maximum_lag_on_failover: 1048576
    synchronous_mode: true
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        wal_level: replica
        hot_standby: 'on'
        wal_log_hints: 'on'
        max_wal_senders: 10
        max_replication_slots: 10
        wal_keep_size: 512MB
        wal_sender_timeout: 10s
        wal_receiver_timeout: 10s
        wal_receiver_status_interval: 1s
        wal_retrieve_retry_interval: 1s
        max_connections: 100
        shared_buffers: 64MB
  initdb:
    - encoding: UTF8
    - locale: C.UTF-8
    - data-checksums
  pg_hba:
    - local all all trust
    - local replication all trust
    - host all all 127.0.0.1/32 trust
    - host replication all 127.0.0.1/32 trust
    - host all all 198.18.0.0/15 trust
    - host replication all 198.18.0.0/15 trust
postgresql:
  listen: '*:$PG_PORT'
  connect_address: $(addr "$n" repl):$PG_PORT
  data_dir: $PG_DATA
  bin_dir: $PG_BIN
  # A reinit's pg_basebackup asks for a fast checkpoint: at the default
  # (spread) it waits ~0.9 x checkpoint_timeout, 4.5 min on this lab.
  basebackup:
    - checkpoint: fast
  pgpass: /var/lib/postgresql/.pgpass-patroni
  authentication:
    superuser: {username: $PG_USER}
    replication: {username: $PG_USER}
    rewind: {username: $PG_USER}
  parameters:
    unix_socket_directories: /run/postgresql
    log_line_prefix: '%m [%p] %q%u@%d '
$(patroni_user_parameters)
tags:
  nofailover: false
  noloadbalance: false
  clonefrom: false
  nosync: false
EOF
        chmod 644 "$d/etc-patroni/config.yml"
    done
}

# PostgreSQL's own log lines go to Patroni's output (lab/stacks/patroni/node.sh).
stack_pg_log() { echo /var/log/postgresql/patroni.stdout; }

patroni_node() { # patroni_node NODE start|stop
    node_exec "$1" /bin/bash "$PATRONI_DIR/node.sh" "$2" 60 || die "patroni $2 failed on $1"
}

patroni_list() { node_exec "$1" patronictl -c /etc/patroni/config.yml list -f json 2>/dev/null; }

# Healthy: one Leader running, the others streaming, one of them sync.
patroni_healthy() {
    local j
    j=$(patroni_list node1) || return 1
    python3 -c '
import json, sys
m = json.loads(sys.argv[1])
leaders = [x for x in m if x.get("Role") == "Leader" and x.get("State") == "running"]
# Patroni 3.0.2 reports a replica as "running" (later releases: "streaming");
# haverify checks pg_stat_replication on the primary itself.
streaming = [x for x in m if x.get("Role") != "Leader" and x.get("State") in ("running", "streaming")]
sync = [x for x in streaming if x.get("Role") == "Sync Standby"]
sys.exit(0 if len(leaders) == 1 and len(streaming) == len(m) - 1 and len(sync) >= 1 else 1)' "$j"
}

stack_up() {
    local n
    for n in "${DB_NODES[@]}"; do install -d -o postgres -g postgres -m 700 "$(ndir "$n")/varlib/15"; done
    log "starting etcd on ${DB_NODES[*]}"
    each_node_parallel "etcd start" patroni_node etcd -- "${DB_NODES[@]}"
    wait_until 30 "etcd cluster healthy" node_exec node1 etcdctl --endpoints=http://127.0.0.1:2379 endpoint health
    log "starting patroni on node1 (it bootstraps), then on the others"
    patroni_node node1 start
    wait_until 60 "patroni on node1 to bootstrap a leader" bash -c \
        "psql 'host=$(addr node1 mgmt) port=$PG_PORT user=$PG_USER dbname=postgres connect_timeout=2' -XAtc 'select pg_is_in_recovery()' </dev/null 2>/dev/null | grep -qx f"
    each_node_parallel "patroni start" patroni_node start -- "${DB_NODES[@]:1}"
    wait_until 120 "a Patroni leader with every replica streaming and one sync standby" patroni_healthy
}

stack_status() {
    local n pid
    for n in "${DB_NODES[@]}"; do
        pid=$(init_pid "$n") || continue
        if nsenter -t "$pid" -n -m -u -i -p -- patronictl -c /etc/patroni/config.yml list 2>/dev/null; then return 0; fi
    done
    echo "patronictl: no node answers"
}

member_streaming() { # member_streaming NODE: Patroni lists NODE as a running replica
    patroni_list "$1" | python3 -c '
import json, sys
m = json.load(sys.stdin)
sys.exit(0 if any(x.get("Member") == sys.argv[1] and x.get("Role") != "Leader" and x.get("State") in ("running", "streaming") for x in m) else 1)' "$1"
}

stack_rejoin() {
    local n=$1
    log "starting etcd + patroni on $n (Patroni rejoins it, with pg_rewind if needed)"
    patroni_node "$n" start
    wait_until 120 "$n streaming again" member_streaming "$n"
    log "$n rejoined"
}

stack_inventory() {
    local hosts='' n
    for n in "${DB_NODES[@]}"; do hosts+="${hosts:+,}$(addr "$n" svc)"; done
    cat <<EOF

# Clients use a host list with target_session_attrs=read-write (libpq picks
# the node that accepts writes): no VIP, no proxy.
endpoint:
  kind: hostlist
  host: $hosts
  port: $PG_PORT
  user: $PG_USER
  database: postgres

driver:
  type: patroni
  resource: $PATRONI_SCOPE
  rest_port: $REST_PORT
  patronictl_config: /etc/patroni/config.yml
  start_command: /bin/bash $PATRONI_DIR/node.sh start 60
  stop_command: /bin/bash $PATRONI_DIR/node.sh stop 60
  detect_log: $PATRONI_LOG
EOF
}
