#pragma once
// The single_vip checker: a pgpool watchdog's delegate IP is never held by
// two nodes at once (docs/checkers.md).
#include "haverify/check/checker.hpp"

namespace haverify {

struct SingleVipOptions {
  // A node that stops answering the VIP probe and answers again as before
  // within this long is taken to have kept its state (an SSH hiccup).
  Nanos unseen_grace = 1'000'000'000;
};

// From the probes' VIP samples ({probe, vip, node, held|free}, or fail: not
// answering), per node: held, free, unseen (not answering), or down
// (haverify powered it off: it holds nothing until it answers again).
// Two nodes holding it at once is a split VIP: both answer ARP for it, and
// clients reach either pgpool. Figures: vip_split_s, vip_split_windows,
// vip_unseen_s (time when a second holder could not be excluded: a node
// unseen while another held it, or two unseen), vip_moves (changes of the
// holder). fail: a split VIP; unknown: no VIP sample, or vip_unseen_s > 0;
// else pass.
class SingleVipChecker final : public Checker {
 public:
  explicit SingleVipChecker(SingleVipOptions options = {}) : options_(options) {}
  std::string name() const override { return "single_vip"; }
  std::unique_ptr<CheckerPass> start() const override;

 private:
  SingleVipOptions options_;
};

}  // namespace haverify
