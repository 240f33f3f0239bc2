#!/bin/bash
# pg-stop-hard.sh: stops a PostgreSQL server at once and proves it is down.
# The fence of the lab's pgpool failover (lab/stacks/pgpool/failover.sh, lab
# up --fence on): before a standby is promoted, the old primary must not
# acknowledge one more write.
#
# Usage (on the node, as root): pg-stop-hard.sh DATA_DIR BIN_DIR OS_USER [TIMEOUT_S]
#   e.g. ssh root@198.18.0.11 bash -s -- /var/lib/postgresql/15/main /usr/lib/postgresql/15/bin postgres 5 < pg-stop-hard.sh
#
# 1. `pg_ctl stop -m immediate` (SIGQUIT: no shutdown checkpoint, clients cut);
# 2. every process of that server still alive after TIMEOUT_S (a paused, i.e.
#    SIGSTOPped, server never handles SIGQUIT; backends orphaned by a killed
#    postmaster) gets SIGKILL. "Of that server": a process named postgres
#    whose working directory is DATA_DIR (every PostgreSQL process chdirs
#    there), so the check does not depend on a postmaster.pid that may be
#    stale or gone;
# 3. exit 0 and print `fenced: ...` only if no such process is left and
#    pg_ctl status says no server runs; else exit 1 with why.
set -u
data=${1:?usage: pg-stop-hard.sh DATA_DIR BIN_DIR OS_USER [TIMEOUT_S]}
bin=${2:?usage: pg-stop-hard.sh DATA_DIR BIN_DIR OS_USER [TIMEOUT_S]}
user=${3:?usage: pg-stop-hard.sh DATA_DIR BIN_DIR OS_USER [TIMEOUT_S]}
timeout_s=${4:-5}
[[ $timeout_s =~ ^[0-9]+$ ]] || { echo "pg-stop-hard: TIMEOUT_S must be whole seconds" >&2; exit 2; }
real=$(readlink -f "$data") || { echo "pg-stop-hard: no data directory $data" >&2; exit 1; }

server_pids() { # the processes of the server on DATA_DIR (no fork per process)
    local d comm out=()
    for d in /proc/[0-9]*; do
        { read -r comm <"$d/comm"; } 2>/dev/null || continue
        [[ $comm == postgres ]] || continue
        [[ $(readlink "$d/cwd" 2>/dev/null) == "$real" ]] || continue
        out+=("${d#/proc/}")
    done
    echo "${out[*]}"
}

before=$(server_pids)
runuser -u "$user" -- "$bin/pg_ctl" -D "$data" stop -m immediate -w -t "$timeout_s" >/dev/null 2>&1
left=$(server_pids)
killed=
if [[ -n $left ]]; then
    # shellcheck disable=SC2086  # a list of PIDs
    kill -9 $left 2>/dev/null
    killed=" (SIGKILL: $left)"
    for _ in $(seq 50); do
        left=$(server_pids)
        [[ -z $left ]] && break
        sleep 0.1
    done
fi
if [[ -n $left ]]; then
    echo "pg-stop-hard: processes of $data still alive after SIGKILL: $left" >&2
    exit 1
fi
runuser -u "$user" -- "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1
rc=$?
if ((rc != 3 && rc != 4)); then # 3: no server running; 4: no data directory
    # pg_ctl asks kill(pid, 0), which a killed postmaster passes until its
    # parent reaps it: a zombie runs nothing.
    pm=$(head -1 "$data/postmaster.pid" 2>/dev/null)
    state=
    [[ $pm =~ ^[0-9]+$ ]] && state=$(awk '{print $3}' "/proc/$pm/stat" 2>/dev/null)
    if [[ -n $state && $state != Z ]]; then
        echo "pg-stop-hard: pg_ctl status still says running (rc $rc, postmaster $pm state $state)" >&2
        exit 1
    fi
fi
echo "fenced: no PostgreSQL process on $data (was: ${before:-none})$killed"
