#include "reports/comparison.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <random>
#include <stdexcept>

#include <fmt/format.h>

#include "haverify/io/csv.hpp"
#include "haverify/io/csv_read.hpp"

namespace haverify::reports {

CompareRun to_compare_run(const RunRow& row) {
  CompareRun r;
  r.scenario = row.scenario;
  r.stack = row.stack;
  r.profile = row.profile;
  r.disk = row.disk;
  r.fault = row.fault;
  r.verdict = row.verdict;
  r.failover_s = row.metrics.failover_s;
  r.detect_s = row.metrics.detect_s;
  r.promote_s = row.metrics.promote_s;
  r.redo_s = row.metrics.redo_s;
  r.checkpoint_s = row.metrics.checkpoint_s;
  if (auto it = row.metrics.figures.find("maintenance_in_flight"); it != row.metrics.figures.end())
    r.maintenance_in_flight = it->second;
  return r;
}

namespace {

std::optional<double> parse_seconds(const std::string& text, const std::string& path, unsigned line,
                                    const char* column) {
  if (text.empty()) return std::nullopt;
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size() || !std::isfinite(v))
    throw CsvReadError(path, line, fmt::format("column {}: '{}' is not a number", column, text));
  return v;
}

}  // namespace

std::vector<CompareRun> read_results_csv(const std::string& path) {
  const CsvTable t = read_csv_table(path);  // a regular file, whole records, or a usage error
  for (const char* required : {"scenario", "stack", "verdict", "failover_s"})
    if (t.column(required) < 0)
      throw CsvReadError(path, 1, fmt::format("no column '{}': not a results.csv written by haverify run", required));
  std::vector<CompareRun> out;
  for (std::size_t i = 0; i < t.rows.size(); ++i) {
    const auto cell = [&](const char* name) {
      const int c = t.column(name);
      return c < 0 ? std::string() : t.rows[i][static_cast<std::size_t>(c)];
    };
    CompareRun r;
    r.scenario = cell("scenario");
    r.stack = cell("stack");
    r.profile = cell("profile");
    r.disk = cell("disk");
    r.fault = cell("fault");
    r.verdict = cell("verdict");
    r.failover_s = parse_seconds(cell("failover_s"), path, t.lines[i], "failover_s");
    r.detect_s = parse_seconds(cell("detect_s"), path, t.lines[i], "detect_s");
    r.promote_s = parse_seconds(cell("promote_s"), path, t.lines[i], "promote_s");
    r.redo_s = parse_seconds(cell("redo_s"), path, t.lines[i], "redo_s");
    r.checkpoint_s = parse_seconds(cell("checkpoint_s"), path, t.lines[i], "checkpoint_s");
    r.maintenance_in_flight = parse_seconds(cell("maintenance_in_flight"), path, t.lines[i], "maintenance_in_flight");
    out.push_back(std::move(r));
  }
  return out;
}

double quantile_sorted(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) throw std::logic_error("quantile of no values");
  const double h = static_cast<double>(sorted.size() - 1) * std::clamp(p, 0.0, 1.0);
  const auto lo = static_cast<std::size_t>(std::floor(h));
  if (lo + 1 >= sorted.size()) return sorted.back();
  return sorted[lo] + (h - static_cast<double>(lo)) * (sorted[lo + 1] - sorted[lo]);
}

double median_of(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return quantile_sorted(values, 0.5);
}

std::optional<Summary> summarize(std::vector<double> values) {
  if (values.empty()) return std::nullopt;
  std::sort(values.begin(), values.end());
  Summary s;
  s.n = values.size();
  s.min = values.front();
  s.max = values.back();
  s.median = quantile_sorted(values, 0.5);
  s.p95 = quantile_sorted(values, 0.95);
  return s;
}

