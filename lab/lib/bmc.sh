# shellcheck shell=bash
# Simulated BMCs (sourced by lab/haverify-lab), for lab up --power ipmi: one
# ipmi_sim (Debian's openipmi) per database node, in a host of its own on the
# management LAN (netns hvl-bmc, 198.18.0.2x: node1's BMC is 198.18.0.21),
# answering IPMI 2.0 (lanplus, cipher suite 3) on port 623 with a user and a
# random password ($STATE/bmc/password, 16 bytes at most). Its chassis control runs
# lab/bmc-chassis.sh, which drives the lab's own power-off/power-on/
# power-status of the node; the BMC outlives the node's power, as a real one.
# haverify reaches it with ipmitool (power controller ipmi, docs/inventory.md).

BMC_NS=hvl-bmc
BMC_USER=hvadmin
bmc_addr() { echo "${LAN_NET[mgmt]}.$((OCTET[$1] + 10))"; } # bmc_addr NODE

# build_bmcs: the BMC host, its configuration, one ipmi_sim per node; waits
# until each answers chassis power status.
build_bmcs() {
    if ! command -v ipmi_sim >/dev/null || ! command -v ipmitool >/dev/null; then
        die "--power ipmi needs ipmi_sim and ipmitool (bash lab/install-deps.sh)"
    fi
    local d="$STATE/bmc" n
    mkdir -p "$d"
    # ipmi_sim takes at most 16 bytes (IPMI 1.5's limit; 2.0 allows 20).
    (umask 077 && head -c 12 /dev/urandom | base64 | tr -d '/+=' >"$d/password")
    # The host's network namespace, for the chassis script (the BMCs' own is
    # hvl-bmc; /proc/1/ns/net may not be open to root in a container).
    touch "$d/host.net"
    mount --bind /proc/self/ns/net "$d/host.net" || die "cannot keep a handle on the host's network namespace"
    {
        echo "netns add $BMC_NS"
        echo "link add hvl-bmc-mgmt type veth peer name mgmt0 netns $BMC_NS"
        echo "link set hvl-bmc-mgmt master ${LAN_BR[mgmt]} up"
    } | ip -batch - || die "cannot build the BMC host"
    {
        echo "link set lo up"
        for n in "${DB_NODES[@]}"; do echo "addr add $(bmc_addr "$n")/24 dev mgmt0"; done
        echo "link set mgmt0 up"
    } | ip -n "$BMC_NS" -batch - || die "cannot configure the BMC host's addresses"
    for n in "${DB_NODES[@]}"; do
        write_bmc_conf "$n" "$d/$n"
        # Only the network namespace changes (nsenter, not ip netns exec):
        # the chassis script then enters the host's back (bmc-chassis.sh).
        nsenter --net="/run/netns/$BMC_NS" setsid ipmi_sim -n -p -c "$d/$n/lan.conf" -f "$d/$n/bmc.emu" \
            </dev/null >>"$d/$n/ipmi_sim.log" 2>&1 9<&- &
        echo $! >"$d/$n/ipmi_sim.pid"
    done
    for n in "${DB_NODES[@]}"; do wait_bmc "$n" 10; done
}

write_bmc_conf() { # write_bmc_conf NODE DIR
    local n=$1 dir=$2
    mkdir -p "$dir"
    cat >"$dir/lan.conf" <<EOT
# haverify lab: the BMC of $n (ipmi_sim; lab/lib/bmc.sh)
name "$n"
set_working_mc 0x20
  startlan 1
    addr $(bmc_addr "$n") 623
    priv_limit admin
    allowed_auths_callback md5
    allowed_auths_user md5
    allowed_auths_operator md5
    allowed_auths_admin md5
    guid $(printf 'a1b2c3d4e5f60718293a4b5c6d7e8f%02x' "${OCTET[$n]}")
  endlan
  chassis_control "$LAB_DIR/bmc-chassis.sh $SCRIPT $STATE $n"
  user 2 true "$BMC_USER" "$(cat "$STATE/bmc/password")" admin 10 md5
EOT
    cat >"$dir/bmc.emu" <<EOT
mc_setbmc 0x20
mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02
mc_enable 0x20
EOT
}

# ipmitool as haverify runs it, against NODE's BMC.
bmc_ipmitool() { # bmc_ipmitool NODE ARGS...
    ipmitool -I lanplus -C 3 -H "$(bmc_addr "$1")" -U "$BMC_USER" -f "$STATE/bmc/password" -N 1 -R 1 "${@:2}" </dev/null
}

wait_bmc() { # wait_bmc NODE SECONDS
    local n=$1 end=$(($(date +%s) + $2)) out
    while :; do
        out=$(bmc_ipmitool "$n" chassis power status 2>&1) && [[ $out == "Chassis Power is on" ]] && return 0
        (($(date +%s) < end)) || die "the BMC of $n ($(bmc_addr "$n")) does not answer: $out (see $STATE/bmc/$n/ipmi_sim.log)"
        sleep 0.2
    done
}
