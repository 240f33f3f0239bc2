#pragma once
// Merging the output directories of a sharded suite (`run --shard K/N` on
// several machines or CI jobs) into one: `haverify report merge -o OUT DIR...`.
#include <string>
#include <vector>

#include "reports/summary.hpp"

namespace haverify::reports {

struct MergedSuite {
  std::string suite;  // the shards' suite name (they must agree)
  std::size_t rows = 0;
  std::size_t pass = 0, fail = 0, unknown = 0, error = 0;
};

// DIR/results.csv; throws UsageError naming DIR when there is none (not a
// suite's output directory).
std::string suite_results_csv(const std::string& dir);

// The suite's name and start from DIR's summary.json, else its suite.json
// (`out` = DIR). Throws UsageError naming DIR when neither names the suite.
SummaryInfo suite_info(const std::string& dir);

// Reads each DIR's results.csv (its complete rows, as `run --resume` does)
// and summary.json (the suite's name and start), orders the runs by their
// place in the whole suite (run directories are NN-<scenario>-r<rep>), and
// writes OUT/results.csv, OUT/junit.xml, OUT/summary.json and OUT/report.html, each run once
// (its run.json read from its own run directory, which stays where it is).
// Throws UsageError naming the directory for: a directory without
// results.csv, shards of different suites, the same run in two shards.
MergedSuite merge_suite_dirs(const std::vector<std::string>& dirs, const std::string& out);

}  // namespace haverify::reports
