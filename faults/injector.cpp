#include "faults/injector.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <latch>
#include <thread>

#include <fmt/format.h>

#include "haverify/core/op.hpp"
#include "haverify/core/shell.hpp"

namespace haverify::faults {

FaultInjector::FaultInjector(const Inventory& inv, TransportPool& pool, FaultLedger& ledger, History& history,
                             std::string run_id, std::chrono::milliseconds deadline)
    : inv_(inv), pool_(pool), ledger_(ledger), history_(history), run_id_(std::move(run_id)), deadline_(deadline) {}

FaultInjector::~FaultInjector() {
  heal_all();
}

static std::string safe_tag(const std::string& s) {
  std::string out;
  for (char c : s) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.') ? c : '_';
  return out;
}

namespace {

// Releases every waiting thread at once; a thread that is never started
// does not block the others (abort()).
class Barrier {
 public:
  explicit Barrier(std::ptrdiff_t parties) : ready_(parties) {}
  // Called by each action thread: announce readiness, then wait for go.
  bool arrive_and_wait() {
    ready_.count_down();
    go_.wait();
    return !aborted_.load();
  }
  // The coordinating thread: wait until every action thread is ready, then release them together.
  void release_when_ready() {
    ready_.wait();
    go_.count_down();
  }
  void abort() {
    aborted_.store(true);
    go_.count_down();
  }

