// The single_vip checker and vip_s over synthetic VIP samples.
#include <catch2/catch.hpp>

#include "checker_fixtures.hpp"
#include "haverify/check/metrics.hpp"
#include "haverify/check/single_vip.hpp"

using namespace haverify;
using namespace haverify::testing;

namespace {

void vip(Hist& h, const std::string& node, Nanos ms, const std::string& state) {
  if (state == "?")
    h.add("probe", OpType::fail, "vip", "", ms, node, "ssh: connect timed out");
  else
    h.add("probe", OpType::ok, "vip", state, ms, node);
}

// node3 leads; node1..2 free; the leader is powered off at 1000 ms and node2 takes the VIP at 4200 ms.
Hist leader_power_off() {
  Hist h;
  h.steady_then_inject(1000, "power_off node3");
  h.ops.back().node = h.ops[h.ops.size() - 2].node = "node3";
  vip(h, "node3", 5, "held");
  vip(h, "node1", 6, "free");
  vip(h, "node2", 7, "free");
  vip(h, "node3", 1005, "?");  // its links cut before the power-off's ok: down from the invoke
  vip(h, "node3", 1400, "?");  // powered off: it answers nothing, and holds nothing
  // Its own pgpool logs its backends failing as it goes down: not the cluster noticing.
  h.add("driver", OpType::info, "detect", "health check failed on node 1", 1003, "node3");
  h.add("driver", OpType::info, "detect", "remote node node3 is lost", 2500, "node2");
  vip(h, "node2", 4200, "held");
  h.write(1, 500, 4300, 4310);
  h.add("runner", OpType::ok, "recover", "", 9000);
  vip(h, "node3", 9500, "free");  // back after the power-on, without the VIP
  h.sort();
  return h;
}

}  // namespace

TEST_CASE("single_vip: a leader power-off moves the VIP once, vip_s from the fault", "[unit]") {
  const Hist h = leader_power_off();
  const auto v = SingleVipChecker().check(h.ops, {});
  INFO(dump(v));
  CHECK(v.status == CheckStatus::pass);
  CHECK(fig(v, "vip_moves") == 1);
  CHECK(fig(v, "vip_split_s") == 0);
  CHECK(fig(v, "vip_unseen_s") == 0);
  const auto m = compute_metrics(h.ops, std::nullopt);
  REQUIRE(m.value("vip_s"));
  CHECK(*m.value("vip_s") == Approx(3.2));
  REQUIRE(m.detect_s);
  CHECK(*m.detect_s == Approx(1.5));
}

TEST_CASE("single_vip: two holders at once fail with the window, an unseen node beside a holder is unknown", "[unit]") {
  Hist split;
  vip(split, "node3", 5, "held");
  vip(split, "node2", 6, "free");
  vip(split, "node2", 2000, "held");  // node3 never let go: both answer ARP for it
  vip(split, "node3", 2600, "free");
  split.add("runner", OpType::ok, "recover", "", 5000);
  const auto v = SingleVipChecker().check(split.ops, {});
  INFO(dump(v));
  CHECK(v.status == CheckStatus::fail);
  CHECK(fig(v, "vip_split_windows") == 1);
  CHECK(fig(v, "vip_split_s") == Approx(0.6));
  CHECK(has_reason(v, "held by node2 and node3 at once"));

  // node3 stops answering for 3 s while node2 holds it, and nothing took node3 down.
  Hist blind;
  vip(blind, "node2", 5, "held");
  vip(blind, "node3", 6, "free");
  vip(blind, "node3", 1000, "?");
  vip(blind, "node3", 4000, "free");
  blind.add("runner", OpType::ok, "recover", "", 5000);
  const auto b = SingleVipChecker().check(blind.ops, {});
  CHECK(b.status == CheckStatus::unknown);
  CHECK(fig(b, "vip_unseen_s") == Approx(3.0));

  // One failed probe, answered as before 300 ms later: an SSH hiccup, forgiven.
  Hist hiccup;
  vip(hiccup, "node2", 5, "held");
  vip(hiccup, "node3", 6, "free");
  vip(hiccup, "node3", 1000, "?");
  vip(hiccup, "node3", 1300, "free");
  hiccup.add("runner", OpType::ok, "recover", "", 5000);
  CHECK(SingleVipChecker().check(hiccup.ops, {}).status == CheckStatus::pass);

  // No sample at all: no evidence.
  Hist none;
  none.steady_then_inject(1000);
  CHECK(SingleVipChecker().check(none.ops, {}).status == CheckStatus::unknown);
}

TEST_CASE("dns_s: from the fault to the first DNS answer naming another address", "[unit]") {
  Hist h;
  const auto dns = [&](int client, Nanos ms, const std::string& addrs) {
    h.add("client-" + std::to_string(client), OpType::ok, "dns",
          R"({"name":"pool.lab.test","addrs":[)" + addrs + R"(],"ttl":2,"server":"198.18.1.53:53","ms":1})", ms);
  };
  dns(1, 5, R"("198.18.1.13")");
  dns(2, 6, R"("198.18.1.13")");
  h.steady_then_inject(1000, "power_off node3");
  h.add("client-2", OpType::fail, "dns", "", 1500, "", "dns: timeout");  // a failure is no answer
  dns(1, 2100, R"("198.18.1.13")");                                      // the old answer again (cached TTL)
  dns(2, 6400, R"("198.18.1.11")");                                      // the new active pgpool
  dns(1, 6500, R"("198.18.1.11")");
  h.write(1, 500, 6600, 6610);
  h.sort();
  const auto m = compute_metrics(h.ops, std::nullopt);
  REQUIRE(m.value("dns_s"));
  CHECK(*m.value("dns_s") == Approx(5.4));
  CHECK_FALSE(m.value("vip_s"));  // no watchdog VIP samples

  Hist same;
  same.add("client-1", OpType::ok, "dns", R"({"name":"a","addrs":["198.18.1.13"],"ttl":2,"server":"s","ms":1})", 5);
  same.steady_then_inject(1000);
  same.add("client-1", OpType::ok, "dns", R"({"name":"a","addrs":["198.18.1.13"],"ttl":2,"server":"s","ms":1})", 3000);
  same.sort();
  CHECK_FALSE(compute_metrics(same.ops, std::nullopt).value("dns_s"));  // never moved
}
