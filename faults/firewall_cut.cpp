// lan_cut by packet filter: nft, else iptables, chosen on the node when the
// command runs (firewall_cut.hpp).
#include "faults/firewall_cut.hpp"

#include <cstdint>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace haverify::faults {

namespace {

// `have TOOL`: the node runs TOOL (found on the PATH and executable).
constexpr const char* kHave = "have() { p=$(command -v \"$1\" 2>/dev/null) && [ -x \"$p\" ]; }; ";

std::uint32_t fnv1a(const std::string& s) {
  std::uint32_t h = 2166136261u;
  for (unsigned char c : s) h = (h ^ c) * 16777619u;
  return h;
}

std::string nft_inject(const FirewallCut& c) {
  std::string in_match, out_match;
  if (!c.peers.empty()) {
    in_match = fmt::format(" {} saddr {{ {} }}", c.family, fmt::join(c.peers, ", "));
    out_match = fmt::format(" {} daddr {{ {} }}", c.family, fmt::join(c.peers, ", "));
  }
  if (c.port) {
    in_match += fmt::format(" tcp dport {}", *c.port);
    out_match += fmt::format(" tcp sport {}", *c.port);
  }
  std::string rules;
  if (c.direction != "out")
    rules += fmt::format("add rule inet {} input iifname \"{}\"{} drop\n", c.name, c.ifname, in_match);
  if (c.direction != "in")
    rules += fmt::format("add rule inet {} output oifname \"{}\"{} drop\n", c.name, c.ifname, out_match);
  // Priority -400: before conntrack (-200), so established connections are cut too.
  return fmt::format(
      "nft -f - <<'EOF'\n"
      "add table inet {0}\n"
      "add chain inet {0} input {{ type filter hook input priority -400; policy accept; }}\n"
      "add chain inet {0} output {{ type filter hook output priority -400; policy accept; }}\n"
      "{1}EOF\n",
      c.name, rules);
}

// The iptables programs a cut uses: the peers' family, else both.
std::vector<std::string> iptables_tools(const FirewallCut& c) {
  if (c.family == "ip") return {"iptables"};
  if (c.family == "ip6") return {"ip6tables"};
  return {"iptables", "ip6tables"};
}

// One tool's chains and rules; the raw table hooks before conntrack.
std::string iptables_inject_one(const FirewallCut& c, const std::string& tool) {
  const std::string peers = fmt::format("{}", fmt::join(c.peers, ","));
  std::string out;
  const auto chain = [&](bool in) {
    const std::string name = iptables_chain(c, in);
    std::string rule = fmt::format("{} -w -t raw -A {} {} {}", tool, name, in ? "-i" : "-o", c.ifname);
    if (!peers.empty()) rule += fmt::format(" {} {}", in ? "-s" : "-d", peers);
    if (c.port) rule += fmt::format(" -p tcp {} {}", in ? "--dport" : "--sport", *c.port);
    out += fmt::format("{0} -w -t raw -N {1} && {2} -j DROP && {0} -w -t raw -I {3} -j {1} && ", tool, name, rule,
                       in ? "PREROUTING" : "OUTPUT");
  };
  if (c.direction != "out") chain(true);
  if (c.direction != "in") chain(false);
  return out;
}

std::string iptables_inject(const FirewallCut& c) {
  std::string out;
  for (const auto& tool : iptables_tools(c))
    // ip6tables may be missing where IPv6 is off: a cut without peers then covers IPv4 only.
    out += tool == "ip6tables" && c.family.empty()
               ? fmt::format("{{ ! have ip6tables || {{ {}true; }}; }} && ", iptables_inject_one(c, tool))
               : iptables_inject_one(c, tool);
  return out + "true";
}

// Removes whatever of the cut's chains a tool has; never fails.
std::string iptables_heal_one(const FirewallCut& c, const std::string& tool) {
  std::string out = fmt::format("if have {}; then ", tool);
  for (bool in : {true, false}) {
    const std::string name = iptables_chain(c, in);
    out += fmt::format(
        "while {0} -w -t raw -D {1} -j {2} 2>/dev/null; do :; done; {0} -w -t raw -F {2} 2>/dev/null; "
        "{0} -w -t raw -X {2} 2>/dev/null; ",
        tool, in ? "PREROUTING" : "OUTPUT", name);
  }
  return out + "fi; ";
}

// True (exit 0) while any trace of the cut is there.
std::string present(const FirewallCut& c) {
  std::string test = fmt::format("{{ have nft && nft list table inet {} >/dev/null 2>&1; }}", c.name);
  for (const auto& tool : iptables_tools(c))
    for (bool in : {true, false})
      test += fmt::format(" || {{ have {0} && {0} -w -t raw -S {1} >/dev/null 2>&1; }}", tool, iptables_chain(c, in));
  return test;
}

}  // namespace

std::string iptables_chain(const FirewallCut& cut, bool in) {
  return fmt::format("{}_{:08x}", in ? "HVI" : "HVO", fnv1a(cut.name));
}

FirewallCommands firewall_cut_commands(const FirewallCut& c) {
  FirewallCommands f;
  const std::string ipt = iptables_tools(c).front();
  f.inject = fmt::format(
      "{0}if have nft; then\n{1}elif have {2}; then\n{3}\nelse\n"
      "echo 'lan_cut (method nft): this node has neither nft nor {2}' >&2; exit 3\nfi",
      kHave, nft_inject(c), ipt, iptables_inject(c));
  f.verify = std::string(kHave) + present(c);
  f.heal = fmt::format(
      "{}{{ ! have nft || nft delete table inet {} 2>/dev/null; true; }}; {}! {{ {}; }}", kHave, c.name,
      [&] {
        std::string h;
        for (const auto& tool : iptables_tools(c)) h += iptables_heal_one(c, tool);
        return h;
      }(),
      present(c));
  return f;
}

}  // namespace haverify::faults
