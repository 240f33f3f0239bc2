// The bank checker: every snapshot read and the final total equal the
// expected total (docs/checkers.md).
#include "haverify/check/bank.hpp"

#include <algorithm>

#include <fmt/format.h>

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
    }
  }
  CheckerVerdict finish(const FinalState& final) override;

 private:
  struct Total {
    std::size_t count = 0;
    std::vector<std::string> first;  // the first kListReads reads of this total, described
  };
  detail::TimeRef tr_;
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
}  // namespace haverify
