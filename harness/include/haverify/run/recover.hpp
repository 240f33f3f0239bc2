#pragma once
// Bringing the cluster back to health before and during a run (preflight
// and `recover` steps), judged by the health rule (cluster/health.hpp).
#include <chrono>

#include "haverify/cluster/driver.hpp"
#include "haverify/config/inventory.hpp"
#include "haverify/core/history.hpp"

namespace haverify {

// Brings the cluster back to health: power on what is off, then rejoin every
// node that is not a healthy standby (down, detached, or a second primary
// left by a split brain) as a standby of the true primary, then wait for
// health. A node is rejoined again only if it is still unhealthy after a
// grace period. Done once the cluster has stayed healthy for `settle` (or is
// healthy when `timeout` passes). Throws HarnessFailure when `timeout` passes
// with the cluster unhealthy, or on a cancel.
void recover(const Inventory& inv, ClusterDriver& driver, TransportPool& pool, History& history,
             std::chrono::milliseconds timeout, std::chrono::milliseconds settle = std::chrono::milliseconds(0));

// recover() unless the cluster is healthy now.
void wait_healthy(const Inventory& inv, ClusterDriver& driver, TransportPool& pool, History& history,
                  std::chrono::milliseconds timeout);

}  // namespace haverify
