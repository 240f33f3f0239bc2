// The convergence checker: after the run every standby follows the primary
// with the same data (docs/checkers.md).
#include "haverify/check/convergence.hpp"

#include <algorithm>
#include <iterator>
#include <limits>
#include <optional>

#include <fmt/format.h>

#include "haverify/core/op.hpp"
#include "pass_text.hpp"

namespace haverify {

namespace {

using detail::count;
using detail::list_ids;

class ConvergencePass final : public CheckerPass {
 public:
  void observe(const Op& op) override {
    if (op::is(op, op::proc::nemesis, op::fn::heal) && op.type == OpType::ok) last_heal_ = op.mono_ns;
    if (op::is(op, op::proc::runner, op::fn::recover) && op.type == OpType::ok) last_recover_ = op.mono_ns;
    // A planned operation (cluster step) that ended: the cluster changed then too.
    if (op::is_from(op, op::proc::driver) && op.f != op::fn::detect && op.type == OpType::ok)
      last_recover_ = op.mono_ns;
    if (op::is(op, op::proc::nemesis, op::fn::inject)) last_inject_ = op.mono_ns;
  }
  CheckerVerdict finish(const FinalState& final) override;

 private:
  // converged_s counts from here: the last heal / recover / cluster
  // operation or, without any, the last inject.
  std::optional<Nanos> reference() const;

  std::optional<Nanos> last_heal_, last_recover_, last_inject_;
};

std::optional<Nanos> ConvergencePass::reference() const {
  if (!last_heal_ && !last_recover_) return last_inject_;
  constexpr Nanos kNone = std::numeric_limits<Nanos>::min();
  return std::max(last_heal_.value_or(kNone), last_recover_.value_or(kNone));
}

// "ledger ids differ: 2 missing (..) 1 extra (..)" when the ledger ids of n
// and the primary were both read and differ.
std::optional<std::string> ledger_id_diff(const NodeFinalState& n, const NodeFinalState& primary) {
  if (!n.ledger_ids || !primary.ledger_ids || *n.ledger_ids == *primary.ledger_ids) return std::nullopt;
  std::vector<std::int64_t> missing, extra;
  std::set_difference(primary.ledger_ids->begin(), primary.ledger_ids->end(), n.ledger_ids->begin(),
                      n.ledger_ids->end(), std::back_inserter(missing));
  std::set_difference(n.ledger_ids->begin(), n.ledger_ids->end(), primary.ledger_ids->begin(),
                      primary.ledger_ids->end(), std::back_inserter(extra));
  std::string d = "ledger ids differ:";
  if (!missing.empty()) d += fmt::format(" {} missing ({})", missing.size(), list_ids(missing, missing.size()));
  if (!extra.empty()) d += fmt::format(" {} extra ({})", extra.size(), list_ids(extra, extra.size()));
  return d;
}

void checksum_diffs(const NodeFinalState& n, const NodeFinalState& primary, std::vector<std::string>& diffs) {
  for (const auto& [table, sum] : primary.table_checksums) {
    auto it = n.table_checksums.find(table);
    if (it == n.table_checksums.end()) {
      diffs.push_back(fmt::format("no checksum of {}", table));
    } else if (it->second != sum) {
      diffs.push_back(fmt::format("{} differs (checksum {}, primary {})", table, it->second, sum));
    }
  }
  for (const auto& [table, sum] : n.table_checksums) {
    if (!primary.table_checksums.count(table)) diffs.push_back(fmt::format("{} not on the primary", table));
  }
}

// How the standby n differs from the primary (empty: converged).
std::vector<std::string> standby_diffs(const NodeFinalState& n, const NodeFinalState& primary,
                                       const FinalState& final) {
  std::vector<std::string> diffs;
  const StandbyGaps g = standby_gaps(n, primary, /*replicated=*/true);  // the rule: cluster/health.hpp
  if (g.unreachable) {
    diffs.push_back("unreachable");
  } else {
    if (g.serving) diffs.push_back("not in recovery (a second primary)");
    if (g.other_timeline) diffs.push_back(fmt::format("timeline {} (primary {})", n.timeline, primary.timeline));
    if (g.not_streaming) diffs.push_back("not streaming from the primary");
    if (auto d = ledger_id_diff(n, primary)) diffs.push_back(std::move(*d));
    checksum_diffs(n, primary, diffs);
  }
  const auto blocked = final.takeover_blockers.find(n.node);
  if (blocked != final.takeover_blockers.end()) diffs.push_back("cannot take over: " + blocked->second);
  return diffs;
}

// Shared disk: a passive node must not serve, and must be able to take over.
void judge_passive(const NodeFinalState& n, const NodeFinalState& primary, const FinalState& final,
                   std::vector<std::string>& failures) {
  if (standby_gaps(n, primary, /*replicated=*/false).serving)
    failures.push_back(fmt::format("passive node {} answers as a second primary on the shared disk", n.node));
  const auto blocked = final.takeover_blockers.find(n.node);
  if (blocked != final.takeover_blockers.end())
    failures.push_back(fmt::format("passive node {} cannot take over: {}", n.node, blocked->second));
}

// Every node but the primary; returns the failures and counts the standbys
// and those that diverged.
std::vector<std::string> judge_nodes(const NodeFinalState& primary, const FinalState& final, std::size_t* standbys,
                                     std::size_t* diverged) {
  std::vector<std::string> failures;
  if (primary.in_recovery) failures.push_back(fmt::format("the primary {} is in recovery", primary.node));
  for (const auto& n : final.nodes) {
    if (n.node == primary.node) continue;
    if (!final.replicated) {
      judge_passive(n, primary, final, failures);
      continue;
    }
    ++*standbys;
    const auto diffs = standby_diffs(n, primary, final);
    if (diffs.empty()) continue;
    ++*diverged;
    std::string line = fmt::format("{} has not converged: ", n.node);
    for (std::size_t i = 0; i < diffs.size(); ++i) line += (i ? "; " : "") + diffs[i];
    failures.push_back(std::move(line));
  }
  return failures;
}

CheckerVerdict ConvergencePass::finish(const FinalState& final) {
  CheckerVerdict v;
  const std::optional<Nanos> ref = reference();
  if (final.converged_mono && ref) v.figures["converged_s"] = ns_to_s(std::max<Nanos>(0, *final.converged_mono - *ref));

  const NodeFinalState* primary = final.find(final.primary);
  if (!primary || !primary->reachable) {
    v.status = CheckStatus::unknown;
    v.reasons.push_back(final.primary.empty() ? std::string("the final primary is unknown")
                        : !primary ? fmt::format("the final primary {} is not in the final state", final.primary)
                                   : fmt::format("the final primary {} is unreachable", final.primary));
    return v;
  }
  std::size_t standbys = 0, diverged = 0;
  const auto failures = judge_nodes(*primary, final, &standbys, &diverged);
  v.figures["standbys"] = count(standbys);
  v.figures["diverged_nodes"] = count(diverged);
  std::vector<std::string> all = failures;
  // A wait that timed out is a failure even when the final read looks converged: the cluster
  // did not converge within the scenario's converge_timeout.
  if (!final.converged_mono && standbys > 0)
    all.push_back(fmt::format("the convergence wait did not see every standby converged within its deadline{}",
                              final.convergence_gap.empty() ? "" : ": still " + final.convergence_gap));
  if (!all.empty()) {
    v.status = CheckStatus::fail;
    v.reasons.insert(v.reasons.begin(), all.begin(), all.end());
  } else if (standbys > 0 && primary->table_checksums.empty()) {
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

}  // namespace haverify
