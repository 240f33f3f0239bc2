#include "reports/stream.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iterator>
#include <stdexcept>
#include <string_view>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "haverify/core/op.hpp"

namespace haverify::reports {

namespace {

// A JSON string, as nlohmann::json::dump(-1, ' ', false, replace) writes it:
// printable ASCII without '"' and '\\' is copied as is (the common case: ids,
// process and node names); anything else goes through nlohmann, which
// escapes control characters and replaces bytes that are not UTF-8.
void append_json_string(std::string& out, std::string_view s) {
  const bool plain = std::all_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u >= 0x20 && u < 0x7f && c != '"' && c != '\\';
  });
  if (!plain) {
    out += nlohmann::json(std::string(s)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return;
  }
  out += '"';
  out += s;
  out += '"';
}

void append_field(std::string& out, std::string_view key, std::string_view value) {
  out += ",\"";
  out += key;
  out += "\":";
  append_json_string(out, value);
}

void append_field(std::string& out, std::string_view key, std::int64_t value) {
  fmt::format_to(std::back_inserter(out), ",\"{}\":{}", key, value);
}

// format_wall_ns(wall_ns) appended, as a JSON string: the date and time
// part is formatted once per second (per thread) and reused.
void append_wall(std::string& out, Nanos wall_ns) {
  if (wall_ns < 0) {
    append_json_string(out, format_wall_ns(wall_ns));
    return;
  }
  thread_local Nanos cached_second = -1;
  thread_local std::string cached;  // "2026-12-06T05:20:20." of cached_second
  const Nanos second = wall_ns / 1'000'000'000;
  if (second != cached_second) {
    cached = format_wall_ns(second * 1'000'000'000);
    cached.resize(cached.size() - 4);  // without "000Z"
    cached_second = second;
  }
  fmt::format_to(std::back_inserter(out), "\"{}{:03}Z\"", cached, (wall_ns / 1'000'000) % 1000);
}

}  // namespace

// The keys in nlohmann's (sorted) order, as the json object dumped before.
void append_history_json_line(std::string& out, const Op& op) {
  out += '{';
  if (!op.error.empty()) {
    out += "\"error\":";
    append_json_string(out, op.error);
    out += ",\"f\":";
  } else {
    out += "\"f\":";
  }
  append_json_string(out, op.f);
  append_field(out, "index", op.index);
  append_field(out, "mono_ns", op.mono_ns);
  append_field(out, "node", op.node);
  append_field(out, "process", op.process);
  append_field(out, "type", to_string(op.type));
  append_field(out, "value", op.value);
  out += ",\"wall\":";
  append_wall(out, op.wall_ns);
  out += '}';
}

std::string history_json_line(const Op& op) {
  std::string out;
  append_history_json_line(out, op);
  return out;
}

// ---------------------------------------------------------------------------

HistoryJsonlWriter::HistoryJsonlWriter(const std::string& path, std::chrono::milliseconds flush_interval)
    : path_(path), interval_(flush_interval) {
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) throw std::runtime_error(fmt::format("cannot write {}: {}", path, std::strerror(errno)));
  thread_ = std::thread([this] { loop(); });
}

HistoryJsonlWriter::~HistoryJsonlWriter() {
  close();
}

void HistoryJsonlWriter::on_op(const Op& op) {
  std::lock_guard lock(mu_);
  append_history_json_line(buffer_, op);
  buffer_ += '\n';
  ++lines_;
  if (buffer_.size() >= (4u << 20)) wake_.notify_one();  // 4 MiB: do not wait for the interval
}

std::uint64_t HistoryJsonlWriter::lines() const {
  std::lock_guard lock(mu_);
  return lines_;
}

void HistoryJsonlWriter::loop() {
  std::string out;
  std::unique_lock lock(mu_);
  for (;;) {
    wake_.wait_for(lock, interval_, [this] { return closing_ || buffer_.size() >= (4u << 20); });
    out.clear();
    out.swap(buffer_);
    const bool last = closing_;
    lock.unlock();
    std::size_t done = 0;
    std::string err;
    while (done < out.size()) {
      const ssize_t n = ::write(fd_, out.data() + done, out.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        err = fmt::format("write to {} failed: {}", path_, std::strerror(errno));
        break;
      }
      done += static_cast<std::size_t>(n);
    }
    lock.lock();
    if (!err.empty() && error_.empty()) error_ = err;
    if (last && buffer_.empty()) return;
  }
}

