// Self-cut safety (issue 17): a fault that would cut haverify's own SSH or
// probes to a node is refused before any fault runs, with the file, the line
// and what to do, unless the cut heals itself on the node, as the single-fault
// plan makes it.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "../test_files.hpp"
#include "haverify/config/control_paths.hpp"
#include "haverify/config/inventory.hpp"
#include "haverify/config/plan.hpp"
#include "haverify/config/scenario.hpp"
#include "haverify/run/runner.hpp"

using namespace haverify;

namespace {

// A three-LAN cluster as the field often has it: no management LAN, SSH and
// the probes over the service LAN (node2's probes over replication).
Inventory three_lans() {
  return parse_inventory(R"(name: field
stack: pgrex
lans:
  service:      {subnet: 10.1.0.0/24}
  replication:  {subnet: 10.2.0.0/24}
  interconnect: {subnet: 10.3.0.0/24}
ssh: {user: qa, become: sudo, key: /k, known_hosts: /kh}
nodes:
  - name: node1
    ssh: {host: 10.1.0.11}
    interfaces: {service: {ifname: eth0, address: 10.1.0.11/24}, replication: {ifname: eth1, address: 10.2.0.11/24}, interconnect: {ifname: eth2, address: 10.3.0.11/24}}
    postgres: {host: 10.1.0.11}
    power: {controller: command, off: 'true', on: 'true', status: 'echo on'}
  - name: node2
    ssh: {host: 10.1.0.12}
    interfaces: {service: {ifname: eth0, address: 10.1.0.12/24}, replication: {ifname: eth1, address: 10.2.0.12/24}, interconnect: {ifname: eth2, address: 10.3.0.12/24}}
    postgres: {host: 10.2.0.12}
    power: {controller: command, off: 'true', on: 'true', status: 'echo on'}
endpoint: {kind: vip, host: 10.1.0.100}
driver: {type: generic}
)",
                         "field.yaml");
}

// One scenario whose inject step (line 5) is `fault`.
std::vector<Scenario> one_cut(const std::string& fault) {
  return {parse_scenario(
      "name: cut\nkind: single-fault\nsteps:\n  - wait: 1s\n  - inject: {" + fault + "}\n  - wait: 1s\n", "cut.yaml")};
}

}  // namespace

TEST_CASE("control paths: SSH and direct probes, each with the LAN its address is on", "[unit]") {
  const Inventory inv = three_lans();
  const auto p1 = control_paths(inv, *inv.node("node1"));
  REQUIRE(p1.size() == 2);
  CHECK(p1[0].what == "SSH");
  CHECK(p1[0].lan == "service");
  CHECK(p1[1].what == "probes");
  CHECK(p1[1].lan == "service");
  const auto p2 = control_paths(inv, *inv.node("node2"));
  CHECK(p2[1].lan == "replication");
  // An address outside every LAN (a host name, a separate admin network): unknown, nothing refused.
  CHECK(lan_of_address(inv, *inv.node("node1"), "192.0.2.7").empty());
  CHECK(lan_of_address(inv, *inv.node("node1"), "node1.example").empty());
}

TEST_CASE("self-cut: a cut of the LAN that carries SSH is refused with file:line and the fix", "[unit]") {
  const Inventory inv = three_lans();
  const auto p = self_cut_problems(inv, one_cut("fault: lan_cut, lan: service, target: primary"));
  // A role may be either node: both are named.
  REQUIRE(p.size() == 2);
  CHECK(p[0].rfind("cut.yaml:5: ", 0) == 0);
  CHECK(p[0].find("haverify's SSH to node1 (ssh.host 10.1.0.11 is on LAN 'service')") != std::string::npos);
  CHECK(p[0].find("the heal could not reach the node") != std::string::npos);
  CHECK(p[0].find("Reach node1 over a LAN the suite does not cut") != std::string::npos);
  CHECK(p[1].find("to node2") != std::string::npos);
  CHECK(p[0].find("or make the cut heal itself on the node (self_heal: true, with a duration)") != std::string::npos);
}

TEST_CASE("self-cut: a self-healing cut of the LAN that carries SSH is allowed, and its keys are checked", "[unit]") {
  const Inventory inv = three_lans();
  const auto sc = one_cut("fault: lan_cut, lan: service, target: primary, duration: 20s, self_heal: true");
  CHECK(self_cut_problems(inv, sc).empty());
  const FaultSpec& f = sc[0].steps[1].faults[0];
  CHECK(f.self_heal);
  CHECK(f.self_heal_arm == std::chrono::milliseconds(500));
  CHECK(f.describe() == "lan_cut service of primary (link, self-healing)");
  // It heals itself after its duration: without one it is refused, as an arm without self_heal.
  CHECK_THROWS_WITH(one_cut("fault: lan_cut, lan: service, target: primary, self_heal: true"),
                    Catch::Contains("cut.yaml:5:") && Catch::Contains("self_heal") &&
                        Catch::Contains("give one (e.g. duration: 20s)"));
  CHECK_THROWS_WITH(one_cut("fault: lan_cut, lan: service, target: primary, duration: 5s, self_heal_arm: 1s"),
                    Catch::Contains("self_heal_arm") && Catch::Contains("only with self_heal: true"));
  CHECK_THROWS_WITH(one_cut("fault: lan_cut, lan: service, target: primary, duration: 5s, self_heal: true, "
                            "self_heal_arm: 20ms"),
                    Catch::Contains("self_heal_arm"));
  CHECK_THROWS_WITH(one_cut("fault: power_off, target: primary, duration: 5s, self_heal: true"),
                    Catch::Contains("self_heal"));
}

