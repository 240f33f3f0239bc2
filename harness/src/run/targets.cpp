#include "haverify/run/targets.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "haverify/cluster/health.hpp"
#include "haverify/run/run_log.hpp"

namespace haverify {

using namespace std::chrono_literals;

namespace {

std::vector<std::string> nodes_with_role(RoleSource& roles, const std::vector<std::string>& nodes, Role role) {
  std::vector<std::string> c;
  for (const auto& s : roles.roles())
    if (s.role == role && std::find(nodes.begin(), nodes.end(), s.node) != nodes.end()) c.push_back(s.node);
  std::sort(c.begin(), c.end());
  return c;
}

std::vector<std::string> standbys_or_throw(RoleSource& roles, const std::vector<std::string>& nodes) {
  auto c = nodes_with_role(roles, nodes, Role::standby);
  if (c.empty()) throw HarnessFailure("no node is a standby at injection time");
  return c;
}

// `standby:N`: the N-th standby in node-name order.
std::string nth_standby(const std::string& word, RoleSource& roles, const std::vector<std::string>& nodes) {
  auto c = nodes_with_role(roles, nodes, Role::standby);
  std::size_t n = 0;
  try {
    n = std::stoul(word.substr(8));
  } catch (const std::exception&) {
    n = 0;  // not a number: reported below like an N out of range
  }
  if (n < 1 || n > c.size())
    throw HarnessFailure(
        fmt::format("fault target '{}': {} standby(s) at injection time ({})", word, c.size(), fmt::join(c, ", ")));
  return c[n - 1];
}

// pool_leader, pool_standby, pool_standbys: from the VIP holders now.
std::vector<std::string> pool_role(const std::string& word, RoleSource& roles, std::mt19937_64& rng) {
  const auto vip = roles.vip();
  if (!vip) throw HarnessFailure(fmt::format("fault target '{}': the inventory has no driver.watchdog", word));
  if (word == "pool_leader") {
    const std::string what = vip->address.empty() ? "the VIP" : "the endpoint's address " + vip->address;
    if (vip->held.size() != 1)
      throw HarnessFailure(fmt::format("fault target 'pool_leader': {} node(s) hold {} ({}; not asked: {})",
                                       vip->held.size(), what, fmt::join(vip->held, ", "),
                                       fmt::join(vip->unanswered, ", ")));
    return vip->held;
  }
  if (vip->free.empty())
    throw HarnessFailure(fmt::format("fault target '{}': no watchdog node answered without the VIP", word));
  if (word == "pool_standbys") return vip->free;
  return {vip->free[std::uniform_int_distribution<std::size_t>(0, vip->free.size() - 1)(rng)]};
}

bool contains(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

}  // namespace

std::vector<std::string> resolve_targets(const std::vector<std::string>& targets, const std::vector<std::string>& nodes,
                                         RoleSource& roles, std::mt19937_64& rng, const std::vector<std::string>& aux) {
  std::vector<std::string> out;
  for (const auto& t : targets) {
    if (t == "pool_leader" || t == "pool_standby" || t == "pool_standbys") {
      auto c = pool_role(t, roles, rng);
      out.insert(out.end(), c.begin(), c.end());
    } else if (t == "all") {
      out.insert(out.end(), nodes.begin(), nodes.end());
    } else if (t == "standbys") {
      auto c = standbys_or_throw(roles, nodes);
      out.insert(out.end(), c.begin(), c.end());
    } else if (t == "sync_standby") {
      auto c = standbys_or_throw(roles, nodes);
      auto sync = roles.sync_standbys(c);
      out.push_back(sync.empty() ? c.front() : sync.front());
    } else if (t == "primary" || t == "standby") {
      auto c = nodes_with_role(roles, nodes, t == "primary" ? Role::primary : Role::standby);
      if (c.empty()) throw HarnessFailure(fmt::format("no node has the role '{}' at injection time", t));
      out.push_back(c[std::uniform_int_distribution<std::size_t>(0, c.size() - 1)(rng)]);
    } else if (t.rfind("standby:", 0) == 0) {
      out.push_back(nth_standby(t, roles, nodes));
    } else {
      if (!contains(nodes, t) && !contains(aux, t))
        throw HarnessFailure(fmt::format("fault target '{}' is neither a role nor a node of the inventory", t));
      out.push_back(t);
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

const std::vector<NodeStatus>& RoleSnapshot::roles() {
  if (roles_.empty()) {
    roles_ = driver_.roles(2000ms);
    // Fall back to direct probes when the manager cannot tell.
    bool any = std::any_of(roles_.begin(), roles_.end(), [](const NodeStatus& s) { return s.role == Role::primary; });
    if (!any) roles_ = probe_all(inv_, 1000ms);
  }
  return roles_;
}

std::vector<std::string> RoleSnapshot::sync_standbys(const std::vector<std::string>& standbys) {
  std::vector<std::string> out;
  const std::string primary = manager_primary(roles());
  if (driver_.replicated() && inv_.node(primary)) {
    std::string err;
    if (auto conn = pg_connect(node_target(*inv_.node(primary)), 1000ms, &err)) {
      const auto states = replication_states(inv_, conn.get(), 1000ms, &err);
      for (const auto& n : standbys)
        if (auto it = states.find(n); it != states.end() && it->second.state == "streaming" &&
                                      (it->second.sync_state == "sync" || it->second.sync_state == "quorum"))
          out.push_back(n);
    }
  }
  return out;
}

std::optional<VipHolders> RoleSnapshot::vip() {
  if (!inv_.driver.watchdog) return std::nullopt;
  if (!pool_) throw HarnessFailure("the pgpool roles (pool_leader, pool_standby) are only for fault and exec steps");
  if (!vip_) vip_ = vip_holders(inv_, *pool_, 3000ms);
  return vip_;
}

std::vector<std::string> node_names(const Inventory& inv) {
  std::vector<std::string> out;
  for (const auto& n : inv.nodes) out.push_back(n.name);
  return out;
}

std::vector<std::string> aux_names(const Inventory& inv) {
  std::vector<std::string> out;
  for (const auto& n : inv.aux_nodes) out.push_back(n.name);
  return out;
}

std::vector<std::string> resolve_targets_now(const std::vector<std::string>& targets, const Inventory& inv,
                                             ClusterDriver& driver, std::mt19937_64& rng, TransportPool* pool) {
  RoleSnapshot roles(inv, driver, pool);
  return resolve_targets(targets, node_names(inv), roles, rng, aux_names(inv));
}

}  // namespace haverify
