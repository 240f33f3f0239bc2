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

struct MetricsPass::State {
  RunMetrics m;
  bool inject_done = false;  // t_inject_sent and t_inject_returned settled
  // The fault's window closes at the first runner inject/heal/recover step,
  // nemesis heal or runner recover invoked after t_inject_sent.
  std::optional<Nanos> window_end;
  // Open client writes: (process, id) -> invoke time. Bounded by the clients.
  std::map<std::pair<std::string, std::string>, Nanos> open;
  // The acks, folded into the gap figures as they are released in order.
  AckStream acks{[this](const std::optional<Instant>& prev, const Instant& ack) { on_ack(prev, ack); }};
  Nanos longest_gap = -1;      // downtime_s so far
  Nanos first_write_gap = -1;  // the fault's outage so far (t_first_write)
  bool first_write_closed = false;
  IdSet acked_ids;
  Nanos last_client_op = 0;
  LatencyHistogram latency;
  std::set<std::string> primaries_before;  // role reports before the fault
  // Driver detections (process "driver", f "detect"): few, and appended
  // after the steps with earlier timestamps, so judged at finish.
  std::vector<Instant> detects;
  // Cluster operations (process "driver", any other f), and the writes'
  // stall around each (its end once known); the one still open is the last.
  std::vector<OperationRecord> ops;
  std::vector<StallWatch> stalls;  // one per operation
  std::size_t first_live_stall = 0;
  bool op_open = false;

  // on_op, by what the op is about.
  void note_inject(const Op& op);
  void note_window_end(const Op& op);
  void on_driver(const Op& op);
  void on_injection_skew(const Op& op);
  void on_role(const Op& op);
  void on_write(const Op& op);
  // Each ack in time order, after the one before it.
  void on_ack(const std::optional<Instant>& prev, const Instant& ack);
  void first_write_gap_to(const std::optional<Instant>& prev, const Instant& ack);
  // finish, one figure at a time.
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
    stalls.emplace_back(op.mono_ns);
    if (op.type == OpType::info) stalls.back().close(op.mono_ns);
    op_open = op.type == OpType::invoke;
  } else if (op_open && ops.back().op == op.f) {
    ops.back().outcome = op.type == OpType::ok ? "ok" : "fail";
    ops.back().detail = op.type == OpType::ok ? op.value : op.error;
    stalls.back().close(op.mono_ns);
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
    m.promoted = op.node;
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
      acks.add(Instant{op.mono_ns, op.wall_ns});
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
  else if (op::is(op, op::proc::runner, op::fn::writes_resumed) && op.type == OpType::fail)
    s.m.writes_not_resumed.push_back(op.error);
}

void MetricsPass::State::on_ack(const std::optional<Instant>& prev, const Instant& ack) {
  first_write_gap_to(prev, ack);
  if (!prev) return;
  if (ack.mono - prev->mono > longest_gap) {
    longest_gap = ack.mono - prev->mono;
    m.downtime_from = *prev;
  }
  // Operations closed before this gap stay closed (one at a time, in order).
  while (first_live_stall < stalls.size() && stalls[first_live_stall].done_before(prev->mono)) ++first_live_stall;
  for (std::size_t i = first_live_stall; i < stalls.size(); ++i) stalls[i].on_gap(prev->mono, ack.mono);
}

// The planned operations: their durations and the writes' stalls around them.
void MetricsPass::State::finish_operations(RunMetrics& out) const {
  out.operations = ops;
  for (std::size_t i = 0; i < out.operations.size(); ++i) {
    OperationRecord& r = out.operations[i];
    if (r.outcome != "ok" && r.outcome != "fail") continue;
    const Nanos end = *stalls[i].end();  // ok and fail close it
    r.duration_s = ns_to_s(end - r.start.mono);
    if (auto stall = stalls[i].finish(acks.last(), last_client_op)) r.stall_s = ns_to_s(*stall);
    if (!out.op_s || *r.duration_s > *out.op_s) out.op_s = r.duration_s;
    if (r.stall_s && (!out.stall_s || *r.stall_s > *out.stall_s)) out.stall_s = r.stall_s;
  }
}

// downtime_s: the longest gap between consecutive acks.
void MetricsPass::State::finish_downtime(RunMetrics& out) const {
  if (longest_gap < 0) return;  // fewer than two acks
  Nanos best = longest_gap;
  // An outage that never ended: from the last ack to the clients' last operation.
  const Instant last = *acks.last();
  if (last_client_op > last.mono && last_client_op - last.mono > best) {
    best = last_client_op - last.mono;
    out.downtime_from = last;
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
void MetricsPass::State::first_write_gap_to(const std::optional<Instant>& prev, const Instant& ack) {
  if (!m.t_inject_sent || first_write_closed || ack.mono <= m.t_inject_sent->mono) return;
  const Nanos from = prev ? prev->mono : m.t_inject_sent->mono;
  const Nanos end = window_end.value_or(std::numeric_limits<Nanos>::max());
  if (from >= end) {
    first_write_closed = true;
    return;
  }
  // Only the part of a gap inside the window counts: a stall that begins
  // after writes had resumed and runs past the window is not this outage.
  const Nanos gap = std::min(ack.mono, end) - from;
  if (gap > first_write_gap) {
    first_write_gap = gap;
    m.t_first_write = ack;
  }
}

void MetricsPass::State::finish_first_write(RunMetrics& out) const {
  if (out.t_inject_sent && out.t_first_write)
    out.failover_s = ns_to_s(out.t_first_write->mono - out.t_inject_sent->mono);
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
  s.acks.drain();  // the last acks settle their figures in s.m
  RunMetrics m = s.m;
  // Writes still open at the end of the history never completed: unknown.
  m.unknown_commits += static_cast<std::int64_t>(s.open.size());
  m.p50_latency_ms = s.latency.quantile_ms(0.50);
  m.p99_latency_ms = s.latency.quantile_ms(0.99);
  m.max_latency_ms = s.latency.max_ms();
  if (s.acks.late() > 0) m.figures["late_acks"] = static_cast<double>(s.acks.late());
  s.finish_operations(m);
  s.finish_downtime(m);
  s.finish_first_write(m);
  s.finish_detect_promote(m);
  if (final_ids) s.finish_lost(m, *final_ids);
  m.primaries_before = s.primaries_before;
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
