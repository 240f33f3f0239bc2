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
#include "probe_windows.hpp"
#include "write_attribution.hpp"

namespace haverify {

using detail::add_unseen;
using detail::blind_windows;
using detail::intersect_into;
using detail::merged;
using detail::overlap;
using detail::probe_sample;
using detail::probe_samples;
using detail::ProbeSample;
using detail::Seen;
using detail::self_healing_cut;
using detail::sort_samples;
using detail::spacing_of;
using detail::takes_node_down;
using detail::windows_of;

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
    } else if (self_healing_cut(op)) {
      note_cut(op);
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
  // A self-healing cut begins (inject ok) or ends (heal ok or failed).
  void note_cut(const Op& op) {
    const std::string key = op.node + '\n' + op.value;
    if (op::is(op, op::proc::nemesis, op::fn::inject)) {
      cut_open_[key] = op.mono_ns;
    } else if (auto it = cut_open_.find(key); it != cut_open_.end()) {
      cuts_[op.node].push_back(TimeWindow{it->second, op.mono_ns});
      cut_open_.erase(it);
    }
  }
  std::map<std::string, std::vector<Nanos>> downs_;      // node -> when haverify took it down
  std::map<std::string, Nanos> cut_open_;                // "node\ndescription" -> self-healing cut began
  std::map<std::string, std::vector<TimeWindow>> cuts_;  // node -> its self-healing cuts
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
    std::vector<TimeWindow> cut = cuts_.count(node) ? cuts_.at(node) : std::vector<TimeWindow>{};
    for (const auto& [key, from] : cut_open_)  // never healed: until the end
      if (key.substr(0, key.find('\n')) == node) cut.push_back(TimeWindow{from, last_sample_});
    const Nanos gap = std::max<Nanos>(1'000'000'000, 4 * v.spacing);
    for (const auto& w : cut) add_unseen(v.blind, s, w, gap);
    v.blind = merged(std::move(v.blind));
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
      "last seen writable, or during a self-healing cut, and not taken down by haverify) for {:.3f} s, {} .. {} "
      "(t={:.3f}..{:.3f} s), while {} "
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
