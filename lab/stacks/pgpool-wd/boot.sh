# shellcheck shell=bash
# Boot steps of a pgpool-wd lab node (sourced by node-boot.sh).
# shellcheck disable=SC2154  # node, state, ndir, lab_dir, NODE_KIND: set by node-boot.sh

stack_boot_mounts() {
    # The node's own pgpool config directory (pgpool.conf, the same on every
    # node, and pgpool_node_id, its own), where pgpool looks on a server.
    mount --bind "$ndir/pool" /etc/pgpool2
}

stack_boot_services() {
    # A power-on restarts pgpool (PostgreSQL stays down for the rejoin); it
    # joins the watchdog cluster as a standby. (`haverify-lab up` starts the
    # first pgpools itself, once their config exists.)
    if [[ -f /etc/pgpool2/pgpool.conf ]]; then
        /bin/bash "$lab_dir/stacks/pgpool-wd/pgpool.sh" start || echo "boot: pgpool did not start on $node"
    fi
}
