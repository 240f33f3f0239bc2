# shellcheck shell=bash
# Stack pgpool-wd of the haverify lab (sourced by lab/lib/stack.sh): pgpool-II
# 4.3 as the field runs it, the layout of pgpool's own example cluster. Three
# nodes, each with PostgreSQL 15 (the replication of stack pgpool: node1
# primary, node2/node3 streaming, synchronous_standby_names 'ANY 1 (...)')
# AND a pgpool-II with the watchdog:
# - one pgpool.conf content on every node, in the node's own /etc/pgpool2
#   (a bind of $STATE/nodes/<node>/pool, boot.sh), next to the node's
#   pgpool_node_id file;
# - watchdog (hostnameN/wd_portN) and heartbeat lifecheck on the
#   interconnect LAN; trusted_servers = the host's service address, so a
#   pgpool cut from the service LAN gives up (and releases the delegate IP);
# - the delegate IP $WD_VIP on the service LAN (if_up_cmd / if_down_cmd /
#   arping_cmd with absolute paths, execv'd by pgpool without a shell);
# - quorum and consensus: failover_when_quorum_exists, failover_require_consensus,
#   enable_consensus_with_half_votes off;
# - the failover and follow-primary scripts of stack pgpool (they run on the
#   leader pgpool, PCP_HOST = that node's own pgpool), fencing per --fence.
# Clients use the delegate IP, port 9999. docs/lab.md "Stack pgpool-wd" says
# why each setting is what it is.
# With --endpoint dns there is no delegate IP: a fourth node, dns, runs
# dnsmasq on the service LAN, authoritative for lab.test, and the leader's
# wd_escalation_command points db.lab.test at its own service address over
# SSH (dns-record.sh), as a cloud setup updates a DNS record with a short TTL.
# shellcheck disable=SC2153  # PG_PORT, PG_USER, POWER_FENCE_AGENT: lab/lib/*.sh, not misspellings

# shellcheck source=../pgpool/stack.sh
. "$LAB_DIR/stacks/pgpool/stack.sh"

WD_DIR="$STATE/pgpool-wd" # host side: the failover scripts + lab.env, pcppass (every node sees $STATE)
WD_VIP=198.18.1.100       # the delegate IP (service LAN)
WD_VIP_IF=svc0
WD_PORT=9000
WD_HB_PORT=9694
WD_FIRST_LEADER=node3     # started first, so it wins the first election (leader != primary)
WD_CONF_DIR=/etc/pgpool2  # inside a node: its private config directory
WD_LOG=/var/log/postgresql/pgpool.log # inside a node ($STATE/nodes/<node>/varlog/ on the host)
WD_NODE_SCRIPT="$LAB_DIR/stacks/pgpool-wd/pgpool.sh"
PCPPASS="$WD_DIR/pcppass"

WD_DNS_NAME=db.lab.test  # --endpoint dns: the clients' name (dnsmasq on node dns)
WD_DNS_TTL=2              # seconds: the TTL of its answers
WD_DNS_SCRIPT="$LAB_DIR/stacks/pgpool-wd/dns-record.sh"

# shellcheck disable=SC2034  # DB_NODES and ALL_NODES are read by lab/lib/*.sh
stack_nodes() {
    DB_NODES=(node1 node2 node3) ALL_NODES=(node1 node2 node3)
    if wd_dns; then ALL_NODES+=(dns); fi
}
stack_offers_endpoint_dns() { true; }
wd_dns() { [[ ${ENDPOINT:-vip} == dns ]]; }
wd_dns_hosts() { echo "$(ndir dns)/hosts.d"; } # dnsmasq --hostsdir (host side)
wd_dns_answer() { # the address db.lab.test resolves to now (empty: none)
    dig +short +time=1 +tries=1 "@$(addr dns svc)" "$WD_DNS_NAME" A 2>/dev/null | grep -E '^[0-9.]+$' | head -n 1
}
pool_endpoint() { if wd_dns; then wd_dns_answer; else echo "$WD_VIP"; fi; }
pcp_host() { pool_endpoint; } # pcp_listen_addresses '*': the endpoint reaches the leader's pcp

# Watchdog lifecheck timing: wd_heartbeat_keepalive, wd_heartbeat_deadtime,
# wd_interval (seconds; pgpool's defaults are 2, 30, 10). A dead pgpool is
# declared lost when no heartbeat came for more than deadtime, checked every
# wd_interval plus the trusted-server ping (about 2 s, see docs/lab.md).
wd_timing() { if [[ $1 == fast ]]; then echo "1 2 1"; else echo "2 6 1"; fi; }

