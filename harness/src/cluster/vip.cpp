#include "haverify/cluster/vip.hpp"

#include <fmt/format.h>

#include "haverify/core/errors.hpp"
#include "haverify/core/shell.hpp"
#include "haverify/io/dns.hpp"

namespace haverify {

std::string vip_held_command(const std::string& vip) {
  // `ip` lives in /sbin or /usr/sbin, not always on a non-login PATH.
  return fmt::format("PATH=\"$PATH:/usr/sbin:/sbin\" ip -o -4 addr show to {}", sh_quote(vip + "/32"));
}

bool vip_held_output(const std::string& out) {
  return out.find(" inet ") != std::string::npos;
}

VipHolders vip_holders(const Inventory& inv, TransportPool& pool, std::chrono::milliseconds deadline) {
  VipHolders h;
  if (!inv.driver.watchdog) return h;
  const auto until = std::chrono::steady_clock::now() + deadline;
  std::string address = inv.driver.watchdog->vip;
  if (address.empty()) {
    // A DNS endpoint: where its name points now (within half the deadline).
    const DnsResult r = dns_resolve(inv.endpoint.host, inv.endpoint.dns_server, deadline / 2);
    if (!r.ok()) throw HarnessFailure(fmt::format("the watchdog leader (where the endpoint points): {}", r.error));
    address = r.addresses.at(0);
    h.address = address;
  }
  const std::string cmd = vip_held_command(address);
  for (const auto& n : inv.driver.watchdog->nodes) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    ExecResult r;
    if (left.count() > 0) r = pool.run("ssh", n, cmd, left);
    if (left.count() <= 0 || !r.ok())
      h.unanswered.push_back(n);
    else
      (vip_held_output(r.out) ? h.held : h.free).push_back(n);
  }
  return h;
}

}  // namespace haverify
