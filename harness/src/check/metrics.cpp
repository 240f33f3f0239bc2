#include "haverify/check/metrics.hpp"

#include <algorithm>
#include <charconv>
#include <limits>
#include <map>
#include <string_view>

#include <fmt/format.h>

#include "endpoint_moves.hpp"
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

namespace {

// One inject step's fault: when it was sent (the earliest send of the
// actions released together) and first returned, its window (closed by the
// next runner inject/heal/recover step, nemesis heal or runner recover), the
// outage it caused (t_first_write) and the primary it changed (the first
// node, not a primary before it, that answered as one after it).
struct FaultWindow {
  Instant sent;
  std::optional<Instant> returned;
  std::optional<Nanos> end;
  Nanos first_write_gap = -1;  // the fault's outage so far
  bool closed = false;         // an ack from after its end was seen
  std::optional<Instant> first_write;
  std::set<std::string> primaries_before;
  std::optional<Instant> promote;
  std::string promoted;
  std::string label;  // the faults' descriptions
  // The nodes it powered off: what their own logs say after it is not the
  // cluster noticing (a pgpool cut from its backends as its node goes down).
  std::set<std::string> powered_off;
};

}  // namespace

struct MetricsPass::State {
  explicit State(MetricsOptions o) : options(std::move(o)) {}
  MetricsOptions options;
  RunMetrics m;
  std::vector<FaultWindow> faults;      // one per inject step, in order
  std::size_t first_open_fault = 0;     // the faults before it have their t_first_write settled
  std::set<std::string> primaries_now;  // from the role probes
  detail::EndpointMoves moves;          // the VIP holder and the DNS answer, per fault
  // Open client writes: (process, id) -> invoke time. Bounded by the clients.
  std::map<std::pair<std::string, std::string>, Nanos> open;
  // The acks, folded into the gap figures as they are released in order.
  AckStream acks{[this](const std::optional<Instant>& prev, const Instant& ack) { on_ack(prev, ack); }};
  Nanos longest_gap = -1;  // downtime_s so far
  IdSet acked_ids;
  Nanos last_client_op = 0;
  LatencyHistogram latency;
  // Driver detections (process "driver", f "detect"): few, and appended
  // after the steps with earlier timestamps, so judged at finish.
  std::vector<std::pair<Instant, std::string>> detects;  // and the node whose log says so
  // Cluster operations (process "driver", any other f), and the writes'
  // stall around each (its end once known); the one still open is the last.
  std::vector<OperationRecord> ops;
  std::vector<StallWatch> stalls;  // one per operation
  std::size_t first_live_stall = 0;
  bool op_open = false;
  // Maintenance ops (process "maintenance"): invoke and, once it ended,
  // ok/fail; the open ones by f and target. Few: judged at finish.
  std::vector<std::pair<Nanos, std::optional<Nanos>>> maintenance;
  std::map<std::string, std::size_t> maintenance_open;

  // on_op, by what the op is about.
  void note_inject(const Op& op);
  void note_window_end(const Op& op);
  void on_driver(const Op& op);
  void on_injection_skew(const Op& op);
  void on_role(const Op& op);
  void on_write(const Op& op);
  void on_maintenance(const Op& op);
  // Each ack in time order, after the one before it.
  void on_ack(const std::optional<Instant>& prev, const Instant& ack);
  void first_write_gap_to(const std::optional<Instant>& prev, const Instant& ack);
  static void first_write_gap_to(FaultWindow& w, const std::optional<Instant>& prev, const Instant& ack);
  // finish, one figure at a time.
  std::optional<std::size_t> anchor(std::string& why) const;
  void finish_anchor(RunMetrics& out) const;
  void finish_operations(RunMetrics& out) const;
  void finish_downtime(RunMetrics& out) const;
  void finish_detect_promote(RunMetrics& out, const FaultWindow& w, std::optional<Nanos> next_sent) const;
  void finish_lost(RunMetrics& out, const std::set<std::int64_t>& final_ids) const;
  void finish_maintenance(RunMetrics& out) const;
};

MetricsPass::MetricsPass(MetricsOptions options) : s_(std::make_unique<State>(std::move(options))) {}
MetricsPass::~MetricsPass() = default;

