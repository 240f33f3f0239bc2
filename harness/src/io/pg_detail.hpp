#pragma once
// Internal helpers of io/pg.cpp (statements) and io/pg_connect.cpp
// (connections): not part of the API.
#include <chrono>
#include <climits>
#include <string>

#include <libpq-fe.h>

namespace haverify::pg_detail {

using Clock = std::chrono::steady_clock;

// Milliseconds left until `end`, rounded up so poll() never spins with 0.
inline int ms_until(Clock::time_point end) {
  const auto left = end - Clock::now();
  if (left <= Clock::duration::zero()) return 0;
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
  const auto ms = (ns + 999'999) / 1'000'000;
  return ms > INT_MAX ? INT_MAX : static_cast<int>(ms);
}

// Collapses libpq's multi-line messages into one trimmed line.
inline std::string one_line(const char* s) {
  std::string out;
  if (!s) return out;
  bool pending_space = false;
  for (const char* p = s; *p; ++p) {
    const char c = *p;
    if (c == '\n' || c == '\r' || c == '\t' || c == ' ') {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    out.push_back(c);
  }
  return out;
}

// The notice receiver outside pg_exec: notices are dropped (not printed to stderr).
inline void discard_notice(void*, const PGresult*) {}

}  // namespace haverify::pg_detail
