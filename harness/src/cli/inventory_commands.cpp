// `haverify inventory check` and `haverify heal`: the cluster under test and
// the faults a crashed run left behind.
#include <chrono>
#include <iostream>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "commands.hpp"
#include "faults/injector.hpp"
#include "faults/ledger.hpp"
#include "haverify/cluster/driver.hpp"
#include "haverify/config/inventory.hpp"
#include "haverify/run/lab.hpp"
#include "haverify/run/preflight.hpp"
#include "haverify/run/runner.hpp"

namespace haverify::cli {

namespace {

int inventory_check(const std::string& file) {
  const Inventory inv = load_inventory(file);
  const Preflight pre = preflight(inv, {});
  const auto& problems = pre.problems;
  std::cout << format_preflight(pre);
  for (const auto& s : probe_all(inv, std::chrono::milliseconds(2000)))
    std::cout << fmt::format("node {:<10} postgres {:<8} {}\n", s.node, to_string(s.role), s.detail);
  for (const auto& p : problems) std::cerr << "problem: " << p << "\n";
  if (problems.empty())
    std::cout << fmt::format("{}: {} nodes reachable over SSH with verified host keys\n", file, inv.nodes.size());
  return exit_code(problems.empty() ? ExitStatus::pass : ExitStatus::usage);
}

int heal(const std::string& ledger_path) {
  faults::FaultLedger ledger(ledger_path.empty() ? faults::FaultLedger::default_path() : ledger_path);
  return exit_code(faults::heal_all(ledger, std::chrono::milliseconds(30000), std::cout, std::cerr));
}

}  // namespace

void add_heal(CLI::App& app, Commands& out) {
  auto ledger_path = std::make_shared<std::string>();
  auto* healc = app.add_subcommand("heal", "Undo every fault still listed in the fault ledger");
  healc->add_option("--ledger", *ledger_path, "fault ledger file");
  out.push_back({healc, [ledger_path] { return heal(*ledger_path); }});
}

void add_inventory(CLI::App& app, Commands& out) {
  auto file = std::make_shared<std::string>(lab_inventory_path());
  auto* inv = app.add_subcommand("inventory", "Inventory tools");
  inv->require_subcommand(1);
  auto* check = inv->add_subcommand("check", "Connect to every node and say what is wrong");
  check->add_option("file", *file, "inventory file");
  out.push_back({check, [file] { return inventory_check(*file); }});
}

}  // namespace haverify::cli
