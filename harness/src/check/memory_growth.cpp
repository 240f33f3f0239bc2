// The memory_growth checker: the slope of each process's memory over a long
// run, from the process sampler's ops (docs/checkers.md).
#include "haverify/check/memory_growth.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "haverify/core/op.hpp"
#include "pass_text.hpp"
#include "restarts.hpp"

namespace haverify {

double t95_one_sided(std::size_t df) {
  static constexpr double kTable[] = {6.314, 2.920, 2.353, 2.132, 2.015, 1.943, 1.895, 1.860, 1.833, 1.812,
                                      1.796, 1.782, 1.771, 1.761, 1.753, 1.746, 1.740, 1.734, 1.729, 1.725,
                                      1.721, 1.717, 1.714, 1.711, 1.708, 1.706, 1.703, 1.701, 1.699, 1.697};
  if (df == 0) return std::numeric_limits<double>::infinity();
  if (df <= 30) return kTable[df - 1];
  // Beyond 30: linear in 1/df between the tabulated points (error < 0.001).
  static constexpr std::pair<double, double> kTail[] = {{30, 1.697}, {40, 1.684}, {60, 1.671}, {120, 1.658}};
  const double inv = 1.0 / static_cast<double>(df);
  for (std::size_t i = 0; i + 1 < std::size(kTail); ++i) {
    const auto [d0, t0] = kTail[i];
    const auto [d1, t1] = kTail[i + 1];
    if (static_cast<double>(df) <= d1) return t0 + (t1 - t0) * (inv - 1 / d0) / (1 / d1 - 1 / d0);
  }
  return 1.645 + (1.658 - 1.645) * inv * 120;
}

namespace {

using detail::count;

// Online least squares of y (MB) on x (hours since the series' first kept
// sample): Welford-style updates of the means and the centred sums.
struct Series {
  std::string node, process;
  std::int64_t pid = 0;
  Nanos first = 0;  // first sample, warmup included
  bool started = false;
  Nanos x0 = 0;  // first kept sample
  std::size_t n = 0;
  double mx = 0, my = 0, sxx = 0, sxy = 0, syy = 0;
  double last_mb = 0, first_mb = 0, last_x = 0;

  void add(double x, double y) {
    ++n;
    last_x = x;
    const double dx = x - mx;
    mx += dx / static_cast<double>(n);
    const double dy = y - my;
    my += dy / static_cast<double>(n);
    sxx += dx * (x - mx);
    sxy += dx * (y - my);
    syy += dy * (y - my);
  }
};

struct Fit {
  double slope = 0;  // MB/h
  double lower = 0;  // one-sided 95 % lower bound
  bool ok = false;
};

Fit fit(const Series& s) {
  Fit f;
  if (s.n < 3 || s.sxx <= 0) return f;
  f.slope = s.sxy / s.sxx;
  const double sse = std::max(0.0, s.syy - f.slope * s.sxy);
  const double se = std::sqrt(sse / static_cast<double>(s.n - 2) / s.sxx);
  f.lower = f.slope - t95_one_sided(s.n - 2) * se;
  f.ok = true;
  return f;
}

class MemoryGrowthPass final : public CheckerPass {
 public:
  explicit MemoryGrowthPass(const MemoryGrowthOptions& o)
      : o_(o), lines_({o.max_mb_per_hour, o.min_samples, o.max_restarts, o.restart_grace_ns}) {}
  void observe(const Op& op) override {
    tr_.observe(op);
    lines_.observe_cause(op);
    if (op::is(op, op::proc::sampler, op::fn::sample) && op.type == OpType::fail) {
      Rounds& r = rounds_[op.node];
      ++r.failed;
      if (r.first_error.empty()) r.first_error = op.error;
      return;
    }
    if (!op::is(op, op::proc::sampler, op::fn::proc) || op.type != OpType::ok) return;
    count_round(op);
    const auto j = nlohmann::json::parse(op.value, nullptr, /*allow_exceptions=*/false);
    const char* key = o_.memory == "rss" ? "rss_kb" : "anon_kb";
    if (!j.is_object() || !j.contains("pid") || !j.contains(key) || !j[key].is_number() || !j["pid"].is_number()) {
      ++malformed_;
      return;
    }
    const std::int64_t pid = j["pid"].get<std::int64_t>();
    const std::string process = j.value("process", std::string("?"));
    const double mb = j[key].get<double>() / 1024.0;
    lines_.sample(op.node, rounds_[op.node].ok, pid, process, op.mono_ns, mb);
    auto& s = series_[fmt::format("{}\x1f{}\x1f{}", op.node, pid, process)];
    if (s.pid == 0) {
      s.node = op.node;
      s.pid = pid;
      s.process = process;
      s.first = op.mono_ns;
    }
    ++samples_;
    if (op.mono_ns - s.first < o_.warmup_ns) return;
    if (!s.started) {
      s.started = true;
      s.x0 = op.mono_ns;
      s.first_mb = mb;
    }
    s.add(ns_to_s(op.mono_ns - s.x0) / 3600.0, mb);
    s.last_mb = mb;
  }

