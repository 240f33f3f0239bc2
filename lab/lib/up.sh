# shellcheck shell=bash
# Up (sourced by lab/haverify-lab): the steps every stack shares around the
# stack's own (stack_prepare, stack_up): state tmpfs, firewall, SSH keys,
# node files, network, boot, SSH check, inventory.

offering_stacks() { # offering_stacks VERB: the stacks whose VERB is true, joined with |
    local s out=()
    for s in $(list_stacks); do
        if (load_stack "$s" && "$1"); then out+=("$s"); fi
    done
    local IFS='|'
    echo "${out[*]}"
}

cmd_up() { # cmd_up STACK PROFILE (REPLICATION, DISK, FENCE set by the caller)
    local stack=$1 profile=$2
    [[ -n $stack ]] || die "--stack is required (one of: $(list_stacks))"
    load_stack "$stack"
    [[ $REPLICATION == sync ]] || stack_offers_async ||
        die "--replication async is only offered on --stack $(offering_stacks stack_offers_async)"
    # --fence: the pgpool stacks' failover fences (on) or not (off). Pacemaker
    # always fences (stonith), Patroni has nothing to fence with: no option.
    if stack_offers_fence; then
        FENCE=${FENCE:-on}
        [[ $FENCE == on || $FENCE == off ]] || die "--fence must be on or off"
    elif [[ -n ${FENCE:-} ]]; then
        die "--fence is only offered on --stack $(offering_stacks stack_offers_fence)"
    fi
    # --endpoint: how clients find the active pgpool (pgpool-wd: the VIP, or a DNS name).
    if stack_offers_endpoint_dns; then
        ENDPOINT=${ENDPOINT:-vip}
        [[ $ENDPOINT == vip || $ENDPOINT == dns ]] || die "--endpoint must be vip or dns"
    elif [[ -n ${ENDPOINT:-} ]]; then
        die "--endpoint is only offered on --stack $(offering_stacks stack_offers_endpoint_dns)"
    fi
    check_settings --pg-set "${PG_SET[@]}"
    if ((${#POOL_SET[@]})); then
        stack_has_pgpool || die "--pool-set is only offered on --stack $(offering_stacks stack_has_pgpool)"
        check_settings --pool-set "${POOL_SET[@]}"
    fi
    [[ $profile == default || $profile == fast ]] || die "--profile must be default or fast"
    [[ $REPLICATION == sync || $REPLICATION == async ]] || die "--replication must be sync or async"
    [[ $SSH_USER =~ ^[a-z_][a-z0-9_-]{0,30}$ ]] ||
        die "--ssh-user '$SSH_USER': expected a user name (lower-case letters, digits, _ and -)"
    [[ $SSH_USER == root ]] || command -v sudo >/dev/null ||
        die "--ssh-user needs sudo on this machine (bash lab/install-deps.sh)"
    [[ $POWER == lab || $POWER == ipmi ]] || die "--power must be lab or ipmi"
    [[ $BASTION == 0 || $SSH_LAN == mgmt ]] || die "--bastion reaches the nodes on the management LAN: not with --ssh-lan service"
    [[ " $DISKS " == *" ${DISK:-} "* ]] || die "--disk must be one of: $DISKS (docs/lab.md, \"The lab disk\")"
    check_state_path

    log "cleaning any previous lab"
    cmd_down quiet
    # The whole state dir is a tmpfs: deleting PostgreSQL data dirs on this
    # machine's disk (ext4, discard) takes 3-6 s, fsyncs stall the setup,
    # and down is then just an unmount. It only holds lab data.
    mkdir -p "$STATE"
    mount -t tmpfs -o "mode=0755,size=$STATE_TMPFS_SIZE" hvl-state "$STATE" || die "cannot mount a tmpfs on $STATE"
    mkdir -p "$STATE/nodes"
    INIT=$(find_init_binary)
    DISK_BIN=
    [[ $DISK == tmpfs ]] || DISK_BIN=$(lab_disk_bin)
    printf 'STACK=%s\nPROFILE=%s\nINIT=%s\nDISK=%s\nDISK_BIN=%s\nFENCE=%s\nENDPOINT=%s\nSSH_USER=%s\nSSH_LAN=%s\nPOWER=%s\nBASTION=%s\n' \
        "$stack" "$profile" "$INIT" "$DISK" "$DISK_BIN" "${FENCE:-}" "${ENDPOINT:-}" "$SSH_USER" "$SSH_LAN" "$POWER" "$BASTION" \
        >"$STATE/lab.env"
    # The arrays quoted for bash (sourced again by load_lab_env).
    printf 'PG_SET=(%s)\nPOOL_SET=(%s)\n' "${PG_SET[*]@Q}" "${POOL_SET[*]@Q}" >>"$STATE/lab.env"
    # shellcheck disable=SC2034  # read by die (lib/common.sh)
    UP_RUNNING=1
    trap 'echo "haverify-lab: up FAILED; clean up with: $SCRIPT down" >&2' ERR

    fw_open
    gen_ssh_keys
    [[ $SSH_USER == root ]] || write_become_files
    local n
    for n in "${ALL_NODES[@]}"; do write_node_files "$n"; done
    stack_prepare "$profile" # files the nodes mount at boot
    log "building network"
    build_network
    if ((BASTION)); then
        log "starting the jump host"
        build_bastion
    fi
    log "booting nodes"
    for n in "${ALL_NODES[@]}"; do boot_node "$n"; done
    for n in "${ALL_NODES[@]}"; do wait_boot "$n" 15; done

    stack_up "$profile"

    log "checking ssh into every node"
    local pids=()
    for n in "${ALL_NODES[@]}"; do
        ssh_node "$n" true &
        pids+=($!)
    done
    for n in "${!pids[@]}"; do
        wait "${pids[$n]}" || die "ssh to ${ALL_NODES[$n]} ($(addr "${ALL_NODES[$n]}" mgmt)) failed"
    done
    if [[ $POWER == ipmi ]]; then
        log "starting the simulated BMCs"
        build_bmcs
    fi
    write_inventory "$profile"
    trap - ERR
    # shellcheck disable=SC2034  # read by die (lib/common.sh)
    UP_RUNNING=
    printf 'lab up (stack %s, profile %s, disk %s%s%s%s%s) in %s s\ninventory: %s\n' \
        "$stack" "$profile" "$DISK" "${FENCE:+, fence $FENCE}" "${ENDPOINT:+, endpoint $ENDPOINT}" \
        "$([[ $SSH_USER == root ]] || echo ", ssh $SSH_USER with sudo")$([[ $SSH_LAN == mgmt ]] || echo ", ssh over the ${LAN_LONG[$SSH_LAN]} LAN")$([[ $POWER == lab ]] || echo ", power through IPMI BMCs")$( ((BASTION == 0)) || echo ", ssh through the jump host $JUMP_ADDR")" \
        "$(settings_summary)" "$(elapsed)" "$STATE/inventory.yaml"
}

# check_settings OPTION KEY=VALUE...: each a lower-case setting name, '=',
# and a value on one line (written as KEY = 'VALUE' by settings_lines).
check_settings() {
    local opt=$1 kv
    shift
    for kv in "$@"; do
        [[ $kv =~ ^[a-z_][a-z0-9_]*=[^[:cntrl:]]*$ ]] ||
            die "$opt '$kv': expected KEY=VALUE (KEY: a lower-case setting name; VALUE: one line)"
    done
}

# settings_lines FORMAT KEY=VALUE...: one FORMAT line per setting (printf,
# the key then the value with ' doubled): postgresql.conf and pgpool.conf
# read KEY = 'VALUE' for any setting, YAML reads '...' the same way.
settings_lines() {
    local format=$1 kv v
    shift
    for kv in "$@"; do
        v=${kv#*=}
        # shellcheck disable=SC2059  # the format is the caller's
        printf "$format" "${kv%%=*}" "${v//\'/\'\'}"
    done
}

settings_summary() { # for up's last line and status: ", pg-set a=b c=d, pool-set e=f"
    ((${#PG_SET[@]} == 0)) || printf ', pg-set %s' "${PG_SET[*]}"
    ((${#POOL_SET[@]} == 0)) || printf ', pool-set %s' "${POOL_SET[*]}"
}
