#include "haverify/run/final_state.hpp"

#include <set>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "haverify/cluster/health.hpp"
#include "haverify/cluster/observe.hpp"
#include "haverify/core/cancel.hpp"
#include "haverify/core/op.hpp"
#include "haverify/workload/ledger.hpp"
#include "haverify/workload/workload_bank.hpp"

namespace haverify {

using namespace std::chrono_literals;

namespace {

std::string checksum_sql(const std::string& table, const std::string& key_expr, std::int64_t run_id) {
  return fmt::format(
      "SELECT count(*) || ':' || coalesce(md5(string_agg({1}, ',' ORDER BY {1})), '') FROM {0} "
      "WHERE run_id = {2}",
      table, key_expr, run_id);
}

NodeFinalState read_node(const NodeSpec& n, const FinalStateOptions& opts) {
  NodeFinalState s;
  s.node = n.name;
  std::string err;
  auto conn = pg_connect(node_target(n), 2000ms, &err);
  if (!conn) return s;
  auto rows = pg_query_rows(conn.get(), kNodeStateSql, 2000ms, &err);
  if (rows.empty() || rows[0].size() < 2) return s;
  s.reachable = true;
  s.in_recovery = rows[0][0] == "t";
  s.timeline = rows[0][1].empty() ? 0 : std::stoi(rows[0][1]);
  if (!opts.ledger_table.empty()) {
    bool missing = false;
    auto ids = ledger_read_ids(conn.get(), opts.ledger_table, opts.run_id, 30s, &err, &missing);
    if (err.empty()) s.ledger_ids = std::set<std::int64_t>(ids.begin(), ids.end());
    if (missing) {  // the node answers without the table: none of the run's rows is there
      s.ledger_ids = std::set<std::int64_t>();
      s.ledger_note =
          fmt::format("table {} does not exist on {}: every row of the run is gone with it", opts.ledger_table, n.name);
    }
    if (auto c = pg_query_scalar(conn.get(), checksum_sql(opts.ledger_table, "id::text", opts.run_id), 30s, &err))
      s.table_checksums[opts.ledger_table] = *c;
  }
  if (!opts.bank_table.empty()) {
    if (auto c = pg_query_scalar(
            conn.get(), checksum_sql(opts.bank_table, "account::text || '=' || balance::text", opts.run_id), 30s, &err))
      s.table_checksums[opts.bank_table] = *c;
  }
  return s;
}

}  // namespace

FinalState read_final_state(const Inventory& inv, ClusterDriver& driver, const FinalStateOptions& opts) {
  FinalState f;
  f.bank_expected_total = opts.bank_expected_total;
  f.primary = current_primary(inv, driver);
  f.replicated = driver.replicated();
  f.nodes.resize(inv.nodes.size());
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < inv.nodes.size(); ++i)
    threads.emplace_back([&, i] { f.nodes[i] = read_node(inv.nodes[i], opts); });
  for (auto& t : threads) t.join();
  if (f.primary.empty()) return f;
  const NodeSpec* p = inv.node(f.primary);
  std::string err;
  auto conn = pg_connect(node_target(*p), 2000ms, &err);
  if (!conn) return f;
  const auto states = replication_states(inv, conn.get(), 2000ms, &err);
  for (auto& ns : f.nodes) {
    const auto it = states.find(ns.node);
    ns.streaming_from_primary = it != states.end() && it->second.state == "streaming";
  }
  if (!opts.bank_table.empty()) {
    f.bank_total = bank_read_total(conn.get(), opts.bank_table, opts.run_id, 10s, &err);
    f.bank_log = read_bank_log(conn.get(), opts, 30s);
  }
  return f;
}

std::optional<FinalState::BankLog> read_bank_log(PGconn* conn, const FinalStateOptions& opts,
                                                 std::chrono::milliseconds deadline) {
  const std::string& t = opts.bank_table;
  const std::int64_t r = opts.run_id;
  std::string err;
  FinalState::BankLog log;
  const auto ids = pg_query_rows(conn, fmt::format("SELECT id FROM {}_transfers WHERE run_id = {} ORDER BY id", t, r),
                                 deadline, &err);
  if (!err.empty()) return std::nullopt;
  log.applied_ids.reserve(ids.size());
  for (const auto& row : ids) log.applied_ids.push_back(std::stoll(row.at(0)));
  const auto off = pg_query_rows(
      conn,
      fmt::format("SELECT b.account, b.balance, {2} + coalesce(d.delta, 0), count(*) OVER () FROM {0} b LEFT JOIN "
                  "(SELECT account, sum(delta) AS delta FROM (SELECT from_account AS account, -amount AS delta FROM "
                  "{0}_transfers WHERE run_id = {1} UNION ALL SELECT to_account, amount FROM {0}_transfers WHERE "
                  "run_id = {1}) x GROUP BY account) d USING (account) WHERE b.run_id = {1} AND b.balance <> {2} + "
                  "coalesce(d.delta, 0) ORDER BY b.account LIMIT 10",
                  t, r, opts.bank_initial_balance),
      deadline, &err);
  if (!err.empty()) return std::nullopt;
  for (const auto& row : off) {
    log.mismatched_accounts = std::stoll(row.at(3));
    log.mismatches.push_back(fmt::format("account {}: balance {}, the log says {}", row.at(0), row.at(1), row.at(2)));
  }
  return log;
}

// "Has the run's final state converged?": a single primary that answers,
// every other node a converged standby (cluster/health.hpp) holding the
// primary's rows.
std::string divergence(const FinalState& s) {
  if (s.primary.empty()) return "no single primary";
  const NodeFinalState* p = s.find(s.primary);
  if (!p || !p->reachable) return "the primary does not answer";
  std::vector<std::string> out;
  for (const auto& n : s.nodes) {
    if (n.node == s.primary) continue;
    std::string why = converged_standby_problem(n, *p, s.replicated);
    if (why.empty() && s.replicated && n.table_checksums != p->table_checksums) why = n.node + " holds different rows";
    if (!why.empty()) out.push_back(std::move(why));
  }
  return fmt::format("{}", fmt::join(out, "; "));
}

FinalState await_convergence(const Inventory& inv, ClusterDriver& driver, const FinalStateOptions& opts,
                             std::chrono::milliseconds timeout, History& history) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  const std::string runner(op::proc::runner), converge(op::fn::converge);
  history.record(runner, OpType::invoke, converge, "");
  FinalState f;
  std::string why;
  for (;;) {
    f = read_final_state(inv, driver, opts);
    why = divergence(f);
    if (why.empty()) {
      // Converged as PostgreSQL sees it; can the manager fail over to every standby?
      f.takeover_blockers = read_takeover_blockers(driver, 5s);
      why = fmt::format("{}", fmt::join(blocker_problems(f.takeover_blockers), "; "));
    }
    if (why.empty()) {
      f.converged_mono = mono_now_ns();
      history.record(runner, OpType::ok, converge, f.primary);
      return f;
    }
    if (std::chrono::steady_clock::now() > until || cancel::requested()) break;
    cancel::sleep_for(250ms);
  }
  history.record(runner, OpType::fail, converge, f.primary, "", why);
  f.convergence_gap = why;
  return f;
}

}  // namespace haverify
