#include "haverify/check/checkers.hpp"

#include <unordered_set>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <exception>
#include <limits>
#include <system_error>
#include <utility>

#include "haverify/core/id_set.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace haverify {

namespace {

constexpr std::size_t kListIds = 10;      // ids named in a reason
constexpr std::size_t kListWindows = 10;  // split-brain windows described
constexpr std::size_t kListReads = 10;    // bad bank reads described

bool starts_with(const std::string& s, const char* prefix) {
  return s.rfind(prefix, 0) == 0;
}

std::optional<std::int64_t> parse_i64(const std::string& s) {
  std::int64_t v = 0;
  const char* b = s.data();
  const char* e = b + s.size();
  auto [p, ec] = std::from_chars(b, e, v);
  if (ec != std::errc() || p != e || s.empty()) return std::nullopt;
  return v;
}

template <typename Range>
std::string list_ids(const Range& ids, std::size_t total) {
  std::string out;
  std::size_t n = 0;
  for (const auto id : ids) {
    if (n == kListIds) break;
    if (n) out += ',';
    out += std::to_string(id);
    ++n;
  }
  if (total > n) out += fmt::format(" (+{} more)", total - n);
  return out;
}

double count(std::size_t n) {
  return static_cast<double>(n);
}

// Wall-clock and relative time of a monotonic instant, using the first op of
// the history as the reference (every op carries both clocks).
struct TimeRef {
  bool set = false;
  Nanos mono0 = 0;
  Nanos wall_minus_mono = 0;
  void observe(const Op& op) {
    if (set) return;
    set = true;
    mono0 = op.mono_ns;
    wall_minus_mono = op.wall_ns - op.mono_ns;
  }
  std::string wall(Nanos mono) const { return format_wall_ns(mono + wall_minus_mono); }
  double rel_s(Nanos mono) const { return ns_to_s(mono - mono0); }
};

// The pass behind the default Checker::start(): keeps every op.
class WholeHistoryPass final : public CheckerPass {
 public:
  explicit WholeHistoryPass(const Checker& c) : c_(c) {}
  void observe(const Op& op) override { ops_.push_back(op); }
  CheckerVerdict finish(const FinalState& final) override { return c_.check(ops_, final); }

 private:
  const Checker& c_;
  std::vector<Op> ops_;
};

}  // namespace

const char* to_string(CheckStatus s) {
  switch (s) {
    case CheckStatus::pass:
      return "pass";
    case CheckStatus::fail:
      return "fail";
    case CheckStatus::unknown:
      return "unknown";
  }
  return "?";
}

const NodeFinalState* FinalState::find(const std::string& node) const {
  if (node.empty()) return nullptr;
  for (const auto& n : nodes) {
    if (n.node == node) return &n;
  }
  return nullptr;
}

std::unique_ptr<CheckerPass> Checker::start() const {
  return std::make_unique<WholeHistoryPass>(*this);
}

CheckerVerdict Checker::check(const std::vector<Op>& history, const FinalState& final) const {
  auto pass = start();
  for (const Op& op : history) pass->observe(op);
  CheckerVerdict v = pass->finish(final);
  if (v.checker.empty()) v.checker = name();
  return v;
}

namespace {

CheckerVerdict thrown(const std::string& name, const std::string& why) {
  CheckerVerdict v;
  v.checker = name.empty() ? std::string("?") : name;
  v.status = CheckStatus::unknown;
  v.reasons.push_back(why);
  return v;
}

// Runs f() (which returns a verdict); an exception becomes unknown.
template <typename F>
CheckerVerdict guarded(const std::string& name, F&& f) {
  try {
    CheckerVerdict v = f();
    if (v.checker.empty()) v.checker = name;
    return v;
  } catch (const std::exception& e) {
    return thrown(name, fmt::format("checker threw: {}", e.what()));
  } catch (...) {
    return thrown(name, "checker threw a non-standard exception");
  }
}

std::string name_of(const Checker& c) {
  try {
    return c.name();
  } catch (...) {
    return "?";
  }
}

}  // namespace

