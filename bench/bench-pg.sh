# shellcheck shell=bash
# Sourced by bench/load-vs-pgbench.sh and bench/harness-rss.sh: a throwaway
# PostgreSQL 15 on loopback (127.0.0.1 only) in its own mktemp directory and
# on its own port (55432 and up, never the integration tests' ports), stopped
# and removed on exit, also on failure or Ctrl-C (trap).
#   bench_pg_start [extra postgres -c settings...]   sets BENCH_PG_PORT, BENCH_PG_DIR
#   bench_psql <sql>
#   bench_ledger_binary   sets BENCH_BIN: $HAVERIFY_BENCH_LEDGER, or the built
#                         target haverify_bench_ledger (bench/ledger_load.cpp)
# Runs the server as user postgres when run as root (like tests/integration/local_pg.hpp).
BENCH_PG_BINDIR=${HAVERIFY_PG_BINDIR:-/usr/lib/postgresql/15/bin}
BENCH_PG_DIR=""
BENCH_PG_PORT=""

bench_as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

bench_pg_stop() {
  if [ -n "$BENCH_PG_DIR" ] && [ -d "$BENCH_PG_DIR" ]; then
    if [ -f "$BENCH_PG_DIR/data/postmaster.pid" ]; then
      bench_as_pg "$BENCH_PG_BINDIR/pg_ctl" -D "$BENCH_PG_DIR/data" -m immediate -w stop >/dev/null 2>&1 ||
        echo "bench: pg_ctl stop failed, see $BENCH_PG_DIR/server.log" >&2
    fi
    rm -rf "$BENCH_PG_DIR"
  fi
  BENCH_PG_DIR=""
}

bench_free_port() {  # [first port to try]
  local p=${1:-55432}
  while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done
  echo "$p"
}

bench_pg_start() {
  [ -x "$BENCH_PG_BINDIR/initdb" ] || { echo "bench: no initdb in $BENCH_PG_BINDIR" >&2; return 1; }
  BENCH_PG_DIR=$(mktemp -d /tmp/haverify-bench-pg-XXXXXX)
  [ "$(id -u)" = 0 ] && chown postgres: "$BENCH_PG_DIR"
  bench_as_pg "$BENCH_PG_BINDIR/initdb" -D "$BENCH_PG_DIR/data" -U postgres --auth=trust -E UTF8 --no-sync \
    --locale=C >"$BENCH_PG_DIR/initdb.log" 2>&1 || { cat "$BENCH_PG_DIR/initdb.log" >&2; return 1; }
  local settings="-c listen_addresses=127.0.0.1 -c unix_socket_directories=$BENCH_PG_DIR -c max_connections=60"
  local s port=55432
  for s in "$@"; do settings+=" -c $s"; done
  # Another bench may take the port between the check and the bind: try the next one.
  for _ in 1 2 3 4 5; do
    BENCH_PG_PORT=$(bench_free_port "$port")
    bench_as_pg "$BENCH_PG_BINDIR/pg_ctl" -D "$BENCH_PG_DIR/data" -l "$BENCH_PG_DIR/server.log" -w -t 60 \
      -o "-c port=$BENCH_PG_PORT $settings" start >/dev/null && return 0
    grep -q "Address already in use" "$BENCH_PG_DIR/server.log" || break
    port=$((BENCH_PG_PORT + 1 + RANDOM % 16))
  done
  cat "$BENCH_PG_DIR/server.log" >&2
  return 1
}

bench_psql() {
  "$BENCH_PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$BENCH_PG_PORT" -U postgres -d postgres -Atc "$1"
}

bench_ledger_binary() {
  BENCH_BIN=${HAVERIFY_BENCH_LEDGER:-}
  if [ -z "$BENCH_BIN" ]; then
    cmake --build build --target haverify_bench_ledger >/dev/null
    BENCH_BIN=./build/haverify_bench_ledger
  fi
}

trap bench_pg_stop EXIT
trap 'exit 130' INT TERM
