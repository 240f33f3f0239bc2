# shellcheck shell=bash
# Stack pgpool of the haverify lab (sourced by lab/lib/stack.sh): three
# PostgreSQL 15 nodes with streaming replication
# (synchronous_standby_names = 'ANY 1 (...)', or none with --replication
# async) and one pgpool-II 4.3 node, pool, in front of them. pgpool's
# failover and follow-primary commands are failover.sh and
# follow_primary.sh; node-boot.sh restarts pgpool on a power-on (boot.sh).
# `up --fence on` (the default): failover.sh fences a failed primary before
# it promotes (SSH, else the lab's power controller, started here);
# `--fence off` is the unfenced planted defect (docs/lab.md).
# Stack pgpool-wd (watchdog) builds on this file: it sources it and
# redefines what differs.
# shellcheck disable=SC2153  # PG_PORT, PG_USER: lab/lib/common.sh, not misspellings

PCP_PORT=9898
PCP_USER=pcpadmin
POOL_PORT=9999
PCPPASS="$STATE/pool/pcppass"
declare -gA NODE_ID=([node1]=0 [node2]=1 [node3]=2)   # pgpool backend ids

# shellcheck disable=SC2034  # DB_NODES and ALL_NODES are read by lab/lib/*.sh
stack_nodes() { DB_NODES=(node1 node2 node3) ALL_NODES=(node1 node2 node3 pool); }
stack_offers_async() { true; }
stack_offers_fence() { true; }
stack_has_pgpool() { true; }

# Where clients reach pgpool, and where pcp commands go (pgpool-wd: the
# delegate IP, i.e. the watchdog leader).
pool_endpoint() { addr pool svc; }
pcp_host() { addr pool mgmt; }

pool_q() { # pool_q SQL [HOST]: a query through pgpool (default: pool_endpoint)
    psql "host=${2:-$(pool_endpoint)} port=$POOL_PORT user=$PG_USER dbname=postgres connect_timeout=2" -X -At -F ' ' -c "$1" </dev/null
}

# ---------------------------------------------------------------- PostgreSQL
setup_primary() {
    pg_initdb node1
    {
        pg_config
        if [[ ${REPLICATION:-sync} == async ]]; then
            echo "synchronous_standby_names = ''   # --replication async: unsafe on purpose"
        else
            echo "synchronous_standby_names = 'ANY 1 (node1,node2,node3)'"
        fi
        user_config --pg-set "${PG_SET[@]}"
    } | node_append node1 "$PG_DATA/postgresql.conf"
    pg_hba | node_write node1 "$PG_DATA/pg_hba.conf"
    pg_start node1 || die "PostgreSQL did not start on node1 (see $(ndir node1)/varlog/)"
}

setup_standby() {
    local n=$1
    node_exec "$n" runuser -u postgres -- "$PG_BIN/pg_basebackup" -D "$PG_DATA" -X stream -c fast -R -N \
        -d "host=$(addr node1 repl) port=$PG_PORT user=$PG_USER application_name=$n" \
        >"$(ndir "$n")/basebackup.log" 2>&1 || die "pg_basebackup failed on $n (see $(ndir "$n")/basebackup.log)"
    pg_start "$n" || die "PostgreSQL did not start on $n (see $(ndir "$n")/varlog/)"
}

