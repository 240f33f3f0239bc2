#include "haverify/check/metrics.hpp"

#include <algorithm>
#include <charconv>
#include <limits>
#include <map>
#include <string_view>

#include <fmt/format.h>

#include "haverify/core/id_set.hpp"
#include "haverify/core/latency.hpp"
#include "haverify/core/op.hpp"

namespace haverify {

std::optional<double> RunMetrics::value(const std::string& metric) const {
  if (metric == "failover_s") return failover_s;
  if (metric == "detect_s") return detect_s;
  if (metric == "promote_s") return promote_s;
  if (metric == "downtime_s") return downtime_s;
  if (metric == "lost_acked") {
    if (!lost_acked) return std::nullopt;
    return static_cast<double>(*lost_acked);
  }
  if (metric == "unknown_commits") return static_cast<double>(unknown_commits);
  if (metric == "acked_total") return static_cast<double>(acked_total);
  if (metric == "failed_writes") return static_cast<double>(failed_writes);
  if (metric == "p99_latency_ms") return p99_latency_ms;
  if (metric == "op_s") return op_s;
  if (metric == "stall_s") return stall_s;
  if (auto it = figures.find(metric); it != figures.end()) return it->second;
  return std::nullopt;
}

std::optional<Nanos> longest_stall(const std::vector<Nanos>& acks, Nanos from, Nanos to, Nanos writes_end) {
  std::optional<Nanos> best;
  auto take = [&](Nanos gap) {
    if (!best || gap > *best) best = gap;
  };
  // Gaps (acks[i-1], acks[i]) with acks[i] > from and acks[i-1] < to.
  auto i = static_cast<std::size_t>(std::upper_bound(acks.begin(), acks.end(), from) - acks.begin());
  for (i = std::max<std::size_t>(i, 1); i < acks.size() && acks[i - 1] < to; ++i) take(acks[i] - acks[i - 1]);
  // Writes that never resumed before the operation ended.
  if (!acks.empty() && acks.back() < to && writes_end >= to) take(to - acks.back());
  return best;
}

struct MetricsPass::State {
  RunMetrics m;
  bool inject_done = false;  // t_inject_sent and t_inject_returned settled
  // The fault's window closes at the first runner inject/heal/recover step,
  // nemesis heal or runner recover invoked after t_inject_sent.
  std::optional<Nanos> window_end;
  // Open client writes: (process, id) -> invoke time. Bounded by the clients.
  std::map<std::pair<std::string, std::string>, Nanos> open;
  std::vector<Instant> acks;
  IdSet acked_ids;
  Nanos last_client_op = 0;
  LatencyHistogram latency;
  std::set<std::string> primaries_before;  // role reports before the fault
  // Driver detections (process "driver", f "detect"): few, and appended
  // after the steps with earlier timestamps, so judged at finish.
  std::vector<Instant> detects;
  // Cluster operations (process "driver", any other f), and their end
  // (mono) once known; the one still open is the last.
  std::vector<OperationRecord> ops;
  std::vector<Nanos> op_ends;
  bool op_open = false;

