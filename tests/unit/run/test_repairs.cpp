#include <catch2/catch.hpp>

#include "../history_builder.hpp"
#include "haverify/run/watches.hpp"

using namespace haverify;
using namespace haverify::testing;

// Issue 13, What to build 4: what recover repairs beyond what the scenario broke is a finding.

namespace {

RepairWatch::Repairs watch(const HistoryBuilder& h) {
  RepairWatch w;
  for (const auto& op : h.ops) w.on_op(op);
  return w.repairs();
}

// setup, then a power-off of node1 and its failover to node2.
HistoryBuilder power_off_run() {
  HistoryBuilder h;
  h.add("runner", OpType::invoke, "setup", "s", 0);
  h.add("runner", OpType::ok, "setup", "s", 10);
  h.add("probe", OpType::ok, "role", "primary", 20, "node1");
  h.add("probe", OpType::ok, "role", "standby", 20, "node2");
  h.add("probe", OpType::ok, "role", "standby", 20, "node3");
  h.add("nemesis", OpType::invoke, "inject", "power_off node1", 100, "node1");
  h.add("nemesis", OpType::ok, "inject", "power_off node1", 110, "node1");
  h.add("probe", OpType::ok, "role", "down", 120, "node1");
  h.add("probe", OpType::ok, "role", "primary", 3000, "node2");
  h.add("runner", OpType::invoke, "recover", "", 5000);
  h.add("runner", OpType::info, "power-on", "recover", 5010, "node1");
  h.add("runner", OpType::invoke, "rejoin", "not a standby", 6000, "node1");
  h.add("runner", OpType::ok, "rejoin", "not a standby", 9000, "node1");
  return h;
}

}  // namespace

TEST_CASE("repairs: powering on and rejoining what the scenario broke is no repair", "[unit]") {
  auto h = power_off_run();
  // PG-REX: the old primary's fail counts are cleared after its rejoin (pgrex lab, power-off).
  h.add("runner", OpType::invoke, "unblock", "Pacemaker's promotion score for pgsql on node1 is -INFINITY", 9500,
        "node1");
  const auto r = watch(h);
  CHECK(r.needed.empty());
  CHECK(r.allowed.empty());
  CHECK(r.at_setup.empty());
  CHECK_FALSE(repairs_verdict(r));
}

TEST_CASE("repairs: an unblock, or a rejoin of a node the scenario did not touch, fails the run", "[unit]") {
  auto h = power_off_run();
  h.add("runner", OpType::invoke, "unblock", "Pacemaker's promotion score for pgsql on node3 is -INFINITY", 9500,
        "node3");
  h.add("runner", OpType::ok, "unblock", "Pacemaker's promotion score for pgsql on node3 is -INFINITY", 9600, "node3");
  h.add("runner", OpType::invoke, "rejoin", "streams from nobody", 9700, "node3");
  h.add("runner", OpType::ok, "recover", "node2", 12000);
  const auto r = watch(h);
  REQUIRE(r.needed.size() == 2);
  CHECK(r.needed[0].rfind("unblock node3 (Pacemaker's promotion score for pgsql on node3 is -INFINITY) at ", 0) == 0);
  CHECK(r.needed[1].rfind("rejoin node3, which the scenario did not touch (streams from nobody) at ", 0) == 0);
  const auto v = repairs_verdict(r);
  REQUIRE(v);
  CHECK(v->checker == "repairs");
  CHECK(v->status == CheckStatus::fail);
  CHECK(v->figures.at("repairs") == 2);
  REQUIRE(v->reasons.size() == 1);
  CHECK(v->reasons[0].rfind("needed repair: unblock node3 (", 0) == 0);
  CHECK(v->reasons[0].find("the cluster did not recover on its own") != std::string::npos);
  CHECK(v->reasons[0].find("recover: {repair: allowed}") != std::string::npos);
}

TEST_CASE("repairs: recover: {repair: allowed} notes them and passes, setup repairs are noted apart", "[unit]") {
  HistoryBuilder h;
  h.add("runner", OpType::invoke, "setup", "s", 0);
  h.add("runner", OpType::invoke, "recover", "setup, repair: allowed", 1);
  h.add("runner", OpType::info, "power-on", "recover", 2, "node3");
  h.add("runner", OpType::invoke, "rejoin", "down", 3, "node3");
  h.add("runner", OpType::ok, "recover", "node1", 4);
  h.add("runner", OpType::ok, "setup", "s", 5);
  h.add("runner", OpType::invoke, "recover", "repair: allowed", 100);
  h.add("runner", OpType::invoke, "unblock", "banned", 110, "node2");
  h.add("runner", OpType::ok, "recover", "node1", 200);
  // A later recover step that does not allow it: its repair is a finding again.
  h.add("runner", OpType::invoke, "recover", "", 300);
  h.add("runner", OpType::invoke, "unblock", "banned again", 310, "node2");
  auto r = watch(h);
  REQUIRE(r.at_setup.size() == 2);
  CHECK(r.at_setup[0].rfind("power on node3 at ", 0) == 0);
  CHECK(r.at_setup[1].rfind("rejoin node3 (down) at ", 0) == 0);
  REQUIRE(r.allowed.size() == 1);
  CHECK(r.allowed[0].rfind("unblock node2 (banned) at ", 0) == 0);
  REQUIRE(r.needed.size() == 1);
  CHECK(r.needed[0].rfind("unblock node2 (banned again) at ", 0) == 0);
  r.needed.clear();
  const auto v = repairs_verdict(r);
  REQUIRE(v);
  CHECK(v->status == CheckStatus::pass);
  CHECK(v->reasons.at(0).rfind("repair allowed by the scenario: unblock node2 (banned) at ", 0) == 0);
}
