// A packet-filter cut (lan_cut method: nft) as shell: nft when the node has
// it, else iptables/ip6tables chains in the raw table (issue 17 item 6). The
// commands are valid sh, the chain names fit iptables' 28 characters, and
// the heal leaves no trace whichever tool made the cut.
#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <string>

#include "../test_files.hpp"
#include "faults/fault.hpp"
#include "faults/firewall_cut.hpp"
#include "haverify/config/inventory.hpp"

using namespace haverify;
using faults::FirewallCut;

namespace {

// sh -n: the text parses as a shell script.
bool parses(const std::string& text) {
  const std::string path = testing::tmpfile("firewall.sh");
  std::ofstream(path) << text << "\n";
  return std::system(("sh -n " + path).c_str()) == 0;
}

FirewallCut port_cut() {
  FirewallCut c;
  c.name = "haverify_cut_svc0_5432";
  c.ifname = "svc0";
  c.port = 5432;
  return c;
}

}  // namespace

TEST_CASE("firewall cut: nft first, else iptables chains in the raw table, before conntrack", "[unit]") {
  const FirewallCut c = port_cut();
  const auto f = faults::firewall_cut_commands(c);
  for (const auto* text : {&f.inject, &f.verify, &f.heal}) {
    INFO(*text);
    CHECK(parses(*text));
  }
  CHECK_THAT(f.inject, Catch::Contains("if have nft; then\nnft -f - <<'EOF'\nadd table inet haverify_cut_svc0_5432"));
  CHECK_THAT(f.inject, Catch::Contains("input iifname \"svc0\" tcp dport 5432 drop") &&
                           Catch::Contains("output oifname \"svc0\" tcp sport 5432 drop"));
  const std::string in = faults::iptables_chain(c, true), out = faults::iptables_chain(c, false);
  CHECK(in.size() <= 28);
  CHECK(in.rfind("HVI_", 0) == 0);
  CHECK(out.rfind("HVO_", 0) == 0);
  CHECK(in.substr(4) == out.substr(4));
  CHECK_THAT(f.inject, Catch::Contains("elif have iptables; then"));
  CHECK_THAT(f.inject,
             Catch::Contains("iptables -w -t raw -N " + in + " && iptables -w -t raw -A " + in +
                             " -i svc0 -p tcp --dport 5432 -j DROP && iptables -w -t raw -I PREROUTING -j " + in));
  CHECK_THAT(f.inject, Catch::Contains("iptables -w -t raw -A " + out + " -o svc0 -p tcp --sport 5432 -j DROP && " +
                                       "iptables -w -t raw -I OUTPUT -j " + out));
  CHECK_THAT(f.inject, Catch::Contains("! have ip6tables ||"));  // IPv6 too where the node has it
  CHECK_THAT(f.inject, Catch::Contains("neither nft nor iptables") && Catch::Contains("exit 3"));
  // The heal removes the table and both families' chains, then proves none is left.
  CHECK_THAT(f.heal, Catch::Contains("nft delete table inet haverify_cut_svc0_5432"));
  CHECK_THAT(f.heal,
             Catch::Contains("iptables -w -t raw -X " + in) && Catch::Contains("ip6tables -w -t raw -X " + out));
  CHECK_THAT(f.heal, Catch::Contains("! { { have nft && nft list table inet haverify_cut_svc0_5432"));
  // Another cut, other chains.
  FirewallCut other = c;
  other.name = "haverify_cut_svc0";
  CHECK(faults::iptables_chain(other, true) != in);
}

TEST_CASE("firewall cut: peers of one family use only that family's iptables, one direction one chain", "[unit]") {
  FirewallCut c = port_cut();
  c.port.reset();
  c.direction = "in";
  c.family = "ip6";
  c.peers = {"fd00::12", "fd00::13"};
  const auto f = faults::firewall_cut_commands(c);
  CHECK(parses(f.inject));
  CHECK_THAT(f.inject, Catch::Contains("input iifname \"svc0\" ip6 saddr { fd00::12, fd00::13 } drop"));
  CHECK_THAT(f.inject, Catch::Contains("elif have ip6tables; then"));
  CHECK_THAT(f.inject, Catch::Contains("-i svc0 -s fd00::12,fd00::13 -j DROP"));
  CHECK_THAT(f.inject, !Catch::Contains("\niptables -w") && !Catch::Contains(" -o svc0"));
}

TEST_CASE("firewall cut: planned as a self-healing cut, the script the node runs still parses", "[unit]") {
  Inventory inv;
  NodeSpec n;
  n.name = "node1";
  n.ssh.host = "198.18.0.11";
  n.interfaces.push_back({"service", "svc0", "198.18.1.11/24"});
  n.power.controller = "none";
  inv.nodes.push_back(n);
  FaultSpec f;
  f.kind = "lan_cut";
  f.lan = "service";
  f.method = "nft";
  f.port = 5432;
  f.self_heal = true;
  f.duration = std::chrono::seconds(20);
  const auto a = faults::plan_fault(f, inv, inv.nodes[0], "t1");
  INFO(a.inject_command);
  CHECK(parses(a.inject_command));
  CHECK(parses(a.heal_command));
  CHECK(parses(a.ledger_heal));
  CHECK_THAT(a.inject_command, Catch::Contains("elif have iptables; then"));
}
