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
// With a pgpool watchdog (inventory driver.watchdog), each watchdog node is
// also asked every `vip_interval` over its own SSH session whether it holds
// the delegate IP (cluster/vip.hpp) within `vip_deadline` (the session is
// opened first, within the same deadline), recorded when the answer changes:
//  {process: probe, f: vip, node, ok, value held|free} or {fail, "", error}
// when the node stops answering.
class RoleProber {
 public:
  RoleProber(const Inventory& inv, History& history, std::chrono::milliseconds interval,
             std::chrono::milliseconds deadline,
             std::chrono::milliseconds vip_interval = std::chrono::milliseconds(200),
             std::chrono::milliseconds vip_deadline = std::chrono::milliseconds(2000));
  ~RoleProber();
  void start();
  void stop();

 private:
  void loop(const NodeSpec& node);
  void vip_loop(const NodeSpec& node);
  // Sleeps until `next` or stop().
  void sleep_until(std::chrono::steady_clock::time_point next) const;
  const Inventory& inv_;
  History& history_;
  std::chrono::milliseconds interval_, deadline_, vip_interval_, vip_deadline_;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

}  // namespace haverify