// An inject: a new fault window for the first send of an inject step (the
// last window was closed, or had returned before this send); else the
// earliest send and the first return of the actions released together.
void MetricsPass::State::note_inject(const Op& op) {
  if (!op::is(op, op::proc::nemesis, op::fn::inject)) return;
  const Instant at{op.mono_ns, op.wall_ns};
  if (op.type != OpType::invoke) {
    if (!faults.empty() && !faults.back().returned) faults.back().returned = at;
    return;
  }
  const bool fresh =
      faults.empty() || faults.back().end || (faults.back().returned && op.mono_ns > faults.back().returned->mono);
  const bool power_off = std::string_view(op.value).starts_with("power_off ");
  if (fresh) {
    FaultWindow w;
    if (power_off) w.powered_off.insert(op.node);
    w.sent = at;
    w.primaries_before = primaries_now;
    w.label = op.value;
    moves.fault_sent(at.mono);
    faults.push_back(std::move(w));
    return;
  }
  FaultWindow& w = faults.back();
  if (power_off) w.powered_off.insert(op.node);
  if (op.mono_ns < w.sent.mono) w.sent = at;
  if (w.label.find(op.value) == std::string::npos) w.label += " & " + op.value;
}

// A runner step that ends the fault's window: the next inject, heal or
// recover step (their descriptions begin with the step kind, Step::describe).
static bool is_window_closing_step(const Op& op) {
  if (!op::is(op, op::proc::runner, op::fn::step)) return false;
  const std::string_view step = op.value;
  return step.starts_with("inject") || step.starts_with("heal") || step.starts_with("recover");
}

void MetricsPass::State::note_window_end(const Op& op) {
  if (faults.empty() || op.type != OpType::invoke) return;
  FaultWindow& w = faults.back();
  if (w.end || op.mono_ns <= w.sent.mono) return;
  // The runner's next inject, heal or recover step, or a heal at the end
  // of the fault's own step (`duration:`). The other nodes of the same
  // fault do not close it.
  if (is_window_closing_step(op) || op::is(op, op::proc::nemesis, op::fn::heal) ||
      op::is(op, op::proc::runner, op::fn::recover))
    w.end = op.mono_ns;
}

