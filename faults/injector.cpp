#include "faults/injector.hpp"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "haverify/shell.hpp"

namespace haverify::faults {

TransportPool::TransportPool(const Inventory& inv) : inv_(inv) {}

Transport& TransportPool::node(const std::string& name) {
  auto it = ssh_.find(name);
  if (it != ssh_.end()) return *it->second;
  const NodeSpec* n = inv_.node(name);
  if (!n) throw FaultError(fmt::format("no node named '{}' in inventory {}", name, inv_.file));
  auto t = std::make_unique<SshTransport>(n->ssh);
  auto& ref = *t;
  ssh_.emplace(name, std::move(t));
  return ref;
}

void TransportPool::preconnect(const std::string& name) {
  node(name);
  ssh_.at(name)->connect();
}

ExecResult TransportPool::run(const std::string& where, const std::string& node, const std::string& command,
                              std::chrono::milliseconds deadline) {
  if (where == "local") {
    std::string cmd = command;
    if (inv_.lab && !inv_.lab->state_dir.empty())
      cmd = fmt::format("export HAVERIFY_LAB_STATE={}; {}", sh_quote(inv_.lab->state_dir), command);
    return local_.exec(cmd, deadline);
  }
  try {
    return this->node(node).exec(command, deadline);
  } catch (const TransportError& e) {
    ExecResult r;
    r.error = e.what();
    return r;
  }
}

FaultInjector::FaultInjector(const Inventory& inv, TransportPool& pool, FaultLedger& ledger, History& history,
                             std::string run_id, std::chrono::milliseconds deadline)
    : inv_(inv), pool_(pool), ledger_(ledger), history_(history), run_id_(std::move(run_id)), deadline_(deadline) {}

FaultInjector::~FaultInjector() {
  heal_all();
}

std::string describe_failure(const ExecResult& r) {
  if (!r.error.empty()) return r.error;
  if (r.timed_out) return fmt::format("timed out after {} ms", r.elapsed.count());
  std::string err = r.err;
  while (!err.empty() && (err.back() == '\n' || err.back() == '\r')) err.pop_back();
  return fmt::format("exit {}{}{}", r.exit_code, err.empty() ? "" : ": ", err);
}

static std::string safe_tag(const std::string& s) {
  std::string out;
  for (char c : s) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.') ? c : '_';
  return out;
}

void FaultInjector::inject(const std::string& fault_id, const FaultSpec& spec, const std::vector<std::string>& nodes) {
  // Plan every action and open every SSH session first, so that the inject
  // commands of a multi-node fault go out back to back.
  std::vector<Active> actions;
  for (const auto& name : nodes) {
    const NodeSpec* node = inv_.node(name);
    if (!node) throw FaultError(fmt::format("fault {}: no node named '{}'", fault_id, name));
    Active a;
    const int seq = ++seq_;
    a.action = plan_fault(spec, inv_, *node, safe_tag(fmt::format("{}-{}", fault_id, seq)));
    a.entry.id = fmt::format("{}/{}/{}", run_id_, fault_id, seq);
    a.entry.run = run_id_;
    a.entry.kind = a.action.kind;
    a.entry.node = name;
    a.entry.description = a.action.description;
    a.entry.where = a.action.where;
    a.entry.ssh = node->ssh;
    a.entry.heal_command = a.action.heal_command;
    if (inv_.lab) a.entry.lab_state_dir = inv_.lab->state_dir;
    if (a.action.where == "ssh") {
      try {
        pool_.preconnect(name);
      } catch (const TransportError& e) {
        throw FaultError(fmt::format("cannot reach {} to inject {}: {}", name, a.action.description, e.what()));
      }
    }
    actions.push_back(std::move(a));
  }
  if (std::find(order_.begin(), order_.end(), fault_id) == order_.end()) order_.push_back(fault_id);
  for (auto& a : actions) {
    a.entry.injected_at = format_wall_ns(wall_now_ns());
    // Ledger first: if we crash between here and the heal, `haverify heal` undoes it.
    if (!a.action.heal_command.empty()) ledger_.add(a.entry);
    active_.emplace(fault_id, a);
    const std::string& name = a.action.node;
    history_.record("nemesis", OpType::invoke, "inject", a.action.description, name);
    ExecResult r = pool_.run(a.action.where, name, a.action.inject_command, deadline_);
    if (!r.ok()) {
      history_.record("nemesis", OpType::fail, "inject", a.action.description, name, describe_failure(r));
      throw FaultError(fmt::format("injecting {} failed: {}", a.action.description, describe_failure(r)));
    }
    history_.record("nemesis", OpType::ok, "inject", a.action.description, name);
  }
  for (const auto& a : actions) {
    if (a.action.verify_command.empty()) continue;
    const std::string& name = a.action.node;
    ExecResult v = pool_.run(a.action.where, name, a.action.verify_command, deadline_);
    if (!v.ok()) {
      history_.record("nemesis", OpType::fail, "verify", a.action.description, name, describe_failure(v));
      throw FaultError(fmt::format("{} did not take effect (verify: {})", a.action.description, describe_failure(v)));
    }
    history_.record("nemesis", OpType::ok, "verify", a.action.description, name);
  }
}

std::string FaultInjector::heal_one(const Active& a) {
  if (a.action.heal_command.empty()) return {};
  history_.record("nemesis", OpType::invoke, "heal", a.action.description, a.action.node);
  ExecResult r = pool_.run(a.action.where, a.action.node, a.action.heal_command, deadline_);
  if (!r.ok()) {
    const std::string why = fmt::format("healing {} failed: {}", a.action.description, describe_failure(r));
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
