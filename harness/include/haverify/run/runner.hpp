#pragma once
// The Runner: one run = one scenario repetition with a seed, against one
// inventory. It starts probes and workloads, injects and heals faults, reads
// the final state, computes metrics and verdicts and writes the reports.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "haverify/config/inventory.hpp"
#include "haverify/config/scenario.hpp"
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
  // A plan sheet to run instead of scenario_paths; written back with the
  // results (to plan_out if set).
  std::string plan_path;
  std::string plan_out;
  bool shuffle = false;  // order the runs with the seed
  int shard_index = 1;   // --shard i/n: run the items at positions p with p % n == i - 1
  int shard_count = 1;
};

// "i/n" with 1 <= i <= n; nullopt (and *error) otherwise.
std::optional<std::pair<int, int>> parse_shard(const std::string& text, std::string* error);

// The order of a suite's `count` items: identity, or with `shuffle` a
// Fisher-Yates shuffle driven by std::mt19937_64(seed) (reproducible on any
// platform: index = rng() % (i + 1)).
std::vector<std::size_t> seeded_order(std::size_t count, std::uint64_t seed, bool shuffle);

// Whether the item at `position` (in the seeded order) belongs to shard
// `index` of `count`: position % count == index - 1. The shards partition the
// items: every item is in exactly one shard.
bool in_shard(std::size_t position, int index, int count);

// Expands directories to their *.yaml / *.yml files (sorted per directory;
// with `recursive`, in its sub-directories too).
std::vector<std::string> expand_scenario_paths(const std::vector<std::string>& paths, bool recursive = false);

// Connects to every node over SSH (host keys verified) and PostgreSQL and
// returns one line per problem; empty means the inventory is usable.
std::vector<std::string> check_inventory(const Inventory& inv, std::chrono::milliseconds deadline);

// Why no run may start while the fault ledger (its default path if empty)
// lists unhealed faults; empty when it lists none.
std::string unhealed_faults_problem(const std::string& ledger_path);

// Runs everything; prints progress and the summary table; returns the exit
// code. `rows`, if given, receives every run's row (also on an early stop).
int run_suite(const RunOptions& opts, std::vector<reports::RunRow>* rows = nullptr);

// The exit code for runs with these verdicts: kExitHarness if one is
// `error`, kExitVerdictFailed if one is `fail` or `unknown`, else kExitPass.
ExitCode exit_code_for_verdicts(const std::vector<std::string>& verdicts);

}  // namespace haverify
