#pragma once
// What the checker passes share: reading ids from op values, and naming ids
// and instants in their reasons.
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <system_error>

#include <fmt/format.h>

#include "haverify/core/clock.hpp"
#include "haverify/core/history.hpp"

namespace haverify::detail {

inline constexpr std::size_t kListIds = 10;  // ids named in a reason

inline std::optional<std::int64_t> parse_i64(const std::string& s) {
  std::int64_t v = 0;
  const char* b = s.data();
  const char* e = b + s.size();
  auto [p, ec] = std::from_chars(b, e, v);
  if (ec != std::errc() || p != e || s.empty()) return std::nullopt;
  return v;
}

// The first kListIds ids, comma-separated, and "(+N more)" of `total`.
template <typename Range>
std::string list_ids(const Range& ids, std::size_t total) {
  std::string out;
  std::size_t n = 0;
  for (const auto id : ids) {
    if (n == kListIds) break;
    if (n) out += ',';
    out += std::to_string(id);
    ++n;
  }
  if (total > n) out += fmt::format(" (+{} more)", total - n);
  return out;
}

// A count as a figure.
inline double count(std::size_t n) {
  return static_cast<double>(n);
}

// Wall-clock and relative time of a monotonic instant, using the first op of
// the history as the reference (every op carries both clocks).
struct TimeRef {
  bool set = false;
  Nanos mono0 = 0;
  Nanos wall_minus_mono = 0;
  void observe(const Op& op) {
    if (set) return;
    set = true;
    mono0 = op.mono_ns;
    wall_minus_mono = op.wall_ns - op.mono_ns;
  }
  std::string wall(Nanos mono) const { return format_wall_ns(mono + wall_minus_mono); }
  double rel_s(Nanos mono) const { return ns_to_s(mono - mono0); }
};

}  // namespace haverify::detail
