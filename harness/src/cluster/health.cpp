#include "haverify/cluster/health.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace haverify {

std::vector<std::string> answering_primaries(const std::vector<NodeStatus>& probes) {
  std::vector<std::string> out;
  for (const auto& p : probes)
    if (p.role == Role::primary) out.push_back(p.node);
  return out;
}

std::string choose_primary(const std::vector<NodeStatus>& probes, const std::vector<NodeStatus>& manager) {
  const auto answering = answering_primaries(probes);
  auto answers = [&](const std::string& n) {
    return std::find(answering.begin(), answering.end(), n) != answering.end();
  };
  for (const auto& m : manager)
    if (m.attached && m.role == Role::primary && answers(m.node)) return m.node;
  std::vector<std::string> distinct = answering;
  std::sort(distinct.begin(), distinct.end());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  return distinct.size() == 1 ? distinct.front() : std::string();
}

std::string manager_primary(const std::vector<NodeStatus>& manager) {
  std::string out;
  for (const auto& m : manager)
    if (m.role == Role::primary) out = m.node;
  return out;
}

std::string Health::why() const {
  return fmt::format("{}", fmt::join(problems, "; "));
}

std::vector<std::string> blocker_problems(const std::map<std::string, std::string>& blockers) {
  std::vector<std::string> out;
  for (const auto& [node, reason] : blockers) out.push_back(fmt::format("{} cannot take over: {}", node, reason));
  return out;
}

namespace {

// Every standby must be streaming from the primary (the single answering one).
void add_replication(const ClusterObservation& o, const std::string& primary, Health& h) {
  const ReplicationReading& r = *o.replication;
  h.replication_known = r.known();
  for (const auto& n : o.nodes) {
    if (n == primary) continue;
    const auto it = r.states.find(n);
    const std::string state = it == r.states.end() ? std::string() : it->second.state;
    if (state == "streaming")
      h.streaming.insert(n);
    else if (state == "catchup" || state == "startup")
      h.catching_up.insert(n);
    if (state != "streaming")
      h.problems.push_back(fmt::format("{} is not streaming from primary {}{}", n, primary,
                                       r.error.empty() ? "" : " (" + r.error + ")"));
  }
}

}  // namespace

Health assess_health(const ClusterObservation& o) {
  Health h;
  h.primary = choose_primary(o.probes, o.manager);
  h.manager_known =
      std::any_of(o.manager.begin(), o.manager.end(), [](const NodeStatus& m) { return m.role != Role::unknown; });
  for (const auto& p : o.probes)
    // Shared disk: the passive node runs no PostgreSQL; the manager vouches for it.
    if (p.role == Role::down && o.replicated)
      h.problems.push_back(fmt::format("{} does not answer ({})", p.node, p.detail));
  for (const auto& m : o.manager)
    if (!m.attached || m.role == Role::unknown)
      h.problems.push_back(fmt::format("{}: manager says {} ({})", m.node, to_string(m.role), m.detail));
  const auto primaries = answering_primaries(o.probes);
  if (primaries.size() != 1)
    h.problems.push_back(fmt::format("{} nodes answer as primary ({})", primaries.size(), fmt::join(primaries, ", ")));
  else if (o.replicated && o.replication)
    add_replication(o, primaries.front(), h);
  // Healthy as PostgreSQL sees it: can the manager fail over to every standby?
  if (h.problems.empty()) {
    h.blocked = o.blockers;
    h.problems = blocker_problems(o.blockers);
  }
  return h;
}

std::map<std::string, std::string> rejoin_reasons(const ClusterObservation& o, const Health& h) {
  std::map<std::string, std::string> why;
  const std::string& primary = h.primary;
  if (primary.empty()) return why;
  for (const auto& p : o.probes) {
    if (p.node == primary) continue;
    if (p.role == Role::down && o.replicated) why[p.node] = "does not answer";
    if (p.role == Role::primary) why[p.node] = "answers as a second primary";
  }
  auto in_inventory = [&](const std::string& n) {
    return std::find(o.nodes.begin(), o.nodes.end(), n) != o.nodes.end();
  };
  if (h.manager_known)
    for (const auto& m : o.manager)
      if (m.node != primary && !m.attached && in_inventory(m.node)) why.emplace(m.node, "detached by the manager");
  // The replication was read from the single answering primary, which is then h.primary.
  if (h.replication_known)
    for (const auto& n : o.nodes)
      if (n != primary && !h.streaming.count(n) && !h.catching_up.count(n))
        why.emplace(n, "not replicating from " + primary);
  return why;
}

std::string manager_standby_problem(const std::string& manager, const std::string& node,
                                    const std::vector<NodeStatus>& view) {
  const NodeStatus* mine = nullptr;
  for (const auto& s : view)
    if (s.node == node) mine = &s;
  if (!mine) return fmt::format("{} does not list {}", manager, node);
  if (!mine->attached || mine->role != Role::standby)
    return fmt::format("{} says {} is {} ({})", manager, node, to_string(mine->role), mine->detail);
  return {};
}

std::string streaming_standby_problem(const std::string& node, const std::string& primary, const NodeStatus& probe,
                                      const ReplicationReading& replication) {
  if (probe.role != Role::standby) return fmt::format("{} answers {} {}", node, to_string(probe.role), probe.detail);
  if (!replication.primary_answers)
    return fmt::format("the primary {} does not answer: {}", primary, replication.error);
  const auto it = replication.states.find(node);
  if (it == replication.states.end() || it->second.state != "streaming")
    return fmt::format("{} is not streaming from {} ({})", node, primary,
                       it != replication.states.end() ? it->second.state
                       : replication.error.empty()    ? std::string("not in pg_stat_replication")
                                                      : replication.error);
  return {};
}

StandbyGaps standby_gaps(const NodeReading& n, const NodeReading& primary, bool replicated) {
  StandbyGaps g;
  if (!replicated) {  // shared disk: passive nodes run no PostgreSQL
    g.serving = n.reachable && !n.in_recovery;
    return g;
  }
  g.unreachable = !n.reachable;
  if (g.unreachable) return g;
  g.serving = !n.in_recovery;
  g.other_timeline = n.timeline != primary.timeline;
  g.not_streaming = !n.streaming_from_primary;
  return g;
}

std::string converged_standby_problem(const NodeReading& n, const NodeReading& primary, bool replicated) {
  const StandbyGaps g = standby_gaps(n, primary, replicated);
  if (!replicated) return g.serving ? n.node + " answers as a second primary" : std::string();
  if (g.unreachable) return n.node + " does not answer";
  if (g.serving) return n.node + " is not in recovery";
  if (g.other_timeline) return fmt::format("{} on timeline {}, primary on {}", n.node, n.timeline, primary.timeline);
  if (g.not_streaming) return n.node + " is not streaming from " + primary.node;
  return {};
}

}  // namespace haverify
