#pragma once
// `haverify compare`: one scenario against several stacks of the embedded
// lab, one after the other (lab up, N runs, lab down, always), then
// comparison.csv and comparison.txt (reports/comparison.hpp). Or, offline,
// the same comparison from existing results.csv files.
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace haverify {

struct CompareOptions {
  // Lab mode.
  std::string scenario_path;        // one scenario file
  std::vector<std::string> stacks;  // in order; the first is the baseline of the ratios
  std::string profile = "default";
  std::string disk;         // lab up --disk for every stack (empty: the lab's default)
  int n = 5;                // runs per stack
  std::string lab_script;   // default: lab_script_path()
  std::string lab_state;    // default: lab_state_dir(); the inventory is read from there
  bool keep_going = false;  // go on with the next stack after one failed to come up or run
  std::string ledger_path;  // fault ledger (default: the runner's)
  std::chrono::milliseconds fault_deadline{15000};
  std::chrono::milliseconds lab_up_deadline{std::chrono::minutes(20)};
  std::chrono::milliseconds lab_down_deadline{std::chrono::minutes(5)};
  // Offline mode: results.csv files (lab mode when empty).
  std::vector<std::string> from;
  // Both.
  std::uint64_t seed = 0;  // runs' seed and bootstrap seed; 0: from the clock (lab mode) or 1 (--from)
  std::string out_dir;     // default runs/compare/<timestamp>
  int resamples = 10000;   // bootstrap resamples
};

// Returns the exit code (docs/cli.md): 0 every verdict passed, 1 one failed
// (or was unknown), 2 usage or configuration error (nothing was brought up),
// 3 harness failure (a lab did not come up or go down, a run ended in error,
// interrupted).
int run_compare(const CompareOptions& opts);

}  // namespace haverify