TEST_CASE("self-cut: probes, ports and peers decide what a cut takes with it", "[unit]") {
  const Inventory inv = three_lans();
  // node2's probes go over replication: its cut blinds them; node1's do not.
  const auto repl = self_cut_problems(inv, one_cut("fault: lan_cut, lan: replication, target: node2"));
  REQUIRE(repl.size() == 1);
  CHECK(repl[0].find("haverify's probes to node2 (postgres.host 10.2.0.12") != std::string::npos);
  CHECK(self_cut_problems(inv, one_cut("fault: lan_cut, lan: replication, target: node1")).empty());
  CHECK(self_cut_problems(inv, one_cut("fault: lan_cut, lan: interconnect, target: primary")).empty());
  // One port of the service LAN: PostgreSQL's blinds node1's probes, another port takes nothing.
  const auto pg =
      self_cut_problems(inv, one_cut("fault: lan_cut, lan: service, method: nft, port: 5432, target: node1"));
  REQUIRE(pg.size() == 1);
  CHECK(pg[0].find("probes to node1") != std::string::npos);
  CHECK(
      self_cut_problems(inv, one_cut("fault: lan_cut, lan: service, method: nft, port: 8008, target: node1")).empty());
  CHECK_FALSE(
      self_cut_problems(inv, one_cut("fault: lan_cut, lan: service, method: nft, port: 22, target: node1")).empty());
  // A cut between two nodes spares the harness host's traffic.
  CHECK(
      self_cut_problems(inv, one_cut("fault: lan_cut, lan: service, method: nft, peer: node2, target: node1")).empty());
}

TEST_CASE("self-cut: the single-fault plan makes the cut of a LAN that carries SSH or probes heal itself", "[unit]") {
  const Inventory inv = three_lans();
  const auto faults = single_faults(inv, {"postmaster"});
  std::set<std::string> healing, plain;
  for (const auto& f : faults) {
    if (f.spec.kind != "lan_cut") continue;
    INFO(f.slug);
    (f.spec.self_heal ? healing : plain).insert(f.spec.lan);
    if (f.spec.self_heal) CHECK(f.spec.duration == kSelfHealingCut);
  }
  CHECK(healing == std::set<std::string>{"service", "replication"});  // SSH; node2's probes
  CHECK(plain == std::set<std::string>{"interconnect"});
  // Its scenario reads back as planned, and is not refused.
  const std::filesystem::path dir = haverify::testing::tmpfile("selfheal-plan");
  std::filesystem::remove_all(dir);
  write_plan(dir.string(), single_fault_plan(inv, {"postmaster"}), inv, false);
  std::vector<Scenario> scenarios;
  read_plan_csv((dir / "plan.csv").string(), &scenarios);
  bool found = false;
  for (const auto& sc : scenarios)
    for (const auto& step : sc.steps)
      for (const auto& f : step.faults)
        if (f.lan == "service") {
          found = true;
          CHECK(f.self_heal);
          CHECK(f.duration == kSelfHealingCut);
        }
  CHECK(found);
  CHECK(self_cut_problems(inv, scenarios).empty());
}

TEST_CASE("self-cut: `haverify run` refuses the suite (exit 2) before any SSH or fault", "[unit]") {
  using haverify::testing::tmpfile;
  // Loopback addresses, a key and a known_hosts file that do not exist: even
  // if the refusal failed, no packet could leave the machine.
  const std::string inv = tmpfile("selfcut-inventory.yaml"), sc = tmpfile("selfcut-scenario.yaml");
  {
    std::ofstream i(inv);
    i << "name: field\nstack: pgrex\nlans:\n  service: {subnet: 127.1.0.0/24}\n"
         "ssh: {user: root, key: /k, known_hosts: /kh}\nnodes:\n"
         "  - {name: node1, ssh: {host: 127.1.0.11}, interfaces: {service: {ifname: eth0, address: 127.1.0.11/24}}, "
         "postgres: {host: 127.1.0.11}, power: {controller: command, off: 'true', on: 'true', status: 'echo on'}}\n"
         "endpoint: {kind: vip, host: 127.1.0.100}\ndriver: {type: generic}\n";
    std::ofstream(sc) << "name: cut\nkind: single-fault\nsteps:\n  - inject: {fault: lan_cut, lan: service, target: "
                         "node1, duration: 1s}\n";
  }
  RunOptions o;
  o.inventory_path = inv;
  o.scenario_paths = {sc};
  o.out_dir = tmpfile("selfcut-out");
  o.ledger_path = tmpfile("selfcut-ledger.json");
  CHECK(run_suite(o) == kExitUsage);
  CHECK_FALSE(std::filesystem::exists(o.out_dir + "/results.csv"));
}
