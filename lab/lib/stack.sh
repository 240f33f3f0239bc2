# shellcheck shell=bash
# Stacks of haverify-lab (sourced by lab/haverify-lab). A stack is one folder
# lab/stacks/<stack>/ with a stack.sh that defines these verbs (run on the
# host, with the lab/lib/*.sh functions available):
#
#   stack_nodes            set DB_NODES (the database nodes) and ALL_NODES
#                          (every node the lab boots: DB_NODES first)
#   stack_prepare PROFILE  host-side files the nodes need at boot (before the
#                          network is built)
#   stack_up PROFILE       seed and start the cluster on the booted nodes;
#                          returns once it is healthy
#   stack_status           the cluster's own view, after the node table of
#                          `haverify-lab status`
#   stack_rejoin NODE      bring a powered-on database node back into the cluster
#   stack_inventory        the endpoint and driver sections of inventory.yaml
#
# and may define (the defaults are below):
#   stack_offers_async        true if `up --replication async` is offered
#   stack_offers_fence        true if `up --fence on|off` is offered (the
#                             stack reads FENCE, on by default, from lab.env)
#   stack_has_pgpool          true if the stack runs pgpool-II (`up --pool-set`)
#   stack_offers_endpoint_dns true if `up --endpoint vip|dns` is offered (the
#                             stack reads ENDPOINT, vip by default, from lab.env)
#   stack_service_monitored   true if the cluster fails over on a service-LAN cut
#   stack_node_role NODE POWER  the ROLE column of `status` for a node that is
#                               not a database node
#
# Optional: lab/stacks/<stack>/boot.sh, sourced by node-boot.sh inside a node
# (see there). A folder without stack.sh (lab/stacks/pacemaker/) is a library.

# The stacks, in the order the messages list them: the historical order,
# then any other stack folder.
list_stacks() {
    local s known=(pgpool pgpool-wd pgrex shared-disk patroni) out=()
    for s in "${known[@]}"; do [[ -f $LAB_DIR/stacks/$s/stack.sh ]] && out+=("$s"); done
    for s in "$LAB_DIR"/stacks/*/stack.sh; do
        s=${s%/stack.sh}
        s=${s##*/}
        [[ " ${known[*]} " == *" $s "* ]] || out+=("$s")
    done
    echo "${out[*]}"
}

STACK=
DB_NODES=()
ALL_NODES=()

stack_offers_async() { false; }
stack_offers_fence() { false; }
stack_offers_endpoint_dns() { false; }
stack_has_pgpool() { false; }
stack_service_monitored() { false; }
stack_node_role() { echo -; }
stack_pg_log() { echo "$PG_LOG"; } # the server log haverify reads (inventory postgres.log_file)

load_stack() { # load_stack NAME: source lab/stacks/NAME/stack.sh, set the nodes
    STACK=$1
    [[ $STACK =~ ^[a-z0-9][a-z0-9-]*$ && -f $LAB_DIR/stacks/$STACK/stack.sh ]] ||
        die "unknown stack '$STACK' (one of: $(list_stacks))"
    # shellcheck source=/dev/null  # one of lab/stacks/*/stack.sh, checked on its own
    . "$LAB_DIR/stacks/$STACK/stack.sh"
    local v
    for v in stack_nodes stack_prepare stack_up stack_status stack_rejoin stack_inventory; do
        [[ $(type -t "$v") == function ]] || die "stack '$STACK' does not define $v ($LAB_DIR/stacks/$STACK/stack.sh)"
    done
    stack_nodes
}

load_lab_env() {
    [[ -r $STATE/lab.env ]] || die "no lab in $STATE (run: haverify-lab up --stack NAME)"
    # shellcheck disable=SC2034  # read by the stacks (a lab.env written before --pg-set has neither)
    PG_SET=() POOL_SET=()
    # shellcheck disable=SC2034  # read by lib/node.sh (ssh_node, write_node_files)
    SSH_USER=root SSH_LAN=mgmt POWER=lab BASTION=0 # a lab.env written before --ssh-user, --ssh-lan, --power or --bastion has none
    # shellcheck source=/dev/null  # written by up: STACK, PROFILE, INIT, DISK, DISK_BIN, FENCE, ENDPOINT, SSH_USER, SSH_LAN, POWER, BASTION, PG_SET, POOL_SET
    . "$STATE/lab.env"
    load_stack "$STACK"
}

is_db_node() {
    local m
    for m in "${DB_NODES[@]}"; do [[ $m == "$1" ]] && return 0; done
    return 1
}

check_node() {
    local n=${1:-} m
    for m in "${ALL_NODES[@]}"; do [[ $m == "$n" ]] && return 0; done
    die "unknown node '$n' (stack $STACK: ${ALL_NODES[*]})"
}
