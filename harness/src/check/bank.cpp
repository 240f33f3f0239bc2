// The bank checker: every snapshot read and the final total equal the
// expected total (docs/checkers.md).
#include "haverify/check/bank.hpp"

#include <algorithm>
#include <optional>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "haverify/core/id_set.hpp"
#include "haverify/core/op.hpp"
#include "pass_text.hpp"

namespace haverify {

namespace {

using detail::count;

constexpr std::size_t kListReads = 10;  // bad bank reads described

// The expected total is only known at finish (FinalState): reads are kept as
// total -> (count, the first few described) and judged there. Past
// kMaxTotals distinct totals, new ones are counted but not described.
constexpr std::size_t kMaxTotals = 64;

class BankPass final : public CheckerPass {
 public:
  void observe(const Op& op) override {
    tr_.observe(op);
    if (!op::is_bank_client(op)) return;
    if (op.f == op::fn::read && op.type == OpType::ok) {
      ++reads_;
      auto it = totals_.find(op.value);
      if (it == totals_.end()) it = totals_.emplace(op.value, Total{}).first;
      auto& t = it->second;
      ++t.count;
      if (t.first.size() < kListReads && totals_.size() <= kMaxTotals)
        t.first.push_back(fmt::format("{} read '{}' at {} (t={:.3f} s)", op.process, op.value,
                                      format_wall_ns(op.wall_ns), tr_.rel_s(op.mono_ns)));
    } else if (op.f == op::fn::transfer) {
      transfer_open_[op.process] = op.type == OpType::invoke;
      t_ok_ += op.type == OpType::ok;
      t_fail_ += op.type == OpType::fail;
      t_info_ += op.type == OpType::info;
      if (op.type == OpType::ok || op.type == OpType::fail) {
        // "from,to,amount,id": the id the transfer is logged under.
        const auto comma = op.value.rfind(',');
        const auto id = comma == std::string::npos || std::count(op.value.begin(), op.value.end(), ',') != 3
                            ? std::nullopt
                            : detail::parse_i64(op.value.substr(comma + 1));
        if (!id)
          ++t_no_id_;
        else
          (op.type == OpType::ok ? acked_ : failed_).insert(*id);
      }
    }
  }
  CheckerVerdict finish(const FinalState& final) override;

 private:
  struct Total {
    std::size_t count = 0;
    std::vector<std::string> first;  // the first kListReads reads of this total, described
  };
  // Each transfer against the primary's transfer log: reasons, true if it fails.
  bool judge_log(const FinalState::BankLog& log, CheckerVerdict& v, std::vector<std::string>& failures) const;

  detail::TimeRef tr_;
  std::size_t reads_ = 0, t_ok_ = 0, t_fail_ = 0, t_info_ = 0, t_no_id_ = 0;
  IdSet acked_, failed_;                       // transfer ids by outcome (unknown ones may be applied or not)
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
    const auto total = detail::parse_i64(value);
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
  // A lost acknowledged transfer keeps the total: each transfer is held against the log.
  const bool per_transfer = final.bank_log && t_no_id_ == 0;
  if (per_transfer) judge_log(*final.bank_log, v, failures);

  if (!failures.empty()) {
    v.status = CheckStatus::fail;
    v.figures["bank_ok"] = 0;
    v.reasons = std::move(failures);
  } else if (!final.bank_total) {
    v.status = CheckStatus::unknown;
    v.reasons.push_back(reads + t_ok + t_fail + t_info + open_count == 0
                            ? std::string("no bank workload in the history and no final total")
                            : std::string("the final bank total was not read"));
  } else if (!per_transfer && t_ok + t_fail > 0) {
    // The total alone cannot show a lost acknowledged transfer.
    v.status = CheckStatus::unknown;
    v.reasons.push_back(
        t_no_id_ ? fmt::format("{} transfers carry no id: their effects cannot be checked one by one", t_no_id_)
                 : std::string("the transfer log was not read from the primary: each transfer's effect is not shown"));
  } else {
    v.status = CheckStatus::pass;
    v.figures["bank_ok"] = 1;
    v.reasons.push_back(fmt::format(
        "{} reads and the final total all equal {}; all {} acknowledged transfers are applied, none of the {} failed "
        "ones, and every balance matches the applied transfers",
        reads, expected, t_ok, t_fail));
  }
  return v;
}

bool BankPass::judge_log(const FinalState::BankLog& log, CheckerVerdict& v, std::vector<std::string>& failures) const {
  const auto applied = [&log](std::int64_t id) {
    return std::binary_search(log.applied_ids.begin(), log.applied_ids.end(), id);
  };
  std::vector<std::int64_t> lost, failed_applied;
  std::size_t n_lost = 0, n_failed_applied = 0;
  acked_.for_each([&](std::int64_t id) {
    if (!applied(id) && ++n_lost <= detail::kListIds) lost.push_back(id);
    return true;
  });
  failed_.for_each([&](std::int64_t id) {
    if (applied(id) && ++n_failed_applied <= detail::kListIds) failed_applied.push_back(id);
    return true;
  });
  v.figures["bank_transfers_lost"] = count(n_lost);
  v.figures["bank_failed_applied"] = count(n_failed_applied);
  v.figures["bank_balance_mismatches"] = static_cast<double>(log.mismatched_accounts);
  v.figures["bank_transfers_applied"] = count(log.applied_ids.size());
  if (n_lost)
    failures.push_back(
        fmt::format("{} acknowledged transfers are not applied on the primary (not in its transfer "
                    "log): ids {}",
                    n_lost, detail::list_ids(lost, n_lost)));
  if (n_failed_applied)
    failures.push_back(fmt::format("{} failed transfers were applied anyway: ids {}", n_failed_applied,
                                   detail::list_ids(failed_applied, n_failed_applied)));
  if (log.mismatched_accounts)
    failures.push_back(fmt::format("{} account balances do not match the applied transfers: {}",
                                   log.mismatched_accounts, fmt::join(log.mismatches, "; ")));
  return n_lost || n_failed_applied || log.mismatched_accounts;
}

}  // namespace

std::unique_ptr<CheckerPass> BankChecker::start() const {
  return std::make_unique<BankPass>();
}
}  // namespace haverify