std::string HistoryJsonlWriter::close() {
  {
    std::lock_guard lock(mu_);
    closing_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  std::lock_guard lock(mu_);
  return error_;
}

// ---------------------------------------------------------------------------

EventsCsvWriter::EventsCsvWriter(const std::string& path, Nanos run_start_mono)
    : w_(path, {"time", "t_rel_s", "process", "type", "f", "value", "node", "error"}), start_(run_start_mono) {}

void EventsCsvWriter::on_op(const Op& op) {
  using namespace op;
  const bool timeline = is_from(op, proc::runner) || is_from(op, proc::nemesis) || is_from(op, proc::driver) ||
                        is_from(op, proc::exec) || is_from(op, proc::maintenance) ||
                        (is_from(op, proc::probe) && op.f != fn::state) ||
                        (is_from(op, proc::sampler) && op.type == OpType::fail);
  if (!timeline) return;
  w_.row({format_wall_ns(op.wall_ns), fmt::format("{:.3f}", ns_to_s(op.mono_ns - start_)), op.process,
          to_string(op.type), op.f, op.value, op.node, op.error});
  w_.flush();  // a few rows a second at most
}

void EventsCsvWriter::close() {
  w_.flush();
}

// ---------------------------------------------------------------------------

namespace {

std::string opt_ms(const std::optional<double>& v) {
  return v ? fmt::format("{:.3f}", *v) : std::string();
}

// The workload of a client op ("" if it is not a workload op).
std::string_view workload_of(const Op& op) {
  if (op::is_ledger_write(op)) return "ledger";
  if (op::is_transfer(op)) return "bank";
  return {};
}

}  // namespace

ThroughputCsvWriter::ThroughputCsvWriter(const std::string& path, Nanos run_start_mono,
                                         std::chrono::milliseconds interval)
    : w_(path, {"time", "t_rel_s", "workload", "ok", "fail", "info", "ok_per_s", "p50_latency_ms", "p99_latency_ms",
                "max_latency_ms"}),
      start_(run_start_mono),
      interval_(std::max<Nanos>(1'000'000, static_cast<Nanos>(interval.count()) * 1'000'000)) {}

void ThroughputCsvWriter::emit_until(Nanos mono) {
  const std::int64_t b = mono >= start_ ? (mono - start_) / interval_ : 0;
  while (bucket_ < b) {
    const Nanos end = start_ + (bucket_ + 1) * interval_;
    for (auto& [workload, c] : counts_) {
      w_.row({format_wall_ns(end + wall_minus_mono_), fmt::format("{:.3f}", ns_to_s(end - start_)), workload,
              std::to_string(c.ok), std::to_string(c.fail), std::to_string(c.info),
              fmt::format("{:.1f}", static_cast<double>(c.ok) / ns_to_s(interval_)), opt_ms(c.latency.quantile_ms(0.5)),
              opt_ms(c.latency.quantile_ms(0.99)), opt_ms(c.latency.max_ms())});
      c.ok = c.fail = c.info = 0;
      c.latency.reset();
    }
    ++bucket_;
  }
  w_.flush();
}

void ThroughputCsvWriter::note_invoke(const Op& invoke) {
  auto it = open_.find(invoke.process);
  if (it == open_.end()) it = open_.emplace(invoke.process, std::vector<Open>{}).first;
  auto& slots = it->second;
  auto slot =
      std::find_if(slots.begin(), slots.end(), [&](const Open& o) { return o.open && o.value == invoke.value; });
  if (slot == slots.end()) slot = std::find_if(slots.begin(), slots.end(), [](const Open& o) { return !o.open; });
  if (slot == slots.end()) slot = slots.emplace(slots.end());
  slot->value = invoke.value;  // reuses the slot's capacity
  slot->invoked = invoke.mono_ns;
  slot->open = true;
}

std::optional<Nanos> ThroughputCsvWriter::take_invoke(const Op& completion) {
  auto it = open_.find(completion.process);
  if (it == open_.end()) return std::nullopt;
  for (Open& o : it->second) {
    if (o.open && o.value == completion.value) {
      o.open = false;
      return o.invoked;
    }
  }
  return std::nullopt;
}

void ThroughputCsvWriter::on_op(const Op& op) {
  const std::string_view workload = workload_of(op);
  if (workload.empty()) return;
  if (!have_clock_) {
    have_clock_ = true;
    wall_minus_mono_ = op.wall_ns - op.mono_ns;
  }
  const std::int64_t b = op.mono_ns >= start_ ? (op.mono_ns - start_) / interval_ : 0;
  if (b > bucket_) emit_until(op.mono_ns);
  auto c_it = counts_.find(workload);
  if (c_it == counts_.end()) c_it = counts_.emplace(std::string(workload), Counts{}).first;  // a row from now on
  if (op.type == OpType::invoke) {
    note_invoke(op);
    return;
  }
  Counts& c = c_it->second;
  const std::optional<Nanos> invoked = take_invoke(op);
  switch (op.type) {
    case OpType::ok:
      ++c.ok;
      if (invoked) c.latency.add(op.mono_ns - *invoked);
      break;
    case OpType::fail:
      ++c.fail;
      break;
    case OpType::info:
      ++c.info;
      break;
    case OpType::invoke:
      break;
  }
}

void ThroughputCsvWriter::close() {
  // The open interval, cut at its end.
  if (have_clock_) emit_until(start_ + (bucket_ + 1) * interval_);
  w_.flush();
}

// ---------------------------------------------------------------------------

SeriesCsvWriter::SeriesCsvWriter(const std::string& path, Nanos run_start_mono)
    : w_(path, {"time", "t_rel_s", "node", "pid", "process", "rss_kb", "anon_kb", "cpu_pct"}), start_(run_start_mono) {}

void SeriesCsvWriter::on_op(const Op& op) {
  if (!op::is(op, op::proc::sampler, op::fn::proc) || op.type != OpType::ok) return;
  const auto j = nlohmann::json::parse(op.value, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return;
  auto num = [&j](const char* k) -> std::string {
    if (!j.contains(k) || !j[k].is_number()) return {};
    if (j[k].is_number_integer()) return std::to_string(j[k].get<std::int64_t>());
    return fmt::format("{:.1f}", j[k].get<double>());
  };
  w_.row({format_wall_ns(op.wall_ns), fmt::format("{:.3f}", ns_to_s(op.mono_ns - start_)), op.node, num("pid"),
          j.value("process", std::string()), num("rss_kb"), num("anon_kb"), num("cpu_pct")});
}

void SeriesCsvWriter::close() {
  w_.flush();
}

}  // namespace haverify::reports
