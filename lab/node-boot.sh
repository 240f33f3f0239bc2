#!/bin/bash
# haverify embedded lab: boot script of one node.
#
# Runs as the only child of haverify-lab-init (PID 1 of the node), inside the
# node's network, mount, UTS, IPC and PID namespaces. It makes the node look
# like its own machine, starts sshd, and (pool node only) pgpool. It does NOT
# start PostgreSQL: on a power-on, like a real HA cluster whose manager or
# operator rejoins the old primary, the harness's driver (or
# `haverify-lab rejoin`) brings it back as a standby.
#
# Usage: node-boot.sh NODE STATE_DIR
set -euo pipefail

node=${1:?usage: node-boot.sh NODE STATE_DIR}
state=${2:?usage: node-boot.sh NODE STATE_DIR}
ndir="$state/nodes/$node"
# shellcheck source=/dev/null
. "$ndir/node.env"   # NODE_KIND (db|pool), MGMT_ADDR

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

# Private state: the host's own /var/lib/postgresql is never touched.
mount --bind "$ndir/varlib" /var/lib/postgresql
mount --bind "$ndir/varlog" /var/log/postgresql

# Fresh boot, fresh PID namespace: a postmaster.pid left by the previous life
# of this node is stale by definition (and its PID may now belong to sshd).
rm -f /var/lib/postgresql/15/main/postmaster.pid

/usr/sbin/sshd -f "$ndir/sshd_config" -E "$ndir/sshd.log"

if [[ $NODE_KIND == pool && -f $state/pool/pgpool.conf ]]; then
    # Power-on of the pool node: restart pgpool and keep its saved node status
    # (pgpool_status in its logdir), so detached nodes stay detached.
    # (`haverify-lab up` starts the first pgpool itself, with -D.)
    setsid /usr/sbin/pgpool -n -f "$state/pool/pgpool.conf" -F "$state/pool/pcp.conf" \
        -a "$state/pool/pool_hba.conf" </dev/null >>"$state/pool/pgpool.log" 2>&1 &
fi

echo "boot: $node done at $(date '+%F %T.%N')"
