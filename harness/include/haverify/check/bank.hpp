#pragma once
// The bank checker: the invariant total of the bank workload (docs/checkers.md).
#include "haverify/check/checker.hpp"

namespace haverify {

// The bank's total is invariant: every ok `read` and the final total equal
// bank_expected_total. Figures: bank_reads, bank_bad_reads, bank_transfers_ok,
// bank_transfers_unknown, bank_transfers_failed, bank_ok (1/0; absent when
// unknown). fail: a bad read or a bad final total; unknown: no final total
// (and no bad read); else pass.
class BankChecker final : public Checker {
 public:
  std::string name() const override { return "bank"; }
  std::unique_ptr<CheckerPass> start() const override;
};

}  // namespace haverify
