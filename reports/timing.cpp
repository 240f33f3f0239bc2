#include "reports/timing.hpp"

#include <algorithm>
#include <fstream>
#include <map>
#include <optional>
#include <utility>

#include <fmt/format.h>

#include "haverify/io/csv.hpp"

namespace haverify::reports {

namespace {

std::string fixed(const std::optional<double>& v) {
  return v ? fmt::format("{:.3f}", *v) : std::string();
}

std::string stack_label(const ComparisonRow& r) {
  return group_name(r.stack, r.profile, r.disk);
}

}  // namespace

std::vector<TimingRow> timing_rows(const std::vector<RunGroup>& groups) {
  std::vector<TimingRow> rows;
  for (auto& c : compare_groups(groups, ComparisonOptions{})) rows.push_back(TimingRow{std::move(c), false});
  // The worst case of each stack, profile and disk: the slowest p95 (the first on a tie).
  std::map<std::string, std::size_t> worst;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& f = rows[i].stats.failover;
    if (!f) continue;
    const std::string key = stack_label(rows[i].stats);
    auto it = worst.find(key);
    if (it == worst.end() || f->p95 > rows[it->second].stats.failover->p95) worst[key] = i;
  }
  for (const auto& [key, i] : worst) rows[i].worst = true;
  return rows;
}

const std::vector<std::string>& timing_header() {
  static const std::vector<std::string> h = {"stack",
                                             "profile",
                                             "disk",
                                             "scenario",
                                             "fault",
                                             "runs",
                                             "n",
                                             "n_pass",
                                             "min_s",
                                             "median_s",
                                             "p95_s",
                                             "max_s",
                                             "median_detect_s",
                                             "median_promote_s",
                                             "median_redo_s",
                                             "median_checkpoint_s",
                                             "n_maintenance_in_flight",
                                             "worst"};
  return h;
}

void write_timing_csv(const std::string& path, const std::vector<TimingRow>& rows) {
  CsvWriter w(path, timing_header());
  for (const auto& t : rows) {
    const auto& r = t.stats;
    const auto& f = r.failover;
    auto part = [&f](double Summary::*field) { return summary_part(f, field); };
    w.row({r.stack, r.profile, r.disk, r.scenario, r.fault, std::to_string(r.runs), std::to_string(r.n),
           std::to_string(r.n_pass), fixed(part(&Summary::min)), fixed(part(&Summary::median)),
           fixed(part(&Summary::p95)), fixed(part(&Summary::max)), fixed(r.median_detect_s), fixed(r.median_promote_s),
           fixed(r.median_redo_s), fixed(r.median_checkpoint_s),
           r.n_in_flight ? std::to_string(*r.n_in_flight) : std::string(), t.worst ? "yes" : ""});
  }
  w.flush();
}

std::string timing_text(const std::vector<TimingRow>& rows) {
  // Stacks in the order they first appear, each with its conditions.
  std::vector<std::string> stacks;
  for (const auto& t : rows) {
    const std::string s = stack_label(t.stats);
    if (std::find(stacks.begin(), stacks.end(), s) == stacks.end()) stacks.push_back(s);
  }
  std::size_t width = 9;
  for (const auto& t : rows) width = std::max(width, t.stats.scenario.size());
  auto cell = [](const std::optional<double>& v) { return v ? fmt::format("{:8.2f}", *v) : fmt::format("{:>8}", "-"); };
  std::string out;
  for (const auto& s : stacks) {
    out += fmt::format("{}{}: failover_s per condition\n", out.empty() ? "" : "\n", s);
    out += fmt::format("  {:<{}}  {:<12} {:>5} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>10} {:>9}\n", "condition",
                       width, "fault", "n/ok", "min", "median", "p95", "max", "detect", "promote", "redo", "checkpoint",
                       "in flight");
    const TimingRow* worst = nullptr;
    for (const auto& t : rows) {
      if (stack_label(t.stats) != s) continue;
      const auto& r = t.stats;
      const auto& f = r.failover;
      auto part = [&f](double Summary::*field) { return summary_part(f, field); };
      out += fmt::format(
          "  {:<{}}  {:<12} {:>5} {} {} {} {} {} {} {} {:>10} {:>9}{}\n", r.scenario, width,
          r.fault.empty() ? "-" : r.fault, fmt::format("{}/{}", r.n, r.n_pass), cell(part(&Summary::min)),
          cell(part(&Summary::median)), cell(part(&Summary::p95)), cell(part(&Summary::max)), cell(r.median_detect_s),
          cell(r.median_promote_s), cell(r.median_redo_s), cell(r.median_checkpoint_s),
          r.n_in_flight ? fmt::format("{}/{}", *r.n_in_flight, r.runs) : "-", t.worst ? "  <- worst" : "");
      if (t.worst) worst = &t;
    }
    if (worst)
      out += fmt::format("  worst case: {} ({}), p95 {:.2f} s, max {:.2f} s over {} run(s)\n", worst->stats.scenario,
                         worst->stats.fault.empty() ? "no fault" : worst->stats.fault, worst->stats.failover->p95,
                         worst->stats.failover->max, worst->stats.n);
    else
      out += "  worst case: none (no run measured a failover)\n";
  }
  return out;
}

std::string write_timing_files(const std::string& dir, const std::vector<CompareRun>& runs) {
  const auto rows = timing_rows(group_runs(runs));
  write_timing_csv(dir + "/timing.csv", rows);
  const std::string text = timing_text(rows);
  std::ofstream txt(dir + "/timing.txt", std::ios::trunc | std::ios::binary);
  txt << text;
  if (!txt) throw std::runtime_error(fmt::format("cannot write {}/timing.txt", dir));
  return text;
}

}  // namespace haverify::reports
