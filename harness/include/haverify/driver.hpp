#pragma once
// ClusterDriver: what only the cluster manager knows (its view of the roles,
// how to bring a failed node back). Direct node probes live beside it.
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "haverify/history.hpp"
#include "haverify/inventory.hpp"
#include "haverify/pg.hpp"

namespace haverify {

namespace faults {
class TransportPool;
}

enum class Role { primary, standby, down, unknown };
const char* to_string(Role r);

struct NodeStatus {
  std::string node;
  Role role = Role::unknown;
  bool attached = true;  // the manager routes clients to / keeps this node
  std::string detail;
};

// Direct probe of one node: connect over its postgres address and ask
// pg_is_in_recovery(). `down` when it does not answer within `deadline`.
NodeStatus probe_node(const NodeSpec& node, std::chrono::milliseconds deadline);
std::vector<NodeStatus> probe_all(const Inventory& inv, std::chrono::milliseconds deadline);
PgTarget node_target(const NodeSpec& node);
PgTarget endpoint_target(const Inventory& inv);

class ClusterDriver {
 public:
  virtual ~ClusterDriver() = default;
  virtual std::string name() const = 0;
  // The manager's view of every node's role.
  virtual std::vector<NodeStatus> roles(std::chrono::milliseconds deadline) = 0;
  // A human-readable status snapshot (saved with each run).
  virtual std::string status_text(std::chrono::milliseconds deadline) = 0;
  // Brings `node` (powered on) back as a standby of `primary`. Throws on failure.
  virtual void rejoin(const std::string& node, const std::string& primary, std::chrono::milliseconds deadline) = 0;
};

std::unique_ptr<ClusterDriver> make_driver(const Inventory& inv, faults::TransportPool& pool);

// Samples every node every `interval` on its own connection (over the
// node's postgres address, the management LAN in the lab) and records:
//  - each sample: {process: probe, f: state, node, type ok with value
//    {"in_recovery":b,"timeline":n,"lsn":"x/y","writable":b}, or type fail};
//    writable = it answered, is not in recovery and is not read-only (the
//    probe never writes: see driver.cpp);
//  - each role change: {process: probe, f: role, value: primary|standby|down}.
// One row: pg_is_in_recovery() (t|f), the timeline the node is on (a
// primary's insert timeline, a standby's received timeline), its LSN, and
// transaction_read_only (on|off).
extern const char* const kNodeStateSql;

class RoleProber {
 public:
  RoleProber(const Inventory& inv, History& history, std::chrono::milliseconds interval,
             std::chrono::milliseconds deadline);
  ~RoleProber();
  void start();
  void stop();

 private:
  void loop(const NodeSpec& node);
  const Inventory& inv_;
  History& history_;
  std::chrono::milliseconds interval_, deadline_;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

}  // namespace haverify
