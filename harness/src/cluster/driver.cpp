#include "haverify/cluster/driver.hpp"
#include "haverify/core/errors.hpp"

#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "haverify/cluster/health.hpp"
#include "haverify/cluster/observe.hpp"

namespace haverify {

void ClusterDriver::switchover(const std::string& target, std::chrono::milliseconds) {
  throw std::runtime_error(fmt::format("the {} driver cannot switch over (to {})", name(), target));
}

std::vector<DetectEvent> ClusterDriver::detect_events(Nanos, std::chrono::milliseconds) {
  return {};
}

std::vector<DetectEvent> NodeDriverBase::detect_events(Nanos since_wall, std::chrono::milliseconds deadline) {
  return detect_from_logs(inv_, pool_, inv_.driver.detect_log, inv_.driver.detect_pattern, since_wall, deadline);
}

std::string NodeDriverBase::switchover_source(const std::string& target, time_point until) {
  if (!inv_.node(target)) throw std::runtime_error(fmt::format("switchover: unknown node {}", target));
  const std::string current = manager_primary(roles(time_left(until)));
  if (current.empty()) throw std::runtime_error(fmt::format("switchover: {} reports no primary", name()));
  return current;
}

bool NodeDriverBase::await_serving(const std::string& target, time_point until, std::string* why) {
  while (std::chrono::steady_clock::now() < until) {
    bool promoted = false;
    for (const auto& s : roles(time_left(until)))
      if (s.node == target && s.role == Role::primary) promoted = true;
    if (!promoted) {
      *why = fmt::format("{} has not promoted {} yet", name(), target);
    } else if (auto st = probe_node(*inv_.node(target), std::chrono::milliseconds(1000)); st.role != Role::primary) {
      *why = fmt::format("{} is promoted but answers {}", target, to_string(st.role));
    } else if (endpoint_is_primary(inv_, std::chrono::milliseconds(1000), why)) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return false;
}

std::string NodeDriverBase::await_new_primary(const std::string& except, time_point until, const std::string& what) {
  std::string why = fmt::format("{} names no primary other than {}", name(), except);
  while (std::chrono::steady_clock::now() < until) {
    std::string candidate;
    for (const auto& s : roles(time_left(until)))
      if (s.role == Role::primary && s.attached && s.node != except) candidate = s.node;
    // A short horizon: the manager may still change its mind.
    const auto horizon = std::min(until, std::chrono::steady_clock::now() + std::chrono::seconds(5));
    if (!candidate.empty() && await_serving(candidate, horizon, &why)) return candidate;
    if (candidate.empty()) why = fmt::format("{} names no primary other than {}", name(), except);
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  throw ClusterDefect(fmt::format("{}: no other node serves in time: {}", what, why));
}

std::string NodeDriverBase::require_primary(const std::string& what) {
  std::string p = current_primary(inv_, *this);
  if (p.empty())
    throw std::runtime_error(
        fmt::format("{}: {} names no primary that answers as one (is the cluster healthy?)", what, name()));
  return p;
}

void NodeDriverBase::require_standby(const std::string& node, time_point until, const std::string& what) {
  if (!inv_.node(node)) throw std::runtime_error(fmt::format("{}: unknown node {}", what, node));
  for (const auto& s : roles(time_left(until)))
    if (s.node == node && s.role == Role::primary)
      throw std::runtime_error(fmt::format("{}: {} is the primary; switch over to another node first", what, node));
}

std::string NodeDriverBase::standby_problem(const std::string& node, const std::vector<NodeStatus>& view,
                                            const std::string& primary) {
  if (std::string why = manager_standby_problem(name(), node, view); !why.empty()) return why;
  if (!replicated()) return {};  // shared disk: online and passive is all a standby is
  if (primary.empty()) return fmt::format("{} names no primary", name());
  const auto st = probe_node(*inv_.node(node), std::chrono::milliseconds(1000));
  if (st.role != Role::standby) return streaming_standby_problem(node, primary, st, {});
  return streaming_standby_problem(node, primary, st, read_replication(inv_, primary, std::chrono::milliseconds(1000)));
}

void NodeDriverBase::await_standby(const std::string& node, time_point until, const std::string& what) {
  for (;;) {
    const auto view = roles(time_left(until));
    const std::string why = standby_problem(node, view, manager_primary(view));
    if (why.empty()) return;
    if (std::chrono::steady_clock::now() >= until)
      throw ClusterDefect(fmt::format("{}: {} is not a healthy standby in time: {}", what, node, why));
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
}

std::string NodeDriverBase::await_cluster_healthy(time_point until, const std::string& what) {
  for (;;) {
    std::string why;
    const std::string primary = current_primary(inv_, *this);
    if (primary.empty()) {
      why = fmt::format("{} names no primary that answers as one", name());
    } else if (endpoint_is_primary(inv_, std::chrono::milliseconds(1000), &why)) {
      const auto view = roles(time_left(until));
      for (const auto& n : inv_.nodes)
        if (n.name != primary && why.empty()) why = standby_problem(n.name, view, primary);
      if (why.empty()) return primary;
    }
    if (std::chrono::steady_clock::now() >= until)
      throw ClusterDefect(fmt::format("{}: the cluster is not healthy in time: {}", what, why));
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
}

// Waits until `node`'s PostgreSQL no longer answers (replicated) and, with
// `ask_manager`, the manager counts it out.
void NodeDriverBase::await_stopped(const std::string& node, time_point until, bool ask_manager,
                                   const std::string& what) {
  for (;;) {
    std::string why;
    if (replicated()) {
      const auto st = probe_node(*inv_.node(node), std::chrono::milliseconds(1000));
      if (st.role != Role::down) why = fmt::format("{} still answers as {}", node, to_string(st.role));
    }
    if (why.empty() && ask_manager)
      for (const auto& s : roles(time_left(until)))
        if (s.node == node && s.attached && s.role != Role::down)
          why = fmt::format("{} still counts {} in ({})", name(), node, s.detail);
    if (why.empty()) return;
    if (std::chrono::steady_clock::now() >= until)
      throw ClusterDefect(fmt::format("{}: {} not stopped in time: {}", what, node, why));
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
}

ExecResult NodeDriverBase::run_service_command(const std::string& node, const std::string& command, time_point until,
                                               const std::string& what) {
  if (command.empty())
    throw std::runtime_error(
        fmt::format("{} of {}: the command is not set in the inventory {} (driver.*_command)", what, node, inv_.file));
  ExecResult r = pool_.run("ssh", node, command + " 2>&1", time_left(until));
  if (!r.ok())
    throw std::runtime_error(
        fmt::format("{} of {}: `{}` failed: {}{}", what, node, command, describe(r), output_tail(r)));
  return r;
}

void NodeDriverBase::stop_services(const std::string& node, time_point until) {
  run_service_command(node, inv_.driver.stop_command, until, "stop (driver.stop_command)");
}

void NodeDriverBase::start_node(const std::string& node, std::chrono::milliseconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  const std::string what = "start of " + node;
  if (!inv_.node(node)) throw std::runtime_error(fmt::format("{}: unknown node", what));
  rejoin(node, require_primary(what), time_left(until));
  await_standby(node, until, what);
}

void NodeDriverBase::stop_node(const std::string& node, std::chrono::milliseconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  const std::string what = "stop of " + node;
  if (!inv_.node(node)) throw std::runtime_error(fmt::format("{}: unknown node", what));
  bool was_primary = false;
  for (const auto& s : roles(time_left(until)))
    if (s.node == node && s.role == Role::primary) was_primary = true;
  stop_services(node, until);
  await_stopped(node, until, /*ask_manager=*/true, what);
  if (was_primary && promotes()) await_new_primary(node, until, what);
}

std::string NodeDriverBase::stop_cluster(std::chrono::milliseconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  const std::string what = "stop of the cluster";
  const std::string primary = require_primary(what);
  std::vector<std::string> order;
  for (const auto& n : inv_.nodes)
    if (n.name != primary) order.push_back(n.name);
  order.push_back(primary);
  // One at a time: each stop returns once the node's services are down, so
  // the primary goes last and sees every standby leave cleanly.
  for (const auto& n : order) {
    stop_services(n, until);
    // The manager itself may be gone with the last nodes: only PostgreSQL is asked.
    await_stopped(n, until, /*ask_manager=*/false, what);
  }
  last_primary_ = primary;
  return primary;
}

std::string NodeDriverBase::start_cluster(std::chrono::milliseconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  std::vector<std::string> order;
  if (!last_primary_.empty()) order.push_back(last_primary_);
  for (const auto& n : inv_.nodes)
    if (n.name != last_primary_) order.push_back(n.name);
  const std::string& cmd = inv_.driver.start_command;
  if (cmd.empty()) throw std::runtime_error("start of the cluster: driver.start_command is not set in " + inv_.file);
  const auto results = run_on_nodes_parallel(pool_, order, cmd + " 2>&1", time_left(until));
  std::vector<std::string> failed;
  for (std::size_t i = 0; i < order.size(); ++i)
    if (!results[i].ok())
      failed.push_back(fmt::format("{}: {}{}", order[i], describe(results[i]), output_tail(results[i])));
  if (!failed.empty())
    throw std::runtime_error(fmt::format("start of the cluster: `{}` failed on {}", cmd, fmt::join(failed, "; ")));
  return await_cluster_healthy(until, "start of the cluster");
}

std::unique_ptr<ClusterDriver> make_driver(const Inventory& inv, TransportPool& pool, const DriverOptions& opts) {
  if (inv.driver.type == "pgpool") return make_pgpool_driver(inv, pool, opts.rejoin_script);
  if (inv.driver.type == "pacemaker") return make_pacemaker_driver(inv, pool);
  if (inv.driver.type == "patroni") return make_patroni_driver(inv, pool);
  return make_generic_driver(inv, pool, opts.rejoin_script);
}

}  // namespace haverify
