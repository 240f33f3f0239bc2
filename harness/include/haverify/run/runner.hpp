#pragma once
// The Runner's entry point: a suite of runs (suite.cpp: order, shards, plan
// rows, exit code). One run = one scenario repetition with a seed, against
// one inventory (session.cpp): it starts probes and workloads, runs the
// steps (steps.cpp), heals, reads the final state, computes metrics and
// verdicts and writes the reports.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "haverify/config/inventory.hpp"
#include "haverify/config/scenario.hpp"
#include "haverify/core/errors.hpp"
#include "haverify/run/preflight.hpp"
#include "haverify/run/suite.hpp"
#include "reports/results.hpp"

namespace haverify {

// The exit codes of core/errors.hpp as ints (docs/cli.md).
inline constexpr int kExitPass = exit_code(ExitStatus::pass);
inline constexpr int kExitVerdictFailed = exit_code(ExitStatus::verdict_failed);
inline constexpr int kExitUsage = exit_code(ExitStatus::usage);
inline constexpr int kExitHarness = exit_code(ExitStatus::harness);

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
  // The live progress of each run (run/progress.hpp): "auto" (a line redrawn
  // in place on a terminal, else a plain line every progress_every), "plain"
  // or "off".
  std::string progress = "auto";
  // The log bundle of a run (run_dir/logs, cluster/log_bundle.hpp): "failed"
  // (a run that did not pass), "always" or "never"; and its deadline.
  std::string collect_logs = "failed";
  std::chrono::milliseconds collect_deadline{60000};
  std::chrono::milliseconds progress_every{10000};
  std::chrono::milliseconds probe_interval{50};
  std::chrono::milliseconds probe_deadline{500};
  // With a pgpool watchdog: how often each pgpool node is asked whether it
  // holds the delegate IP (one SSH exec each; vip_s, single_vip).
  std::chrono::milliseconds vip_probe_interval{200};
  std::chrono::milliseconds vip_probe_deadline{2000};
  std::chrono::milliseconds ssh_check_deadline{5000};
  // The ledger's and the bank's tables at setup (connect and CREATE).
  std::chrono::milliseconds workload_setup_deadline{10000};
  // A plan sheet to run instead of scenario_paths; written back with the
  // results (to plan_out if set).
  std::string plan_path;
  std::string plan_out;
  // The pg_ctl drivers' rejoin script; empty: rejoin_script_for(inventory).
  std::string rejoin_script;
  // A cluster unhealthy before a run's steps is repaired (power-on, rejoin,
  // unblock) and the run goes on; without it the run fails with what was
  // unhealthy (haverify waits setup_timeout for health, touching nothing).
  bool repair_at_setup = false;
  bool shuffle = false;  // order the runs with the seed
  int shard_index = 1;   // --shard i/n: run the items at positions p with p % n == i - 1
  int shard_count = 1;
  // --resume DIR: finish the suite whose output directory DIR is, with the
  // options recorded in DIR/suite.json (every other option is ignored).
  std::string resume_dir;
};

// Runs everything; prints progress and the summary table; returns the exit
// code. `rows`, if given, receives every run's row (also on an early stop).
// With `resume_dir`: the rows already complete in DIR/results.csv are kept,
// the other runs are run (a directory a killed run left is moved to
// DIR/interrupted/), and results.csv, junit.xml and the plan sheet are
// written from all the rows; exit 2 if DIR/suite.json is missing or the fault
// ledger still lists faults (`haverify heal` first).
int run_suite(const RunOptions& opts, std::vector<reports::RunRow>* rows = nullptr);

// The exit code for runs with these verdicts: kExitHarness if one is
// `error`, kExitVerdictFailed if one is `fail` or `unknown`, else kExitPass.
int exit_code_for_verdicts(const std::vector<std::string>& verdicts);

}  // namespace haverify
