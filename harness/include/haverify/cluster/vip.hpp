#pragma once
// The delegate IP of a pgpool-II watchdog (inventory driver.watchdog): which
// nodes hold it, asked on each node over SSH (`ip -o -4 addr show to VIP/32`).
#include <chrono>
#include <string>
#include <vector>

#include "haverify/cluster/transport_pool.hpp"
#include "haverify/config/inventory.hpp"

namespace haverify {

// A POSIX sh command printing the node's addresses equal to `vip` (one
// line if it holds it, nothing otherwise); exit status 0 either way.
std::string vip_held_command(const std::string& vip);
// Whether that command's output says the node holds the VIP.
bool vip_held_output(const std::string& out);

struct VipHolders {
  std::vector<std::string> held;        // the watchdog nodes holding the VIP, in inventory order
  std::vector<std::string> unanswered;  // the ones that could not be asked (powered off, cut, ...)
  std::vector<std::string> free;        // the ones that answered and do not hold it
  // Without a VIP (a DNS endpoint): the address the endpoint's name resolved
  // to, which the nodes were asked about.
  std::string address;
};

// Asks every node of inv.driver.watchdog (none without one), each within
// what is left of `deadline`. Without a VIP (a DNS endpoint) the endpoint's
// name is resolved first and the nodes are asked about that address; a
// resolution that fails throws HarnessFailure with the DNS error.
VipHolders vip_holders(const Inventory& inv, TransportPool& pool, std::chrono::milliseconds deadline);

}  // namespace haverify
