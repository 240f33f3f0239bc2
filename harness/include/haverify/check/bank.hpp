#pragma once
// The bank checker: the invariant total of the bank workload (docs/checkers.md).
#include "haverify/check/checker.hpp"

namespace haverify {

// The bank's total is invariant: every ok `read` and the final total equal
// bank_expected_total. And each transfer's effect (value "from,to,amount,id")
// is held against the primary's transfer log (FinalState::bank_log): every
// acknowledged transfer applied, no failed one, unknown ones either way, and
// every balance equal to the initial balance plus the applied transfers.
// Figures: bank_reads, bank_bad_reads, bank_transfers_ok,
// bank_transfers_unknown, bank_transfers_failed, bank_transfers_lost,
// bank_failed_applied, bank_balance_mismatches, bank_transfers_applied,
// bank_ok (1/0; absent when unknown). fail: a bad read, a bad final total, a
// lost or wrongly applied transfer, a balance off; unknown: no final total,
// or transfers but no transfer log (or transfers without ids); else pass.
class BankChecker final : public Checker {
 public:
  std::string name() const override { return "bank"; }
  std::unique_ptr<CheckerPass> start() const override;
};

}  // namespace haverify
