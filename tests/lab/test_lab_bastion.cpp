// The pgpool-wd lab (the README's) behind a bastion (issue 17: lab up --bastion): the nodes
// drop SSH from the harness host's own address, and a jump host
// (198.18.4.5, reached over its own access link) forwards to their sshd.
// 1. Without ssh.jump, haverify cannot reach a node: `inventory check` exits
//    2 (connect timed out) before any fault.
// 2. With the lab's inventory (ssh.jump), preflight passes and the
//    single-fault suite passes through the jump host; every SSH login the
//    nodes accepted came from it, none from the harness host.
// 3. kill -9 of haverify during a LAN cut: the ledger keeps the jump host,
//    and `haverify heal` reaches the node through it and heals the cut.
#include "lab_support.hpp"

using namespace labtest;

namespace {

// The lab's inventory with its ssh.jump line left out.
fs::path inventory_without_jump(const fs::path& dir) {
  std::istringstream in(slurp(inventory_path()));
  const fs::path out = dir / "no-jump.yaml";
  std::ofstream o(out);
  for (std::string line; std::getline(in, line);)
    if (line.find("jump:") == std::string::npos) o << line << "\n";
  return out;
}

// How many SSH logins each node's sshd accepted from `address`.
int logins_from(const Inventory& inv, const std::string& address) {
  int n = 0;
  std::vector<NodeSpec> all = inv.nodes;
  all.insert(all.end(), inv.aux_nodes.begin(), inv.aux_nodes.end());
  for (const auto& node : all) {
    std::istringstream log(slurp(fs::path(state_dir()) / "nodes" / node.name / "sshd.log"));
    for (std::string line; std::getline(log, line);)
      if (line.find("Accepted publickey") != std::string::npos &&
          line.find("from " + address + " port ") != std::string::npos)
        ++n;
  }
  return n;
}

}  // namespace

TEST_CASE(
    "pgpool-wd stack behind a bastion: no SSH without the jump host, the single-fault suite and a crash's heal go "
    "through it",
    "[stacks]") {
  StackLab lab("pgpool-wd", "", " --bastion");
  const fs::path dir = fresh_dir("bastion");
  const Inventory inv = load_inventory(inventory_path());
  REQUIRE(inv.nodes.size() == 3);
  REQUIRE(inv.nodes[0].ssh.jump.size() == 1);
  const std::string jump = inv.nodes[0].ssh.jump[0].host;

  // 1. The nodes' sshd is out of the harness host's reach.
  auto direct =
      sh(fmt::format("{} inventory check {}", sh_quote(kBin), sh_quote(inventory_without_jump(dir).string())), 120s);
  INFO(direct.out << direct.err);
  CHECK(direct.exit_code == 2);
  for (const auto& n : inv.nodes)
    CHECK_THAT(direct.out + direct.err, Catch::Contains("node " + n.name + ": ssh root@" + n.ssh.host +
                                                        ":22: connect "
                                                        "timed out"));

  // 2. Through the jump host: preflight, then the suite.
  auto check = sh(fmt::format("{} inventory check", sh_quote(kBin)), 120s);
  INFO(check.out << check.err);
  REQUIRE(check.exit_code == 0);
  CHECK_THAT(check.out, Catch::Contains("via " + jump));
  auto suite = sh(fmt::format("{} run {}/scenarios/single-fault --out {}", sh_quote(kBin), kSrc,
                              sh_quote((dir / "suite").string())),
                  1200s);
  INFO(suite.out << suite.err);
  CHECK(suite.exit_code == 0);
  const auto results = read_results(dir / "suite" / "results.csv");
  CHECK(results.size() == 3);
  for (const auto& [scenario, rows] : results)
    for (const auto& row : rows) {
      INFO(scenario << ": " << row.reason);
      CHECK(row.verdict == "pass");
      CHECK(row.lost_acked == "0");
    }
  const std::string jump_mgmt = "198.18.0.5";  // the jump host's leg on the management LAN (lab/lib/bastion.sh)
  CHECK(logins_from(inv, jump_mgmt) > 10);
  CHECK(logins_from(inv, "198.18.0.1") == 0);

  // 3. A crash during a cut: the heal goes through the jump host too.
  const std::string node = some_standby(inv);
  auto c = start_cut_run(dir, write_long_cut_scenario(dir, node), node);
  REQUIRE(::kill(c.id(), SIGKILL) == 0);
  c.wait();
  CHECK_FALSE(link_up(node, "svc0"));
  const auto ledger = faults::FaultLedger((dir / "ledger.json").string()).entries();
  REQUIRE(ledger.size() == 1);
  CHECK(ledger[0].where == "ssh");
  REQUIRE(ledger[0].ssh.jump.size() == 1);
  CHECK(ledger[0].ssh.jump[0].host == jump);
  auto heal = sh(fmt::format("{} heal --ledger {}", sh_quote(kBin), sh_quote((dir / "ledger.json").string())), 60s);
  INFO(heal.out << heal.err);
  CHECK(heal.exit_code == 0);
  CHECK(link_up(node, "svc0"));
}
