#pragma once
// The probes' state samples as time windows (probe_windows.cpp): internal
// to the single_writer pass (single_writer.cpp).
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "haverify/check/checker.hpp"
#include "haverify/check/single_writer.hpp"
#include "haverify/core/history.hpp"

namespace haverify::detail {

enum class Seen { no, yes, unknown };

// What one probe state sample says of its node: writable, not writable, or
// nothing (the probe failed, timed out or answered without `writable`).

struct ProbeSample {
  Nanos mono = 0;
  Seen seen = Seen::unknown;
  bool malformed = false;
  bool not_serving = false;   // a failed probe whose error says no server accepts connections there
  std::int64_t instance = 0;  // the server instance the sample names (0: none)
};

// One probe state op as a sample (nullopt for ops that are not samples).
std::optional<ProbeSample> probe_sample(const Op& op);
// A power-off or a killed postmaster (nemesis inject ok): the node cannot
// take writes until it answers again.
bool takes_node_down(const Op& op);
// The inject (ok) or heal (ok or failed) of a self-healing cut.
bool self_healing_cut(const Op& op);
// Inside a self-healing cut's window w, until the node is seen again: the
// stretches between known samples further apart than `gap` (unseen).
void add_unseen(std::vector<TimeWindow>& out, const std::vector<ProbeSample>& s, const TimeWindow& w, Nanos gap);
// In time order; "not serving" failures read as not writable once the probes work.
void sort_samples(std::map<std::string, std::vector<ProbeSample>>& samples);
// Every node's samples, sorted.
std::map<std::string, std::vector<ProbeSample>> probe_samples(const std::vector<Op>& history);
// The node's median sample spacing (`fallback` with fewer than two samples).
Nanos spacing_of(const std::vector<ProbeSample>& s, Nanos fallback);
// Appends [from, to), merged with the last window when they touch.
void add_window(std::vector<TimeWindow>& out, Nanos from, Nanos to);
// The node's writable windows (`e`: its spacing).
std::vector<TimeWindow> windows_of(const std::vector<ProbeSample>& s, Nanos e);
// Where the node may have been writable without a probe saying so.
std::vector<TimeWindow> blind_windows(const std::vector<ProbeSample>& s, Nanos e, const std::vector<Nanos>& downs,
                                      Nanos begin, Nanos end);
bool overlap(const TimeWindow& a, const TimeWindow& b);
// The stretches of `a` that overlap any window of `b`.
void intersect_into(const std::vector<TimeWindow>& a, const std::vector<TimeWindow>& b, std::vector<TimeWindow>& out);
// Sorted and merged.
std::vector<TimeWindow> merged(std::vector<TimeWindow> w);

}  // namespace haverify::detail
