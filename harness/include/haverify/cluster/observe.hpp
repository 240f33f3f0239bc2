#pragma once
// Gathering what the health rule (health.hpp) judges: the probes, the
// manager's roles, the primary's pg_stat_replication, the takeover blockers.
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "haverify/cluster/driver.hpp"
#include "haverify/cluster/health.hpp"

namespace haverify {

// `primary`'s pg_stat_replication: connect and query, each within `deadline`.
ReplicationReading read_replication(const Inventory& inv, const std::string& primary,
                                    std::chrono::milliseconds deadline);

// driver.takeover_blockers(roles); empty when the driver cannot tell (it
// threw): an unknown blocker is not a problem.
std::map<std::string, std::string> read_takeover_blockers(ClusterDriver& driver, const std::vector<NodeStatus>& roles,
                                                          std::chrono::milliseconds deadline);
// The same with the driver's roles read first (within the same guard).
std::map<std::string, std::string> read_takeover_blockers(ClusterDriver& driver, std::chrono::milliseconds deadline);

// Probes (1 s), the manager's roles (2 s), the single answering primary's
// replication (replicated only) and, when nothing else is wrong, the
// takeover blockers (2 s).
ClusterObservation observe_cluster(const Inventory& inv, ClusterDriver& driver);

// choose_primary over fresh probes (1 s) and the manager's roles (2 s).
std::string current_primary(const Inventory& inv, ClusterDriver& driver);

}  // namespace haverify
