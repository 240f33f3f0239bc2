# shellcheck shell=bash
# Rejoin (sourced by lab/haverify-lab): brings a powered-on database node back
# into its cluster, the way the stack does it (stack_rejoin).

cmd_rejoin() {
    local n=${1:-}
    load_lab_env
    check_node "$n"
    is_db_node "$n" || die "rejoin is for database nodes"
    init_pid "$n" >/dev/null || die "$n is powered off (run: haverify-lab power-on $n)"
    stack_rejoin "$n"
}
