#pragma once
// One run as report.html draws it (docs/report-html.md): read back from its
// run directory (history.jsonl streamed once, run.json, series.csv), so that
// `haverify report html DIR` rebuilds what the suite wrote. Times are seconds
// from the run's first op, as events.csv's t_rel_s.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "haverify/check/checker.hpp"

namespace haverify::reports {

// What a node's probe sample said, held until its next sample.
enum class LaneState { writable, read_only, standby, down, unknown };
const char* to_string(LaneState s);

struct LaneSegment {
  double from_s = 0, to_s = 0;
  LaneState state = LaneState::unknown;
};

// A stretch with a start and an end: a fault (inject sent .. heal done, or
// the run's end), a planned operation or a maintenance job (invoke .. ok/fail).
struct Stretch {
  double from_s = 0, to_s = 0;
  std::string label;
  bool ended = true;  // false: still open at the run's end
  bool failed = false;
};

struct Marker {
  double t_s = 0;
  std::string name;  // inject, detect, promote, vip, dns, first write, converged
};

// One process's memory over time (series.csv): the rss of one pid.
struct MemorySeries {
  std::string name;                               // "node1 postgres: checkpointer (pid 123)"
  std::vector<std::pair<double, double>> points;  // t_s, rss MB
};

struct RunTimeline {
  double end_s = 0;                                       // the last op
  double bucket_s = 0.1;                                  // the width of one write bucket
  std::vector<std::uint64_t> acks;                        // acknowledged writes (ledger, bank) per bucket
  std::vector<std::uint64_t> fails;                       // failed or unknown writes per bucket
  std::vector<std::optional<double>> p50_ms, p99_ms;      // latency of the bucket's acks
  std::map<std::string, std::vector<LaneSegment>> lanes;  // node -> its probe states
  std::vector<Stretch> faults, operations;
  std::vector<Marker> markers;
  std::vector<MarkedWindow> marked;  // the checkers' windows (split brain, unknown), from run.json
  std::vector<MemorySeries> memory;  // with a sampler: the processes with the highest rss
  std::string note;                  // what could not be read ("" when complete)
};

// The markers of a run.json row: inject, detect, promote, vip, dns, first
// write, at their seconds from `t0_wall_ns` (the first op's wall time).
std::vector<Marker> row_markers(const nlohmann::json& row, std::int64_t t0_wall_ns);

// Reads run_dir's history.jsonl (one pass), run.json and series.csv. The
// write buckets are 100 ms, wider for long runs (at most `max_buckets`
// buckets, in multiples of 100 ms). A missing or unreadable file leaves its
// part empty and says so in `note`; never throws for a bad run directory.
RunTimeline read_run_timeline(const std::string& run_dir, std::size_t max_buckets = 2000);

// A run.json row's number (typed_row): nullopt when absent, null or not a number.
std::optional<double> json_number(const nlohmann::json& row, const char* key);

// "2026-12-07T07:11:17.478Z" -> ns since the epoch; nullopt for anything else.
std::optional<std::int64_t> parse_wall_ns(const std::string& iso);

}  // namespace haverify::reports
