#include "haverify/checkers.hpp"

#include <algorithm>
#include <charconv>
#include <exception>
#include <limits>
#include <system_error>
#include <utility>

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
  Nanos mono0 = 0;
  Nanos wall_minus_mono = 0;
  explicit TimeRef(const std::vector<Op>& history) {
    if (!history.empty()) {
      mono0 = history.front().mono_ns;
      wall_minus_mono = history.front().wall_ns - history.front().mono_ns;
    }
  }
  std::string wall(Nanos mono) const { return format_wall_ns(mono + wall_minus_mono); }
  double rel_s(Nanos mono) const { return ns_to_s(mono - mono0); }
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

CheckerVerdict run_checker(const Checker& c, const std::vector<Op>& history, const FinalState& final) {
  std::string name;
  try {
    name = c.name();
    CheckerVerdict v = c.check(history, final);
    if (v.checker.empty()) v.checker = name;
    return v;
  } catch (const std::exception& e) {
    CheckerVerdict v;
    v.checker = name.empty() ? std::string("?") : name;
    v.status = CheckStatus::unknown;
    v.reasons.push_back(fmt::format("checker threw: {}", e.what()));
    return v;
  } catch (...) {
    CheckerVerdict v;
    v.checker = name.empty() ? std::string("?") : name;
    v.status = CheckStatus::unknown;
    v.reasons.push_back("checker threw a non-standard exception");
    return v;
  }
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

CheckerVerdict DurabilityChecker::check(const std::vector<Op>& history, const FinalState& final) const {
  CheckerVerdict v;
  v.checker = name();

  enum class Outcome { acked, unknown, failed };
  std::map<std::int64_t, Outcome> writes;
  std::size_t unparsable = 0;
  for (const Op& op : history) {
    if (op.f != "write" || !starts_with(op.process, "client-")) continue;
    const auto id = parse_i64(op.value);
    if (!id) {
      ++unparsable;
      continue;
    }
    switch (op.type) {
      case OpType::invoke:
        writes.try_emplace(*id, Outcome::unknown);  // until a completion says otherwise
        break;
      case OpType::ok:
        writes[*id] = Outcome::acked;
        break;
      case OpType::fail:
        writes[*id] = Outcome::failed;
        break;
      case OpType::info:
        writes[*id] = Outcome::unknown;
        break;
    }
  }
  std::size_t n_acked = 0, n_unknown = 0, n_failed = 0;
  for (const auto& [id, o] : writes) {
    n_acked += o == Outcome::acked;
    n_unknown += o == Outcome::unknown;
    n_failed += o == Outcome::failed;
  }
  v.figures["acked"] = count(n_acked);
  v.figures["unknown"] = count(n_unknown);
  v.figures["failed"] = count(n_failed);
  if (unparsable) v.reasons.push_back(fmt::format("{} write ops with a non-numeric id were ignored", unparsable));

  // Failed writes present on any node whose ids were read: the server said
  // no, and the write happened anyway.
  std::set<std::int64_t> failed_present;
  for (const auto& n : final.nodes) {
    if (!n.ledger_ids) continue;
    for (const auto& [id, o] : writes) {
      if (o == Outcome::failed && n.ledger_ids->count(id)) failed_present.insert(id);
    }
  }
  v.figures["failed_but_present"] = count(failed_present.size());
  if (!failed_present.empty()) {
    v.reasons.push_back(fmt::format("{} writes reported failed are present: {}", failed_present.size(),
                                    list_ids(failed_present, failed_present.size())));
  }

  // Per node: acknowledged ids missing.
  for (const auto& n : final.nodes) {
    if (!n.ledger_ids) {
      v.reasons.push_back(fmt::format("ids not read on {}{}", n.node, n.reachable ? "" : " (unreachable)"));
      continue;
    }
    std::vector<std::int64_t> missing;
    for (const auto& [id, o] : writes) {
      if (o == Outcome::acked && !n.ledger_ids->count(id)) missing.push_back(id);
    }
    v.figures["lost_acked_on_" + n.node] = count(missing.size());
    if (!missing.empty() && n.node != final.primary) {
      v.reasons.push_back(
          fmt::format("{} (not the primary) lacks {} acknowledged ids: {} (the convergence checker "
                      "judges standbys)",
                      n.node, missing.size(), list_ids(missing, missing.size())));
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
  std::vector<std::int64_t> acked_lost, unknown_absent;
  std::size_t acked_present = 0, unknown_present = 0, failed_present_p = 0, failed_absent = 0;
  for (const auto& [id, o] : writes) {
    const bool present = ids.count(id) > 0;
    switch (o) {
      case Outcome::acked:
        if (present)
          ++acked_present;
        else
          acked_lost.push_back(id);
        break;
      case Outcome::unknown:
        if (present)
          ++unknown_present;
        else
          unknown_absent.push_back(id);
        break;
      case Outcome::failed:
        if (present)
          ++failed_present_p;
        else
          ++failed_absent;
        break;
    }
  }
  std::vector<std::int64_t> unexpected;
  for (const auto id : ids) {
    if (!writes.count(id)) unexpected.push_back(id);
  }
  v.figures["acked_present"] = count(acked_present);
  v.figures["acked_lost"] = count(acked_lost.size());
  v.figures["unknown_present"] = count(unknown_present);
  v.figures["unknown_absent"] = count(unknown_absent.size());
  v.figures["failed_present"] = count(failed_present_p);
  v.figures["failed_absent"] = count(failed_absent);
  v.figures["lost_acked"] = count(acked_lost.size());
  v.figures["lost_unknown"] = count(unknown_absent.size());
  v.figures["unexpected_present"] = count(unexpected.size());

  std::vector<std::string> failures;
  if (!acked_lost.empty()) {
    failures.push_back(fmt::format("{} acknowledged writes lost on the primary {}: {}", acked_lost.size(),
                                   final.primary, list_ids(acked_lost, acked_lost.size())));
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

// ---------------------------------------------------------------------------
// Single writer

namespace {

struct ProbeSample {
  Nanos mono = 0;
  bool writable = false;
  bool malformed = false;
};

std::map<std::string, std::vector<ProbeSample>> probe_samples(const std::vector<Op>& history) {
  std::map<std::string, std::vector<ProbeSample>> out;
  for (const Op& op : history) {
    if (op.process != "probe" || op.f != "state" || op.type == OpType::invoke) continue;
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
    out[op.node].push_back(s);
  }
  for (auto& [node, samples] : out) {
    std::stable_sort(samples.begin(), samples.end(),
                     [](const ProbeSample& a, const ProbeSample& b) { return a.mono < b.mono; });
  }
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

CheckerVerdict SingleWriterChecker::check(const std::vector<Op>& history, const FinalState& /*final*/) const {
  CheckerVerdict v;
  v.checker = name();
  const auto samples = probe_samples(history);
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
  const TimeRef tr(history);
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
    for (const Op& op : history) {
      if (op.f == "write" && op.type == OpType::ok && starts_with(op.process, "client-") && op.mono_ns >= w.from &&
          op.mono_ns <= w.to) {
        ++ledger_acks[op.node];
      }
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

// ---------------------------------------------------------------------------
// Convergence

CheckerVerdict ConvergenceChecker::check(const std::vector<Op>& history, const FinalState& final) const {
  CheckerVerdict v;
  v.checker = name();

  // converged_s: from the last heal / recover (or, without either, the last inject).
  std::optional<Nanos> last_heal, last_recover, last_inject;
  for (const Op& op : history) {
    if (op.process == "nemesis" && op.f == "heal" && op.type == OpType::ok) last_heal = op.mono_ns;
    if (op.process == "runner" && op.f == "recover" && op.type == OpType::ok) last_recover = op.mono_ns;
    if (op.process == "nemesis" && op.f == "inject") last_inject = op.mono_ns;
  }
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
    if (!final.replicated) {  // shared disk: a passive node must not serve
      if (n.reachable && !n.in_recovery)
        failures.push_back(fmt::format("passive node {} answers as a second primary on the shared disk", n.node));
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

// ---------------------------------------------------------------------------
// Bank

CheckerVerdict BankChecker::check(const std::vector<Op>& history, const FinalState& final) const {
  CheckerVerdict v;
  v.checker = name();
  const std::int64_t expected = final.bank_expected_total;
  const TimeRef tr(history);

  std::size_t reads = 0, bad = 0, t_ok = 0, t_fail = 0, t_info = 0;
  std::map<std::string, bool> transfer_open;  // per bank client: a transfer invoked, not completed
  std::vector<std::string> bad_reads;
  for (const Op& op : history) {
    if (!starts_with(op.process, "bank-")) continue;
    if (op.f == "read" && op.type == OpType::ok) {
      ++reads;
      const auto total = parse_i64(op.value);
      if (total && *total == expected) continue;
      ++bad;
      if (bad_reads.size() < kListReads) {
        bad_reads.push_back(fmt::format("{} read '{}' at {} (t={:.3f} s)", op.process, op.value,
                                        format_wall_ns(op.wall_ns), tr.rel_s(op.mono_ns)));
      }
    } else if (op.f == "transfer") {
      transfer_open[op.process] = op.type == OpType::invoke;
      t_ok += op.type == OpType::ok;
      t_fail += op.type == OpType::fail;
      t_info += op.type == OpType::info;
    }
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

}  // namespace haverify
