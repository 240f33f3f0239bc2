#include "haverify/workload/ledger.hpp"

#include <algorithm>
#include <cstdint>
#include <stdexcept>

#include <fmt/format.h>

#include "haverify/core/op.hpp"
#include "workload_common.hpp"

namespace haverify {

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::int64_t kIdsPerRun = 1'000'000'000;
using workload_detail::EndpointConnector;
using workload_detail::kServerIdentityReturning;
using workload_detail::op_type;
using workload_detail::outcome_text;
using workload_detail::record_server;
using workload_detail::run_setup_sql;
using workload_detail::valid_table_name;

void require_valid_table(const std::string& t) {
  if (!valid_table_name(t)) {
    throw std::invalid_argument(fmt::format("ledger: invalid table name '{}'", t));
  }
}

}  // namespace

LedgerWorkload::LedgerWorkload(PgTarget endpoint, LedgerOptions options, History& history)
    : endpoint_(std::move(endpoint)), options_(std::move(options)), history_(history) {
  require_valid_table(options_.table);
  if (options_.clients < 1) throw std::invalid_argument("ledger: clients must be >= 1");
  if (options_.run_id < 0 || options_.run_id > INT64_MAX / kIdsPerRun - 1) {
    throw std::invalid_argument("ledger: run_id out of range");
  }
}

LedgerWorkload::~LedgerWorkload() {
  stop();
}

void LedgerWorkload::prepare(const PgTarget& endpoint, const LedgerOptions& options,
                             std::chrono::milliseconds deadline) {
  require_valid_table(options.table);
  run_setup_sql(endpoint, "ledger", options.table, workload_detail::id_table_sql(options.table), deadline,
                options.tcp_user_timeout_ms);
}

void LedgerWorkload::start() {
  clients_.start(
      options_.clients, [this](int i) { run_client(i); }, "ledger");
}

void LedgerWorkload::stop() {
  clients_.stop();
}

std::int64_t LedgerWorkload::acked() const {
  return acked_.load();
}

WorkloadFigures LedgerWorkload::figures() const {
  return {{"acked", acked()}};
}

void LedgerWorkload::backoff() {
  clients_.backoff(options_.retry_backoff);
}

void LedgerWorkload::run_client(int index) {
  const std::string process = fmt::format("{}{}", op::proc::ledger_client_prefix, index);
  const std::string write(op::fn::write);
  const std::string node = endpoint_.describe();
  PgConnPtr conn;
  EndpointConnector connector;
  bool identify = true;  // the connection's first write also says which server took it

  while (!stopping()) {
    if (!conn) {
      conn = connector.connect(history_, process, node, endpoint_, options_.connect_deadline,
                               options_.tcp_user_timeout_ms);
      if (!conn) {
        backoff();
        continue;
      }
      identify = true;
    }

    const std::int64_t seq = next_seq_.fetch_add(1);
    if (seq >= kIdsPerRun) break;  // id space of this run exhausted
    const std::int64_t id = options_.run_id * kIdsPerRun + seq;
    std::string value = std::to_string(id);
    const std::string sql = fmt::format("INSERT INTO {}(id, client, run_id) VALUES ({}, {}, {}){}", options_.table, id,
                                        index, options_.run_id, identify ? kServerIdentityReturning : "");

    history_.record(process, OpType::invoke, write, value, node);
    QueryOutcome o = pg_exec(conn.get(), sql, options_.commit_deadline);
    if (identify && o.kind == QueryOutcome::ok) {
      record_server(history_, process, node, o);
      identify = false;
    }
    history_.record(process, op_type(o.kind), write, std::move(value), node, outcome_text(o));

    if (o.kind == QueryOutcome::ok) {
      acked_.fetch_add(1);
      if (o.connection_lost) conn.reset();
      continue;
    }
    conn.reset();  // unknown, lost, or rejected (e.g. read-only): reconnect
    backoff();
  }
}

std::vector<std::int64_t> ledger_read_ids(PGconn* conn, const std::string& table, std::int64_t run_id,
                                          std::chrono::milliseconds deadline, std::string* error, bool* table_missing) {
  std::vector<std::int64_t> ids;
  if (table_missing) *table_missing = false;
  if (!valid_table_name(table)) {
    if (error) *error = fmt::format("invalid table name '{}'", table);
    return ids;
  }
  const std::string sql = fmt::format("SELECT id FROM {} WHERE run_id = {} ORDER BY id", table, run_id);
  QueryOutcome o = pg_exec(conn, sql, deadline);
  if (!o.is_ok() || !o.result || PQresultStatus(o.result.get()) != PGRES_TUPLES_OK) {
    if (error) *error = o.is_ok() ? std::string("query returned no rows") : outcome_text(o);
    if (table_missing) *table_missing = o.sqlstate == "42P01";  // undefined_table
    return ids;
  }
  const PGresult* r = o.result.get();
  const int n = PQntuples(r);
  ids.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    ids.push_back(std::stoll(PQgetvalue(r, i, 0)));
  }
  if (error) error->clear();
  return ids;
}

}  // namespace haverify
