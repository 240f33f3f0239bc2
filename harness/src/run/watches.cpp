#include "haverify/run/watches.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "haverify/core/clock.hpp"
#include "haverify/core/op.hpp"
#include "haverify/run/recover.hpp"
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

namespace {

// An op that says the scenario itself acted on its node.
bool touches(const Op& op) {
  return !op.node.empty() && op.type == OpType::invoke && op::is_scenario_action(op);
}

}  // namespace

void RepairWatch::on_op(const Op& op) {
  std::lock_guard lock(mu_);
  if (touches(op)) {
    touched_.insert(op.node);
    if (op::is_from(op, op::proc::driver) && (op.f == op::fn::rejoin || op.f == "rebuild")) rejoined_.insert(op.node);
  } else if (op::is(op, op::proc::probe, op::fn::role)) {
    // A failover deposed it: rejoining the old primary is part of any failover.
    if (role_[op.node] == "primary" && op.value != "primary") touched_.insert(op.node);
    role_[op.node] = op.value;
  } else if (op::is(op, op::proc::runner, op::fn::setup)) {
    in_setup_ = op.type == OpType::invoke;
  } else if (op::is(op, op::proc::runner, op::fn::recover)) {
    allowed_ = op.type == OpType::invoke && op.value.find(kRepairAllowedMark) != std::string::npos;
  } else if (op.type == OpType::invoke && op::is(op, op::proc::runner, op::fn::unblock)) {
    // Clearing the fail counts of a node just rejoined is part of its rejoin (PG-REX's own
    // procedure after a failover); unblocking a standby nothing rejoined is a repair.
    if (in_setup_ || !rejoined_.count(op.node)) repair(op, fmt::format("unblock {} ({})", op.node, op.value));
  } else if (op.type == OpType::invoke && op::is(op, op::proc::runner, op::fn::rejoin)) {
    if (in_setup_ || !touched_.count(op.node))
      repair(op,
             fmt::format("rejoin {}{} ({})", op.node, in_setup_ ? "" : ", which the scenario did not touch", op.value));
    rejoined_.insert(op.node);
  } else if (in_setup_ && op::is(op, op::proc::runner, op::fn::power_on)) {
    repair(op, fmt::format("power on {}", op.node));
  }
}

void RepairWatch::repair(const Op& op, std::string what) {
  what += fmt::format(" at {}", format_wall_ns(op.wall_ns));
  auto& list = in_setup_ ? r_.at_setup : allowed_ ? r_.allowed : r_.needed;
  list.push_back(std::move(what));
}

RepairWatch::Repairs RepairWatch::repairs() const {
  std::lock_guard lock(mu_);
  return r_;
}

std::optional<CheckerVerdict> repairs_verdict(const RepairWatch::Repairs& r) {
  if (r.needed.empty() && r.allowed.empty()) return std::nullopt;
  CheckerVerdict v;
  v.checker = "repairs";
  v.figures["repairs"] = static_cast<double>(r.needed.size() + r.allowed.size());
  if (!r.needed.empty()) {
    v.status = CheckStatus::fail;
    v.reasons.push_back(fmt::format(
        "needed repair: {}: the cluster did not recover on its own, so its next real failure could be an outage "
        "(a scenario that expects it says recover: {{repair: allowed}})",
        fmt::join(r.needed, "; ")));
  } else {
    v.status = CheckStatus::pass;
  }
  if (!r.allowed.empty())
    v.reasons.push_back(fmt::format("repair allowed by the scenario: {}", fmt::join(r.allowed, "; ")));
  return v;
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
