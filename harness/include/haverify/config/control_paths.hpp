#pragma once
// Self-cut safety (issue 17): which LANs carry haverify's own traffic to each
// node, and the faults that would cut it. A cut of such a LAN would leave the
// fault unhealable (the heal goes over SSH) or the probes blind (read as "not
// writable"), so it is refused before any fault runs (docs/inventory.md,
// "Which LAN haverify talks over").
#include <string>
#include <vector>

#include "haverify/config/inventory.hpp"
#include "haverify/config/scenario.hpp"

namespace haverify {

// One kind of haverify's traffic to a node over a LAN.
struct ControlPath {
  std::string lan;
  std::string what;     // "SSH" | "probes"
  std::string address;  // the node's address haverify uses (ssh.host, postgres.host)
};

// The LAN of `address`: the LAN of the node's interface with that address,
// else the declared LAN whose subnet contains it; "" when none (a host name,
// or an address outside every declared LAN).
std::string lan_of_address(const Inventory& inv, const NodeSpec& n, const std::string& address);

// haverify's SSH to `n` (ssh.host) and, with direct probes, its PostgreSQL
// connections (postgres.host), each with the LAN that carries it when known.
std::vector<ControlPath> control_paths(const Inventory& inv, const NodeSpec& n);

// One line per fault of `scenarios` that would cut a control path of a node
// it may hit ("file:line: ..."): lan_cut of the whole LAN (link, or nft
// without a port or a peer) or of the SSH / PostgreSQL port. A role may
// resolve to any PostgreSQL node, so every one counts. A self-healing cut
// (self_heal: true) is allowed: the node heals it without haverify.
std::vector<std::string> self_cut_problems(const Inventory& inv, const std::vector<Scenario>& scenarios);

}  // namespace haverify
