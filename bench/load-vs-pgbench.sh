#!/usr/bin/env bash
# The harness's own cost: the ledger workload (bench/ledger_load.cpp, with
# the run's full streaming History: history.jsonl, events.csv,
# throughput.csv, the metrics pass and the checker feed) against pgbench
# running the SAME INSERT into the same table shape, with the same number of
# clients (one thread each), against the same throwaway PostgreSQL 15 on
# 127.0.0.1, for the same duration:
#   bash bench/load-vs-pgbench.sh [clients=8] [seconds=20] [rounds=2]
# PGBENCH_THREADS=<n> gives pgbench n threads (-j; default: one per client,
# as haverify has).
# HAVERIFY_BENCH_LEDGER=<binary> runs another build of ledger_load.cpp
# (e.g. one linked against an older libhaverify_core.a) instead of building
# the target haverify_bench_ledger.
# Each round runs haverify then pgbench on an emptied table. Prints per run
# the transactions, TPS, the client's CPU (user+sys of its process, from
# /usr/bin/time) and CPU per transaction; then the totals and the ratios
# haverify/pgbench. The server runs with fsync=off and synchronous_commit=off
# so that it is not the bottleneck; it is stopped and removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
clients=${1:-8}
secs=${2:-20}
rounds=${3:-2}
pgbench_threads=${PGBENCH_THREADS:-$clients}
source bench/bench-pg.sh
bench_ledger_binary
bench_pg_start fsync=off synchronous_commit=off
work="$BENCH_PG_DIR/bench"
mkdir -p "$work"
# The table LedgerWorkload::prepare creates.
bench_psql "CREATE TABLE haverify_ledger(id bigint primary key, client int not null, run_id bigint not null,
            written_at timestamptz not null default clock_timestamp())"
# The ledger's INSERT: a unique id per client (the seq variable lives as long
# as the client), the client's number and the run id, as literals.
cat >"$work/insert.sql" <<'SQL'
\set seq :seq + 1
\set id :run_id * 1000000000 + :seq * :nclients + :client_id
INSERT INTO haverify_ledger(id, client, run_id) VALUES (:id, :client_id, :run_id);
SQL

printf '%-9s %5s %9s %8s %8s %8s %12s\n' client round tx tps user_s sys_s cpu_us_per_tx
declare -A tx_sum=() cpu_sum=() tps_sum=()
record() {  # name round tx tps timefile
  local user sys
  read -r user sys <"$5"
  printf '%-9s %5s %9s %8.0f %8.2f %8.2f %12.1f\n' "$1" "$2" "$3" "$4" "$user" "$sys" \
    "$(echo "($user + $sys) * 1000000 / $3" | bc -l)"
  tx_sum[$1]=$(echo "${tx_sum[$1]:-0} + $3" | bc -l)
  tps_sum[$1]=$(echo "${tps_sum[$1]:-0} + $4" | bc -l)
  cpu_sum[$1]=$(echo "${cpu_sum[$1]:-0} + $user + $sys" | bc -l)
}
for round in $(seq 1 "$rounds"); do
  bench_psql "TRUNCATE haverify_ledger; CHECKPOINT"
  line=$(/usr/bin/time -f '%U %S' -o "$work/time.hv" "$BENCH_BIN" 127.0.0.1 "$BENCH_PG_PORT" \
    "$clients" "$secs" "$work")
  read -r _ acked _ _ _ tps _ <<<"$line"
  record haverify "$round" "$acked" "$tps" "$work/time.hv"
  bench_psql "TRUNCATE haverify_ledger; CHECKPOINT"
  /usr/bin/time -f '%U %S' -o "$work/time.pg" "$BENCH_PG_BINDIR/pgbench" -n -h 127.0.0.1 -p "$BENCH_PG_PORT" \
    -U postgres -c "$clients" -j "$pgbench_threads" -T "$secs" -f "$work/insert.sql" -D seq=0 -D nclients="$clients" \
    -D run_id=$((round + 1)) postgres >"$work/pgbench.out" 2>&1 || { cat "$work/pgbench.out" >&2; exit 1; }
  tx=$(awk '/number of transactions actually processed/ {print $NF}' "$work/pgbench.out")
  tps=$(awk '/^tps = / {print $3}' "$work/pgbench.out")
  record pgbench "$round" "$tx" "$tps" "$work/time.pg"
  failed=$(awk '/number of failed transactions/ {print $5}' "$work/pgbench.out")
  [ "${failed:-0}" = 0 ] || echo "pgbench: $failed failed transactions" >&2
done
hv_cpu=$(echo "${cpu_sum[haverify]} * 1000000 / ${tx_sum[haverify]}" | bc -l)
pg_cpu=$(echo "${cpu_sum[pgbench]} * 1000000 / ${tx_sum[pgbench]}" | bc -l)
printf 'total: haverify %.1f us CPU/tx at %.0f tps; pgbench %.1f us CPU/tx at %.0f tps (%s clients, %s s x %s)\n' \
  "$hv_cpu" "$(echo "${tps_sum[haverify]} / $rounds" | bc -l)" "$pg_cpu" \
  "$(echo "${tps_sum[pgbench]} / $rounds" | bc -l)" "$clients" "$secs" "$rounds"
echo "(pgbench with $pgbench_threads threads)"
printf 'ratio haverify/pgbench: tps %.2f, cpu per tx %.2f\n' \
  "$(echo "${tps_sum[haverify]} / ${tps_sum[pgbench]}" | bc -l)" "$(echo "$hv_cpu / $pg_cpu" | bc -l)"
