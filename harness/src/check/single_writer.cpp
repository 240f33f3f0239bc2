// The single_writer checker: never two writable nodes at the same time, from
// the probes' state samples (docs/checkers.md).
#include "haverify/check/single_writer.hpp"

#include <algorithm>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "haverify/core/op.hpp"
#include "pass_text.hpp"

namespace haverify {

namespace {

struct ProbeSample {
  Nanos mono = 0;
  bool writable = false;
  bool malformed = false;
};

// One probe state op as a sample (nullopt for ops that are not samples).
std::optional<ProbeSample> probe_sample(const Op& op) {
  if (!op::is(op, op::proc::probe, op::fn::state) || op.type == OpType::invoke) return std::nullopt;
  ProbeSample s;
  s.mono = op.mono_ns;
  if (op.type == OpType::ok) {
    const auto j = nlohmann::json::parse(op.value, nullptr, /*allow_exceptions=*/false);
    if (j.is_object() && j.contains("writable") && j["writable"].is_boolean()) {
      s.writable = j["writable"].get<bool>();
    } else {
      s.malformed = true;
    }
  }
  return s;
}

void sort_samples(std::map<std::string, std::vector<ProbeSample>>& samples) {
  for (auto& [node, s] : samples) {
    std::stable_sort(s.begin(), s.end(), [](const ProbeSample& a, const ProbeSample& b) { return a.mono < b.mono; });
  }
}

std::map<std::string, std::vector<ProbeSample>> probe_samples(const std::vector<Op>& history) {
  std::map<std::string, std::vector<ProbeSample>> out;
  for (const Op& op : history) {
    if (auto s = probe_sample(op)) out[op.node].push_back(*s);
  }
  sort_samples(out);
  return out;
}

// A run of consecutive writable samples a..b is one window: from the sample
// before it (at most `interval` before t_a) to the sample after it (at most
// `interval` after t_b). Inside a run the node answered writable at both ends
// and nothing said otherwise, so a slow sample does not split the window.
std::vector<TimeWindow> windows_of(const std::vector<ProbeSample>& s, Nanos interval) {
  std::vector<TimeWindow> out;
  std::size_t i = 0;
  while (i < s.size()) {
    if (!s[i].writable) {
      ++i;
      continue;
    }
    const std::size_t a = i;
    while (i + 1 < s.size() && s[i + 1].writable) ++i;
    const std::size_t b = i++;
    const Nanos from = a > 0 ? std::max(s[a - 1].mono, s[a].mono - interval) : s[a].mono - interval;
    const Nanos to = b + 1 < s.size() ? std::min(s[b + 1].mono, s[b].mono + interval) : s[b].mono + interval;
    if (!out.empty() && from <= out.back().to) {
      out.back().to = std::max(out.back().to, to);
    } else {
      out.push_back(TimeWindow{from, to});
    }
  }
  return out;
}

// The acknowledged ledger writes of one endpoint, counted per 100 ms (4
// bytes a bucket, 144 KB an hour, whatever the write rate): enough to say
// how many went through the endpoint during a split-brain window.
class AckBuckets {
 public:
  static constexpr Nanos kBucket = 100'000'000;
  void add(Nanos t) {
    if (counts_.empty()) t0_ = t - t % kBucket;
    if (t < t0_) {  // an ack stamped before the first one: grow to the front
      const auto more = static_cast<std::size_t>((t0_ - t + kBucket - 1) / kBucket);
      counts_.insert(counts_.begin(), more, 0);
      t0_ -= static_cast<Nanos>(more) * kBucket;
    }
    const auto i = static_cast<std::size_t>((t - t0_) / kBucket);
    if (i >= counts_.size()) counts_.resize(i + 1, 0);
    ++counts_[i];
  }
  // The acks in the buckets that overlap [from, to].
  std::uint64_t in(Nanos from, Nanos to) const {
    std::uint64_t n = 0;
    if (counts_.empty() || to < t0_) return 0;
    const auto a = static_cast<std::size_t>(std::max<Nanos>(0, (from - t0_) / kBucket));
    const auto b = static_cast<std::size_t>((to - t0_) / kBucket);
    for (std::size_t i = a; i <= b && i < counts_.size(); ++i) n += counts_[i];
    return n;
  }

