#pragma once
// ClusterDriver: what only the cluster manager knows (its view of the roles,
// how to bring a failed node back, planned operations). One file per driver
// (driver_generic, driver_pgpool, driver_pacemaker, driver_patroni); direct
// node probes are in probe.hpp, the health rule in health.hpp.
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "haverify/cluster/detect.hpp"
#include "haverify/cluster/probe.hpp"
#include "haverify/cluster/remote.hpp"
#include "haverify/cluster/transport_pool.hpp"
#include "haverify/config/inventory.hpp"
#include "haverify/io/transport.hpp"

namespace haverify {

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
  // Of the standbys (or passive nodes) in `roles` (the caller's roles()),
  // those the manager would not make primary now, node -> why: a node that
  // streams but can never take over is not a working standby. Empty when
  // none is blocked or the driver cannot tell.
  virtual std::map<std::string, std::string> takeover_blockers(const std::vector<NodeStatus>& roles,
                                                               std::chrono::milliseconds deadline) {
    (void)roles;
    (void)deadline;
    return {};
  }
  // Clears what keeps `node` from taking over, the manager's way (Pacemaker:
  // resend the node attributes to the CIB, clean up fail counts).
  virtual void unblock(const std::string& node, std::chrono::milliseconds deadline) {
    (void)node;
    (void)deadline;
  }
  // Brings `node` (powered on) back as a standby of `primary`. Throws on failure.
  virtual void rejoin(const std::string& node, const std::string& primary, std::chrono::milliseconds deadline) = 0;

  // Planned operations (the normal suite). Each throws std::runtime_error
  // saying what failed where when it fails or `deadline` passes.
  //
  // A planned stop of the manager and PostgreSQL on `node`; returns when its
  // PostgreSQL no longer answers, the manager counts it out and, if it was
  // the primary, another node serves (not with the generic driver: nothing
  // promotes a standby there).
  virtual void stop_node(const std::string& node, std::chrono::milliseconds deadline) = 0;
  // Starts `node` again; returns when it is a healthy standby (streaming from
  // the primary; shared disk: online in the manager).
  virtual void start_node(const std::string& node, std::chrono::milliseconds deadline) = 0;
  // Stops every node, the standbys first and the primary last; returns the
  // primary it stopped (start_cluster starts it first).
  virtual std::string stop_cluster(std::chrono::milliseconds deadline) = 0;
  // Starts every node, the last primary first; returns when one node serves
  // as the primary, every other node is a healthy standby and the endpoint
  // is writable. Returns the primary.
  virtual std::string start_cluster(std::chrono::milliseconds deadline) = 0;
  // Re-creates the standby `node` from scratch (its data wiped, a fresh base
  // backup of the primary) while the cluster serves; returns when it is a
  // healthy standby again. Throws on shared disk (no standby data) and for
  // the primary.
  virtual void rebuild(const std::string& node, std::chrono::milliseconds deadline) = 0;
};

// The common base of the drivers that ask the nodes over SSH: it holds the
// inventory and the transport pool, and reads t_detect from the manager's
// log (driver.detect_log / detect_pattern; none if unset).
//
// Planned stops and starts follow the "service" model of the managers that
// run on every node (pacemaker, patroni): driver.stop_command and
// driver.start_command on the node over SSH. The pg_ctl drivers (pgpool,
// generic) override stop_services() and start_cluster().
class NodeDriverBase : public ClusterDriver {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  NodeDriverBase(const Inventory& inv, TransportPool& pool) : inv_(inv), pool_(pool) {}
  std::vector<DetectEvent> detect_events(Nanos since_wall, std::chrono::milliseconds deadline) override;
  // rejoin() to the primary, then a healthy standby (await_standby): Patroni
  // rewinds an old primary itself; the pg_ctl drivers rewind or re-seed.
  void start_node(const std::string& node, std::chrono::milliseconds deadline) override;
  void stop_node(const std::string& node, std::chrono::milliseconds deadline) override;
  std::string stop_cluster(std::chrono::milliseconds deadline) override;
  // Service model: the last primary's services are started first and the
  // others right after it, without waiting for it to serve: Pacemaker in a
  // two-node cluster (Corosync wait_for_all) and Patroni with its DCS on the
  // database nodes need their peers before they promote anything, and both
  // promote only the node with the newest data.
  std::string start_cluster(std::chrono::milliseconds deadline) override;