 private:
  std::latch ready_;
  std::latch go_{1};
  std::atomic<bool> aborted_{false};
};

}  // namespace

struct FaultInjector::Planned {
  std::string fault_id;
  Active active;
  Transport* transport = nullptr;  // nullptr: run locally
};

struct FaultInjector::Outcome {
  ExecResult result;
  Nanos sent_mono = 0;
};

void FaultInjector::record(OpType type, std::string_view f, std::string value, std::string node, std::string error) {
  history_.record(std::string(op::proc::nemesis), type, std::string(f), std::move(value), std::move(node),
                  std::move(error));
}

std::optional<double> FaultInjector::inject_step(const std::vector<StepFault>& faults) {
  std::vector<Planned> planned = plan_step(faults);
  enter_in_ledger(planned, faults);
  const std::vector<Outcome> outcomes = release_at_barrier(planned);
  const std::optional<double> skew_ms = record_skew(outcomes);
  for (std::size_t i = 0; i < planned.size(); ++i) {
    const ExecResult& r = outcomes[i].result;
    if (!r.ok())
      throw FaultError(fmt::format("injecting {} failed: {}", planned[i].active.action.description, describe(r)));
  }
  verify_all(planned);
  return skew_ms;
}

FaultInjector::Active FaultInjector::plan_action(const StepFault& f, const NodeSpec& node) {
  Active a;
  const int seq = ++seq_;
  a.action = plan_fault(f.spec, inv_, node, safe_tag(fmt::format("{}-{}", f.id, seq)));
  a.entry.id = fmt::format("{}/{}/{}", run_id_, f.id, seq);
  a.entry.run = run_id_;
  a.entry.kind = a.action.kind;
  a.entry.node = node.name;
  a.entry.description = a.action.description;
  a.entry.where = a.action.where;
  a.entry.ssh = node.ssh;
  a.entry.heal_command = a.action.ledger_heal.empty() ? a.action.heal_command : a.action.ledger_heal;
  a.entry.void_if_off = a.action.void_if_off;
  if (inv_.lab) a.entry.lab_state_dir = inv_.lab->state_dir;
  return a;
}

// 1. Plan every action and open every SSH session first (one session per
//    action: a second action on the same node gets its own slot), so that
//    no connect or authentication happens inside the fault's timing.
std::vector<FaultInjector::Planned> FaultInjector::plan_step(const std::vector<StepFault>& faults) {
  std::vector<Planned> planned;
  std::map<std::string, int> slots;  // node -> sessions used by this step
  for (const auto& f : faults) {
    for (const auto& name : f.nodes) {
      const NodeSpec* node = inv_.node(name);
      if (!node) throw FaultError(fmt::format("fault {}: no node named '{}'", f.id, name));
      Planned p{f.id, plan_action(f, *node), nullptr};
      if (p.active.action.where == "ssh") {
        const int slot = slots[name]++;
        try {
          pool_.preconnect(name, slot);
          p.transport = &pool_.node(name, slot);
        } catch (const TransportError& e) {
          throw FaultError(
              fmt::format("cannot reach {} to inject {}: {}", name, p.active.action.description, e.what()));
        }
      }
      planned.push_back(std::move(p));
    }
  }
  return planned;
}

// 2. Ledger first: if we crash between here and the heal, `haverify heal` undoes it.
void FaultInjector::enter_in_ledger(std::vector<Planned>& planned, const std::vector<StepFault>& faults) {
  for (const auto& f : faults)
    if (std::find(order_.begin(), order_.end(), f.id) == order_.end()) order_.push_back(f.id);
  for (auto& p : planned) {
    p.active.entry.injected_at = format_wall_ns(wall_now_ns());
    const auto due = p.active.action.arm + p.active.action.lasts;
    if (p.active.action.arm.count() > 0)
      p.active.heal_due = mono_now_ns() + std::chrono::duration_cast<std::chrono::nanoseconds>(due).count();
    if (!p.active.action.heal_command.empty()) ledger_.add(p.active.entry);
    active_.emplace(p.fault_id, p.active);
  }
}

// 3. One thread per action, all released at one barrier.
std::vector<FaultInjector::Outcome> FaultInjector::release_at_barrier(const std::vector<Planned>& planned) {
  std::vector<Outcome> outcomes(planned.size());
  Barrier barrier(static_cast<std::ptrdiff_t>(planned.size()));
  std::vector<std::jthread> threads;
  threads.reserve(planned.size());
  try {
    for (std::size_t i = 0; i < planned.size(); ++i) {
      threads.emplace_back([this, &barrier, &planned, &outcomes, i] {
        // Everything but the command itself before the barrier.
        const FaultAction& act = planned[i].active.action;
        const std::string command = planned[i].transport ? act.inject_command : pool_.local_command(act.inject_command);
        LocalTransport local;
        Transport& t = planned[i].transport ? *planned[i].transport : local;
        if (barrier.arrive_and_wait()) inject_one(act, t, command, outcomes[i]);
      });
    }
  } catch (...) {
    barrier.abort();  // the started threads return without injecting; jthreads join
    throw;
  }
  barrier.release_when_ready();
  threads.clear();  // joins every thread
  return outcomes;
}

// One action's thread, right after the barrier released it: its inject
// invoke (stamped now: t_inject_sent), the command, its ok or fail.
void FaultInjector::inject_one(const FaultAction& act, Transport& t, const std::string& command, Outcome& out) {
  if (act.arm.count() > 0) return arm_one(act, t, command, out);
  Op op =
      make_op(std::string(op::proc::nemesis), OpType::invoke, std::string(op::fn::inject), act.description, act.node);
  op.mono_ns = mono_now_ns();
  op.wall_ns = wall_now_ns();
  out.sent_mono = op.mono_ns;
  history_.append(op);
  out.result = t.exec(command, deadline_);
  record_inject_result(act, out.result);
}

void FaultInjector::record_inject_result(const FaultAction& act, const ExecResult& r) {
  if (r.ok())
    record(OpType::ok, op::fn::inject, act.description, act.node);
  else
    record(OpType::fail, op::fn::inject, act.description, act.node, describe(r));
}

// A self-healing fault: the command arms the node's script, which makes the
// cut `arm` after it was sent. The inject invoke is stamped then (as close to
// the cut as haverify can know it without reaching the node); an answer
// later than that is an error: the cut would have begun before haverify knew
// it was armed.
void FaultInjector::arm_one(const FaultAction& act, Transport& t, const std::string& command, Outcome& out) {
  const Nanos sent = mono_now_ns();
  const Nanos sent_wall = wall_now_ns();
  out.result = t.exec(command, deadline_);
  const Nanos cut = sent + std::chrono::duration_cast<std::chrono::nanoseconds>(act.arm).count();
  if (out.result.ok() && mono_now_ns() > cut) {
    out.result.exit_code = 1;
    out.result.err = fmt::format(
        "the node answered {:.3f} s after the command was sent, after its cut began (self_heal_arm {:.3f} s): raise "
        "self_heal_arm",
        static_cast<double>(mono_now_ns() - sent) / 1e9, static_cast<double>(act.arm.count()) / 1000.0);
  }
  if (out.result.ok()) std::this_thread::sleep_for(std::chrono::nanoseconds(cut - mono_now_ns()));
  Op op =
      make_op(std::string(op::proc::nemesis), OpType::invoke, std::string(op::fn::inject), act.description, act.node);
  op.mono_ns = out.result.ok() ? mono_now_ns() : sent;
  op.wall_ns = out.result.ok() ? sent_wall + (op.mono_ns - sent) : sent_wall;
  out.sent_mono = op.mono_ns;
  history_.append(op);
  record_inject_result(act, out.result);
}

// The spread of the send times of two or more actions, as an event.
std::optional<double> FaultInjector::record_skew(const std::vector<Outcome>& outcomes) {
  if (outcomes.size() < 2) return std::nullopt;
  auto [lo, hi] = std::minmax_element(outcomes.begin(), outcomes.end(),
                                      [](const Outcome& a, const Outcome& b) { return a.sent_mono < b.sent_mono; });
  const double skew_ms = static_cast<double>(hi->sent_mono - lo->sent_mono) / 1e6;
  record(OpType::info, op::fn::injection_skew, fmt::format("{:.3f}", skew_ms), "",
         fmt::format("{} actions released at one barrier", outcomes.size()));
  return skew_ms;
}

// 4. Verify each action took effect.
void FaultInjector::verify_all(const std::vector<Planned>& planned) {
  for (const auto& p : planned) {
    const FaultAction& act = p.active.action;
    if (act.verify_command.empty() && act.kind == "power_off") {
      const std::string why = fmt::format("{} not verified (power.verify: none)", act.description);
      record(OpType::info, op::fn::verify, act.description, act.node, why);
      unverified_.push_back(why);
    }
    if (act.verify_command.empty()) continue;
    ExecResult v = pool_.run(act.where, act.node, act.verify_command, deadline_);
    if (!v.ok()) {
      record(OpType::fail, op::fn::verify, act.description, act.node, describe(v));
      throw FaultError(fmt::format("{} did not take effect (verify: {})", act.description, describe(v)));
    }
    record(OpType::ok, op::fn::verify, act.description, act.node);
  }
}

std::string FaultInjector::heal_one(const Active& a) {
  if (a.action.heal_command.empty()) return {};
  record(OpType::invoke, op::fn::heal, a.action.description, a.action.node);
  ExecResult r =
      a.heal_due != 0 ? await_self_heal(a) : pool_.run(a.action.where, a.action.node, a.action.heal_command, deadline_);
  if (!r.ok() && !a.action.void_if_off.empty() &&
      pool_.run("local", a.action.node, a.action.void_if_off, deadline_).ok()) {
    // The node was powered off (say, fenced) while the fault was on: a
    // power-off wipes in-node state as a reboot does, so the fault is gone.
    record(OpType::ok, op::fn::heal,
           a.action.description + " (void: the node is powered off, which ends an in-node fault)", a.action.node);
    ledger_.remove(a.entry.id);
    return {};
  }
  if (!r.ok()) {
    const std::string why = fmt::format("healing {} failed: {}", a.action.description, describe(r));
    record(OpType::fail, op::fn::heal, a.action.description, a.action.node, why);
    return why + fmt::format(" (still in the fault ledger {}; run `haverify heal`)", ledger_.path());
  }
  record(OpType::ok, op::fn::heal, a.action.description, a.action.node);
  ledger_.remove(a.entry.id);
  return {};
}

// A self-healing fault heals itself on the node at heal_due; haverify
// reaches the node again after that and reads the script's log (its heal
// command). Until heal_due plus the deadline, a node that cannot be reached
// or has not healed yet is asked again every half second.
ExecResult FaultInjector::await_self_heal(const Active& a) {
  const Nanos give_up = a.heal_due + std::chrono::duration_cast<std::chrono::nanoseconds>(deadline_).count();
  while (true) {
    ExecResult r = pool_.run(a.action.where, a.action.node, a.action.heal_command, deadline_);
    const bool again = !r.error.empty() || r.timed_out || r.exit_code == kNotHealedYet;
    if (!again || mono_now_ns() >= give_up) {
      if (again) {
        const std::string waited = fmt::format(" (still so {:.3f} s after the node was due to heal itself)",
                                               static_cast<double>(mono_now_ns() - a.heal_due) / 1e9);
        (r.error.empty() ? r.err : r.error) += waited;
      }
      return r;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
}

std::vector<std::string> FaultInjector::heal(const std::string& fault_id) {
  std::vector<std::string> errors;
  auto range = active_.equal_range(fault_id);
  std::vector<Active> failed;
  for (auto it = range.first; it != range.second; ++it) {
    std::string e;
    try {
      e = heal_one(it->second);
    } catch (const std::exception& ex) {
      e = ex.what();
    }
    if (!e.empty()) {
      errors.push_back(e);
      failed.push_back(it->second);
    }
  }
  active_.erase(fault_id);
  for (auto& f : failed) active_.emplace(fault_id, f);  // keep for a later heal_all
  return errors;
}

std::vector<std::string> FaultInjector::heal_all() {
  std::vector<std::string> errors;
  // Heal in reverse order of injection (e.g. a link on a node before that node's power).
  for (auto it = order_.rbegin(); it != order_.rend(); ++it) {
    if (!active_.count(*it)) continue;
    auto e = heal(*it);
    errors.insert(errors.end(), e.begin(), e.end());
  }
  active_.clear();
  order_.clear();
  return errors;
}

}  // namespace haverify::faults