CheckerVerdict run_checker(const Checker& c, const std::vector<Op>& history, const FinalState& final) {
  const std::string name = name_of(c);
  return guarded(name, [&] { return c.check(history, final); });
}

struct CheckerFeed::Slot {
  std::string name;
  std::unique_ptr<CheckerPass> pass;
  std::string error;  // set when the pass threw; it is then dropped
};

CheckerFeed::CheckerFeed(const std::vector<const Checker*>& checkers) {
  for (const Checker* c : checkers) {
    if (!c) continue;
    Slot s;
    s.name = name_of(*c);
    try {
      s.pass = c->start();
      if (!s.pass) s.error = "checker threw: start() gave no pass";
    } catch (const std::exception& e) {
      s.error = fmt::format("checker threw: {}", e.what());
    } catch (...) {
      s.error = "checker threw a non-standard exception";
    }
    slots_.push_back(std::move(s));
  }
}

CheckerFeed::~CheckerFeed() = default;

void CheckerFeed::on_op(const Op& op) {
  for (auto& s : slots_) {
    if (!s.pass) continue;
    try {
      s.pass->observe(op);
    } catch (const std::exception& e) {
      s.error = fmt::format("checker threw: {} (at op {})", e.what(), op.index);
      s.pass.reset();
    } catch (...) {
      s.error = "checker threw a non-standard exception";
      s.pass.reset();
    }
  }
}

std::vector<CheckerVerdict> CheckerFeed::finish(const FinalState& final) {
  std::vector<CheckerVerdict> out;
  out.reserve(slots_.size());
  for (auto& s : slots_) {
    if (!s.pass) {
      out.push_back(thrown(s.name, s.error));
      continue;
    }
    out.push_back(guarded(s.name, [&] { return s.pass->finish(final); }));
    s.pass.reset();
  }
  return out;
}

std::vector<CheckerVerdict> run_checkers(const std::vector<const Checker*>& checkers, const std::vector<Op>& history,
                                         const FinalState& final) {
  std::vector<CheckerVerdict> out;
  out.reserve(checkers.size());
  for (const Checker* c : checkers) {
    if (!c) continue;
    out.push_back(run_checker(*c, history, final));
  }
  return out;
}

CheckStatus compose(const std::vector<CheckerVerdict>& verdicts) {
  bool any_unknown = false;
  for (const auto& v : verdicts) {
    if (v.status == CheckStatus::fail) return CheckStatus::fail;
    if (v.status == CheckStatus::unknown) any_unknown = true;
  }
  return any_unknown ? CheckStatus::unknown : CheckStatus::pass;
}

std::map<std::string, double> merged_figures(const std::vector<CheckerVerdict>& verdicts) {
  std::map<std::string, double> out;
  for (const auto& v : verdicts) {
    for (const auto& [k, x] : v.figures) out[k] = x;
  }
  return out;
}

std::string format_verdict(const CheckerVerdict& v) {
  std::string out = fmt::format("{} {}", v.checker, to_string(v.status));
  for (std::size_t i = 0; i < v.reasons.size(); ++i) {
    out += i == 0 ? ": " : "; ";
    out += v.reasons[i];
  }
  return out;
}

// ---------------------------------------------------------------------------
// Durability

namespace {

class DurabilityPass final : public CheckerPass {
 public:
  void observe(const Op& op) override {
    if (op.f != "write" || !starts_with(op.process, "client-")) return;
    const auto id = parse_i64(op.value);
    if (!id) {
      ++unparsable_;
      return;
    }
    switch (op.type) {
      case OpType::invoke:
        open_.insert(*id);  // unknown until a completion says otherwise
        return;
      case OpType::ok:
        acked_.insert(*id);
        break;
      case OpType::fail:
        failed_.insert(*id);
        break;
      case OpType::info:
        info_.insert(*id);
        break;
    }
    open_.erase(*id);
  }

  CheckerVerdict finish(const FinalState& final) override;

