#include "haverify/run/run_log.hpp"

#include <atomic>
#include <iostream>

#include <fmt/format.h>

#include "haverify/core/clock.hpp"

namespace haverify {

namespace {
std::atomic<bool> progress_drawn{false};
}  // namespace

std::mutex& console_mutex() {
  static std::mutex m;
  return m;
}

void set_progress_line(bool drawn) {
  progress_drawn = drawn;
}

std::string log_stamp() {
  return fmt::format("[{}] ", format_wall_ns(wall_now_ns()).substr(11, 12));
}

void run_log(const std::string& text) {
  std::lock_guard<std::mutex> lock(console_mutex());
  std::cout << (progress_drawn ? "\r\x1b[K" : "") << log_stamp() << text << std::endl;
}

}  // namespace haverify
