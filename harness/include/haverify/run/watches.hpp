#pragma once
// What the runner notes from the History as the ops stream by (it keeps no
// ops to look them up afterwards).
#include <atomic>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

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

// Nodes recover() had to unblock (the manager would not have promoted them):
// named in the row's reason, since the run only passed because of it.
class UnblockWatch final : public HistorySink {
 public:
  void on_op(const Op& op) override;
  std::string note() const;  // "recover unblocked node2 (why)", or ""

 private:
  mutable std::mutex mu_;
  std::vector<std::string> notes_;
};

// When the manager noticed the fault (t_detect), from its logs: each event
// after the first injection goes into the History as {driver, detect}, with
// its own (earlier) time. At most 20; a driver that cannot read its logs is
// logged, not an error.
void record_detect_events(ClusterDriver& driver, History& history, Nanos inject_wall_ns);

}  // namespace haverify
