#pragma once
// A LAN cut by packet filter (lan_cut method: nft): the shell commands that
// put it in place on a node, check it, and take it away. The node's own
// tools decide how, when the command runs: nft when the node has it (a
// table of the cut's own), else iptables/ip6tables (chains of the cut's own
// in the raw table); both hook before conntrack, so established connections
// are cut too. A node with neither fails the inject (exit 3); preflight
// says so first (run/preflight: the tool "nft|iptables").
#include <optional>
#include <string>
#include <vector>

namespace haverify::faults {

struct FirewallCut {
  std::string name;                // the cut's own name (the nft table): haverify_cut_...
  std::string ifname;              // the node's interface on the LAN
  std::string direction = "both";  // both | in | out
  std::optional<int> port;         // TCP: to it coming in, from it going out
  std::string family;              // with peers: "ip" or "ip6"; "" (no peers): both
  std::vector<std::string> peers;  // only packets from them in, to them out
};

struct FirewallCommands {
  std::string inject, verify, heal;  // heal: exit 0 once no trace of the cut is left
};

FirewallCommands firewall_cut_commands(const FirewallCut& cut);

// The iptables chain names of a cut (at most 28 characters): "HVI_" / "HVO_"
// and a hash of its name.
std::string iptables_chain(const FirewallCut& cut, bool in);

}  // namespace haverify::faults
