// The checks that bound a run's metrics (Verdict evaluate), split from the
// metrics pass (metrics.cpp) that computes them.
#include <fmt/format.h>

#include "haverify/check/metrics.hpp"
#include "haverify/core/numbers.hpp"

namespace haverify {

std::string format_bound(const Bound& b) {
  if (b.min && b.max) return fmt::format("{} <= x <= {}", format_number(*b.min), format_number(*b.max));
  if (b.min) return ">= " + format_number(*b.min);
  if (b.max) return "<= " + format_number(*b.max);
  return "any";
}

// Why a bounded metric has no value.
static std::string unknown_reason(const std::string& metric, const RunMetrics& m) {
  if (metric == "failover_s")
    return m.t_inject_sent ? "failover_s unknown: no write was acknowledged after the fault"
                           : "failover_s unknown: no fault was injected";
  if (metric == "detect_s")
    return m.t_inject_sent ? "detect_s unknown: the cluster driver recorded no detection after the fault"
                           : "detect_s unknown: no fault was injected";
  if (metric == "promote_s")
    return m.t_inject_sent ? "promote_s unknown: no other node answered as a primary after the fault"
                           : "promote_s unknown: no fault was injected";
  if (metric == "lost_acked") return "lost_acked unknown: the ids could not be read back from a primary";
  if (metric == "downtime_s") return "downtime_s unknown: fewer than two writes were acknowledged";
  if (metric == "p99_latency_ms") return "p99_latency_ms unknown: no write was acknowledged";
  if (metric == "op_s") return "op_s unknown: no cluster operation ran to its end (skipped or none)";
  if (metric == "stall_s") return "stall_s unknown: no write was acknowledged before the end of any cluster operation";
  return metric + " unknown";
}

Verdict evaluate(const RunMetrics& m, const std::map<std::string, Bound>& checks) {
  Verdict v;
  v.pass = true;
  std::vector<std::string> failures;
  for (const auto& [metric, bound] : checks) {
    CheckResult c;
    c.metric = metric;
    c.bound = bound;
    c.value = m.value(metric);
    const bool all_skipped =
        !m.operations.empty() && std::all_of(m.operations.begin(), m.operations.end(),
                                             [](const OperationRecord& o) { return o.outcome == "skipped"; });
    if (!c.value && (metric == "op_s" || metric == "stall_s") && all_skipped) {
      // Nothing to bound: every planned operation was skipped (skip_if), which the run's reason says.
      c.pass = true;
      c.reason = metric + " not measured: every cluster operation was skipped";
    } else if (!c.value) {
      c.pass = false;
      c.reason = unknown_reason(metric, m);
    } else {
      const double x = *c.value;
      const bool lo = !bound.min || x >= *bound.min;
      const bool hi = !bound.max || x <= *bound.max;
      c.pass = lo && hi;
      c.reason = fmt::format("{} = {} {} bound {}", metric, format_figure(metric, x), c.pass ? "within" : "outside",
                             format_bound(bound));
      if (metric == "lost_acked" && !m.lost_ids.empty() && !c.pass) {
        std::string ids;
        for (auto id : m.lost_ids) ids += (ids.empty() ? "" : " ") + std::to_string(id);
        c.reason += fmt::format(" (e.g. ids {})", ids);
      }
    }
    if (!c.pass) {
      v.pass = false;
      failures.push_back(c.reason);
    }
    v.checks.push_back(std::move(c));
  }
  if (v.pass) {
    v.reason = checks.empty() ? "no checks declared" : fmt::format("all {} checks passed", checks.size());
  } else {
    for (const auto& f : failures) v.reason += (v.reason.empty() ? "" : "; ") + f;
  }
  return v;
}

}  // namespace haverify
