// Target resolution (run/targets.hpp): role words -> nodes, against roles
// given by hand.
#include <catch2/catch.hpp>

#include <algorithm>
#include <set>

#include "haverify/run/run_log.hpp"
#include "haverify/run/targets.hpp"

using namespace haverify;

namespace {

class FixedRoles final : public RoleSource {
 public:
  explicit FixedRoles(std::vector<NodeStatus> roles, std::vector<std::string> sync = {})
      : roles_(std::move(roles)), sync_(std::move(sync)) {}
  const std::vector<NodeStatus>& roles() override {
    ++reads;
    return roles_;
  }
  std::vector<std::string> sync_standbys(const std::vector<std::string>& standbys) override {
    std::vector<std::string> out;
    for (const auto& s : standbys)
      if (std::find(sync_.begin(), sync_.end(), s) != sync_.end()) out.push_back(s);
    return out;
  }
  int reads = 0;

 private:
  std::vector<NodeStatus> roles_;
  std::vector<std::string> sync_;
};

const std::vector<std::string> kNodes = {"node1", "node2", "node3"};

std::vector<NodeStatus> one_primary() {
  return {NodeStatus{"node3", Role::standby, true, ""}, NodeStatus{"node1", Role::primary, true, ""},
          NodeStatus{"node2", Role::standby, true, ""}, NodeStatus{"pgpool", Role::standby, true, ""}};
}

std::vector<std::string> resolve(const std::vector<std::string>& words, RoleSource& roles, std::uint64_t seed = 1) {
  std::mt19937_64 rng(seed);
  return resolve_targets(words, kNodes, roles, rng);
}

}  // namespace

TEST_CASE("targets: names and all need no roles", "[unit]") {
  FixedRoles roles(one_primary());
  CHECK(resolve({"node2"}, roles) == std::vector<std::string>{"node2"});
  CHECK(resolve({"all"}, roles) == kNodes);
  CHECK(resolve({"node3", "node1", "node3"}, roles) == std::vector<std::string>{"node1", "node3"});
  CHECK(roles.reads == 0);
  CHECK_THROWS_AS(resolve({"node9"}, roles), HarnessFailure);
}

TEST_CASE("targets: primary, standbys, standby:N (node-name order, inventory nodes only)", "[unit]") {
  FixedRoles roles(one_primary());
  CHECK(resolve({"primary"}, roles) == std::vector<std::string>{"node1"});
  CHECK(resolve({"standbys"}, roles) == std::vector<std::string>{"node2", "node3"});
  CHECK(resolve({"standby:1"}, roles) == std::vector<std::string>{"node2"});
  CHECK(resolve({"standby:2"}, roles) == std::vector<std::string>{"node3"});
  CHECK_THROWS_WITH(resolve({"standby:3"}, roles),
                    "fault target 'standby:3': 2 standby(s) at injection time (node2, node3)");
  CHECK_THROWS_AS(resolve({"standby:x"}, roles), HarnessFailure);
  CHECK(resolve({"primary", "standbys"}, roles) == kNodes);
}

TEST_CASE("targets: standby is chosen with the seed, reproducibly", "[unit]") {
  FixedRoles roles(one_primary());
  std::set<std::string> seen;
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    const auto a = resolve({"standby"}, roles, seed);
    CHECK(a == resolve({"standby"}, roles, seed));
    REQUIRE(a.size() == 1);
    seen.insert(a.front());
  }
  CHECK(seen == std::set<std::string>{"node2", "node3"});
}

TEST_CASE("targets: sync_standby: the first synchronous standby, else the first standby", "[unit]") {
  FixedRoles async(one_primary());
  CHECK(resolve({"sync_standby"}, async) == std::vector<std::string>{"node2"});
  FixedRoles sync(one_primary(), {"node3"});
  CHECK(resolve({"sync_standby"}, sync) == std::vector<std::string>{"node3"});
}

TEST_CASE("targets: a role nobody has", "[unit]") {
  FixedRoles none({NodeStatus{"node1", Role::down, true, ""}, NodeStatus{"node2", Role::down, true, ""}});
  CHECK_THROWS_WITH(resolve({"primary"}, none), "no node has the role 'primary' at injection time");
  CHECK_THROWS_WITH(resolve({"standbys"}, none), "no node is a standby at injection time");
  CHECK_THROWS_WITH(resolve({"sync_standby"}, none), "no node is a standby at injection time");
  CHECK_THROWS_AS(resolve({"standby:1"}, none), HarnessFailure);
  // Two primaries (split brain): `primary` picks one of them with the seed.
  FixedRoles two({NodeStatus{"node1", Role::primary, true, ""}, NodeStatus{"node2", Role::primary, true, ""}});
  const auto p = resolve({"primary"}, two);
  CHECK((p == std::vector<std::string>{"node1"} || p == std::vector<std::string>{"node2"}));
}

namespace {

class WatchdogRoles final : public RoleSource {
 public:
  explicit WatchdogRoles(std::optional<VipHolders> vip) : vip_(std::move(vip)) {}
  const std::vector<NodeStatus>& roles() override { return roles_; }
  std::vector<std::string> sync_standbys(const std::vector<std::string>&) override { return {}; }
  std::optional<VipHolders> vip() override { return vip_; }

 private:
  std::vector<NodeStatus> roles_ = one_primary();
  std::optional<VipHolders> vip_;
};

}  // namespace

TEST_CASE("targets: pool_leader holds the VIP, pool_standby(s) answered without it, the pool host by name", "[unit]") {
  VipHolders h;
  h.held = {"node3"};
  h.free = {"node1", "node2"};
  WatchdogRoles roles(h);
  CHECK(resolve({"pool_leader"}, roles) == std::vector<std::string>{"node3"});
  CHECK(resolve({"pool_standbys"}, roles) == std::vector<std::string>{"node1", "node2"});
  std::set<std::string> seen;
  for (std::uint64_t seed = 1; seed <= 40; ++seed) seen.insert(resolve({"pool_standby"}, roles, seed).front());
  CHECK(seen == std::set<std::string>{"node1", "node2"});  // chosen with the seed, never the leader
  CHECK(resolve({"pool_leader", "primary"}, roles) == std::vector<std::string>{"node1", "node3"});

  // No single holder (none, or two: a split VIP): no pool_leader to aim at.
  VipHolders two = h;
  two.held = {"node2", "node3"};
  WatchdogRoles split(two);
  CHECK_THROWS_AS(resolve({"pool_leader"}, split), HarnessFailure);
  WatchdogRoles none(VipHolders{});
  CHECK_THROWS_AS(resolve({"pool_leader"}, none), HarnessFailure);
  CHECK_THROWS_AS(resolve({"pool_standby"}, none), HarnessFailure);
  // Without a watchdog the words name nothing.
  WatchdogRoles plain(std::nullopt);
  CHECK_THROWS_AS(resolve({"pool_leader"}, plain), HarnessFailure);

  // The pgpool host of a single-pgpool inventory is an aux node, a target by name only.
  std::mt19937_64 rng(1);
  CHECK(resolve_targets({"pool"}, kNodes, plain, rng, {"pool"}) == std::vector<std::string>{"pool"});
  CHECK(resolve_targets({"all"}, kNodes, plain, rng, {"pool"}) == kNodes);
  CHECK_THROWS_AS(resolve({"pool"}, plain), HarnessFailure);
}
