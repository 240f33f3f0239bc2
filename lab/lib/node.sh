# shellcheck shell=bash
# Nodes of haverify-lab (sourced by lab/haverify-lab). A node is a named
# network namespace hvl-<node> plus its own mount, UTS, IPC and PID
# namespaces, with a tiny PID 1 (lab_init.cpp) and a boot script
# (node-boot.sh); sshd on its management address, reached with the lab's key.

ndir() { echo "$STATE/nodes/$1"; }

init_pid() { # prints the node's init host PID if it is alive
    local f
    f="$(ndir "$1")/init.pid"
    [[ -r $f ]] || return 1
    local pid
    pid=$(<"$f")
    [[ -n $pid && -d /proc/$pid ]] || return 1
    # alive and not a zombie
    [[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) != Z ]] || return 1
    echo "$pid"
}

node_exec() { # node_exec NODE CMD...
    local pid
    pid=$(init_pid "$1") || die "node $1 is powered off"
    shift
    nsenter -t "$pid" -n -m -u -i -p -- "$@" 9<&-   # never leak the up/down lock
}

# node_write NODE FILE / node_append NODE FILE: stdin into FILE as the node
# sees it. A node's PostgreSQL files are written this way, never through the
# host path: with the lab disk (--disk) the node's daemon holds the file's
# newest pages, and a host-side write to its backing store would be lost.
# shellcheck disable=SC2016  # $1 is the inner shell's argument
node_write() { node_exec "$1" /bin/bash -c 'cat >"$1"' node-write "$2"; }
# shellcheck disable=SC2016
node_append() { node_exec "$1" /bin/bash -c 'cat >>"$1"' node-append "$2"; }

# The lab's sshd settings for key-only logins (nodes and the jump host).
sshd_key_only() {
    printf '%s\n' 'PubkeyAuthentication yes' 'PasswordAuthentication no' 'KbdInteractiveAuthentication no' \
        'UsePAM no' 'StrictModes no' 'UseDNS no'
}

write_node_files() {
    local n=$1 d
    d=$(ndir "$n")
    mkdir -p "$d/varlib/15" "$d/varlog"
    chown postgres:postgres "$d/varlib" "$d/varlib/15"
    chown root:postgres "$d/varlog"
    chmod 1775 "$d/varlog"
    cat >"$d/node.env" <<EOT
NODE_KIND=$(if is_db_node "$n"; then echo db; else echo "$n"; fi)
STACK=$STACK
MGMT_ADDR=$(addr "$n" mgmt)
DISK=$DISK
DISK_BIN=$DISK_BIN
SSH_USER=$SSH_USER
BASTION=$BASTION
HOST_MGMT_ADDR=${HOST_ADDR[mgmt]}
EOT
    local root_login=prohibit-password
    [[ $SSH_USER == root ]] || root_login=no
    cat >"$d/sshd_config" <<EOT
# haverify lab node $n: key-only login on the management LAN (and the LAN of
# lab up --ssh-lan).
ListenAddress $(addr "$n" mgmt)$([[ $SSH_LAN == mgmt ]] || printf '\nListenAddress %s' "$(addr "$n" "$SSH_LAN")")
Port 22
HostKey $d/ssh_host_ed25519_key
PidFile /run/sshd.pid
AuthorizedKeysFile $STATE/ssh/authorized_keys$([[ $SSH_USER == root ]] || echo " $STATE/become/authorized_keys")
PermitRootLogin $root_login
$(sshd_key_only)
PrintMotd no
MaxStartups 100:30:200
MaxSessions 50
AcceptEnv LANG LC_*
Subsystem sftp internal-sftp
EOT
    [[ $SSH_USER == root ]] || cat >>"$d/sshd_config" <<EOT
# --ssh-user $SSH_USER: the harness host (${HOST_ADDR[mgmt]}) logs in as $SSH_USER only; the
# nodes keep trusting each other's root (the stacks' fencing and rejoin).
Match Address ${LAN_NET[mgmt]}.*,!${HOST_ADDR[mgmt]}$( ((BASTION == 0)) || echo ",!$JUMP_MGMT_ADDR")
    PermitRootLogin prohibit-password
EOT
}

# --ssh-user: the node's own account for it, with sudo and no password. The
# nodes share the host's /etc, so the account lives in private copies of
# passwd, group, shadow and sudoers.d that node-boot.sh mounts over the
# host's in the node's mount namespace: the host itself gets no user.
write_become_files() {
    local b="$STATE/become" uid=2900
    mkdir -p "$b/sudoers.d" "$b/home"
    while getent passwd "$uid" >/dev/null || getent group "$uid" >/dev/null; do uid=$((uid + 1)); done
    ! getent passwd "$SSH_USER" >/dev/null || die "--ssh-user $SSH_USER: the host already has that user; choose another name"
    cp /etc/passwd "$b/passwd"
    cp /etc/group "$b/group"
    cp /etc/shadow "$b/shadow"
    echo "$SSH_USER:x:$uid:$uid:haverify lab QA user:$b/home:/bin/bash" >>"$b/passwd"
    echo "$SSH_USER:x:$uid:" >>"$b/group"
    echo "$SSH_USER:*:19000:0:99999:7:::" >>"$b/shadow" # no password, not locked (sshd would refuse '!')
    chmod 0640 "$b/shadow"
    chown root:shadow "$b/shadow" 2>/dev/null || true
    cp -a /etc/sudoers.d/. "$b/sudoers.d/" 2>/dev/null || true
    # !fqdn: the nodes' names are in no /etc/hosts; without it sudo warns
    # "unable to resolve host" on every command.
    printf 'Defaults !fqdn\n%s ALL=(ALL:ALL) NOPASSWD: ALL\n' "$SSH_USER" >"$b/sudoers.d/haverify-lab"
    chmod 0440 "$b/sudoers.d/haverify-lab"
    # sshd reads a user's keys as that user: $STATE/ssh is root's only.
    install -m 0644 "$SSH_KEY.pub" "$b/authorized_keys"
    chown "$uid:$uid" "$b/home"
    chmod 0755 "$b"
}

