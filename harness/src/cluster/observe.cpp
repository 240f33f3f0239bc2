#include "haverify/cluster/observe.hpp"

namespace haverify {

using namespace std::chrono_literals;

ReplicationReading read_replication(const Inventory& inv, const std::string& primary,
                                    std::chrono::milliseconds deadline) {
  ReplicationReading r;
  const NodeSpec* p = inv.node(primary);
  if (!p) {
    r.error = "unknown node " + primary;
    return r;
  }
  auto conn = pg_connect(node_target(*p), deadline, &r.error);
  if (!conn) return r;
  r.primary_answers = true;
  r.states = replication_states(inv, conn.get(), deadline, &r.error);
  return r;
}

std::map<std::string, std::string> read_takeover_blockers(ClusterDriver& driver, const std::vector<NodeStatus>& roles,
                                                          std::chrono::milliseconds deadline) {
  try {
    return driver.takeover_blockers(roles, deadline);
  } catch (const std::exception&) {
    return {};  // cannot tell: not a problem (assess_health, divergence)
  }
}

std::map<std::string, std::string> read_takeover_blockers(ClusterDriver& driver, std::chrono::milliseconds deadline) {
  std::vector<NodeStatus> roles;
  try {
    roles = driver.roles(deadline);
  } catch (const std::exception&) {
    return {};  // cannot tell: not a problem (divergence)
  }
  return read_takeover_blockers(driver, roles, deadline);
}

ClusterObservation observe_cluster(const Inventory& inv, ClusterDriver& driver) {
  ClusterObservation o;
  for (const auto& n : inv.nodes) o.nodes.push_back(n.name);
  o.replicated = driver.replicated();
  o.probes = probe_all(inv, 1000ms);
  o.manager = driver.roles(2000ms);
  const auto primaries = answering_primaries(o.probes);
  if (primaries.size() == 1 && o.replicated) o.replication = read_replication(inv, primaries.front(), 1000ms);
  if (assess_health(o).ok()) o.blockers = read_takeover_blockers(driver, o.manager, 2000ms);
  return o;
}

std::string current_primary(const Inventory& inv, ClusterDriver& driver) {
  const auto probes = probe_all(inv, 1000ms);
  return choose_primary(probes, driver.roles(2000ms));
}

}  // namespace haverify
