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

// Never two writable nodes at the same time, from the probe `state` samples
// (docs/checkers.md). A sample says writable, not writable, or nothing (a
// failed or malformed probe; a refusal or PostgreSQL's own not-serving error
// says "not writable" when the probes work on the cluster at all). Per node,
// a run of writable samples is one writable window, from the node's sample
// before the run to its sample after it, both extensions capped at the node's
// measured spacing (median gap; `probe_interval` with fewer than two
// samples). Overlapping windows of two or more nodes are split brain. A node
// is unseen from one spacing after it was last seen writable (or from its
// first sample if never seen) until a sample says not writable, haverify
// took it down (power_off, process_kill postmaster) or the last sample of
// any node; unseen while another node is writable is an unknown window.
//
// The writes themselves: every acknowledged ledger write and bank transfer
// is attributed to the node that took it (its connection's `server` op:
// the postmaster's start time the probes also read, else the address the
// server saw, mapped to the inventory node). A node's writes form windows
// (acks no further apart than `write_gap`); two nodes' windows that both
// surely took writes in the same stretch are a split brain in the writes.
//
// Figures: split_brain_windows, split_brain_s, unknown_windows, unknown_s,
// probe_samples, probe_nodes, probe_spacing_s, max_probe_gap_s,
// attributed_writes, unattributed_writes, write_nodes,
// write_overlap_windows, write_overlap_s.
// fail: any overlap of probe windows or of acknowledged writes; unknown: no
// sample said anything, or an unknown window; else pass.
struct SingleWriterOptions {
  Nanos probe_interval = 50'000'000;  // the configured probe interval (spacing of a node with < 2 samples)
  std::map<std::string, std::string> node_of_address;  // inventory address (no prefix) -> node
  Nanos write_gap = 1'000'000'000;                     // acks of one node further apart start a new write window
};

class SingleWriterChecker final : public Checker {
 public:
  explicit SingleWriterChecker(SingleWriterOptions options = {}) : options_(std::move(options)) {}
  std::string name() const override { return "single_writer"; }
  std::unique_ptr<CheckerPass> start() const override;

 private:
  SingleWriterOptions options_;
};

}  // namespace haverify
