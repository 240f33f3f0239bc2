# shellcheck shell=bash
# The jump host of lab up --bastion (sourced by lab/haverify-lab): SSH
# reaches the nodes only through it, as on a production network whose nodes
# accept SSH from a bastion only. A host of its own (netns hvl-jump) with one
# leg on the management LAN (198.18.0.5) and one on an access link to the
# harness host (host 198.18.4.1, bastion 198.18.4.5); it forwards nothing
# itself (no ip_forward), its sshd only opens TCP forwards to the nodes' port
# 22 (PermitOpen), for the jump key ($STATE/ssh/id_jump) of user root, with
# no shell (ForceCommand). Each node drops SSH from the harness host's own
# address (node-boot.sh, nft table hvl_bastion), so haverify and the lab's
# own scripts reach the nodes' sshd through the bastion only; the nodes still
# reach each other (the stacks' fencing and rejoin).
# shellcheck disable=SC2034  # read by the other lab files

JUMP_NS=hvl-jump
JUMP_MGMT_ADDR=${LAN_NET[mgmt]}.5
ACCESS_NET=198.18.4
JUMP_ADDR=$ACCESS_NET.5
ACCESS_HOST_ADDR=$ACCESS_NET.1
JUMP_KEY="$STATE/ssh/id_jump"

# build_bastion: the host, its keys and sshd; waits until it answers.
build_bastion() {
    local d="$STATE/jump" n opens=()
    mkdir -p "$d"
    ssh-keygen -q -t ed25519 -N '' -C hvl-jump -f "$d/ssh_host_ed25519_key"
    ssh-keygen -q -t ed25519 -N '' -C haverify-lab-jump -f "$JUMP_KEY"
    cp "$JUMP_KEY.pub" "$d/authorized_keys"
    echo "$JUMP_ADDR $(cut -d' ' -f1-2 "$d/ssh_host_ed25519_key.pub")" >>"$KNOWN_HOSTS"
    for n in "${ALL_NODES[@]}"; do opens+=("$(addr "$n" mgmt):22"); done
    cat >"$d/sshd_config" <<EOT
# haverify lab jump host (lib/bastion.sh): TCP forwards to the nodes' sshd, nothing else.
ListenAddress $JUMP_ADDR
Port 22
HostKey $d/ssh_host_ed25519_key
PidFile $d/sshd.pid
AuthorizedKeysFile $d/authorized_keys
PermitRootLogin prohibit-password
$(sshd_key_only)
AllowTcpForwarding local
PermitOpen ${opens[*]}
ForceCommand /bin/false
PermitTTY no
X11Forwarding no
AllowAgentForwarding no
PermitTunnel no
MaxStartups 100:30:200
MaxSessions 100
LogLevel DEBUG1
EOT
    {
        echo "netns add $JUMP_NS"
        echo "link add hvl-jump-mgmt type veth peer name mgmt0 netns $JUMP_NS"
        echo "link set hvl-jump-mgmt master ${LAN_BR[mgmt]} up"
        echo "link add hvl-access type veth peer name acc0 netns $JUMP_NS"
        echo "addr add $ACCESS_HOST_ADDR/24 dev hvl-access"
        echo "link set hvl-access up"
    } | ip -batch - || die "cannot build the jump host"
    {
        echo "link set lo up"
        echo "addr add $JUMP_MGMT_ADDR/24 dev mgmt0"
        echo "link set mgmt0 up"
        echo "addr add $JUMP_ADDR/24 dev acc0"
        echo "link set acc0 up"
    } | ip -n "$JUMP_NS" -batch - || die "cannot configure the jump host's addresses"
    ip netns exec "$JUMP_NS" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv4.ip_forward=0
    echo 1 >/proc/sys/net/ipv6/conf/hvl-access/disable_ipv6
    mkdir -p /run/sshd # sshd's privilege-separation directory
    ip netns exec "$JUMP_NS" setsid /usr/sbin/sshd -f "$d/sshd_config" -E "$d/sshd.log" </dev/null 9<&- ||
        die "the jump host's sshd did not start (see $d/sshd.log)"
    wait_until 10 "sshd of the jump host on $JUMP_ADDR:22" banner_answers "$JUMP_ADDR"
}

banner_answers() { # banner_answers ADDRESS [NETNS]: an SSH banner on ADDRESS:22 (seen from NETNS)
    local from=()
    [[ -z ${2:-} ]] || from=(ip netns exec "$2")
    "${from[@]}" timeout 1 bash -c "exec 3<>/dev/tcp/$1/22 && head -c 4 <&3" 2>/dev/null | grep -q SSH-
}

# The ssh options that take the lab's own ssh (ssh_node) through the jump host.
jump_ssh_options() {
    printf '%s\n' -o "ProxyCommand=ssh -i $JUMP_KEY -o UserKnownHostsFile=$KNOWN_HOSTS -o StrictHostKeyChecking=yes -o BatchMode=yes -o ConnectTimeout=3 -W %h:%p root@$JUMP_ADDR"
}
