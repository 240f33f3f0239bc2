#pragma once
// The memory_growth checker: RSS slope over a long run (docs/checkers.md).
#include <cstddef>
#include <string>
#include <utility>

#include "haverify/check/checker.hpp"

namespace haverify {

// Memory growth over a long run, from the process sampler's ops (process
// "sampler", f "proc", node = node name, value = {"pid":..,"process":"..",
// "rss_kb":..,"anon_kb":..,"cpu_pct":..}). One series per (node, pid,
// process name): a process that restarts is a new series. Per series, the
// ordinary least-squares slope of memory (MB) against time (hours) and its
// one-sided 95 % lower confidence bound, slope - t(0.95, n-2) * SE(slope).
// Samples in the first `warmup` after a series' first sample are left out.
// Figures: memory_series (series with enough samples), memory_samples,
//   max_rss_slope_mb_h and max_rss_slope_lower_mb_h (of the series with the
//   highest lower bound; named with its node, pid and process in the reasons).
// Across restarts: per (node, process name) with one pid at a time, the
// pids that followed one another. A restart (a new pid) with no fault,
// recover, planned operation or exec in the restart_grace before it is
// unexplained; more than max_restarts of them fail. The growth summed across
// the pids (each pid's last - first sample, over their summed time, warmup
// included) above max_mb_per_hour fails too: a leaking process respawned
// before its series can be fitted is judged. Figures restarts (unexplained;
// boundable by checks:), restarts_explained.
// fail: a series' lower bound > max_mb_per_hour, too many restarts, or the
// summed growth; unknown: no series has min_samples samples (after the
// warmup) and nothing failed; else pass.
struct MemoryGrowthOptions {
  double max_mb_per_hour = 10;
  std::string memory = "anon";  // anon (RssAnon) | rss (VmRSS)
  Nanos warmup_ns = 0;
  std::size_t min_samples = 10;
  int max_restarts = 0;
  Nanos restart_grace_ns = 120'000'000'000;
};

class MemoryGrowthChecker final : public Checker {
 public:
  explicit MemoryGrowthChecker(MemoryGrowthOptions options = {}) : options_(std::move(options)) {}
  std::string name() const override { return "memory_growth"; }
  std::unique_ptr<CheckerPass> start() const override;

 private:
  MemoryGrowthOptions options_;
};

// One-sided 95 % quantile of Student's t distribution with `df` degrees of
// freedom (table for df <= 30, 40, 60, 120, then interpolated in 1/df
// towards 1.645).
double t95_one_sided(std::size_t df);

}  // namespace haverify
