#include "haverify/run/recover.hpp"

#include <map>

#include <fmt/format.h>

#include "faults/fault.hpp"
#include "haverify/cluster/health.hpp"
#include "haverify/cluster/observe.hpp"
#include "haverify/core/cancel.hpp"
#include "haverify/core/clock.hpp"
#include "haverify/core/errors.hpp"
#include "haverify/core/op.hpp"
#include "haverify/run/run_log.hpp"

namespace haverify {

using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;
const std::string kRunner(op::proc::runner);

// One recover(): its deadline and the rate limits of its rejoins and unblocks.
class Recovery {
 public:
  Recovery(const Inventory& inv, ClusterDriver& driver, TransportPool& pool, History& history, const RecoverOptions& o)
      : inv_(inv),
        driver_(driver),
        pool_(pool),
        history_(history),
        timeout_(o.timeout),
        settle_(o.settle),
        repair_(o.mode != RepairMode::wait_only),
        until_(Clock::now() + o.timeout) {}

  // The `recover` op's value: what this recover may do.
  static std::string mode_text(const RecoverOptions& o) {
    std::string m = o.mode == RepairMode::wait_only ? "wait only"
                    : o.mode == RepairMode::allowed ? std::string(kRepairAllowedMark)
                                                    : "";
    if (o.context.empty()) return m;
    return m.empty() ? o.context : o.context + ", " + m;
  }

  void run(const std::string& value) {
    const std::string f(op::fn::recover);
    history_.record(kRunner, OpType::invoke, f, value);
    try {
      const std::string primary = until_healthy();
      history_.record(kRunner, OpType::ok, f, primary);
    } catch (const std::exception& e) {
      history_.record(kRunner, OpType::fail, f, value, "", e.what());
      throw;
    }
  }

 private:
  static constexpr auto kRejoinGrace = 20s;
  static constexpr auto kUnblockGrace = 20s;

  // The loop of run(); returns the primary.
  std::string until_healthy() {
    Health h;
    constexpr Clock::time_point kUnhealthy = Clock::time_point::min();
    Clock::time_point healthy_since = kUnhealthy;  // healthy in every round since
    while (true) {
      // Every round: a node may be switched off while we wait (the manager
      // fences it: a Pacemaker node whose corosync died), so power is checked
      // again each time, not just once.
      if (repair_) power_on_what_is_off();
      const ClusterObservation o = observe_cluster(inv_, driver_);
      h = assess_health(o);
      if (h.ok()) {
        // Healthy: done once it held for settle_, at the deadline, or on a cancel.
        if (healthy_since == kUnhealthy) healthy_since = Clock::now();
        if (Clock::now() - healthy_since >= settle_ || Clock::now() > until_ || cancel::requested()) break;
      } else {
        healthy_since = kUnhealthy;
        if (cancel::requested()) throw HarnessFailure(cancel::reason());
        if (Clock::now() > until_) throw ClusterDefect(not_healthy(h));
        if (repair_ && !h.primary.empty()) {
          const auto why = rejoin_reasons(o, h);
          unblock_stale(h, why);
          for (const auto& [node, reason] : why) rejoin(node, h.primary, reason);
        }
      }
      cancel::sleep_for(500ms);
    }
    return h.primary;
  }

  std::string not_healthy(const Health& h) const {
    if (!repair_)
      return fmt::format(
          "cluster not healthy before the steps (waited {:.3f} s): {}; haverify did not repair it (it repairs at setup "
          "only with --repair-at-setup)",
          ms_to_s(timeout_), h.why());
    return fmt::format("recover: cluster not healthy after {:.3f} s: {}{}", ms_to_s(timeout_), h.why(),
                       last_error_.empty() ? "" : "; last rejoin error: " + last_error_);
  }

  std::chrono::milliseconds left() const {
    return std::max(std::chrono::milliseconds(1000),
                    std::chrono::duration_cast<std::chrono::milliseconds>(until_ - Clock::now()));
  }

