#pragma once
// The Runner: one run = one scenario repetition with a seed, against one
// inventory. It starts probes and workloads, injects and heals faults, reads
// the final state, computes metrics and verdicts and writes the reports.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "haverify/inventory.hpp"
#include "haverify/scenario.hpp"
#include "reports/results.hpp"

namespace haverify {

// Exit codes (documented in docs/cli.md).
enum ExitCode { kExitPass = 0, kExitVerdictFailed = 1, kExitUsage = 2, kExitHarness = 3 };

struct RunOptions {
  std::string inventory_path;
  std::vector<std::string> scenario_paths;  // files or directories (all *.yaml inside)
  std::uint64_t seed = 0;                   // 0: derived from the clock, and recorded
  std::string out_dir;                      // default runs/<suite>/<timestamp>
  std::string ledger_path;
  int repeat = 0;                // >0 overrides every scenario's repeat
  bool stop_after_fail = false;  // stop repeating a scenario at its first failed verdict
  // --duration: the length of every `soak` step (scenarios without one are
  // not changed; an error if no scenario has one).
  std::optional<std::chrono::milliseconds> duration;
  std::chrono::milliseconds fault_deadline{15000};
  std::chrono::milliseconds probe_interval{50};
  std::chrono::milliseconds probe_deadline{500};
  std::chrono::milliseconds ssh_check_deadline{5000};
};

// Expands directories to their *.yaml / *.yml files (sorted).
std::vector<std::string> expand_scenario_paths(const std::vector<std::string>& paths);

// Connects to every node over SSH (host keys verified) and PostgreSQL and
// returns one line per problem; empty means the inventory is usable.
std::vector<std::string> check_inventory(const Inventory& inv, std::chrono::milliseconds deadline);

// Runs everything; prints progress and the summary table; returns the exit code.
int run_suite(const RunOptions& opts);

}  // namespace haverify
