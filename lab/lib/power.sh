# shellcheck shell=bash
# Power of a lab node (sourced by lab/haverify-lab): power-off (links down,
# SIGKILL of the node's init, ss -K), power-on (sshd only, the cluster is
# NOT started: `rejoin` or haverify's driver brings the node back),
# power-status. Power-off caveat: page cache and filesystem state survive it,
# so unsynced writes are not lost as they would be on real hardware.
# Also the lab's fencing device, shared by the stacks that fence (Pacemaker's
# stonith, the pgpool stacks' failover script): the host-side power
# controller (lab/power-controller.sh, a spool of requests under
# $STATE/power/) and the fence agent that talks to it (fence_hvlab).

cmd_power_off() {
    local n=${1:-}
    check_node "$n"
    local d pid
    d=$(ndir "$n")
    [[ -d $d ]] || die "no lab in $STATE"
    # 1. Every link down first, host side (one netlink batch), then in the node.
    host_links "$n" down
    local lan
    for lan in $(node_lans "$n"); do echo "link set ${lan}0 down"; done | ip -n "hvl-$n" -batch - 2>/dev/null || true
    # 2. SIGKILL the init: the kernel kills the whole PID namespace.
    if pid=$(init_pid "$n"); then
        kill -9 "$pid" 2>/dev/null || true
        # Bounded poll (no fixed sleep): the init turns zombie/vanishes only
        # after every process of its PID namespace is gone.
        local i
        for ((i = 0; i < 2000; i++)); do
            [[ -d /proc/$pid && $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) != Z ]] || break
            sleep 0.005
        done
    fi
    # 3. Drop whatever sockets are left (late FINs) while links are down.
    ip netns exec "hvl-$n" ss -K -a -t >/dev/null 2>&1 || true
    echo off >"$d/power"
}

cmd_power_on() {
    local n=${1:-}
    check_node "$n"
    load_lab_env
    if init_pid "$n" >/dev/null; then
        echo "$n is already on"
        return 0
    fi
    ip netns exec "hvl-$n" ss -K -a -t >/dev/null 2>&1 || true
    # A reboot starts with no runtime firewall rules (e.g. a LAN cut's nft
    # table): the netns outlives the node's processes, so flush them here.
    ip netns exec "hvl-$n" nft flush ruleset 2>/dev/null || true
    # A dead node keeps its addresses (VIPs): flush, re-add, links up.
    node_links_up "$n"
    host_links "$n" up
    boot_node "$n"
    wait_boot "$n" 10
    echo "$n is on"
}

cmd_power_status() {
    local n=${1:-}
    check_node "$n"
    if init_pid "$n" >/dev/null; then
        echo on
        return 0
    fi
    echo off
    return 3
}

# ---------------------------------------------------------------- fencing device
POWER_FENCE_AGENT="$STATE/power/fence_hvlab" # the agent, for scripts run inside the nodes

# power_fencing_prepare: the controller's spool and the fence agent
# ($POWER_FENCE_AGENT, for the DB nodes), before the nodes boot.
power_fencing_prepare() {
    mkdir -p "$STATE/power/requests" "$STATE/power/replies"
    sed -e "s|@STATE@|$STATE|" -e "s|@NODES@|${DB_NODES[*]}|" "$LAB_DIR/stacks/pacemaker/fence_hvlab" >"$POWER_FENCE_AGENT"
    chmod 755 "$POWER_FENCE_AGENT"
}

# start_power_controller: the host-side power controller (a PDU for the fence
# agents). Runs until `down` kills it (lib/down.sh finds it by its argv).
start_power_controller() {
    setsid "$LAB_DIR/power-controller.sh" "$SCRIPT" "$STATE" </dev/null >>"$STATE/power/controller.log" 2>&1 9<&- &
    echo $! >"$STATE/power/controller.pid"
}
