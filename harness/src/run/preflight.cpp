#include "haverify/run/preflight.hpp"

#include <filesystem>
#include <thread>

#include <fmt/format.h>

#include "faults/ledger.hpp"
#include "haverify/io/transport.hpp"

namespace fs = std::filesystem;

namespace haverify {

namespace {

// Empty when commands on `n` run as root; else what is wrong and how to fix it.
std::string root_problem(const NodeSpec& n, const ExecResult& r) {
  const std::string who = fmt::format("node {}: SSH to {}@{}:{}", n.name, n.ssh.user, n.ssh.host, n.ssh.port);
  const bool sudo = uses_sudo(n.ssh);
  if (!r.ok()) {
    if (sudo)
      return fmt::format(
          "{} connected but `sudo -n` failed: {}; haverify needs {} to run any command as root without a "
          "password (e.g. /etc/sudoers.d/haverify: `{} ALL=(root) NOPASSWD: ALL`, docs/inventory.md \"Real "
          "clusters\")",
          who, describe(r), n.ssh.user, n.ssh.user);
    return fmt::format("{} connected but `id -u` failed: {}", who, describe(r));
  }
  std::string uid = r.out;
  while (!uid.empty() && (uid.back() == '\n' || uid.back() == '\r' || uid.back() == ' ')) uid.pop_back();
  if (uid == "0") return {};
  return fmt::format(
      "{}: commands run as uid {}, not root{}; faults, heals and the drivers need root: set ssh.become: sudo "
      "for this node (docs/inventory.md \"Real clusters\")",
      who, uid, sudo ? " (sudo did not switch to root)" : "");
}

}  // namespace

std::vector<std::string> check_inventory(const Inventory& inv, std::chrono::milliseconds deadline) {
  std::vector<std::string> problems(inv.nodes.size());
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < inv.nodes.size(); ++i) {
    threads.emplace_back([&, i] {
      const auto& n = inv.nodes[i];
      try {
        SshTransport t(n.ssh);
        t.connect();
        problems[i] = root_problem(n, t.exec("id -u", deadline));
      } catch (const std::exception& e) {
        problems[i] = fmt::format("node {}: {}", n.name, e.what());
      }
    });
  }
  for (auto& t : threads) t.join();
  std::vector<std::string> out;
  for (auto& p : problems)
    if (!p.empty()) out.push_back(p);
  for (const auto& n : inv.nodes) {
    if (n.power.controller == "lab" && inv.lab && !fs::exists(inv.lab->script))
      out.push_back(fmt::format("node {}: lab power controller script {} does not exist", n.name, inv.lab->script));
  }
  return out;
}

std::string unhealed_faults_problem(const std::string& ledger_path) {
  faults::FaultLedger ledger(ledger_path.empty() ? faults::FaultLedger::default_path() : ledger_path);
  const auto left = ledger.entries().size();
  if (left == 0) return {};
  return fmt::format(
      "the fault ledger {} still lists {} unhealed fault(s) from an earlier run; run `haverify heal` first",
      ledger.path(), left);
}

}  // namespace haverify