# wd_tools: absolute paths of the commands pgpool execv's (no shell, no PATH;
# a wrong path counts as success in pgpool 4.3). Sets WD_IP, WD_ARPING,
# WD_PING_DIR; dies if one is missing or is not the expected program.
wd_tools() {
    WD_IP=$(command -v ip) || die "ip (iproute2) not found"
    WD_ARPING=$(command -v arping) ||
        die "arping not found: install iputils-arping (lab/install-deps.sh)"
    "$WD_ARPING" -V 2>&1 | grep -q iputils ||
        die "$WD_ARPING is not iputils' arping (package iputils-arping; package arping's /usr/sbin/arping takes other flags)"
    local ping
    ping=$(command -v ping) || die "ping not found: install iputils-ping (lab/install-deps.sh)"
    WD_PING_DIR=$(dirname "$ping")
    [[ $WD_IP == /* && $WD_ARPING == /* && $WD_PING_DIR == /* ]] || die "ip/arping/ping must have absolute paths"
    [[ -d /etc/pgpool2 ]] || die "/etc/pgpool2 missing (package pgpool2): each node mounts its own config over it"
}

stack_prepare() { # the directory each node mounts at /etc/pgpool2 (boot.sh)
    wd_tools
    local n
    for n in "${DB_NODES[@]}"; do mkdir -p "$(ndir "$n")/pool"; done
    mkdir -p "$WD_DIR"
    if wd_dns; then
        command -v dnsmasq >/dev/null || die "dnsmasq not found: install dnsmasq-base (lab/install-deps.sh)"
        command -v dig >/dev/null || die "dig not found: install bind9-dnsutils (lab/install-deps.sh)"
        mkdir -p "$(wd_dns_hosts)"
        # What node dns's boot.sh starts dnsmasq with.
        printf 'DNS_ADDR=%s\nDNS_HOSTS=%s\nDNS_TTL=%s\n' "$(addr dns svc)" "$(wd_dns_hosts)" "$WD_DNS_TTL" \
            >"$(ndir dns)/dns.env"
    fi
}

# ---------------------------------------------------------------- pgpool.conf
# wd_conf PROFILE: the one pgpool.conf of every node.
wd_conf() {
    local profile=$1 keepalive deadtime interval n i
    read -r keepalive deadtime interval <<<"$(wd_timing "$profile")"
    cat <<EOT
# haverify lab: pgpool-II 4.3 with the watchdog, stack pgpool-wd, profile $profile
# (generated). The same file on every node ($WD_CONF_DIR/pgpool.conf); the
# node's own id is in $WD_CONF_DIR/pgpool_node_id.
listen_addresses = '*'              # the node's addresses and the delegate IP
pcp_listen_addresses = '*'
logdir = '/var/log/postgresql/pgpool'   # pgpool_status; private to each node
pool_passwd = '$WD_CONF_DIR/pool_passwd'
use_watchdog = on
EOT
    pool_shared_conf "$profile" "$WD_DIR"
    cat <<EOT
# ---- watchdog: communication and heartbeat on the interconnect LAN
EOT
    for n in "${DB_NODES[@]}"; do
        i=${NODE_ID[$n]}
        cat <<EOT
hostname$i = '$(addr "$n" ic)'
wd_port$i = $WD_PORT
pgpool_port$i = $POOL_PORT
heartbeat_hostname$i = '$(addr "$n" ic)'
heartbeat_port$i = $WD_HB_PORT
heartbeat_device$i = ''
EOT
    done
    cat <<EOT
wd_priority = 1                     # per node: $WD_FIRST_LEADER's is the highest (write_wd_files)
wd_authkey = ''                     # LAB ONLY
wd_ipc_socket_dir = '/run/pgpool'   # private /run: the nodes share /tmp
wd_lifecheck_method = 'heartbeat'
wd_heartbeat_keepalive = $keepalive
wd_heartbeat_deadtime = $deadtime
wd_interval = $interval
wd_monitoring_interfaces_list = ''
# A pgpool that cannot ping the clients' side (the host's service address)
# marks itself lost and exits, releasing the delegate IP.
trusted_servers = '${HOST_ADDR[svc]}'
ping_path = '$WD_PING_DIR'
EOT
    if wd_dns; then
        cat <<EOT
# ---- no delegate IP: the leader points $WD_DNS_NAME at itself (run with
# system(), by the pgpool that becomes the leader / stops being it)
delegate_IP = ''
wd_escalation_command = '/bin/bash $WD_DNS_SCRIPT set'
wd_de_escalation_command = '/bin/bash $WD_DNS_SCRIPT clear'
EOT
    else
        cat <<EOT
# ---- the delegate IP (pgpool execv's these, split on spaces, no shell)
delegate_IP = '$WD_VIP'
if_cmd_path = '$(dirname "$WD_IP")'
if_up_cmd = '$WD_IP addr add \$_IP_\$/24 dev $WD_VIP_IF label $WD_VIP_IF:0'
if_down_cmd = '$WD_IP addr del \$_IP_\$/24 dev $WD_VIP_IF'
arping_path = '$(dirname "$WD_ARPING")'
arping_cmd = '$WD_ARPING -U -I $WD_VIP_IF -c 2 \$_IP_\$'
wd_escalation_command = ''
wd_de_escalation_command = ''
EOT
    fi
    cat <<EOT
clear_memqcache_on_escalation = off
# ---- quorum and consensus (3 pgpools: 2 must agree)
failover_when_quorum_exists = on
failover_require_consensus = on
allow_multiple_failover_requests_from_node = off
enable_consensus_with_half_votes = off
wd_remove_shutdown_nodes = off
wd_lost_node_removal_timeout = 0
wd_no_show_node_removal_timeout = 0
# ---- as the field runs pgpool-II (issue 18; docs/lab.md "Stack pgpool-wd"):
# read load balancing on (--pool-set load_balance_mode=off for none), and a
# failed health check retried twice before this pgpool asks to detach the
# backend: without retries one slow check on a loaded host, seen by two
# pgpools, was a false failover (docs/benchmarks.md, the pgpool-wd sheet).
load_balance_mode = on
health_check_max_retries = 2
EOT
    user_config --pool-set "${POOL_SET[@]}"
}

write_wd_files() {
    local profile=$1 n
    mkdir -p "$WD_DIR"
    # pcp.conf, pool_hba.conf, pool_passwd: the first node's copy is the
    # model; pcppass has the delegate IP and every node's management address.
    local first=${DB_NODES[0]} pcp_hosts=("$WD_VIP")
    # (and each service address: a DNS endpoint resolves to one)
    for n in "${DB_NODES[@]}"; do pcp_hosts+=("$(addr "$n" mgmt)" "$(addr "$n" svc)"); done
    pool_auth_files "$(ndir "$first")/pool" "${pcp_hosts[@]}"
    local pool_pcp=''
    for n in "${DB_NODES[@]}"; do pool_pcp+="[$n]=$(addr "$n" mgmt) "; done
    # The scripts run on the leader's node: PCP_HOST is that node's pgpool,
    # LOG a file of that node.
    # shellcheck disable=SC2016  # $(uname -n) is evaluated when lab.env is sourced, in the node
    install_failover_scripts "$WD_DIR" \
        "declare -A POOL_PCP_HOST=(${pool_pcp% })" \
        'PCP_HOST=${POOL_PCP_HOST[$(uname -n)]:-}' \
        "LOG=/var/log/postgresql/pgpool-failover.log"
    wd_conf "$profile" >"$WD_DIR/pgpool.conf"
    for n in "${DB_NODES[@]}"; do
        local d
        d="$(ndir "$n")/pool"
        if [[ $n != "$first" ]]; then
            cp -p "$(ndir "$first")/pool/pcp.conf" "$(ndir "$first")/pool/pool_hba.conf" \
                "$(ndir "$first")/pool/pool_passwd" "$d/"
        fi
        # The same file but wd_priority: the preferred leader wins the first election.
        local prio=1
        [[ $n == "$WD_FIRST_LEADER" ]] && prio=2
        sed "s/^wd_priority = 1 /wd_priority = $prio /" "$WD_DIR/pgpool.conf" >"$d/pgpool.conf"
        echo "${NODE_ID[$n]}" >"$d/pgpool_node_id"
        echo "HVL_STATE=$STATE" >"$d/haverify.env" # read by pgpool.sh (marks the lab's pgpool processes)
        if wd_dns; then # read by dns-record.sh, the escalation
            printf 'DNS_MGMT=%s\nDNS_NAME=%s\nDNS_HOSTS=%s\nOWN_ADDR=%s\nSSH_KEY=%s\nKNOWN_HOSTS=%s\n' \
                "$(addr dns mgmt)" "$WD_DNS_NAME" "$(wd_dns_hosts)" "$(addr "$n" svc)" "$SSH_KEY" "$KNOWN_HOSTS" \
                >"$d/dns.env"
        fi
    done
}

# ---------------------------------------------------------------- state
# pool_start NODE [--discard-status]: pgpool on NODE (stacks/pgpool-wd/pgpool.sh)
pool_start() { node_exec "$1" /bin/bash "$WD_NODE_SCRIPT" start "${@:2}" >/dev/null; }

wd_info() { # wd_info NODE: pcp_watchdog_info -v of NODE's pgpool
    PCPPASSFILE=$PCPPASS timeout 5 pcp_watchdog_info -h "$(addr "$1" mgmt)" -p "$PCP_PORT" -U "$PCP_USER" -w -v </dev/null
}

# wd_view NODE: "STATE QUORUM ESCALATED LEADER_HOST" as NODE's pgpool sees the
# watchdog (STATE: its own watchdog state, e.g. LEADER, STANDBY; words joined
# with _). pcp_watchdog_info lists the local node first.
wd_view() {
    local info
    info=$(wd_info "$1" 2>/dev/null) || return 1
    awk -F' *: ' '
        /^Quorum state/ { q = $2 }
        /^Local node escalation/ { e = $2 }
        /^Leader Host Name/ { l = $2 }
        /^Status Name/ && s == "" { s = $2 }
        END { gsub(/ /, "_", s); gsub(/ /, "_", q); if (s == "") exit 1; print s, q, e, l }' <<<"$info"
}

vip_holders() { # the nodes that have the delegate IP on an interface
    local n pid
    for n in "${DB_NODES[@]}"; do
        pid=$(init_pid "$n") || continue
        if nsenter -t "$pid" -n -- ip -o -4 addr show to "$WD_VIP/32" 2>/dev/null | grep -q .; then echo "$n"; fi
    done
}

wd_node_of() { # wd_node_of IC_ADDRESS: the node with that interconnect address
    local n
    for n in "${DB_NODES[@]}"; do [[ $(addr "$n" ic) == "$1" ]] && echo "$n"; done
}

# wd_healthy: every pgpool answers and names the same leader; the leader's
# pgpool leads with the quorum and is escalated, the other two are its
# standbys, and the leader's node alone holds the delegate IP (--endpoint
# dns: the DNS name resolves to the leader's service address). Sets WD_LEADER.
wd_healthy() {
    local n v st q e l leader=''
    for n in "${DB_NODES[@]}"; do
        v=$(wd_view "$n") || return 1
        read -r st q e l <<<"$v"
        [[ -n $leader ]] || leader=$(wd_node_of "$l")
        [[ -n $leader && $l == "$(addr "$leader" ic)" ]] || return 1
        if [[ $n == "$leader" ]]; then
            [[ $st == LEADER && $q == QUORUM_EXIST && $e == YES ]] || return 1
        else
            [[ $st == STANDBY ]] || return 1
        fi
    done
    if wd_dns; then
        [[ $(wd_dns_answer) == "$(addr "$leader" svc)" ]] || return 1
    else
        [[ $(vip_holders) == "$leader" ]] || return 1
    fi
    WD_LEADER=$leader
}

# pools_healthy: through the delegate IP and through each pgpool's own
# address: node1 primary, node2/node3 standby, all up.
pools_healthy() {
    local n e
    e=$(pool_endpoint)
    [[ -n $e ]] || return 1
    pool_healthy "$e" || return 1
    for n in "${DB_NODES[@]}"; do pool_healthy "$(addr "$n" svc)" || return 1; done
}

# ---------------------------------------------------------------- verbs
stack_up() {
    local profile=$1
    pg_cluster_up
    write_wd_files "$profile"
    # All three at once: they find each other while loading and elect the
    # one with the highest wd_priority ($WD_FIRST_LEADER). Started one by
    # one, the first would wait out its lone LOADING and JOINING (~10 s).
    log "starting pgpool on ${DB_NODES[*]} ($WD_FIRST_LEADER preferred as the leader)"
    each_node_parallel "pgpool start" pool_start --discard-status -- "${DB_NODES[@]}"
    WD_LEADER=
    local what=$WD_VIP
    if wd_dns; then what="$WD_DNS_NAME (dns $(addr dns svc))"; fi
    wait_until 40 "watchdog: one leader with the quorum holding $what alone, the two others its standbys" wd_healthy
    [[ $WD_LEADER == "$WD_FIRST_LEADER" ]] ||
        log "WARNING: the watchdog leader is $WD_LEADER, not $WD_FIRST_LEADER (the leader and the primary may share a node)"
    log "watchdog leader $WD_LEADER holds $what"
    wait_until 30 "SHOW pool_nodes through $what:$POOL_PORT and every pgpool: node1 primary, node2/node3 standby, all up" \
        pools_healthy
}

stack_node_role() { # node dns (--endpoint dns)
    [[ $2 == on ]] || { echo -; return; }
    if node_exec "$1" pgrep -x dnsmasq >/dev/null 2>&1; then echo "dnsmasq running"; else echo "dnsmasq down"; fi
}

stack_status() {
    local endpoint
    endpoint=$(pool_endpoint)
    if wd_dns; then
        echo "dns: $WD_DNS_NAME -> ${endpoint:-(no answer)} (dnsmasq on $(addr dns svc))"
    fi
    echo "pgpool through the endpoint (SHOW pool_nodes on ${endpoint:-?}:$POOL_PORT):"
    [[ -z $endpoint ]] || psql "host=$endpoint port=$POOL_PORT user=$PG_USER dbname=postgres connect_timeout=2" -X -c \
        'show pool_nodes' 2>&1 </dev/null | cut -c1-160 || true
    echo
    echo "watchdog (pcp_watchdog_info of each node's pgpool; VIP: holds $WD_VIP$(wd_dns && echo ', none with --endpoint dns')):"
    printf '%-6s %-28s %-22s %-10s %-14s %s\n' NODE PGPOOL QUORUM ESCALATED LEADER VIP
    local n v st q e l vip holders
    holders=" $(vip_holders | tr '\n' ' ') "
    for n in "${DB_NODES[@]}"; do
        vip=no
        [[ $holders == *" $n "* ]] && vip=yes
        if ! init_pid "$n" >/dev/null; then
            printf '%-6s %-28s %-22s %-10s %-14s %s\n' "$n" "(powered off)" - - - -
        elif v=$(wd_view "$n"); then
            read -r st q e l <<<"$v"
            printf '%-6s %-28s %-22s %-10s %-14s %s\n' "$n" "$st" "$q" "$e" "$l" "$vip"
        else
            printf '%-6s %-28s %-22s %-10s %-14s %s\n' "$n" "(no answer)" - - - "$vip"
        fi
    done
}

stack_inventory() {
    local restart="pgrep -x pgpool >/dev/null || /bin/bash $WD_NODE_SCRIPT start"
    if wd_dns; then
        cat <<EOT

endpoint:
  kind: dns
  name: $WD_DNS_NAME
  server: $(addr dns svc)
EOT
    else
        cat <<EOT

endpoint:
  kind: vip
  host: $WD_VIP
EOT
    fi
    cat <<EOT
  port: $POOL_PORT
  user: $PG_USER
  database: postgres

driver:
  type: pgpool
  # pcp through the endpoint: always the watchdog leader's pgpool
  pcp_host: $(if wd_dns; then echo "$WD_DNS_NAME"; else echo "$WD_VIP"; fi)
  pcp_port: $PCP_PORT
  pcp_user: $PCP_USER
  pcp_passfile: $PCPPASS
  # t_detect: pgpool's log on every node (a backend seen failed, a pgpool lost)
  detect_log: $WD_LOG
  detect_pattern: "health check failed on node|remote node .* is lost|lost the cluster leader node|failed to connect to any trusted servers"
  restart:
    # the heal of a SIGKILL of pgpool on a node (nothing restarts it by
    # itself, as with Debian's pgpool2.service); removes a delegate IP the
    # killed pgpool left behind, keeps pgpool_status
    pgpool: "$restart"
EOT
    if wd_dns; then
        cat <<EOT
  # the nodes running a pgpool: targets pool_leader (where the endpoint's
  # name points) / pool_standby (docs/inventory.md); no VIP
  watchdog:
    nodes: [node1, node2, node3]
EOT
    else
        cat <<EOT
  # the delegate IP and the nodes running a pgpool: targets pool_leader /
  # pool_standby, vip_s and the single_vip checker (docs/inventory.md)
  watchdog:
    vip: $WD_VIP
    nodes: [node1, node2, node3]
EOT
    fi
}
