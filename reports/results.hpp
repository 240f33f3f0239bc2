#pragma once
// Run results and the files written from them: results.csv (one row per
// run), events.csv (the timeline), junit.xml (one testcase per run) and the
// summary table printed at the end. Column meanings: docs/metrics.md.
#include <optional>
#include <string>
#include <vector>

#include "haverify/check/checkers.hpp"
#include "haverify/check/metrics.hpp"
#include "haverify/core/history.hpp"

namespace haverify::reports {

struct RunRow {
  std::string scenario;
  std::string kind;  // single-fault, ...
  std::string stack;
  std::string profile;
  std::string disk;    // the inventory's `disk` (the lab disk profile), empty if not said
  std::string fault;   // fault kind of the first inject
  std::string target;  // as written (role or node) -> resolved node(s)
  std::uint64_t seed = 0;
  int repetition = 1;
  std::string run_dir;
  RunMetrics metrics;
  std::vector<CheckerVerdict> checkers;
  std::string verdict;  // pass | fail | unknown | error
  std::string reason;
  std::string started;  // ISO 8601 UTC, when the run began (empty: not known, a row kept from an older run)
  double duration_s = 0;
  // The row's results.csv fields as read back by `haverify run --resume`
  // (read_results_rows): when set, results_fields returns them unchanged, so
  // a kept row is written again byte for byte.
  std::vector<std::string> recorded;
};

// results.csv's columns in order, each with what its values are: a count
// (integer), a measure (seconds, ms, MB/h) or text. summary.json types by it.
enum class ColumnType { kText, kCount, kMeasure };
struct ResultsColumn {
  std::string name;
  ColumnType type;
};
const std::vector<ResultsColumn>& results_columns();
const std::vector<std::string>& results_header();
std::vector<std::string> results_fields(const RunRow& row);
// Written whole (write_file_atomic): a crash leaves the previous rows or the
// new ones, never a torn row. A line break inside a field becomes a space
// (one record per line, as the CSV readers take it).
void write_results_csv(const std::string& path, const std::vector<RunRow>& rows);
// checkers.txt: every checker's verdict with all its reasons (a passing
// checker's too: what it saw, e.g. which node took the writes), then its
// figures, one "  name = value" line each. Throws std::runtime_error.
void write_checkers_txt(const std::string& path, const std::vector<CheckerVerdict>& checkers);

// operations.csv: one row per planned operation (cluster step): op, node,
// start, t_rel_s, duration_s, stall_s, outcome (ok|fail|skipped|unfinished), detail.
void write_operations_csv(const std::string& path, const std::vector<OperationRecord>& ops, Nanos run_start_mono);

// The timeline of steps, faults and role changes (clients' individual writes
// are left out; they are in history.jsonl).
void write_events_csv(const std::string& path, const std::vector<Op>& history, Nanos run_start_mono);
// Every op, one JSON object per line.
void write_history_jsonl(const std::string& path, const std::vector<Op>& history);

// A run the suite did not make (--stop-after-fail skipped its remaining
// repetitions): a skipped testcase in junit.xml.
struct SkippedRun {
  std::string scenario, kind, stack;
  int repetition = 1;
  std::string why;
};

// junit.xml, written whole (as results.csv): one <testsuite> per run (its
// timestamp, time and <properties>: stack, profile, disk, seed, fault,
// target, the figures, each checker's status), holding one <testcase> with
// <failure>, <error> or <skipped> and a <system-out> of the row and
// [[ATTACHMENT|path]] lines. Valid per docs/junit.xsd (the Jenkins xUnit
// plugin's junit-10 rules), docs/metrics.md "junit.xml".
void write_junit_xml(const std::string& path, const std::string& suite, const std::vector<RunRow>& rows,
                     const std::vector<SkippedRun>& skipped = {});
std::string xml_escape(const std::string& s);

std::string summary_table(const std::vector<RunRow>& rows);

}  // namespace haverify::reports