  void power_on_what_is_off() {
    for (const auto& n : inv_.nodes) {
      auto pc = faults::power_commands(inv_, n);
      if (pc.status_is_off.empty()) continue;
      ExecResult off = pool_.run(pc.where, n.name, pc.status_is_off, 10s);
      if (off.exit_code == 1 && off.error.empty() && !off.timed_out) continue;  // on
      if (!off.ok())
        throw HarnessFailure(fmt::format("recover: cannot read the power status of {}: {}", n.name, describe(off)));
      run_log(fmt::format("recover: powering on {}", n.name));
      history_.record(kRunner, OpType::info, std::string(op::fn::power_on), "recover", n.name);
      ExecResult on = pool_.run(pc.where, n.name, pc.on, left());
      if (!on.ok()) throw HarnessFailure(fmt::format("recover: power-on of {} failed: {}", n.name, describe(on)));
    }
  }

  // A working standby the manager would not promote: clear what blocks it,
  // but only once it has stayed blocked for a grace period (a standby that
  // just caught up gets its promotion score at the manager's next monitor),
  // and again only after another one. Nodes about to be rejoined are left alone.
  void unblock_stale(const Health& h, const std::map<std::string, std::string>& rejoining) {
    for (auto it = blocked_since_.begin(); it != blocked_since_.end();)
      it = h.blocked.count(it->first) ? std::next(it) : blocked_since_.erase(it);
    for (const auto& blocked : h.blocked) {
      const std::string& node = blocked.first;  // named: a lambda below captures it
      const std::string& reason = blocked.second;
      if (rejoining.count(node)) continue;
      auto& since = blocked_since_.emplace(node, Clock::now()).first->second;
      if (Clock::now() - since < kUnblockGrace) continue;
      since = Clock::now();
      run_log(fmt::format("recover: unblocking {} ({})", node, reason));
      attempt(op::fn::unblock, node, reason,
              [&] { driver_.unblock(node, std::min<std::chrono::milliseconds>(left(), 30s)); });
    }
  }

  void rejoin(const std::string& node, const std::string& primary, const std::string& reason) {
    auto last = rejoined_.find(node);
    if (last != rejoined_.end() && Clock::now() - last->second < kRejoinGrace) return;
    rejoined_[node] = Clock::now();
    run_log(fmt::format("recover: rejoining {} as a standby of {} ({})", node, primary, reason));
    // A failure is retried after the grace period, until the deadline.
    attempt(op::fn::rejoin, node, reason, [&] { driver_.rejoin(node, primary, left()); });
  }

  // Records `f` invoke, then ok or fail; a failure is kept as the last error.
  template <class F>
  void attempt(std::string_view fn, const std::string& node, const std::string& reason, F&& action) {
    const std::string f(fn);
    history_.record(kRunner, OpType::invoke, f, reason, node);
    try {
      action();
      history_.record(kRunner, OpType::ok, f, reason, node);
    } catch (const std::exception& e) {
      last_error_ = e.what();
      history_.record(kRunner, OpType::fail, f, reason, node, last_error_);
      run_log("recover: " + last_error_);
    }
  }

  const Inventory& inv_;
  ClusterDriver& driver_;
  TransportPool& pool_;
  History& history_;
  const std::chrono::milliseconds timeout_;
  const std::chrono::milliseconds settle_;
  const bool repair_;  // power on, rejoin, unblock (not in wait_only mode)
  const Clock::time_point until_;
  std::map<std::string, Clock::time_point> rejoined_, blocked_since_;
  std::string last_error_;
};

}  // namespace

void recover(const Inventory& inv, ClusterDriver& driver, TransportPool& pool, History& history,
             const RecoverOptions& options) {
  Recovery(inv, driver, pool, history, options).run(Recovery::mode_text(options));
}

void wait_healthy(const Inventory& inv, ClusterDriver& driver, TransportPool& pool, History& history,
                  const RecoverOptions& options) {
  const Health h = assess_health(observe_cluster(inv, driver));
  if (h.ok()) return;
  run_log(fmt::format(
      "cluster not healthy ({}); {}", h.why(),
      options.mode == RepairMode::wait_only ? "waiting (no repair without --repair-at-setup)" : "recovering"));
  recover(inv, driver, pool, history, options);
}

}  // namespace haverify
