# shellcheck shell=bash
# Boot steps of a pgpool lab node (sourced by node-boot.sh).
# shellcheck disable=SC2154  # node, state, ndir, lab_dir, NODE_KIND: set by node-boot.sh

stack_boot_services() {
    if [[ $NODE_KIND == pool && -f $state/pool/pgpool.conf ]]; then
        # Power-on of the pool node: restart pgpool and keep its saved node status
        # (pgpool_status in its logdir), so detached nodes stay detached.
        # (`haverify-lab up` starts the first pgpool itself, with -D.)
        HVL_STATE=$state setsid /usr/sbin/pgpool -n -f "$state/pool/pgpool.conf" -F "$state/pool/pcp.conf" \
            -a "$state/pool/pool_hba.conf" </dev/null >>"$state/pool/pgpool.log" 2>&1 &
    fi
}
