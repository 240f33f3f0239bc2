#!/usr/bin/env bash
# Where the ledger bench's CPU goes: perf record (call graphs from DWARF) of
# bench/ledger_load.cpp against a throwaway PostgreSQL 15 on 127.0.0.1, then
# the top of perf report by self time and by children (inclusive) time:
#   bash bench/profile-ledger.sh [clients=8] [seconds=10] [rows=40]
# HAVERIFY_BENCH_LEDGER=<binary> profiles another build (see load-vs-pgbench.sh).
# Needs perf (apt-get install linux-perf) and permission to use it.
set -euo pipefail
cd "$(dirname "$0")/.."
clients=${1:-8}
secs=${2:-10}
rows=${3:-40}
source bench/bench-pg.sh
bench_ledger_binary
bench_pg_start fsync=off synchronous_commit=off
work="$BENCH_PG_DIR/bench"
mkdir -p "$work"
perf record -q -F 999 --call-graph dwarf,16384 -o "$work/perf.data" -- \
  "$BENCH_BIN" 127.0.0.1 "$BENCH_PG_PORT" "$clients" "$secs" "$work" >/dev/null 2>"$work/perf.err" ||
  { cat "$work/perf.err" >&2; exit 1; }
report() {
  perf report -i "$work/perf.data" --stdio -g none "$@" 2>/dev/null | grep -v '^#' | grep -v '^$' |
    sed -E 's/ +- +- +$//; s/[[:space:]]+$//; s/nlohmann::json_abi_v3_11_2::/nlohmann::/g' |
    sed -E 's/basic_json<std::map, .*> >/basic_json<...>/g; s/std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> >/std::string/g' |
    cut -c1-170 | head -n "$rows" || true  # head closes the pipe early
}
echo "== self time by binary =="
report --no-children --sort dso
echo "== self time (top $rows symbols) =="
report --no-children --sort dso,symbol
echo "== inclusive time (top $rows symbols) =="
report --children --sort symbol
