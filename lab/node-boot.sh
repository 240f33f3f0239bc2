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

# Cluster-manager state is private too (lab notes: shared libqb/state files
# collide between nodes). Mount points exist on the host (packages installed).
if [[ ${STACK:-} == pgrex || ${STACK:-} == shared-disk ]]; then
    for d in etc-corosync:/etc/corosync varlib-corosync:/var/lib/corosync \
        varlib-pacemaker:/var/lib/pacemaker varlog-corosync:/var/log/corosync \
        varlog-pacemaker:/var/log/pacemaker; do
        mount --bind "$ndir/${d%%:*}" "${d#*:}"
    done
    # Debian 12 bug (lab notes): ocf-shellfuncs calls `crm_attribute -p -v
    # -INFINITY`, which fails. A fixed copy is bind-mounted in this node only;
    # the host's file is never changed.
    mount --bind "$state/pacemaker/ocf-shellfuncs" /usr/lib/ocf/lib/heartbeat/ocf-shellfuncs
    # The lab fence agent, visible only inside the nodes.
    mount -t overlay "sbin-$node" -o "lowerdir=$state/pacemaker/sbin:/usr/sbin" /usr/sbin
fi
if [[ ${STACK:-} == patroni ]]; then
    mount --bind "$ndir/etc-patroni" /etc/patroni
    mount --bind "$ndir/varlib-etcd" /var/lib/etcd
fi

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
