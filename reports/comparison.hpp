#pragma once
// Comparing stacks: failover statistics per stack (min, median, p95, max),
// the ratio of each stack's median failover to the first stack's, with a
// percentile-bootstrap confidence interval, written as comparison.csv and a
// short human summary (comparison.txt). Definitions: docs/metrics.md.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "reports/results.hpp"

namespace haverify::reports {

// One run as the comparison sees it: from a RunRow in memory, or a row of an
// existing results.csv.
struct CompareRun {
  std::string scenario;
  std::string stack;
  std::string profile;
  std::string disk;  // empty when the results.csv has no disk column or did not say
  std::string fault;
  std::string verdict;  // pass | fail | unknown | error
  std::optional<double> failover_s;
  std::optional<double> detect_s;
  std::optional<double> promote_s;
  std::optional<double> redo_s;  // recovery phases (docs/metrics.md)
  std::optional<double> checkpoint_s;
  std::optional<double> maintenance_in_flight;  // maintenance ops running at the fault (docs/metrics.md)
};

CompareRun to_compare_run(const RunRow& row);

// Reads the rows of a results.csv written by `haverify run` (columns found
// by name; detect_s, promote_s, redo_s and checkpoint_s may be missing in
// files from older versions). Throws CsvReadError (a usage error, exit 2) naming the file and
// line when the file cannot be read, lacks a required column or holds a
// malformed number.
std::vector<CompareRun> read_results_csv(const std::string& path);

// The p-quantile (0 <= p <= 1) of sorted, non-empty `sorted`, by linear
// interpolation between closest ranks (Hyndman & Fan type 7, the default of
// R and NumPy): h = (n - 1) p, x[floor h] + (h - floor h)(x[floor h + 1] - x[floor h]).
double quantile_sorted(const std::vector<double>& sorted, double p);
// The median of non-empty `values` (the middle value, or the mean of the two middle values).
double median_of(std::vector<double> values);

struct Summary {
  std::size_t n = 0;
  double min = 0, median = 0, p95 = 0, max = 0;
};
// nullopt for no values.
std::optional<Summary> summarize(std::vector<double> values);
// One figure of a summary (e.g. &Summary::p95); nullopt when there is none.
inline std::optional<double> summary_part(const std::optional<Summary>& s, double Summary::*field) {
  return s ? std::optional<double>((*s).*field) : std::nullopt;
}

struct Interval {
  double low = 0, high = 0;
};

// Percentile bootstrap CI of median(other) / median(base): `resamples` times,
// each sample is resampled with replacement on its own, and the ratio of the
// resampled medians is taken; the interval is the (1-level)/2 and (1+level)/2
// quantiles (as quantile_sorted) of those ratios. Reproducible for a given
// seed on every platform (mt19937_64, unbiased index draws). nullopt when a
// sample has fewer than 2 values or a resampled base median is 0.
std::optional<Interval> bootstrap_ratio_ci(const std::vector<double>& base, const std::vector<double>& other,
                                           int resamples, std::uint64_t seed, double level = 0.95);

// The runs of one stack (and profile and disk) for one scenario.
struct RunGroup {
  std::string scenario;
  std::string stack;
  std::string profile;
  std::string disk;
  std::vector<CompareRun> runs;
};

// How a group is named to people: "pgrex", "pgrex (fast)", "pgrex (fast, disk hdd)".
std::string group_name(const std::string& stack, const std::string& profile, const std::string& disk);

// Groups runs by (scenario, stack, profile, disk), in the order each first appears.
std::vector<RunGroup> group_runs(const std::vector<CompareRun>& runs);

struct ComparisonOptions {
  int resamples = 10000;
  std::uint64_t seed = 1;
  double level = 0.95;
};

struct ComparisonRow {
  std::string scenario;
  std::string stack;
  std::string profile;
  std::string disk;
  std::string fault;         // the runs' fault kinds, '+'-joined if they differ
  bool is_baseline = false;  // the first stack of its scenario
  std::string baseline;      // the stack the ratio is against (group_name if its profile or disk differ)
  std::size_t runs = 0;      // every run of the group
  std::size_t n = 0;         // runs with a failover_s
  std::size_t n_pass = 0;    // runs whose verdict is pass
  std::optional<Summary> failover;
  std::optional<double> median_detect_s;
  std::optional<double> median_promote_s;
  std::optional<double> median_redo_s;
  std::optional<double> median_checkpoint_s;
  // Runs whose maintenance was in flight at the fault, of those that ran
  // maintenance (nullopt if none did).
  std::optional<std::size_t> n_in_flight;
  std::optional<double> ratio_median;  // median failover_s / the baseline's
  std::optional<Interval> ratio_ci;
};

// One row per group; the baseline of a group is the first group of the same
// scenario. Group i's bootstrap is seeded from opts.seed and i.
std::vector<ComparisonRow> compare_groups(const std::vector<RunGroup>& groups, const ComparisonOptions& opts);

const std::vector<std::string>& comparison_header();
std::vector<std::string> comparison_fields(const ComparisonRow& row);
void write_comparison_csv(const std::string& path, const std::vector<ComparisonRow>& rows);
// A line per stack, e.g. "shared-disk: median failover 4.61 s (n=5, 5/5 pass), 1.18× pgrex [95% CI 1.05–1.31]".
std::string comparison_text(const std::vector<ComparisonRow>& rows, const ComparisonOptions& opts);

}  // namespace haverify::reports
