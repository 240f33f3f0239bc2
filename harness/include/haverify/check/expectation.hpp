#pragma once
// The expectation checker (docs/checkers.md, "expectation"): the outcome the
// scenario's `expect:` block (or the plan sheet's `expected` column) names
// is asserted, not printed. It is judged from the run's figures (RunMetrics:
// who answered as primary just before the first fault, who was promoted
// after it, when the writes through the endpoint resumed) and the final
// state (who is primary after the run):
//   failover             another node is primary after the run, and writes
//                        resumed within resume_within of the fault;
//   no-failover          the same primary after the run, no other node ever
//                        answered as primary, and the longest write gap of
//                        the run is within max_write_gap;
//   local-restart        the same primary, nobody else promoted, writes
//                        resumed within resume_within;
//   failover-or-restart  a primary after the run, writes resumed within
//                        resume_within;
//   outage               writes stopped for at least min_outage after the
//                        fault (the reason says how long, and whether they
//                        came back).
// It also judges every await_writes step: writes that never resumed within
// the step's timeout fail the run (unless an outage was expected).
// unknown: the evidence is missing (no fault, no primary before it, no
// acknowledged write, no primary after the run).
// Figures: resume_s (the fault's outage, as failover_s), expected_met (1/0).
#include <optional>

#include "haverify/check/checker.hpp"
#include "haverify/check/metrics.hpp"
#include "haverify/config/scenario.hpp"

namespace haverify {

CheckerVerdict judge_expectation(const std::optional<Expectation>& expect, const RunMetrics& m,
                                 const FinalState& final);

}  // namespace haverify
