#pragma once
// The SVG charts of report.html (docs/report-html.md), hand-written: a run's
// timeline, its phase bar, the failover distribution and median phases per
// group (compare, the timing suite), memory over time. Every drawn element
// carries its figures as data-* attributes (data-from-s, data-to-s,
// data-node, data-state, ...), so a test reads the chart from the DOM.
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "reports/run_timeline.hpp"

namespace haverify::reports {

// Writes per bucket, latency, one lane per node, the operations, the fault
// windows, the checkers' windows and the phase markers on one time axis.
std::string timeline_svg(const RunTimeline& t);

// The phases of a failover from a run.json row (typed_row): detect, promote,
// VIP/DNS, first write on one bar from the inject, and redo / checkpoint
// under it. "" when the row has no failover_s and no phase.
std::string phase_bar_svg(const nlohmann::json& row);

// One group of runs (a stack or a timing condition) for the architects' chart.
struct GroupFigures {
  std::string name;                // "power-off-primary · pgrex (fast, disk hdd)"
  std::vector<double> failover_s;  // every run's
  std::optional<double> median_s, median_detect_s, median_promote_s, median_redo_s, median_checkpoint_s;
  std::string ratio;  // "1.00", "2.11 [1.66-2.42]" or ""
};
// Per group: the failover_s dots and median, and the stacked median phases.
std::string groups_svg(const std::vector<GroupFigures>& groups);

// RSS per process over the run.
std::string memory_svg(const std::vector<MemorySeries>& memory, double end_s);

}  // namespace haverify::reports
