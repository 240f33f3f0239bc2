#pragma once
// Time sources used across haverify. Every event carries both a monotonic
// timestamp (for durations) and a wall-clock timestamp (for humans and logs).
#include <chrono>
#include <cstdint>
#include <string>

namespace haverify {

using Nanos = std::int64_t;

// Monotonic nanoseconds (std::chrono::steady_clock); only differences matter.
inline Nanos mono_now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Wall-clock nanoseconds since the Unix epoch.
inline Nanos wall_now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// ISO-8601 UTC with milliseconds, e.g. 2026-11-21T09:37:29.123Z.
std::string format_wall_ns(Nanos wall_ns);
// The same with '-' for ':', for a directory name: 2026-11-21T09-37-29.123Z.
std::string timestamp_dirname(Nanos wall_ns);

inline double ns_to_s(Nanos ns) {
  return static_cast<double>(ns) / 1e9;
}

inline double ms_to_s(std::chrono::milliseconds d) {
  return static_cast<double>(d.count()) / 1e3;
}

}  // namespace haverify
