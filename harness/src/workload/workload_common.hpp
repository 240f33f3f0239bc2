#pragma once
// Internal helpers shared by the workloads (ledger, bank): not part of the API.
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "haverify/cluster/probe.hpp"
#include "haverify/core/history.hpp"
#include "haverify/core/op.hpp"
#include "haverify/io/pg.hpp"

namespace haverify::workload_detail {

// A client records a failed connect at most this often (it keeps retrying).
inline constexpr auto kConnectFailRecordInterval = std::chrono::milliseconds(100);

// One client's failed connects, recorded as `fail connect` ops at most every
// kConnectFailRecordInterval; the ones in between are counted into the next
// record's error ("(+N more)"), so an outage does not flood the history.
class ConnectFailLog {
 public:
  void failed(History& history, const std::string& process, const std::string& node, std::string err) {
    const auto now = std::chrono::steady_clock::now();
    if (recorded_ && now - last_ < kConnectFailRecordInterval) {
      ++skipped_;
      return;
    }
    if (skipped_ > 0) err += fmt::format(" (+{} more)", skipped_);
    history.record(process, OpType::fail, std::string(op::fn::connect), "", node, std::move(err));
    recorded_ = true;
    last_ = now;
    skipped_ = 0;
  }

 private:
  bool recorded_ = false;
  std::chrono::steady_clock::time_point last_{};
  int skipped_ = 0;
};

// A DNS answer as a `dns` op's value: {"name":..,"addrs":[..],"ttl":s,
// "server":"127.0.0.1:5353","ms":n}, plus "addr" (the address a new
// connection reached) when `used` is not empty.
inline std::string dns_value(const DnsResult& r, const std::string& used) {
  nlohmann::json j = {{"name", r.name},
                      {"addrs", r.addresses},
                      {"ttl", r.ttl.count()},
                      {"server", r.servers},
                      {"ms", r.elapsed.count()}};
  if (!used.empty()) j["addr"] = used;
  return j.dump();
}

// One client's connects to the endpoint (docs/checkers.md, "The DNS answers").
// A failed connect is recorded through ConnectFailLog; a DNS failure's error
// starts with "dns: ". When the endpoint is a host name, the client records
// {ok, dns, dns_value} ops:
//  - when an answer differs from the last one it recorded (or a failure
//    follows an answer: {fail, dns, "", error}), stamped when the answer
//    arrived, before the connect: the first answer naming a new address;
//  - on every new connection, with "addr": the address it reached.
class EndpointConnector {
 public:
  PgConnPtr connect(History& history, const std::string& process, const std::string& node, const PgTarget& endpoint,
                    std::chrono::milliseconds deadline, int tcp_user_timeout_ms) {
    PgConnectReport report;
    auto on_dns = [&](const DnsResult& r) {
      std::string key = r.ok() ? std::string() : std::string("!") + to_string(*r.failure);
      for (const auto& a : r.addresses) key += a + ",";
      if (key == last_) return;
      last_ = std::move(key);
      if (r.ok())
        history.record(process, OpType::ok, std::string(op::fn::dns), dns_value(r, ""), node);
      else
        history.record(process, OpType::fail, std::string(op::fn::dns), "", node, r.error);
    };
    PgConnPtr conn = pg_connect(endpoint, deadline, report, tcp_user_timeout_ms, on_dns);
    if (!conn) {
      fails_.failed(history, process, node, std::move(report.error));
      return conn;
    }
    for (const auto& res : report.resolutions)
      if (!res.used.empty())
        history.record(process, OpType::ok, std::string(op::fn::dns), dns_value(res.dns, res.used), node);
    return conn;
  }

 private:
  ConnectFailLog fails_;
  std::string last_;  // the last answer recorded: the addresses, or "!" and the failure
};

// A whole decimal integer (a result field), nullopt for anything else.
inline std::optional<std::int64_t> parse_i64(const char* s) {
  std::int64_t v = 0;
  const std::string_view sv(s);
  auto [p, ec] = std::from_chars(sv.data(), sv.data() + sv.size(), v);
  if (ec != std::errc() || p != sv.data() + sv.size() || sv.empty()) return std::nullopt;
  return v;
}

// [A-Za-z0-9_.]+, not starting or ending with '.' (may be schema-qualified).
inline bool valid_table_name(const std::string& t) {
  if (t.empty() || t.front() == '.' || t.back() == '.') return false;
  return std::all_of(t.begin(), t.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
  });
}

