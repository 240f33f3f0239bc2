#include "faults/injector.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <latch>
#include <thread>

#include <fmt/format.h>

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

void FaultInjector::inject(const std::string& fault_id, const FaultSpec& spec, const std::vector<std::string>& nodes) {
  inject_step({StepFault{fault_id, spec, nodes}});
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

std::optional<double> FaultInjector::inject_step(const std::vector<StepFault>& faults) {
  // 1. Plan every action and open every SSH session first (one session per
  //    action: a second action on the same node gets its own slot), so that
  //    no connect or authentication happens inside the fault's timing.
  struct Planned {
    std::string fault_id;
    Active active;
    Transport* transport = nullptr;  // nullptr: run locally
  };
  std::vector<Planned> planned;
  std::map<std::string, int> slots;  // node -> sessions used by this step
  for (const auto& f : faults) {
    for (const auto& name : f.nodes) {
      const NodeSpec* node = inv_.node(name);
      if (!node) throw FaultError(fmt::format("fault {}: no node named '{}'", f.id, name));
      Planned p;
      p.fault_id = f.id;
      Active& a = p.active;
      const int seq = ++seq_;
      a.action = plan_fault(f.spec, inv_, *node, safe_tag(fmt::format("{}-{}", f.id, seq)));
      a.entry.id = fmt::format("{}/{}/{}", run_id_, f.id, seq);
      a.entry.run = run_id_;
      a.entry.kind = a.action.kind;
      a.entry.node = name;
      a.entry.description = a.action.description;
      a.entry.where = a.action.where;
      a.entry.ssh = node->ssh;
      a.entry.heal_command = a.action.heal_command;
      a.entry.void_if_off = a.action.void_if_off;
      if (inv_.lab) a.entry.lab_state_dir = inv_.lab->state_dir;
      if (a.action.where == "ssh") {
        const int slot = slots[name]++;
        try {
          pool_.preconnect(name, slot);
          p.transport = &pool_.node(name, slot);
        } catch (const TransportError& e) {
          throw FaultError(fmt::format("cannot reach {} to inject {}: {}", name, a.action.description, e.what()));
        }
      }
      planned.push_back(std::move(p));
    }
  }
  for (const auto& f : faults)
    if (std::find(order_.begin(), order_.end(), f.id) == order_.end()) order_.push_back(f.id);
  // 2. Ledger first: if we crash between here and the heal, `haverify heal` undoes it.
  for (auto& p : planned) {
    p.active.entry.injected_at = format_wall_ns(wall_now_ns());
    if (!p.active.action.heal_command.empty()) ledger_.add(p.active.entry);
    active_.emplace(p.fault_id, p.active);
  }
  // 3. One thread per action, all released at one barrier.
  struct Outcome {
    ExecResult result;
    Nanos sent_mono = 0;
  };
  std::vector<Outcome> outcomes(planned.size());
  {
    Barrier barrier(static_cast<std::ptrdiff_t>(planned.size()));
    std::vector<std::jthread> threads;
    threads.reserve(planned.size());
    try {
      for (std::size_t i = 0; i < planned.size(); ++i) {
        threads.emplace_back([this, &barrier, &planned, &outcomes, i] {
          const FaultAction& act = planned[i].active.action;
          Transport* t = planned[i].transport;
          const std::string command = t ? act.inject_command : pool_.local_command(act.inject_command);
          LocalTransport local;
          if (!barrier.arrive_and_wait()) return;
          Op op;
          op.process = "nemesis";
          op.type = OpType::invoke;
          op.f = "inject";
          op.value = act.description;
          op.node = act.node;
          op.mono_ns = mono_now_ns();
          op.wall_ns = wall_now_ns();
          outcomes[i].sent_mono = op.mono_ns;
          history_.append(op);
          outcomes[i].result = t ? t->exec(command, deadline_) : local.exec(command, deadline_);
          const ExecResult& r = outcomes[i].result;
          if (r.ok())
            history_.record("nemesis", OpType::ok, "inject", act.description, act.node);
          else
            history_.record("nemesis", OpType::fail, "inject", act.description, act.node, describe(r));
        });
      }
    } catch (...) {
      barrier.abort();  // the started threads return without injecting; jthreads join
      throw;
    }
    barrier.release_when_ready();
  }  // joins every thread
  std::optional<double> skew_ms;
  if (planned.size() >= 2) {
    auto [lo, hi] = std::minmax_element(outcomes.begin(), outcomes.end(),
                                        [](const Outcome& a, const Outcome& b) { return a.sent_mono < b.sent_mono; });
    skew_ms = static_cast<double>(hi->sent_mono - lo->sent_mono) / 1e6;
    history_.record("nemesis", OpType::info, "injection_skew", fmt::format("{:.3f}", *skew_ms), "",
                    fmt::format("{} actions released at one barrier", planned.size()));
  }
  for (std::size_t i = 0; i < planned.size(); ++i) {
    const ExecResult& r = outcomes[i].result;
    if (!r.ok())
      throw FaultError(fmt::format("injecting {} failed: {}", planned[i].active.action.description, describe(r)));
  }
  // 4. Verify each action took effect.
  for (const auto& p : planned) {
    const FaultAction& act = p.active.action;
    if (act.verify_command.empty()) continue;
    ExecResult v = pool_.run(act.where, act.node, act.verify_command, deadline_);
    if (!v.ok()) {
      history_.record("nemesis", OpType::fail, "verify", act.description, act.node, describe(v));
      throw FaultError(fmt::format("{} did not take effect (verify: {})", act.description, describe(v)));
    }
    history_.record("nemesis", OpType::ok, "verify", act.description, act.node);
  }
  return skew_ms;
}

std::string FaultInjector::heal_one(const Active& a) {
  if (a.action.heal_command.empty()) return {};
  history_.record("nemesis", OpType::invoke, "heal", a.action.description, a.action.node);
  ExecResult r = pool_.run(a.action.where, a.action.node, a.action.heal_command, deadline_);
  if (!r.ok() && !a.action.void_if_off.empty() &&
      pool_.run("local", a.action.node, a.action.void_if_off, deadline_).ok()) {
    // The node was powered off (say, fenced) while the fault was on: a
    // power-off wipes in-node state as a reboot does, so the fault is gone.
    history_.record("nemesis", OpType::ok, "heal",
                    a.action.description + " (void: the node is powered off, which ends an in-node fault)",
                    a.action.node);
    ledger_.remove(a.entry.id);
    return {};
  }
  if (!r.ok()) {
    const std::string why = fmt::format("healing {} failed: {}", a.action.description, describe(r));
    history_.record("nemesis", OpType::fail, "heal", a.action.description, a.action.node, why);
    return why + fmt::format(" (still in the fault ledger {}; run `haverify heal`)", ledger_.path());
  }
  history_.record("nemesis", OpType::ok, "heal", a.action.description, a.action.node);
  ledger_.remove(a.entry.id);
  return {};
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

bool FaultInjector::active() const {
  return !active_.empty();
}

}  // namespace haverify::faults
