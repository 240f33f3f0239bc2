#include "haverify/config/control_paths.hpp"

#include <arpa/inet.h>

#include <array>
#include <cstdint>

#include <fmt/format.h>

namespace haverify {
namespace {

// `address` (IPv4 or IPv6 literal) inside `cidr`.
bool in_subnet(const std::string& address, const std::string& cidr) {
  const auto slash = cidr.find('/');
  const std::string net = cidr.substr(0, slash);
  int bits = -1;
  if (slash != std::string::npos) {
    try {
      bits = std::stoi(cidr.substr(slash + 1));
    } catch (const std::exception&) {
      return false;
    }
  }
  std::array<std::uint8_t, 16> a{}, n{};
  const int family = address.find(':') != std::string::npos ? AF_INET6 : AF_INET;
  if (inet_pton(family, address.c_str(), a.data()) != 1 || inet_pton(family, net.c_str(), n.data()) != 1) return false;
  const int width = family == AF_INET ? 32 : 128;
  if (bits < 0) bits = width;
  if (bits > width) return false;
  for (int i = 0; i < bits; ++i) {
    const std::uint8_t mask = static_cast<std::uint8_t>(0x80u >> (i % 8));
    if ((a[static_cast<std::size_t>(i / 8)] & mask) != (n[static_cast<std::size_t>(i / 8)] & mask)) return false;
  }
  return true;
}

// The nodes a fault's targets may resolve to (a role: any PostgreSQL node).
std::vector<const NodeSpec*> candidates(const Inventory& inv, const FaultSpec& f) {
  std::vector<const NodeSpec*> out;
  for (const auto& t : f.targets) {
    if (const NodeSpec* n = inv.node(t)) {
      out.push_back(n);
      continue;
    }
    for (const auto& n : inv.nodes) out.push_back(&n);
  }
  return out;
}

// Does the cut `f` of its LAN on `n` take `p` with it?
bool cuts(const FaultSpec& f, const NodeSpec& n, const ControlPath& p) {
  if (f.kind != "lan_cut" || f.lan != p.lan || !f.peer.empty()) return false;  // a peer cut spares the harness host
  if (f.self_heal) return false;  // healed on the node; its probes are unknown meanwhile
  if (!f.port) return true;
  return (p.what == "SSH" && *f.port == n.ssh.port) || (p.what == "probes" && *f.port == n.postgres.port);
}

}  // namespace

std::string lan_of_address(const Inventory& inv, const NodeSpec& n, const std::string& address) {
  for (const auto& i : n.interfaces)
    if (address_without_prefix(i.address) == address) return i.lan;
  for (const auto& l : inv.lans)
    if (!l.subnet.empty() && in_subnet(address, l.subnet)) return l.name;
  return {};
}

std::vector<ControlPath> control_paths(const Inventory& inv, const NodeSpec& n) {
  std::vector<ControlPath> out;
  out.push_back({lan_of_address(inv, n, n.ssh.host), "SSH", n.ssh.host});
  if (n.postgres.probe == "direct" && !n.postgres.host.empty())
    out.push_back({lan_of_address(inv, n, n.postgres.host), "probes", n.postgres.host});
  return out;
}

std::vector<std::string> self_cut_problems(const Inventory& inv, const std::vector<Scenario>& scenarios) {
  std::vector<std::string> out;
  for (const auto& sc : scenarios)
    for (const auto& step : sc.steps)
      for (const auto& f : step.faults)
        for (const NodeSpec* n : candidates(inv, f))
          for (const auto& p : control_paths(inv, *n)) {
            if (p.lan.empty() || !cuts(f, *n, p)) continue;
            const bool ssh = p.what == "SSH";
            out.push_back(fmt::format(
                "{}:{}: {} would cut haverify's {} to {} ({} {} is on LAN '{}'): {}. Reach {} over a LAN the suite "
                "does not cut, cut one port of the LAN (method: nft, port: P), or make the cut heal itself on the node "
                "(self_heal: true, with a duration)",
                sc.file, f.line, f.describe(), p.what, n->name, ssh ? "ssh.host" : "postgres.host", p.address, p.lan,
                ssh ? "the heal could not reach the node, which would stay cut"
                    : "the probes would read the node as down, whatever its state",
                n->name));
            break;
          }
  return out;
}

}  // namespace haverify
