#!/bin/bash
# The lab's pgpool failover_command (lab/stacks/pgpool/failover.sh) against
# three throwaway PostgreSQL servers on 127.0.0.11-13 (one port; a primary and
# two streaming standbys), with a fake `ssh` on PATH that runs the command
# here with the node's data directory. No pgpool, no lab. Cases:
#   planned switchover (pcp_promote_node -s: the primary still answers): it
#     is stopped first, then %m is promoted even where a tie would pick another;
#   unplanned failure (the primary frozen with SIGSTOP): the most advanced
#     standby (the lowest id on a tie) is promoted, %m ignored, within ~0.5 s;
#   planned, no live standby: the primary is left running;
#   unplanned with fencing (FENCE=on): the frozen primary is stopped over
#     (fake) SSH by lab/scripts/pg-stop-hard.sh before the promotion;
#   unplanned with fencing that fails (SSH down, no power controller):
#     nothing is promoted.
# Needs root, the user postgres and PostgreSQL 15 binaries (HAVERIFY_PG_BINDIR).
set -euo pipefail

script=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/lab/stacks/pgpool/failover.sh
bin=${HAVERIFY_PG_BINDIR:-/usr/lib/postgresql/15/bin}
if [[ $(id -u) != 0 || ! -x $bin/initdb ]] || ! id postgres >/dev/null 2>&1; then
    # A missing dependency fails in CI (CI=true: .ci/run installs everything); elsewhere
    # exit 77, which ctest reports as skipped (SKIP_RETURN_CODE), never as passed.
    echo "skipped: needs root, user postgres and $bin/initdb"
    [[ ${CI:-} == true ]] && exit 1
    exit 77
fi
T=$(mktemp -d /tmp/haverify-failover-XXXXXX)
chown postgres "$T"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.11", 0)); print(s.getsockname()[1])')
as() { runuser -u postgres -- "$@"; }
stop_all() {
    local i
    # (a server the fence killed leaves a stale postmaster.pid: its stop fails, which is fine)
    for i in 0 1 2; do
        if [[ -f $T/n$i/postmaster.pid ]]; then as "$bin/pg_ctl" -D "$T/n$i" -m immediate -w stop >/dev/null 2>&1 || true; fi
    done
    return 0
}
cleanup() {
    local pm
    pm=$(head -1 "$T/n0/postmaster.pid" 2>/dev/null) && kill -CONT "$pm" 2>/dev/null
    stop_all
    rm -rf "$T"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*" >&2
    cat "$T/failover.log" >&2
    exit 1
}
q() { psql "host=127.0.0.1$(($1 + 1)) port=$port user=postgres dbname=postgres connect_timeout=2" -XAtc "$2" 2>/dev/null; }

