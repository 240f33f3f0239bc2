#pragma once
// RoleProber: samples every node's state into the History while a run goes on.
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "haverify/cluster/probe.hpp"
#include "haverify/config/inventory.hpp"
#include "haverify/core/history.hpp"

namespace haverify {

// Samples every node every `interval` on its own connection (over the
// node's postgres address, the management LAN in the lab) and records:
//  - each sample: {process: probe, f: state, node, type ok with value
//    {"in_recovery":b,"timeline":n,"lsn":"x/y","writable":b,"instance":n}, or
//    type fail} (instance: see kNodeStateSql);
//    writable = it answered, is not in recovery and is not read-only (the
//    probe never writes: see probe.cpp);
//  - each role change: {process: probe, f: role, value: primary|standby|down}.
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