 protected:
  // The node the manager names primary now; throws if `target` is not in the
  // inventory or the manager names none.
  std::string switchover_source(const std::string& target, time_point until);
  // Waits until the manager names `target` primary, `target` answers as a
  // primary and the endpoint as a writable primary; false with the last
  // reason in `why` if `until` passes first.
  bool await_serving(const std::string& target, time_point until, std::string* why);
  // Waits until the manager names a primary other than `except` and it
  // serves (await_serving); returns it. Throws when `until` passes.
  std::string await_new_primary(const std::string& except, time_point until, const std::string& what);
  // The primary now (current_primary); throws saying `what` needed it if there is none.
  std::string require_primary(const std::string& what);
  // Waits until `node` is a healthy standby: the manager keeps it as a
  // standby and (replicated) it answers in recovery and the primary's
  // pg_stat_replication shows it streaming. Throws when `until` passes.
  void await_standby(const std::string& node, time_point until, const std::string& what);
  // Why `node` is not a healthy standby now ("" if it is), given the
  // manager's view and the primary it names (health.hpp: the manager's half,
  // then, replicated, PostgreSQL's half).
  std::string standby_problem(const std::string& node, const std::vector<NodeStatus>& view, const std::string& primary);
  // Waits until `node`'s PostgreSQL no longer answers (replicated) and, with
  // `ask_manager`, the manager counts it out (down or detached). Throws when `until` passes.
  void await_stopped(const std::string& node, time_point until, bool ask_manager, const std::string& what);
  // Waits until one node serves (manager, probe and endpoint) and every
  // other node is a healthy standby; returns the primary. Throws when `until` passes.
  std::string await_cluster_healthy(time_point until, const std::string& what);
  // Throws unless `node` is in the inventory and not the primary now.
  void require_standby(const std::string& node, time_point until, const std::string& what);
  // The raw planned stop of one node (no waiting for its effects); service
  // model: driver.stop_command.
  virtual void stop_services(const std::string& node, time_point until);
  // Runs `command` on `node` over SSH; throws with its output on failure.
  ExecResult run_service_command(const std::string& node, const std::string& command, time_point until,
                                 const std::string& what);
  // Whether the manager promotes a standby when the primary stops (not the generic driver).
  virtual bool promotes() const { return true; }

  const Inventory& inv_;
  TransportPool& pool_;
  std::string last_primary_;  // the primary stop_cluster() stopped last
};

// What the runner or the CLI decides for the drivers.
struct DriverOptions {
  // lab/scripts/pg-rejoin.sh (the pg_ctl drivers' rejoin and rebuild); the
  // caller decides where it is (run/lab.hpp: rejoin_script_path()).
  std::string rejoin_script;
};

std::unique_ptr<ClusterDriver> make_driver(const Inventory& inv, TransportPool& pool, const DriverOptions& opts);
std::unique_ptr<ClusterDriver> make_generic_driver(const Inventory& inv, TransportPool& pool,
                                                   const std::string& rejoin_script);
std::unique_ptr<ClusterDriver> make_pgpool_driver(const Inventory& inv, TransportPool& pool,
                                                  const std::string& rejoin_script);
std::unique_ptr<ClusterDriver> make_pacemaker_driver(const Inventory& inv, TransportPool& pool);
std::unique_ptr<ClusterDriver> make_patroni_driver(const Inventory& inv, TransportPool& pool);

// `crm_simulate -Ls` output -> node -> why, for each of `candidates` whose
// score is -INFINITY: the promotion score of `resource`'s instances
// ("pgsql:1 promotion score on node2: -INFINITY") when `promotable`, else
// the allocation score of `resource` itself (a group that moves). A node
// without a score line is not reported (its instance is not running).
std::map<std::string, std::string> pacemaker_takeover_blockers(const std::string& scores, const std::string& resource,
                                                               bool promotable,
                                                               const std::vector<std::string>& candidates);

}  // namespace haverify
