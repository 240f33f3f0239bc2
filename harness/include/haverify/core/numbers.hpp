#pragma once
// Numbers for people, in every reason and table: a count as an integer
// (1010131, never 1.01013e+06), seconds and milliseconds with millisecond
// precision (3.457), any other value in its shortest exact form (0.25, 1e+20).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace haverify {

// `v` as a count when it is a whole number an int64 holds exactly, else nullopt.
std::optional<std::int64_t> as_count(double v);

// A value as written without a unit to tell: a whole number as an integer,
// else the shortest text that reads back as the same double.
std::string format_number(double v);

// A named figure: names ending in _s or _ms get 3 decimals, the rest
// format_number (counts are whole numbers).
std::string format_figure(std::string_view name, double v);

}  // namespace haverify
