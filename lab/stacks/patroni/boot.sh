# shellcheck shell=bash
# Boot steps of a patroni lab node (sourced by node-boot.sh).
# shellcheck disable=SC2154  # node, state, ndir, lab_dir, NODE_KIND: set by node-boot.sh

stack_boot_mounts() { # Patroni's config and etcd's data are private to the node
    mount --bind "$ndir/etc-patroni" /etc/patroni
    mount --bind "$ndir/varlib-etcd" /var/lib/etcd
}
