#pragma once
// Bringing the cluster back to health before and during a run (preflight
// and `recover` steps), judged by the health rule (cluster/health.hpp).
#include <chrono>
#include <string>
#include <string_view>

#include "haverify/cluster/driver.hpp"
#include "haverify/config/inventory.hpp"
#include "haverify/core/history.hpp"

namespace haverify {

// What recover may do to the cluster (docs/scenarios.md, `recover`).
enum class RepairMode {
  wait_only,  // setup without --repair-at-setup: wait for health, touch nothing
  findings,   // a recover step: repair, and each repair is a finding (RepairWatch)
  allowed,    // recover: {repair: allowed}, or setup with --repair-at-setup
};

// In the `recover` op's value when recover may repair without a finding
// (RepairWatch reads it).
inline constexpr std::string_view kRepairAllowedMark = "repair: allowed";

struct RecoverOptions {
  std::chrono::milliseconds timeout{120000};
  std::chrono::milliseconds settle{0};  // health must hold this long
  RepairMode mode = RepairMode::findings;
  std::string context;  // "setup" or "" (a recover step): in the recover op's value
};

// Brings the cluster back to health: power on what is off, then rejoin every
// node that is not a healthy standby (down, detached, or a second primary
// left by a split brain) as a standby of the true primary, then wait for
// health. A node is rejoined again only if it is still unhealthy after a
// grace period. Done once the cluster has stayed healthy for `settle` (or is
// healthy when `timeout` passes). In wait_only mode it only waits. The
// `recover` op's value says the mode: "setup", "repair: allowed", "wait only".
// Throws ClusterDefect when `timeout` passes with the cluster unhealthy,
// HarnessFailure on a cancel or a failed power-on.
void recover(const Inventory& inv, ClusterDriver& driver, TransportPool& pool, History& history,
             const RecoverOptions& options);

// recover() unless the cluster is healthy now.
void wait_healthy(const Inventory& inv, ClusterDriver& driver, TransportPool& pool, History& history,
                  const RecoverOptions& options);

}  // namespace haverify
