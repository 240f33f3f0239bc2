# shellcheck shell=bash
# Boot steps of a Pacemaker lab node (sourced by node-boot.sh, through
# lab/stacks/pgrex/boot.sh or lab/stacks/shared-disk/boot.sh).
# shellcheck disable=SC2154  # node, state, ndir, lab_dir, NODE_KIND: set by node-boot.sh

stack_boot_mounts() {
    # Cluster-manager state is private too (lab notes: shared libqb/state files
    # collide between nodes). Mount points exist on the host (packages installed).
    local d
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
}
