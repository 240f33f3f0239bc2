#include "reports/merge.hpp"

#include <algorithm>
#include <filesystem>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "haverify/core/errors.hpp"
#include "haverify/core/files.hpp"
#include "reports/html_report.hpp"
#include "reports/results.hpp"
#include "reports/results_read.hpp"
#include "reports/summary.hpp"

namespace haverify::reports {

namespace fs = std::filesystem;

std::string suite_results_csv(const std::string& dir) {
  const std::string results = (fs::path(dir) / "results.csv").string();
  std::error_code ec;
  if (!fs::is_regular_file(results, ec))
    throw UsageError(fmt::format("{}: no results.csv: not a suite's output directory", dir));
  return results;
}

SummaryInfo suite_info(const std::string& dir) {
  for (const char* file : {"summary.json", "suite.json"}) {
    const fs::path p = fs::path(dir) / file;
    std::error_code ec;
    if (!fs::is_regular_file(p, ec)) continue;
    const auto j = nlohmann::json::parse(read_input_file(p.string()), nullptr, false);
    if (j.is_object() && j.contains("suite") && j["suite"].is_string())
      return {j["suite"].get<std::string>(), j.value("started", std::string()), dir};
  }
  throw UsageError(
      fmt::format("{}: neither summary.json nor suite.json names the suite: not a haverify suite's "
                  "output directory",
                  dir));
}

MergedSuite merge_suite_dirs(const std::vector<std::string>& dirs, const std::string& out) {
  if (dirs.empty()) throw UsageError("report merge: no suite directory given");
  SummaryInfo info;
  std::map<std::string, std::pair<RunRow, std::string>> by_item;  // run dir name -> row, its shard
  for (const auto& dir : dirs) {
    const std::string results = suite_results_csv(dir);
    const SummaryInfo shard = suite_info(dir);
    if (info.suite.empty()) info = shard;
    if (shard.suite != info.suite)
      throw UsageError(fmt::format("{}: suite '{}', but {} is suite '{}': merge the shards of one suite", dir,
                                   shard.suite, dirs.front(), info.suite));
    if (!shard.started.empty() && (info.started.empty() || shard.started < info.started)) info.started = shard.started;
    for (auto& row : read_results_rows(results).rows) {
      const std::string item = fs::path(row.run_dir).filename().string();
      if (const auto it = by_item.find(item); it != by_item.end())
        throw UsageError(fmt::format("{}: run {} is also in {}: shards of one suite never share a run", dir, item,
                                     it->second.second));
      by_item.emplace(item, std::make_pair(std::move(row), dir));
    }
  }
  std::vector<RunRow> rows;
  MergedSuite m{info.suite};
  for (auto& [item, row_dir] : by_item) {  // NN-<scenario>-r<rep>: the suite's order
    RunRow& r = row_dir.first;
    m.pass += r.verdict == "pass";
    m.fail += r.verdict == "fail";
    m.unknown += r.verdict == "unknown";
    m.error += r.verdict == "error";
    rows.push_back(std::move(r));
  }
  m.rows = rows.size();
  fs::create_directories(out);
  info.out = out;
  write_results_csv((fs::path(out) / "results.csv").string(), rows);
  write_junit_xml((fs::path(out) / "junit.xml").string(), info.suite, rows);
  write_summary_json((fs::path(out) / "summary.json").string(), info, rows);
  write_report_html((fs::path(out) / "report.html").string(), info, rows, dirs);
  return m;
}

}  // namespace haverify::reports