// A detection, or a planned operation (cluster step).
void MetricsPass::State::on_driver(const Op& op) {
  if (op.f == op::fn::detect) {
    detects.emplace_back(Instant{op.mono_ns, op.wall_ns}, op.node);
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
  if (!faults.empty() && op.value == "primary") {
    FaultWindow& w = faults.back();
    if (!w.promote && !w.primaries_before.count(op.node)) {
      w.promote = Instant{op.mono_ns, op.wall_ns};
      w.promoted = op.node;
    }
  }
  if (op.value == "primary")
    primaries_now.insert(op.node);
  else
    primaries_now.erase(op.node);
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

void MetricsPass::State::on_maintenance(const Op& op) {
  const std::string key = op.f + '\n' + op.node;
  if (op.type == OpType::invoke) {
    maintenance_open[key] = maintenance.size();
    maintenance.emplace_back(op.mono_ns, std::nullopt);
    return;
  }
  if (auto it = maintenance_open.find(key); it != maintenance_open.end()) {
    maintenance[it->second].second = op.mono_ns;
    maintenance_open.erase(it);
  }
}

// maintenance_in_flight: the maintenance ops invoked before the measured
// fault was sent that had not ended by then (a background CHECKPOINT the
// power-off cut short); no figure if the run ran no maintenance.
void MetricsPass::State::finish_maintenance(RunMetrics& out) const {
  if (maintenance.empty() || !out.t_inject_sent) return;
  const Nanos sent = out.t_inject_sent->mono;
  double n = 0;
  for (const auto& [start, end] : maintenance)
    if (start <= sent && (!end || *end > sent)) ++n;
  out.figures["maintenance_in_flight"] = n;
}

void MetricsPass::on_op(const Op& op) {
  State& s = *s_;
  s.note_inject(op);
  s.note_window_end(op);
  s.moves.on_op(op);
  if (op::is_from(op, op::proc::driver))
    s.on_driver(op);
  else if (op::is(op, op::proc::nemesis, op::fn::injection_skew))
    s.on_injection_skew(op);
  else if (op::is(op, op::proc::probe, op::fn::role))
    s.on_role(op);
  else if (op::is_ledger_write(op))
    s.on_write(op);
  else if (op::is_from(op, op::proc::maintenance))
    s.on_maintenance(op);
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
// the failover's end. Nor are acks that come back while the fault is still
// being applied (before its inject returned: a power-off of several nodes
// takes most of a second): they are commits in flight, not a resumption.
void MetricsPass::State::first_write_gap_to(const std::optional<Instant>& prev, const Instant& ack) {
  for (std::size_t i = first_open_fault; i < faults.size(); ++i) {
    if (ack.mono <= faults[i].sent.mono) break;  // later faults were sent later still
    first_write_gap_to(faults[i], prev, ack);
  }
  while (first_open_fault < faults.size() && faults[first_open_fault].closed) ++first_open_fault;
}

void MetricsPass::State::first_write_gap_to(FaultWindow& w, const std::optional<Instant>& prev, const Instant& ack) {
  if (w.closed) return;
  const Nanos from = prev ? prev->mono : w.sent.mono;
  const Nanos end = w.end.value_or(std::numeric_limits<Nanos>::max());
  if (from >= end) {
    w.closed = true;
    return;
  }
  // Only the part of a gap inside the window counts: a stall that begins
  // after writes had resumed and runs past the window is not this outage.
  const Nanos gap = std::min(ack.mono, end) - from;
  if (w.returned && ack.mono < w.returned->mono) return;  // in flight while the fault was applied
  if (gap > w.first_write_gap) {
    w.first_write_gap = gap;
    w.first_write = ack;
  }
}

// The fault the timings are measured from: the one measure_from names, else
// the first that changed the primary, else the last one.
std::optional<std::size_t> MetricsPass::State::anchor(std::string& why) const {
  if (options.measure_from) {
    if (*options.measure_from < faults.size()) {
      why = fmt::format("{}: {} (named by measure_from)", options.measure_from_id, faults[*options.measure_from].label);
      return options.measure_from;
    }
    why = fmt::format("{} (named by measure_from) was never injected", options.measure_from_id);
    return std::nullopt;
  }
  if (faults.empty()) return std::nullopt;
  for (std::size_t i = 0; i < faults.size(); ++i) {
    if (!faults[i].promote) continue;
    why = faults.size() == 1 ? faults[i].label
                             : fmt::format("{} (the first fault that changed the primary)", faults[i].label);
    return i;
  }
  why = faults.size() == 1 ? faults.back().label
                           : fmt::format("{} (the last fault; none changed the primary)", faults.back().label);
  return faults.size() - 1;
}

void MetricsPass::State::finish_anchor(RunMetrics& out) const {
  const auto i = anchor(out.measured_from);
  if (!i) {
    out.primaries_before = primaries_now;  // no fault: the primaries of the whole run
    return;
  }
  const FaultWindow& w = faults[*i];
  out.t_inject_sent = w.sent;
  out.t_inject_returned = w.returned;
  out.t_first_write = w.first_write;
  out.t_promote = w.promote;
  out.promoted = w.promoted;
  out.primaries_before = w.primaries_before;
  // An ack released before the inject's return was known (an injection
  // slower than the acks' reorder window) is no resumption either.
  if (w.first_write && w.returned && w.first_write->mono < w.returned->mono) out.t_first_write.reset();
  if (out.t_first_write) out.failover_s = ns_to_s(out.t_first_write->mono - w.sent.mono);
  // The endpoint's move, unless the next fault came first.
  const Nanos next = *i + 1 < faults.size() ? faults[*i + 1].sent.mono : std::numeric_limits<Nanos>::max();
  if (const auto t = moves.vip_moved(*i); t && *t < next) out.figures["vip_s"] = ns_to_s(*t - w.sent.mono);
  if (const auto t = moves.dns_moved(*i); t && *t < next) out.figures["dns_s"] = ns_to_s(*t - w.sent.mono);
  finish_detect_promote(out, w, *i + 1 < faults.size() ? std::optional<Nanos>(faults[*i + 1].sent.mono) : std::nullopt);
}

// t_detect: the first detection a cluster driver recorded (process "driver",
// f "detect", any type) at or after the anchored fault was sent and before
// the next fault; earlier ones are about something else (e.g. the setup),
// and so are those in the log of a node the fault powered off.
void MetricsPass::State::finish_detect_promote(RunMetrics& out, const FaultWindow& w,
                                               std::optional<Nanos> next_sent) const {
  for (const auto& [d, node] : detects)
    if (d.mono >= out.t_inject_sent->mono && (!next_sent || d.mono < *next_sent) &&
        (!out.t_detect || d.mono < out.t_detect->mono) && !w.powered_off.count(node))
      out.t_detect = d;
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
  s.finish_anchor(m);
  s.finish_maintenance(m);
  if (final_ids) s.finish_lost(m, *final_ids);
  return m;
}

RunMetrics compute_metrics(const std::vector<Op>& history, const std::optional<std::set<std::int64_t>>& final_ids) {
  MetricsPass pass;
  for (const auto& op : history) pass.on_op(op);
  return pass.finish(final_ids);
}

}  // namespace haverify
