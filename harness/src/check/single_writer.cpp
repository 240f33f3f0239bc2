// The single_writer checker: never two writable nodes at the same time, from
// the probes' state samples (docs/checkers.md).
#include "haverify/check/single_writer.hpp"

#include <algorithm>
#include <optional>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "haverify/core/op.hpp"
#include "pass_text.hpp"
#include "write_attribution.hpp"

namespace haverify {

namespace {

// What one probe state sample says of its node: writable, not writable, or
// nothing (the probe failed, timed out or answered without `writable`).
enum class Seen { no, yes, unknown };

struct ProbeSample {
  Nanos mono = 0;
  Seen seen = Seen::unknown;
  bool malformed = false;
  bool not_serving = false;   // a failed probe whose error says no server accepts connections there
  std::int64_t instance = 0;  // the server instance the sample names (0: none)
};

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

}  // namespace

std::map<std::string, std::vector<TimeWindow>> writable_windows(const std::vector<Op>& history,
                                                                Nanos probe_interval_ns) {
  std::map<std::string, std::vector<TimeWindow>> out;
  for (const auto& [node, samples] : probe_samples(history)) {
    auto w = windows_of(samples, spacing_of(samples, probe_interval_ns));
    if (!w.empty()) out[node] = std::move(w);
  }
  return out;
}

namespace {

class SingleWriterPass final : public CheckerPass {
 public:
  explicit SingleWriterPass(const SingleWriterOptions& o)
      : probe_interval_(o.probe_interval), writes_(o.node_of_address, o.write_gap) {}
  void observe(const Op& op) override {
    tr_.observe(op);
    writes_.observe(op);
    if (auto s = probe_sample(op)) {
      if (s->instance != 0) writes_.note_instance(s->instance, op.node);
      samples_[op.node].push_back(*s);
      if (!first_sample_ || s->mono < *first_sample_) first_sample_ = s->mono;
      last_sample_ = std::max(last_sample_, s->mono);
    } else if (op::is_ledger_write(op) && op.type == OpType::ok) {
      ledger_acks_[op.node].add(op.mono_ns);
    } else if (takes_node_down(op)) {
      downs_[op.node].push_back(op.mono_ns);
    }
  }
  CheckerVerdict finish(const FinalState& final) override;

 private:
  // Per node: its writable windows, and where it may have been writable
  // without a probe saying so.
  struct NodeView {
    Nanos spacing = 0;
    std::vector<TimeWindow> writable, blind;
  };
  std::map<std::string, NodeView> views() const;

