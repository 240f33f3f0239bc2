#pragma once
// Detection from the cluster managers' logs: when the manager noticed a
// failure (t_detect).
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "haverify/cluster/transport_pool.hpp"
#include "haverify/config/inventory.hpp"
#include "haverify/core/history.hpp"

namespace haverify {

// A moment the cluster manager noticed something (t_detect), read from its logs.
struct DetectEvent {
  Nanos wall_ns = 0;
  std::string node;  // the node whose log says so
  std::string what;  // the log line
};

// The wall time of a log line's leading timestamp: ISO ("2026-11-21
// 12:00:00,123" or "...T12:00:00.123") or syslog ("Nov 21 12:00:00.123",
// year taken from `reference_wall`, the closest year that is not in the
// future). Local time, as daemons log, unless an ISO timestamp names its
// zone as UTC or an offset: PostgreSQL's %m, "2026-12-06 18:20:41.123 UTC",
// "... +09", "...T12:00:00Z". nullopt if the line has none.
std::optional<Nanos> parse_log_time(const std::string& line, Nanos reference_wall);

// A log line and the wall time of its leading timestamp.
struct LogLine {
  Nanos wall_ns = 0;
  std::string text;
};

// The lines of `text` whose leading timestamp (parse_log_time) is at or
// after `since_wall`, in their order; a line without one (a message's
// continuation lines, garbage) is left out.
std::vector<LogLine> timed_lines_since(const std::string& text, Nanos since_wall);

// A shell command printing the last `max_lines` lines of the log `log_word`
// (a shell word: a quoted path, or "$log" set before) that match `pattern`
// (extended regex).
std::string grep_log_command(const std::string& log_word, const std::string& pattern, int max_lines);

// Greps `log` on every node (the PostgreSQL nodes, then the aux nodes: the
// pgpool host) for `pattern` (extended regex) and returns the
// matching lines stamped at or after `since_wall`, earliest first.
std::vector<DetectEvent> detect_from_logs(const Inventory& inv, TransportPool& pool, const std::string& log,
                                          const std::string& pattern, Nanos since_wall,
                                          std::chrono::milliseconds deadline);

}  // namespace haverify