  // on_op, by what the op is about.
  void note_inject(const Op& op);
  void note_window_end(const Op& op);
  void on_driver(const Op& op);
  void on_injection_skew(const Op& op);
  void on_role(const Op& op);
  void on_write(const Op& op);
  // finish, one figure at a time (acks sorted by time).
  void finish_operations(RunMetrics& out) const;
  void finish_downtime(RunMetrics& out) const;
  void finish_first_write(RunMetrics& out) const;
  void finish_detect_promote(RunMetrics& out) const;
  void finish_lost(RunMetrics& out, const std::set<std::int64_t>& final_ids) const;
};

MetricsPass::MetricsPass() : s_(std::make_unique<State>()) {}
MetricsPass::~MetricsPass() = default;

// The first injected fault: the earliest send among the actions released
// together (their threads append in any order), and the first return.
void MetricsPass::State::note_inject(const Op& op) {
  if (!op::is(op, op::proc::nemesis, op::fn::inject) || inject_done) return;
  if (op.type == OpType::invoke) {
    if (!m.t_inject_sent || op.mono_ns < m.t_inject_sent->mono) m.t_inject_sent = Instant{op.mono_ns, op.wall_ns};
  } else if (m.t_inject_sent) {
    m.t_inject_returned = Instant{op.mono_ns, op.wall_ns};
    inject_done = true;
  }
}

// A runner step that ends the fault's window: the next inject, heal or
// recover step (their descriptions begin with the step kind, Step::describe).
static bool is_window_closing_step(const Op& op) {
  if (!op::is(op, op::proc::runner, op::fn::step)) return false;
  const std::string_view step = op.value;
  return step.starts_with("inject") || step.starts_with("heal") || step.starts_with("recover");
}

void MetricsPass::State::note_window_end(const Op& op) {
  if (!m.t_inject_sent || window_end || op.mono_ns <= m.t_inject_sent->mono || op.type != OpType::invoke) return;
  // The runner's next inject, heal or recover step, or a heal at the end
  // of the fault's own step (`duration:`). The other nodes of the same
  // fault do not close it.
  if (is_window_closing_step(op) || op::is(op, op::proc::nemesis, op::fn::heal) ||
      op::is(op, op::proc::runner, op::fn::recover))
    window_end = op.mono_ns;
}

// A detection, or a planned operation (cluster step).
void MetricsPass::State::on_driver(const Op& op) {
  if (op.f == op::fn::detect) {
    detects.push_back(Instant{op.mono_ns, op.wall_ns});
    return;
  }
  if (op.type == OpType::invoke || op.type == OpType::info) {
    OperationRecord r;
    r.op = op.f;
    r.node = op.node;
    r.start = Instant{op.mono_ns, op.wall_ns};
    r.outcome = op.type == OpType::info ? "skipped" : "unfinished";
    r.detail = op.type == OpType::info ? op.value : "";
    ops.push_back(std::move(r));
    op_ends.push_back(op.mono_ns);
    op_open = op.type == OpType::invoke;
  } else if (op_open && ops.back().op == op.f) {
    ops.back().outcome = op.type == OpType::ok ? "ok" : "fail";
    ops.back().detail = op.type == OpType::ok ? op.value : op.error;
    op_ends.back() = op.mono_ns;
    op_open = false;
  }
}

// The spread of send times of the actions of one inject step (the largest
// over the run's steps), recorded by the injector.
void MetricsPass::State::on_injection_skew(const Op& op) {
  double v = 0;
  const char* e = op.value.data() + op.value.size();
  auto [p, ec] = std::from_chars(op.value.data(), e, v);
  if (ec == std::errc() && p != op.value.data()) {
    auto [it, fresh] = m.figures.emplace("injection_skew_ms", v);
    if (!fresh) it->second = std::max(it->second, v);
  }
}

void MetricsPass::State::on_role(const Op& op) {
  if (!m.t_inject_sent || op.mono_ns < m.t_inject_sent->mono) {
    if (op.value == "primary")
      primaries_before.insert(op.node);
    else
      primaries_before.erase(op.node);
  } else if (op.value == "primary" && !m.t_promote && !primaries_before.count(op.node)) {
    m.t_promote = Instant{op.mono_ns, op.wall_ns};
  }
}

void MetricsPass::State::on_write(const Op& op) {
  last_client_op = std::max(last_client_op, op.mono_ns);
  auto key = std::make_pair(op.process, op.value);
  if (op.type == OpType::invoke) {
    open[key] = op.mono_ns;
    ++m.invoked_total;
    return;
  }
  std::optional<Nanos> invoked;
  if (auto it = open.find(key); it != open.end()) {
    invoked = it->second;
    open.erase(it);
  }
  switch (op.type) {
    case OpType::ok: {
      ++m.acked_total;
      acks.push_back(Instant{op.mono_ns, op.wall_ns});
      if (invoked) latency.add(op.mono_ns - *invoked);
      std::int64_t id = 0;
      const char* e = op.value.data() + op.value.size();
      auto [p, ec] = std::from_chars(op.value.data(), e, id);
      if (ec == std::errc() && p == e && !op.value.empty()) acked_ids.insert(id);
      break;
    }
    case OpType::info:
      ++m.unknown_commits;
      break;
    case OpType::fail:
      ++m.failed_writes;
      break;
    case OpType::invoke:
      break;
  }
}

void MetricsPass::on_op(const Op& op) {
  State& s = *s_;
  s.note_inject(op);
  s.note_window_end(op);
  if (op::is_from(op, op::proc::driver))
    s.on_driver(op);
  else if (op::is(op, op::proc::nemesis, op::fn::injection_skew))
    s.on_injection_skew(op);
  else if (op::is(op, op::proc::probe, op::fn::role))
    s.on_role(op);
  else if (op::is_ledger_write(op))
    s.on_write(op);
}

// The planned operations: their durations and the writes' stalls around them.
void MetricsPass::State::finish_operations(RunMetrics& out) const {
  std::vector<Nanos> ack_times(acks.size());
  for (std::size_t i = 0; i < acks.size(); ++i) ack_times[i] = acks[i].mono;
  out.operations = ops;
  for (std::size_t i = 0; i < out.operations.size(); ++i) {
    OperationRecord& r = out.operations[i];
    if (r.outcome != "ok" && r.outcome != "fail") continue;
    const Nanos end = op_ends[i];
    r.duration_s = ns_to_s(end - r.start.mono);
    if (auto stall = longest_stall(ack_times, r.start.mono, end, last_client_op)) r.stall_s = ns_to_s(*stall);
    if (!out.op_s || *r.duration_s > *out.op_s) out.op_s = r.duration_s;
    if (r.stall_s && (!out.stall_s || *r.stall_s > *out.stall_s)) out.stall_s = r.stall_s;
  }
}

// downtime_s: the longest gap between consecutive acks.
void MetricsPass::State::finish_downtime(RunMetrics& out) const {
  if (acks.size() < 2) return;
  Nanos best = -1;
  for (std::size_t i = 1; i < acks.size(); ++i) {
    const Nanos gap = acks[i].mono - acks[i - 1].mono;
    if (gap > best) {
      best = gap;
      out.downtime_from = acks[i - 1];
    }
  }
  // An outage that never ended: from the last ack to the clients' last operation.
  if (last_client_op > acks.back().mono && last_client_op - acks.back().mono > best) {
    best = last_client_op - acks.back().mono;
    out.downtime_from = acks.back();
  }
  out.downtime_s = ns_to_s(best);
}

// t_first_write: the acknowledgement that ends the fault's outage, i.e. the
// longest gap between consecutive acks that ends after t_inject_sent and
// starts before the fault's window closes (the next heal, recover or
// inject), measuring each gap only up to the window's end. Writes that
// still succeed on a dying primary right after the fault (a killed
// postmaster's backends can commit for a few ms) are thus not mistaken for
// the failover's end.
void MetricsPass::State::finish_first_write(RunMetrics& out) const {
  if (!out.t_inject_sent) return;
  const Nanos sent = out.t_inject_sent->mono;
  const Nanos end = window_end.value_or(std::numeric_limits<Nanos>::max());
  Nanos best = -1;
  for (std::size_t i = 0; i < acks.size(); ++i) {
    if (acks[i].mono <= sent) continue;
    const Nanos prev = i > 0 ? acks[i - 1].mono : sent;
    if (prev >= end) break;
    // Only the part of a gap inside the window counts: a stall that begins
    // after writes had resumed and runs past the window is not this outage.
    const Nanos gap = std::min(acks[i].mono, end) - prev;
    if (gap > best) {
      best = gap;
      out.t_first_write = acks[i];
    }
  }
  if (out.t_first_write) out.failover_s = ns_to_s(out.t_first_write->mono - sent);
}

// t_detect: the first detection a cluster driver recorded (process "driver",
// f "detect", any type) at or after the inject was sent; earlier ones are
// about something else (e.g. the setup).
void MetricsPass::State::finish_detect_promote(RunMetrics& out) const {
  if (!out.t_inject_sent) return;
  for (const auto& d : detects)
    if (d.mono >= out.t_inject_sent->mono && (!out.t_detect || d.mono < out.t_detect->mono)) out.t_detect = d;
  if (out.t_detect) out.detect_s = ns_to_s(out.t_detect->mono - out.t_inject_sent->mono);
  if (out.t_promote) out.promote_s = ns_to_s(out.t_promote->mono - out.t_inject_sent->mono);
}

void MetricsPass::State::finish_lost(RunMetrics& out, const std::set<std::int64_t>& final_ids) const {
  std::int64_t lost = 0;
  acked_ids.for_each([&](std::int64_t id) {
    if (!final_ids.count(id)) {
      ++lost;
      if (out.lost_ids.size() < 10) out.lost_ids.push_back(id);
    }
    return true;
  });
  out.lost_acked = lost;
}

RunMetrics MetricsPass::finish(const std::optional<std::set<std::int64_t>>& final_ids) {
  State& s = *s_;
  RunMetrics m = s.m;
  // Writes still open at the end of the history never completed: unknown.
  m.unknown_commits += static_cast<std::int64_t>(s.open.size());
  m.p50_latency_ms = s.latency.quantile_ms(0.50);
  m.p99_latency_ms = s.latency.quantile_ms(0.99);
  m.max_latency_ms = s.latency.max_ms();
  std::sort(s.acks.begin(), s.acks.end(), [](const Instant& a, const Instant& b) { return a.mono < b.mono; });
  s.finish_operations(m);
  s.finish_downtime(m);
  s.finish_first_write(m);
  s.finish_detect_promote(m);
  if (final_ids) s.finish_lost(m, *final_ids);
  return m;
}

RunMetrics compute_metrics(const std::vector<Op>& history, const std::optional<std::set<std::int64_t>>& final_ids) {
  MetricsPass pass;
  for (const auto& op : history) pass.on_op(op);
  return pass.finish(final_ids);
}

std::string format_bound(const Bound& b) {
  if (b.min && b.max) return fmt::format("{:g} <= x <= {:g}", *b.min, *b.max);
  if (b.min) return fmt::format(">= {:g}", *b.min);
  if (b.max) return fmt::format("<= {:g}", *b.max);
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
      c.reason = fmt::format("{} = {:g} {} bound {}", metric, x, c.pass ? "within" : "outside", format_bound(bound));
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
