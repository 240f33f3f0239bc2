#include "haverify/workload/workload_bank.hpp"

#include <algorithm>
#include <random>
#include <stdexcept>

#include <fmt/format.h>

#include "haverify/core/op.hpp"
#include "workload_common.hpp"

namespace haverify {

namespace {

using Clock = std::chrono::steady_clock;

using workload_detail::EndpointConnector;
using workload_detail::kServerIdentityReturning;
using workload_detail::op_type;
using workload_detail::outcome_text;
using workload_detail::parse_i64;
using workload_detail::record_server;
using workload_detail::run_setup_sql;
using workload_detail::valid_table_name;

void validate(const BankOptions& o) {
  if (!valid_table_name(o.table)) throw std::invalid_argument(fmt::format("bank: invalid table name '{}'", o.table));
  if (o.clients < 1) throw std::invalid_argument("bank: clients must be >= 1");
  if (o.accounts < 2 || o.accounts > 1'000'000) throw std::invalid_argument("bank: accounts must be 2..1000000");
  if (o.initial_balance < -1'000'000'000'000 || o.initial_balance > 1'000'000'000'000) {
    throw std::invalid_argument("bank: initial_balance out of range");
  }
  if (o.max_amount < 1 || o.max_amount > 1'000'000'000) throw std::invalid_argument("bank: max_amount must be >= 1");
}

std::string total_sql(const std::string& table, std::int64_t run_id) {
  return fmt::format("SELECT coalesce(sum(balance), 0), count(*) FROM {} WHERE run_id = {}", table, run_id);
}

// Total and number of accounts from a result of total_sql().
std::optional<std::pair<std::int64_t, std::int64_t>> parse_total(const QueryOutcome& o, std::string* error) {
  const PGresult* r = o.result.get();
  if (!o.is_ok() || !r || PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1 || PQnfields(r) != 2) {
    if (error) *error = o.is_ok() ? std::string("unexpected result shape") : outcome_text(o);
    return std::nullopt;
  }
  const auto total = parse_i64(PQgetvalue(r, 0, 0));
  const auto n = parse_i64(PQgetvalue(r, 0, 1));
  if (!total || !n) {
    if (error) *error = fmt::format("not an integer total: '{}'", PQgetvalue(r, 0, 0));
    return std::nullopt;
  }
  return std::make_pair(*total, *n);
}

}  // namespace

BankWorkload::BankWorkload(PgTarget endpoint, BankOptions options, History& history)
    : endpoint_(std::move(endpoint)), options_(std::move(options)), history_(history) {
  validate(options_);
}

BankWorkload::~BankWorkload() {
  stop();
}

void BankWorkload::prepare(const PgTarget& endpoint, const BankOptions& options, std::chrono::milliseconds deadline) {
  validate(options);
  // One simple-query string runs as one implicit transaction.
  const std::string sql = fmt::format(
      "CREATE TABLE IF NOT EXISTS {0}(run_id bigint not null, account int not null, balance bigint not null, "
      "primary key (run_id, account)); "
      "INSERT INTO {0}(run_id, account, balance) SELECT {1}, a, {2} FROM generate_series(0, {3}) AS a "
      "ON CONFLICT (run_id, account) DO NOTHING; "
      "CREATE TABLE IF NOT EXISTS {0}_transfers(run_id bigint not null, id bigint not null, from_account int not "
      "null, to_account int not null, amount bigint not null, primary key (run_id, id))",
      options.table, options.run_id, options.initial_balance, options.accounts - 1);
  run_setup_sql(endpoint, "bank", options.table, sql, deadline, options.tcp_user_timeout_ms);
}

void BankWorkload::start() {
  clients_.start(
      options_.clients, [this](int i) { run_client(i); }, "bank");
}

void BankWorkload::stop() {
  clients_.stop();
}

WorkloadFigures BankWorkload::figures() const {
  return {{"transfers_acked", transfers_acked()}, {"reads_ok", reads_ok()}, {"expected_total", expected_total()}};
}

void BankWorkload::backoff() {
  clients_.backoff(options_.retry_backoff);
}

void BankWorkload::run_client(int index) {
  const std::string process = fmt::format("{}{}", op::proc::bank_client_prefix, index);
  const std::string node = endpoint_.describe();
  std::seed_seq seq{static_cast<std::uint32_t>(options_.seed), static_cast<std::uint32_t>(options_.seed >> 32),
                    static_cast<std::uint32_t>(index)};
  std::mt19937_64 rng(seq);

  PgConnPtr conn;
  EndpointConnector connector;
  std::int64_t op_no = 0;
  bool identify = true;  // the connection's first transfer also says which server took it

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

    ++op_no;
    QueryOutcome o;
    if (options_.read_every > 0 && op_no % options_.read_every == 0) {
      o = read_total(conn.get(), process, node);
    } else {
      o = transfer_once(conn.get(), process, node, (static_cast<std::int64_t>(index) << 40) | op_no, rng, identify);
    }

    if (o.is_ok()) {
      if (o.connection_lost) conn.reset();
      continue;
    }
    conn.reset();  // unknown, lost, or rejected (e.g. read-only): reconnect
    backoff();
  }
}

QueryOutcome BankWorkload::transfer_once(PGconn* conn, const std::string& process, const std::string& node,
                                         std::int64_t id, std::mt19937_64& rng, bool& identify) {
  const std::string transfer(op::fn::transfer);
  const int from = std::uniform_int_distribution<int>(0, options_.accounts - 1)(rng);
  const int to = (from + std::uniform_int_distribution<int>(1, options_.accounts - 1)(rng)) % options_.accounts;
  const std::int64_t amt = std::uniform_int_distribution<std::int64_t>(1, options_.max_amount)(rng);
  const std::string value = fmt::format("{},{},{},{}", from, to, amt, id);
  // Both accounts move and the transfer is logged under its id, or nothing is logged (the
  // checker then finds the balances off): one statement, one transaction.
  const std::string sql = fmt::format(
      "WITH u AS (UPDATE {0} SET balance = balance + CASE account WHEN {1} THEN -{3} ELSE {3} END "
      "WHERE run_id = {4} AND account IN ({1}, {2}) RETURNING 1) "
      "INSERT INTO {0}_transfers(run_id, id, from_account, to_account, amount) "
      "SELECT {4}, {5}, {1}, {2}, {3} FROM u HAVING count(*) = 2{6}",
      options_.table, from, to, amt, options_.run_id, id, identify ? kServerIdentityReturning : "");
  history_.record(process, OpType::invoke, transfer, value, node);
  QueryOutcome o = pg_exec(conn, sql, options_.commit_deadline);
  std::string note = outcome_text(o);
  if (o.is_ok()) {
    const char* n = o.result ? PQcmdTuples(o.result.get()) : "";
    if (std::string_view(n) != "1") {
      if (!note.empty()) note += "; ";
      note += "did not update both accounts: not logged";
    }
    transfers_acked_.fetch_add(1);
    if (identify) record_server(history_, process, node, o);
    identify = false;
  }
  history_.record(process, op_type(o.kind), transfer, value, node, std::move(note));
  return o;
}

QueryOutcome BankWorkload::read_total(PGconn* conn, const std::string& process, const std::string& node) {
  const std::string read(op::fn::read);
  history_.record(process, OpType::invoke, read, "", node);
  QueryOutcome o = pg_exec(conn, total_sql(options_.table, options_.run_id), options_.commit_deadline);
  std::string err;
  const auto total = o.is_ok() ? parse_total(o, &err) : std::nullopt;
  if (total) {
    std::string note = outcome_text(o);
    if (total->second != options_.accounts) {
      if (!note.empty()) note += "; ";
      note += fmt::format("saw {} of {} accounts", total->second, options_.accounts);
    }
    history_.record(process, OpType::ok, read, std::to_string(total->first), node, std::move(note));
    reads_ok_.fetch_add(1);
  } else {
    // A read changes nothing: a malformed result is a plain failure.
    history_.record(process, o.is_ok() ? OpType::fail : op_type(o.kind), read, "", node,
                    o.is_ok() ? err : outcome_text(o));
    if (o.is_ok()) o.kind = QueryOutcome::failed;
  }
  return o;
}

std::optional<std::int64_t> bank_read_total(PGconn* conn, const std::string& table, std::int64_t run_id,
                                            std::chrono::milliseconds deadline, std::string* error) {
  if (!valid_table_name(table)) {
    if (error) *error = fmt::format("invalid table name '{}'", table);
    return std::nullopt;
  }
  QueryOutcome o = pg_exec(conn, total_sql(table, run_id), deadline);
  const auto total = parse_total(o, error);
  if (!total) return std::nullopt;
  if (error) error->clear();
  return total->first;
}

}  // namespace haverify
