#include "haverify/run/final_state.hpp"

#include <set>
#include <thread>

#include <fmt/format.h>

#include "haverify/core/cancel.hpp"
#include "haverify/workload/workload.hpp"
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
    auto ids = ledger_read_ids(conn.get(), opts.ledger_table, opts.run_id, 30s, &err);
    if (err.empty()) s.ledger_ids = std::set<std::int64_t>(ids.begin(), ids.end());
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
  if (!opts.bank_table.empty()) f.bank_total = bank_read_total(conn.get(), opts.bank_table, opts.run_id, 10s, &err);
  return f;
}

std::string divergence(const FinalState& s) {
  if (s.primary.empty()) return "no single primary";
  const NodeFinalState* p = s.find(s.primary);
  if (!p || !p->reachable) return "the primary does not answer";
  std::string out;
  auto add = [&out](const std::string& x) { out += (out.empty() ? "" : "; ") + x; };
  for (const auto& n : s.nodes) {
    if (n.node == s.primary) continue;
    if (!s.replicated) {  // shared disk: passive nodes run no PostgreSQL
      if (n.reachable && !n.in_recovery) add(n.node + " answers as a second primary");
      continue;
    }
    if (!n.reachable)
      add(n.node + " does not answer");
    else if (!n.in_recovery)
      add(n.node + " is not in recovery");
    else if (n.timeline != p->timeline)
      add(fmt::format("{} on timeline {}, primary on {}", n.node, n.timeline, p->timeline));
    else if (!n.streaming_from_primary)
      add(n.node + " is not streaming from " + s.primary);
    else if (n.table_checksums != p->table_checksums)
      add(n.node + " holds different rows");
  }
  return out;
}

FinalState await_convergence(const Inventory& inv, ClusterDriver& driver, const FinalStateOptions& opts,
                             std::chrono::milliseconds timeout, History& history) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  history.record("runner", OpType::invoke, "converge", "");
  FinalState f;
  std::string why;
  for (;;) {
    f = read_final_state(inv, driver, opts);
    why = divergence(f);
    if (why.empty()) {
      // Converged as PostgreSQL sees it; can the manager fail over to every standby?
      try {
        f.takeover_blockers = driver.takeover_blockers(driver.roles(5s), 5s);
      } catch (const std::exception&) {
        f.takeover_blockers.clear();  // cannot tell: not a divergence
      }
      for (const auto& [node, reason] : f.takeover_blockers)
        why += fmt::format("{}{} cannot take over: {}", why.empty() ? "" : "; ", node, reason);
    }
    if (why.empty()) {
      f.converged_mono = mono_now_ns();
      history.record("runner", OpType::ok, "converge", f.primary);
      return f;
    }
    if (std::chrono::steady_clock::now() > until || cancel::requested()) break;
    cancel::sleep_for(250ms);
  }
  history.record("runner", OpType::fail, "converge", f.primary, "", why);
  return f;
}

}  // namespace haverify
