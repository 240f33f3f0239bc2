#include "haverify/cluster/transport_pool.hpp"

#include <fmt/format.h>

#include "haverify/core/shell.hpp"

namespace haverify {

TransportPool::TransportPool(const Inventory& inv) : inv_(inv) {}

Transport& TransportPool::node(const std::string& name, int slot) {
  auto it = ssh_.find({name, slot});
  if (it != ssh_.end()) return *it->second;
  const NodeSpec* n = inv_.node(name);
  if (!n) throw TransportError(fmt::format("no node named '{}' in inventory {}", name, inv_.file));
  auto t = std::make_unique<SshTransport>(n->ssh);
  auto& ref = *t;
  ssh_.emplace(std::make_pair(name, slot), std::move(t));
  return ref;
}

void TransportPool::preconnect(const std::string& name, int slot) {
  node(name, slot);
  ssh_.at({name, slot})->connect();
}

std::string TransportPool::local_command(const std::string& command) const {
  if (inv_.lab && !inv_.lab->state_dir.empty())
    return fmt::format("export HAVERIFY_LAB_STATE={}; {}", sh_quote(inv_.lab->state_dir), command);
  return command;
}

ExecResult TransportPool::run(const std::string& where, const std::string& node, const std::string& command,
                              std::chrono::milliseconds deadline) {
  if (where == "local") return local_.exec(local_command(command), deadline);
  try {
    return this->node(node).exec(command, deadline);
  } catch (const TransportError& e) {
    ExecResult r;
    r.error = e.what();
    return r;
  }
}

}  // namespace haverify
