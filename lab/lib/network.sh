# shellcheck shell=bash
# Network of haverify-lab (sourced by lab/haverify-lab): four LANs, each a
# bridge in the root namespace (198.18.0.0/15 only), one veth per node per
# LAN, unreachable routes for the lab subnets, never a default route or NAT
# in a node; the host firewall's forward accept rule when one is needed.
# shellcheck disable=SC2034  # the LAN tables are also read by the other lab files

LANS=(mgmt svc repl ic)
declare -A LAN_LONG=([mgmt]=management [svc]=service [repl]=replication [ic]=interconnect)
declare -A LAN_NET=([mgmt]=198.18.0 [svc]=198.18.1 [repl]=198.18.2 [ic]=198.18.3)
declare -A LAN_BR=([mgmt]=hvl-mgmt [svc]=hvl-svc [repl]=hvl-repl [ic]=hvl-ic)
declare -A HOST_ADDR=([mgmt]=198.18.0.1 [svc]=198.18.1.1)   # LANs the host is on
declare -A OCTET=([node1]=11 [node2]=12 [node3]=13 [pool]=10 [dns]=53)
declare -A SHORT=([node1]=n1 [node2]=n2 [node3]=n3 [pool]=p [dns]=d)

# The hosts that are not database nodes (pool: pgpool; dns: a DNS server)
# are on the management and service LANs only.
node_lans() { if [[ $1 == pool || $1 == dns ]]; then echo mgmt svc; else echo "${LANS[@]}"; fi; }
addr() { echo "${LAN_NET[$2]}.${OCTET[$1]}"; }          # addr NODE LAN
veth() { echo "hvl-${SHORT[$1]}-$2"; }                  # host-side veth name

# ---------------------------------------------------------------- firewall
# br_netfilter is on: bridged lab frames go through the host's FORWARD hooks.
# If a forward chain would drop them, insert one narrowly scoped accept rule
# (hvl-* in and out only), tagged with comment hvl-lab, removed by down.
fw_open() {
    if command -v nft >/dev/null; then
        local fam tbl ch
        while read -r fam tbl ch; do
            [[ -n $ch ]] || continue
            nft insert rule "$fam" "$tbl" "$ch" iifname '"hvl-*"' oifname '"hvl-*"' accept comment "\"$FW_COMMENT\"" ||
                die "cannot add the forward accept rule to $fam $tbl $ch"
            log "firewall: accept hvl-* forwarding in nft $fam $tbl $ch"
        done < <(nft list chains 2>/dev/null | awk '
            $1 == "table" { fam = $2; tbl = $3 }
            $1 == "chain" { ch = $2 }
            /hook forward/ && /policy drop/ { print fam, tbl, ch }')
    fi
    if command -v iptables >/dev/null && iptables -S FORWARD 2>/dev/null | grep -qx -- '-P FORWARD DROP'; then
        iptables -I FORWARD -i 'hvl-+' -o 'hvl-+' -m comment --comment "$FW_COMMENT" -j ACCEPT ||
            die "cannot add the iptables FORWARD accept rule"
        log "firewall: iptables FORWARD accept for hvl-*"
    fi
}

fw_close() {
    if command -v iptables >/dev/null; then
        while iptables -D FORWARD -i 'hvl-+' -o 'hvl-+' -m comment --comment "$FW_COMMENT" -j ACCEPT 2>/dev/null; do :; done
    fi
    if command -v nft >/dev/null; then
        local fam tbl ch handle
        while read -r fam tbl ch handle; do
            if [[ -n $handle ]]; then nft delete rule "$fam" "$tbl" "$ch" handle "$handle" 2>/dev/null || true; fi
        done < <(nft -a list ruleset 2>/dev/null | awk -v c="\"$FW_COMMENT\"" '
            $1 == "table" { fam = $2; tbl = $3 }
            $1 == "chain" { ch = $2 }
            index($0, "comment " c) { print fam, tbl, ch, $NF }')
    fi
}

# ---------------------------------------------------------------- LANs
build_network() {
    local n lan
    {
        for lan in "${LANS[@]}"; do
            echo "link add ${LAN_BR[$lan]} type bridge stp_state 0 forward_delay 0"
            echo "link set ${LAN_BR[$lan]} up"
            if [[ -n ${HOST_ADDR[$lan]:-} ]]; then
                echo "addr add ${HOST_ADDR[$lan]}/24 dev ${LAN_BR[$lan]}"
            else
                echo "route add unreachable ${LAN_NET[$lan]}.0/24"
            fi
        done
        echo "route add unreachable 198.18.0.0/15"
        for n in "${ALL_NODES[@]}"; do
            echo "netns add hvl-$n"
        done
    } | ip -batch - || die "cannot build the bridges"
    for n in "${ALL_NODES[@]}"; do
        ip netns exec "hvl-$n" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    done
    {
        for n in "${ALL_NODES[@]}"; do
            for lan in $(node_lans "$n"); do
                echo "link add $(veth "$n" "$lan") type veth peer name ${lan}0 netns hvl-$n"
                echo "link set $(veth "$n" "$lan") master ${LAN_BR[$lan]} up"
            done
        done
    } | ip -batch - || die "cannot build the veths"
    for n in "${ALL_NODES[@]}"; do
        node_links_up "$n"
    done
    local f
    for f in /proc/sys/net/ipv6/conf/hvl-*/disable_ipv6; do echo 1 >"$f"; done
}

node_links_up() { # (re)configure a node's in-namespace side: addresses, links
    local n=$1 lan
    {
        echo "link set lo up"
        for lan in $(node_lans "$n"); do
            echo "addr flush dev ${lan}0"
            echo "addr add $(addr "$n" "$lan")/24 dev ${lan}0"
            echo "link set ${lan}0 up"
        done
    } | ip -n "hvl-$n" -batch - || die "cannot configure the links of $n"
}

host_links() { # host_links NODE up|down
    local lan
    for lan in $(node_lans "$1"); do
        echo "link set $(veth "$1" "$lan") $2"
    done | ip -batch -
}
