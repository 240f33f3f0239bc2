# shellcheck shell=bash
# PostgreSQL 15 of the lab nodes (sourced by lab/haverify-lab): the settings
# every stack's servers share, pg_hba, initdb and start inside a node, and a
# management-LAN probe.

pg_config() { # settings appended to postgresql.conf (identical on every node)
    echo
    echo "# ---- haverify lab (stack $STACK) ----"
    cat <<'EOT'
listen_addresses = '*'
port = 5432
unix_socket_directories = '/run/postgresql'
max_connections = 100
shared_buffers = 64MB
wal_level = replica
wal_log_hints = on
max_wal_senders = 10
max_replication_slots = 10
wal_keep_size = 512MB
hot_standby = on
synchronous_commit = on
# lab notes: a powered-off standby stalls the primary ~60 s with the defaults
wal_sender_timeout = 10s
wal_receiver_timeout = 10s
wal_receiver_status_interval = 1s
wal_retrieve_retry_interval = 1s
recovery_target_timeline = 'latest'
log_line_prefix = '%m [%p] %q%u@%d '
log_connections = off
log_replication_commands = on
EOT
}

# user_config OPTION KEY=VALUE...: the `up OPTION` settings, last in a
# postgresql.conf (--pg-set "${PG_SET[@]}") or pgpool.conf (--pool-set
# "${POOL_SET[@]}"); nothing without any.
user_config() {
    local opt=$1
    shift
    (($#)) || return 0
    echo "# ---- haverify-lab up $opt"
    settings_lines "%s = '%s'\n" "$@"
}

pg_hba() {
    cat <<'EOT'
# haverify LAB ONLY: trust on the lab LANs and local sockets. No passwords,
# no TLS. Never use this on a real cluster.
# TYPE  DATABASE     USER  ADDRESS         METHOD
local   all          all                   trust
local   replication  all                   trust
host    all          all   127.0.0.1/32    trust
host    replication  all   127.0.0.1/32    trust
host    all          all   198.18.0.0/15   trust
host    replication  all   198.18.0.0/15   trust
EOT
}

pg_initdb() { # pg_initdb NODE: a fresh data directory in PG_DATA of NODE
    node_exec "$1" runuser -u postgres -- "$PG_BIN/initdb" -D "$PG_DATA" -k -N -U "$PG_USER" \
        --auth=trust -E UTF8 --locale=C.UTF-8 >"$(ndir "$1")/initdb.log" 2>&1 ||
        die "initdb failed on $1 (see $(ndir "$1")/initdb.log)"
}

pg_start() { node_exec "$1" runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 30 start >/dev/null; }

pg_q() { # pg_q HOST SQL  (management-LAN probe, 2 s connect timeout)
    psql "host=$1 port=$PG_PORT user=$PG_USER dbname=postgres connect_timeout=2" -X -At -c "$2" </dev/null
}

pg_role() { # pg_role NODE: primary, standby or down (asked on the management LAN)
    case $(pg_q "$(addr "$1" mgmt)" 'select pg_is_in_recovery()' 2>/dev/null) in
        f) echo primary ;;
        t) echo standby ;;
        *) echo down ;;
    esac
}
