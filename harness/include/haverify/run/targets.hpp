#pragma once
// Target resolution: the role words of fault, exec and cluster steps
// (primary, standby, standby:N, standbys, sync_standby, all) -> node names.
#include <chrono>
#include <random>
#include <string>
#include <vector>

#include "haverify/cluster/driver.hpp"
#include "haverify/config/inventory.hpp"

namespace haverify {

// Where resolve_targets() learns the roles, asked only when a role word needs them.
class RoleSource {
 public:
  virtual ~RoleSource() = default;
  // Every node's role at injection time.
  virtual const std::vector<NodeStatus>& roles() = 0;
  // Of `standbys`, those the primary replicates to synchronously, in the
  // order given; empty when there are none (asynchronous replication,
  // shared disk).
  virtual std::vector<std::string> sync_standbys(const std::vector<std::string>& standbys) = 0;
};

// Targets: node names, `all`, `primary`, `standby` (one standby, chosen with
// `rng`), `standby:N` (the N-th standby in node-name order), `standbys`
// (every standby), `sync_standby` (the first synchronous standby in
// node-name order; any standby without synchronous replication). Only nodes
// of `nodes` (the inventory's, in its order) count. Sorted, without
// duplicates. Throws HarnessFailure when a role has no node or a word is
// neither a role nor a node.
std::vector<std::string> resolve_targets(const std::vector<std::string>& targets, const std::vector<std::string>& nodes,
                                         RoleSource& roles, std::mt19937_64& rng);

// The live RoleSource: the manager's roles (falling back to direct probes
// when the manager names no primary), read once, on first use, so that the
// faults of one step agree on who is primary; synchronous standbys from the
// primary's pg_stat_replication.
class RoleSnapshot final : public RoleSource {
 public:
  RoleSnapshot(const Inventory& inv, ClusterDriver& driver) : inv_(inv), driver_(driver) {}
  const std::vector<NodeStatus>& roles() override;
  std::vector<std::string> sync_standbys(const std::vector<std::string>& standbys) override;

 private:
  const Inventory& inv_;
  ClusterDriver& driver_;
  std::vector<NodeStatus> roles_;
};

// resolve_targets over a RoleSnapshot of now and the inventory's nodes.
std::vector<std::string> resolve_targets_now(const std::vector<std::string>& targets, const Inventory& inv,
                                             ClusterDriver& driver, std::mt19937_64& rng);

}  // namespace haverify
