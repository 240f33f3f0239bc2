#!/usr/bin/env bash
# Streaming replication on the lab disk without the lab (docs/benchmarks.md,
# "The cost of the lab disk in the lab ... and a finding"): a PostgreSQL 15
# primary and a synchronous pg_basebackup -R standby, each on its own
# haverify-lab-disk mount, under pgbench inserts (4 clients). Prints the
# commits, the primary's LSN and the standby's replay LSN; exits 1 if the
# standby did not replay everything the primary committed, or pgbench did not
# finish within its deadline (a synchronous commit that hangs). Root, /dev/fuse
# and PostgreSQL 15 needed.
# Usage: bench/lab-disk-replication.sh [SECONDS] [PROFILE]   (default 60 ram)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
profile=${2:-ram}
[[ $secs =~ ^[1-9][0-9]*$ ]] || { echo "lab-disk-replication: SECONDS is a whole number > 0, not '$secs'" >&2; exit 2; }
disk=build/lab/haverify-lab-disk
[[ -x $disk ]] || { echo "lab-disk-replication: build $disk first (cmake --build build --target haverify-lab-disk)" >&2; exit 2; }
bin=/usr/lib/postgresql/15/bin
work=$(mktemp -d /var/tmp/lab-disk-repl-XXXXXX)
chmod 755 "$work"
as_pg() { timeout "$((secs + 120))" runuser -u postgres -- "$@"; }
# shellcheck disable=SC2317  # run by the EXIT trap
cleanup() {
    for n in primary standby; do
        [[ -e $work/$n/pg/postmaster.pid ]] && as_pg "$bin/pg_ctl" -D "$work/$n/pg" -m immediate -w -t 30 stop >/dev/null 2>&1
        fusermount3 -u -z "$work/$n" 2>/dev/null || true
    done
    sleep 1
    rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/sock"
chown postgres "$work/sock"
for n in primary standby; do
    mkdir -p "$work/$n" "$work/$n-backing"
    "$disk" --daemon --profile "$profile" --log "$work/$n-disk.log" "$work/$n-backing" "$work/$n"
    chown postgres "$work/$n"
done
as_pg "$bin/initdb" -D "$work/primary/pg" -U postgres -A trust >/dev/null
cat >>"$work/primary/pg/postgresql.conf" <<EOF
port = 56432
listen_addresses = ''
unix_socket_directories = '$work/sock'
synchronous_standby_names = '*'
EOF
as_pg "$bin/pg_ctl" -D "$work/primary/pg" -l "$work/primary/server.log" -w -t 60 start >/dev/null
as_pg "$bin/pg_basebackup" -h "$work/sock" -p 56432 -U postgres -D "$work/standby/pg" -R -X stream
as_pg "$bin/pg_ctl" -D "$work/standby/pg" -l "$work/standby/server.log" -w -t 60 -o "-p 56433" start >/dev/null
sql() { as_pg "$bin/psql" -h "$work/sock" -p "$1" -U postgres -AtX -v ON_ERROR_STOP=1 -c "$2"; }
sql 56432 "CREATE TABLE t (id bigserial PRIMARY KEY, v text)" >/dev/null
echo "INSERT INTO t (v) VALUES (repeat('x', 100));" >"$work/insert.sql"
rc=0
as_pg "$bin/pgbench" -h "$work/sock" -p 56432 -U postgres -n -c 4 -T "$secs" -f "$work/insert.sql" postgres \
    >"$work/pgbench.out" 2>&1 || { echo "lab-disk-replication: pgbench did not finish (a commit hung?)"; rc=1; }
commits=$(sql 56432 "SELECT count(*) FROM t")
lsn=$(sql 56432 "SELECT pg_current_wal_flush_lsn()")
replayed=no
for _ in $(seq 100); do # 10 s for the standby to replay the last commits
    if [[ $(sql 56433 "SELECT pg_last_wal_replay_lsn() >= '$lsn'::pg_lsn") == t ]]; then replayed=yes; break; fi
    sleep 0.1
done
replay=$(sql 56433 "SELECT pg_last_wal_replay_lsn()")
invalid=$(grep -c "invalid record length" "$work/standby/server.log" || true)
echo "profile $profile, $secs s: $commits commits, primary flush LSN $lsn, standby replay LSN $replay," \
    "replayed: $replayed, 'invalid record length' in the standby's log: $invalid"
[[ $replayed == yes ]] || rc=1
exit "$rc"