boot_node() { # start a fresh init + boot script in the node's namespaces
    local n=$1 d pid
    d=$(ndir "$n")
    rm -f "$d/init.pid" "$d/booted"
    # setsid: detached from the caller's terminal and session.
    setsid ip netns exec "hvl-$n" unshare --mount --uts --ipc --pid --fork --kill-child --mount-proc \
        "$INIT" /bin/bash "$LAB_DIR/node-boot.sh" "$n" "$STATE" </dev/null >>"$d/console.log" 2>&1 9<&- &
    local ushare=$!
    local end=$(($(date +%s%N) + 5000000000))
    while :; do
        pid=$(awk '{print $1}' "/proc/$ushare/task/$ushare/children" 2>/dev/null) || pid=
        [[ -n $pid ]] && break
        if (($(date +%s%N) > end)) || [[ ! -d /proc/$ushare ]]; then
            die "node $n: init did not start (see $d/console.log)"
        fi
        sleep 0.01
    done
    echo "$pid" >"$d/init.pid"
    echo on >"$d/power"
}

boot_done() { grep -q "^boot: $1 done" "$(ndir "$1")/console.log"; }
boot_failed() { grep -q "boot program exited with status [1-9]" "$(ndir "$1")/console.log"; }
sshd_answers() { # read the SSH banner on the management address (from the jump host with --bastion)
    banner_answers "$(addr "$1" mgmt)" "$( ((BASTION == 0)) || echo "$JUMP_NS")"
}
wait_boot() {
    local n=$1 end=$(($(date +%s%N) + ${2:-15} * 1000000000))
    until boot_done "$n"; do
        boot_failed "$n" && die "node $n: boot script failed (see $(ndir "$n")/console.log)"
        (($(date +%s%N) < end)) || die "node $n: boot not finished after ${2:-15}s (see $(ndir "$n")/console.log)"
        sleep 0.02
    done
    wait_until 10 "sshd of $n on $(addr "$n" mgmt):22" sshd_answers "$n"
}

gen_ssh_keys() {
    mkdir -p "$STATE/ssh"
    chmod 700 "$STATE/ssh"
    local n
    ssh-keygen -q -t ed25519 -N '' -C haverify-lab -f "$SSH_KEY" &
    for n in "${ALL_NODES[@]}"; do
        mkdir -p "$(ndir "$n")"
        ssh-keygen -q -t ed25519 -N '' -C "hvl-$n" -f "$(ndir "$n")/ssh_host_ed25519_key" &
    done
    wait
    cp "$SSH_KEY.pub" "$STATE/ssh/authorized_keys"
    : >"$KNOWN_HOSTS"
    for n in "${ALL_NODES[@]}"; do
        echo "$(addr "$n" mgmt) $(cut -d' ' -f1-2 "$(ndir "$n")/ssh_host_ed25519_key.pub")" >>"$KNOWN_HOSTS"
        [[ $SSH_LAN == mgmt ]] ||
            echo "$(addr "$n" "$SSH_LAN") $(cut -d' ' -f1-2 "$(ndir "$n")/ssh_host_ed25519_key.pub")" >>"$KNOWN_HOSTS"
    done
}

ssh_node() { # ssh_node NODE CMD... (as root: through sudo with --ssh-user, through the jump host with --bastion)
    local become=() jump=()
    [[ $SSH_USER == root ]] || become=(sudo -n --)
    ((BASTION == 0)) || mapfile -t jump < <(jump_ssh_options)
    ssh 9<&- "${jump[@]}" -i "$SSH_KEY" -o UserKnownHostsFile="$KNOWN_HOSTS" -o StrictHostKeyChecking=yes \
        -o BatchMode=yes -o ConnectTimeout=3 "$SSH_USER@$(addr "$1" mgmt)" "${become[@]}" "${@:2}"
}

# ---------------------------------------------------------------- exec
cmd_exec() {
    local n=${1:-}
    check_node "$n"
    shift
    [[ ${1:-} == -- ]] && shift
    (($#)) || die "usage: haverify-lab exec NODE -- CMD [ARGS...]"
    local pid
    pid=$(init_pid "$n") || die "node $n is powered off"
    exec nsenter -t "$pid" -n -m -u -i -p -- "$@"
}
