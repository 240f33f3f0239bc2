// `haverify cluster status|switchover|rejoin|stop-node|start-node|rebuild|stop|start`:
// the cluster driver's planned operations, by hand (what the normal suite runs as steps).
#include <chrono>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>

#include <fmt/format.h>

#include "commands.hpp"
#include "haverify/cluster/driver.hpp"
#include "haverify/cluster/transport_pool.hpp"
#include "haverify/config/inventory.hpp"
#include "haverify/run/lab.hpp"
#include "haverify/run/suite.hpp"

namespace haverify::cli {

namespace {

struct ClusterCli {
  std::string inventory = lab_inventory_path();
  std::string node;
  int deadline_ms = 120000;
};

// The operation itself; throws with the driver's message when it fails.
void run_operation(ClusterDriver& driver, const std::string& action, const std::string& node,
                   std::chrono::milliseconds deadline) {
  if (action == "switchover") {
    driver.switchover(node, deadline);
  } else if (action == "rejoin") {
    std::string primary;
    for (const auto& s : driver.roles(std::chrono::milliseconds(5000)))
      if (s.role == Role::primary) primary = s.node;
    if (primary.empty()) throw std::runtime_error("the manager names no primary to rejoin to");
    driver.rejoin(node, primary, deadline);
  } else if (action == "stop-node") {
    driver.stop_node(node, deadline);
  } else if (action == "start-node") {
    driver.start_node(node, deadline);
  } else if (action == "rebuild") {
    driver.rebuild(node, deadline);
  } else if (action == "stop") {
    std::cout << fmt::format("stopped; the last primary was {}\n", driver.stop_cluster(deadline));
  } else if (action == "start") {
    std::cout << fmt::format("started; the primary is {}\n", driver.start_cluster(deadline));
  }
}

int cluster_command(const ClusterCli& c, const std::string& action, const std::string& node) {
  const Inventory inv = load_inventory(c.inventory);
  const bool whole = action == "status" || action == "stop" || action == "start";
  if (!whole && !inv.node(node)) {
    std::cerr << fmt::format("haverify cluster {}: unknown node '{}' in {}\n", action, node, c.inventory);
    return exit_code(ExitStatus::usage);
  }
  TransportPool pool(inv);
  auto driver = make_driver(inv, pool, DriverOptions{rejoin_script_for(inv)});
  const auto t0 = std::chrono::steady_clock::now();
  const std::string on = node.empty() ? "" : " " + node;
  try {
    run_operation(*driver, action, node, std::chrono::milliseconds(c.deadline_ms));
  } catch (const std::exception& e) {
    std::cerr << fmt::format("haverify cluster {}{}: {}\n", action, on, e.what());
    return exit_code(ExitStatus::verdict_failed);
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (action != "status") std::cout << fmt::format("{}{}: done in {:.2f} s\n", action, on, secs);
  if (action == "stop") return exit_code(ExitStatus::pass);  // nothing answers any more
  for (const auto& s : driver->roles(std::chrono::milliseconds(5000)))
    std::cout << fmt::format("{:<10} {:<8} {}\n", s.node, to_string(s.role), s.detail);
  if (action == "status") std::cout << driver->status_text(std::chrono::milliseconds(5000));
  return exit_code(ExitStatus::pass);
}

// One `cluster` subcommand: its action word and whether (and how) it names a node.
struct ClusterAction {
  const char* name;
  const char* help;
  const char* node_option;  // nullptr: the whole cluster
  const char* node_help;
};

constexpr ClusterAction kActions[] = {
    {"status", "The manager's view of the roles and its status text", nullptr, nullptr},
    {"switchover", "Planned switchover to NODE", "--to", "the node to promote"},
    {"rejoin", "Bring NODE (a failed old primary) back as a standby", "node", "the node to rejoin"},
    {"stop-node", "Planned stop of the manager and PostgreSQL on NODE", "node", "the node to stop"},
    {"start-node", "Start NODE again, until it is a healthy standby", "node", "the node to start"},
    {"rebuild", "Re-create the standby NODE from a fresh base backup", "node", "the standby to rebuild"},
    {"stop", "Stop every node, the standbys first and the primary last", nullptr, nullptr},
    {"start", "Start every node, the last primary first, until healthy", nullptr, nullptr},
};

}  // namespace

void add_cluster(CLI::App& app, Commands& out) {
  auto c = std::make_shared<ClusterCli>();
  auto* clu = app.add_subcommand("cluster", "The cluster driver's planned operations");
  clu->require_subcommand(1);
  std::vector<std::pair<CLI::App*, const ClusterAction*>> subs;
  for (const auto& a : kActions) subs.emplace_back(clu->add_subcommand(a.name, a.help), &a);
  for (const auto& [sub, a] : subs) {
    sub->add_option("--inventory,-i", c->inventory, "inventory file (default: the embedded lab's)");
    sub->add_option("--deadline-ms", c->deadline_ms, "deadline of the operation")->check(CLI::Range(1000, 3600000));
  }
  for (const auto& [sub, a] : subs) {
    if (a->node_option) sub->add_option(a->node_option, c->node, a->node_help)->required();
    const std::string action = a->name;
    const bool takes_node = a->node_option != nullptr;
    out.push_back({sub, [c, action, takes_node] { return cluster_command(*c, action, takes_node ? c->node : ""); }});
  }
}

}  // namespace haverify::cli
