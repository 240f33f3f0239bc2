#include "haverify/core/numbers.hpp"

#include <cmath>
#include <cstdint>

#include <fmt/format.h>

namespace haverify {

std::optional<std::int64_t> as_count(double v) {
  if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 9.0e15) return static_cast<std::int64_t>(v);
  return std::nullopt;
}

std::string format_number(double v) {
  if (const auto n = as_count(v)) return fmt::format("{}", *n);
  return fmt::format("{}", v);
}

std::string format_figure(std::string_view name, double v) {
  const bool timed = (name.size() > 2 && name.substr(name.size() - 2) == "_s") ||
                     (name.size() > 3 && name.substr(name.size() - 3) == "_ms");
  if (timed && std::isfinite(v)) return fmt::format("{:.3f}", v);
  return format_number(v);
}

}  // namespace haverify
