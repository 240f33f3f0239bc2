#pragma once
// What a suite needs to be resumed after a crash of haverify (`haverify run
// --resume DIR`, docs/cli.md "Resuming a suite after a crash"): its options,
// its items with their run directories, and (with --plan) a copy of the plan
// sheet as it was read. Written whole (write_file_atomic) as DIR/suite.json
// before the suite's first run.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "haverify/run/runner.hpp"

namespace haverify {

inline constexpr const char* kSuiteManifestFile = "suite.json";
inline constexpr const char* kSuitePlanCopyFile = "suite-plan.csv";
inline constexpr const char* kInterruptedDir = "interrupted";

// One run of the suite: a scenario repetition, maybe a plan row.
struct SuiteItem {
  std::size_t scenario = 0;  // index into the suite's scenarios (= plan row)
  int repetition = 1;
  std::size_t position = 0;  // in the seeded order; the run's seed is seed + position
  std::string name;          // the scenario's name
  std::string dir;           // the run directory: <out>/<NN>-<name>-r<repetition>
};

struct SuiteManifest {
  std::string dir;  // where it was read from (not stored)
  std::string cwd;  // haverify's working directory: the paths below are relative to it
  std::string suite, out;
  std::string started;  // ISO 8601 UTC; written as now when empty
  std::uint64_t seed = 0;
  // The options as the suite ran with them: seed resolved, ledger_path
  // resolved (absolute), plan_out resolved (the sheet the results go to).
  RunOptions options;
  std::string plan_base;  // the original sheet's folder (its scenario files are relative to it)
  std::vector<SuiteItem> items;
};

// Writes `m` to <m.out>/suite.json whole. Throws std::runtime_error.
void write_suite_manifest(const SuiteManifest& m);

// Reads <dir>/suite.json. Throws UsageError (exit 2) naming the file: a
// missing directory or manifest (the suite was not started by `haverify run`,
// or was killed before its first run), or a manifest that does not parse.
SuiteManifest read_suite_manifest(const std::string& dir);

// Empty when the suite computes the same items as the manifest lists, else
// what differs (a scenario file or the sheet changed since the suite started).
std::string items_mismatch(const std::vector<SuiteItem>& recorded, const std::vector<SuiteItem>& now);

// `run --resume DIR`: reads the manifest, enters haverify's working
// directory of then (relative paths in it and in results.csv stay true) and
// checks the fault ledger. nullopt (after saying why on stderr) for exit 2:
// no manifest, DIR is not the directory the manifest names, or the ledger
// still lists faults (`haverify heal` first).
std::optional<SuiteManifest> prepare_resume(const std::string& dir);

// Moves a run directory left by a killed run to <out>/interrupted/<name>
// (<name>.2, .3, ... if taken); returns where it went.
std::string move_aside(const std::string& out, const std::string& run_dir);

}  // namespace haverify
