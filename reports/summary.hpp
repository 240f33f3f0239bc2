#pragma once
// summary.json (one per suite) and run.json (one per run directory): every
// row of results.csv with typed values, and each checker's verdict, reasons
// and figures. The schema: docs/summary.schema.json, described in
// docs/summary-json.md. A row kept by `run --resume` (RunRow::recorded) has
// no checker verdicts in memory: its run.json is read back from its run
// directory, else it carries its results.csv fields only ("checkers": null).
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "reports/results.hpp"

namespace haverify::reports {

inline constexpr int kSummaryFormat = 1;

// results.csv's fields by column name, typed: counts as integers, seconds and
// milliseconds as numbers, the rest as strings; an empty field is null.
nlohmann::json typed_row(const std::vector<std::string>& header, const std::vector<std::string>& fields);

// {"started", "row": typed_row, "checkers": [{checker, status, reasons, figures}]}
nlohmann::json run_json(const RunRow& row);
// When a kept row's run began (RunRow::recorded set): its run.json's
// "started", "" if that does not say. Read once, as the row is read back.
std::string kept_run_started(const RunRow& row);
void write_run_json(const std::string& path, const RunRow& row);

struct SummaryInfo {
  std::string suite;    // single-fault, ... (the suite's name)
  std::string started;  // ISO 8601 UTC
  std::string out;      // the suite's output directory
};

nlohmann::json summary_json(const SummaryInfo& info, const std::vector<RunRow>& rows);
// Written whole (write_file_atomic), as results.csv.
void write_summary_json(const std::string& path, const SummaryInfo& info, const std::vector<RunRow>& rows);

}  // namespace haverify::reports
