#pragma once
// The single_writer checker: never two writable primaries at once (docs/checkers.md).
#include <map>
#include <string>
#include <vector>

#include "haverify/check/checker.hpp"

namespace haverify {

// A time window on the monotonic clock, [from, to].
struct TimeWindow {
  Nanos from = 0;
  Nanos to = 0;
};

// Per node, the maximal windows during which the probes say it may have been
// writable (probe state samples, see SingleWriterChecker for the rule).
std::map<std::string, std::vector<TimeWindow>> writable_windows(const std::vector<Op>& history,
                                                                Nanos probe_interval_ns);

// Never two writable nodes at the same time. From the probe `state` samples,
// per node: a run of consecutive samples with writable=true is one writable
// window, from the node's sample before the run to its sample after the run
// (ok or fail), both extensions capped at `probe_interval` so a gap in the
// samples (a node that stops answering, a slow or stalled probe) does not
// stretch the window: a node that stops answering is not writable after its
// last writable sample + one interval. Overlapping windows of two or more
// nodes are split brain. Resolution: a handover in which the new primary's
// first writable sample comes less than about two intervals after the old
// primary's last one shows as an overlap of at most that length.
// Figures: split_brain_windows (maximal overlap windows), split_brain_s (their
// total length), probe_samples, probe_nodes, max_probe_gap_s.
// fail: any overlap; unknown: no probe samples; else pass.
class SingleWriterChecker final : public Checker {
 public:
  explicit SingleWriterChecker(Nanos probe_interval_ns = 50'000'000) : probe_interval_(probe_interval_ns) {}
  std::string name() const override { return "single_writer"; }
  std::unique_ptr<CheckerPass> start() const override;

 private:
  Nanos probe_interval_;
};

}  // namespace haverify
