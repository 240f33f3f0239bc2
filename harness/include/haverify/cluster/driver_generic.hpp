#pragma once
// The pg_ctl drivers' common base (generic; pgpool builds on it).
#include <string>

#include "haverify/cluster/driver.hpp"

namespace haverify {

// The pg_ctl drivers: a planned stop is `pg_ctl stop -m fast` and a start
// makes the node a standby of the primary again with the rejoin script
// (lab/scripts/pg-rejoin.sh: pg_rewind, which is a no-op for a cleanly
// stopped standby on the primary's timeline, else a fresh base backup; then
// standby.signal, primary_conninfo pointing at the primary of now, start,
// wait for streaming). A plain `pg_ctl start` would follow whatever primary
// the node had before, which a switchover in between may have changed.
class GenericDriver : public NodeDriverBase {
 public:
  GenericDriver(const Inventory& inv, TransportPool& pool, std::string rejoin_script)
      : NodeDriverBase(inv, pool), rejoin_script_(std::move(rejoin_script)) {}
  std::string name() const override { return "generic"; }
  std::vector<NodeStatus> roles(std::chrono::milliseconds deadline) override { return probe_all(inv_, deadline); }
  std::string status_text(std::chrono::milliseconds deadline) override;
  void rejoin(const std::string& node, const std::string& primary, std::chrono::milliseconds deadline) override;
  void rebuild(const std::string& node, std::chrono::milliseconds deadline) override;
  // The last primary first (pg_ctl start; it serves alone), then every other
  // node as its standby.
  std::string start_cluster(std::chrono::milliseconds deadline) override;

 protected:
  bool promotes() const override { return false; }
  // pgpool: give the node back to pgpool (no-op here).
  virtual void attach(const std::string&, time_point) {}
  void stop_services(const std::string& node, time_point until) override;
  void pg_ctl_start(const std::string& node, time_point until);
  // After a whole-cluster stop in another process: the one node whose data
  // directory has no standby.signal was the primary.
  std::string stopped_primary(time_point until);
  // The rejoin script on `node`: a standby of `primary` (over its
  // replication address), by pg_rewind with a base-backup fallback (mode
  // rewind) or by a fresh base backup (mode basebackup).
  void run_pg_rejoin(const std::string& node, const std::string& primary, const std::string& mode, time_point until);

 private:
  std::string rejoin_script_;
};

}  // namespace haverify
