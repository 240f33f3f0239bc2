// docs/examples/inventories/: one real-cluster inventory per driver (issue
// 17). Each must be accepted as `haverify validate` accepts it, plan a
// single-fault suite, and plan a cut of the LAN haverify talks over only as a
// self-healing one.
#include <catch2/catch.hpp>

#include <filesystem>
#include <set>
#include <string>

#include "haverify/config/control_paths.hpp"
#include "haverify/config/inventory.hpp"
#include "haverify/config/plan.hpp"

using namespace haverify;
namespace fs = std::filesystem;

TEST_CASE("docs/examples/inventories: each driver's real-cluster inventory loads and plans a single-fault suite",
          "[unit]") {
  const fs::path dir = fs::path(HAVERIFY_SOURCE_DIR) / "docs" / "examples" / "inventories";
  std::set<std::string> drivers, models;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() != ".yaml") continue;
    INFO(e.path());
    const Inventory inv = load_inventory(e.path().string());
    drivers.insert(inv.driver.type);
    if (inv.driver.type == "pacemaker") models.insert(inv.driver.model);
    for (const auto& n : inv.nodes) {
      CHECK(n.ssh.user != "root");  // as most production nodes: no root logins
      CHECK(uses_sudo(n.ssh));
      CHECK((n.power.controller == "ipmi" || (n.power.controller == "command" && !n.power.status.empty())));
    }
    const auto plan = single_fault_plan(inv, stack_processes(inv));
    CHECK(plan.size() >= 8);
    for (const auto& item : plan)
      for (const auto& f : item.faults)
        for (const auto& n : inv.nodes)
          for (const auto& p : control_paths(inv, n))
            CHECK((f.spec.kind != "lan_cut" || f.spec.lan != p.lan || f.spec.self_heal));
  }
  CHECK(drivers == std::set<std::string>{"pacemaker", "patroni", "pgpool"});
  CHECK(models == std::set<std::string>{"replication", "shared-disk"});
}
