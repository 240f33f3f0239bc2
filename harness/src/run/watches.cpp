#include "haverify/run/watches.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "haverify/core/clock.hpp"
#include "haverify/core/op.hpp"
#include "haverify/run/run_log.hpp"

namespace haverify {

using namespace std::chrono_literals;

void AckWatch::on_op(const Op& op) {
  if (!op::is_ledger_write(op)) return;
  std::lock_guard lock(mu_);
  if (op.type == OpType::invoke) {
    invoked_[op.process] = op.mono_ns;
  } else if (op.type == OpType::ok) {
    auto it = invoked_.find(op.process);
    if (it != invoked_.end() && it->second >= marker_) resumed_ = true;
  }
}

void AckWatch::arm(Nanos marker) {
  std::lock_guard lock(mu_);
  marker_ = marker;
  resumed_ = false;
}

bool AckWatch::resumed() const {
  std::lock_guard lock(mu_);
  return resumed_;
}

void FirstInjectWatch::on_op(const Op& op) {
  if (op::is(op, op::proc::nemesis, op::fn::inject) && wall_.load(std::memory_order_relaxed) == kNone)
    wall_.store(op.wall_ns, std::memory_order_relaxed);
}

std::optional<Nanos> FirstInjectWatch::wall() const {
  const Nanos w = wall_.load(std::memory_order_relaxed);
  return w == kNone ? std::nullopt : std::optional<Nanos>(w);
}

void UnblockWatch::on_op(const Op& op) {
  if (!op::is(op, op::proc::runner, op::fn::unblock) || op.type != OpType::ok) return;
  std::lock_guard lock(mu_);
  notes_.push_back(fmt::format("{} ({})", op.node, op.value));
}

std::string UnblockWatch::note() const {
  std::lock_guard lock(mu_);
  return notes_.empty() ? std::string() : fmt::format("recover unblocked {}", fmt::join(notes_, ", "));
}

void record_detect_events(ClusterDriver& driver, History& history, Nanos inject_wall_ns) {
  try {
    const Nanos mono = mono_now_ns(), wall = wall_now_ns();
    int kept = 0;
    for (const auto& e : driver.detect_events(inject_wall_ns, 10s)) {
      if (++kept > 20) break;
      Op op = make_op(std::string(op::proc::driver), OpType::info, std::string(op::fn::detect), e.what, e.node);
      op.wall_ns = e.wall_ns;
      op.mono_ns = mono - (wall - e.wall_ns);
      history.append(std::move(op));
    }
  } catch (const std::exception& e) {
    run_log(fmt::format("t_detect: the {} driver could not read its logs: {}", driver.name(), e.what()));
  }
}

}  // namespace haverify
