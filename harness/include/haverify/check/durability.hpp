#pragma once
// The durability checker (docs/checkers.md).
#include "haverify/check/checker.hpp"

namespace haverify {

// Acknowledged writes of the ledger clients survive on the final primary.
// Every id written (client-N write) is classified against the primary's ids:
//   acked_present / acked_lost (ok, missing), unknown_present / unknown_absent
//   (info or never completed), failed_present / failed_absent.
// Figures: acked, unknown, failed, acked_present, acked_lost, unknown_present,
//   unknown_absent, failed_present, failed_absent, lost_acked (= acked_lost),
//   lost_unknown (= unknown_absent), failed_but_present (a failed write found
//   on any reachable node), unexpected_present (ids on the primary that no
//   client ever invoked), lost_acked_on_<node> for every node whose ids were read.
// fail: lost_acked > 0, failed_but_present > 0 or unexpected_present > 0;
// unknown: the primary's ids are not available; else pass. Acked ids missing
// on another node are reported in the reasons only (the Convergence checker
// fails on them).
class DurabilityChecker final : public Checker {
 public:
  std::string name() const override { return "durability"; }
  std::unique_ptr<CheckerPass> start() const override;
};

}  // namespace haverify
