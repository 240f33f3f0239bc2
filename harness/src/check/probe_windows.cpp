// The probes' state samples as time windows, for the single_writer pass:
// when each node was seen writable, and where it may have been writable
// unseen (docs/checkers.md, single_writer).
#include "probe_windows.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "haverify/core/op.hpp"

namespace haverify::detail {

namespace {

// A probe error that says the node is reachable and PostgreSQL is not
// serving there: refused (nothing listens), no socket, or the server's own
// "starting up", "shutting down", "in recovery mode", "not accepting
// connections". A timeout, no route or an SSH failure says nothing.
bool says_not_serving(std::string_view error) {
  for (std::string_view p : {"Connection refused", "No such file or directory", "the database system is starting up",
                             "the database system is shutting down", "the database system is in recovery mode",
                             "not yet accepting connections", "is not accepting connections"})
    if (error.find(p) != std::string_view::npos) return true;
  return false;
}

}  // namespace

// One probe state op as a sample (nullopt for ops that are not samples).
std::optional<ProbeSample> probe_sample(const Op& op) {
  if (!op::is(op, op::proc::probe, op::fn::state) || op.type == OpType::invoke) return std::nullopt;
  ProbeSample s;
  s.mono = op.mono_ns;
  if (op.type == OpType::fail) {
    s.not_serving = says_not_serving(op.error);
  } else if (op.type == OpType::ok) {
    const auto j = nlohmann::json::parse(op.value, nullptr, /*allow_exceptions=*/false);
    if (j.is_object() && j.contains("writable") && j["writable"].is_boolean()) {
      s.seen = j["writable"].get<bool>() ? Seen::yes : Seen::no;
    } else {
      s.malformed = true;
    }
    if (j.is_object() && j.contains("instance") && j["instance"].is_number_integer())
      s.instance = j["instance"].get<std::int64_t>();
  }
  return s;
}

// A fault after which haverify knows the node cannot take writes until it
// answers again: a power-off, or the postmaster killed (nemesis inject ok).
bool takes_node_down(const Op& op) {
  if (!op::is(op, op::proc::nemesis, op::fn::inject) || op.type != OpType::ok) return false;
  const std::string_view v = op.value;
  return v.starts_with("power_off ") || v.starts_with("process_kill postmaster ");
}

// A self-healing cut (faults/fault.cpp describes it so): from its inject to
// its heal, the node may be out of the probes' reach.
bool self_healing_cut(const Op& op) {
  if (op.value.find(", self-healing after ") == std::string::npos) return false;
  if (op::is(op, op::proc::nemesis, op::fn::inject)) return op.type == OpType::ok;
  return op::is(op, op::proc::nemesis, op::fn::heal) && op.type != OpType::invoke;
}

// Inside a self-healing cut's window w (from its start until the node is
// seen again): the stretches between known samples further apart than `gap`, where the node was unseen whatever
// it was last seen as (a node last seen not writable is otherwise taken to
// stay so until a probe says more).
void add_unseen(std::vector<TimeWindow>& out, const std::vector<ProbeSample>& s, const TimeWindow& w, Nanos gap) {
  Nanos prev = w.from;
  const auto to = [&](Nanos t) {
    if (t - prev > gap) out.push_back(TimeWindow{prev, t});
    prev = t;
  };
  Nanos end = w.to;  // until the node is seen again
  for (const auto& x : s) {
    if (x.seen == Seen::unknown || x.mono <= w.from) continue;
    if (x.mono >= w.to) {
      end = x.mono;
      break;
    }
    to(x.mono);
  }
  to(end);
}

// In time order. A "not serving" failure counts as not writable when the
// probes work on this cluster (some node's probe answered during the run, so
// the probe's user, socket and port are right); if none ever did, the probe
// itself may be wrong, and such samples stay unknown. A shared disk's passive
// node runs no PostgreSQL: its refusals are its true state.
void sort_samples(std::map<std::string, std::vector<ProbeSample>>& samples) {
  bool probes_work = false;
  for (auto& [node, s] : samples) {
    std::stable_sort(s.begin(), s.end(), [](const ProbeSample& a, const ProbeSample& b) { return a.mono < b.mono; });
    for (const auto& x : s) probes_work = probes_work || x.seen != Seen::unknown;
  }
  if (!probes_work) return;
  for (auto& [node, s] : samples)
    for (auto& x : s)
      if (x.seen == Seen::unknown && x.not_serving) x.seen = Seen::no;
}

std::map<std::string, std::vector<ProbeSample>> probe_samples(const std::vector<Op>& history) {
  std::map<std::string, std::vector<ProbeSample>> out;
  for (const Op& op : history) {
    if (auto s = probe_sample(op)) out[op.node].push_back(*s);
  }
  sort_samples(out);
  return out;
}

// The node's measured sample spacing: the median gap between its
// consecutive samples (`fallback`, the configured interval, with fewer than
// two samples). SSH probes answer every 68 ms at the median, 125 ms at p95,
// whatever the configured 50 ms.
Nanos spacing_of(const std::vector<ProbeSample>& s, Nanos fallback) {
  std::vector<Nanos> gaps;
  for (std::size_t i = 1; i < s.size(); ++i)
    if (s[i].mono > s[i - 1].mono) gaps.push_back(s[i].mono - s[i - 1].mono);
  if (gaps.empty()) return fallback;
  std::nth_element(gaps.begin(), gaps.begin() + static_cast<std::ptrdiff_t>(gaps.size() / 2), gaps.end());
  return gaps[gaps.size() / 2];
}

void add_window(std::vector<TimeWindow>& out, Nanos from, Nanos to) {
  if (to <= from) return;
  if (!out.empty() && from <= out.back().to) {
    out.back().to = std::max(out.back().to, to);
  } else {
    out.push_back(TimeWindow{from, to});
  }
}

// A run of consecutive writable samples a..b is one window: from the sample
// before it (at most one spacing `e` before t_a) to the sample after it (at
// most `e` after t_b). Inside a run the node answered writable at both ends
// and nothing said otherwise, so a slow sample does not split the window.
// Unknown samples inside a run do not end it either.
std::vector<TimeWindow> windows_of(const std::vector<ProbeSample>& s, Nanos e) {
  std::vector<TimeWindow> out;
  std::size_t i = 0;
  while (i < s.size()) {
    if (s[i].seen != Seen::yes) {
      ++i;
      continue;
    }
    const std::size_t a = i;
    std::size_t b = i;
    for (std::size_t k = i + 1; k < s.size() && s[k].seen != Seen::no; ++k)
      if (s[k].seen == Seen::yes) b = k;
    i = b + 1;
    const Nanos from = a > 0 ? std::max(s[a - 1].mono, s[a].mono - e) : s[a].mono - e;
    const Nanos to = b + 1 < s.size() ? std::min(s[b + 1].mono, s[b].mono + e) : s[b].mono + e;
    add_window(out, from, to);
  }
  return out;
}

// Where the node may have been writable without a probe saying so: after
// it was last seen writable (one spacing on), or from `begin` (its first
// sample) before it was ever seen,
// until a probe says it is not writable, or haverify took it down (`downs`:
// a power-off or a killed postmaster), or `end` (the last sample of any
// node). Unknown samples inside a writable run are covered by its window.
std::vector<TimeWindow> blind_windows(const std::vector<ProbeSample>& s, Nanos e, const std::vector<Nanos>& downs,
                                      Nanos begin, Nanos end) {
  std::vector<TimeWindow> out;
  std::optional<Seen> last;  // the last known state (nullopt: none yet)
  Nanos seen_at = begin;     // the last known sample
  Nanos from = begin;        // where not knowing began
  auto close = [&](Nanos to) {
    const auto down = std::upper_bound(downs.begin(), downs.end(), seen_at);
    add_window(out, from, down != downs.end() ? std::min(to, *down) : to);
  };
  for (const auto& x : s) {
    if (x.seen == Seen::unknown) continue;
    // yes .. yes is one writable window (windows_of): nothing blind in it.
    if (!last || (*last == Seen::yes && x.seen == Seen::no)) close(x.mono);
    last = x.seen;
    seen_at = x.mono;
    from = x.mono + (x.seen == Seen::yes ? e : 0);
  }
  if (!last || *last == Seen::yes) close(end);
  return out;
}

bool overlap(const TimeWindow& a, const TimeWindow& b) {
  return std::min(a.to, b.to) > std::max(a.from, b.from);
}

// The stretches of `a` that overlap any window of `b`.
void intersect_into(const std::vector<TimeWindow>& a, const std::vector<TimeWindow>& b, std::vector<TimeWindow>& out) {
  for (const auto& x : a)
    for (const auto& y : b)
      if (overlap(x, y)) out.push_back(TimeWindow{std::max(x.from, y.from), std::min(x.to, y.to)});
}

std::vector<TimeWindow> merged(std::vector<TimeWindow> w) {
  std::sort(w.begin(), w.end(), [](const TimeWindow& a, const TimeWindow& b) { return a.from < b.from; });
  std::vector<TimeWindow> out;
  for (const auto& x : w) add_window(out, x.from, x.to);
  return out;
}

}  // namespace haverify::detail
