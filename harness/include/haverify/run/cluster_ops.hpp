#pragma once
// The `cluster:` steps of one run: the planned operations through the
// cluster driver, each recorded as {process: driver, f: <op>} invoke, then
// ok or fail with "<node(s)>; <ms> ms" (or one info op when skipped), and
// what they left stopped, started again at the end of the run.
#include <chrono>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "haverify/cluster/driver.hpp"
#include "haverify/config/inventory.hpp"
#include "haverify/config/scenario.hpp"
#include "haverify/core/history.hpp"

namespace haverify {

class ClusterOps {
 public:
  ClusterOps(const Inventory& inv, ClusterDriver& driver, History& history)
      : inv_(inv), driver_(driver), history_(history) {}

  // The primary when the steps begin (`original_primary`).
  void capture_original_primary();

  // Runs one step; returns the reason when it is skipped. Throws
  // HarnessFailure with the driver's message when the operation fails.
  std::optional<std::string> run(const ClusterStepSpec& c, std::mt19937_64& rng);

  // Starts again what the run stopped (the cluster, or nodes stop_node
  // stopped and no later step started): like a heal, on every path. Error texts.
  std::vector<std::string> restore(std::chrono::milliseconds deadline);

  // The skipped operations, "rebuild (shared_disk)".
  const std::vector<std::string>& skipped() const { return skipped_; }

 private:
  std::optional<std::string> skip_reason(const ClusterStepSpec& c) const;
  // The node word of a step (a name, a role, original_primary,
  // previous_primary, stopped) -> a node.
  std::string resolve(const std::string& word, std::mt19937_64& rng);
  // Carries out the operation on `node`; returns what the ok op says was done.
  std::string perform(const ClusterStepSpec& c, const std::string& node);

  const Inventory& inv_;
  ClusterDriver& driver_;
  History& history_;
  std::string original_, stopped_, previous_;  // previous_: the primary when the last switchover began
  std::set<std::string> down_;
  bool cluster_stopped_ = false;
  std::vector<std::string> skipped_;
};

// How long the end-of-run restore may take: the longest cluster step
// timeout, at least 60 s.
std::chrono::milliseconds restore_deadline(const Scenario& sc);

}  // namespace haverify
