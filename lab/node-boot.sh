#!/bin/bash
# haverify embedded lab: boot script of one node.
#
# Runs as the only child of haverify-lab-init (PID 1 of the node), inside the
# node's network, mount, UTS, IPC and PID namespaces. It makes the node look
# like its own machine, starts sshd, and runs the stack's boot steps
# (lab/stacks/<stack>/boot.sh, if the stack has one). It does NOT
# start PostgreSQL: on a power-on, like a real HA cluster whose manager or
# operator rejoins the old primary, the harness's driver (or
# `haverify-lab rejoin`) brings it back as a standby.
#
# Usage: node-boot.sh NODE STATE_DIR
#
# A stack's boot.sh may define (both run as root in the node, with $node,
# $state and $ndir set; the defaults do nothing):
#   stack_boot_mounts    after the private /run, /dev/shm, /root and
#                        PostgreSQL mounts: the stack's own private state
#   stack_boot_services  after sshd started: daemons the node starts at boot
#   stack_local_data     true (the default) if PostgreSQL's data lives in the
#                        node's own /var/lib/postgresql, which then sits on
#                        the lab disk when the lab has one (shared-disk: no,
#                        its Filesystem resource mounts the shared lab disk)
set -euo pipefail

node=${1:?usage: node-boot.sh NODE STATE_DIR}
state=${2:?usage: node-boot.sh NODE STATE_DIR}
ndir="$state/nodes/$node"
# shellcheck source=/dev/null
. "$ndir/node.env"   # NODE_KIND (db, or the host's name: pool, dns), STACK, MGMT_ADDR
lab_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

stack_boot_mounts() { :; }
stack_boot_services() { :; }
stack_local_data() { true; }
if [[ -f $lab_dir/stacks/${STACK:-}/boot.sh ]]; then
    # shellcheck source=/dev/null  # one of lab/stacks/*/boot.sh, checked on its own
    . "$lab_dir/stacks/$STACK/boot.sh"
fi

echo "boot: $node starting at $(date '+%F %T.%N')"

hostname "$node"

# A private /run and /dev/shm: PostgreSQL sockets and lock files, sshd's pid
# file and privsep dir, libqb-style shm files never collide between nodes.
mount -t tmpfs -o mode=0755,size=64m tmpfs-"$node" /run
mount -t tmpfs -o mode=1777,size=256m shm-"$node" /dev/shm
mkdir -p /run/sshd /run/lock /run/pgpool
chmod 0755 /run/sshd
install -d -o postgres -g postgres -m 2775 /run/postgresql
# A private, empty root home: the host's shell start-up files (~/.bashrc)
# must not run in every SSH command of a node, as on a real server.
mount -t tmpfs -o mode=0700,size=16m home-"$node" /root
# --ssh-user: the node's account for it (lib/node.sh write_become_files).
if [[ ${SSH_USER:-root} != root ]]; then
    for f in passwd group shadow sudoers.d; do mount --bind "$state/become/$f" "/etc/$f"; done
fi

# Private state: the host's own /var/lib/postgresql is never touched.
if [[ ${DISK:-tmpfs} != tmpfs && $NODE_KIND == db ]] && stack_local_data; then
    # The lab disk (lab/disk/, docs/lab.md): a daemon of this node serves the
    # node's directory from its own page cache; a power-off kills it with the
    # node, and what it had not made durable is lost. A fresh daemon is a
    # cold cache (reads cost what the profile says).
    # The host's /var/lib/postgresql is not empty (the daemon refuses to hide
    # files): an empty tmpfs first, the lab disk over it.
    mount -t tmpfs -o mode=0755,size=1m disk-mnt-"$node" /var/lib/postgresql
    "$DISK_BIN" --daemon --profile "$DISK" --log "$ndir/disk.log" \
        -o allow_other,default_permissions "$ndir/varlib" /var/lib/postgresql
else
    mount --bind "$ndir/varlib" /var/lib/postgresql
fi
mount --bind "$ndir/varlog" /var/log/postgresql

stack_boot_mounts

# Fresh boot, fresh PID namespace: a postmaster.pid left by the previous life
# of this node is stale by definition (and its PID may now belong to sshd).
rm -f /var/lib/postgresql/15/main/postmaster.pid

# lab up --bastion: SSH from the harness host's own address is dropped, as
# on a network where only the bastion may reach the nodes' sshd (lib/bastion.sh).
if [[ ${BASTION:-0} == 1 ]]; then
    nft -f - <<EOT
table inet hvl_bastion {
    chain input {
        type filter hook input priority -10; policy accept;
        ip saddr $HOST_MGMT_ADDR tcp dport 22 drop
    }
}
EOT
fi

/usr/sbin/sshd -f "$ndir/sshd_config" -E "$ndir/sshd.log"

stack_boot_services

echo "boot: $node done at $(date '+%F %T.%N')"
