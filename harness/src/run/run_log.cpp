#include "haverify/run/run_log.hpp"

#include <iostream>

#include <fmt/format.h>

#include "haverify/core/clock.hpp"

namespace haverify {

void run_log(const std::string& text) {
  std::cout << fmt::format("[{}] {}", format_wall_ns(wall_now_ns()).substr(11, 12), text) << std::endl;
}

}  // namespace haverify
