# shellcheck shell=bash
# Status (sourced by lab/haverify-lab): one line per node (power, init PID,
# sshd, role), then the stack's own view (stack_status).

cmd_status() {
    [[ -d $STATE/nodes ]] || { echo "no lab in $STATE"; return 1; }
    [[ -r $STATE/lab.env ]] && sed -n '/=()$/d; s/^\(STACK\|PROFILE\|DISK\|FENCE\|ENDPOINT\|SSH_USER\|SSH_LAN\|POWER\|BASTION\|PG_SET\|POOL_SET\)=\(..*\)/  \1=\2/p' \
        "$STATE/lab.env"
    printf '%-6s %-5s %-10s %-8s %s\n' NODE POWER INIT_PID SSHD POSTGRES
    local n pid power sshd role
    for n in "${ALL_NODES[@]}"; do
        if pid=$(init_pid "$n"); then
            power=on
            # shellcheck disable=SC2016 # expanded inside the node
            if nsenter -t "$pid" -n -m -u -i -p -- sh -c 'kill -0 "$(cat /run/sshd.pid)"' 2>/dev/null; then
                sshd=alive
            else
                sshd=dead
            fi
        else
            power=off pid=- sshd=-
        fi
        if ! is_db_node "$n"; then
            role=$(stack_node_role "$n" "$power")
        elif [[ $power == on ]]; then
            role=$(pg_role "$n")
        else
            role=down
        fi
        printf '%-6s %-5s %-10s %-8s %s\n' "$n" "$power" "$pid" "$sshd" "$role"
    done
    echo
    stack_status
}