 private:
  // Written once each; should an id complete twice, acked counts over
  // failed over unknown.
  IdSet acked_, failed_, info_;
  std::unordered_set<std::int64_t> open_;  // invoked, not completed (bounded by the clients)
  std::size_t unparsable_ = 0;
};

CheckerVerdict DurabilityPass::finish(const FinalState& final) {
  CheckerVerdict v;
  IdSet failed, unknown;
  failed_.for_each([&](std::int64_t id) {
    if (!acked_.contains(id)) failed.insert(id);
    return true;
  });
  auto add_unknown = [&](std::int64_t id) {
    if (!acked_.contains(id) && !failed.contains(id)) unknown.insert(id);
    return true;
  };
  info_.for_each(add_unknown);
  std::vector<std::int64_t> open(open_.begin(), open_.end());
  std::sort(open.begin(), open.end());
  for (auto id : open) add_unknown(id);
  const IdSet& acked = acked_;
  auto written = [&](std::int64_t id) { return acked.contains(id) || failed.contains(id) || unknown.contains(id); };

  const std::size_t n_acked = acked.size(), n_unknown = unknown.size(), n_failed = failed.size();
  v.figures["acked"] = count(n_acked);
  v.figures["unknown"] = count(n_unknown);
  v.figures["failed"] = count(n_failed);
  if (unparsable_) v.reasons.push_back(fmt::format("{} write ops with a non-numeric id were ignored", unparsable_));

  // Failed writes present on any node whose ids were read: the server said
  // no, and the write happened anyway.
  std::set<std::int64_t> failed_present;
  for (const auto& n : final.nodes) {
    if (!n.ledger_ids) continue;
    failed.for_each([&](std::int64_t id) {
      if (n.ledger_ids->count(id)) failed_present.insert(id);
      return true;
    });
  }
  v.figures["failed_but_present"] = count(failed_present.size());
  if (!failed_present.empty()) {
    v.reasons.push_back(fmt::format("{} writes reported failed are present: {}", failed_present.size(),
                                    list_ids(failed_present, failed_present.size())));
  }

  // Acked ids missing on a node: how many, and the first few.
  auto missing_on = [&acked](const std::set<std::int64_t>& ids, std::vector<std::int64_t>* first) {
    std::size_t n = 0;
    acked.for_each([&](std::int64_t id) {
      if (!ids.count(id)) {
        if (first->size() < kListIds) first->push_back(id);
        ++n;
      }
      return true;
    });
    return n;
  };

  for (const auto& n : final.nodes) {
    if (!n.ledger_ids) {
      v.reasons.push_back(fmt::format("ids not read on {}{}", n.node, n.reachable ? "" : " (unreachable)"));
      continue;
    }
    std::vector<std::int64_t> first;
    const std::size_t missing = missing_on(*n.ledger_ids, &first);
    v.figures["lost_acked_on_" + n.node] = count(missing);
    if (missing && n.node != final.primary) {
      v.reasons.push_back(
          fmt::format("{} (not the primary) lacks {} acknowledged ids: {} (the convergence checker "
                      "judges standbys)",
                      n.node, missing, list_ids(first, missing)));
    }
  }

  const NodeFinalState* primary = final.find(final.primary);
  if (!primary || !primary->ledger_ids) {
    v.reasons.insert(v.reasons.begin(), final.primary.empty()
                                            ? std::string("the final primary is unknown")
                                            : fmt::format("ids of the final primary {} were not read", final.primary));
    v.status = failed_present.empty() ? CheckStatus::unknown : CheckStatus::fail;
    return v;
  }

  const auto& ids = *primary->ledger_ids;
  std::vector<std::int64_t> lost_first, unknown_absent_first;
  const std::size_t acked_lost = missing_on(ids, &lost_first);
  const std::size_t acked_present = n_acked - acked_lost;
  std::size_t unknown_present = 0, unknown_absent = 0, failed_present_p = 0;
  unknown.for_each([&](std::int64_t id) {
    if (ids.count(id)) {
      ++unknown_present;
    } else {
      if (unknown_absent_first.size() < kListIds) unknown_absent_first.push_back(id);
      ++unknown_absent;
    }
    return true;
  });
  failed.for_each([&](std::int64_t id) {
    failed_present_p += ids.count(id);
    return true;
  });
  std::vector<std::int64_t> unexpected;
  for (const auto id : ids) {
    if (!written(id)) unexpected.push_back(id);
  }
  v.figures["acked_present"] = count(acked_present);
  v.figures["acked_lost"] = count(acked_lost);
  v.figures["unknown_present"] = count(unknown_present);
  v.figures["unknown_absent"] = count(unknown_absent);
  v.figures["failed_present"] = count(failed_present_p);
  v.figures["failed_absent"] = count(n_failed - failed_present_p);
  v.figures["lost_acked"] = count(acked_lost);
  v.figures["lost_unknown"] = count(unknown_absent);
  v.figures["unexpected_present"] = count(unexpected.size());

  std::vector<std::string> failures;
  if (acked_lost) {
    failures.push_back(fmt::format("{} acknowledged writes lost on the primary {}: {}", acked_lost, final.primary,
                                   list_ids(lost_first, acked_lost)));
  }
  if (!unexpected.empty()) {
    failures.push_back(fmt::format("{} ids on the primary {} that no client ever wrote: {}", unexpected.size(),
                                   final.primary, list_ids(unexpected, unexpected.size())));
  }
  v.reasons.insert(v.reasons.begin(), failures.begin(), failures.end());
  if (!failures.empty() || !failed_present.empty()) {
    v.status = CheckStatus::fail;
  } else {
    v.status = CheckStatus::pass;
    v.reasons.insert(v.reasons.begin(),
                     fmt::format("all {} acknowledged writes on the primary {}; {} of {} unknown writes committed",
                                 n_acked, final.primary, unknown_present, n_unknown));
  }
  return v;
}

}  // namespace

