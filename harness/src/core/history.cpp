#include "haverify/core/history.hpp"

#include <algorithm>
#include <ctime>

#include <fmt/format.h>

namespace haverify {

std::string format_wall_ns(Nanos wall_ns) {
  const std::time_t secs = static_cast<std::time_t>(wall_ns / 1'000'000'000);
  const int millis = static_cast<int>((wall_ns / 1'000'000) % 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
}

std::string timestamp_dirname(Nanos wall_ns) {
  std::string s = format_wall_ns(wall_ns);
  std::replace(s.begin(), s.end(), ':', '-');
  return s;
}

const char* to_string(OpType t) {
  switch (t) {
    case OpType::invoke:
      return "invoke";
    case OpType::ok:
      return "ok";
    case OpType::fail:
      return "fail";
    case OpType::info:
      return "info";
  }
  return "?";
}

std::int64_t History::append(Op op) {
  std::function<void(const Op&)> listener;
  {
    std::lock_guard lock(mu_);
    if (op.mono_ns == 0) op.mono_ns = mono_now_ns();
    if (op.wall_ns == 0) op.wall_ns = wall_now_ns();
    op.index = count_++;
    for (HistorySink* s : sinks_) s->on_op(op);
    if (keep_) ops_.push_back(op);
    listener = listener_;
  }
  if (listener) listener(op);
  return op.index;
}

Op make_op(std::string process, OpType type, std::string f, std::string value, std::string node, std::string error) {
  Op op;
  op.process = std::move(process);
  op.type = type;
  op.f = std::move(f);
  op.value = std::move(value);
  op.node = std::move(node);
  op.error = std::move(error);
  return op;
}

std::int64_t History::record(std::string process, OpType type, std::string f, std::string value, std::string node,
                             std::string error) {
  return append(make_op(std::move(process), type, std::move(f), std::move(value), std::move(node), std::move(error)));
}

std::vector<Op> History::snapshot() const {
  std::lock_guard lock(mu_);
  return ops_;
}

std::size_t History::size() const {
  std::lock_guard lock(mu_);
  return static_cast<std::size_t>(count_);
}

void History::add_sink(HistorySink* sink) {
  std::lock_guard lock(mu_);
  if (sink && std::find(sinks_.begin(), sinks_.end(), sink) == sinks_.end()) sinks_.push_back(sink);
}

void History::remove_sink(HistorySink* sink) {
  std::lock_guard lock(mu_);
  sinks_.erase(std::remove(sinks_.begin(), sinks_.end(), sink), sinks_.end());
}

void History::set_listener(std::function<void(const Op&)> listener) {
  std::lock_guard lock(mu_);
  listener_ = std::move(listener);
}

}  // namespace haverify
