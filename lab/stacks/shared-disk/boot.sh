# shellcheck shell=bash
# Boot steps of a node of this stack (sourced by node-boot.sh): Pacemaker's.
# shellcheck disable=SC2154  # node, state, ndir, lab_dir, NODE_KIND: set by node-boot.sh
# shellcheck source=../pacemaker/boot.sh
. "$lab_dir/stacks/pacemaker/boot.sh"

# PostgreSQL's data is the shared disk, mounted by the Filesystem resource.
stack_local_data() { false; }
