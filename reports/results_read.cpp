#include "reports/results_read.hpp"
#include "reports/summary.hpp"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "haverify/core/errors.hpp"
#include "haverify/io/csv.hpp"

namespace haverify::reports {

namespace {

std::size_t column(const std::string& name) {
  const auto& h = results_header();
  return static_cast<std::size_t>(std::find(h.begin(), h.end(), name) - h.begin());
}

template <typename T>
T whole_number(const std::vector<std::string>& f, const char* name) {
  const std::string& s = f.at(column(name));
  T v{};
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty())
    throw std::invalid_argument(fmt::format("column {}: '{}' is not a whole number", name, s));
  return v;
}

// An empty cell is "unknown" (nullopt).
std::optional<double> seconds(const std::vector<std::string>& f, const char* name) {
  const std::string& s = f.at(column(name));
  if (s.empty()) return std::nullopt;
  std::size_t used = 0;
  double v = 0;
  try {
    v = std::stod(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != s.size()) throw std::invalid_argument(fmt::format("column {}: '{}' is not a number", name, s));
  return v;
}

}  // namespace

RunRow row_from_results_fields(const std::vector<std::string>& f) {
  if (f.size() != results_header().size())
    throw std::invalid_argument(fmt::format("{} fields, the header has {}", f.size(), results_header().size()));
  static const std::set<std::string> verdicts = {"pass", "fail", "unknown", "error"};
  RunRow r;
  r.recorded = f;
  const auto text = [&](const char* name) { return f.at(column(name)); };
  r.scenario = text("scenario");
  r.kind = text("kind");
  r.stack = text("stack");
  r.profile = text("profile");
  r.disk = text("disk");
  r.fault = text("fault");
  r.target = text("target");
  r.seed = whole_number<std::uint64_t>(f, "seed");
  r.repetition = whole_number<int>(f, "repetition");
  r.verdict = text("verdict");
  if (!verdicts.count(r.verdict)) throw std::invalid_argument(fmt::format("column verdict: '{}'", r.verdict));
  r.reason = text("reason");
  r.run_dir = text("run_dir");
  if (r.scenario.empty() || r.run_dir.empty()) throw std::invalid_argument("empty scenario or run_dir");
  auto& m = r.metrics;
  m.failover_s = seconds(f, "failover_s");
  m.detect_s = seconds(f, "detect_s");
  m.promote_s = seconds(f, "promote_s");
  m.redo_s = seconds(f, "redo_s");
  m.checkpoint_s = seconds(f, "checkpoint_s");
  m.downtime_s = seconds(f, "downtime_s");
  if (!text("lost_acked").empty()) m.lost_acked = whole_number<std::int64_t>(f, "lost_acked");
  m.unknown_commits = whole_number<decltype(m.unknown_commits)>(f, "unknown_commits");
  m.acked_total = whole_number<decltype(m.acked_total)>(f, "acked_total");
  m.measured_from = text("measured_from");
  if (const auto vip = seconds(f, "vip_s")) m.figures["vip_s"] = *vip;
  if (const auto dns = seconds(f, "dns_s")) m.figures["dns_s"] = *dns;
  if (const auto n = seconds(f, "maintenance_in_flight")) m.figures["maintenance_in_flight"] = *n;
  r.duration_s = seconds(f, "duration_s").value_or(0);
  return r;
}

ResultsReadBack read_results_rows(const std::string& path) {
  ResultsReadBack out;
  std::ifstream in(path, std::ios::binary);
  if (!in) return out;
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  std::set<std::string> seen;
  std::size_t start = 0;
  for (unsigned line = 1; start < text.size(); ++line) {
    const auto nl = text.find('\n', start);
    const bool whole = nl != std::string::npos;
    std::string record = text.substr(start, whole ? nl - start : std::string::npos);
    start = whole ? nl + 1 : text.size();
    if (!record.empty() && record.back() == '\r') record.pop_back();
    if (line == 1) {
      if (!whole) return out;  // not even the header: no run finished
      if (parse_csv_line(record) != results_header())
        throw UsageError(fmt::format("{}:1: not a results.csv header of this haverify version (columns: {})", path,
                                     fmt::join(results_header(), ",")));
      continue;
    }
    const auto drop = [&](const std::string& why) {
      ++out.incomplete;
      out.notes.push_back(fmt::format("{}:{}: dropped a row: {}", path, line, why));
    };
    if (!whole) {
      drop("no line end (torn by a crash)");
      continue;
    }
    const auto fields = parse_csv_line(record);
    if (!fields) {
      drop("unclosed quote");
      continue;
    }
    try {
      RunRow r = row_from_results_fields(*fields);
      r.started = kept_run_started(r);  // (results.csv has no column for it)
      if (!seen.insert(r.run_dir).second) {
        ++out.duplicates;
        out.notes.push_back(fmt::format("{}:{}: dropped a second row for {}", path, line, r.run_dir));
        continue;
      }
      out.rows.push_back(std::move(r));
    } catch (const std::invalid_argument& e) {
      drop(e.what());
    }
  }
  return out;
}

}  // namespace haverify::reports