namespace {

// An index in [0, n) without modulo bias (rejection), the same on every
// platform (std::uniform_int_distribution is implementation-defined).
std::size_t draw_index(std::mt19937_64& rng, std::size_t n) {
  const std::uint64_t range = n;
  const std::uint64_t limit =
      std::numeric_limits<std::uint64_t>::max() - std::numeric_limits<std::uint64_t>::max() % range;  // a multiple of n
  std::uint64_t x = 0;
  do {
    x = rng();
  } while (x >= limit);
  return static_cast<std::size_t>(x % range);
}

double resampled_median(const std::vector<double>& sample, std::mt19937_64& rng, std::vector<double>& buf) {
  buf.resize(sample.size());
  for (auto& v : buf) v = sample[draw_index(rng, sample.size())];
  std::sort(buf.begin(), buf.end());
  return quantile_sorted(buf, 0.5);
}

// SplitMix64: independent, reproducible seeds for each row's bootstrap.
std::uint64_t mix_seed(std::uint64_t seed, std::uint64_t index) {
  std::uint64_t z = seed + 0x9e3779b97f4a7c15ULL * (index + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

std::optional<Interval> bootstrap_ratio_ci(const std::vector<double>& base, const std::vector<double>& other,
                                           int resamples, std::uint64_t seed, double level) {
  if (base.size() < 2 || other.size() < 2 || resamples < 1) return std::nullopt;
  std::mt19937_64 rng(seed);
  std::vector<double> ratios;
  ratios.reserve(static_cast<std::size_t>(resamples));
  std::vector<double> buf;
  for (int b = 0; b < resamples; ++b) {
    const double m_base = resampled_median(base, rng, buf);
    const double m_other = resampled_median(other, rng, buf);
    if (m_base == 0) return std::nullopt;  // the ratio is undefined for this resample
    ratios.push_back(m_other / m_base);
  }
  std::sort(ratios.begin(), ratios.end());
  return Interval{quantile_sorted(ratios, (1 - level) / 2), quantile_sorted(ratios, (1 + level) / 2)};
}

std::string group_name(const std::string& stack, const std::string& profile, const std::string& disk) {
  if (disk.empty()) return profile.empty() ? stack : fmt::format("{} ({})", stack, profile);
  return profile.empty() ? fmt::format("{} (disk {})", stack, disk)
                         : fmt::format("{} ({}, disk {})", stack, profile, disk);
}

std::vector<RunGroup> group_runs(const std::vector<CompareRun>& runs) {
  std::vector<RunGroup> groups;
  for (const auto& r : runs) {
    auto it = std::find_if(groups.begin(), groups.end(), [&](const RunGroup& g) {
      return g.scenario == r.scenario && g.stack == r.stack && g.profile == r.profile && g.disk == r.disk;
    });
    if (it == groups.end()) it = groups.insert(groups.end(), RunGroup{r.scenario, r.stack, r.profile, r.disk, {}});
    it->runs.push_back(r);
  }
  return groups;
}

namespace {

std::vector<double> values_of(const RunGroup& g, std::optional<double> CompareRun::*field) {
  std::vector<double> out;
  for (const auto& r : g.runs)
    if (r.*field) out.push_back(*(r.*field));
  return out;
}

std::optional<double> median_if_any(const std::vector<double>& values) {
  if (values.empty()) return std::nullopt;
  return median_of(values);
}

}  // namespace

std::vector<ComparisonRow> compare_groups(const std::vector<RunGroup>& groups, const ComparisonOptions& opts) {
  std::vector<ComparisonRow> rows;
  for (std::size_t i = 0; i < groups.size(); ++i) {
    const RunGroup& g = groups[i];
    const RunGroup& base =
        *std::find_if(groups.begin(), groups.end(), [&](const RunGroup& b) { return b.scenario == g.scenario; });
    ComparisonRow row;
    row.scenario = g.scenario;
    row.stack = g.stack;
    row.profile = g.profile;
    row.disk = g.disk;
    row.is_baseline = &base == &g;
    row.baseline =
        base.profile == g.profile && base.disk == g.disk ? base.stack : group_name(base.stack, base.profile, base.disk);
    row.runs = g.runs.size();
    std::vector<std::string> faults;
    for (const auto& r : g.runs) {
      if (r.verdict == "pass") ++row.n_pass;
      if (!r.fault.empty() && std::find(faults.begin(), faults.end(), r.fault) == faults.end())
        faults.push_back(r.fault);
    }
    for (const auto& f : faults) row.fault += (row.fault.empty() ? "" : "+") + f;
    const auto failover = values_of(g, &CompareRun::failover_s);
    row.failover = summarize(failover);
    row.n = failover.size();
    row.median_detect_s = median_if_any(values_of(g, &CompareRun::detect_s));
    row.median_promote_s = median_if_any(values_of(g, &CompareRun::promote_s));
    row.median_redo_s = median_if_any(values_of(g, &CompareRun::redo_s));
    row.median_checkpoint_s = median_if_any(values_of(g, &CompareRun::checkpoint_s));
    for (const auto& r : g.runs)
      if (r.maintenance_in_flight) row.n_in_flight = row.n_in_flight.value_or(0) + (*r.maintenance_in_flight >= 1);
    if (row.is_baseline) {
      if (row.failover) row.ratio_median = 1.0;
    } else {
      const auto base_failover = values_of(base, &CompareRun::failover_s);
      if (row.failover && !base_failover.empty()) {
        const double base_median = median_of(base_failover);
        if (base_median != 0) row.ratio_median = row.failover->median / base_median;
        if (row.ratio_median)
          row.ratio_ci =
              bootstrap_ratio_ci(base_failover, failover, opts.resamples, mix_seed(opts.seed, i), opts.level);
      }
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

const std::vector<std::string>& comparison_header() {
  static const std::vector<std::string> h = {"stack",
                                             "profile",
                                             "disk",
                                             "fault",
                                             "scenario",
                                             "runs",
                                             "n",
                                             "n_pass",
                                             "min",
                                             "median",
                                             "p95",
                                             "max",
                                             "median_detect_s",
                                             "median_promote_s",
                                             "median_redo_s",
                                             "median_checkpoint_s",
                                             "median_first_write_s",
                                             "ratio_median",
                                             "ratio_ci_low",
                                             "ratio_ci_high"};
  return h;
}

namespace {
std::string fixed(const std::optional<double>& v, int decimals) {
  return v ? fmt::format("{:.{}f}", *v, decimals) : std::string();
}
}  // namespace

std::vector<std::string> comparison_fields(const ComparisonRow& r) {
  const auto& f = r.failover;
  auto part = [&f](double Summary::*field) { return summary_part(f, field); };
  return {r.stack,
          r.profile,
          r.disk,
          r.fault,
          r.scenario,
          std::to_string(r.runs),
          std::to_string(r.n),
          std::to_string(r.n_pass),
          fixed(part(&Summary::min), 3),
          fixed(part(&Summary::median), 3),
          fixed(part(&Summary::p95), 3),
          fixed(part(&Summary::max), 3),
          fixed(r.median_detect_s, 3),
          fixed(r.median_promote_s, 3),
          fixed(r.median_redo_s, 3),
          fixed(r.median_checkpoint_s, 3),
          fixed(part(&Summary::median), 3),
          fixed(r.ratio_median, 3),
          fixed(r.ratio_ci ? std::optional<double>(r.ratio_ci->low) : std::nullopt, 3),
          fixed(r.ratio_ci ? std::optional<double>(r.ratio_ci->high) : std::nullopt, 3)};
}

void write_comparison_csv(const std::string& path, const std::vector<ComparisonRow>& rows) {
  CsvWriter w(path, comparison_header());
  for (const auto& r : rows) w.row(comparison_fields(r));
  w.flush();
}

std::string comparison_text(const std::vector<ComparisonRow>& rows, const ComparisonOptions& opts) {
  std::string out;
  std::string scenario;
  bool first = true;
  for (const auto& r : rows) {
    if (first || r.scenario != scenario) {
      scenario = r.scenario;
      out += fmt::format("{}{} ({}):\n", first ? "" : "\n", r.scenario, r.fault.empty() ? "no fault" : r.fault);
      first = false;
    }
    const std::string name = group_name(r.stack, r.profile, r.disk);
    if (!r.failover) {
      out += fmt::format("  {}: no failover measured ({} runs, {}/{} pass)\n", name, r.runs, r.n_pass, r.runs);
      continue;
    }
    std::string line = fmt::format("  {}: median failover {:.2f} s (n={}, {}/{} pass", name, r.failover->median, r.n,
                                   r.n_pass, r.runs);
    if (r.n > 1) line += fmt::format(", p95 {:.2f} s", r.failover->p95);
    line += ")";
    if (r.median_detect_s) line += fmt::format(", detect {:.2f} s", *r.median_detect_s);
    if (r.median_promote_s) line += fmt::format(", promote {:.2f} s", *r.median_promote_s);
    if (r.median_redo_s) line += fmt::format(", redo {:.2f} s", *r.median_redo_s);
    if (r.median_checkpoint_s) line += fmt::format(", checkpoint {:.2f} s", *r.median_checkpoint_s);
    if (r.is_baseline) {
      line += ", baseline";
    } else if (r.ratio_median) {
      line += fmt::format(", {:.2f}× {}", *r.ratio_median, r.baseline);
      if (r.ratio_ci)
        line += fmt::format(" [{:g}% CI {:.2f}–{:.2f}]", opts.level * 100, r.ratio_ci->low, r.ratio_ci->high);
      else
        line += r.n < 2 ? " [no CI: fewer than 2 runs]" : " [no CI]";
    } else {
      line += fmt::format(", no ratio ({} has no failover measured)", r.baseline);
    }
    out += line + "\n";
  }
  out += fmt::format("ratios: median failover / the first stack's; CI: percentile bootstrap, B={}, seed {}\n",
                     opts.resamples, opts.seed);
  return out;
}

}  // namespace haverify::reports
