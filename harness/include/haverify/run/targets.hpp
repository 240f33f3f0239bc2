#pragma once
// Target resolution: the role words of fault, exec and cluster steps
// (primary, standby, standby:N, standbys, sync_standby, all, and with a
// pgpool watchdog pool_leader, pool_standby, pool_standbys) -> node names.
#include <chrono>
#include <random>
#include <string>
#include <vector>

#include "haverify/cluster/driver.hpp"
#include "haverify/cluster/vip.hpp"
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
  // Which watchdog nodes hold the pgpool delegate IP now; nullopt: the
  // cluster has no watchdog (inventory driver.watchdog).
  virtual std::optional<VipHolders> vip() { return std::nullopt; }
};

// Targets: node names, `all`, `primary`, `standby` (one standby, chosen with
// `rng`), `standby:N` (the N-th standby in node-name order), `standbys`
// (every standby), `sync_standby` (the first synchronous standby in
// node-name order; any standby without synchronous replication), and with a
// pgpool watchdog `pool_leader` (the one node holding the delegate IP),
// `pool_standby` (one other watchdog node that answered, chosen with `rng`)
// and `pool_standbys` (all of them). Only nodes of `nodes` (the inventory's,
// in its order) count; `aux` names other hosts a node name may be (the
// pgpool host `pool`). Sorted, without duplicates. Throws HarnessFailure
// when a role has no node or a word is neither a role nor a node.
std::vector<std::string> resolve_targets(const std::vector<std::string>& targets, const std::vector<std::string>& nodes,
                                         RoleSource& roles, std::mt19937_64& rng,
                                         const std::vector<std::string>& aux = {});

// The live RoleSource: the manager's roles (falling back to direct probes
// when the manager names no primary), read once, on first use, so that the
// faults of one step agree on who is primary; synchronous standbys from the
// primary's pg_stat_replication.
class RoleSnapshot final : public RoleSource {
 public:
  // `pool`: where the VIP holders are asked (nullptr: a pool word cannot be resolved).
  RoleSnapshot(const Inventory& inv, ClusterDriver& driver, TransportPool* pool = nullptr)
      : inv_(inv), driver_(driver), pool_(pool) {}
  const std::vector<NodeStatus>& roles() override;
  std::vector<std::string> sync_standbys(const std::vector<std::string>& standbys) override;
  std::optional<VipHolders> vip() override;

 private:
  const Inventory& inv_;
  ClusterDriver& driver_;
  TransportPool* pool_;
  std::vector<NodeStatus> roles_;
  std::optional<VipHolders> vip_;
};

// The inventory's PostgreSQL nodes and its other hosts (aux nodes), by name.
std::vector<std::string> node_names(const Inventory& inv);
std::vector<std::string> aux_names(const Inventory& inv);

// resolve_targets over a RoleSnapshot of now and the inventory's nodes.
std::vector<std::string> resolve_targets_now(const std::vector<std::string>& targets, const Inventory& inv,
                                             ClusterDriver& driver, std::mt19937_64& rng,
                                             TransportPool* pool = nullptr);

}  // namespace haverify