std::unique_ptr<CheckerPass> DurabilityChecker::start() const {
  return std::make_unique<DurabilityPass>();
}

// ---------------------------------------------------------------------------
// Single writer

namespace {

struct ProbeSample {
  Nanos mono = 0;
  bool writable = false;
  bool malformed = false;
};

// One probe state op as a sample (nullopt for ops that are not samples).
std::optional<ProbeSample> probe_sample(const Op& op) {
  if (op.process != "probe" || op.f != "state" || op.type == OpType::invoke) return std::nullopt;
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
    } else if (op.f == "write" && op.type == OpType::ok && starts_with(op.process, "client-")) {
      ledger_acks_[op.node].push_back(op.mono_ns);  // 8 bytes an ack, to count acks inside a window
    }
  }
  CheckerVerdict finish(const FinalState& final) override;

 private:
  Nanos probe_interval_;
  TimeRef tr_;
  std::map<std::string, std::vector<ProbeSample>> samples_;
  std::map<std::string, std::vector<Nanos>> ledger_acks_;  // endpoint -> ok write times
};

CheckerVerdict SingleWriterPass::finish(const FinalState& /*final*/) {
  CheckerVerdict v;
  sort_samples(samples_);
  for (auto& [endpoint, t] : ledger_acks_) std::sort(t.begin(), t.end());
  const auto& samples = samples_;
  const TimeRef& tr = tr_;
  std::size_t n_samples = 0, n_malformed = 0;
  Nanos max_gap = 0;
  for (const auto& [node, s] : samples) {
    n_samples += s.size();
    for (std::size_t i = 0; i < s.size(); ++i) {
      n_malformed += s[i].malformed;
      if (i > 0) max_gap = std::max(max_gap, s[i].mono - s[i - 1].mono);
    }
  }
  v.figures["probe_samples"] = count(n_samples);
  v.figures["probe_nodes"] = count(samples.size());
  if (n_samples == 0) {
    v.status = CheckStatus::unknown;
    v.reasons.push_back("no probe state samples in the history");
    return v;
  }
  v.figures["max_probe_gap_s"] = ns_to_s(max_gap);
  if (n_malformed) {
    v.reasons.push_back(
        fmt::format("{} probe samples without a boolean `writable` were taken as not writable", n_malformed));
  }

  std::map<std::string, std::vector<TimeWindow>> per_node;
  for (const auto& [node, s] : samples) per_node[node] = windows_of(s, probe_interval_);

  // Sweep: where two or more nodes are writable at once. At equal times an
  // end is processed before a start, so windows that only touch do not overlap.
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

  Nanos total = 0;
  for (const auto& w : overlaps) total += w.to - w.from;
  v.figures["split_brain_windows"] = count(overlaps.size());
  v.figures["split_brain_s"] = ns_to_s(total);
  if (overlaps.empty()) {
    v.status = CheckStatus::pass;
    v.reasons.insert(v.reasons.begin(),
                     fmt::format("never two writable nodes ({} samples from {} nodes)", n_samples, samples.size()));
    return v;
  }

  v.status = CheckStatus::fail;
  std::vector<std::string> described;
  for (std::size_t k = 0; k < overlaps.size() && k < kListWindows; ++k) {
    const auto& w = overlaps[k];
    std::vector<std::string> sides;
    for (const auto& [node, ws] : per_node) {
      const bool in = std::any_of(
          ws.begin(), ws.end(), [&w](const TimeWindow& x) { return std::min(x.to, w.to) > std::max(x.from, w.from); });
      if (!in) continue;
      std::size_t probe_writes = 0;
      for (const auto& s : samples.at(node)) probe_writes += s.writable && s.mono >= w.from && s.mono <= w.to;
      sides.push_back(fmt::format("{} ({} writable probe samples)", node, probe_writes));
    }
    std::map<std::string, std::size_t> ledger_acks;  // endpoint -> ok writes completed in the window
    for (const auto& [endpoint, t] : ledger_acks_) {
      const auto n = static_cast<std::size_t>(std::upper_bound(t.begin(), t.end(), w.to) -
                                              std::lower_bound(t.begin(), t.end(), w.from));
      if (n) ledger_acks[endpoint] = n;
    }
    std::string ledger;
    if (ledger_acks.empty()) {
      ledger = "no ledger write acknowledged in the window";
    } else {
      for (const auto& [endpoint, n] : ledger_acks) {
        if (!ledger.empty()) ledger += ", ";
        ledger += fmt::format("{} ledger writes acknowledged through the endpoint {}", n,
                              endpoint.empty() ? std::string("?") : endpoint);
      }
      ledger += " (attributed to the endpoint, not to either node)";
    }
    std::string side_list;
    for (std::size_t i = 0; i < sides.size(); ++i) {
      side_list += i == 0 ? "" : (i + 1 == sides.size() ? " and " : ", ");
      side_list += sides[i];
    }
    described.push_back(fmt::format("split brain: {} writable at once for {:.3f} s, {} .. {} (t={:.3f}..{:.3f} s); {}",
                                    side_list, ns_to_s(w.to - w.from), tr.wall(w.from), tr.wall(w.to), tr.rel_s(w.from),
                                    tr.rel_s(w.to), ledger));
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

// ---------------------------------------------------------------------------
// Convergence

namespace {

class ConvergencePass final : public CheckerPass {
 public:
  void observe(const Op& op) override {
    if (op.process == "nemesis" && op.f == "heal" && op.type == OpType::ok) last_heal_ = op.mono_ns;
    if (op.process == "runner" && op.f == "recover" && op.type == OpType::ok) last_recover_ = op.mono_ns;
    // A planned operation (cluster step) that ended: the cluster changed then too.
    if (op.process == "driver" && op.f != "detect" && op.type == OpType::ok) last_recover_ = op.mono_ns;
    if (op.process == "nemesis" && op.f == "inject") last_inject_ = op.mono_ns;
  }
  CheckerVerdict finish(const FinalState& final) override;

 private:
  std::optional<Nanos> last_heal_, last_recover_, last_inject_;
};

CheckerVerdict ConvergencePass::finish(const FinalState& final) {
  CheckerVerdict v;
  // converged_s: from the last heal / recover / cluster operation (or, without any, the last inject).
  const auto &last_heal = last_heal_, &last_recover = last_recover_, &last_inject = last_inject_;
  std::optional<Nanos> ref = last_inject;
  if (last_heal || last_recover) {
    constexpr Nanos kNone = std::numeric_limits<Nanos>::min();
    ref = std::max(last_heal.value_or(kNone), last_recover.value_or(kNone));
  }
  if (final.converged_mono && ref) v.figures["converged_s"] = ns_to_s(std::max<Nanos>(0, *final.converged_mono - *ref));

  const NodeFinalState* primary = final.find(final.primary);
  if (!primary || !primary->reachable) {
    v.status = CheckStatus::unknown;
    v.reasons.push_back(final.primary.empty() ? std::string("the final primary is unknown")
                        : !primary ? fmt::format("the final primary {} is not in the final state", final.primary)
                                   : fmt::format("the final primary {} is unreachable", final.primary));
    return v;
  }

  std::vector<std::string> failures;
  if (primary->in_recovery) failures.push_back(fmt::format("the primary {} is in recovery", primary->node));
  const bool have_checksums = !primary->table_checksums.empty();
  std::size_t standbys = 0, diverged = 0;
  for (const auto& n : final.nodes) {
    if (n.node == primary->node) continue;
    const auto blocked = final.takeover_blockers.find(n.node);
    if (!final.replicated) {  // shared disk: a passive node must not serve
      if (n.reachable && !n.in_recovery)
        failures.push_back(fmt::format("passive node {} answers as a second primary on the shared disk", n.node));
      if (blocked != final.takeover_blockers.end())
        failures.push_back(fmt::format("passive node {} cannot take over: {}", n.node, blocked->second));
      continue;
    }
    ++standbys;
    std::vector<std::string> diffs;
    if (!n.reachable) {
      diffs.push_back("unreachable");
    } else {
      if (!n.in_recovery) diffs.push_back("not in recovery (a second primary)");
      if (n.timeline != primary->timeline) {
        diffs.push_back(fmt::format("timeline {} (primary {})", n.timeline, primary->timeline));
      }
      if (!n.streaming_from_primary) diffs.push_back("not streaming from the primary");
      if (n.ledger_ids && primary->ledger_ids && *n.ledger_ids != *primary->ledger_ids) {
        std::vector<std::int64_t> missing, extra;
        std::set_difference(primary->ledger_ids->begin(), primary->ledger_ids->end(), n.ledger_ids->begin(),
                            n.ledger_ids->end(), std::back_inserter(missing));
        std::set_difference(n.ledger_ids->begin(), n.ledger_ids->end(), primary->ledger_ids->begin(),
                            primary->ledger_ids->end(), std::back_inserter(extra));
        std::string d = "ledger ids differ:";
        if (!missing.empty()) d += fmt::format(" {} missing ({})", missing.size(), list_ids(missing, missing.size()));
        if (!extra.empty()) d += fmt::format(" {} extra ({})", extra.size(), list_ids(extra, extra.size()));
        diffs.push_back(std::move(d));
      }
      for (const auto& [table, sum] : primary->table_checksums) {
        auto it = n.table_checksums.find(table);
        if (it == n.table_checksums.end()) {
          diffs.push_back(fmt::format("no checksum of {}", table));
        } else if (it->second != sum) {
          diffs.push_back(fmt::format("{} differs (checksum {}, primary {})", table, it->second, sum));
        }
      }
      for (const auto& [table, sum] : n.table_checksums) {
        if (!primary->table_checksums.count(table)) diffs.push_back(fmt::format("{} not on the primary", table));
      }
    }
    if (blocked != final.takeover_blockers.end()) diffs.push_back("cannot take over: " + blocked->second);
    if (diffs.empty()) continue;
    ++diverged;
    std::string line = fmt::format("{} has not converged: ", n.node);
    for (std::size_t i = 0; i < diffs.size(); ++i) line += (i ? "; " : "") + diffs[i];
    failures.push_back(std::move(line));
  }
  v.figures["standbys"] = count(standbys);
  v.figures["diverged_nodes"] = count(diverged);
  if (!final.converged_mono && standbys > 0) {
    v.reasons.push_back("the convergence wait did not see every standby converged within its deadline");
  }

  if (!failures.empty()) {
    v.status = CheckStatus::fail;
    v.reasons.insert(v.reasons.begin(), failures.begin(), failures.end());
  } else if (standbys > 0 && !have_checksums) {
    v.status = CheckStatus::unknown;
    v.reasons.insert(v.reasons.begin(),
                     fmt::format("no table checksums from the primary {}: data not compared", primary->node));
  } else {
    v.status = CheckStatus::pass;
    v.reasons.insert(v.reasons.begin(), fmt::format("{} standbys follow {} on timeline {} with identical data",
                                                    standbys, primary->node, primary->timeline));
  }
  return v;
}

}  // namespace

std::unique_ptr<CheckerPass> ConvergenceChecker::start() const {
  return std::make_unique<ConvergencePass>();
}

// ---------------------------------------------------------------------------
// Bank

namespace {

// The expected total is only known at finish (FinalState): reads are kept as
// total -> (count, the first few described) and judged there. Past
// kMaxTotals distinct totals, new ones are counted but not described.
constexpr std::size_t kMaxTotals = 64;

class BankPass final : public CheckerPass {
 public:
  void observe(const Op& op) override {
    tr_.observe(op);
    if (!starts_with(op.process, "bank-")) return;
    if (op.f == "read" && op.type == OpType::ok) {
      ++reads_;
      auto it = totals_.find(op.value);
      if (it == totals_.end()) it = totals_.emplace(op.value, Total{}).first;
      auto& t = it->second;
      ++t.count;
      if (t.first.size() < kListReads && totals_.size() <= kMaxTotals)
        t.first.push_back(fmt::format("{} read '{}' at {} (t={:.3f} s)", op.process, op.value,
                                      format_wall_ns(op.wall_ns), tr_.rel_s(op.mono_ns)));
    } else if (op.f == "transfer") {
      transfer_open_[op.process] = op.type == OpType::invoke;
      t_ok_ += op.type == OpType::ok;
      t_fail_ += op.type == OpType::fail;
      t_info_ += op.type == OpType::info;
    }
  }
  CheckerVerdict finish(const FinalState& final) override;

 private:
  struct Total {
    std::size_t count = 0;
    std::vector<std::string> first;  // the first kListReads reads of this total, described
  };
  TimeRef tr_;
  std::size_t reads_ = 0, t_ok_ = 0, t_fail_ = 0, t_info_ = 0;
  std::map<std::string, Total> totals_;        // total seen -> reads (few distinct values)
  std::map<std::string, bool> transfer_open_;  // per bank client: a transfer invoked, not completed
};

CheckerVerdict BankPass::finish(const FinalState& final) {
  CheckerVerdict v;
  const std::int64_t expected = final.bank_expected_total;
  const std::size_t reads = reads_, t_ok = t_ok_, t_fail = t_fail_, t_info = t_info_;
  const auto& transfer_open = transfer_open_;
  std::size_t bad = 0;
  std::vector<std::string> bad_reads;
  for (const auto& [value, t] : totals_) {
    const auto total = parse_i64(value);
    if (total && *total == expected) continue;
    bad += t.count;
    for (const auto& d : t.first)
      if (bad_reads.size() < kListReads) bad_reads.push_back(d);
  }
  const auto open_count = static_cast<std::size_t>(
      std::count_if(transfer_open.begin(), transfer_open.end(), [](const auto& kv) { return kv.second; }));
  v.figures["bank_reads"] = count(reads);
  v.figures["bank_bad_reads"] = count(bad);
  v.figures["bank_transfers_ok"] = count(t_ok);
  v.figures["bank_transfers_failed"] = count(t_fail);
  v.figures["bank_transfers_unknown"] = count(t_info + open_count);

  std::vector<std::string> failures;
  if (bad) {
    std::string line = fmt::format("{} of {} reads saw a total other than {}: ", bad, reads, expected);
    for (std::size_t i = 0; i < bad_reads.size(); ++i) line += (i ? "; " : "") + bad_reads[i];
    if (bad > bad_reads.size()) line += fmt::format(" (+{} more)", bad - bad_reads.size());
    failures.push_back(std::move(line));
  }
  if (final.bank_total && *final.bank_total != expected) {
    failures.push_back(fmt::format("final total {} (expected {})", *final.bank_total, expected));
  }

  if (!failures.empty()) {
    v.status = CheckStatus::fail;
    v.figures["bank_ok"] = 0;
    v.reasons = std::move(failures);
  } else if (!final.bank_total) {
    v.status = CheckStatus::unknown;
    v.reasons.push_back(reads + t_ok + t_fail + t_info + open_count == 0
                            ? std::string("no bank workload in the history and no final total")
                            : std::string("the final bank total was not read"));
  } else {
    v.status = CheckStatus::pass;
    v.figures["bank_ok"] = 1;
    v.reasons.push_back(
        fmt::format("{} reads and the final total all equal {} ({} transfers acknowledged)", reads, expected, t_ok));
  }
  return v;
}

}  // namespace

std::unique_ptr<CheckerPass> BankChecker::start() const {
  return std::make_unique<BankPass>();
}

// ---------------------------------------------------------------------------
// Memory growth

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
  explicit MemoryGrowthPass(const MemoryGrowthOptions& o) : o_(o) {}
  void observe(const Op& op) override {
    if (op.process != "sampler" || op.f != "proc" || op.type != OpType::ok) return;
    const auto j = nlohmann::json::parse(op.value, nullptr, /*allow_exceptions=*/false);
    const char* key = o_.memory == "rss" ? "rss_kb" : "anon_kb";
    if (!j.is_object() || !j.contains("pid") || !j.contains(key) || !j[key].is_number() || !j["pid"].is_number()) {
      ++malformed_;
      return;
    }
    const std::int64_t pid = j["pid"].get<std::int64_t>();
    const std::string process = j.value("process", std::string("?"));
    const double mb = j[key].get<double>() / 1024.0;
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
            "{} pid {} ({}) grows {:.1f} MB/h (95 % lower bound {:.1f} > {:g} MB/h; {} samples over {:.0f} s, "
            "{:.1f} -> {:.1f} MB {})",
            s.node, s.pid, s.process, f.slope, f.lower, o_.max_mb_per_hour, s.n, s.last_x * 3600, s.first_mb, s.last_mb,
            o_.memory == "rss" ? "VmRSS" : "RssAnon"));
    }
    v.figures["memory_series"] = count(fitted);
    if (malformed_) v.reasons.push_back(fmt::format("{} sampler ops without pid or memory were ignored", malformed_));
    if (short_series)
      v.reasons.push_back(fmt::format("{} series with fewer than {} samples after the warmup were not fitted",
                                      short_series, o_.min_samples));
    if (!worst) {
      v.status = CheckStatus::unknown;
      v.reasons.insert(v.reasons.begin(),
                       samples_ == 0 ? std::string("no process samples in the history (is the sampler on?)")
                                     : fmt::format("no process has {} samples after the warmup", o_.min_samples));
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
      v.reasons.insert(v.reasons.begin(), fmt::format("no memory growth above {:g} MB/h in {} processes; {}",
                                                      o_.max_mb_per_hour, fitted, worst_text));
    }
    return v;
  }

 private:
  MemoryGrowthOptions o_;
  std::map<std::string, Series> series_;
  std::size_t samples_ = 0, malformed_ = 0;
};

}  // namespace

std::unique_ptr<CheckerPass> MemoryGrowthChecker::start() const {
  return std::make_unique<MemoryGrowthPass>(options_);
}

}  // namespace haverify
