# shellcheck shell=bash
# Common part of haverify-lab (sourced by lab/haverify-lab): paths and
# settings every stack shares, logging and errors, polling helpers.
# Needs LAB_DIR and SCRIPT (set by lab/haverify-lab).
# shellcheck disable=SC2034  # the settings below are read by the other lab files

STATE=${HAVERIFY_LAB_STATE:-/var/lib/haverify-lab}
STATE=${STATE%/}

PG_BIN=/usr/lib/postgresql/15/bin
PG_DATA=/var/lib/postgresql/15/main          # inside a node (private bind mount)
PG_LOG=/var/log/postgresql/postgresql-15-main.log
PG_PORT=5432
PG_USER=postgres

SSH_KEY="$STATE/ssh/id_ed25519"
SSH_USER=root   # lab up --ssh-user (recorded in lab.env): the user haverify logs in as
SSH_LAN=mgmt    # lab up --ssh-lan (recorded in lab.env): the LAN haverify's SSH goes over
POWER=lab       # lab up --power (recorded in lab.env): lab, or ipmi (simulated BMCs, lib/bmc.sh)
BASTION=0       # lab up --bastion (recorded in lab.env): 1 = SSH to the nodes only through a jump host (lib/bastion.sh)
KNOWN_HOSTS="$STATE/ssh/known_hosts"
FW_COMMENT=hvl-lab
# The storage under every node's PostgreSQL data (lab up --disk; docs/lab.md,
# "The lab disk"): tmpfs = a bind of the node's directory on the host tmpfs
# (unsynced writes survive a power-off); ram|ssd|hdd|san = the lab disk
# (lab/disk/), a FUSE file system in the node that loses them, and whose
# fsyncs and cold reads cost what the profile says.
DISKS='tmpfs ram ssd hdd san'
DISK_DEFAULT=tmpfs
STATE_TMPFS_SIZE=12g    # upper bound only: tmpfs takes memory as it is used (the timing suite writes GBs of WAL)

T0=$(date +%s%3N)
elapsed() { local ms=$(($(date +%s%3N) - T0)); printf '%d.%03d' $((ms / 1000)) $((ms % 1000)); }
log() { printf '[%7ss] %s\n' "$(elapsed)" "$*" >&2; }
UP_RUNNING=
die() {
    echo "haverify-lab: ERROR: $*" >&2
    [[ -z $UP_RUNNING ]] || echo "haverify-lab: up FAILED; clean up with: $SCRIPT down" >&2
    exit 1
}

check_state_path() {
    [[ $STATE == /* ]] || die "HAVERIFY_LAB_STATE must be absolute: $STATE"
    case $STATE in
        / | /var | /var/lib | /tmp | /etc | /usr | /root | /home | /run) die "refusing HAVERIFY_LAB_STATE=$STATE" ;;
    esac
}

# each_node_parallel WHAT FUNC [ARGS...] -- NODE...: runs `FUNC NODE ARGS...`
# for every node at once; dies naming WHAT if any of them fails.
each_node_parallel() {
    local what=$1 fn=$2 args=() pids=() n rc=0
    shift 2
    while [[ $1 != -- ]]; do
        args+=("$1")
        shift
    done
    shift
    for n in "$@"; do
        ("$fn" "$n" "${args[@]}") &
        pids+=($!)
    done
    for n in "${pids[@]}"; do wait "$n" || rc=1; done
    ((rc == 0)) || die "$what failed"
}

# wait_until DEADLINE_S WHAT CMD...: poll CMD every 0.1 s until it succeeds.
wait_until() {
    local secs=$1 what=$2
    shift 2
    local end
    end=$(($(date +%s%N) + secs * 1000000000))
    until "$@" >/dev/null 2>&1; do
        (($(date +%s%N) < end)) || die "timeout after ${secs}s waiting for: $what"
        sleep 0.1
    done
}

find_init_binary() {
    if [[ -n ${HAVERIFY_LAB_INIT:-} ]]; then
        [[ -x $HAVERIFY_LAB_INIT ]] || die "HAVERIFY_LAB_INIT=$HAVERIFY_LAB_INIT is not executable"
        readlink -f "$HAVERIFY_LAB_INIT"
        return
    fi
    local c
    # (the build tree's, the .deb's /usr/lib/haverify, PATH)
    for c in "$LAB_DIR/../build/lab/haverify-lab-init" "$LAB_DIR/../build/haverify-lab-init" \
        "$LAB_DIR/../build/bin/haverify-lab-init" "$LAB_DIR/../../../lib/haverify/haverify-lab-init" \
        "$(command -v haverify-lab-init || true)"; do
        if [[ -n $c && -x $c ]]; then
            readlink -f "$c"
            return
        fi
    done
    mkdir -p "$STATE/bin"
    g++ -std=c++20 -O2 -Wall -Wextra -o "$STATE/bin/haverify-lab-init" "$LAB_DIR/lab_init.cpp" ||
        die "cannot build $LAB_DIR/lab_init.cpp (set HAVERIFY_LAB_INIT)"
    echo "$STATE/bin/haverify-lab-init"
}

# lab_disk_bin: the path of haverify-lab-disk (lab/disk/, docs/lab.md "The lab
# disk"): $HAVERIFY_LAB_DISK, the build's build/lab/, the .deb's
# /usr/lib/haverify, or PATH; else it is built
# with g++ and libfuse3 (pkg-config fuse3) into $STATE/bin.
lab_disk_bin() {
    if [[ -n ${HAVERIFY_LAB_DISK:-} ]]; then
        [[ -x $HAVERIFY_LAB_DISK ]] || die "HAVERIFY_LAB_DISK=$HAVERIFY_LAB_DISK is not executable"
        readlink -f "$HAVERIFY_LAB_DISK"
        return
    fi
    local c
    for c in "$LAB_DIR/../build/lab/haverify-lab-disk" "$LAB_DIR/../../../lib/haverify/haverify-lab-disk" \
        "$(command -v haverify-lab-disk || true)"; do
        if [[ -n $c && -x $c ]]; then
            readlink -f "$c"
            return
        fi
    done
    local fuse_flags
    fuse_flags=$(pkg-config --cflags --libs fuse3) ||
        die "libfuse3 not found (pkg-config fuse3): run lab/install-deps.sh, or set HAVERIFY_LAB_DISK"
    mkdir -p "$STATE/bin"
    # shellcheck disable=SC2086  # the pkg-config flags are several words
    g++ -std=c++20 -O2 -Wall -Wextra -I "$LAB_DIR/.." -o "$STATE/bin/haverify-lab-disk" \
        "$LAB_DIR"/disk/*.cpp $fuse_flags -pthread ||
        die "cannot build $LAB_DIR/disk (set HAVERIFY_LAB_DISK)"
    echo "$STATE/bin/haverify-lab-disk"
}
