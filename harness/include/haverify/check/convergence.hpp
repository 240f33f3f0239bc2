#pragma once
// The convergence checker (docs/checkers.md).
#include "haverify/check/checker.hpp"

namespace haverify {

// After the run every node other than the primary is reachable, in recovery,
// on the primary's timeline, streaming from the primary, holds the same
// ledger ids (when read) and the same table checksums as the primary.
// Figures: converged_s (converged_mono - the last `nemesis heal ok`,
// `runner recover ok` or planned operation ok (`driver`, not detect),
// whichever is later; without any, the last `nemesis inject`),
// diverged_nodes, standbys.
// fail: any node differs, the primary is in recovery, or the convergence
// wait never saw convergence; unknown: the primary is unknown or
// unreachable, or there are no checksums to compare; else pass.
class ConvergenceChecker final : public Checker {
 public:
  std::string name() const override { return "convergence"; }
  std::unique_ptr<CheckerPass> start() const override;
};

}  // namespace haverify