  CheckerVerdict finish(const FinalState& /*final*/) override {
    CheckerVerdict v;
    v.figures["memory_samples"] = count(samples_);
    const std::vector<std::string> blind = blind_nodes(v);
    std::size_t fitted = 0, short_series = 0;
    const Series* worst = nullptr;
    Fit worst_fit;
    std::vector<std::string> growing;
    for (const auto& [key, s] : series_) {
      if (s.n < o_.min_samples) {
        ++short_series;
        continue;
      }
      const Fit f = fit(s);
      if (!f.ok) {
        ++short_series;
        continue;
      }
      ++fitted;
      if (!worst || f.lower > worst_fit.lower) {
        worst = &s;
        worst_fit = f;
      }
      if (f.lower > o_.max_mb_per_hour)
        growing.push_back(fmt::format(
            "{} pid {} ({}) grows {:.1f} MB/h (95 % lower bound {:.1f} > {} MB/h; {} samples over {:.0f} s, "
            "{:.1f} -> {:.1f} MB {})",
            s.node, s.pid, s.process, f.slope, f.lower, o_.max_mb_per_hour, s.n, s.last_x * 3600, s.first_mb, s.last_mb,
            o_.memory == "rss" ? "VmRSS" : "RssAnon"));
    }
    v.figures["memory_series"] = count(fitted);
    // Restarts and the growth summed across a process's pids: evidence of their own.
    CheckerVerdict lineage;
    const bool lineage_fails = lines_.finish(lineage, tr_);
    v.figures.insert(lineage.figures.begin(), lineage.figures.end());
    if (lineage_fails) growing.insert(growing.end(), lineage.reasons.begin(), lineage.reasons.end());
    if (malformed_) v.reasons.push_back(fmt::format("{} sampler ops without pid or memory were ignored", malformed_));
    if (short_series)
      v.reasons.push_back(fmt::format("{} series with fewer than {} samples after the warmup were not fitted",
                                      short_series, o_.min_samples));
    if (!worst && !growing.empty()) {
      v.status = CheckStatus::fail;
      v.reasons.insert(v.reasons.begin(), growing.begin(), growing.end());
      return v;
    }
    if (!worst) {
      v.status = CheckStatus::unknown;
      v.reasons.insert(v.reasons.begin(),
                       samples_ == 0 ? std::string("no process samples in the history (is the sampler on?)")
                                     : fmt::format("no process has {} samples after the warmup", o_.min_samples));
      return v;
    }
    if (!blind.empty() && growing.empty()) {
      // Without the samples, a flat series is no evidence: unknown, never pass.
      v.status = CheckStatus::unknown;
      v.reasons.insert(v.reasons.begin(), blind.begin(), blind.end());
      return v;
    }
    v.figures["max_rss_slope_mb_h"] = worst_fit.slope;
    v.figures["max_rss_slope_lower_mb_h"] = worst_fit.lower;
    const std::string worst_text =
        fmt::format("steepest: {} pid {} ({}) {:.2f} MB/h (95 % lower bound {:.2f})", worst->node, worst->pid,
                    worst->process, worst_fit.slope, worst_fit.lower);
    if (!growing.empty()) {
      v.status = CheckStatus::fail;
      std::vector<std::string> r = growing;
      r.push_back(worst_text);
      v.reasons.insert(v.reasons.begin(), r.begin(), r.end());
    } else {
      v.status = CheckStatus::pass;
      v.reasons.insert(v.reasons.begin(), fmt::format("no memory growth above {} MB/h in {} processes; {}",
                                                      o_.max_mb_per_hour, fitted, worst_text));
    }
    return v;
  }

 private:
  // The sampler's rounds on one node: ok (a burst of proc ops) and failed.
  struct Rounds {
    std::size_t ok = 0, failed = 0;
    Nanos last_proc = 0;
    std::string first_error;
  };
  // Proc ops of one round are recorded back to back; rounds are >= 100 ms apart.
  void count_round(const Op& op) {
    Rounds& r = rounds_[op.node];
    if (r.ok == 0 || op.mono_ns - r.last_proc > 50'000'000) ++r.ok;
    r.last_proc = op.mono_ns;
  }
  // The nodes where more than a tenth of the sampler's rounds failed.
  std::vector<std::string> blind_nodes(CheckerVerdict& v) const {
    std::vector<std::string> out;
    std::size_t failed = 0;
    for (const auto& [node, r] : rounds_) {
      failed += r.failed;
      if (r.failed * 10 > r.failed + r.ok)
        out.push_back(fmt::format("the sampler failed {} of {} samples on {} ({}): memory growth not judged there",
                                  r.failed, r.failed + r.ok, node, r.first_error));
    }
    v.figures["sampler_failed"] = count(failed);
    return out;
  }

  MemoryGrowthOptions o_;
  detail::TimeRef tr_;
  detail::Lineages lines_;
  std::map<std::string, Rounds> rounds_;
  std::map<std::string, Series> series_;
  std::size_t samples_ = 0, malformed_ = 0;
};

}  // namespace

std::unique_ptr<CheckerPass> MemoryGrowthChecker::start() const {
  return std::make_unique<MemoryGrowthPass>(options_);
}

}  // namespace haverify