replication_ok() {
    local r
    r=$(pg_q "$(addr node1 mgmt)" "select count(*) filter (where state = 'streaming'), count(*) filter (where sync_state in ('sync','quorum')) from pg_stat_replication") || return 1
    if [[ ${REPLICATION:-sync} == async ]]; then
        [[ ${r%|*} == 2 ]]
    else
        [[ ${r%|*} == 2 && ${r#*|} -ge 1 ]]
    fi
}

# ---------------------------------------------------------------- pgpool
write_pool_files() {
    local profile=$1 p="$STATE/pool"
    mkdir -p "$p/log"
    pool_auth_files "$p" "$(addr pool mgmt)"
    install_failover_scripts "$p" "PCP_HOST=$(addr pool mgmt)" "LOG=$p/failover.log"
    : >"$p/failover.log"
    {
        cat <<EOT
# haverify lab: pgpool-II 4.3 for stack pgpool, profile $profile (generated).
listen_addresses = '$(addr pool svc)'
pcp_listen_addresses = '$(addr pool mgmt)'
logdir = '$p/log'
pool_passwd = '$p/pool_passwd'
use_watchdog = off
EOT
        pool_shared_conf "$profile" "$p"
        user_config --pool-set "${POOL_SET[@]}"
    } >"$p/pgpool.conf"
}

# pool_auth_files DIR PCP_HOST...: pcp.conf (user pcpadmin, a random
# password), its PCPPASSFILE ($PCPPASS, one line per pcp address), an empty
# pool_passwd and a trust pool_hba.conf in DIR.
pool_auth_files() {
    local d=$1 pw h
    shift
    pw=$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
    echo "$PCP_USER:$(printf '%s' "$pw" | md5sum | cut -d' ' -f1)" >"$d/pcp.conf"
    for h in "$@"; do echo "$h:$PCP_PORT:$PCP_USER:$pw"; done >"$PCPPASS"
    : >"$d/pool_passwd"
    chmod 600 "$d/pcp.conf" "$PCPPASS" "$d/pool_passwd"
    cat >"$d/pool_hba.conf" <<'EOT'
# haverify LAB ONLY (enable_pool_hba is off; kept for pgpool -a): trust.
local all all trust
host all all 198.18.0.0/15 trust
EOT
}

# pool_shared_conf PROFILE SCRIPTS_DIR: the pgpool.conf settings both pgpool
# stacks share (after each one's listen addresses, logdir, pool_passwd and
# use_watchdog): streaming replication mode, health check per profile,
# failover and follow-primary scripts in SCRIPTS_DIR, the three backends.
pool_shared_conf() {
    local profile=$1 p=$2
    local hc_timeout hc_retries hc_delay conn_timeout sr_period
    case $profile in
        fast) hc_timeout=1 hc_retries=0 hc_delay=1 conn_timeout=1000 sr_period=1 ;;
        *) hc_timeout=2 hc_retries=0 hc_delay=1 conn_timeout=2000 sr_period=2 ;;
    esac
    cat <<EOT
backend_clustering_mode = 'streaming_replication'
port = $POOL_PORT
socket_dir = '/run/postgresql'
pcp_port = $PCP_PORT
pcp_socket_dir = '/run/postgresql'
pid_file_name = '/run/pgpool/pgpool.pid'
num_init_children = 16
max_pool = 2
reserved_connections = 0
# LAB ONLY: no pool_hba and an empty pool_passwd (pool_passwd = '' makes
# pgpool warn on every connection); the backends trust the lab LANs.
enable_pool_hba = off
log_destination = 'stderr'
log_line_prefix = '%m: %a pid %p: '
log_min_messages = info
load_balance_mode = off
connection_cache = on
memory_cache_enabled = off
sr_check_period = $sr_period
sr_check_user = '$PG_USER'
sr_check_password = ''
sr_check_database = 'postgres'
health_check_period = 1
health_check_timeout = $hc_timeout
health_check_user = '$PG_USER'
health_check_password = ''
health_check_database = 'postgres'
health_check_max_retries = $hc_retries
health_check_retry_delay = $hc_delay
connect_timeout = $conn_timeout
failover_command = '$p/failover.sh %d %h %p %D %m %H %M %P %r %R %N %S'
follow_primary_command = '$p/follow_primary.sh %d %h %p %D %m %H %M %P %r %R %N %S'
failback_command = ''
failover_on_backend_error = on
failover_on_backend_shutdown = off
detach_false_primary = off
auto_failback = off
search_primary_node_timeout = 30
EOT
    local n i
    for n in "${DB_NODES[@]}"; do
        i=${NODE_ID[$n]}
        cat <<EOT
backend_hostname$i = '$(addr "$n" svc)'
backend_port$i = $PG_PORT
backend_weight$i = 1
backend_data_directory$i = '$PG_DATA'
backend_flag$i = 'ALLOW_TO_FAILOVER'
backend_application_name$i = '$n'
EOT
    done
}

# install_failover_scripts DIR VAR=VALUE...: failover.sh and follow_primary.sh
# in DIR, with their lab.env (the backends, SSH, fencing; then the VAR=VALUE
# lines, which must set PCP_HOST and LOG).
install_failover_scripts() {
    local dir=$1
    shift
    cp "$LAB_DIR/stacks/pgpool/failover.sh" "$LAB_DIR/stacks/pgpool/follow_primary.sh" "$dir/"
    chmod 755 "$dir/failover.sh" "$dir/follow_primary.sh"
    {
        cat <<EOT
# sourced by failover.sh and follow_primary.sh (generated by haverify-lab up)
BACKEND_NAME=(node1 node2 node3)
BACKEND_SVC=($(addr node1 svc) $(addr node2 svc) $(addr node3 svc))
BACKEND_REPL=($(addr node1 repl) $(addr node2 repl) $(addr node3 repl))
BACKEND_MGMT=($(addr node1 mgmt) $(addr node2 mgmt) $(addr node3 mgmt))
PG_PORT=$PG_PORT
PG_USER=$PG_USER
PG_BIN=$PG_BIN
PG_DATA=$PG_DATA
PCP_PORT=$PCP_PORT
PCP_USER=$PCP_USER
PCPPASSFILE=$PCPPASS
SSH_KEY=$SSH_KEY
KNOWN_HOSTS=$KNOWN_HOSTS
REJOIN_SCRIPT=$LAB_DIR/scripts/pg-rejoin.sh
FOLLOW_TIMEOUT=5
# lab up --fence on|off: fence a failed primary before promoting (failover.sh)
FENCE=${FENCE:-on}
FENCE_AGENT=$POWER_FENCE_AGENT
STOP_SCRIPT=$LAB_DIR/scripts/pg-stop-hard.sh
# failover.sh aborts this pgpool's connections to the failed backend (the
# workaround for pgpool 4.3's hang); HVL_POOL_DROP_STALE=off at lab up
# reproduces the hang (bench/pgpool-hang.sh)
DROP_STALE=${HVL_POOL_DROP_STALE:-on}
EOT
        printf '%s\n' "$@"
    } >"$dir/lab.env"
}

# What both pgpool stacks start before their pgpools: node1 primary, node2
# and node3 streaming from it, and the fencing (--fence).
pg_cluster_up() {
    log "initdb + start primary on node1"
    setup_primary
    log "pg_basebackup node2 node3 over the replication LAN"
    each_node_parallel "standby setup" setup_standby -- node2 node3
    wait_until 30 "node2 and node3 streaming to node1 (one sync/quorum)" replication_ok

    fencing_up
}

# fencing_up: with --fence on, the host-side power controller the failover
# script powers nodes off through (lib/power.sh; down stops it).
fencing_up() {
    power_fencing_prepare
    if [[ ${FENCE:-on} == on ]]; then
        log "fencing on: starting the lab's power controller"
        start_power_controller
    else
        log "fencing OFF (--fence off): a failed primary is promoted over without being stopped"
    fi
}

start_pgpool() {
    local p="$STATE/pool"
    # HVL_STATE: marks the lab's pgpool processes (tests/lab/check-clean.sh)
    node_exec pool /bin/bash -c "HVL_STATE='$STATE' setsid /usr/sbin/pgpool -n -D -f '$p/pgpool.conf' -F '$p/pcp.conf' -a '$p/pool_hba.conf' </dev/null >>'$p/pgpool.log' 2>&1 &"
}

pool_healthy() { # pool_healthy [HOST]: pgpool (default: pool_endpoint) shows node1 primary, the others standby, all up
    local rows
    rows=$(pool_q 'show pool_nodes' "${1:-}") || return 1
    # node_id hostname port status pg_status lb_weight role pg_role ...
    echo "$rows" | awk '
        $1 == 0 && $4 == "up" && $7 == "primary" { p++ }
        ($1 == 1 || $1 == 2) && $4 == "up" && $7 == "standby" { s++ }
        END { exit !(p == 1 && s == 2) }'
}

# ---------------------------------------------------------------- verbs
stack_prepare() { :; } # pgpool's files are written once PostgreSQL runs (stack_up)

stack_up() {
    local profile=$1
    pg_cluster_up
    log "starting pgpool on pool"
    write_pool_files "$profile"
    start_pgpool
    wait_until 30 "pgpool on $(pool_endpoint):$POOL_PORT: node1 primary, node2/node3 standby, all up" pool_healthy
    PCPPASSFILE=$PCPPASS wait_until 10 "pcp on $(pcp_host):$PCP_PORT" \
        pcp_node_count -h "$(pcp_host)" -p "$PCP_PORT" -U "$PCP_USER" -w
}

stack_node_role() { # the pool node
    [[ $2 == on ]] || { echo -; return; }
    # shellcheck disable=SC2016 # expanded inside the node
    if node_exec "$1" sh -c 'kill -0 "$(cat /run/pgpool/pgpool.pid)"' 2>/dev/null; then
        echo "pgpool running"
    else
        echo "pgpool down"
    fi
}

stack_status() {
    echo "pgpool (SHOW pool_nodes on $(pool_endpoint):$POOL_PORT):"
    psql "host=$(pool_endpoint) port=$POOL_PORT user=$PG_USER dbname=postgres connect_timeout=2" -X -c \
        'show pool_nodes' 2>&1 </dev/null | cut -c1-160 || true
}

current_primary() { # prints the node that pgpool (or, failing that, the nodes) say is primary
    local exclude=$1 rows id n
    rows=$(pool_q 'show pool_nodes' 2>/dev/null || true)
    id=$(echo "$rows" | awk '$4 == "up" && $7 == "primary" {print $1; exit}')
    if [[ -n $id ]]; then
        n=${DB_NODES[$id]}
        if [[ $n != "$exclude" && $(pg_q "$(addr "$n" mgmt)" 'select pg_is_in_recovery()' 2>/dev/null) == f ]]; then
            echo "$n"
            return 0
        fi
    fi
    for n in "${DB_NODES[@]}"; do
        [[ $n == "$exclude" ]] && continue
        if [[ $(pg_q "$(addr "$n" mgmt)" 'select pg_is_in_recovery()' 2>/dev/null) == f ]]; then
            echo "$n"
            return 0
        fi
    done
    return 1
}

node_attached() { # node_attached ID: pgpool shows backend ID up as a standby
    pool_q 'show pool_nodes' | awk -v id="$1" '$1 == id && $4 == "up" && $7 == "standby" {f=1} END {exit !f}'
}

stack_rejoin() { # pg-rejoin.sh on the node, then pcp_attach_node
    local n=$1 primary
    primary=$(current_primary "$n") || die "no primary found to rejoin $n to"
    log "rejoining $n as a standby of $primary ($(addr "$primary" repl))"
    ssh_node "$n" bash -s -- "$PG_DATA" "$PG_BIN" "$(addr "$primary" repl)" "$PG_PORT" "$n" postgres "$PG_USER" 60 \
        <"$LAB_DIR/scripts/pg-rejoin.sh" || die "pg-rejoin.sh failed on $n"
    local id=${NODE_ID[$n]}
    PCPPASSFILE=$PCPPASS pcp_attach_node -h "$(pcp_host)" -p "$PCP_PORT" -U "$PCP_USER" -w -n "$id" >/dev/null ||
        die "pcp_attach_node $id failed"
    wait_until 20 "pgpool to show $n (node $id) up as standby" node_attached "$id"
    log "$n rejoined and attached (pgpool node $id)"
}

stack_inventory() {
    cat <<EOT

endpoint:
  kind: pgpool
  host: $(addr pool svc)
  port: $POOL_PORT
  user: $PG_USER
  database: postgres

driver:
  type: pgpool
  pcp_host: $(addr pool mgmt)
  pcp_port: $PCP_PORT
  pcp_user: $PCP_USER
  pcp_passfile: $PCPPASS
  ssh_host: $(addr pool mgmt)
  # t_detect: pgpool's log on the pool host (a backend's health check failed)
  detect_log: $STATE/pool/pgpool.log
  detect_pattern: "health check failed on node|failed to make persistent db connection|received degenerate backend request"
  restart:
    # the heal of a SIGKILL of pgpool (nothing restarts it by itself here);
    # keeps pgpool_status, so detached nodes stay detached
    pgpool: "pgrep -x pgpool >/dev/null || (HVL_STATE=$STATE setsid /usr/sbin/pgpool -n -f $STATE/pool/pgpool.conf -F $STATE/pool/pcp.conf -a $STATE/pool/pool_hba.conf </dev/null >>$STATE/pool/pgpool.log 2>&1 &)"
EOT
}
