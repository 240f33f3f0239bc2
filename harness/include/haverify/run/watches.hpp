#pragma once
// What the runner notes from the History as the ops stream by (it keeps no
// ops to look them up afterwards).
#include <atomic>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "haverify/check/checker.hpp"
#include "haverify/cluster/driver.hpp"
#include "haverify/core/history.hpp"

namespace haverify {

// Whether a write invoked after a marker was acknowledged (await_writes).
class AckWatch {
 public:
  void on_op(const Op& op);
  void arm(Nanos marker);
  bool resumed() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, Nanos> invoked_;
  Nanos marker_ = 0;
  bool resumed_ = false;
};

// The wall time of the first nemesis inject op (in History order).
class FirstInjectWatch final : public HistorySink {
 public:
  void on_op(const Op& op) override;
  std::optional<Nanos> wall() const;

 private:
  static constexpr Nanos kNone = std::numeric_limits<Nanos>::min();
  std::atomic<Nanos> wall_{kNone};
};

// What haverify had to repair (issue 13, "interventions are findings"):
// recover's rejoin of a node the scenario did not touch (no fault, exec or
// planned operation named it, and no failover deposed it) and the unblock of
// a standby the manager would not promote that nothing rejoined (clearing a
// rejoined node's fail counts is part of its rejoin). At setup (--repair-at-setup)
// every power-on, rejoin and unblock. Power-ons and rejoins of what the
// scenario broke are not repairs.
class RepairWatch final : public HistorySink {
 public:
  void on_op(const Op& op) override;
  struct Repairs {
    std::vector<std::string> needed;    // in recover steps: findings
    std::vector<std::string> allowed;   // in recover: {repair: allowed} steps
    std::vector<std::string> at_setup;  // before the steps, with --repair-at-setup
  };
  Repairs repairs() const;

 private:
  void repair(const Op& op, std::string what);
  mutable std::mutex mu_;
  bool in_setup_ = false, allowed_ = false;
  std::set<std::string> touched_;
  std::set<std::string> rejoined_;           // rejoined in this run (recover or a planned rejoin/rebuild)
  std::map<std::string, std::string> role_;  // node -> its last probed role
  Repairs r_;
};

// The repairs as a verdict: none -> nullopt; needed -> `repairs` fail
// ("needed repair: ..."); only allowed ones -> pass with them as the reason.
std::optional<CheckerVerdict> repairs_verdict(const RepairWatch::Repairs& r);

// When the manager noticed the fault (t_detect), from its logs: each event
// after the first injection goes into the History as {driver, detect}, with
// its own (earlier) time. At most 20; a driver that cannot read its logs is
// logged, not an error.
void record_detect_events(ClusterDriver& driver, History& history, Nanos inject_wall_ns);

}  // namespace haverify
