# shellcheck shell=bash
# Down (sourced by lab/haverify-lab): removes everything a lab of this STATE
# made on the host, also a half-built lab, and checks that nothing is left.

kill_pids() { # SIGKILL the given PIDs (ours: they live in hvl-* namespaces)
    local p
    for p in "$@"; do
        kill -9 "$p" 2>/dev/null || true
    done
}

cmd_down() {
    check_state_path
    local quiet=${1:-}
    local ns pid pids=() f
    # 1. Processes. Node inits first (the kernel then kills each PID namespace),
    #    then whatever else still lives in an hvl-* netns, then any orphaned
    #    node init found by its unique binary/boot-script command line.
    local argv
    for f in /proc/[0-9]*/cmdline; do
        { mapfile -d '' -t argv <"$f"; } 2>/dev/null || continue
        # argv of a node init: INIT /bin/bash LAB_DIR/node-boot.sh NODE STATE
        if ((${#argv[@]} == 5)) && [[ ${argv[0]} == *haverify-lab-init && ${argv[2]} == */node-boot.sh && ${argv[4]} == "$STATE" ]]; then
            pid=${f#/proc/}
            pids+=("${pid%/cmdline}")
        fi
        # the host-side power controller (fencing: Pacemaker, pgpool --fence on)
        if ((${#argv[@]} == 4)) && [[ ${argv[1]} == */power-controller.sh && ${argv[3]} == "$STATE" ]]; then
            pid=${f#/proc/}
            kill -9 "${pid%/cmdline}" 2>/dev/null || true
        fi
    done
    if ((${#pids[@]})); then
        kill_pids "${pids[@]}"
        # Let each init's parent (unshare) reap it before anything else is
        # killed, so no init is orphaned into a zombie of the host's PID 1.
        local end=$(($(date +%s%N) + 5000000000))
        for pid in "${pids[@]}"; do
            while [[ -d /proc/$pid ]] && (($(date +%s%N) < end)); do sleep 0.01; done
        done
    fi
    local nslist
    nslist=$(ip netns list 2>/dev/null | awk '$1 ~ /^hvl-/ {print $1}')
    local kill_end=$(($(date +%s) + 15))
    for ns in $nslist; do
        while :; do
            mapfile -t pids < <(ip netns pids "$ns" 2>/dev/null)
            ((${#pids[@]} == 0)) && break
            kill_pids "${pids[@]}"
            (($(date +%s) < kill_end)) || { echo "haverify-lab: WARNING: processes left in $ns: ${pids[*]}" >&2; break; }
            sleep 0.05
        done
    done
    # 2. Namespaces (their veth ends go with them), then host-side links.
    for ns in $nslist; do
        ip netns del "$ns" 2>/dev/null || true
    done
    local l
    for l in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | grep '^hvl-' || true); do
        ip link del "$l" 2>/dev/null || true
    done
    # 3. Routes we added (unreachable 198.18.x), firewall rules.
    local r
    while read -r r; do
        if [[ -n $r ]]; then ip route del unreachable "$r" 2>/dev/null || true; fi
    done < <(ip route show type unreachable 2>/dev/null | awk '$2 ~ /^198\.1[89]\./ {print $2}')
    fw_close
    # 4. Mounts and loop devices under $STATE (none expected on the host).
    local m
    for m in $(findmnt -rn -o TARGET 2>/dev/null | grep -E "^$STATE(/|\$)|^/run/netns/hvl-" | sort -r || true); do
        umount -l "$m" 2>/dev/null || true
    done
    for l in $(losetup -n -O NAME,BACK-FILE 2>/dev/null | awk -v s="$STATE/" 'index($2, s) == 1 {print $1}'); do
        losetup -d "$l" 2>/dev/null || true
    done
    for ns in $nslist; do rm -f "/run/netns/$ns"; done
    # 5. Host-side files (the state tmpfs is unmounted above; this removes the
    #    mount point, or a state dir left on disk by an older lab).
    rm -rf --one-file-system "$STATE"
    # 6. Verify.
    local left=()
    [[ -z $(ip netns list 2>/dev/null | awk '$1 ~ /^hvl-/') ]] || left+=(netns)
    ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | grep -q '^hvl-' && left+=(links)
    ip route show type unreachable 2>/dev/null | grep -q '^198\.1[89]\.' && left+=(routes)
    findmnt -rn -o TARGET 2>/dev/null | grep -qE "^$STATE(/|\$)|^/run/netns/hvl-" && left+=(mounts)
    [[ ! -e $STATE ]] || left+=("$STATE")
    if ((${#left[@]})); then
        echo "haverify-lab: ERROR: down left: ${left[*]}" >&2
        return 1
    fi
    [[ -n $quiet ]] || echo "lab is down"
}
