#include "haverify/workload/reads.hpp"

#include <algorithm>
#include <optional>
#include <stdexcept>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "haverify/core/op.hpp"
#include "workload_common.hpp"

namespace haverify {

namespace {

using Clock = std::chrono::steady_clock;
using workload_detail::EndpointConnector;
using workload_detail::op_type;
using workload_detail::outcome_text;
using workload_detail::parse_i64;
using workload_detail::run_setup_sql;
using workload_detail::valid_table_name;

constexpr std::int64_t kIdsPerRun = 1'000'000'000;

void validate(const ReadsOptions& o) {
  if (!valid_table_name(o.table)) throw std::invalid_argument(fmt::format("reads: invalid table name '{}'", o.table));
  if (o.clients < 1) throw std::invalid_argument("reads: clients must be >= 1");
  if (o.foreign_every < 0) throw std::invalid_argument("reads: foreign_every must be >= 0");
  if (o.run_id < 0 || o.run_id > INT64_MAX / kIdsPerRun - 1) throw std::invalid_argument("reads: run_id out of range");
}

double ms_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

// One read's answer: does the row exist, and which server answered.
struct ReadAnswer {
  bool seen = false;
  std::string addr;
  std::int64_t port = 0;
  std::int64_t instance = 0;
};

std::optional<ReadAnswer> parse_answer(const QueryOutcome& o, std::string* why) {
  const PGresult* r = o.result.get();
  if (!r || PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1 || PQnfields(r) != 4) {
    *why = "the read returned no row of 4 fields";
    return std::nullopt;
  }
  const auto count = parse_i64(PQgetvalue(r, 0, 0)), port = parse_i64(PQgetvalue(r, 0, 2)),
             instance = parse_i64(PQgetvalue(r, 0, 3));
  if (!count || !port || !instance) {
    *why = fmt::format("malformed read answer '{}'", PQgetvalue(r, 0, 0));
    return std::nullopt;
  }
  return ReadAnswer{*count > 0, PQgetvalue(r, 0, 1), *port, *instance};
}

}  // namespace

struct ReadsWorkload::Conns {
  PgConnPtr write, read;  // read: empty when reads share the write connection
  EndpointConnector write_connector, read_connector;
  PGconn* reader() const { return read ? read.get() : write.get(); }
  void reset() {
    write.reset();
    read.reset();
  }
};

ReadsWorkload::ReadsWorkload(PgTarget write_endpoint, PgTarget read_endpoint, ReadsOptions options, History& history)
    : write_(std::move(write_endpoint)),
      read_(std::move(read_endpoint)),
      same_endpoint_(write_.describe() == read_.describe() && write_.extra == read_.extra),
      options_(std::move(options)),
      history_(history) {
  validate(options_);
  published_.resize(static_cast<std::size_t>(options_.clients));
}

ReadsWorkload::~ReadsWorkload() {
  stop();
}

void ReadsWorkload::prepare(const PgTarget& endpoint, const ReadsOptions& options, std::chrono::milliseconds deadline) {
  validate(options);
  run_setup_sql(endpoint, "reads", options.table, workload_detail::id_table_sql(options.table), deadline,
                options.tcp_user_timeout_ms);
}

void ReadsWorkload::start() {
  clients_.start(
      options_.clients, [this](int i) { run_client(i); }, "reads");
}

void ReadsWorkload::stop() {
  clients_.stop();
}

WorkloadFigures ReadsWorkload::figures() const {
  return {{"writes_acked", writes_acked_.load()}, {"reads_ok", reads_ok_.load()}, {"reads_stale", reads_stale_.load()}};
}

void ReadsWorkload::run_client(int index) {
  const std::string process = fmt::format("{}{}", op::proc::reader_prefix, index);
  Conns c;
  std::uint64_t reads = 0;
  while (!stopping() && next_seq_.load() < kIdsPerRun) {
    if (!c.write)
      c.write = c.write_connector.connect(history_, process, write_.describe(), write_, options_.connect_deadline,
                                          options_.tcp_user_timeout_ms);
    if (c.write && !same_endpoint_ && !c.read)
      c.read = c.read_connector.connect(history_, process, read_.describe(), read_, options_.connect_deadline,
                                        options_.tcp_user_timeout_ms);
    const bool connected = c.write && (same_endpoint_ || c.read);
    if (connected && cycle(index, c, process, reads)) continue;
    c.reset();  // a failed connect, an unknown or failed op, a lost connection: reconnect
    clients_.backoff(options_.retry_backoff);
  }
}

// One write, then the read of another client's row (every foreign_every-th
// cycle) and of this one. False: drop the connections.
bool ReadsWorkload::cycle(int index, Conns& c, const std::string& process, std::uint64_t& reads) {
  const std::string write(op::fn::write);
  const std::int64_t id = options_.run_id * kIdsPerRun + next_seq_.fetch_add(1);
  const std::string value = std::to_string(id), node = write_.describe();
  history_.record(process, OpType::invoke, write, value, node);
  QueryOutcome o = pg_exec(
      c.write.get(),
      fmt::format("INSERT INTO {}(id, client, run_id) VALUES ({}, {}, {})", options_.table, id, index, options_.run_id),
      options_.commit_deadline);
  history_.record(process, op_type(o.kind), write, value, node, outcome_text(o));
  if (!o.is_ok() || o.connection_lost) return false;
  const auto acked = Clock::now();
  writes_acked_.fetch_add(1);
  Published other;
  {
    std::lock_guard lock(published_mu_);
    published_[static_cast<std::size_t>(index)] = {id, acked};
    ++reads;
    if (options_.foreign_every > 0 && options_.clients > 1 && reads % options_.foreign_every == 0) {
      const auto turn = reads / static_cast<std::uint64_t>(options_.foreign_every);
      const auto k = 1 + turn % static_cast<std::uint64_t>(options_.clients - 1);
      other = published_[(static_cast<std::size_t>(index) + k) % published_.size()];
    }
  }
  if (other.id > 0 && !read_row(c.reader(), process, other.id, false, other.acked)) return false;
  return read_row(c.reader(), process, id, true, acked);
}

bool ReadsWorkload::read_row(PGconn* conn, const std::string& process, std::int64_t id, bool own,
                             Clock::time_point acked) {
  const std::string read(op::fn::read), value = std::to_string(id), node = read_.describe();
  const std::string sql = fmt::format(
      "SELECT count(*), coalesce(host(inet_server_addr()), ''), coalesce(inet_server_port(), 0), {} FROM {} "
      "WHERE id = {}",
      kServerInstanceSql, options_.table, id);
  history_.record(process, OpType::invoke, read, value, node);
  const auto start = Clock::now();
  QueryOutcome o = pg_exec(conn, sql, options_.commit_deadline);
  std::string why;
  const auto answer = o.is_ok() ? parse_answer(o, &why) : std::nullopt;
  if (!answer) {
    history_.record(process, o.is_ok() ? OpType::fail : op_type(o.kind), read, value, node,
                    o.is_ok() ? why : outcome_text(o));
    return false;
  }
  nlohmann::json j = {{"id", id},
                      {"own", own},
                      {"seen", answer->seen},
                      {"since_ack_ms", ms_between(acked, start)},
                      {"addr", answer->addr},
                      {"port", answer->port},
                      {"instance", answer->instance}};
  bool healthy = !o.connection_lost;
  if (!answer->seen) {
    // How stale: read again on the same connection until the row shows.
    int rereads = 0;
    std::optional<double> visible;
    while (healthy && !stopping() && Clock::now() - start < options_.reread_for) {
      clients_.backoff(options_.reread_every);
      QueryOutcome again = pg_exec(conn, sql, options_.commit_deadline);
      ++rereads;
      const auto a = again.is_ok() ? parse_answer(again, &why) : std::nullopt;
      healthy = a && !again.connection_lost;
      if (a && a->seen) visible = ms_between(acked, Clock::now());
      if (!a || a->seen) break;
    }
    j["visible_after_ms"] = visible ? nlohmann::json(*visible) : nlohmann::json(nullptr);
    j["rereads"] = rereads;
    reads_stale_.fetch_add(1);
  }
  reads_ok_.fetch_add(1);
  history_.record(process, OpType::ok, read, j.dump(), node, outcome_text(o));
  return healthy;
}

}  // namespace haverify