 private:
  Nanos t0_ = 0;
  std::vector<std::uint32_t> counts_;
};

}  // namespace

std::map<std::string, std::vector<TimeWindow>> writable_windows(const std::vector<Op>& history,
                                                                Nanos probe_interval_ns) {
  std::map<std::string, std::vector<TimeWindow>> out;
  for (const auto& [node, samples] : probe_samples(history)) {
    auto w = windows_of(samples, probe_interval_ns);
    if (!w.empty()) out[node] = std::move(w);
  }
  return out;
}

namespace {

class SingleWriterPass final : public CheckerPass {
 public:
  explicit SingleWriterPass(Nanos interval) : probe_interval_(interval) {}
  void observe(const Op& op) override {
    tr_.observe(op);
    if (auto s = probe_sample(op)) {
      samples_[op.node].push_back(*s);
    } else if (op::is_ledger_write(op) && op.type == OpType::ok) {
      ledger_acks_[op.node].add(op.mono_ns);
    }
  }
  CheckerVerdict finish(const FinalState& final) override;

 private:
  Nanos probe_interval_;
  detail::TimeRef tr_;
  std::map<std::string, std::vector<ProbeSample>> samples_;
  std::map<std::string, AckBuckets> ledger_acks_;  // endpoint -> ok writes per 100 ms
};

using detail::count;

constexpr std::size_t kListWindows = 10;  // split-brain windows described

// The samples' counts and their largest gap (per node).
struct SampleStats {
  std::size_t samples = 0, malformed = 0;
  Nanos max_gap = 0;
};

SampleStats sample_stats(const std::map<std::string, std::vector<ProbeSample>>& samples) {
  SampleStats st;
  for (const auto& [node, s] : samples) {
    st.samples += s.size();
    for (std::size_t i = 0; i < s.size(); ++i) {
      st.malformed += s[i].malformed;
      if (i > 0) st.max_gap = std::max(st.max_gap, s[i].mono - s[i - 1].mono);
    }
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
    const bool in = std::any_of(ws.begin(), ws.end(),
                                [&w](const TimeWindow& x) { return std::min(x.to, w.to) > std::max(x.from, w.from); });
    if (!in) continue;
    std::size_t probe_writes = 0;
    for (const auto& s : samples.at(node)) probe_writes += s.writable && s.mono >= w.from && s.mono <= w.to;
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
std::string overlap_ledger_writes(const TimeWindow& w, const std::map<std::string, AckBuckets>& acks) {
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

CheckerVerdict SingleWriterPass::finish(const FinalState& /*final*/) {
  CheckerVerdict v;
  sort_samples(samples_);
  const SampleStats st = sample_stats(samples_);
  v.figures["probe_samples"] = count(st.samples);
  v.figures["probe_nodes"] = count(samples_.size());
  if (st.samples == 0) {
    v.status = CheckStatus::unknown;
    v.reasons.push_back("no probe state samples in the history");
    return v;
  }
  v.figures["max_probe_gap_s"] = ns_to_s(st.max_gap);
  if (st.malformed) {
    v.reasons.push_back(
        fmt::format("{} probe samples without a boolean `writable` were taken as not writable", st.malformed));
  }

  std::map<std::string, std::vector<TimeWindow>> per_node;
  for (const auto& [node, s] : samples_) per_node[node] = windows_of(s, probe_interval_);
  const std::vector<TimeWindow> overlaps = overlaps_of(per_node);
  Nanos total = 0;
  for (const auto& w : overlaps) total += w.to - w.from;
  v.figures["split_brain_windows"] = count(overlaps.size());
  v.figures["split_brain_s"] = ns_to_s(total);
  if (overlaps.empty()) {
    v.status = CheckStatus::pass;
    v.reasons.insert(v.reasons.begin(),
                     fmt::format("never two writable nodes ({} samples from {} nodes)", st.samples, samples_.size()));
    return v;
  }

  v.status = CheckStatus::fail;
  std::vector<std::string> described;
  for (std::size_t k = 0; k < overlaps.size() && k < kListWindows; ++k) {
    const auto& w = overlaps[k];
    described.push_back(fmt::format("split brain: {} writable at once for {:.3f} s, {} .. {} (t={:.3f}..{:.3f} s); {}",
                                    overlap_sides(w, per_node, samples_), ns_to_s(w.to - w.from), tr_.wall(w.from),
                                    tr_.wall(w.to), tr_.rel_s(w.from), tr_.rel_s(w.to),
                                    overlap_ledger_writes(w, ledger_acks_)));
  }
  if (overlaps.size() > kListWindows) {
    described.push_back(fmt::format("(+{} more split-brain windows)", overlaps.size() - kListWindows));
  }
  v.reasons.insert(v.reasons.begin(), described.begin(), described.end());
  return v;
}

}  // namespace

std::unique_ptr<CheckerPass> SingleWriterChecker::start() const {
  return std::make_unique<SingleWriterPass>(probe_interval_);
}

}  // namespace haverify
