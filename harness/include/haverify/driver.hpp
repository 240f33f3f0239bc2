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
#include "haverify/transport.hpp"

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

// A moment the cluster manager noticed something (t_detect), read from its logs.
struct DetectEvent {
  Nanos wall_ns = 0;
  std::string node;  // the node whose log says so
  std::string what;  // the log line
};

// The wall time of a log line's leading timestamp: ISO ("2026-11-21
// 12:00:00,123" or "...T12:00:00.123") or syslog ("Nov 21 12:00:00.123",
// year taken from `reference_wall`, the closest year that is not in the
// future). Local time, as daemons log. nullopt if the line has none.
std::optional<Nanos> parse_log_time(const std::string& line, Nanos reference_wall);

class ClusterDriver {
 public:
  virtual ~ClusterDriver() = default;
  // false for shared disk: the passive node runs no PostgreSQL (healthy =
  // online in the manager, not streaming).
  virtual bool replicated() const { return true; }
  // A planned switchover to `target`; returns when `target` is the primary
  // the manager routes clients to. The old primary may be left for rejoin().
  virtual void switchover(const std::string& target, std::chrono::milliseconds deadline);
  // When the manager noticed failures after `since_wall` (its logs). Empty if
  // this manager cannot tell.
  virtual std::vector<DetectEvent> detect_events(Nanos since_wall, std::chrono::milliseconds deadline);
  virtual std::string name() const = 0;
  // The manager's view of every node's role.
  virtual std::vector<NodeStatus> roles(std::chrono::milliseconds deadline) = 0;
  // A human-readable status snapshot (saved with each run).
  virtual std::string status_text(std::chrono::milliseconds deadline) = 0;
  // Brings `node` (powered on) back as a standby of `primary`. Throws on failure.
  virtual void rejoin(const std::string& node, const std::string& primary, std::chrono::milliseconds deadline) = 0;
};

// The common base of the drivers that ask the nodes over SSH: it holds the
// inventory and the transport pool, and reads t_detect from the manager's
// log (driver.detect_log / detect_pattern; none if unset).
class NodeDriverBase : public ClusterDriver {
 public:
  NodeDriverBase(const Inventory& inv, faults::TransportPool& pool) : inv_(inv), pool_(pool) {}
  std::vector<DetectEvent> detect_events(Nanos since_wall, std::chrono::milliseconds deadline) override;

 protected:
  // The node the manager names primary now; throws if `target` is not in the
  // inventory or the manager names none.
  std::string switchover_source(const std::string& target, std::chrono::steady_clock::time_point until);
  // Waits until the manager names `target` primary, `target` answers as a
  // primary and the endpoint as a writable primary; false with the last
  // reason in `why` if `until` passes first.
  bool await_serving(const std::string& target, std::chrono::steady_clock::time_point until, std::string* why);

  const Inventory& inv_;
  faults::TransportPool& pool_;
};

// What is left until `until`, at least 1 ms (a deadline for the next call).
std::chrono::milliseconds time_left(std::chrono::steady_clock::time_point until);

std::unique_ptr<ClusterDriver> make_driver(const Inventory& inv, faults::TransportPool& pool);
std::unique_ptr<ClusterDriver> make_pacemaker_driver(const Inventory& inv, faults::TransportPool& pool);
std::unique_ptr<ClusterDriver> make_patroni_driver(const Inventory& inv, faults::TransportPool& pool);

// Helpers the drivers share. Each asks the nodes in inventory order and
// returns the first successful answer; `errors` collects the others.
// The service endpoint answers as a writable primary (a switchover is done when it does).
bool endpoint_is_primary(const Inventory& inv, std::chrono::milliseconds deadline, std::string* why);
ExecResult run_on_first_node(const Inventory& inv, faults::TransportPool& pool, const std::string& command,
                             std::chrono::milliseconds deadline, std::string* errors);
// Runs `script` (a local file) on `node` with `bash -s -- ARGS` over SSH; throws with its output on failure.
void run_script_over_ssh(faults::TransportPool& pool, const std::string& node, const std::string& script_path,
                         const std::vector<std::string>& args, std::chrono::milliseconds deadline,
                         const std::string& what);
// Greps `log` on every node for `pattern` (extended regex) and returns the
// matching lines stamped at or after `since_wall`, earliest first.
std::vector<DetectEvent> detect_from_logs(const Inventory& inv, faults::TransportPool& pool, const std::string& log,
                                          const std::string& pattern, Nanos since_wall,
                                          std::chrono::milliseconds deadline);

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