// The table of a workload that inserts rows by id (ledger, reads).
inline std::string id_table_sql(const std::string& table) {
  return fmt::format(
      "CREATE TABLE IF NOT EXISTS {}(id bigint primary key, client int not null, "
      "run_id bigint not null, written_at timestamptz not null default clock_timestamp())",
      table);
}

// The error text of an op. An ok op keeps its warnings, e.g. a COMMIT whose
// wait for the synchronous standby was canceled (durable locally, not
// replicated).
inline std::string outcome_text(const QueryOutcome& o) {
  if (o.kind == QueryOutcome::ok) {
    std::string w;
    for (const auto& n : o.notices) {
      if (n.rfind("WARNING", 0) != 0) continue;
      if (!w.empty()) w += "; ";
      w += n;
    }
    return w;
  }
  if (o.sqlstate.empty()) return o.error;
  return fmt::format("[{}] {}", o.sqlstate, o.error);
}

// A workload's setup: `sql` (one simple query, one implicit transaction) on
// a fresh connection to the endpoint, connect and statement within
// `deadline`. Throws std::runtime_error "<what> prepare: ...".
inline void run_setup_sql(const PgTarget& endpoint, const std::string& what, const std::string& table,
                          const std::string& sql, std::chrono::milliseconds deadline, int tcp_user_timeout_ms) {
  const auto end = std::chrono::steady_clock::now() + deadline;
  std::string err;
  PgConnPtr conn = pg_connect(endpoint, deadline, &err, tcp_user_timeout_ms);
  if (!conn) throw std::runtime_error(fmt::format("{} prepare: connect to {}: {}", what, endpoint.describe(), err));
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
  QueryOutcome o = pg_exec(conn.get(), sql, std::max(left, std::chrono::milliseconds(1)));
  if (!o.is_ok())
    throw std::runtime_error(
        fmt::format("{} prepare: {} on {}: {}", what, table, endpoint.describe(), outcome_text(o)));
}

// Appended to the first write on a client's new connection: the server that
// took the write (behind pgpool, a VIP or a host list): its address and port
// as it sees them (empty / 0 over a Unix socket) and its instance, the
// postmaster's start time in microseconds, which the probes also read
// (kNodeStateSql). Part of the write, so a load-balancing proxy cannot send
// it to another server than the write's.
inline const std::string kServerIdentityReturning =
    std::string(" RETURNING coalesce(host(inet_server_addr()), ''), coalesce(inet_server_port(), 0), ") +
    kServerInstanceSql;

// After an acknowledged write that carried kServerIdentityReturning: records
// {ok, server, {"addr":"..","port":n,"instance":n}} for the client's
// connection, or {fail, server, "", why} when the result does not say. Every
// acknowledged write of the connection is the server's
// (docs/checkers.md, single_writer).
inline void record_server(History& history, const std::string& process, const std::string& node,
                          const QueryOutcome& o) {
  const PGresult* r = o.result.get();
  const std::string f(op::fn::server);
  if (!r || PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) < 1 || PQnfields(r) != 3) {
    history.record(process, OpType::fail, f, "", node, "the write returned no server identity");
    return;
  }
  const std::string port = PQgetvalue(r, 0, 1), instance = PQgetvalue(r, 0, 2);
  const auto digits = [](const std::string& v) {
    return !v.empty() && std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  if (!digits(port) || !digits(instance)) {
    history.record(process, OpType::fail, f, "", node, fmt::format("malformed server identity '{}'", instance));
    return;
  }
  history.record(process, OpType::ok, f,
                 fmt::format(R"({{"addr":"{}","port":{},"instance":{}}})", PQgetvalue(r, 0, 0), port, instance), node);
}

inline OpType op_type(QueryOutcome::Kind k) {
  switch (k) {
    case QueryOutcome::ok:
      return OpType::ok;
    case QueryOutcome::failed:
      return OpType::fail;
    case QueryOutcome::unknown:
      return OpType::info;
  }
  return OpType::info;
}

}  // namespace haverify::workload_detail