  Nanos probe_interval_;
  detail::TimeRef tr_;
  std::map<std::string, std::vector<ProbeSample>> samples_;
  std::map<std::string, std::vector<Nanos>> downs_;  // node -> when haverify took it down
  std::optional<Nanos> first_sample_;
  Nanos last_sample_ = 0;
  std::map<std::string, detail::AckBuckets> ledger_acks_;  // endpoint -> ok writes per 100 ms
  detail::WriteAttribution writes_;
};

std::map<std::string, SingleWriterPass::NodeView> SingleWriterPass::views() const {
  std::map<std::string, NodeView> out;
  for (const auto& [node, s] : samples_) {
    NodeView& v = out[node];
    v.spacing = spacing_of(s, probe_interval_);
    v.writable = windows_of(s, v.spacing);
    std::vector<Nanos> downs;
    if (auto it = downs_.find(node); it != downs_.end()) downs = it->second;
    std::sort(downs.begin(), downs.end());
    // Unseen from the node's own first sample: the probers start together, but their first
    // answers arrive spread over their connects (0.1-0.2 s of SSH set-up in the lab).
    v.blind = blind_windows(s, v.spacing, downs, s.empty() ? 0 : s.front().mono, last_sample_);
  }
  return out;
}

// Where a node may have been writable unseen while another node was seen writable.
std::vector<TimeWindow> unknown_windows(const std::map<std::string, std::vector<TimeWindow>>& writable,
                                        const std::map<std::string, std::vector<TimeWindow>>& blind) {
  std::vector<TimeWindow> out;
  for (const auto& [node, b] : blind)
    for (const auto& [other, w] : writable)
      if (other != node) intersect_into(b, w, out);
  return merged(std::move(out));
}

using detail::count;

constexpr std::size_t kListWindows = 10;  // split-brain windows described

// The samples' counts and their largest gap (per node).
struct SampleStats {
  std::size_t samples = 0, malformed = 0, known = 0;
  Nanos max_gap = 0;
};

// A node whose samples start late or stop early has a gap to the first or
// last sample of any node too.
SampleStats sample_stats(const std::map<std::string, std::vector<ProbeSample>>& samples, Nanos first, Nanos last) {
  SampleStats st;
  for (const auto& [node, s] : samples) {
    st.samples += s.size();
    for (std::size_t i = 0; i < s.size(); ++i) {
      st.malformed += s[i].malformed;
      st.known += s[i].seen != Seen::unknown;
      if (i > 0) st.max_gap = std::max(st.max_gap, s[i].mono - s[i - 1].mono);
    }
    if (!s.empty()) st.max_gap = std::max({st.max_gap, s.front().mono - first, last - s.back().mono});
  }
  return st;
}

// Sweep: where two or more nodes are writable at once. At equal times an
// end is processed before a start, so windows that only touch do not overlap.
std::vector<TimeWindow> overlaps_of(const std::map<std::string, std::vector<TimeWindow>>& per_node) {
  struct Edge {
    Nanos t;
    int delta;
  };
  std::vector<Edge> edges;
  for (const auto& [node, ws] : per_node) {
    for (const auto& w : ws) {
      edges.push_back({w.from, +1});
      edges.push_back({w.to, -1});
    }
  }
  std::sort(edges.begin(), edges.end(),
            [](const Edge& a, const Edge& b) { return a.t != b.t ? a.t < b.t : a.delta < b.delta; });
  std::vector<TimeWindow> overlaps;
  int active = 0;
  Nanos open_from = 0;
  for (const auto& e : edges) {
    const int before = active;
    active += e.delta;
    if (before < 2 && active >= 2) {
      open_from = e.t;
    } else if (before >= 2 && active < 2 && e.t > open_from) {
      if (!overlaps.empty() && overlaps.back().to == open_from) {
        overlaps.back().to = e.t;  // touching windows are one window
      } else {
        overlaps.push_back({open_from, e.t});
      }
    }
  }
  return overlaps;
}

// The nodes writable in the overlap w, with their writable samples there:
// "node1 (3 writable probe samples) and node2 (2 writable probe samples)".
std::string overlap_sides(const TimeWindow& w, const std::map<std::string, std::vector<TimeWindow>>& per_node,
                          const std::map<std::string, std::vector<ProbeSample>>& samples) {
  std::vector<std::string> sides;
  for (const auto& [node, ws] : per_node) {
    const bool in = std::any_of(ws.begin(), ws.end(), [&w](const TimeWindow& x) { return overlap(x, w); });
    if (!in) continue;
    std::size_t probe_writes = 0;
    for (const auto& s : samples.at(node)) probe_writes += s.seen == Seen::yes && s.mono >= w.from && s.mono <= w.to;
    sides.push_back(fmt::format("{} ({} writable probe samples)", node, probe_writes));
  }
  std::string side_list;
  for (std::size_t i = 0; i < sides.size(); ++i) {
    side_list += i == 0 ? "" : (i + 1 == sides.size() ? " and " : ", ");
    side_list += sides[i];
  }
  return side_list;
}

// The ledger writes acknowledged in the overlap w, per endpoint.
std::string overlap_ledger_writes(const TimeWindow& w, const std::map<std::string, detail::AckBuckets>& acks) {
  std::map<std::string, std::uint64_t> in_window;  // endpoint -> ok writes completed in the window
  for (const auto& [endpoint, buckets] : acks) {
    if (const auto n = buckets.in(w.from, w.to)) in_window[endpoint] = n;
  }
  if (in_window.empty()) return "no ledger write acknowledged in the window";
  std::string ledger;
  for (const auto& [endpoint, n] : in_window) {
    if (!ledger.empty()) ledger += ", ";
    ledger += fmt::format("{} ledger writes acknowledged through the endpoint {} (counted to 0.1 s)", n,
                          endpoint.empty() ? std::string("?") : endpoint);
  }
  return ledger + " (attributed to the endpoint, not to either node)";
}

// The nodes with a window in `m` that overlaps w: "node1, node2".
std::string nodes_touching(const TimeWindow& w, const std::map<std::string, std::vector<TimeWindow>>& m) {
  std::vector<std::string> nodes;
  for (const auto& [node, ws] : m)
    if (std::any_of(ws.begin(), ws.end(), [&w](const TimeWindow& x) { return overlap(x, w); })) nodes.push_back(node);
  return fmt::format("{}", fmt::join(nodes, ", "));
}

// "n1 may have been writable unseen for 1.234 s, ... (t=..); meanwhile n2 was writable".
std::string describe_unknown(const TimeWindow& w, const std::map<std::string, std::vector<TimeWindow>>& writable,
                             const std::map<std::string, std::vector<TimeWindow>>& blind, const detail::TimeRef& tr) {
  const auto touching = [&w](const std::map<std::string, std::vector<TimeWindow>>& m) { return nodes_touching(w, m); };
  return fmt::format(
      "split brain not excluded: {} unseen by the probes (failed or missing before it was first seen or after it was "
      "last seen writable, and not taken down by haverify) for {:.3f} s, {} .. {} (t={:.3f}..{:.3f} s), while {} "
      "was writable",
      touching(blind), ns_to_s(w.to - w.from), tr.wall(w.from), tr.wall(w.to), tr.rel_s(w.from), tr.rel_s(w.to),
      touching(writable));
}

// The windows for report.html's timeline (CheckerVerdict::windows).
void mark_windows(CheckerVerdict& v, const std::vector<TimeWindow>& overlaps, const std::vector<TimeWindow>& unknown,
                  const std::map<std::string, std::vector<TimeWindow>>& writable,
                  const std::map<std::string, std::vector<TimeWindow>>& blind, const detail::TimeRef& tr) {
  for (const auto& w : overlaps) {
    if (v.windows.size() >= kMaxMarkedWindows) return;
    v.windows.push_back({"split_brain", tr.rel_s(w.from), tr.rel_s(w.to), nodes_touching(w, writable) + " writable"});
  }
  for (const auto& w : unknown) {
    if (v.windows.size() >= kMaxMarkedWindows) return;
    v.windows.push_back({"unknown", tr.rel_s(w.from), tr.rel_s(w.to),
                         nodes_touching(w, blind) + " unseen while " + nodes_touching(w, writable) + " writable"});
  }
}

CheckerVerdict SingleWriterPass::finish(const FinalState& /*final*/) {
  CheckerVerdict v;
  // The writes' own evidence stands whatever the probes saw.
  const bool writes_overlap = writes_.finish(v, tr_);
  sort_samples(samples_);
  const SampleStats st = sample_stats(samples_, first_sample_.value_or(0), last_sample_);
  v.figures["probe_samples"] = count(st.samples);
  v.figures["probe_nodes"] = count(samples_.size());
  if (st.known == 0) {
    v.status = writes_overlap ? CheckStatus::fail : CheckStatus::unknown;
    v.reasons.push_back(st.samples == 0 ? std::string("no probe state samples in the history")
                                        : fmt::format("none of the {} probe state samples said whether a node was "
                                                      "writable (all failed or malformed)",
                                                      st.samples));
    return v;
  }
  v.figures["max_probe_gap_s"] = ns_to_s(st.max_gap);
  if (st.malformed)
    v.reasons.push_back(
        fmt::format("{} probe samples without a boolean `writable` were taken as unknown", st.malformed));

  std::map<std::string, std::vector<TimeWindow>> writable, blind;
  Nanos spacing = 0;
  for (const auto& [node, view] : views()) {
    writable[node] = view.writable;
    blind[node] = view.blind;
    spacing = std::max(spacing, view.spacing);
  }
  v.figures["probe_spacing_s"] = ns_to_s(spacing);
  const std::vector<TimeWindow> overlaps = overlaps_of(writable);
  const std::vector<TimeWindow> unknown = unknown_windows(writable, blind);
  const auto total = [](const std::vector<TimeWindow>& ws) {
    Nanos t = 0;
    for (const auto& w : ws) t += w.to - w.from;
    return ns_to_s(t);
  };
  v.figures["split_brain_windows"] = count(overlaps.size());
  v.figures["split_brain_s"] = total(overlaps);
  v.figures["unknown_windows"] = count(unknown.size());
  v.figures["unknown_s"] = total(unknown);

  mark_windows(v, overlaps, unknown, writable, blind, tr_);
  std::vector<std::string> described;
  for (std::size_t k = 0; k < overlaps.size() && k < kListWindows; ++k) {
    const auto& w = overlaps[k];
    described.push_back(fmt::format("split brain: {} writable at once for {:.3f} s, {} .. {} (t={:.3f}..{:.3f} s); {}",
                                    overlap_sides(w, writable, samples_), ns_to_s(w.to - w.from), tr_.wall(w.from),
                                    tr_.wall(w.to), tr_.rel_s(w.from), tr_.rel_s(w.to),
                                    overlap_ledger_writes(w, ledger_acks_)));
  }
  if (overlaps.size() > kListWindows)
    described.push_back(fmt::format("(+{} more split-brain windows)", overlaps.size() - kListWindows));
  for (std::size_t k = 0; k < unknown.size() && k < kListWindows; ++k)
    described.push_back(describe_unknown(unknown[k], writable, blind, tr_));
  if (unknown.size() > kListWindows)
    described.push_back(fmt::format("(+{} more unknown windows)", unknown.size() - kListWindows));
  if (described.empty())
    described.push_back(
        fmt::format("never two writable nodes ({} samples from {} nodes)", st.samples, samples_.size()));
  v.status = !overlaps.empty() || writes_overlap ? CheckStatus::fail
             : !unknown.empty()                  ? CheckStatus::unknown
                                                 : CheckStatus::pass;
  v.reasons.insert(v.reasons.begin(), described.begin(), described.end());
  return v;
}

}  // namespace

std::unique_ptr<CheckerPass> SingleWriterChecker::start() const {
  return std::make_unique<SingleWriterPass>(options_);
}

}  // namespace haverify
