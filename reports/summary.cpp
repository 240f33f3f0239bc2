#include "reports/summary.hpp"

#include <charconv>
#include <cmath>
#include <filesystem>
#include <map>

#include "haverify/core/atomic_file.hpp"
#include "haverify/core/clock.hpp"
#include "haverify/core/files.hpp"
#include "haverify/core/numbers.hpp"

namespace haverify::reports {

namespace {

ColumnType column_type(const std::string& column) {
  static const std::map<std::string, ColumnType> types = [] {
    std::map<std::string, ColumnType> m;
    for (const auto& c : results_columns()) m.emplace(c.name, c.type);
    return m;
  }();
  const auto it = types.find(column);
  return it == types.end() ? ColumnType::kText : it->second;
}

// A count that is a whole number stays an integer in JSON ("numbers for people").
nlohmann::json number(double v) {
  if (!std::isfinite(v)) return nullptr;
  if (const auto n = as_count(v)) return *n;
  return v;
}

nlohmann::json typed_field(const std::string& column, const std::string& field) {
  if (field.empty()) return nullptr;
  const ColumnType type = column_type(column);
  if (type == ColumnType::kText) return field;
  const bool integer = type == ColumnType::kCount;
  double v = 0;
  const auto [end, ec] = std::from_chars(field.data(), field.data() + field.size(), v);
  if (ec != std::errc() || end != field.data() + field.size()) return field;  // kept as written
  return integer ? number(v) : nlohmann::json(v);
}

nlohmann::json checker_json(const CheckerVerdict& c) {
  nlohmann::json figures = nlohmann::json::object();
  for (const auto& [k, v] : c.figures) figures[k] = number(v);
  nlohmann::json out = {
      {"checker", c.checker}, {"status", to_string(c.status)}, {"reasons", c.reasons}, {"figures", figures}};
  if (!c.windows.empty()) {
    auto& windows = out["windows"] = nlohmann::json::array();
    for (const auto& w : c.windows)
      windows.push_back({{"kind", w.kind}, {"from_s", number(w.from_s)}, {"to_s", number(w.to_s)}, {"label", w.label}});
  }
  return out;
}

// A kept row: its run.json, when that is the same run (same run_dir and
// verdict), else its fields alone.
nlohmann::json kept_run_json(const RunRow& row) {
  const auto fields = typed_row(results_header(), results_fields(row));
  const std::filesystem::path p = std::filesystem::path(row.run_dir) / "run.json";
  std::error_code ec;
  if (!row.run_dir.empty() && std::filesystem::is_regular_file(p, ec)) {
    try {
      const auto j = nlohmann::json::parse(read_input_file(p.string()), nullptr, false);
      if (j.is_object() && j.contains("row") && j["row"].is_object() && j["row"].value("run_dir", "") == row.run_dir &&
          j["row"].value("verdict", "") == row.verdict)
        return j;
    } catch (const std::exception&) {
      // unreadable: the fields alone
    }
  }
  return {{"started", nullptr}, {"row", fields}, {"checkers", nullptr}};
}

}  // namespace

nlohmann::json typed_row(const std::vector<std::string>& header, const std::vector<std::string>& fields) {
  nlohmann::json row = nlohmann::json::object();
  for (std::size_t i = 0; i < header.size(); ++i)
    row[header[i]] = i < fields.size() ? typed_field(header[i], fields[i]) : nlohmann::json();
  return row;
}

nlohmann::json run_json(const RunRow& row) {
  if (!row.recorded.empty()) return kept_run_json(row);
  nlohmann::json checkers = nlohmann::json::array();
  for (const auto& c : row.checkers) checkers.push_back(checker_json(c));
  return {{"started", row.started.empty() ? nlohmann::json() : nlohmann::json(row.started)},
          {"row", typed_row(results_header(), results_fields(row))},
          {"checkers", checkers}};
}

std::string kept_run_started(const RunRow& row) {
  const auto j = kept_run_json(row);
  return j.contains("started") && j["started"].is_string() ? j["started"].get<std::string>() : std::string();
}

void write_run_json(const std::string& path, const RunRow& row) {
  write_file_atomic(path, run_json(row).dump(2) + "\n");
}

nlohmann::json summary_json(const SummaryInfo& info, const std::vector<RunRow>& rows) {
  nlohmann::json counts = {{"runs", rows.size()}, {"pass", 0}, {"fail", 0}, {"unknown", 0}, {"error", 0}};
  nlohmann::json runs = nlohmann::json::array();
  for (const auto& r : rows) {
    if (counts.contains(r.verdict)) counts[r.verdict] = counts[r.verdict].get<int>() + 1;
    runs.push_back(run_json(r));
  }
  return {{"haverify_summary", kSummaryFormat},
          {"suite", info.suite},
          {"started", info.started},
          {"written", format_wall_ns(wall_now_ns())},
          {"out", info.out},
          {"columns", results_header()},
          {"counts", counts},
          {"runs", runs}};
}

void write_summary_json(const std::string& path, const SummaryInfo& info, const std::vector<RunRow>& rows) {
  write_file_atomic(path, summary_json(info, rows).dump(2) + "\n");
}

}  // namespace haverify::reports