cat >"$T/ssh" <<EOF
#!/bin/bash
[[ -e "$T/ssh.fail" ]] && { echo "ssh: connect to host: Connection timed out" >&2; exit 255; }
while ((\$#)); do case \$1 in -i | -o) shift 2 ;; root@*) host=\${1#root@}; shift; break ;; *) shift ;; esac; done
cmd=("\$@")
for i in "\${!cmd[@]}"; do [[ \${cmd[\$i]} == /var/lib/postgresql/15/main ]] && cmd[\$i]=\$(cat "$T/datadir.\$host"); done
exec "\${cmd[@]}"
EOF
chmod 755 "$T/ssh"
cat >"$T/lab.env" <<EOF
BACKEND_NAME=(node1 node2 node3)
BACKEND_SVC=(127.0.0.11 127.0.0.12 127.0.0.13)
BACKEND_REPL=(127.0.0.11 127.0.0.12 127.0.0.13)
BACKEND_MGMT=(127.0.0.11 127.0.0.12 127.0.0.13)
PG_PORT=$port
PG_USER=postgres
PG_BIN=$bin
PG_DATA=/var/lib/postgresql/15/main
SSH_KEY=/dev/null
KNOWN_HOSTS=/dev/null
LOG=$T/failover.log
EOF
cp "$script" "$T/failover.sh"

setup() { # a primary n0 and two standbys n1, n2
    local i
    stop_all
    rm -rf "$T"/n? "$T"/s?
    : >"$T/failover.log"
    for i in 0 1 2; do
        install -d -o postgres "$T/s$i"
        echo "$T/n$i" >"$T/datadir.127.0.0.1$((i + 1))"
    done
    as "$bin/initdb" -D "$T/n0" -U postgres --auth=trust --no-sync >/dev/null
    printf "port = %s\nlisten_addresses = '127.0.0.11'\nunix_socket_directories = '%s'\n" "$port" "$T/s0" >>"$T/n0/postgresql.conf"
    echo "host replication all 127.0.0.0/8 trust" >>"$T/n0/pg_hba.conf"
    as "$bin/pg_ctl" -D "$T/n0" -l "$T/n0.log" -w start >/dev/null
    for i in 1 2; do
        as "$bin/pg_basebackup" -D "$T/n$i" -h 127.0.0.11 -p "$port" -U postgres -X stream -c fast
        printf "listen_addresses = '127.0.0.1%s'\nunix_socket_directories = '%s'\n" $((i + 1)) "$T/s$i" >>"$T/n$i/postgresql.conf"
        echo "primary_conninfo = 'host=127.0.0.11 port=$port user=postgres application_name=node$((i + 1))'" >>"$T/n$i/postgresql.auto.conf"
        as touch "$T/n$i/standby.signal"
        as "$bin/pg_ctl" -D "$T/n$i" -l "$T/n$i.log" -w start >/dev/null
    done
    for i in 1 2; do
        for _ in $(seq 50); do [[ $(q 0 "select count(*) from pg_stat_replication where application_name = 'node$((i + 1))' and state = 'streaming'") == 1 ]] && break; sleep 0.1; done
    done
}
# failover.sh %d %h %p %D %m %H %M %P ...: node 0 (the primary) failed, new main $1
run_failover() { PATH=$T:$PATH bash "$T/failover.sh" 0 127.0.0.11 "$port" D "$1" h 0 0 "$port" D 127.0.0.11 "$port"; }

echo "case 1: planned switchover to node3 (%m = 2)"
setup
q 0 "create table t(x int); insert into t select generate_series(1, 1000)" >/dev/null
run_failover 2
[[ -z $(q 0 'select 1') ]] || fail "the old primary still answers"
[[ $(q 2 'select pg_is_in_recovery()') == f ]] || fail "node3 (%m) was not promoted"
[[ $(q 1 'select pg_is_in_recovery()') == t ]] || fail "node2 was promoted too"
[[ $(q 2 'select count(*) from t') == 1000 ]] || fail "node3 lacks the old primary's rows"
grep -q "a planned switchover or detach" "$T/failover.log" || fail "not seen as planned"

echo "case 2: unplanned (the primary frozen), %m = 2 ignored"
setup
pm=$(head -1 "$T/n0/postmaster.pid")
kill -STOP "$pm"
start=$(date +%s%N)
run_failover 2
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
kill -CONT "$pm"
[[ $(q 1 'select pg_is_in_recovery()') == f ]] || fail "node2 (most advanced, lowest id) was not promoted"
[[ $(q 2 'select pg_is_in_recovery()') == t ]] || fail "node3 was promoted"
grep -q "a planned switchover" "$T/failover.log" && fail "a frozen primary was taken for a planned switchover"
# Waiting for the frozen primary would cost its psql's connect_timeout (2 s)
# at least: that is the bound (1.5 s failed under a loaded machine at 1.74 s).
((elapsed_ms < 2000)) || fail "an unplanned failover took ${elapsed_ms} ms (waited for the dead primary?)"

echo "case 3: planned, no live standby"
setup
as "$bin/pg_ctl" -D "$T/n1" -m fast -w stop >/dev/null
as "$bin/pg_ctl" -D "$T/n2" -m fast -w stop >/dev/null
run_failover -1
[[ $(q 0 'select pg_is_in_recovery()') == f ]] || fail "the primary was stopped with no standby to promote"
grep -q "no live standby: leaving node 0 running" "$T/failover.log" || fail "no log of leaving it running"

echo "case 4: unplanned with fencing: the frozen primary is stopped, then node2 promoted"
cp "$T/lab.env" "$T/lab.env.unfenced"
printf 'FENCE=on\nSTOP_SCRIPT=%s\n' "$(dirname "$script")/../../scripts/pg-stop-hard.sh" >>"$T/lab.env"
setup
pm=$(head -1 "$T/n0/postmaster.pid")
kill -STOP "$pm"
run_failover 2
kill -CONT "$pm" 2>/dev/null || true
grep -q "fence: node1 stopped" "$T/failover.log" || fail "the old primary was not fenced"
# (a killed postmaster may linger as a zombie until its parent reaps it: that is not running)
[[ -d /proc/$pm && $(awk '{print $3}' "/proc/$pm/stat" 2>/dev/null) != Z ]] && fail "the old primary's postmaster still runs"
[[ -z $(q 0 'select 1') ]] || fail "the old primary still answers"
[[ $(q 1 'select pg_is_in_recovery()') == f ]] || fail "node2 was not promoted after the fence"
[[ $(q 2 'select pg_is_in_recovery()') == t ]] || fail "node3 was promoted"

echo "case 5: unplanned, fencing fails (SSH down, no power controller): nothing promoted"
setup
pm=$(head -1 "$T/n0/postmaster.pid")
kill -STOP "$pm"
touch "$T/ssh.fail"
run_failover 2
rm -f "$T/ssh.fail"
kill -CONT "$pm"
grep -q "FENCING node 0 (node1) FAILED: promoting nothing" "$T/failover.log" || fail "no log of the failed fence"
[[ $(q 1 'select pg_is_in_recovery()') == t ]] || fail "node2 was promoted without a fence"
[[ $(q 2 'select pg_is_in_recovery()') == t ]] || fail "node3 was promoted without a fence"
cp "$T/lab.env.unfenced" "$T/lab.env"

echo "failover.sh: all cases passed"
