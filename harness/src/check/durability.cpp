// The durability checker: acknowledged writes of the ledger clients survive
// on the final primary (docs/checkers.md).
#include "haverify/check/durability.hpp"

#include <algorithm>
#include <set>
#include <unordered_set>
#include <vector>

#include <fmt/format.h>

#include "haverify/core/id_set.hpp"
#include "haverify/core/op.hpp"
#include "pass_text.hpp"

namespace haverify {

namespace {

using detail::count;
using detail::kListIds;
using detail::list_ids;

// The ids written, by outcome: each id in exactly one set.
struct WrittenIds {
  const IdSet& acked;
  IdSet failed;   // failed and never acked
  IdSet unknown;  // info or never completed, neither acked nor failed

  bool contains(std::int64_t id) const { return acked.contains(id) || failed.contains(id) || unknown.contains(id); }

  // How many acked ids `ids` lacks; the first kListIds of them in *first.
  std::size_t acked_missing(const std::set<std::int64_t>& ids, std::vector<std::int64_t>* first) const {
    std::size_t n = 0;
    acked.for_each([&](std::int64_t id) {
      if (!ids.count(id)) {
        if (first->size() < kListIds) first->push_back(id);
        ++n;
      }
      return true;
    });
    return n;
  }
};

class DurabilityPass final : public CheckerPass {
 public:
  void observe(const Op& op) override {
    if (!op::is_ledger_write(op)) return;
    const auto id = detail::parse_i64(op.value);
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
  WrittenIds classify() const;

  // Written once each; should an id complete twice, acked counts over
  // failed over unknown.
  IdSet acked_, failed_, info_;
  std::unordered_set<std::int64_t> open_;  // invoked, not completed (bounded by the clients)
  std::size_t unparsable_ = 0;
};

WrittenIds DurabilityPass::classify() const {
  WrittenIds w{acked_, {}, {}};
  failed_.for_each([&](std::int64_t id) {
    if (!acked_.contains(id)) w.failed.insert(id);
    return true;
  });
  auto add_unknown = [&](std::int64_t id) {
    if (!acked_.contains(id) && !w.failed.contains(id)) w.unknown.insert(id);
    return true;
  };
  info_.for_each(add_unknown);
  std::vector<std::int64_t> open(open_.begin(), open_.end());
  std::sort(open.begin(), open.end());
  for (auto id : open) add_unknown(id);
  return w;
}

// Failed writes present on any node whose ids were read: the server said
// no, and the write happened anyway.
std::set<std::int64_t> failed_but_present(const IdSet& failed, const FinalState& final) {
  std::set<std::int64_t> present;
  for (const auto& n : final.nodes) {
    if (!n.ledger_ids) continue;
    failed.for_each([&](std::int64_t id) {
      if (n.ledger_ids->count(id)) present.insert(id);
      return true;
    });
  }
  return present;
}

// lost_acked_on_<node> for every node whose ids were read; acked ids missing
// on a node other than the primary are named in the reasons only.
void judge_every_node(const WrittenIds& w, const FinalState& final, CheckerVerdict& v) {
  for (const auto& n : final.nodes) {
    if (!n.ledger_ids) {
      v.reasons.push_back(fmt::format("ids not read on {}{}", n.node, n.reachable ? "" : " (unreachable)"));
      continue;
    }
    std::vector<std::int64_t> first;
    const std::size_t missing = w.acked_missing(*n.ledger_ids, &first);
    v.figures["lost_acked_on_" + n.node] = count(missing);
    if (missing && n.node != final.primary) {
      v.reasons.push_back(
          fmt::format("{} (not the primary) lacks {} acknowledged ids: {} (the convergence checker "
                      "judges standbys)",
                      n.node, missing, list_ids(first, missing)));
    }
  }
}

// The primary's ids against what was written: figures, and the failures
// (acked ids lost, ids no client wrote).
std::vector<std::string> judge_primary(const WrittenIds& w, const std::set<std::int64_t>& ids,
                                       const std::string& primary, CheckerVerdict& v, std::size_t* unknown_present) {
  std::vector<std::int64_t> lost_first;
  const std::size_t acked_lost = w.acked_missing(ids, &lost_first);
  std::size_t unknown_absent = 0, failed_present = 0;
  *unknown_present = 0;
  w.unknown.for_each([&](std::int64_t id) {
    ++(ids.count(id) ? *unknown_present : unknown_absent);
    return true;
  });
  w.failed.for_each([&](std::int64_t id) {
    failed_present += ids.count(id);
    return true;
  });
  std::vector<std::int64_t> unexpected;
  for (const auto id : ids)
    if (!w.contains(id)) unexpected.push_back(id);
  v.figures["acked_present"] = count(w.acked.size() - acked_lost);
  v.figures["acked_lost"] = count(acked_lost);
  v.figures["unknown_present"] = count(*unknown_present);
  v.figures["unknown_absent"] = count(unknown_absent);
  v.figures["failed_present"] = count(failed_present);
  v.figures["failed_absent"] = count(w.failed.size() - failed_present);
  v.figures["lost_acked"] = count(acked_lost);
  v.figures["lost_unknown"] = count(unknown_absent);
  v.figures["unexpected_present"] = count(unexpected.size());
  std::vector<std::string> failures;
  if (acked_lost)
    failures.push_back(fmt::format("{} acknowledged writes lost on the primary {}: {}", acked_lost, primary,
                                   list_ids(lost_first, acked_lost)));
  if (!unexpected.empty())
    failures.push_back(fmt::format("{} ids on the primary {} that no client ever wrote: {}", unexpected.size(), primary,
                                   list_ids(unexpected, unexpected.size())));
  return failures;
}

CheckerVerdict DurabilityPass::finish(const FinalState& final) {
  CheckerVerdict v;
  const WrittenIds w = classify();
  v.figures["acked"] = count(w.acked.size());
  v.figures["unknown"] = count(w.unknown.size());
  v.figures["failed"] = count(w.failed.size());
  if (unparsable_) v.reasons.push_back(fmt::format("{} write ops with a non-numeric id were ignored", unparsable_));

  const std::set<std::int64_t> failed_present = failed_but_present(w.failed, final);
  v.figures["failed_but_present"] = count(failed_present.size());
  if (!failed_present.empty()) {
    v.reasons.push_back(fmt::format("{} writes reported failed are present: {}", failed_present.size(),
                                    list_ids(failed_present, failed_present.size())));
  }
  judge_every_node(w, final, v);

  const NodeFinalState* primary = final.find(final.primary);
  if (!primary || !primary->ledger_ids) {
    v.reasons.insert(v.reasons.begin(), final.primary.empty()
                                            ? std::string("the final primary is unknown")
                                            : fmt::format("ids of the final primary {} were not read", final.primary));
    v.status = failed_present.empty() ? CheckStatus::unknown : CheckStatus::fail;
    return v;
  }
  std::size_t unknown_present = 0;
  const auto failures = judge_primary(w, *primary->ledger_ids, final.primary, v, &unknown_present);
  v.reasons.insert(v.reasons.begin(), failures.begin(), failures.end());
  if (!primary->ledger_note.empty()) v.reasons.insert(v.reasons.begin(), primary->ledger_note);
  if (!failures.empty() || !failed_present.empty()) {
    v.status = CheckStatus::fail;
  } else if (w.acked.size() == 0) {
    // Nothing acknowledged, nothing shown durable: no evidence is no pass.
    v.status = CheckStatus::unknown;
    v.reasons.insert(v.reasons.begin(), "no acknowledged write: durability is not shown");
  } else {
    v.status = CheckStatus::pass;
    v.reasons.insert(v.reasons.begin(),
                     fmt::format("all {} acknowledged writes on the primary {}; {} of {} unknown writes committed",
                                 w.acked.size(), final.primary, unknown_present, w.unknown.size()));
  }
  return v;
}

}  // namespace

std::unique_ptr<CheckerPass> DurabilityChecker::start() const {
  return std::make_unique<DurabilityPass>();
}

}  // namespace haverify
